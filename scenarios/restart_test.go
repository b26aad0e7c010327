package scenarios_test

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
	"github.com/chaos-epmd/chaos-epmd/scenarios/matrix"
)

// restartSpec keeps a stopped x's registration for 3 s after its
// connection to epmd closed: the window of erlang/otp#11083, where epmd has
// not yet processed the old node's close when the new one registers.
const restartSpec = "stale=3,node=x"

// restartErl starts node x in n1's container and halts it at once.
var restartErl = append([]string{"erl", "-sname", "x", "-start_epmd", "false", "-noshell", "-eval", "halt()."}, cookie...)

// restartRefused is what erl -sname x prints when epmd still holds x, on
// OTP 25, 27 and 29 alike: exit 1, one line on stderr.
const restartRefused = `exit 1; stderr "Protocol 'inet_tcp': the name x@n1 seems to be in use by another Erlang node"`

var _ = Describe("Restart under the same name (erlang/otp#11083)", Label("container", "restart"), func() {
	DescribeTable("a node restarted while epmd still holds its name",
		func(ctx SpecContext, r erlangfixtures.Release) {
			n := startNode(ctx, erlangfixtures.WithRelease(r), erlangfixtures.WithSName("n1@n1"), erlangfixtures.WithHostname("n1"),
				erlangfixtures.WithChaosEpmd(restartSpec))
			run := func() string {
				res, err := n.Exec(ctx, restartErl, "HOME=/root")
				Expect(err).NotTo(HaveOccurred())
				return execText(res)
			}
			Expect(run()).To(Equal("exit 0"), "the first x registers and halts")
			stopped := time.Now()
			got := run()
			row := matrix.Row{Subject: otpSubject(r), Epmd: epmdName(erlangfixtures.EpmdChaos), Request: reqAlive2, Spec: restartSpec,
				Action: "erl -sname x, halted, then at once erl -sname x again", Outcome: got}
			recordOutcome(row, time.Since(stopped))
			Expect(got).To(Equal(restartRefused))
			Eventually(ctx, run).WithTimeout(staleExpiresWithin).Should(Equal("exit 0"))
			took := time.Since(stopped)
			row.Action, row.Outcome = "erl -sname x again, repeated until it starts", "exit 0, once the stale time has passed"
			recordOutcome(row, took)
			// The 3 s run from when epmd saw x's connection close, a little
			// before the first run's Exec returned (2.99 s seen on OTP 27).
			Expect(took).To(BeNumerically(">=", 2*time.Second))
		},
		Entry("OTP 25", SpecTimeout(specTimeout), Label("fault:stale"), erlangfixtures.OTP25),
		Entry("OTP 27", SpecTimeout(specTimeout), Label("fault:stale", "otp:27"), erlangfixtures.OTP27),
		Entry("OTP 29", SpecTimeout(specTimeout), Label("fault:stale", "otp:29"), erlangfixtures.OTP29),
	)

	It("without the fault, the C epmd lets x restart at once", func(ctx SpecContext) {
		n := startNode(ctx, erlangfixtures.WithSName("n1@n1"), erlangfixtures.WithHostname("n1"))
		for i := range 2 {
			res, err := n.Exec(ctx, restartErl, "HOME=/root")
			Expect(err).NotTo(HaveOccurred())
			Expect(execText(res)).To(Equal("exit 0"), fmt.Sprintf("start %d", i+1))
		}
	}, SpecTimeout(specTimeout))
})
