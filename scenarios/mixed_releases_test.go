package scenarios_test

import (
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
	"github.com/chaos-epmd/chaos-epmd/scenarios/matrix"
)

// Pinned from the runs: every pair of OTP 25, 27 and 29 connects, both
// ways, with either epmd; an erpc call then runs on the other release, and
// neither side logs a line naming the other.

// mixedPair is one direction of a connection between two releases: the
// node at index from pings the node at index to, in a cluster of OTP 25, 27
// and 29 (n1, n2, n3).
type mixedPair struct {
	from, to int
	ping     string // net_adm:ping/1's answer
	// logFrom and logTo are what each side's log gains from the attempt
	// ("" when nothing): the lines that contain the other node's name.
	logFrom, logTo string
}

// mixedReleases are the nodes of the mixed-release cluster, in order.
var mixedReleases = []erlangfixtures.Release{erlangfixtures.OTP25, erlangfixtures.OTP27, erlangfixtures.OTP29}

// linesNaming returns the lines of log after the first skip bytes that
// mention name, trimmed and joined by "\n".
func linesNaming(log string, skip int, name string) string {
	var out []string
	for line := range strings.Lines(log[min(skip, len(log)):]) {
		if strings.Contains(line, name) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, "\n")
}

var _ = Describe("Clusters of mixed releases", Label("container", "otp:27", "otp:29"), func() {
	for _, mode := range []erlangfixtures.EpmdMode{erlangfixtures.EpmdC, erlangfixtures.EpmdChaos} {
		Context("with "+epmdName(mode)+", one node each of OTP 25, 27 and 29, -connect_all false", Ordered, ContinueOnFailure, func() {
			var c *erlangfixtures.Cluster
			BeforeAll(func(ctx SpecContext) {
				per := map[int][]erlangfixtures.Option{}
				for i, r := range mixedReleases {
					per[i] = []erlangfixtures.Option{erlangfixtures.WithRelease(r)}
				}
				c = startCluster(ctx, 3, []erlangfixtures.Option{erlangfixtures.WithEpmd(mode), erlangfixtures.WithoutConnectAll()}, per)
				startDistribution(ctx, c.Nodes...)
			}, NodeTimeout(specTimeout))

			DescribeTable("a ping from one release to another",
				func(ctx SpecContext, p mixedPair) {
					from, to := c.Nodes[p.from], c.Nodes[p.to]
					logs := func() (string, string) {
						lf, err := from.Logs(ctx)
						Expect(err).NotTo(HaveOccurred())
						lt, err := to.Logs(ctx)
						Expect(err).NotTo(HaveOccurred())
						return lf, lt
					}
					beforeFrom, beforeTo := logs()
					start := time.Now()
					pong, err := from.Ping(ctx, to.Name())
					Expect(err).NotTo(HaveOccurred())
					took := time.Since(start)
					// Log lines are written after the attempt ends: let them land.
					var gotFrom, gotTo string
					Eventually(ctx, func() []string {
						lf, lt := logs()
						gotFrom, gotTo = linesNaming(lf, len(beforeFrom), to.Name()), linesNaming(lt, len(beforeTo), from.Name())
						return []string{gotFrom, gotTo}
					}).Should(Equal([]string{p.logFrom, p.logTo}))
					out := pong
					if pong == "pong" {
						// Beyond the handshake: a call runs on the other release.
						rel := eval(ctx, from, "erpc:call(%s, erlang, system_info, [otp_release])", erlangfixtures.Atom(to.Name()))
						Expect(rel).To(Equal(`"` + strconv.Itoa(mixedReleases[p.to].OTP()) + `"`))
						out += "; erpc:call otp_release " + rel
					}
					for _, l := range []struct{ who, text string }{{from.Name(), gotFrom}, {to.Name(), gotTo}} {
						if l.text != "" {
							out += "; log of " + l.who + ": " + l.text
						}
					}
					recordOutcome(matrix.Row{Subject: otpSubject(mixedReleases[p.from]) + " → " + otpSubject(mixedReleases[p.to]), Epmd: epmdName(mode),
						Request: reqPortPlease, Action: "net_adm:ping(" + to.Name() + ") from " + from.Name() + ", then erpc:call(" + to.Name() + ", erlang, system_info, [otp_release])", Outcome: out}, took)
					Expect(pong).To(Equal(p.ping))
					if pong == "pong" {
						Expect(eval(ctx, from, "erlang:disconnect_node(%s)", erlangfixtures.Atom(to.Name()))).To(Equal("true"))
						Eventually(ctx, names(ctx, to)).ShouldNot(ContainElement(from.Name()))
					}
				},
				Entry("OTP 25 → 27", SpecTimeout(specTimeout), mixedPair{from: 0, to: 1, ping: "pong"}),
				Entry("OTP 27 → 25", SpecTimeout(specTimeout), mixedPair{from: 1, to: 0, ping: "pong"}),
				Entry("OTP 27 → 29", SpecTimeout(specTimeout), mixedPair{from: 1, to: 2, ping: "pong"}),
				Entry("OTP 29 → 27", SpecTimeout(specTimeout), mixedPair{from: 2, to: 1, ping: "pong"}),
				Entry("OTP 25 → 29", SpecTimeout(specTimeout), mixedPair{from: 0, to: 2, ping: "pong"}),
				Entry("OTP 29 → 25", SpecTimeout(specTimeout), mixedPair{from: 2, to: 0, ping: "pong"}),
			)
		})
	}
})
