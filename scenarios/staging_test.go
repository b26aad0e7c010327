package scenarios_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
)

// stagingChaos is where the staging specs install chaos-epmd in a
// container, as an operator would on a host.
const stagingChaos = "/usr/local/bin/chaos-epmd"

// The faults of the staging run: a lookup takes 3 s longer (the nodes feel
// it), and NAMES lists a node that never registered (whoever answers NAMES
// with it is chaos-epmd).
const (
	stagingDelay   = "delay_write=3,req=port_please"
	stagingPhantom = "phantom=ghost:4711"
)

// cLogLine is one line of chaos-epmd's log in the C format: "epmd: DATE: "
// and the message, CRLF-terminated.
var cLogLine = regexp.MustCompile(`^epmd: \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}: (.*)\r$`)

// stagingLog returns the messages of chaos-epmd's stderr in the C format,
// and fails the spec on a line of another form.
func stagingLog(stderr string) []string {
	GinkgoHelper()
	var msgs []string
	for line := range strings.Lines(stderr) {
		m := cLogLine.FindStringSubmatch(strings.TrimSuffix(line, "\n"))
		Expect(m).NotTo(BeNil(), "log line %q", line)
		msgs = append(msgs, m[1])
	}
	return msgs
}

// installChaosEpmd copies chaos-epmd into the node's container.
func installChaosEpmd(ctx context.Context, n *erlangfixtures.Node) {
	GinkgoHelper()
	bin, err := erlangfixtures.ChaosEpmdBinary(ctx)
	Expect(err).NotTo(HaveOccurred())
	Expect(n.Container().CopyFileToContainer(ctx, bin, stagingChaos, 0o755)).To(Succeed())
}

// watchNodedowns starts, on each node, a process that records every
// nodedown the node sees from now on (net_kernel:monitor_nodes/1).
func watchNodedowns(ctx context.Context, a *erlangfixtures.Node, nodes ...string) {
	GinkgoHelper()
	for _, node := range nodes {
		Expect(eval(ctx, a, `Self = self(),
P = spawn(%s, fun() ->
	register(stagewatch, self()),
	ok = net_kernel:monitor_nodes(true),
	Self ! watching,
	Loop = fun L(Downs) ->
		receive
			{nodedown, N} -> L([N | Downs]);
			{get, From} -> From ! {stagewatch, lists:reverse(Downs)}, L(Downs);
			_ -> L(Downs)
		end
	end,
	Loop([])
end),
receive watching -> ok after 5000 -> {no_watcher, P} end`, erlangfixtures.Atom(node))).To(Equal("ok"))
	}
}

// nodedowns returns the nodedowns recorded on node, and its nodes().
func nodedowns(ctx context.Context, a *erlangfixtures.Node, node string) string {
	GinkgoHelper()
	return eval(ctx, a, `{stagewatch, %[1]s} ! {get, self()},
receive {stagewatch, D} -> {D, lists:sort(erpc:call(%[1]s, erlang, nodes, []))} after 5000 -> no_answer end`,
		erlangfixtures.Atom(node))
}

// lookupMillis times erl_epmd:port_please/2 on a for node name, against
// the container's epmd, and returns the reply and its milliseconds.
func lookupMillis(ctx context.Context, a *erlangfixtures.Node, name string) (string, int) {
	GinkgoHelper()
	out := eval(ctx, a, `{T, R} = timer:tc(erl_epmd, port_please, [%q, {127,0,0,1}]),
{element(1, R), T div 1000}`, name)
	m := regexp.MustCompile(`^\{(\w+),(\d+)\}$`).FindStringSubmatch(out)
	Expect(m).NotTo(BeNil(), "port_please: %s", out)
	ms, _ := strconv.Atoi(m[2])
	return m[1], ms
}

var _ = Describe("staging: chaos-epmd -takeover -handback -for on a host with live nodes", Label("staging", "container"), func() {
	DescribeTable("the nodes move to chaos-epmd, feel its fault, and move back to the C epmd with every connection kept",
		func(ctx SpecContext, mode erlangfixtures.EpmdMode, opts ...erlangfixtures.Option) {
			a := startNode(ctx, append([]erlangfixtures.Option{erlangfixtures.WithSName("a"), erlangfixtures.WithHostname("stage"),
				erlangfixtures.WithEpmd(mode)}, opts...)...)
			if mode == erlangfixtures.EpmdC {
				startDistribution(ctx, a)
			}
			startSecondNode(ctx, a, "b")
			startSecondNode(ctx, a, "c")
			all := []string{"a@stage", "b@stage", "c@stage"}
			Expect(eval(ctx, a, `[net_kernel:connect_node(N) || N <- ['b@stage', 'c@stage']]`)).To(Equal("[true,true]"))
			// connect_all: b and c connect to each other too.
			Eventually(ctx, func(g Gomega) string {
				out, err := a.Eval(ctx, `erpc:call('b@stage', erlang, nodes, [])`)
				g.Expect(err).NotTo(HaveOccurred())
				return out
			}).Should(Or(Equal("[a@stage,c@stage]"), Equal("[c@stage,a@stage]")))
			watchNodedowns(ctx, a, all...)
			Expect(registered(ctx, a)(Default)).To(ConsistOf("a", "b", "c"))

			ps, err := a.EpmdProcesses(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(ps).To(HaveLen(1))
			orig := ps[0]
			Expect(orig.Chaos).To(BeFalse(), "the C epmd runs: %+v", orig)
			installChaosEpmd(ctx, a)

			By("chaos-epmd -takeover -handback -for 20 in the container")
			type result struct {
				res erlangfixtures.ExecResult
				err error
			}
			done := make(chan result, 1)
			go func() {
				defer GinkgoRecover()
				res, err := a.Exec(ctx, []string{stagingChaos, "-takeover", "-handback", "-for", "20",
					"-fault", stagingDelay, "-fault", stagingPhantom})
				done <- result{res, err}
			}()

			By("the nodes registered with chaos-epmd: NAMES lists them and its phantom")
			Eventually(ctx, registered(ctx, a)).WithTimeout(reregisterWithin).Should(ConsistOf("a", "b", "c", "ghost"))
			By("a lookup through it takes the 3 s of the fault; the connections stay")
			reply, ms := lookupMillis(ctx, a, "b")
			Expect(reply).To(Equal("port"))
			Expect(ms).To(BeNumerically(">=", otpClock(3*time.Second).Milliseconds()))
			Expect(names(ctx, a)(Default)).To(Equal([]string{"b@stage", "c@stage"}))

			By("at the end of the 20 s, the C epmd again, with the three nodes")
			var r result
			Eventually(ctx, done).WithTimeout(stagingRunWithin).Should(Receive(&r))
			Expect(r.err).NotTo(HaveOccurred())
			Expect(r.res.Stdout).To(BeEmpty())
			log := stagingLog(r.res.Stderr)
			AddReportEntry("chaos-epmd log", strings.Join(log, "\n"))
			Expect(r.res.ExitCode).To(Equal(0), strings.Join(log, "\n"))
			Eventually(ctx, registered(ctx, a)).WithTimeout(reregisterWithin).Should(ConsistOf("a", "b", "c"))
			ps, err = a.EpmdProcesses(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(ps).To(HaveLen(1))
			Expect(ps[0].Chaos).To(BeFalse(), "the C epmd runs again: %+v", ps[0])
			Expect([]string{ps[0].Exe, ps[0].Args}).To(Equal([]string{orig.Exe, orig.Args}))
			reply, ms = lookupMillis(ctx, a, "b")
			Expect(reply).To(Equal("port"))
			Expect(ms).To(BeNumerically("<", 1000))

			By("no distribution connection dropped: no nodedown on any node, each still connected to the two others")
			for _, n := range all {
				var others []string
				for _, o := range all {
					if o != n {
						others = append(others, o)
					}
				}
				Expect(nodedowns(ctx, a, n)).To(Equal("{[],["+strings.Join(others, ",")+"]}"), "node %s", n)
			}

			By("the log: per node, when it registered again with chaos-epmd and with the C epmd")
			durs := regexp.MustCompile(`^((?:takeover|handback): node registered again node=(\w+)) after=([0-9.]+m?s)$`)
			pids := regexp.MustCompile(` pid=\d+`)
			var masked []string
			moves := map[string][]string{}
			for _, l := range log {
				if m := durs.FindStringSubmatch(l); m != nil {
					moves[m[2]] = append(moves[m[2]], m[3])
					l = m[1] + " after=D"
				}
				l = pids.ReplaceAllString(l, " pid=N")
				l = regexp.MustCompile(`^fault injector seed=\d+$`).ReplaceAllString(l, "fault injector seed=S")
				l = regexp.MustCompile(`nodes=[abc],[abc],[abc]$`).ReplaceAllString(l, "nodes=a,b,c")
				masked = append(masked, l)
			}
			if len(masked) == 13 {
				slices.Sort(masked[5:8])
				slices.Sort(masked[10:13])
			}
			Expect(masked).To(Equal([]string{
				"fault injector seed=S",
				"fault installed fault=" + stagingDelay,
				"fault installed fault=" + stagingPhantom,
				fmt.Sprintf("takeover: stopping epmd pid=N exe=%s args=%s nodes=a,b,c", orig.Exe, orig.Args),
				"takeover: listening port=4369 pid=N",
				"takeover: node registered again node=a after=D",
				"takeover: node registered again node=b after=D",
				"takeover: node registered again node=c after=D",
				"run time over for=20s",
				fmt.Sprintf("handback: epmd restarted exe=%s args=%s pid=N nodes=a,b,c", orig.Exe, orig.Args),
				"handback: node registered again node=a after=D",
				"handback: node registered again node=b after=D",
				"handback: node registered again node=c after=D",
			}))
			var report []string
			for _, n := range []string{"a", "b", "c"} {
				report = append(report, fmt.Sprintf("%s: to chaos-epmd %s, back to the C epmd %s", n, moves[n][0], moves[n][1]))
			}
			AddReportEntry("seconds to move over and back", strings.Join(report, "\n"))
		},
		Entry("the C epmd started by the host (in the foreground)", SpecTimeout(specTimeout), erlangfixtures.EpmdC),
		Entry("the C epmd started by erl (epmd -daemon)", SpecTimeout(specTimeout), erlangfixtures.EpmdAuto, erlangfixtures.WithDistAtBoot()),
		Entry("the C epmd started by erl (epmd -daemon), OTP 27", Label("otp:27"), SpecTimeout(specTimeout), erlangfixtures.EpmdAuto,
			erlangfixtures.WithDistAtBoot(), erlangfixtures.WithRelease(erlangfixtures.OTP27)),
	)

	It("refuses to take over a port held by a program that is not an epmd, and signals nothing", SpecTimeout(specTimeout), func(ctx SpecContext) {
		a := startNode(ctx, erlangfixtures.WithSName("a"), erlangfixtures.WithHostname("stage"), erlangfixtures.WithEpmd(erlangfixtures.EpmdNone))
		By("an Erlang gen_tcp listener on 4369 that never answers")
		Expect(eval(ctx, a, `Self = self(),
P = spawn(fun() ->
	{ok, L} = gen_tcp:listen(4369, [{reuseaddr, true}, {active, false}]),
	Self ! listening,
	receive stop -> gen_tcp:close(L) end
end),
register(holder, P),
receive listening -> ok after 5000 -> timeout end`)).To(Equal("ok"))
		pid := eval(ctx, a, `os:getpid()`)
		res, err := a.Exec(ctx, []string{"cat", "/proc/" + strings.Trim(pid, `"`) + "/cmdline"})
		Expect(err).NotTo(HaveOccurred())
		// chaos-epmd shows argv as ps does, on one line: an argument with
		// white space, a quote or a control character in Go quotes (erl's
		// -eval expression spans lines).
		var argv []string
		for _, arg := range strings.Split(strings.TrimSuffix(res.Stdout, "\x00"), "\x00") {
			if strings.ContainsAny(arg, " \t\n\"'") {
				arg = strconv.Quote(arg)
			}
			argv = append(argv, arg)
		}
		cmdline := strings.Join(argv, " ")
		installChaosEpmd(ctx, a)

		res, err = a.Exec(ctx, []string{stagingChaos, "-takeover", "-handback", "-for", "20"})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.ExitCode).To(Equal(1))
		Expect(res.Stdout).To(BeEmpty())
		refusal := stagingLog(res.Stderr)
		AddReportEntry("refusal", strings.Join(refusal, "\n"))
		Expect(refusal).To(Equal([]string{fmt.Sprintf(
			"chaos-epmd: -takeover: port 4369 is held by pid %s (%s), which does not answer NAMES as an epmd (no reply within 2s); not taking over",
			strings.Trim(pid, `"`), cmdline)}))
		By("the holder still listens")
		Expect(eval(ctx, a, `is_process_alive(whereis(holder))`)).To(Equal("true"))
		Expect(eval(ctx, a, `{ok, S} = gen_tcp:connect({127,0,0,1}, 4369, []), gen_tcp:close(S)`)).To(Equal("ok"))
	})
})
