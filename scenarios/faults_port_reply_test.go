package scenarios_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
	"github.com/chaos-epmd/chaos-epmd/faults"
	"github.com/chaos-epmd/chaos-epmd/scenarios/matrix"
)

const (
	// portReplyTimeout is the Timeout the PORT2_RESP reply specs give
	// erl_epmd:port_please/3. It does not bound the reply: erl_epmd (OTP
	// 25, 27 and 29 alike) waits for the first 12 bytes 10 s
	// (wait_for_port_reply/2 and wait_for_port_reply_cont/2, "after
	// 10000"), then for the name with no timeout at all
	// (wait_for_port_reply_name/3 returns at the close only).
	portReplyTimeout = 5 * time.Second
	// portReplyBound is how long those specs wait for the lookup before
	// showing the caller still blocked (and killing it): past OTP's 10 s.
	portReplyBound = 12 * time.Second
)

// portReplyCase is one fault on PORT2_RESP, the reply to PORT_PLEASE2, and
// what an OTP release makes of it.
type portReplyCase struct {
	spec string // the fault added to n2's chaos-epmd
	// node is the name looked up on host n2 and pinged (node@n2).
	node string
	// lookup is what portReplyExpr returns for erl_epmd:port_please/3 on
	// n1, n2's registered port shown as P; a caller still waiting at
	// portReplyBound is {blocked,{M,F,A}}.
	lookup string
	// atLeast and atMost bound how long the lookup took.
	atLeast, atMost time.Duration
	ping            string // net_adm:ping/1 from n1 under the fault
}

// portReplyExpr calls erl_epmd:port_please(Name, "n2", portReplyTimeout)
// in a process of its own and waits for it at most portReplyBound. Its
// value is {Result, Ms}, or {blocked, Ms, CurrentFunction} when the caller
// was still waiting at the bound (it is killed then, which closes its epmd
// connection).
func portReplyExpr(name string) string {
	return `Self = self(), T0 = erlang:monotonic_time(millisecond),
Pid = spawn(fun() -> Self ! {pp_result, self(), erl_epmd:port_please("` + name + `", "n2", ` +
		strconv.Itoa(int(portReplyTimeout.Milliseconds())) + `)} end),
receive
	{pp_result, Pid, R} -> {R, erlang:monotonic_time(millisecond) - T0}
after ` + strconv.Itoa(int(portReplyBound.Milliseconds())) + ` ->
	{current_function, F} = erlang:process_info(Pid, current_function),
	exit(Pid, kill),
	{blocked, erlang:monotonic_time(millisecond) - T0, F}
end`
}

// portReplyOutcome runs portReplyExpr on n and returns its value, port
// shown as P, and how long the call took as the node measured it.
func portReplyOutcome(ctx context.Context, n *erlangfixtures.Node, name string, port int) (string, time.Duration) {
	GinkgoHelper()
	got := eval(ctx, n, "%s", portReplyExpr(name))
	var ms, shown string
	if rest, ok := strings.CutPrefix(got, "{blocked,"); ok {
		// {blocked,Ms,{M,F,A}}
		ms, shown, _ = strings.Cut(rest, ",")
		shown = "{blocked," + shown
	} else {
		comma := strings.LastIndexByte(got, ',')
		Expect(comma).To(BeNumerically(">", 0), got)
		ms, shown = got[comma+1:len(got)-1], got[1:comma]
	}
	took, err := strconv.Atoi(ms)
	Expect(err).NotTo(HaveOccurred(), got)
	return strings.ReplaceAll(shown, "{port,"+strconv.Itoa(port)+",", "{port,P,"), time.Duration(took) * time.Millisecond
}

// portReplyCases are the PORT2_RESP faults. OTP 25, 27 and 29 answer them
// alike. erl_epmd returns {port, Port, V}, V the highest version in both
// its own range (5 to 6) and the reply's, 0 when they do not overlap
// (best_version/2); net_adm:ping/1 connects whatever V is.
func portReplyCases() []TableEntry {
	e := func(name string, tc portReplyCase, labels ...string) TableEntry {
		lbl := Label(append([]string{"fault:" + faults.MustParse(tc.spec).Kind()}, labels...)...)
		return Entry(name, lbl, SpecTimeout(specTimeout), tc)
	}
	// version=High:Low
	version := func(hl, why, lookup string) TableEntry {
		return e("corrupt=version="+hl+": "+why+", "+lookup+", pong", portReplyCase{spec: "corrupt=version=" + hl + ",req=port_please",
			node: "n2", lookup: lookup, ping: "pong", atMost: time.Second})
	}
	return []TableEntry{
		version("7:7", "above OTP's range", "{port,P,0}"),
		version("5:5", "the lowest OTP speaks", "{port,P,5}"),
		version("0:65535", "High below Low, no version at all", "{port,P,0}"),
		version("65535:0", "every version", "{port,P,6}"),
		// Both are slow: the lookup outlasts 10 s.
		e("partial_write=12,then=hang: all but the name, then nothing: the lookup blocks for good", portReplyCase{spec: "partial_write=12,then=hang,req=port_please",
			node: "n2", lookup: "{blocked,{erl_epmd,wait_for_port_reply_name,3}}", atLeast: portReplyBound, ping: "pang"}, "slow"),
		e("partial_write=11,then=hang: cut inside the name length: noport after OTP's 10 s, not the 5 s asked", portReplyCase{spec: "partial_write=11,then=hang,req=port_please",
			node: "n2", lookup: "noport", atLeast: 10 * time.Second, atMost: portReplyBound, ping: "pang"}, "slow"),
		e("phantom=ghost:9100: a port nobody listens on", portReplyCase{spec: "phantom=ghost:9100,req=port_please",
			node: "ghost", lookup: "{port,9100,6}", atMost: time.Second, ping: "pang"}),
	}
}

var _ = Describe("Faults on PORT2_RESP (the reply to PORT_PLEASE2)", Label("container"), func() {
	for _, r := range []erlangfixtures.Release{erlangfixtures.OTP25, erlangfixtures.OTP27, erlangfixtures.OTP29} {
		otp := r.OTP()
		var labels Labels
		if otp != 25 {
			labels = Labels{fmt.Sprintf("otp:%d", otp)}
		}
		// n1 (C epmd, net_setuptime 3 s) looks up and pings n2 (chaos-epmd),
		// shared by the Ordered specs; each adds and removes its fault and
		// disconnects the nodes again.
		Context(fmt.Sprintf("on OTP %d", otp), labels, Ordered, ContinueOnFailure, func() {
			var n1, n2 *erlangfixtures.Node
			var ctl *faults.Client
			var port int
			BeforeAll(func(ctx SpecContext) {
				c := startCluster(ctx, 2, []erlangfixtures.Option{erlangfixtures.WithRelease(r)}, map[int][]erlangfixtures.Option{
					0: {erlangfixtures.WithErlArgs("-kernel", "net_setuptime", "3")},
					1: {erlangfixtures.WithEpmd(erlangfixtures.EpmdChaos)},
				})
				n1, n2 = c.Nodes[0], c.Nodes[1]
				startDistribution(ctx, n1, n2)
				ctl = chaosControl(ctx, n2)
				port = registeredPort(ctx, ctl, "n2")
			}, NodeTimeout(specTimeout))

			DescribeTable("erl_epmd:port_please/3 and net_adm:ping/1",
				func(ctx SpecContext, tc portReplyCase) {
					id := addFault(ctx, ctl, tc.spec)
					got, took := portReplyOutcome(ctx, n1, tc.node, port)
					row := matrix.Row{Subject: otpSubject(r), Epmd: epmdName(erlangfixtures.EpmdChaos), Request: reqPortPlease, Spec: tc.spec,
						Action:  fmt.Sprintf(`erl_epmd:port_please(%q, "n2", %d) in a process of its own, waited for at most %v`, tc.node, portReplyTimeout.Milliseconds(), portReplyBound),
						Outcome: got}
					recordOutcome(row, took)
					start := time.Now()
					pong, err := n1.Ping(ctx, tc.node+"@n2")
					Expect(err).NotTo(HaveOccurred())
					row.Action, row.Outcome = "net_adm:ping("+tc.node+"@n2)", pong
					recordOutcome(row, time.Since(start))
					removeFault(ctx, ctl, id)
					// The next spec starts unconnected, so its ping asks epmd.
					disconnected(ctx, n1, n2.Name())
					Expect(got).To(Equal(tc.lookup))
					Expect(took).To(BeNumerically(">=", tc.atLeast))
					if tc.atMost > 0 {
						Expect(took).To(BeNumerically("<", tc.atMost))
					}
					Expect(pong).To(Equal(tc.ping))
					Expect(n1.Ping(ctx, n2.Name())).To(Equal("pong"), "once the fault is removed")
					disconnected(ctx, n1, n2.Name())
				},
				portReplyCases())
		})
	}
})
