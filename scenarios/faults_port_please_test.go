package scenarios_test

import (
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
	"github.com/chaos-epmd/chaos-epmd/scenarios/matrix"
)

// lookupCase is one fault on PORT_PLEASE2 and what real nodes make of it.
type lookupCase struct {
	spec string // the fault added to n2's chaos-epmd
	// lookup matches what erl_epmd:port_please("n2", "n2") returns on n1,
	// given the port n2 really registered.
	lookup  func(registered int) types.GomegaMatcher
	ping    string        // net_adm:ping/1 from n1 to n2 under the fault
	atLeast time.Duration // the lookup takes at least this long
	// pinned is the set the lookup may return and why, when it is a race
	// (the matrix shows it instead of this run's value).
	pinned string
}

// theRegisteredPort: the lookup answers with n2's real port.
func theRegisteredPort(registered int) types.GomegaMatcher {
	return Equal("{port," + strconv.Itoa(registered) + ",6}")
}

// returns: the lookup returns exactly this term, whatever n2 registered.
func returns(term string) func(int) types.GomegaMatcher {
	return func(int) types.GomegaMatcher { return Equal(term) }
}

// racesSendAndClose: epmd closes (or resets) a connection as soon as it has
// accepted it, before reading anything, so OTP's request and the close race.
// erl_epmd:get_port/3 (identical in OTP 25 and 27) opens the socket in
// active mode, then calls gen_tcp:send/2: when the close has already reached
// the inet driver, the send fails and get_port returns noport; when the
// request went out first, wait_for_port_reply/2 gets {tcp_closed, S} and
// returns closed. Both are what a real epmd closing at accept produces.
func racesSendAndClose(int) types.GomegaMatcher { return BeElementOf("closed", "noport") }

// racePinned is the matrix's text for racesSendAndClose.
const racePinned = "closed | noport: the close at accept races OTP's gen_tcp:send of the request"

var _ = Describe("Faults on lookups (PORT_PLEASE2)", Label("container"), func() {
	DescribeTable("what erl_epmd:port_please/2 and net_adm:ping/1 see when epmd misbehaves on lookups",
		func(ctx SpecContext, tc lookupCase) {
			c := startCluster(ctx, 2, nil, map[int][]erlangfixtures.Option{
				0: {erlangfixtures.WithErlArgs("-kernel", "net_setuptime", "3")},
				1: {erlangfixtures.WithEpmd(erlangfixtures.EpmdChaos)},
			})
			n1, n2 := c.Nodes[0], c.Nodes[1]
			startDistribution(ctx, n1, n2)
			ns, err := n2.EpmdNames(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(ns).To(HaveLen(1))
			ctl := chaosControl(ctx, n2)
			id := addFault(ctx, ctl, tc.spec)

			start := time.Now()
			got := eval(ctx, n1, `erl_epmd:port_please("n2", "n2")`)
			took := time.Since(start)
			row := matrix.Row{Subject: otpSubject(n1.Release()), Epmd: epmdName(erlangfixtures.EpmdChaos), Request: reqPortPlease, Spec: tc.spec,
				Action: `erl_epmd:port_please("n2", "n2")`, Outcome: strings.ReplaceAll(got, "{port,"+strconv.Itoa(ns[0].Port)+",", "{port,P,"), Pinned: tc.pinned}
			recordOutcome(row, took)
			Expect(got).To(tc.lookup(ns[0].Port))
			Expect(took).To(BeNumerically(">=", tc.atLeast))
			start = time.Now()
			pong, err := n1.Ping(ctx, n2.Name())
			Expect(err).NotTo(HaveOccurred())
			row.Action, row.Outcome, row.Pinned = "net_adm:ping(n2@n2)", pong, ""
			recordOutcome(row, time.Since(start))
			Expect(pong).To(Equal(tc.ping))
			removeFault(ctx, ctl, id)
			Expect(registered(ctx, n2)(Default)).To(Equal([]string{"n2"}), "a lookup fault never costs a registration")
			Expect(n1.Ping(ctx, n2.Name())).To(Equal("pong"), "once the fault is removed")
		},
		Entry("delay_write below net_setuptime: slower, pong", Label("fault:delay_write"), SpecTimeout(specTimeout),
			lookupCase{spec: "delay_write=1,req=port_please", lookup: theRegisteredPort, ping: "pong", atLeast: time.Second}),
		Entry("delay_write above net_setuptime (3 s here): pang", Label("fault:delay_write"), SpecTimeout(specTimeout),
			lookupCase{spec: "delay_write=4,req=port_please", lookup: theRegisteredPort, ping: "pang", atLeast: 4 * time.Second}),
		Entry("delay_accept: the lookup waits, then succeeds", Label("fault:delay_accept"), SpecTimeout(specTimeout),
			lookupCase{spec: "delay_accept=1,peer=0.0.0.0/0", lookup: theRegisteredPort, ping: "pong", atLeast: time.Second}),
		// epmd reads the request before closing, so OTP's send has succeeded.
		Entry("drop: closed", Label("fault:drop"), SpecTimeout(specTimeout),
			lookupCase{spec: "drop,req=port_please", lookup: returns("closed"), ping: "pang"}),
		Entry("drop at accept: closed or noport, as the close races OTP's send", Label("fault:drop"), SpecTimeout(specTimeout),
			lookupCase{spec: "drop,req=accept,peer=0.0.0.0/0", lookup: racesSendAndClose, ping: "pang", pinned: racePinned}),
		Entry("reset at accept: closed or noport, as the reset races OTP's send", Label("fault:reset"), SpecTimeout(specTimeout),
			lookupCase{spec: "reset,req=accept,peer=0.0.0.0/0", lookup: racesSendAndClose, ping: "pang", pinned: racePinned}),
		Entry("reset: closed", Label("fault:reset"), SpecTimeout(specTimeout),
			lookupCase{spec: "reset,req=port_please", lookup: returns("closed"), ping: "pang"}),
		Entry("hang: noport after OTP's 10 s", Label("fault:hang", "slow"), SpecTimeout(specTimeout),
			lookupCase{spec: "hang,req=port_please", lookup: returns("noport"), ping: "pang", atLeast: otpClock(10 * time.Second)}),
		Entry("partial_write=1: 'w' then close", Label("fault:partial_write"), SpecTimeout(specTimeout),
			lookupCase{spec: "partial_write=1,req=port_please", lookup: returns("closed"), ping: "pang"}),
		Entry("partial_write=4: 'w',0,port then close", Label("fault:partial_write"), SpecTimeout(specTimeout),
			lookupCase{spec: "partial_write=4,req=port_please", lookup: returns("noport"), ping: "pang"}),
		Entry("slice=1: OTP reassembles the reply", Label("fault:slice"), SpecTimeout(specTimeout),
			lookupCase{spec: "slice=1,gap=20ms,req=port_please", lookup: theRegisteredPort, ping: "pong"}),
		Entry("corrupt=result: not registered", Label("fault:corrupt"), SpecTimeout(specTimeout),
			lookupCase{spec: "corrupt=result,req=port_please", lookup: returns("noport"), ping: "pang"}),
		Entry("corrupt=port=1: a dead port", Label("fault:corrupt"), SpecTimeout(specTimeout),
			lookupCase{spec: "corrupt=port=1,req=port_please", lookup: returns("{port,1,6}"), ping: "pang"}),
		Entry("forget: the node vanishes from lookups", Label("fault:forget"), SpecTimeout(specTimeout),
			lookupCase{spec: "forget,node=n2", lookup: returns("noport"), ping: "pang"}),
	)

	It("port_collision: a lookup returns another node's port, and the caller dials the wrong node",
		Label("fault:port_collision"), func(ctx SpecContext) {
			c := startCluster(ctx, 2, nil, map[int][]erlangfixtures.Option{1: {erlangfixtures.WithEpmd(erlangfixtures.EpmdChaos)}})
			n1, n2 := c.Nodes[0], c.Nodes[1]
			startDistribution(ctx, n1, n2)
			startSecondNode(ctx, n2, "other")
			Eventually(ctx, registered(ctx, n2)).Should(ConsistOf("n2", "other"))
			ns, err := n2.EpmdNames(ctx)
			Expect(err).NotTo(HaveOccurred())
			ports := map[string]int{}
			for _, e := range ns {
				ports[e.Name] = e.Port
			}
			const spec = "port_collision,node=n2"
			addFault(ctx, chaosControl(ctx, n2), spec)
			start := time.Now()
			got := eval(ctx, n1, `erl_epmd:port_please("n2", "n2")`)
			row := matrix.Row{Subject: otpSubject(n1.Release()), Epmd: epmdName(erlangfixtures.EpmdChaos), Request: reqPortPlease, Spec: spec,
				Action: `erl_epmd:port_please("n2", "n2")`, Outcome: strings.ReplaceAll(got, "{port,"+strconv.Itoa(ports["other"])+",", "{port,PortOfOther,")}
			recordOutcome(row, time.Since(start))
			Expect(got).To(Equal("{port," + strconv.Itoa(ports["other"]) + ",6}"))
			// The handshake reaches other@n2, which is not who n1 asked for.
			start = time.Now()
			pong, err := n1.Ping(ctx, n2.Name())
			Expect(err).NotTo(HaveOccurred())
			row.Action, row.Outcome = "net_adm:ping(n2@n2)", pong
			recordOutcome(row, time.Since(start))
			Expect(pong).To(Equal("pang"))
			// other@n2 is reachable under its own name, but perhaps not at
			// once: its accept of the aborted handshake above (n1@n1 closed it
			// on reading other@n2 in the challenge) stays a pending
			// connection from n1@n1 until that accept process has seen the
			// close. A new connection from n1@n1 meanwhile is a simultaneous
			// connect to net_kernel, which answers nok because 'other@n2' >
			// 'n1@n1' (OTP's net_kernel, accept_pending), so that ping is
			// pang (seen once in a flake-guard pass). The next one is pong.
			Eventually(ctx, func(g Gomega) string {
				p, err := n1.Ping(ctx, "other@n2")
				g.Expect(err).NotTo(HaveOccurred())
				return p
			}).WithTimeout(10 * time.Second).WithPolling(100 * time.Millisecond).Should(Equal("pong"))
		}, SpecTimeout(specTimeout))
})
