package scenarios_test

import (
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
	"github.com/chaos-epmd/chaos-epmd/scenarios/matrix"
)

// holdPort makes the node's agent hold a TCP listener on port, as another
// program on the host would.
func holdPort(ctx SpecContext, n *erlangfixtures.Node, port int) {
	GinkgoHelper()
	Expect(eval(ctx, n, `Self = self(),
		spawn(fun() -> R = gen_tcp:listen(%d, [{reuseaddr, false}]), Self ! {held, R}, receive stop -> ok end end),
		receive {held, {ok, _}} -> held; {held, E} -> E end`, port)).To(Equal("held"))
}

var _ = Describe("inet_dist_listen_min/max exhaustion", Label("container"), func() {
	DescribeTable("with min = max and that port taken, distribution fails to start",
		func(ctx SpecContext, mode erlangfixtures.EpmdMode) {
			n1 := startCluster(ctx, 1, []erlangfixtures.Option{erlangfixtures.WithEpmd(mode), erlangfixtures.WithDistListen(9100, 9100)}, nil).Nodes[0]
			holdPort(ctx, n1, 9100)
			err := n1.StartDistribution(ctx)
			var re *erlangfixtures.ResultError
			Expect(err).To(BeAssignableToTypeOf(re))
			// OTP 25 says only that net_kernel could not start; the listen
			// error itself goes to the node's log.
			Expect(err.(*erlangfixtures.ResultError).Term).To(MatchRegexp(distFailedTerm))
			Expect(registered(ctx, n1)(Default)).To(BeEmpty())
		}, epmds)

	DescribeTable("a range of three ports fits three nodes on one host, and the fourth fails",
		func(ctx SpecContext, mode erlangfixtures.EpmdMode) {
			n1 := startCluster(ctx, 1, []erlangfixtures.Option{erlangfixtures.WithEpmd(mode), erlangfixtures.WithDistListen(9100, 9102)}, nil).Nodes[0]
			startDistribution(ctx, n1)
			extra := func(name string, detached bool) erlangfixtures.ExecResult {
				GinkgoHelper()
				// e2 and e3 start at once: each with the cookie (see cookie).
				args := append([]string{"erl", "-sname", name, "-start_epmd", "false", "-noshell",
					"-kernel", "inet_dist_listen_min", "9100", "inet_dist_listen_max", "9102"}, cookie...)
				if detached {
					args = append(args, "-detached")
				} else {
					args = append(args, "-eval", "halt().")
				}
				res, err := n1.Exec(ctx, args, "HOME=/root")
				Expect(err).NotTo(HaveOccurred())
				return res
			}
			Expect(extra("e2", true).ExitCode).To(Equal(0))
			Expect(extra("e3", true).ExitCode).To(Equal(0))
			Eventually(ctx, registered(ctx, n1)).Should(ConsistOf("n1", "e2", "e3"))
			ns, err := n1.EpmdNames(ctx)
			Expect(err).NotTo(HaveOccurred())
			for _, e := range ns {
				Expect(e.Port).To(BeNumerically(">=", 9100), e.Name)
				Expect(e.Port).To(BeNumerically("<=", 9102), e.Name)
			}
			res := extra("e4", false)
			Expect(res.ExitCode).To(Equal(1))
			// erl prints "Protocol 'inet_tcp': register/listen error: " and
			// the reason on separate streams.
			Expect(res.Output).To(ContainSubstring("Protocol 'inet_tcp': register/listen error: "))
			Expect(res.Output).To(ContainSubstring("eaddrinuse"))
		}, epmds)

	DescribeTable("a node restricted to a range listens inside it and is reachable there",
		func(ctx SpecContext, mode erlangfixtures.EpmdMode) {
			c := startCluster(ctx, 2, []erlangfixtures.Option{erlangfixtures.WithEpmd(mode)},
				map[int][]erlangfixtures.Option{0: {erlangfixtures.WithDistListen(9200, 9210)}})
			n1, n2 := c.Nodes[0], c.Nodes[1]
			startDistribution(ctx, n1, n2)
			ns, err := n1.EpmdNames(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(ns).To(HaveLen(1))
			Expect(ns[0].Port).To(BeNumerically(">=", 9200))
			Expect(ns[0].Port).To(BeNumerically("<=", 9210))
			Expect(eval(ctx, n2, `{port, P, _} = erl_epmd:port_please("n1", "n1"), P`)).To(Equal(strconv.Itoa(ns[0].Port)))
			Expect(n2.Ping(ctx, n1.Name())).To(Equal("pong"))
		}, epmds)

	It("hold_ports: chaos-epmd holds the node's whole inet_dist_listen range, as exhaustion would",
		Label("fault:hold_ports"), func(ctx SpecContext) {
			const spec = "hold_ports=9100-9102"
			n := startNode(ctx, erlangfixtures.WithSName("n1@n1"), erlangfixtures.WithHostname("n1"),
				erlangfixtures.WithChaosEpmd(spec), erlangfixtures.WithDistListen(9100, 9102))
			start := time.Now()
			err := n.StartDistribution(ctx)
			var re *erlangfixtures.ResultError
			Expect(err).To(BeAssignableToTypeOf(re))
			recordOutcome(matrix.Row{Subject: otpSubject(n.Release()), Epmd: epmdName(erlangfixtures.EpmdChaos), Request: reqDaemon, Spec: spec,
				Action: "net_kernel:start/2 with inet_dist_listen_min/max 9100-9102", Outcome: err.(*erlangfixtures.ResultError).Term}, time.Since(start))
			Expect(err.(*erlangfixtures.ResultError).Term).To(MatchRegexp(distFailedTerm))
			Expect(registered(ctx, n)(Default)).To(BeEmpty())
		}, SpecTimeout(specTimeout))
})

// distFailedTerm matches what net_kernel:start/2 returns when the
// distribution listener cannot be opened (pinned from OTP 25): the listen
// error itself (eaddrinuse) only reaches the node's log.
const distFailedTerm = `^\{error,\{\{shutdown,\{failed_to_start_child,net_kernel,\{'EXIT',nodistribution\}\}\},`
