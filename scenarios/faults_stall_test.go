package scenarios_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
)

var _ = Describe("A stalled daemon (stall)", Label("container"), func() {
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
