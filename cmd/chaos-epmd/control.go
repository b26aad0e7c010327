package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/chaos-epmd/chaos-epmd/faults"
)

// envAdmin is the admin API address chaos-epmd ctl talks to when -admin
// is not given.
const envAdmin = "CHAOS_EPMD_ADMIN"

// defaultAdmin is the admin address of chaos-epmd ctl without -admin or
// $CHAOS_EPMD_ADMIN.
const defaultAdmin = "127.0.0.1:4380"

// ctlTimeout bounds each ctl request but events -f.
const ctlTimeout = 10 * time.Second

const ctlUsage = `usage: chaos-epmd ctl [-admin HOST:PORT] [-token TOKEN] COMMAND

Talks to the admin API of a chaos-epmd started with -admin HOST:PORT
(default $CHAOS_EPMD_ADMIN, else 127.0.0.1:4380; token from
$CHAOS_EPMD_ADMIN_TOKEN).

Commands
    list              the installed faults: ID, times fired, when the
                      fault ends (its for=), spec
    add SPEC...       install faults after the installed ones, all or
                      none; prints ID and spec of each
    rm ID...          remove faults
    clear             remove every fault
    nodes             the registered nodes, as JSON
    events [-f] [-since SEQ]
                      the kept events after SEQ as NDJSON; -f keeps
                      following
    metrics           the Prometheus metrics
    stop              end the daemon, as SIGTERM does
`

// ctl runs the chaos-epmd ctl subcommand: "ctl" is never a valid first
// argument of epmd, so it cannot collide with epmd's command line.
func ctl(args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("chaos-epmd ctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr, _ := getenv(envAdmin)
	if addr == "" {
		addr = defaultAdmin
	}
	token, _ := getenv(envAdminToken)
	fs.StringVar(&addr, "admin", addr, "")
	fs.StringVar(&token, "token", token, "")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "chaos-epmd ctl: %v\n", err)
		}
		fmt.Fprint(stderr, ctlUsage)
		return 1
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	cl := &faults.Client{URL: addr, Token: token}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	fail := func(err error) int {
		fmt.Fprintf(stderr, "chaos-epmd ctl %s: %v\n", cmd, err)
		return 1
	}
	// usage prints what was wrong with the command line, then the usage.
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "chaos-epmd ctl %s: %s\n", cmd, fmt.Sprintf(format, a...))
		fmt.Fprint(stderr, ctlUsage)
		return 1
	}
	noArgs := func() bool { return len(rest) == 0 }
	extra := func() int { return usage("takes no arguments; got %q", rest[0]) }
	switch cmd {
	case "list":
		if !noArgs() {
			return extra()
		}
		list, err := cl.Faults(ctx)
		if err != nil {
			return fail(err)
		}
		writeFaultList(stdout, list, time.Now())
	case "add":
		if noArgs() {
			return usage("want one or more fault specs")
		}
		infos, err := cl.AddAll(ctx, rest)
		if err != nil {
			var se *faults.SpecError
			if errors.As(err, &se) {
				if len(rest) > 1 {
					return fail(fmt.Errorf("%w; none installed", se))
				}
				return fail(se)
			}
			return fail(err)
		}
		for _, info := range infos {
			fmt.Fprintf(stdout, "%d\t%s", info.ID, info.Spec)
			if info.Capped {
				fmt.Fprint(stdout, "\t(for= capped by -max-fault-for)")
			}
			fmt.Fprintln(stdout)
		}
	case "rm":
		if noArgs() {
			return usage("want one or more fault ids (see ctl list)")
		}
		for _, a := range rest {
			id, err := strconv.ParseUint(a, 10, 64)
			if err != nil {
				return fail(fmt.Errorf("%q: want a fault id (see ctl list)", a))
			}
			if err := cl.Remove(ctx, id); err != nil {
				return fail(fmt.Errorf("%d: %w", id, err))
			}
		}
	case "clear":
		if !noArgs() {
			return extra()
		}
		if err := cl.Clear(ctx); err != nil {
			return fail(err)
		}
	case "nodes":
		if !noArgs() {
			return extra()
		}
		nodes, err := cl.Nodes(ctx)
		if err != nil {
			return fail(err)
		}
		b, _ := json.MarshalIndent(nodes, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	case "events":
		efs := flag.NewFlagSet("events", flag.ContinueOnError)
		efs.SetOutput(io.Discard)
		follow := efs.Bool("f", false, "")
		var since uint64
		efs.Func("since", "", func(v string) error {
			var err error
			if since, err = strconv.ParseUint(v, 10, 64); err != nil {
				return errors.New("want an event's seq (a whole number; 0 for all kept events)")
			}
			return nil
		})
		if err := efs.Parse(rest); err != nil {
			return usage("%v", err)
		}
		if efs.NArg() != 0 {
			return usage("unexpected argument %q", efs.Arg(0))
		}
		if *follow {
			cancel()
			var stop context.CancelFunc
			ctx, stop = signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
		}
		enc := json.NewEncoder(stdout)
		err := cl.Events(ctx, since, *follow, func(ev faults.Event) error { return enc.Encode(ev) })
		if err != nil && !(*follow && errors.Is(err, context.Canceled)) {
			return fail(err)
		}
	case "metrics":
		if !noArgs() {
			return extra()
		}
		m, err := cl.Metrics(ctx)
		if err != nil {
			return fail(err)
		}
		fmt.Fprint(stdout, m)
	case "stop":
		if !noArgs() {
			return extra()
		}
		if err := cl.Stop(ctx); err != nil {
			return fail(err)
		}
	default:
		fmt.Fprintf(stderr, "chaos-epmd ctl: unknown command %q\n", cmd)
		fmt.Fprint(stderr, ctlUsage)
		return 1
	}
	return 0
}

// writeFaultList prints the installed faults under a header: ID, times
// fired, when the fault's window ends as seen at now ("-" without for=),
// spec.
func writeFaultList(w io.Writer, list []faults.Info, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFIRED\tENDS\tSPEC")
	for _, f := range list {
		ends := "-"
		switch left := f.Until.Sub(now); {
		case f.Until.IsZero():
		case left > 0:
			ends = "in " + (left + time.Second - 1).Truncate(time.Second).String()
		default:
			ends = "ended"
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\n", f.ID, f.Fired, ends, f.Spec)
	}
	_ = tw.Flush()
}

// parseFaultFor reads the value of -max-fault-for: a duration as in specs,
// a bare integer being seconds (600) or a Go duration (10m), more than 0.
func parseFaultFor(v string) (time.Duration, error) {
	const want = "want seconds (600) or a Go duration (10m), more than 0"
	d, err := time.ParseDuration(v)
	if n, nerr := strconv.ParseInt(v, 10, 64); nerr == nil && n <= int64(time.Duration(1<<63-1)/time.Second) {
		d, err = time.Duration(n)*time.Second, nil
	}
	if err != nil || d <= 0 {
		return 0, errors.New(want)
	}
	return d, nil
}
