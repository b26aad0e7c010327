package scenarios_test

import (
	"strconv"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
)

var (
	otp25x3 = [3]erlangfixtures.Release{erlangfixtures.OTP25, erlangfixtures.OTP25, erlangfixtures.OTP25}
	otp27x3 = [3]erlangfixtures.Release{erlangfixtures.OTP27, erlangfixtures.OTP27, erlangfixtures.OTP27}
	mixed   = [3]erlangfixtures.Release{erlangfixtures.OTP25, erlangfixtures.OTP27, erlangfixtures.OTP25}
	otp29x3 = [3]erlangfixtures.Release{erlangfixtures.OTP29, erlangfixtures.OTP29, erlangfixtures.OTP29}
)

var _ = Describe("Cluster joins", Label("container"), func() {
	DescribeTable("three nodes joined by net_adm:ping see each other transitively",
		func(ctx SpecContext, mode erlangfixtures.EpmdMode, releases [3]erlangfixtures.Release) {
			per := map[int][]erlangfixtures.Option{}
			for i, r := range releases {
				per[i] = []erlangfixtures.Option{erlangfixtures.WithRelease(r)}
			}
			c := startCluster(ctx, 3, []erlangfixtures.Option{erlangfixtures.WithEpmd(mode)}, per)
			n1, n2, n3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
			startDistribution(ctx, n1, n2, n3)
			Expect(n1.Ping(ctx, n2.Name())).To(Equal("pong"))
			Expect(n1.Ping(ctx, n3.Name())).To(Equal("pong"))
			// n2 and n3 never pinged each other: global connects them.
			Eventually(ctx, names(ctx, n2)).Should(ConsistOf(n1.Name(), n3.Name()))
			Eventually(ctx, names(ctx, n3)).Should(ConsistOf(n1.Name(), n2.Name()))
			Expect(registered(ctx, n1)(Default)).To(Equal([]string{"n1"}))
			for i, n := range c.Nodes {
				Expect(n.EvalString(ctx, "erlang:system_info(otp_release)")).To(Equal(strconv.Itoa(releases[i].OTP())), n.Name())
			}
		},
		Entry("with the C epmd, OTP 25", SpecTimeout(specTimeout), erlangfixtures.EpmdC, otp25x3),
		Entry("with chaos-epmd, OTP 25", SpecTimeout(specTimeout), erlangfixtures.EpmdChaos, otp25x3),
		Entry("with the C epmd, OTP 27", Label("otp:27"), SpecTimeout(specTimeout), erlangfixtures.EpmdC, otp27x3),
		Entry("with chaos-epmd, OTP 27", Label("otp:27"), SpecTimeout(specTimeout), erlangfixtures.EpmdChaos, otp27x3),
		Entry("with the C epmd, OTP 25 and 27 mixed", Label("otp:27"), SpecTimeout(specTimeout), erlangfixtures.EpmdC, mixed),
		Entry("with chaos-epmd, OTP 25 and 27 mixed", Label("otp:27"), SpecTimeout(specTimeout), erlangfixtures.EpmdChaos, mixed),
		Entry("with the C epmd, OTP 29", Label("otp:29"), SpecTimeout(specTimeout), erlangfixtures.EpmdC, otp29x3),
		Entry("with chaos-epmd, OTP 29", Label("otp:29"), SpecTimeout(specTimeout), erlangfixtures.EpmdChaos, otp29x3),
	)

	DescribeTable("with -connect_all false connections stay explicit",
		func(ctx SpecContext, mode erlangfixtures.EpmdMode) {
			c := startCluster(ctx, 3, []erlangfixtures.Option{erlangfixtures.WithEpmd(mode), erlangfixtures.WithoutConnectAll()}, nil)
			n1, n2, n3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
			startDistribution(ctx, n1, n2, n3)
			Expect(n1.Ping(ctx, n2.Name())).To(Equal("pong"))
			Expect(n1.Ping(ctx, n3.Name())).To(Equal("pong"))
			Expect(names(ctx, n1)(Default)).To(ConsistOf(n2.Name(), n3.Name()))
			Consistently(ctx, names(ctx, n2)).Should(Equal([]string{n1.Name()}))
			Expect(names(ctx, n3)(Default)).To(Equal([]string{n1.Name()}))
		}, epmds)

	DescribeTable("a hidden node is only in nodes(hidden), and its connections are not transitive",
		func(ctx SpecContext, mode erlangfixtures.EpmdMode) {
			c := startCluster(ctx, 3, []erlangfixtures.Option{erlangfixtures.WithEpmd(mode)},
				map[int][]erlangfixtures.Option{2: {erlangfixtures.WithHidden()}})
			n1, n2, n3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
			startDistribution(ctx, n1, n2, n3)
			Expect(n1.Ping(ctx, n2.Name())).To(Equal("pong"))
			Expect(n3.Ping(ctx, n1.Name())).To(Equal("pong"))
			Expect(names(ctx, n1)(Default)).To(Equal([]string{n2.Name()}))
			Expect(names(ctx, n1, "hidden")(Default)).To(Equal([]string{n3.Name()}))
			Consistently(ctx, names(ctx, n2, "connected")).Should(Equal([]string{n1.Name()}))
			Expect(names(ctx, n3, "connected")(Default)).To(Equal([]string{n1.Name()}))
		}, epmds)

	DescribeTable("a cookie mismatch gives pang until erlang:set_cookie/2",
		func(ctx SpecContext, mode erlangfixtures.EpmdMode) {
			c := startCluster(ctx, 2, []erlangfixtures.Option{erlangfixtures.WithEpmd(mode)},
				map[int][]erlangfixtures.Option{1: {erlangfixtures.WithCookie("other")}})
			n1, n2 := c.Nodes[0], c.Nodes[1]
			startDistribution(ctx, n1, n2)
			Expect(n1.Ping(ctx, n2.Name())).To(Equal("pang"))
			Expect(eval(ctx, n1, "erlang:set_cookie(%s, other)", erlangfixtures.Atom(n2.Name()))).To(Equal("true"))
			Expect(n1.Ping(ctx, n2.Name())).To(Equal("pong"))
		}, epmds)

	DescribeTable("erlang:disconnect_node/1 delivers nodedown to monitor_node",
		func(ctx SpecContext, mode erlangfixtures.EpmdMode) {
			c := startCluster(ctx, 2, []erlangfixtures.Option{erlangfixtures.WithEpmd(mode)}, nil)
			n1, n2 := c.Nodes[0], c.Nodes[1]
			startDistribution(ctx, n1, n2)
			Expect(n1.Ping(ctx, n2.Name())).To(Equal("pong"))
			Expect(eval(ctx, n1, `N = %s, true = monitor_node(N, true), true = erlang:disconnect_node(N),
				receive {nodedown, N} -> {nodedown, N} after 5000 -> timeout end`, erlangfixtures.Atom(n2.Name()))).
				To(Equal("{nodedown," + n2.Name() + "}"))
			Expect(names(ctx, n1)(Default)).To(BeEmpty())
		}, epmds)
})
