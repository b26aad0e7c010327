package scenarios_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
	"github.com/chaos-epmd/chaos-epmd/faults"
	"github.com/chaos-epmd/chaos-epmd/scenarios/matrix"
)

// inet6 makes a node's distribution IPv6 (fly.io's set-up for Elixir
// clusters): it listens, registers and looks up over IPv6.
var inet6 = erlangfixtures.WithErlArgs("-proto_dist", "inet6_tcp")

// ipv6Subnet is the ULA prefix of this process's IPv6 network: networks on
// one engine need distinct subnets, and parallel processes each make one.
func ipv6Subnet() string { return fmt.Sprintf("fd00:c0de:0:%x::/64", GinkgoParallelProcess()) }

// v6Prefix is the peer= prefix that holds every ipv6Subnet.
const v6Prefix = "fd00:c0de::/32"

// epmdPeerExpr is the peer of the node's registration connection, as
// erl_epmd (its socket is the first field of its state) sees it.
const epmdPeerExpr = `{ok, {A, _}} = inet:peername(element(2, sys:get_state(erl_epmd))), A`

// addrOf is the address of host name h, in family fam, as node n resolves it.
func addrOf(ctx context.Context, n *erlangfixtures.Node, h, fam string) string {
	GinkgoHelper()
	return eval(ctx, n, `{ok, A} = inet:getaddr(%q, %s), A`, h, fam)
}

var _ = Describe("IPv6 (-proto_dist inet6_tcp on an IPv6 network)", Label("container", "ipv6"), Ordered, ContinueOnFailure, func() {
	var nw string
	var n1, n2, n3 *erlangfixtures.Node
	var ctl2 *faults.Client
	on := func(alias string, o ...erlangfixtures.Option) []erlangfixtures.Option {
		return append([]erlangfixtures.Option{erlangfixtures.WithNetwork(nw, alias), erlangfixtures.WithHostname(alias),
			erlangfixtures.WithSName(alias + "@" + alias), inet6}, o...)
	}
	BeforeAll(func(ctx SpecContext) {
		net, err := erlangfixtures.NewIPv6Network(ctx, ipv6Subnet())
		Expect(err).NotTo(HaveOccurred(), "this Docker engine cannot create an IPv6 network")
		// Registered first, so it runs after the nodes' cleanups.
		DeferCleanup(func(ctx SpecContext) { Expect(net.Remove(ctx)).To(Succeed()) }, NodeTimeout(cleanupWithin))
		nw = net.Name
		n1 = startNode(ctx, on("n1", erlangfixtures.WithEpmd(erlangfixtures.EpmdChaos))...)
		n2 = startNode(ctx, on("n2", erlangfixtures.WithEpmd(erlangfixtures.EpmdChaos))...)
		n3 = startNode(ctx, on("n3")...)
		startDistribution(ctx, n1, n2, n3)
		ctl2 = chaosControl(ctx, n2)
	}, NodeTimeout(specTimeout))

	It("registers with epmd over ::1 and connects over IPv6, with chaos-epmd and the C epmd", func(ctx SpecContext) {
		for _, n := range []*erlangfixtures.Node{n1, n2, n3} {
			Expect(eval(ctx, n, epmdPeerExpr)).To(Equal("{0,0,0,0,0,0,0,1}"), "%s's epmd connection", n.Name())
		}
		var regs []string
		Expect(ctl2.Events(ctx, 0, false, func(e faults.Event) error {
			if e.Type == faults.EventRegistered {
				regs = append(regs, e.Node+" from "+e.Peer)
			}
			return nil
		})).To(Succeed())
		Expect(regs).To(Equal([]string{"n2 from ::1"}), "chaos-epmd's own view of n2's registration")
		Expect(n1.Ping(ctx, n2.Name())).To(Equal("pong"))
		Expect(n1.Ping(ctx, n3.Name())).To(Equal("pong"))
		Expect(eval(ctx, n1, `{ok, {net_address, {A, _}, _, _, Fam}} = net_kernel:node_info(n2@n2, address), {Fam, A}`)).
			To(HavePrefix("{inet6,{64768,49374,"), "the connection to n2 is over fd00:c0de:…")
	}, SpecTimeout(specTimeout))

	It("peer= with an IPv6 prefix acts on the IPv6 lookups only", func(ctx SpecContext) {
		v6, v4 := addrOf(ctx, n1, "n2", "inet6"), addrOf(ctx, n1, "n2", "inet")
		Expect(v6).To(HavePrefix("{64768,49374,"))
		const spec = "drop,req=port_please,peer=" + v6Prefix
		id := addFault(ctx, ctl2, spec)
		DeferCleanup(func(ctx SpecContext) { _ = ctl2.Remove(ctx, id) })
		port := fmt.Sprint(registeredPort(ctx, ctl2, "n2"))
		row := matrix.Row{Subject: otpSubject(n1.Release()), Epmd: epmdName(erlangfixtures.EpmdChaos), Request: reqPortPlease, Spec: spec}
		for _, c := range []struct{ addr, family, want string }{{v6, "IPv6", "closed"}, {v4, "IPv4", "{port," + port + ",6}"}} {
			start := time.Now()
			got := eval(ctx, n1, `erl_epmd:port_please("n2", %s)`, c.addr)
			row.Action, row.Outcome = `erl_epmd:port_please("n2", <n2's `+c.family+` address>) on n1`, strings.ReplaceAll(got, ","+port+",", ",P,")
			recordOutcome(row, time.Since(start))
			Expect(got).To(Equal(c.want))
		}
		// At least n1's IPv6 lookup: n3 may look n2 up over IPv6 meanwhile
		// (global connects the nodes it learns of), so the count is not exact.
		Expect(fired(ctx, ctl2)(Default)).To(HaveKeyWithValue(spec, BeNumerically(">=", 1)))
		Expect(eval(ctx, n1, "erlang:disconnect_node(n2@n2)")).To(Equal("true"))
		start := time.Now()
		pong, err := n1.Ping(ctx, n2.Name())
		Expect(err).NotTo(HaveOccurred())
		row.Action, row.Outcome = "net_adm:ping(n2@n2) over inet6_tcp", pong
		recordOutcome(row, time.Since(start))
		Expect(pong).To(Equal("pang"))
		removeFault(ctx, ctl2, id)
		Expect(n1.Ping(ctx, n2.Name())).To(Equal("pong"))
	}, SpecTimeout(specTimeout))

	DescribeTable("ERL_EPMD_ADDRESS with IPv4 addresses only, nodes on inet6_tcp",
		func(ctx SpecContext, mode erlangfixtures.EpmdMode, alias string) {
			n := startNode(ctx, on(alias, erlangfixtures.WithEpmd(mode), erlangfixtures.WithEnv("ERL_EPMD_ADDRESS", "127.0.0.1"))...)
			start := time.Now()
			Expect(n.StartDistribution(ctx)).To(Succeed(), "epmd listens on ::1 too: it always adds both loopbacks")
			row := matrix.Row{Subject: otpSubject(n.Release()), Epmd: epmdName(mode), Request: reqAlive2,
				Action: "ERL_EPMD_ADDRESS=127.0.0.1, -proto_dist inet6_tcp: net_kernel:start/2", Outcome: "{ok,_}"}
			recordOutcome(row, time.Since(start))
			Expect(eval(ctx, n, epmdPeerExpr)).To(Equal("{0,0,0,0,0,0,0,1}"))
			// epmd is not listening on the network: n1's lookup is refused.
			start = time.Now()
			v6 := addrOf(ctx, n1, alias, "inet6")
			got := eval(ctx, n1, `erl_epmd:port_please(%q, %s)`, alias, v6)
			row.Request, row.Action, row.Outcome = reqPortPlease, fmt.Sprintf(`erl_epmd:port_please(%q, <its IPv6 address>) on n1`, alias), got
			recordOutcome(row, time.Since(start))
			Expect(got).To(Equal("noport"))
			start = time.Now()
			pong, err := n1.Ping(ctx, n.Name())
			Expect(err).NotTo(HaveOccurred())
			row.Action, row.Outcome = "net_adm:ping/1 from n1 over inet6_tcp", pong
			recordOutcome(row, time.Since(start))
			Expect(pong).To(Equal("pang"))
		},
		Entry("the C epmd", SpecTimeout(specTimeout), erlangfixtures.EpmdC, "n4"),
		Entry("chaos-epmd", SpecTimeout(specTimeout), erlangfixtures.EpmdChaos, "n5"),
	)
})
