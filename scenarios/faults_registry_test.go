package scenarios_test

import (
	"regexp"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
	"github.com/chaos-epmd/chaos-epmd/scenarios/matrix"
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
		const spec = "stale=6"
		row := matrix.Row{Subject: otpSubject(n1.Release()), Epmd: epmdName(erlangfixtures.EpmdChaos), Request: reqPortPlease, Spec: spec,
			Action: `erl_epmd:port_please("n2", "n2") after net_kernel:stop() on n2`}
		start := time.Now()
		got := eval(ctx, n1, `erl_epmd:port_please("n2", "n2")`)
		row.Outcome = regexp.MustCompile(`^\{port,[0-9]+,`).ReplaceAllString(got, "{port,P,")
		recordOutcome(row, time.Since(start))
		Expect(row.Outcome).To(Equal("{port,P,6}"))
		start = time.Now()
		pong, err := n1.Ping(ctx, "n2@n2")
		Expect(err).NotTo(HaveOccurred())
		row.Action, row.Outcome = "net_adm:ping(n2@n2) after net_kernel:stop() on n2", pong
		recordOutcome(row, time.Since(start))
		Expect(pong).To(Equal("pang"))
		Eventually(ctx, func() string { return eval(ctx, n1, `erl_epmd:port_please("n2", "n2")`) }).
			WithTimeout(staleExpiresWithin).Should(Equal("noport"))
		row.Action, row.Outcome = `erl_epmd:port_please("n2", "n2") polled from net_kernel:stop() on n2`, "noport, once the stale time has passed"
		recordOutcome(row, time.Since(stopped))
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
			const spec = "crash,for=3"
			addFault(ctx, ctl, spec)
			// A crashed daemon resets new connections as soon as they are
			// accepted, so the reset races erl_epmd's request (as drop and
			// reset at accept do): OTP sees closed when its request went out
			// first, noport when its gen_tcp:send failed.
			start := time.Now()
			got := eval(ctx, n1, `erl_epmd:port_please("n2", "n2")`)
			row := matrix.Row{Subject: otpSubject(n1.Release()), Epmd: epmdName(erlangfixtures.EpmdChaos), Request: reqDaemon, Spec: spec,
				Action: `erl_epmd:port_please("n2", "n2") during the crash`, Outcome: got,
				Pinned: "closed | noport: the crashed daemon's reset at accept races OTP's gen_tcp:send of the request"}
			recordOutcome(row, time.Since(start))
			Expect(got).To(BeElementOf("closed", "noport"))
			Eventually(ctx, registered(ctx, n2)).WithTimeout(reregisterWithin).Should(Equal([]string{"n2"}))
			row.Action, row.Outcome, row.Pinned = "n2 left running through the crash", "registered again by itself, after the crash ended", ""
			recordOutcome(row, time.Since(crashed))
			Expect(time.Since(crashed)).To(BeNumerically(">=", 3*time.Second))
			Expect(n1.Ping(ctx, n2.Name())).To(Equal("pong"))
		}, SpecTimeout(specTimeout))
})
