package scenarios_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
)

var _ = Describe("epmd lifecycle", Label("container"), func() {
	DescribeTable("epmd killed under running nodes: connections survive, new joins fail",
		func(ctx SpecContext, mode erlangfixtures.EpmdMode, release erlangfixtures.Release) {
			c := startCluster(ctx, 3, []erlangfixtures.Option{erlangfixtures.WithEpmd(mode), erlangfixtures.WithRelease(release)}, nil)
			n1, n2, n3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
			startDistribution(ctx, n1, n2, n3)
			Expect(n1.Ping(ctx, n2.Name())).To(Equal("pong"))
			Expect(n1.KillEpmd(ctx)).To(Succeed())
			Expect(n2.KillEpmd(ctx)).To(Succeed())
			Expect(n1.Ping(ctx, n2.Name())).To(Equal("pong"))
			Expect(names(ctx, n2)(Default)).To(Equal([]string{n1.Name()}))
			Expect(n3.Ping(ctx, n1.Name())).To(Equal("pang"))
			Expect(names(ctx, n3)(Default)).To(BeEmpty())
		},
		epmdReleaseEntries(),
	)

	DescribeTable("a restarted epmd gets the running nodes registered again",
		func(ctx SpecContext, mode erlangfixtures.EpmdMode, release erlangfixtures.Release) {
			c := startCluster(ctx, 2, []erlangfixtures.Option{erlangfixtures.WithEpmd(mode), erlangfixtures.WithRelease(release)}, nil)
			n1, n2 := c.Nodes[0], c.Nodes[1]
			startDistribution(ctx, n1, n2)
			Expect(n1.KillEpmd(ctx)).To(Succeed())
			Expect(n2.Ping(ctx, n1.Name())).To(Equal("pang"))
			Expect(n1.StartEpmd(ctx)).To(Succeed())
			start := time.Now()
			Eventually(ctx, registered(ctx, n1)).WithTimeout(reregisterWithin).Should(Equal([]string{"n1"}))
			AddReportEntry("re-registration after epmd restart", time.Since(start).Round(10*time.Millisecond).String())
			Expect(n2.Ping(ctx, n1.Name())).To(Equal("pong"))
		},
		epmdReleaseEntries(),
	)

	It("takeover: a host's C epmd replaced by chaos-epmd under running nodes, which register with it and then feel its faults",
		Label("fault:drop"), func(ctx SpecContext) {
			c := startCluster(ctx, 2, []erlangfixtures.Option{erlangfixtures.WithEpmd(erlangfixtures.EpmdC)}, nil)
			n1, n2 := c.Nodes[0], c.Nodes[1]
			startDistribution(ctx, n1, n2)
			Expect(n1.KillEpmd(ctx)).To(Succeed())
			Expect(n1.StartEpmd(ctx, erlangfixtures.WithChaosEpmd())).To(Succeed())
			Eventually(ctx, registered(ctx, n1)).WithTimeout(reregisterWithin).Should(Equal([]string{"n1"}))
			Expect(n2.Ping(ctx, n1.Name())).To(Equal("pong"))
			By("a fault added at run time applies to the nodes that moved over")
			ctl := chaosControl(ctx, n1)
			id := addFault(ctx, ctl, "drop,req=port_please")
			// OTP reports a lookup epmd closed unanswered as closed.
			Expect(eval(ctx, n2, `erl_epmd:port_please("n1", "n1")`)).To(Equal("closed"))
			removeFault(ctx, ctl, id)
			Expect(eval(ctx, n2, `{port, _, V} = erl_epmd:port_please("n1", "n1"), V`)).To(Equal("6"))
		}, SpecTimeout(specTimeout))

	DescribeTable("erl starts chaos-epmd by itself when it is installed as epmd",
		func(ctx SpecContext, release erlangfixtures.Release) {
			c := startCluster(ctx, 2, []erlangfixtures.Option{erlangfixtures.WithEpmd(erlangfixtures.EpmdChaosAuto),
				erlangfixtures.WithDistAtBoot(), erlangfixtures.WithRelease(release)}, nil)
			n1, n2 := c.Nodes[0], c.Nodes[1]
			Expect(n1.Ping(ctx, n2.Name())).To(Equal("pong"))
			Expect(registered(ctx, n1)(Default)).To(Equal([]string{"n1"}))
			ps, err := n1.EpmdProcesses(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(ps).To(HaveLen(1))
			Expect(ps[0].Args).To(HaveSuffix("epmd -daemon"))
			Expect(ps[0].Chaos).To(BeTrue(), "a Go binary runs as %s", ps[0].Exe)
			res, err := n1.Exec(ctx, []string{"sha256sum", "/proc/" + strconv.Itoa(ps[0].PID) + "/exe"})
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Stdout).To(Equal(chaosBinarySum(ctx) + "  /proc/" + strconv.Itoa(ps[0].PID) + "/exe\n"))
		},
		Entry("OTP 25", SpecTimeout(specTimeout), erlangfixtures.OTP25),
		Entry("OTP 27", Label("otp:27"), SpecTimeout(specTimeout), erlangfixtures.OTP27),
		Entry("OTP 29", Label("otp:29"), SpecTimeout(specTimeout), erlangfixtures.OTP29),
	)
})

// chaosBinarySum is the SHA-256 of the chaos-epmd binary the fixtures put
// into containers.
func chaosBinarySum(ctx SpecContext) string {
	GinkgoHelper()
	path, err := erlangfixtures.ChaosEpmdBinary(ctx)
	Expect(err).NotTo(HaveOccurred())
	f, err := os.Open(path)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	Expect(err).NotTo(HaveOccurred())
	return hex.EncodeToString(h.Sum(nil))
}

// epmdReleaseEntries are the lifecycle tables' entries: each epmd on OTP
// 25, 27 and 29 (labelled otp:27, otp:29).
func epmdReleaseEntries() []TableEntry {
	var es []TableEntry
	for _, r := range []erlangfixtures.Release{erlangfixtures.OTP25, erlangfixtures.OTP27, erlangfixtures.OTP29} {
		for _, m := range []erlangfixtures.EpmdMode{erlangfixtures.EpmdC, erlangfixtures.EpmdChaos} {
			name := map[erlangfixtures.EpmdMode]string{erlangfixtures.EpmdC: "the C epmd", erlangfixtures.EpmdChaos: "chaos-epmd"}[m]
			args := []any{SpecTimeout(specTimeout), m, r}
			if r != erlangfixtures.OTP25 {
				args = append([]any{Label(fmt.Sprintf("otp:%d", r.OTP()))}, args...)
			}
			es = append(es, Entry(fmt.Sprintf("with %s, OTP %d", name, r.OTP()), args...))
		}
	}
	return es
}
