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
		// Taken before the stop: the stale window opens when epmd sees the
		// registration's connection close, which may precede the agent's
		// answer to net_kernel:stop().
		stopped := time.Now()
		Expect(eval(ctx, n2, "net_kernel:stop()")).To(Equal("ok"))
		Expect(eval(ctx, n1, `{port, _, 6} = erl_epmd:port_please("n2", "n2"), stale`)).To(Equal("stale"))
		Expect(n1.Ping(ctx, "n2@n2")).To(Equal("pang"))
		Eventually(ctx, func() string { return eval(ctx, n1, `erl_epmd:port_please("n2", "n2")`) }).
			WithTimeout(staleExpiresWithin).Should(Equal("noport"))
		Expect(time.Since(stopped)).To(BeNumerically(">=", 6*time.Second))
	}, SpecTimeout(specTimeout))

	It("crash: every registration is dropped and the daemon refuses connections, then the nodes register again",
		Label("fault:crash"), func(ctx SpecContext) {
			c := startCluster(ctx, 2, nil, map[int][]erlangfixtures.Option{1: {erlangfixtures.WithEpmd(erlangfixtures.EpmdChaos)}})
			n1, n2 := c.Nodes[0], c.Nodes[1]
			startDistribution(ctx, n1, n2)
			Expect(n1.Ping(ctx, n2.Name())).To(Equal("pong"))
			Expect(eval(ctx, n1, "erlang:disconnect_node(n2@n2)")).To(Equal("true"))
			ctl := chaosControl(ctx, n2)
			// Taken before the add: the crash window opens inside it.
			crashed := time.Now()
			addFault(ctx, ctl, "crash,for=3")
			// A crashed daemon resets new connections as soon as they are
			// accepted, so the reset races erl_epmd's request (as drop and
			// reset at accept do): OTP sees closed when its request went out
			// first, noport when its gen_tcp:send failed.
			Expect(eval(ctx, n1, `erl_epmd:port_please("n2", "n2")`)).To(BeElementOf("closed", "noport"))
			Eventually(ctx, registered(ctx, n2)).WithTimeout(reregisterWithin).Should(Equal([]string{"n2"}))
			AddReportEntry("registered again after crash,for=3", time.Since(crashed).Round(10*time.Millisecond).String())
			Expect(time.Since(crashed)).To(BeNumerically(">=", 3*time.Second))
			Expect(n1.Ping(ctx, n2.Name())).To(Equal("pong"))
		}, SpecTimeout(specTimeout))
})
