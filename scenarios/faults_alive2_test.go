package scenarios_test

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
)

// erlStart runs "erl -sname x" in n's container, as a user starts a node,
// and returns what erl did and how long it took.
func erlStart(ctx SpecContext, n *erlangfixtures.Node, name string) (erlangfixtures.ExecResult, time.Duration) {
	GinkgoHelper()
	start := time.Now()
	res, err := n.Exec(ctx, []string{"erl", "-sname", name, "-start_epmd", "false", "-noshell", "-eval", "halt()."}, "HOME=/root")
	Expect(err).NotTo(HaveOccurred())
	return res, time.Since(start)
}

var _ = Describe("Faults on registration (ALIVE2)", Label("container"), func() {
	DescribeTable("what erl -sname does when epmd misbehaves on its ALIVE2 request",
		func(ctx SpecContext, spec string, ok bool, says string, atLeast time.Duration) {
			n := startNode(ctx, erlangfixtures.WithSName("n1@n1"), erlangfixtures.WithHostname("n1"), erlangfixtures.WithChaosEpmd(spec))
			res, took := erlStart(ctx, n, "x")
			AddReportEntry("erl -sname x with "+spec, took.Round(10*time.Millisecond).String())
			if ok {
				Expect(res.ExitCode).To(Equal(0), res.Output)
			} else {
				Expect(res.ExitCode).To(Equal(1), res.Output)
				// erl prints "Protocol 'inet_tcp': register/listen error: " on
				// stderr and the reason on stdout.
				if reason, ok := strings.CutPrefix(says, "register/listen error: "); ok {
					Expect(res.Stderr).To(ContainSubstring("Protocol 'inet_tcp': register/listen error: "))
					Expect(res.Output).To(ContainSubstring(reason))
				} else {
					Expect(res.Output).To(ContainSubstring(says))
				}
			}
			Expect(took).To(BeNumerically(">=", atLeast))
			if !ok {
				// When OTP gives up on a slow or garbled reply, the
				// registration ends once epmd has written its reply and
				// reads the closed connection (as with the C epmd).
				Eventually(ctx, registered(ctx, n)).WithTimeout(eventually).Should(BeEmpty())
			}
		},
		Entry("delay_write below OTP's 10 s registration timeout: the node starts, later",
			Label("fault:delay_write"), SpecTimeout(specTimeout), "delay_write=2,req=alive2", true, "", 2*time.Second),
		Entry("delay_write above OTP's 10 s registration timeout: the node fails to start",
			Label("fault:delay_write", "slow"), SpecTimeout(specTimeout), "delay_write=11,req=alive2", false, "register/listen error: no_reg_reply_from_epmd", 10*time.Second),
		Entry("drop: closed unanswered", Label("fault:drop"), SpecTimeout(specTimeout), "drop,req=alive2", false, "register/listen error: epmd_close", time.Duration(0)),
		Entry("reset: closed with RST", Label("fault:reset"), SpecTimeout(specTimeout), "reset,req=alive2", false, "register/listen error: epmd_close", time.Duration(0)),
		Entry("hang: never answered, until OTP gives up after 10 s",
			Label("fault:hang", "slow"), SpecTimeout(specTimeout), "hang,req=alive2", false, "register/listen error: no_reg_reply_from_epmd", 10*time.Second),
		Entry("partial_write=3: 'v',0,A then close", Label("fault:partial_write"), SpecTimeout(specTimeout), "partial_write=3,req=alive2", false, "register/listen error: epmd_close", time.Duration(0)),
		Entry("partial_write=5: five of six bytes are garbage to OTP", Label("fault:partial_write"), SpecTimeout(specTimeout), "partial_write=5,req=alive2", false, "register/listen error: {garbage_from_epmd,", time.Duration(0)),
		Entry("slice=3: OTP reassembles 3+3", Label("fault:slice"), SpecTimeout(specTimeout), "slice=3,gap=100ms,req=alive2", true, "", 100*time.Millisecond),
		Entry("slice=1: OTP takes the first four bytes of a 'v' reply for garbage", Label("fault:slice"), SpecTimeout(specTimeout), "slice=1,gap=100ms,req=alive2", false, "register/listen error: {garbage_from_epmd,", time.Duration(0)),
		Entry("corrupt=result: refused, which OTP calls a duplicate name", Label("fault:corrupt"), SpecTimeout(specTimeout), "corrupt=result,req=alive2", false, "the name x@n1 seems to be in use by another Erlang node", time.Duration(0)),
		Entry("name_in_use: refused as a duplicate", Label("fault:name_in_use"), SpecTimeout(specTimeout), "name_in_use", false, "the name x@n1 seems to be in use by another Erlang node", time.Duration(0)),
		Entry("name_in_use for other names: x starts", Label("fault:name_in_use"), SpecTimeout(specTimeout), "name_in_use,node=y*", true, "", time.Duration(0)),
	)

	It("creation=N: the node runs with the creation epmd forced on it", Label("fault:creation"), func(ctx SpecContext) {
		n := startNode(ctx, erlangfixtures.WithSName("n1@n1"), erlangfixtures.WithHostname("n1"), erlangfixtures.WithChaosEpmd("creation=424242"))
		startDistribution(ctx, n)
		Expect(eval(ctx, n, "erlang:system_info(creation)")).To(Equal("424242"))
	}, SpecTimeout(specTimeout))

	It("hold_ports: chaos-epmd holds the node's whole inet_dist_listen range, as exhaustion would",
		Label("fault:hold_ports"), func(ctx SpecContext) {
			n := startNode(ctx, erlangfixtures.WithSName("n1@n1"), erlangfixtures.WithHostname("n1"),
				erlangfixtures.WithChaosEpmd("hold_ports=9100-9102"), erlangfixtures.WithDistListen(9100, 9102))
			err := n.StartDistribution(ctx)
			var re *erlangfixtures.ResultError
			Expect(err).To(BeAssignableToTypeOf(re))
			Expect(err.(*erlangfixtures.ResultError).Term).To(MatchRegexp(distFailedTerm))
			Expect(registered(ctx, n)(Default)).To(BeEmpty())
		}, SpecTimeout(specTimeout))
})
