// Command chaos-epmd is an Erlang Port Mapper Daemon with the C epmd's
// command line, wire protocol and behaviour, and a fault injector inside.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

func main() {
	setRuntime(os.LookupEnv)
	os.Exit(run(os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}

// setRuntime sets the processors and the garbage collector's target as
// defaultProcs and defaultGCPercent say, each unless the environment sets
// its variable.
func setRuntime(getenv func(string) (string, bool)) {
	if n := defaultProcs(getenv); n > 0 {
		runtime.GOMAXPROCS(n)
	}
	if p := defaultGCPercent(getenv); p > 0 {
		debug.SetGCPercent(p)
	}
}

// defaultProcs is the GOMAXPROCS chaos-epmd runs with: 1, as the C epmd
// serves from one thread, unless the environment sets GOMAXPROCS (0: as
// the environment says). With one processor a goroutine the server wakes
// runs on the thread that woke it, where with more the scheduler wakes
// another thread to take it: fewer context switches per connection (see
// the README's Measured and cmd/epmd-bench/README.md).
func defaultProcs(getenv func(string) (string, bool)) int {
	return unlessSet(getenv, "GOMAXPROCS", 1)
}

// defaultGCPercent is the GOGC chaos-epmd runs with: 50, unless the
// environment sets GOGC (0: as the environment says). Go's default of 100
// lets the heap grow to 4 MiB before its first collection (the runtime
// scales that floor by GOGC/100), and a daemon that has served a while
// keeps those pages resident: with 1000 nodes registered, 12.3–12.7 MiB
// of RSS at 100 against 10.5–10.7 MiB at 50, for the same CPU per request
// (a collection of a heap that small takes about a millisecond of CPU).
// At 25 the first collection came during the first 1000 registrations
// and made them cost 17 % more CPU. The price is at scale: with 19,900
// nodes (about 14 MiB live) a collection comes twice as often, and a
// phase of 4000 PORT_PLEASE2 requests took 38–50 µs of CPU each against
// 37–40 µs (see cmd/epmd-bench/README.md).
func defaultGCPercent(getenv func(string) (string, bool)) int {
	return unlessSet(getenv, "GOGC", 50)
}

// unlessSet returns v, or 0 when the environment sets name (even to the
// empty string: the runtime's own rule applies then).
func unlessSet(getenv func(string) (string, bool), name string, v int) int {
	if _, set := getenv(name); set {
		return 0
	}
	return v
}

// run executes the command line and returns the exit status.
func run(args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "ctl" {
		return ctl(args[1:], getenv, stdout, stderr)
	}
	c, err := parseArgs(args, getenv)
	if err != nil {
		printArgError(stderr, err)
		fmt.Fprint(stderr, usageText)
		if errors.Is(err, errHelp) {
			fmt.Fprint(stderr, chaosUsage())
		}
		return 1
	}
	cl := &epmd.Client{Port: c.port}
	switch c.act {
	case actNames:
		return names(cl, &epmd.NamesReq{}, false, stdout, stderr)
	case actStarted:
		return names(cl, &epmd.NamesReq{}, true, stdout, stderr)
	case actDump:
		return names(cl, &epmd.DumpReq{}, false, stdout, stderr)
	case actKill:
		return kill(cl, stdout, stderr)
	case actStop:
		return stop(cl, c.stopName, stdout, stderr)
	case actVersion:
		fmt.Fprintln(stdout, versionLine(debug.ReadBuildInfo()))
		return 0
	}
	return serve(c, stderr)
}

// dial connects as the C client does; on failure it prints the C message
// (unless silent) and reports false.
func dial(cl *epmd.Client, silent bool, stderr io.Writer) (net.Conn, bool) {
	conn, err := cl.Dial(context.Background())
	if err != nil {
		if !silent {
			fmt.Fprint(stderr, "epmd: Cannot connect to local epmd\n")
		}
		return nil, false
	}
	return conn, true
}

// names runs -names, -started and -dump: the header and the raw reply go
// to stdout in one write at exit, as C's buffered stdio does on a pipe.
func names(cl *epmd.Client, req epmd.Message, silent bool, stdout, stderr io.Writer) int {
	conn, ok := dial(cl, silent, stderr)
	if !ok {
		return 1
	}
	defer conn.Close()
	var out bytes.Buffer
	defer func() {
		if !silent && out.Len() > 0 {
			_, _ = stdout.Write(out.Bytes())
		}
	}()
	if _, err := conn.Write(epmd.AppendFrame(nil, req)); err != nil {
		out.WriteString("epmd: Can't write to epmd\n")
		return 1
	}
	var port [4]byte
	if n, err := conn.Read(port[:]); n != 4 || err != nil {
		out.WriteString("epmd: no response from local epmd\n")
		return 1
	}
	fmt.Fprintf(&out, "epmd: up and running on port %d with data:\n", int32(uint32(port[0])<<24|uint32(port[1])<<16|uint32(port[2])<<8|uint32(port[3])))
	_, _ = io.Copy(&out, conn)
	return 0
}

// readFill reads len(buf) bytes as epmd_cli.c's read_fill: the count on
// success, 0 on EOF (whatever arrived before it), -1 on error.
func readFill(conn net.Conn, buf []byte) int {
	got := 0
	for got < len(buf) {
		n, err := conn.Read(buf[got:])
		got += n
		if got == len(buf) {
			break
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0
			}
			return -1
		}
	}
	return len(buf)
}

func kill(cl *epmd.Client, stdout, stderr io.Writer) int {
	conn, ok := dial(cl, false, stderr)
	if !ok {
		return 1
	}
	defer conn.Close()
	if _, err := conn.Write(epmd.AppendFrame(nil, &epmd.KillReq{})); err != nil {
		fmt.Fprint(stdout, "epmd: Can't write to epmd\n")
		return 1
	}
	var buf [2]byte
	switch readFill(conn, buf[:]) {
	case 2:
		if string(buf[:]) == "OK" {
			fmt.Fprint(stdout, "Killed\n")
			return 0
		}
		fmt.Fprint(stdout, "Killing not allowed - living nodes in database.\n")
	case -1:
		fmt.Fprint(stdout, "epmd: failed to read answer from local epmd\n")
	default:
		fmt.Fprint(stdout, "epmd: local epmd responded with <>\n")
	}
	return 1
}

func stop(cl *epmd.Client, name string, stdout, stderr io.Writer) int {
	if len(name) > 1000 {
		fmt.Fprint(stdout, "epmd: Name too long!")
		return 1
	}
	conn, ok := dial(cl, false, stderr)
	if !ok {
		return 1
	}
	defer conn.Close()
	if _, err := conn.Write(epmd.AppendFrame(nil, &epmd.StopReq{Name: name})); err != nil {
		fmt.Fprint(stdout, "epmd: Can't write to epmd\n")
		return 1
	}
	var buf [7]byte
	switch readFill(conn, buf[:]) {
	case 7:
		s := buf[:]
		if i := bytes.IndexByte(s, 0); i >= 0 {
			s = s[:i]
		}
		fmt.Fprintf(stdout, "%s\n", s)
		return 0
	case -1:
		fmt.Fprint(stdout, "epmd: failed to read answer from local epmd\n")
	default:
		fmt.Fprint(stdout, "epmd: local epmd responded with <>\n")
	}
	return 1
}

// serve runs the daemon. It never writes to stdout.
func serve(c *config, stderr io.Writer) int {
	// As the C epmd: a closed stderr or peer must not kill the server.
	signal.Ignore(syscall.SIGPIPE)
	if c.daemon && !c.daemonChild {
		return daemonize(stderr)
	}
	logger, closeLog := newLogger(c, stderr)
	defer closeLog()
	logger.LogAttrs(context.Background(), epmd.LevelDebug1, epmd.MsgRunning, slog.Bool("daemon", c.daemon))

	inj := newInjector(c, logger)
	defer inj.Close()
	// With no fault and no admin API nothing can ever be injected: the chain
	// is the bare protocol handler, as fast as it gets.
	var mws []epmd.Middleware
	if len(inj.Faults()) > 0 || (c.chaos != nil && c.chaos.admin != "") {
		mws = append(mws, inj.Middleware)
	}
	reg := &epmd.MemRegistry{}
	if c.debug > 0 {
		reg.UnregMemory = epmd.DebugUnregMemory
	}
	srv := &epmd.Server{
		Port:                c.port, // NAMES reports it untruncated, as the C epmd does
		Address:             c.address,
		Registry:            reg,
		Middleware:          mws,
		RelaxedCommandCheck: c.relaxed,
		Logger:              logger,
	}
	epmd.RaiseFileLimit()
	// From here SIGTERM and SIGINT close the server, so that a signal
	// during -takeover still ends with -handback.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		_ = srv.Close()
	}()

	var ls []net.Listener
	var err error
	var tk *takeover
	if c.systemd {
		logger.LogAttrs(context.Background(), epmd.LevelDebug2, epmd.MsgSystemd)
	} else {
		logger.LogAttrs(context.Background(), epmd.LevelDebug2, epmd.MsgListening, slog.Int("port", c.port))
	}
	switch {
	case c.systemd:
		ls, err = systemdListeners()
	case c.staging.takeover:
		tk, ls, err = takeOver(context.Background(), realProc, c, logger)
	default:
		ls, err = epmd.Listen(context.Background(), c.address, c.port, logger)
	}
	if err != nil {
		if errors.Is(err, errTakeover) {
			daemonReady(1, "chaos-epmd: "+err.Error())
			logger.LogAttrs(context.Background(), epmd.LevelAlways, epmd.MsgCannotStart, slog.Any("err", err))
			return 1
		}
		daemonReady(0, "")
		if errors.Is(err, epmd.ErrAddrInUse) && tk == nil {
			return 0
		}
		logger.LogAttrs(context.Background(), epmd.LevelAlways, epmd.MsgCannotListen, slog.Any("err", err))
		return 1
	}
	stopAdmin, err := startAdmin(c, inj, srv, logger)
	if err != nil {
		for _, l := range ls {
			_ = l.Close()
		}
		daemonReady(1, "chaos-epmd: "+err.Error()) // once nothing listens
		logger.LogAttrs(context.Background(), epmd.LevelAlways, epmd.MsgCannotStart, slog.Any("err", err))
		if tk != nil && c.staging.handback {
			tk.last <- nil // nothing served: no node to wait for
			_ = tk.handBack(realProc, c, logger)
		}
		return 1
	}
	defer stopAdmin()
	daemonReady(0, "")
	if c.systemd {
		sdNotify("READY=1\nSTATUS=Processing port mapping requests...\nMAINPID=" + fmt.Sprint(os.Getpid()))
	}

	logger.LogAttrs(context.Background(), epmd.LevelDebug2, epmd.MsgServing)
	if c.daemon {
		signal.Ignore(syscall.SIGHUP)
	}
	if d := c.staging.runFor; d > 0 {
		end := time.AfterFunc(d, func() {
			logger.LogAttrs(context.Background(), epmd.LevelAlways, "run time over", slog.Duration("for", d))
			_ = srv.Close()
		})
		defer end.Stop()
	}
	if tk != nil {
		go tk.watch(srv, logger)
	}
	// ServeAll returns once every Serve has, and Serve closes its listener
	// even on a server stopped before it began (a signal, ctl stop or -for
	// at once): -handback finds the port free.
	err = srv.ServeAll(ls)
	status := 0
	if !errors.Is(err, epmd.ErrServerKilled) && !errors.Is(err, epmd.ErrServerClosed) {
		logger.LogAttrs(context.Background(), epmd.LevelAlways, "serve", slog.Any("err", err))
		status = 1
	}
	if tk != nil && c.staging.handback {
		_ = srv.Close() // every registration connection, so the nodes go back
		if s := tk.handBack(realProc, c, logger); s != 0 {
			status = s
		}
	}
	if c.systemd {
		sdNotify(fmt.Sprintf("STATUS=Exited.\nERRNO=%d", status))
	}
	return status
}
