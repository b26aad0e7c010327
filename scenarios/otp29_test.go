package scenarios_test

import (
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
	"github.com/chaos-epmd/chaos-epmd/faults"
	"github.com/chaos-epmd/chaos-epmd/scenarios/matrix"
)

// A subject is a release or an application whose own commands are put
// through the fault stories of subjectFaults, in one shared container.
type subject struct {
	name    string // the matrix subject
	release erlangfixtures.Release
	app     *erlangfixtures.Application // nil: bare OTP
	// start, lookup and names are command lines run in the container,
	// next to n1@n1 (registered): start a node named x and halt; start a
	// node y that looks n1 up and connects to it; list epmd's names
	// without distribution. Each prints its result.
	start, lookup, names []string
	// Their matrix actions.
	startAction, lookupAction, namesAction string
}

// otpSubject29 is bare OTP 29's erl.
var otpSubject29 = erlSubject(erlangfixtures.OTP29)

// erlSubject is a bare OTP release's erl.
func erlSubject(r erlangfixtures.Release) subject {
	erl := erlCmd()
	return subject{
		name: otpSubject(r), release: r,
		start: append(append([]string{}, erl...), "-sname", "x", "-eval", "halt()."),
		lookup: append(append([]string{}, erl...), "-sname", "y", "-eval",
			`io:format("~p~n", [net_adm:ping(n1@n1)]), halt().`),
		names: append(append([]string{}, erl...), "-eval", `P = self(), spawn(fun() -> P ! {names, net_adm:names()} end),
			receive {names, {ok, L}} -> io:format("~p~n", [{ok, [N || {N, _} <- L]}]); {names, E} -> io:format("~p~n", [E])
			after `+namesWaitMS+` -> io:format("blocked after `+namesWaitMS+` ms~n") end, halt().`),
		startAction: "erl -sname x", lookupAction: "erl -sname y: net_adm:ping(n1@n1)",
		namesAction: "erl: net_adm:names() (ports left out), waited for " + namesWaitMS + " ms",
	}
}

// namesWaitMS is how long the names commands wait for net_adm:names/0, in
// milliseconds: it has no timeout of its own (OTP 25 to 29), and blocks as
// long as epmd keeps the connection open without answering.
const namesWaitMS = "12000"

// erlCmd is the erl command line of the subject stories, args appended.
func erlCmd(args ...string) []string {
	return append(append([]string{"erl", "-start_epmd", "false", "-noshell"}, cookie...), args...)
}

// erlRegistryCases are the registry and daemon faults (creation, stale,
// hold_ports, crash, stall) for bare OTP's erl on release otp.
func erlRegistryCases(otp int) []subjectCase {
	return []subjectCase{
		{req: reqAlive2, spec: "creation=424242,node=x", action: "erl -sname x: erlang:system_info(creation)",
			cmd:  erlCmd("-sname", "x", "-eval", `io:format("~p~n", [erlang:system_info(creation)]), halt().`),
			want: `exit 0; stdout "424242"`},
		{req: reqDaemon, spec: "hold_ports=9100-9102", action: "erl -sname x, inet_dist_listen_min/max 9100-9102",
			cmd:  erlCmd("-sname", "x", "-kernel", "inet_dist_listen_min", "9100", "inet_dist_listen_max", "9102", "-eval", "halt()."),
			want: registerFailed(otp, "eaddrinuse")},
		{req: reqPortPlease, spec: "stale=8,node=x", action: "erl -sname x exits, then erl -sname y: erl_epmd:port_please(\"x\", \"n1\")",
			cmd: []string{"sh", "-c", strings.Join(erlCmd("-sname", "x", "-eval", "'halt().'"), " ") + " && " +
				strings.Join(erlCmd("-sname", "y", "-eval", `'io:format("~p~n", [case erl_epmd:port_please("x", "n1") of {port, _, V} -> {port, p, V}; E -> E end]), halt().'`), " ")},
			want: `exit 0; stdout "{port,p,6}"`},
		{req: reqDaemon, spec: "stall=2,first=1", want: `exit 0; stdout "pong"`, action: "erl -sname y: net_adm:ping(n1@n1)",
			cmd: erlCmd("-sname", "y", "-eval", `io:format("~p~n", [net_adm:ping(n1@n1)]), halt().`)},
		crashCase(otp, erlCmd("-sname", "x", "-eval", "halt()."), "erl -sname x during the crash"),
	}
}

// crashCase is a node starting while epmd has crashed (crash,for=5): the
// daemon resets the connection at accept, and what the node reads depends
// on where the RST lands against its send of ALIVE2_REQ: econnreset or
// epmd_close (both seen here), or closed or einval (as under drop at
// accept: the send finds the driver closed, or its port gone); n1,
// whose registration the crash dropped, registers again after. The window
// must outlast the docker exec and the node's boot up to its ALIVE2_REQ
// (0.2 s as a rule): with for=2, elixir 1.18.3 at load 8 once sent it
// 2.04 s after the fault was added, the window closed, and started
// normally.
func crashCase(otp int, cmd []string, action string) subjectCase {
	shown := registerFailed(otp, "REASON")
	return subjectCase{req: reqDaemon, spec: "crash,for=5", cmd: cmd, action: action,
		match: MatchRegexp("^" + strings.Replace(regexp.QuoteMeta(shown), "REASON", "(econnreset|epmd_close|closed|einval)", 1) + "$"),
		pinned: strings.Replace(shown, "REASON", "econnreset | epmd_close | closed | einval", 1) +
			": the crashed daemon resets the connection at accept, racing the node's send of ALIVE2_REQ"}
}

// subjectCase is one fault and the exact outcome (execText) a subject's
// command gives under it. When the outcome varies from run to run, match
// says what it may be and pinned says so, with the reason, for the matrix.
type subjectCase struct {
	req, spec string
	// cmd and action replace the subject's command for req when set.
	cmd    []string
	action string
	want   string
	match  types.GomegaMatcher
	pinned string
}

// subjectFaults puts s's start, lookup and names commands through cases,
// each fault added to the container's chaos-epmd at run time and removed
// after, in one container shared by the Ordered specs.
func subjectFaults(s subject, labels Labels, cases []subjectCase) {
	// ContinueOnFailure: each spec adds and removes its own fault on the
	// shared node, so one failing says nothing of the next.
	Context("in one container with chaos-epmd, faults added at run time", append(Labels{"container"}, labels...), Ordered, ContinueOnFailure, func() {
		var n *erlangfixtures.Node
		var ctl *faults.Client
		BeforeAll(func(ctx SpecContext) {
			opts := []erlangfixtures.Option{erlangfixtures.WithRelease(s.release), erlangfixtures.WithSName("n1@n1"),
				erlangfixtures.WithHostname("n1"), erlangfixtures.WithEpmd(erlangfixtures.EpmdChaos)}
			if s.app != nil {
				opts = append(opts, erlangfixtures.WithApplication(s.app))
			}
			n = startNode(ctx, opts...)
			startDistribution(ctx, n)
			ctl = chaosControl(ctx, n)
		}, NodeTimeout(specTimeout))

		for _, tc := range cases {
			var cmd []string
			var action string
			switch tc.req {
			case reqAlive2:
				cmd, action = s.start, s.startAction
			case reqPortPlease:
				cmd, action = s.lookup, s.lookupAction
			case reqNames:
				cmd, action = s.names, s.namesAction
			}
			if tc.cmd != nil {
				cmd, action = tc.cmd, tc.action
			}
			lbl := Label("fault:" + faults.MustParse(tc.spec).Kind())
			name := tc.req + " " + tc.spec
			if tc.cmd != nil {
				name += ", " + tc.action
			}
			if strings.HasPrefix(tc.spec, "hang") {
				lbl = Label("fault:hang", "slow")
			}
			It(name, lbl, func(ctx SpecContext) {
				id := addFault(ctx, ctl, tc.spec)
				start := time.Now()
				res, err := n.Exec(ctx, cmd, "HOME=/root")
				Expect(err).NotTo(HaveOccurred())
				took := time.Since(start)
				removeFault(ctx, ctl, id)
				got := logTime.ReplaceAllString(execText(res), "HH:MM:SS.mmm ")
				recordOutcome(matrix.Row{Subject: s.name, Epmd: epmdName(erlangfixtures.EpmdChaos), Request: tc.req, Spec: tc.spec,
					Action: action, Outcome: got, Pinned: tc.pinned}, took)
				if tc.match != nil {
					Expect(got).To(tc.match)
				} else {
					Expect(got).To(Equal(tc.want))
				}
				// Whatever the fault did, only n1 stays registered.
				Eventually(ctx, registered(ctx, n)).Should(Equal([]string{"n1"}))
			}, SpecTimeout(specTimeout))
		}
	})
}

// logTime matches the time of day a logger line starts with (Elixir's
// Logger: 13:06:06.894 [notice] ...), replaced in the matrix's outcomes.
var logTime = regexp.MustCompile(`(?m)\b[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} `)

// registerFailed is how erl (or elixir) ends when distribution cannot
// register: net_kernel:register_error/3 writes the protocol's message with
// erlang:display_string/1 (stderr) on OTP 25 and with
// erlang:display_string(stdout, _) on OTP 27 and 29, then the reason with
// erlang:display/1 (stdout): split over stderr and stdout on OTP 25, one
// line on stdout on OTP 27 and 29 (seen with erl 27.3.4.1 and elixir 1.18.3).
func registerFailed(otp int, reason string) string {
	if otp >= 27 {
		return `exit 1; stdout "Protocol 'inet_tcp': register/listen error: ` + reason + `"`
	}
	return `exit 1; stderr "Protocol 'inet_tcp': register/listen error:"; stdout "` + reason + `"`
}

// nameInUse is how erl (or elixir) -sname x ends when epmd refuses the
// name: on stderr on every release, OTP 27 and 29 included (unlike
// registerFailed's).
const nameInUse = `exit 1; stderr "Protocol 'inet_tcp': the name x@n1 seems to be in use by another Erlang node"`

// garbageCase is partial_write=5 on ALIVE2: OTP gets 'v', 0 and three of
// the four creation bytes, a new creation on every registration.
func garbageCase(otp int) subjectCase {
	shown := registerFailed(otp, "{garbage_from_epmd,[118,0,C,C,C]}")
	return subjectCase{req: reqAlive2, spec: "partial_write=5,req=alive2",
		match:  MatchRegexp("^" + strings.Replace(regexp.QuoteMeta(shown), "C,C,C", "[0-9]+,[0-9]+,[0-9]+", 1) + "$"),
		pinned: shown + ": 118 is 'v', 0 success, C the first three bytes of the creation, new on each registration"}
}

// erlFaultCases are the faults bare OTP's erl meets in subjectFaults, with
// what it does on release otp.
func erlFaultCases(otp int) []subjectCase {
	return []subjectCase{
		{req: reqAlive2, spec: "drop,req=alive2", want: registerFailed(otp, "epmd_close")},
		{req: reqAlive2, spec: "reset,req=alive2", want: registerFailed(otp, "epmd_close")},
		{req: reqAlive2, spec: "hang,req=alive2", want: registerFailed(otp, "no_reg_reply_from_epmd")},
		{req: reqAlive2, spec: "partial_write=3,req=alive2", want: registerFailed(otp, "epmd_close")},
		garbageCase(otp),
		{req: reqAlive2, spec: "corrupt=result,req=alive2", want: nameInUse},
		{req: reqAlive2, spec: "name_in_use,node=x", want: nameInUse},
		{req: reqAlive2, spec: "delay_write=1,req=alive2", want: `exit 0`},
		{req: reqAlive2, spec: "slice=3,gap=100ms,req=alive2", want: `exit 0`},
		{req: reqPortPlease, spec: "drop,req=port_please", want: `exit 0; stdout "pang"`},
		{req: reqPortPlease, spec: "reset,req=port_please", want: `exit 0; stdout "pang"`},
		{req: reqPortPlease, spec: "hang,req=port_please", want: `exit 0; stdout "pang"`},
		{req: reqPortPlease, spec: "partial_write=4,req=port_please", want: `exit 0; stdout "pang"`},
		{req: reqPortPlease, spec: "corrupt=port=1,req=port_please", want: `exit 0; stdout "pang"`},
		{req: reqPortPlease, spec: "slice=1,gap=20ms,req=port_please", want: `exit 0; stdout "pong"`},
		{req: reqPortPlease, spec: "forget,node=n1", want: `exit 0; stdout "pang"`},
		{req: reqPortPlease, spec: "port_collision,port=1,node=n1", want: `exit 0; stdout "pang"`},
		// Every connection of the lookup's node (its ALIVE2, the lookup) waits.
		{req: reqPortPlease, spec: "delay_accept=1", want: `exit 0; stdout "pong"`},
		// A node sends each request at once: an idle-connection limit never
		// fires on it.
		{req: reqPortPlease, spec: "packet_timeout=1", want: `exit 0; stdout "pong"`},
		{req: reqNames, spec: "drop,req=names", want: `exit 0; stdout "{ok,[]}"`},
		{req: reqNames, spec: "reset,req=names", want: `exit 0; stdout "{ok,[]}"`},
		{req: reqNames, spec: "hang,req=names", want: `exit 0; stdout "blocked after ` + namesWaitMS + ` ms"`},
		{req: reqNames, spec: "partial_write=2,req=names", want: `exit 0; stdout "{ok,[]}"`},
		// erl_epmd:names/1 checks the epmd port the reply starts with.
		{req: reqNames, spec: "corrupt=names_port,req=names", want: `exit 0; stdout "{error,address}"`},
		// chaos-epmd lists phantoms last; OTP's list is in the reverse
		// order of the reply's lines.
		{req: reqNames, spec: "phantom=ghost:9100,req=names", want: `exit 0; stdout "{ok,[\"ghost\",\"n1\"]}"`},
	}
}

// The kinds OTP 25's own stories (faults_*_test.go) leave out, on OTP 25.
var _ = Describe("OTP 25 under the faults its stories leave out", func() {
	var cases []subjectCase
	for _, c := range erlFaultCases(25) {
		if k := faults.MustParse(c.spec).Kind(); k == "packet_timeout" || k == "phantom" {
			cases = append(cases, c)
		}
	}
	subjectFaults(erlSubject(erlangfixtures.OTP25), nil, cases)
})

var _ = Describe("OTP 29 under faults", Label("otp:29"), func() {
	subjectFaults(otpSubject29, Labels{"otp:29"}, append(erlFaultCases(29), erlRegistryCases(29)...))
})
