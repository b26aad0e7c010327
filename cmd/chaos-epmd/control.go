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
    list              the installed faults: ID, times fired, spec
    add SPEC...       install faults (after the installed ones); prints ID and spec
    rm ID...          remove faults
    clear             remove every fault
    nodes             the registered nodes, as JSON
    events [-f] [-since SEQ]
                      the recent events as NDJSON; -f keeps following
    metrics           the Prometheus metrics
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
	usage := func() int {
		fmt.Fprint(stderr, ctlUsage)
		return 1
	}
	switch cmd {
	case "list":
		if len(rest) != 0 {
			return usage()
		}
		list, err := cl.Faults(ctx)
		if err != nil {
			return fail(err)
		}
		for _, f := range list {
			fmt.Fprintf(stdout, "%d\t%d\t%s\n", f.ID, f.Fired, f.Spec)
		}
	case "add":
		if len(rest) == 0 {
			return usage()
		}
		for _, spec := range rest {
			info, err := cl.Add(ctx, spec)
			if err != nil {
				var se *faults.SpecError
				if errors.As(err, &se) {
					fmt.Fprintf(stderr, "chaos-epmd ctl add: %v\n", se)
					return 1
				}
				return fail(err)
			}
			fmt.Fprintf(stdout, "%d\t%s\n", info.ID, info.Spec)
		}
	case "rm":
		if len(rest) == 0 {
			return usage()
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
		if len(rest) != 0 {
			return usage()
		}
		if err := cl.Clear(ctx); err != nil {
			return fail(err)
		}
	case "nodes":
		if len(rest) != 0 {
			return usage()
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
		since := efs.Uint64("since", 0, "")
		if efs.Parse(rest) != nil || efs.NArg() != 0 {
			return usage()
		}
		if *follow {
			cancel()
			var stop context.CancelFunc
			ctx, stop = signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
		}
		enc := json.NewEncoder(stdout)
		err := cl.Events(ctx, *since, *follow, func(ev faults.Event) error { return enc.Encode(ev) })
		if err != nil && !(*follow && errors.Is(err, context.Canceled)) {
			return fail(err)
		}
	case "metrics":
		if len(rest) != 0 {
			return usage()
		}
		m, err := cl.Metrics(ctx)
		if err != nil {
			return fail(err)
		}
		fmt.Fprint(stdout, m)
	default:
		fmt.Fprintf(stderr, "chaos-epmd ctl: unknown command %q\n", cmd)
		return usage()
	}
	return 0
}
