package scenarios_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
	"github.com/chaos-epmd/chaos-epmd/scenarios/matrix"
)

var _ = Describe("Fault targeting and run-time control", Label("container"), func() {
	It("node= hits only the named node's lookups", Label("fault:drop"), func(ctx SpecContext) {
		c := startCluster(ctx, 2, nil, map[int][]erlangfixtures.Option{1: {erlangfixtures.WithEpmd(erlangfixtures.EpmdChaos)}})
		n1, n2 := c.Nodes[0], c.Nodes[1]
		startDistribution(ctx, n1, n2)
		startSecondNode(ctx, n2, "other")
		Eventually(ctx, registered(ctx, n2)).Should(ConsistOf("n2", "other"))
		ctl := chaosControl(ctx, n2)
		const spec = "drop,req=port_please,node=oth*"
		addFault(ctx, ctl, spec)
		row := matrix.Row{Subject: otpSubject(n1.Release()), Epmd: epmdName(erlangfixtures.EpmdChaos), Request: reqPortPlease, Spec: spec}
		for _, to := range []struct{ node, want string }{{"other@n2", "pang"}, {n2.Name(), "pong"}} {
			start := time.Now()
			pong, err := n1.Ping(ctx, to.node)
			Expect(err).NotTo(HaveOccurred())
			row.Action, row.Outcome = "net_adm:ping("+to.node+")", pong
			recordOutcome(row, time.Since(start))
			Expect(pong).To(Equal(to.want), to.node)
		}
		Expect(fired(ctx, ctl)(Default)).To(HaveKeyWithValue("drop,req=port_please,node=oth*", BeNumerically(">=", 1)))
	}, SpecTimeout(specTimeout))

	It("peer= hits only the lookups from that address", Label("fault:drop"), func(ctx SpecContext) {
		c := startCluster(ctx, 3, nil, map[int][]erlangfixtures.Option{2: {erlangfixtures.WithEpmd(erlangfixtures.EpmdChaos)}})
		n1, n2, n3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
		startDistribution(ctx, n1, n2, n3)
		ip, err := n1.IP(ctx)
		Expect(err).NotTo(HaveOccurred())
		// Not in the fault-outcome matrix: the spec holds this run's address.
		addFault(ctx, chaosControl(ctx, n3), "drop,req=port_please,peer="+ip+"/32")
		// Dropped after epmd has read the request: OTP's send went out, so closed.
		Expect(eval(ctx, n1, `erl_epmd:port_please("n3", "n3")`)).To(Equal("closed"))
		Expect(eval(ctx, n2, `{port, _, V} = erl_epmd:port_please("n3", "n3"), V`)).To(Equal("6"))
	}, SpecTimeout(specTimeout))

	It("a fault added and removed at run time acts only in between, and costs no registration", Label("fault:reset"), func(ctx SpecContext) {
		c := startCluster(ctx, 2, nil, map[int][]erlangfixtures.Option{1: {erlangfixtures.WithEpmd(erlangfixtures.EpmdChaos)}})
		n1, n2 := c.Nodes[0], c.Nodes[1]
		startDistribution(ctx, n1, n2)
		ctl := chaosControl(ctx, n2)
		Expect(eval(ctx, n1, `{port, _, V} = erl_epmd:port_please("n2", "n2"), V`)).To(Equal("6"))
		const spec = "reset,req=port_please"
		id := addFault(ctx, ctl, spec)
		start := time.Now()
		pong, err := n1.Ping(ctx, n2.Name())
		Expect(err).NotTo(HaveOccurred())
		recordOutcome(matrix.Row{Subject: otpSubject(n1.Release()), Epmd: epmdName(erlangfixtures.EpmdChaos), Request: reqPortPlease,
			Spec: spec, Action: "net_adm:ping(n2@n2), the fault added at run time", Outcome: pong}, time.Since(start))
		Expect(pong).To(Equal("pang"))
		Expect(registered(ctx, n2)(Default)).To(Equal([]string{"n2"}))
		removeFault(ctx, ctl, id)
		Expect(fired(ctx, ctl)(Default)).To(BeEmpty())
		Expect(n1.Ping(ctx, n2.Name())).To(Equal("pong"))
	}, SpecTimeout(specTimeout))
})
