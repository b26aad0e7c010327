package scenarios_test

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
)

var _ = Describe("Custom epmd ports", Label("container"), func() {
	DescribeTable("a cluster on epmd port 5000 joins, whichever way the port is set",
		func(ctx SpecContext, mode erlangfixtures.EpmdMode, via erlangfixtures.PortVia) {
			c := startCluster(ctx, 2, []erlangfixtures.Option{erlangfixtures.WithEpmd(mode), erlangfixtures.WithEpmdPort(5000, via)}, nil)
			n1, n2 := c.Nodes[0], c.Nodes[1]
			startDistribution(ctx, n1, n2)
			Expect(n1.Ping(ctx, n2.Name())).To(Equal("pong"))
			Expect(registered(ctx, n1)(Default)).To(Equal([]string{"n1"}))
			res, err := n1.Exec(ctx, []string{"epmd", "-port", "5000", "-names"}, "ERL_EPMD_PORT=")
			Expect(err).NotTo(HaveOccurred())
			Expect(res.ExitCode).To(Equal(0))
			Expect(res.Output).To(MatchRegexp(`^epmd: up and running on port 5000 with data:\nname n1 at port \d+\n$`))
			By("epmd -names on the default port finds no epmd")
			res, err = n1.Exec(ctx, []string{"env", "-u", "ERL_EPMD_PORT", "epmd", "-names"})
			Expect(err).NotTo(HaveOccurred())
			Expect(res.ExitCode).To(Equal(1))
			Expect(res.Stdout).To(BeEmpty())
			Expect(res.Stderr).To(Equal("epmd: Cannot connect to local epmd\n"))
		},
		Entry("with the C epmd, ERL_EPMD_PORT", SpecTimeout(specTimeout), erlangfixtures.EpmdC, erlangfixtures.ViaEnv),
		Entry("with the C epmd, -port and -epmd_port", SpecTimeout(specTimeout), erlangfixtures.EpmdC, erlangfixtures.ViaFlag),
		Entry("with chaos-epmd, ERL_EPMD_PORT", SpecTimeout(specTimeout), erlangfixtures.EpmdChaos, erlangfixtures.ViaEnv),
		Entry("with chaos-epmd, -port and -epmd_port", SpecTimeout(specTimeout), erlangfixtures.EpmdChaos, erlangfixtures.ViaFlag),
	)

	DescribeTable("nodes whose epmd ports differ cannot join",
		func(ctx SpecContext, mode erlangfixtures.EpmdMode) {
			c := startCluster(ctx, 2, []erlangfixtures.Option{erlangfixtures.WithEpmd(mode)}, map[int][]erlangfixtures.Option{
				0: {erlangfixtures.WithEpmdPort(5000, erlangfixtures.ViaEnv)},
				1: {erlangfixtures.WithEpmdPort(5001, erlangfixtures.ViaEnv)},
			})
			n1, n2 := c.Nodes[0], c.Nodes[1]
			startDistribution(ctx, n1, n2)
			Expect(n1.Ping(ctx, n2.Name())).To(Equal("pang"))
			Expect(n2.Ping(ctx, n1.Name())).To(Equal("pang"))
			// n1 asks n2's host on its own port, 5000, where nothing listens.
			Expect(eval(ctx, n1, `erl_epmd:port_please("n2", "n2")`)).To(Equal("noport"))
		}, epmds)

	DescribeTable("two clusters with the same node names on one host are isolated by their epmd ports",
		func(ctx SpecContext, mode erlangfixtures.EpmdMode) {
			n1 := startCluster(ctx, 1, []erlangfixtures.Option{erlangfixtures.WithEpmd(mode)}, nil).Nodes[0]
			startDistribution(ctx, n1)
			twin := func(port int) erlangfixtures.ExecResult {
				GinkgoHelper()
				// Two twins start at once: each with the cookie (see cookie).
				res, err := n1.Exec(ctx, append([]string{"erl", "-sname", "twin", "-detached", "-noshell"}, cookie...),
					"HOME=/root", fmt.Sprintf("ERL_EPMD_PORT=%d", port))
				Expect(err).NotTo(HaveOccurred())
				return res
			}
			Expect(twin(4369).ExitCode).To(Equal(0))
			Expect(twin(5001).ExitCode).To(Equal(0)) // erl starts a second epmd on 5001
			Eventually(ctx, registered(ctx, n1)).Should(ConsistOf("n1", "twin"))
			Eventually(ctx, func(g Gomega) string {
				res, err := n1.Exec(ctx, []string{"epmd", "-port", "5001", "-names"})
				g.Expect(err).NotTo(HaveOccurred())
				return res.Output
			}).Should(MatchRegexp(`^epmd: up and running on port 5001 with data:\nname twin at port \d+\n$`))
			By("a third twin on the default port is refused by name")
			res, err := n1.Exec(ctx, append([]string{"erl", "-sname", "twin", "-noshell", "-eval", "halt()."}, cookie...), "HOME=/root")
			Expect(err).NotTo(HaveOccurred())
			Expect(res.ExitCode).To(Equal(1))
			Expect(res.Output).To(ContainSubstring("the name twin@n1 seems to be in use by another Erlang node"))
		}, epmds)
})
