package main

import (
	"fmt"
	"strings"

	"github.com/chaos-epmd/chaos-epmd/faults"
)

// errHelp means: -h, -help or --help. The C epmd's usage text goes to
// stderr first, byte for byte, then chaos-epmd's own section; the exit
// status is the C epmd's for these arguments, 1.
var errHelp = fmt.Errorf("help: %w", errUsage)

// chaosUsageHead is chaos-epmd's section of the help, before the fault
// kinds. Its lines use the C text's indentation.
const chaosUsageHead = `
chaos-epmd: the options above are the C epmd's, with its behaviour.
Fault injection and the rest:

Chaos options
    -fault SPEC
        Install a fault; repeatable. Faults act in the order given.
        SPEC = KIND[=ARG][,KEY=VALUE]...
        -delay_accept, -delay_write and -packet_timeout are the
        faults of those names with no selector.
    -faults-file FILE
        Install the faults in FILE: one SPEC a line; "#" starts a
        comment, to the end of the line; blank lines are skipped.
        A bad line is reported with its number.
    -seed N
        Seed of the random source behind p= (default: random;
        either way it is logged, so a run can be repeated).
    -admin HOST:PORT
        Serve the admin HTTP API there (faults, nodes, events,
        metrics). Loopback only, unless a token is set.
    -admin-token TOKEN
        Require "Authorization: Bearer TOKEN" on the admin API
        (default $CHAOS_EPMD_ADMIN_TOKEN).
    -max-fault-for DUR
        Cap the for= of every fault, from the command line or the
        admin API: one without for=, or with a longer one, gets
        for=DUR (shown in ctl list). For shared hosts.
    -for DUR
        End the run after DUR, as SIGTERM and ctl stop do (with
        -handback, the epmd taken over is restarted then).
    -takeover
        Replace the epmd listening on the port (found through
        /proc; it must answer NAMES): record its executable,
        arguments and environment, stop it (SIGTERM), listen at
        once, and log each of its nodes as it registers again
        (OTP 24 and later do within about 2 s). Refuses a holder
        that is not an epmd or cannot be signalled.
    -handback
        With -takeover: when the run ends, restart the recorded
        epmd as it was started, and log each node as it registers
        with it again; exit 1 if it cannot be restarted.
    -log-format c|text|json
        Format of the log, on stderr or, with -daemon, syslog
        (default c: the C epmd's texts; json for log collectors).
    -version
        Print the module version and VCS commit it was built from,
        and exit 0.
`

// chaosUsageSelectors follows the environment variables.
const chaosUsageSelectors = `
Selectors (any kind; all optional)
    req=alive2|port_please|names|dump|kill|stop|accept
    node=GLOB   peer=CIDR   p=0.25 (probability)
    first=N   every=N   after=N   start=DUR   for=DUR
    DUR: a bare integer is seconds (as -delay_write 5); 200ms, 1.5s

Fault kinds
`

// envUsage lists the environment variables of the chaos flags (chaosEnv),
// for when erl or systemd starts chaos-epmd and passes no flags.
func envUsage() string {
	var b strings.Builder
	b.WriteString("\nEnvironment (when nobody passes flags: erl, systemd; a flag wins)\n")
	for _, e := range chaosEnv {
		fmt.Fprintf(&b, "    %-26s %s", e.name, e.flag)
		if e.list {
			b.WriteString(", specs separated by \";\" or new lines,\n" +
				"                               installed before those of -fault\n" +
				"                               (phantom=a:1;b:2 keeps its \";\")")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "    %-26s %s\n", envAdminToken, "-admin-token")
	b.WriteString("    ERL_EPMD_PORT, ERL_EPMD_ADDRESS, ERL_EPMD_RELAXED_COMMAND_CHECK\n" +
		"                               as for the C epmd\n" +
		"    -takeover and -handback have none: stopping a host's epmd is\n" +
		"    asked for on the command line, never inherited.\n")
	return b.String()
}

// chaosUsageTail follows the fault kinds.
const chaosUsageTail = `
Control subcommand (talks to -admin)
    chaos-epmd ctl [-admin HOST:PORT] [-token TOKEN] COMMAND
        list | add SPEC... | rm ID... | clear | nodes |
        events [-f] [-since SEQ] | metrics | stop
        (chaos-epmd ctl -h for details)
`

// chaosUsage is the section printed after the C usage text for -h: the
// chaos flags, the selectors, every fault kind of faults.Catalogue (so a
// new kind is listed with nothing to edit here) and the ctl subcommand.
func chaosUsage() string {
	var b strings.Builder
	b.WriteString(chaosUsageHead)
	b.WriteString(envUsage())
	b.WriteString(chaosUsageSelectors)
	for _, k := range faults.Catalogue() {
		fmt.Fprintf(&b, "    %s\n        %s\n        e.g. %s\n", k.Syntax, k.Summary, k.Example)
	}
	b.WriteString(chaosUsageTail)
	return b.String()
}
