package scenarios_test

import (
	"context"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
)

// network creates a fresh network removed when the spec ends.
func network(ctx context.Context) string {
	GinkgoHelper()
	nw, err := erlangfixtures.NewNetwork(ctx)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func(ctx SpecContext) { Expect(nw.Remove(ctx)).To(Succeed()) })
	return nw.Name
}

// ipTuple is a node's container address as an Erlang tuple {A,B,C,D}.
func ipTuple(ctx context.Context, n *erlangfixtures.Node) string {
	GinkgoHelper()
	ip, err := n.IP(ctx)
	Expect(err).NotTo(HaveOccurred())
	return "{" + strings.ReplaceAll(ip, ".", ",") + "}"
}

var _ = Describe("epmd -address restrictions", Label("container"), func() {
	DescribeTable("epmd bound to 127.0.0.1 serves local long-name nodes and no other host",
		func(ctx SpecContext, mode erlangfixtures.EpmdMode) {
			nw := network(ctx)
			n1 := startNode(ctx, erlangfixtures.WithNetwork(nw, "h1"), erlangfixtures.WithEpmd(mode),
				erlangfixtures.WithEpmdAddress("127.0.0.1"), erlangfixtures.WithName("x@127.0.0.1"))
			n2 := startNode(ctx, erlangfixtures.WithNetwork(nw, "h2"), erlangfixtures.WithEpmd(mode), erlangfixtures.WithName("y"))
			startDistribution(ctx, n1, n2)
			By("a second local node x2@127.0.0.1 reaches x@127.0.0.1")
			res, err := n1.Exec(ctx, []string{"erl", "-name", "x2@127.0.0.1", "-start_epmd", "false", "-noshell",
				"-setcookie", erlangfixtures.DefaultCookie, "-eval", `io:format("~p~n", [net_adm:ping('x@127.0.0.1')]), halt().`}, "HOME=/root")
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Output).To(Equal("pong\n"))
			By("another host cannot look x up")
			Expect(eval(ctx, n2, `erl_epmd:port_please("x", %s)`, ipTuple(ctx, n1))).To(Equal("noport"))
			ip, err := n1.IP(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(n2.Ping(ctx, "x@"+ip)).To(Equal("pang"))
		}, epmds)

	DescribeTable("epmd bound to the container's own address is reachable from other hosts",
		func(ctx SpecContext, mode erlangfixtures.EpmdMode) {
			nw := network(ctx)
			n1 := startNode(ctx, erlangfixtures.WithNetwork(nw, "h1"), erlangfixtures.WithEpmd(erlangfixtures.EpmdNone), erlangfixtures.WithName("x"))
			n2 := startNode(ctx, erlangfixtures.WithNetwork(nw, "h2"), erlangfixtures.WithEpmd(mode), erlangfixtures.WithName("y"))
			ip, err := n1.IP(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(n1.StartEpmd(ctx, erlangfixtures.WithEpmd(mode), erlangfixtures.WithEpmdAddress(ip))).To(Succeed())
			startDistribution(ctx, n1, n2)
			Expect(eval(ctx, n2, `{port, _, V} = erl_epmd:port_please("x", %s), V`, ipTuple(ctx, n1))).To(Equal("6"))
			Expect(n2.Ping(ctx, n1.Name())).To(Equal("pong"))
		}, epmds)

	DescribeTable("a registration from another host is dropped unanswered, while NAMES is answered",
		func(ctx SpecContext, mode erlangfixtures.EpmdMode) {
			c := startCluster(ctx, 2, []erlangfixtures.Option{erlangfixtures.WithEpmd(mode)}, nil)
			n1, n2 := c.Nodes[0], c.Nodes[1]
			startDistribution(ctx, n1)
			ip := ipTuple(ctx, n1)
			Expect(eval(ctx, n2, `{ok, S} = gen_tcp:connect(%s, 4369, [binary, {active, false}]),
				Name = <<"intruder">>,
				Req = <<$x, 9999:16, 77, 0, 6:16, 5:16, (byte_size(Name)):16, Name/binary, 0:16>>,
				ok = gen_tcp:send(S, <<(byte_size(Req)):16, Req/binary>>),
				gen_tcp:recv(S, 0, 5000)`, ip)).To(Equal("{error,closed}"))
			Expect(eval(ctx, n2, `{ok, L} = erl_epmd:names(%s), [N || {N, _} <- L]`, ip)).To(Equal(`["n1"]`))
			Expect(registered(ctx, n1)(Default)).To(Equal([]string{"n1"}))
		}, epmds)
})
