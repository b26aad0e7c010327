package scenarios_test

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
	"github.com/chaos-epmd/chaos-epmd/scenarios/matrix"
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

// execText is how a command ended, for the matrix: its exit status and
// what it printed on each stream, trimmed: exit 1; stderr "..."; stdout "...".
func execText(res erlangfixtures.ExecResult) string {
	out := fmt.Sprintf("exit %d", res.ExitCode)
	for _, s := range [][2]string{{"stderr", res.Stderr}, {"stdout", res.Stdout}} {
		if t := strings.TrimSpace(strings.ReplaceAll(s[1], "\r\n", "\n")); t != "" {
			out += fmt.Sprintf("; %s %q", s[0], t)
		}
	}
	return out
}

// registrationCase is one fault on ALIVE2 and what `erl -sname x` does under it.
type registrationCase struct {
	spec    string        // chaos-epmd's -fault
	erl     erlOutcome    // how erl ends
	atLeast time.Duration // erl takes at least this long
	pinned  string        // what erl's outcome may be and why, when it varies (a race, the creation)
}

// erlOutcome is how `erl -sname x -eval halt().` ends.
type erlOutcome struct {
	exitCode int
	stderr   types.GomegaMatcher // nil: not checked
	output   types.GomegaMatcher // stdout and stderr; nil: not checked
}

// starts: the node registers and erl runs to its halt().
var starts = erlOutcome{exitCode: 0}

// registerListenError: distribution fails to start and erl exits 1. erl
// prints "Protocol 'inet_tcp': register/listen error: " on stderr and the
// reason term on a line of its own on stdout (erlang:display/1 ends it with
// \r\n); reason is a regular expression for that term.
func registerListenError(reason string) erlOutcome {
	return erlOutcome{exitCode: 1,
		stderr: ContainSubstring("Protocol 'inet_tcp': register/listen error: "),
		output: MatchRegexp(`(?m)^(?:` + reason + `)\r?$`)}
}

// refusedAsDuplicate: epmd's ALIVE2 reply said no, which OTP always reads
// as a name in use.
var refusedAsDuplicate = erlOutcome{exitCode: 1,
	output: ContainSubstring("the name x@n1 seems to be in use by another Erlang node")}

// garbage is the reason OTP gives for a reply it cannot parse.
const garbage = `\{garbage_from_epmd,\[[0-9,]*\]\}`

var _ = Describe("Faults on registration (ALIVE2)", Label("container"), func() {
	DescribeTable("what erl -sname does when epmd misbehaves on its ALIVE2 request",
		func(ctx SpecContext, tc registrationCase) {
			n := startNode(ctx, erlangfixtures.WithSName("n1@n1"), erlangfixtures.WithHostname("n1"), erlangfixtures.WithChaosEpmd(tc.spec))
			res, took := erlStart(ctx, n, "x")
			recordOutcome(matrix.Row{Subject: otpSubject(n.Release()), Epmd: epmdName(erlangfixtures.EpmdChaos), Request: reqAlive2,
				Spec: tc.spec, Action: "erl -sname x", Outcome: execText(res), Pinned: tc.pinned}, took)
			Expect(res.ExitCode).To(Equal(tc.erl.exitCode), res.Output)
			if tc.erl.stderr != nil {
				Expect(res.Stderr).To(tc.erl.stderr)
			}
			if tc.erl.output != nil {
				Expect(res.Output).To(tc.erl.output)
			}
			Expect(took).To(BeNumerically(">=", tc.atLeast))
			if tc.erl.exitCode != 0 {
				// When OTP gives up on a slow or garbled reply, the
				// registration ends once epmd has written its reply and
				// reads the closed connection (as with the C epmd).
				Eventually(ctx, registered(ctx, n)).Should(BeEmpty())
			}
		},
		Entry("delay_write below OTP's 10 s registration timeout: the node starts, later", Label("fault:delay_write"), SpecTimeout(specTimeout),
			registrationCase{spec: "delay_write=2,req=alive2", erl: starts, atLeast: 2 * time.Second}),
		Entry("delay_write above OTP's 10 s registration timeout: the node fails to start", Label("fault:delay_write", "slow"), SpecTimeout(specTimeout),
			registrationCase{spec: "delay_write=11,req=alive2", erl: registerListenError("no_reg_reply_from_epmd"), atLeast: otpClock(10 * time.Second)}),
		// epmd reads the request before it closes: erl's send went out.
		Entry("drop: closed unanswered", Label("fault:drop"), SpecTimeout(specTimeout),
			registrationCase{spec: "drop,req=alive2", erl: registerListenError("epmd_close")}),
		// Closed before anything is read, the close races erl_epmd's
		// gen_tcp:send of ALIVE2_REQ (do_register_node/3, the same in OTP 25
		// and 27), and erl prints whatever that send or the wait after it
		// returned:
		//   - the request went out first and the wait reads the close:
		//     epmd_close (wait_for_reg_reply/2);
		//   - the inet driver had seen the close, its port still open:
		//     the send returns {error,closed};
		//   - the driver had already closed its port (exit_on_close, the
		//     default): port_command raises badarg, which prim_inet:send
		//     returns as {error,einval} (seen once in 352 specs of a CI run);
		//   - the request had reached epmd's socket unread when it closed,
		//     so the kernel answered with a RST: econnreset.
		Entry("drop at accept: epmd_close, closed, einval or econnreset, as the close races erl's send", Label("fault:drop"), SpecTimeout(specTimeout),
			registrationCase{spec: "drop,req=accept", erl: registerListenError("epmd_close|closed|einval|econnreset"),
				pinned: `exit 1; stderr "Protocol 'inet_tcp': register/listen error:"; stdout "epmd_close" | "closed" | "einval" | "econnreset": the close at accept races erl's gen_tcp:send of ALIVE2_REQ`}),
		Entry("reset: closed with RST", Label("fault:reset"), SpecTimeout(specTimeout),
			registrationCase{spec: "reset,req=alive2", erl: registerListenError("epmd_close")}),
		Entry("hang: never answered, until OTP gives up after 10 s", Label("fault:hang", "slow"), SpecTimeout(specTimeout),
			registrationCase{spec: "hang,req=alive2", erl: registerListenError("no_reg_reply_from_epmd"), atLeast: otpClock(10 * time.Second)}),
		Entry("partial_write=3: 'v',0,A then close", Label("fault:partial_write"), SpecTimeout(specTimeout),
			registrationCase{spec: "partial_write=3,req=alive2", erl: registerListenError("epmd_close")}),
		Entry("partial_write=5: five of six bytes are garbage to OTP", Label("fault:partial_write"), SpecTimeout(specTimeout),
			registrationCase{spec: "partial_write=5,req=alive2", erl: registerListenError(garbage),
				pinned: registerFailed(25, "{garbage_from_epmd,[118,0,C,C,C]}") + ": 118 is 'v', 0 success, C the first three bytes of the creation, new on each registration"}),
		Entry("slice=3: OTP reassembles 3+3", Label("fault:slice"), SpecTimeout(specTimeout),
			registrationCase{spec: "slice=3,gap=100ms,req=alive2", erl: starts, atLeast: 100 * time.Millisecond}),
		Entry("slice=1: OTP takes the first four bytes of a 'v' reply for garbage", Label("fault:slice"), SpecTimeout(specTimeout),
			registrationCase{spec: "slice=1,gap=100ms,req=alive2", erl: registerListenError(garbage),
				pinned: registerFailed(25, "{garbage_from_epmd,[118,0,C,C]}") + ": 118 is 'v', 0 success, C the first two bytes of the creation, new on each registration"}),
		Entry("corrupt=result: refused, which OTP calls a duplicate name", Label("fault:corrupt"), SpecTimeout(specTimeout),
			registrationCase{spec: "corrupt=result,req=alive2", erl: refusedAsDuplicate}),
		Entry("name_in_use: refused as a duplicate", Label("fault:name_in_use"), SpecTimeout(specTimeout),
			registrationCase{spec: "name_in_use", erl: refusedAsDuplicate}),
		Entry("name_in_use for other names: x starts", Label("fault:name_in_use"), SpecTimeout(specTimeout),
			registrationCase{spec: "name_in_use,node=y*", erl: starts}),
	)

	It("creation=N: the node runs with the creation epmd forced on it", Label("fault:creation"), func(ctx SpecContext) {
		const spec = "creation=424242"
		n := startNode(ctx, erlangfixtures.WithSName("n1@n1"), erlangfixtures.WithHostname("n1"), erlangfixtures.WithChaosEpmd(spec))
		start := time.Now()
		startDistribution(ctx, n)
		got := eval(ctx, n, "erlang:system_info(creation)")
		recordOutcome(matrix.Row{Subject: otpSubject(n.Release()), Epmd: epmdName(erlangfixtures.EpmdChaos), Request: reqAlive2,
			Spec: spec, Action: "net_kernel:start/2; erlang:system_info(creation)", Outcome: got}, time.Since(start))
		Expect(got).To(Equal("424242"))
	}, SpecTimeout(specTimeout))
})
