package scenarios_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
	"github.com/chaos-epmd/chaos-epmd/faults"
)

// epmds is the differential control: every story without a fault runs
// with OTP's C epmd and with chaos-epmd and must end the same way.
var epmds = []TableEntry{
	Entry("with the C epmd", SpecTimeout(specTimeout), erlangfixtures.EpmdC),
	Entry("with chaos-epmd", SpecTimeout(specTimeout), erlangfixtures.EpmdChaos),
}

// startCluster starts n nodes n1@n1 … on a fresh network (not joined,
// distribution not started unless the options say so), removes them when
// the spec ends, and attaches their logs to the report if it failed.
func startCluster(ctx context.Context, n int, common []erlangfixtures.Option, perNode map[int][]erlangfixtures.Option) *erlangfixtures.Cluster {
	GinkgoHelper()
	copts := []erlangfixtures.ClusterOption{
		erlangfixtures.WithNodeOptions(common...),
		erlangfixtures.WithCleanup(func(f func()) { DeferCleanup(f) }),
	}
	for i, o := range perNode {
		copts = append(copts, erlangfixtures.WithNodeOptionsAt(i, o...))
	}
	c, err := erlangfixtures.RunCluster(ctx, n, copts...)
	attachLogsOnFailure(c.Nodes...)
	Expect(err).NotTo(HaveOccurred())
	return c
}

// startNode starts one node, as startCluster does.
func startNode(ctx context.Context, o ...erlangfixtures.Option) *erlangfixtures.Node {
	GinkgoHelper()
	n, err := erlangfixtures.Run(ctx, o...)
	DeferCleanup(func() {
		tctx, cancel := context.WithTimeout(context.Background(), cleanupWithin)
		defer cancel()
		Expect(n.Terminate(tctx)).To(Succeed())
	})
	attachLogsOnFailure(n)
	Expect(err).NotTo(HaveOccurred())
	return n
}

// attachLogsOnFailure adds the nodes' container logs (erl's and epmd's
// output) to the report of a failed spec.
func attachLogsOnFailure(nodes ...*erlangfixtures.Node) {
	DeferCleanup(func() {
		if !CurrentSpecReport().Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), diagnosticsWithin)
		defer cancel()
		for _, n := range nodes {
			if n == nil {
				continue
			}
			l, err := n.Logs(ctx)
			if err != nil {
				l = "logs: " + err.Error()
			}
			AddReportEntry("log of "+n.Name(), l, ReportEntryVisibilityFailureOrVerbose)
		}
	})
}

// startDistribution starts distribution on every node and fails the spec
// on any error.
func startDistribution(ctx context.Context, nodes ...*erlangfixtures.Node) {
	GinkgoHelper()
	for _, n := range nodes {
		Expect(n.StartDistribution(ctx)).To(Succeed(), "start distribution on %s", n.Name())
	}
}

// eval evaluates expressions on a node and fails the spec on an exception.
func eval(ctx context.Context, n *erlangfixtures.Node, format string, args ...any) string {
	GinkgoHelper()
	out, err := n.Eval(ctx, fmt.Sprintf(format, args...))
	Expect(err).NotTo(HaveOccurred())
	return out
}

// names returns the node names n sees in nodes(kinds...).
func names(ctx context.Context, n *erlangfixtures.Node, kinds ...string) func(Gomega) []string {
	return func(g Gomega) []string {
		got, err := n.Nodes(ctx, kinds...)
		g.Expect(err).NotTo(HaveOccurred())
		return got
	}
}

// disconnected disconnects n from peer and returns once n has stayed
// unconnected for settleUnconnected, so that n's next ping of peer asks
// epmd again. On OTP 25 a disconnect made as soon as a connection is up is
// sometimes undone: one side dials the other again within 100 ms. In a
// loop on n1 of this suite's two-node cluster (net_adm:ping, then
// erlang:disconnect_node at once, nodes() 100 ms later) that happened 19
// times in 200, 15 of them dialled by the peer. global is one source (its
// sync after a nodeup casts to the other side, and a cast connects), not
// the only one: with its connect_all off, 4 in 200. With 1, 3 or 10 ms
// between the pong and the disconnect, none in 300. A loaded machine
// stretches that window, and a reconnect that lands after the disconnect
// fails whatever asserts nodes() next: the likeliest cause of the phantom
// PORT2_RESP spec's one failure in CI's flake guard, where that assertion
// failed (the output kept did not show the value). So the disconnect is
// repeated until the connection stays down.
func disconnected(ctx context.Context, n *erlangfixtures.Node, peer string) {
	GinkgoHelper()
	disconnect := fmt.Sprintf("erlang:disconnect_node(%s), nodes(connected)", erlangfixtures.Atom(peer))
	Eventually(ctx, func(g Gomega) {
		out, err := n.Eval(ctx, disconnect)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(out).To(Equal("[]"))
		g.Consistently(ctx, names(ctx, n, "connected")).WithTimeout(settleUnconnected).WithPolling(settleUnconnected / 10).Should(BeEmpty())
	}).WithTimeout(10*time.Second).WithPolling(50*time.Millisecond).Should(Succeed(), "%s stays disconnected from %s", n.Name(), peer)
}

// settleUnconnected is how long disconnected watches for a reconnect: three
// times the 100 ms within which every one seen had come.
const settleUnconnected = 300 * time.Millisecond

// registered returns the names registered with n's epmd.
func registered(ctx context.Context, n *erlangfixtures.Node) func(Gomega) []string {
	return func(g Gomega) []string {
		ns, err := n.EpmdNames(ctx)
		g.Expect(err).NotTo(HaveOccurred())
		out := []string{}
		for _, e := range ns {
			out = append(out, e.Name)
		}
		return out
	}
}

// cookie is the -setcookie of every extra erl a spec starts in a container.
// Without one, erl reads ~/.erlang.cookie, and the first node creates it
// (auth:create_cookie/1, OTP 25 and 27: open, write, close, then chmod
// 0400): a second node starting meanwhile reads it empty and dies with
// {case_clause,eof} in auth:read_cookie/2 (seen in an erl_crash.dump of the
// flake hunt), or finds it still 0644 ("must be accessible by owner only").
// A race between two erls over a file, not an epmd behaviour.
var cookie = []string{"-setcookie", erlangfixtures.DefaultCookie}

// startSecondNode starts another node, name@<host of n>, detached in n's
// container (erl -detached, the fixture's cookie) and waits until it is
// registered with that container's epmd.
func startSecondNode(ctx context.Context, n *erlangfixtures.Node, name string) {
	GinkgoHelper()
	res, err := n.Exec(ctx, append([]string{"erl", "-sname", name, "-start_epmd", "false", "-detached", "-noshell"}, cookie...), "HOME=/root")
	Expect(err).NotTo(HaveOccurred())
	Expect(res.ExitCode).To(Equal(0), res.Output)
	Eventually(ctx, registered(ctx, n)).Should(ContainElement(name))
}

// chaosControl returns the control client of the chaos-epmd running in n's
// container, and attaches its event stream to the report if the spec fails.
func chaosControl(ctx context.Context, n *erlangfixtures.Node) *faults.Client {
	GinkgoHelper()
	cl, err := n.ChaosClient(ctx)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		if !CurrentSpecReport().Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), diagnosticsWithin)
		defer cancel()
		var b strings.Builder
		err := cl.Events(ctx, 0, false, func(e faults.Event) error {
			line, _ := json.Marshal(e)
			b.Write(line)
			b.WriteByte('\n')
			return nil
		})
		if err != nil {
			b.WriteString("events: " + err.Error())
		}
		AddReportEntry("chaos-epmd events of "+n.Name(), b.String(), ReportEntryVisibilityFailureOrVerbose)
	})
	return cl
}

// addFault adds a fault at run time and returns its id.
func addFault(ctx context.Context, cl *faults.Client, spec string) uint64 {
	GinkgoHelper()
	info, err := cl.Add(ctx, spec)
	Expect(err).NotTo(HaveOccurred(), "add fault %q", spec)
	return info.ID
}

// removeFault removes a fault added at run time.
func removeFault(ctx context.Context, cl *faults.Client, id uint64) {
	GinkgoHelper()
	Expect(cl.Remove(ctx, id)).To(Succeed())
}

// fired returns how often each installed fault fired, by spec.
func fired(ctx context.Context, cl *faults.Client) func(Gomega) map[string]uint64 {
	return func(g Gomega) map[string]uint64 {
		infos, err := cl.Faults(ctx)
		g.Expect(err).NotTo(HaveOccurred())
		out := map[string]uint64{}
		for _, i := range infos {
			out[i.Spec] = i.Fired
		}
		return out
	}
}

// faultLabel labels a story with the kind of the fault spec it installs,
// fault:KIND, so that --label-filter selects it with the kind's others.
func faultLabel(spec string) Labels {
	return Label("fault:" + faults.MustParse(spec).Action.Kind())
}
