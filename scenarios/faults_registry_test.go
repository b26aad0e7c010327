package scenarios_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
)

var _ = Describe("Registry faults", Label("container"), func() {
	It("stale: a stopped node's registration outlives it, lookups return its dead port", Label("fault:stale"), func(ctx SpecContext) {
		c := startCluster(ctx, 2, nil, map[int][]erlangfixtures.Option{1: {erlangfixtures.WithChaosEpmd("stale=6")}})
		n1, n2 := c.Nodes[0], c.Nodes[1]
		startDistribution(ctx, n1, n2)
		Expect(eval(ctx, n2, "net_kernel:stop()")).To(Equal("ok"))
		stopped := time.Now()
		Expect(eval(ctx, n1, `{port, _, 6} = erl_epmd:port_please("n2", "n2"), stale`)).To(Equal("stale"))
		Expect(n1.Ping(ctx, "n2@n2")).To(Equal("pang"))
		Eventually(ctx, func() string { return eval(ctx, n1, `erl_epmd:port_please("n2", "n2")`) }).
			WithTimeout(15 * time.Second).Should(Equal("noport"))
		Expect(time.Since(stopped)).To(BeNumerically(">=", 6*time.Second))
	}, SpecTimeout(specTimeout))

	It("crash: every registration is dropped and the daemon refuses connections, then the nodes register again",
		Label("fault:crash"), func(ctx SpecContext) {
			c := startCluster(ctx, 2, nil, map[int][]erlangfixtures.Option{1: {erlangfixtures.WithEpmd(erlangfixtures.EpmdChaos)}})
			n1, n2 := c.Nodes[0], c.Nodes[1]
			startDistribution(ctx, n1, n2)
			Expect(n1.Ping(ctx, n2.Name())).To(Equal("pong"))
			Expect(eval(ctx, n1, "erlang:disconnect_node(n2@n2)")).To(Equal("true"))
			addFault(ctx, chaosControl(ctx, n2), "crash,for=3")
			crashed := time.Now()
			// A crashed daemon resets new connections as soon as they are
			// accepted: OTP sees closed when its request went out first,
			// noport when the reset beat its send.
			Expect(eval(ctx, n1, `erl_epmd:port_please("n2", "n2")`)).To(BeElementOf("closed", "noport"))
			Eventually(ctx, registered(ctx, n2)).WithTimeout(reregisterWithin).Should(Equal([]string{"n2"}))
			AddReportEntry("registered again after crash,for=3", time.Since(crashed).Round(10*time.Millisecond).String())
			Expect(time.Since(crashed)).To(BeNumerically(">=", 3*time.Second))
			Expect(n1.Ping(ctx, n2.Name())).To(Equal("pong"))
		}, SpecTimeout(specTimeout))

	It("stall during a join: the whole daemon freezes, and the join completes late", Label("fault:stall"), func(ctx SpecContext) {
		c := startCluster(ctx, 2, nil, map[int][]erlangfixtures.Option{1: {erlangfixtures.WithEpmd(erlangfixtures.EpmdChaos)}})
		n1, n2 := c.Nodes[0], c.Nodes[1]
		startDistribution(ctx, n1, n2)
		addFault(ctx, chaosControl(ctx, n2), "stall=3,first=1")
		start := time.Now()
		Expect(n1.Ping(ctx, n2.Name())).To(Equal("pong"))
		took := time.Since(start)
		AddReportEntry("ping through a 3 s stall", took.Round(10*time.Millisecond).String())
		Expect(took).To(BeNumerically(">=", 3*time.Second))
	}, SpecTimeout(specTimeout))
})

var _ = Describe("Fault targeting and run-time control", Label("container"), func() {
	It("node= hits only the named node's lookups", Label("fault:drop"), func(ctx SpecContext) {
		c := startCluster(ctx, 2, nil, map[int][]erlangfixtures.Option{1: {erlangfixtures.WithEpmd(erlangfixtures.EpmdChaos)}})
		n1, n2 := c.Nodes[0], c.Nodes[1]
		startDistribution(ctx, n1, n2)
		startSecondNode(ctx, n2, "other")
		Eventually(ctx, registered(ctx, n2)).WithTimeout(eventually).Should(ConsistOf("n2", "other"))
		ctl := chaosControl(ctx, n2)
		addFault(ctx, ctl, "drop,req=port_please,node=oth*")
		Expect(n1.Ping(ctx, "other@n2")).To(Equal("pang"))
		Expect(n1.Ping(ctx, n2.Name())).To(Equal("pong"))
		Expect(fired(ctx, ctl)(Default)).To(HaveKeyWithValue("drop,req=port_please,node=oth*", BeNumerically(">=", 1)))
	}, SpecTimeout(specTimeout))

	It("peer= hits only the lookups from that address", Label("fault:drop"), func(ctx SpecContext) {
		c := startCluster(ctx, 3, nil, map[int][]erlangfixtures.Option{2: {erlangfixtures.WithEpmd(erlangfixtures.EpmdChaos)}})
		n1, n2, n3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
		startDistribution(ctx, n1, n2, n3)
		ip, err := n1.IP(ctx)
		Expect(err).NotTo(HaveOccurred())
		addFault(ctx, chaosControl(ctx, n3), "drop,req=port_please,peer="+ip+"/32")
		Expect(eval(ctx, n1, `erl_epmd:port_please("n3", "n3")`)).To(Equal("closed"))
		Expect(eval(ctx, n2, `{port, _, V} = erl_epmd:port_please("n3", "n3"), V`)).To(Equal("6"))
	}, SpecTimeout(specTimeout))

	It("a fault added and removed at run time acts only in between, and costs no registration", Label("fault:reset"), func(ctx SpecContext) {
		c := startCluster(ctx, 2, nil, map[int][]erlangfixtures.Option{1: {erlangfixtures.WithEpmd(erlangfixtures.EpmdChaos)}})
		n1, n2 := c.Nodes[0], c.Nodes[1]
		startDistribution(ctx, n1, n2)
		ctl := chaosControl(ctx, n2)
		Expect(eval(ctx, n1, `{port, _, V} = erl_epmd:port_please("n2", "n2"), V`)).To(Equal("6"))
		id := addFault(ctx, ctl, "reset,req=port_please")
		Expect(n1.Ping(ctx, n2.Name())).To(Equal("pang"))
		Expect(registered(ctx, n2)(Default)).To(Equal([]string{"n2"}))
		removeFault(ctx, ctl, id)
		Expect(fired(ctx, ctl)(Default)).To(BeEmpty())
		Expect(n1.Ping(ctx, n2.Name())).To(Equal("pong"))
	}, SpecTimeout(specTimeout))
})
