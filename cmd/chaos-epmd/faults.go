package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/faults"
)

// envAdminToken holds the admin API token when -admin-token is not given
// (an environment variable keeps it out of ps listings).
const envAdminToken = "CHAOS_EPMD_ADMIN_TOKEN"

// chaosConfig is the fault-injection part of the command line.
type chaosConfig struct {
	// chain is the fault list in the order given: -fault and -faults-file
	// entries, and epmd's -packet_timeout, -delay_accept and -delay_write
	// given after the first chaos flag, each at its last occurrence. Those
	// given before come first, in that order.
	chain      []chainEntry
	seed       int64
	seedSet    bool
	admin      string
	adminToken string
	// adminFrom names where admin came from: -admin or its variable.
	adminFrom string
	// maxFaultFor caps every fault's for= (-max-fault-for); 0: no cap.
	maxFaultFor time.Duration
}

// chainEntry is one -fault, the faults of one -faults-file, or one of
// epmd's knobs, whose value the epmd parser sets in config.
type chainEntry struct {
	knob   string
	faults []faults.Fault
}

// chaosError is a bad chaos flag value: printed before the usage text.
type chaosError struct {
	flag, value string
	err         error
}

func (e *chaosError) Error() string {
	var se *faults.SpecError
	if errors.As(e.err, &se) && e.flag == "-fault" {
		return "chaos-epmd: -" + se.Error()
	}
	if e.value == "" {
		return fmt.Sprintf("chaos-epmd: %s: %v", e.flag, e.err)
	}
	return fmt.Sprintf("chaos-epmd: %s %q: %v", e.flag, e.value, e.err)
}

func (e *chaosError) Unwrap() error { return e.err }

// chaosArg handles the chaos flags at args[i] and reports how many
// arguments it took (0: not a chaos flag, left to the epmd parser). It
// notes the position of epmd's knobs and lets the epmd parser read them.
func chaosArg(c *config, args []string, i int) (int, error) {
	cc := c.chaos
	switch a := args[i]; a {
	case "-packet_timeout", "-delay_accept", "-delay_write":
		if cc == nil {
			return 0, nil
		}
		for j, e := range cc.chain {
			if e.knob == a {
				cc.chain = append(cc.chain[:j], cc.chain[j+1:]...)
				break
			}
		}
		cc.chain = append(cc.chain, chainEntry{knob: a})
		return 0, nil
	case "-fault", "-faults-file", "-seed", "-admin", "-admin-token", "-max-fault-for":
		if i+1 >= len(args) {
			return 0, errUsage
		}
		v := args[i+1]
		if cc == nil {
			cc = &chaosConfig{}
			c.chaos = cc
		}
		switch a {
		case "-fault":
			f, err := faults.Parse(v)
			if err != nil {
				return 0, &chaosError{flag: a, value: v, err: err}
			}
			cc.chain = append(cc.chain, chainEntry{faults: []faults.Fault{f}})
		case "-faults-file":
			fs, err := readFaultsFile(v)
			if err != nil {
				return 0, &chaosError{flag: a, value: v, err: err}
			}
			cc.chain = append(cc.chain, chainEntry{faults: fs})
		case "-seed":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, &chaosError{flag: a, value: v, err: errors.New("want an integer")}
			}
			cc.seed, cc.seedSet = n, true
		case "-admin":
			cc.admin, cc.adminFrom = v, a
		case "-admin-token":
			cc.adminToken = v
		case "-max-fault-for":
			d, err := parseFaultFor(v)
			if err != nil {
				return 0, &chaosError{flag: a, value: v, err: err}
			}
			cc.maxFaultFor = d
		}
		return 2, nil
	}
	return 0, nil
}

func readFaultsFile(name string) ([]faults.Fault, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return faults.ParseList(f)
}

// printArgError writes the message of a bad chaos flag, if err is one.
func printArgError(w io.Writer, err error) {
	var ce *chaosError
	if errors.As(err, &ce) {
		fmt.Fprintln(w, ce.Error())
	}
}

// newInjector builds the fault injector of the command line: the faults
// in the order given, epmd's knobs as the matching faults with no
// selector. With epmd's flags only, it is silent, so that the -d output is
// the C epmd's.
func newInjector(c *config, logger *slog.Logger) *faults.Injector {
	cc := c.chaos
	if cc == nil {
		cc = &chaosConfig{}
	}
	seed := cc.seed
	if !cc.seedSet {
		seed = rand.Int64() // math/rand/v2's generator, seeded by the runtime
	}
	var injLog *slog.Logger
	if c.chaos != nil {
		injLog = logger
	}
	inj := faults.NewInjector(seed, injLog)
	inj.SetMaxFor(cc.maxFaultFor)
	chain := cc.chain
	for _, knob := range []string{"-delay_write", "-delay_accept", "-packet_timeout"} {
		if !slices.ContainsFunc(chain, func(e chainEntry) bool { return e.knob == knob }) {
			chain = append([]chainEntry{{knob: knob}}, chain...)
		}
	}
	var specs []string
	for _, e := range chain {
		fs := e.faults
		switch {
		case e.knob == "-packet_timeout" && c.packetTimeout > 0:
			fs = []faults.Fault{{Action: faults.PacketTimeout{D: c.packetTimeout}}}
		case e.knob == "-delay_accept" && c.delayAccept > 0:
			fs = []faults.Fault{{Action: faults.DelayAccept{D: c.delayAccept}}}
		case e.knob == "-delay_write" && c.delayWrite > 0:
			fs = []faults.Fault{{Action: faults.DelayWrite{D: c.delayWrite}}}
		}
		for _, f := range fs {
			info, err := inj.Add(f)
			if err != nil { // not for parsed specs and epmd's knobs: their kinds are in the table
				logger.LogAttrs(context.Background(), epmd.LevelAlways, "fault not installed", slog.Any("err", err))
				continue
			}
			specs = append(specs, info.Spec)
		}
	}
	if c.chaos != nil {
		// Printed like epmd's level-0 messages: the seed reproduces a run.
		logger.LogAttrs(context.Background(), epmd.LevelAlways, "fault injector", slog.Int64("seed", seed))
		for _, s := range specs {
			logger.LogAttrs(context.Background(), epmd.LevelAlways, "fault installed", slog.String("fault", s))
		}
	}
	return inj
}

// startAdmin serves the admin API when -admin was given; it returns a
// function stopping it.
func startAdmin(c *config, inj *faults.Injector, srv *epmd.Server, logger *slog.Logger) (func(), error) {
	if c.chaos == nil || c.chaos.admin == "" {
		return func() {}, nil
	}
	token := c.chaos.adminToken // checkAdmin took the variable's when no flag
	l, err := net.Listen("tcp", c.chaos.admin)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", c.chaos.adminFrom, c.chaos.admin, err)
	}
	a := &faults.Admin{Injector: inj, Server: srv, Token: token, OnStop: func() {
		// As SIGTERM: the server closes, then -handback runs.
		logger.LogAttrs(context.Background(), epmd.LevelAlways, "stop requested over the admin api")
		_ = srv.Close()
	}}
	go func() {
		if err := a.Serve(l); !errors.Is(err, faults.ErrAdminClosed) {
			logger.LogAttrs(context.Background(), epmd.LevelAlways, "admin api", slog.Any("err", err))
		}
	}()
	// At level 0: whoever started the daemon (erl, systemd) passed no -d,
	// and the operator needs the address (with :0, the port chosen).
	logger.LogAttrs(context.Background(), epmd.LevelAlways, "admin api", slog.String("addr", l.Addr().String()))
	return func() { _ = a.Close() }, nil
}

// checkAdmin checks the admin API's address with the other flags, before
// -daemon detaches the daemon from whoever could read the message:
// HOST:PORT, and a token (-admin-token, else CHAOS_EPMD_ADMIN_TOKEN) unless
// HOST is loopback. Errors name the flag or variable the address came from.
func checkAdmin(c *config, getenv func(string) (string, bool)) error {
	cc := c.chaos
	if cc == nil || cc.admin == "" {
		return nil
	}
	if cc.adminToken == "" {
		cc.adminToken, _ = getenv(envAdminToken)
	}
	host, port, err := net.SplitHostPort(cc.admin)
	if err == nil {
		_, err = net.LookupPort("tcp", port)
	}
	if err != nil {
		return &chaosError{flag: cc.adminFrom, value: cc.admin, err: errors.New("want HOST:PORT (127.0.0.1:4380, [::1]:0)")}
	}
	if cc.adminToken == "" && !isLoopbackHost(host) {
		return &chaosError{flag: cc.adminFrom, value: cc.admin,
			err: fmt.Errorf("not a loopback address; set a token (-admin-token or %s) to serve it", envAdminToken)}
	}
	return nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
