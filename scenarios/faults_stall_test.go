package scenarios_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
	"github.com/chaos-epmd/chaos-epmd/scenarios/matrix"
)

var _ = Describe("A stalled daemon (stall)", Label("container"), func() {
	It("stall during a join: the whole daemon freezes, and the join completes late", Label("fault:stall"), func(ctx SpecContext) {
		c := startCluster(ctx, 2, nil, map[int][]erlangfixtures.Option{1: {erlangfixtures.WithEpmd(erlangfixtures.EpmdChaos)}})
		n1, n2 := c.Nodes[0], c.Nodes[1]
		startDistribution(ctx, n1, n2)
		const spec = "stall=3,first=1"
		addFault(ctx, chaosControl(ctx, n2), spec)
		start := time.Now()
		pong, err := n1.Ping(ctx, n2.Name())
		Expect(err).NotTo(HaveOccurred())
		took := time.Since(start)
		recordOutcome(matrix.Row{Subject: otpSubject(n1.Release()), Epmd: epmdName(erlangfixtures.EpmdChaos), Request: reqDaemon, Spec: spec,
			Action: "net_adm:ping(n2@n2), the join's lookup stalled", Outcome: pong}, took)
		Expect(pong).To(Equal("pong"))
		Expect(took).To(BeNumerically(">=", 3*time.Second))
	}, SpecTimeout(specTimeout))
})
