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
    -log-format c|text|json
        Format of the log, on stderr or, with -daemon, syslog
        (default c: the C epmd's texts; json for log collectors).
    -version
        Print the module version and VCS commit it was built from,
        and exit 0.

Selectors (any kind; all optional)
    req=alive2|port_please|names|dump|kill|stop|accept
    node=GLOB   peer=CIDR   p=0.25 (probability)
    first=N   every=N   after=N   start=DUR   for=DUR
    DUR: a bare integer is seconds (as -delay_write 5); 200ms, 1.5s

Fault kinds
`

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
	for _, k := range faults.Catalogue() {
		fmt.Fprintf(&b, "    %s\n        %s\n        e.g. %s\n", k.Syntax, k.Summary, k.Example)
	}
	b.WriteString(chaosUsageTail)
	return b.String()
}
