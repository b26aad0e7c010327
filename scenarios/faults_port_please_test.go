package scenarios_test

import (
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
)

var _ = Describe("Faults on lookups (PORT_PLEASE2)", Label("container"), func() {
	DescribeTable("what erl_epmd:port_please/2 and net_adm:ping/1 see when epmd misbehaves on lookups",
		func(ctx SpecContext, spec string, lookup string, ping string, atLeast time.Duration) {
			c := startCluster(ctx, 2, nil, map[int][]erlangfixtures.Option{
				0: {erlangfixtures.WithErlArgs("-kernel", "net_setuptime", "3")},
				1: {erlangfixtures.WithEpmd(erlangfixtures.EpmdChaos)},
			})
			n1, n2 := c.Nodes[0], c.Nodes[1]
			startDistribution(ctx, n1, n2)
			ns, err := n2.EpmdNames(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(ns).To(HaveLen(1))
			real := strconv.Itoa(ns[0].Port)
			ctl := chaosControl(ctx, n2)
			id := addFault(ctx, ctl, spec)

			start := time.Now()
			got := eval(ctx, n1, `erl_epmd:port_please("n2", "n2")`)
			took := time.Since(start)
			switch lookup {
			case "REAL":
				Expect(got).To(Equal("{port," + real + ",6}"))
			case "OTHER":
				Expect(got).To(MatchRegexp(`^\{port,\d+,6\}$`))
				Expect(got).NotTo(Equal("{port," + real + ",6}"))
			default:
				Expect(got).To(Equal(lookup))
			}
			Expect(took).To(BeNumerically(">=", atLeast))
			start = time.Now()
			Expect(n1.Ping(ctx, n2.Name())).To(Equal(ping))
			AddReportEntry("lookup and ping with "+spec, took.Round(10*time.Millisecond).String()+", "+time.Since(start).Round(10*time.Millisecond).String())
			removeFault(ctx, ctl, id)
			Expect(registered(ctx, n2)(Default)).To(Equal([]string{"n2"}), "a lookup fault never costs a registration")
			Expect(n1.Ping(ctx, n2.Name())).To(Equal("pong"), "once the fault is removed")
		},
		Entry("delay_write below net_setuptime: slower, pong", Label("fault:delay_write"), SpecTimeout(specTimeout), "delay_write=1,req=port_please", "REAL", "pong", time.Second),
		Entry("delay_write above net_setuptime (3 s here): pang", Label("fault:delay_write"), SpecTimeout(specTimeout), "delay_write=4,req=port_please", "REAL", "pang", 4*time.Second),
		Entry("delay_accept: the lookup waits, then succeeds", Label("fault:delay_accept"), SpecTimeout(specTimeout), "delay_accept=1,peer=0.0.0.0/0", "REAL", "pong", time.Second),
		Entry("drop: closed", Label("fault:drop"), SpecTimeout(specTimeout), "drop,req=port_please", "closed", "pang", time.Duration(0)),
		Entry("drop at accept: closed", Label("fault:drop"), SpecTimeout(specTimeout), "drop,req=accept,peer=0.0.0.0/0", "closed", "pang", time.Duration(0)),
		Entry("reset: closed", Label("fault:reset"), SpecTimeout(specTimeout), "reset,req=port_please", "closed", "pang", time.Duration(0)),
		Entry("hang: noport after OTP's 10 s", Label("fault:hang", "slow"), SpecTimeout(specTimeout), "hang,req=port_please", "noport", "pang", 10*time.Second),
		Entry("partial_write=1: 'w' then close", Label("fault:partial_write"), SpecTimeout(specTimeout), "partial_write=1,req=port_please", "closed", "pang", time.Duration(0)),
		Entry("partial_write=4: 'w',0,port then close", Label("fault:partial_write"), SpecTimeout(specTimeout), "partial_write=4,req=port_please", "noport", "pang", time.Duration(0)),
		Entry("slice=1: OTP reassembles the reply", Label("fault:slice"), SpecTimeout(specTimeout), "slice=1,gap=20ms,req=port_please", "REAL", "pong", time.Duration(0)),
		Entry("corrupt=result: not registered", Label("fault:corrupt"), SpecTimeout(specTimeout), "corrupt=result,req=port_please", "noport", "pang", time.Duration(0)),
		Entry("corrupt=port=1: a dead port", Label("fault:corrupt"), SpecTimeout(specTimeout), "corrupt=port=1,req=port_please", "{port,1,6}", "pang", time.Duration(0)),
		Entry("forget: the node vanishes from lookups", Label("fault:forget"), SpecTimeout(specTimeout), "forget,node=n2", "noport", "pang", time.Duration(0)),
	)

	It("port_collision: a lookup returns another node's port, and the caller dials the wrong node",
		Label("fault:port_collision"), func(ctx SpecContext) {
			c := startCluster(ctx, 2, nil, map[int][]erlangfixtures.Option{1: {erlangfixtures.WithEpmd(erlangfixtures.EpmdChaos)}})
			n1, n2 := c.Nodes[0], c.Nodes[1]
			startDistribution(ctx, n1, n2)
			startSecondNode(ctx, n2, "other")
			Eventually(ctx, registered(ctx, n2)).WithTimeout(eventually).Should(ConsistOf("n2", "other"))
			ns, err := n2.EpmdNames(ctx)
			Expect(err).NotTo(HaveOccurred())
			ports := map[string]int{}
			for _, e := range ns {
				ports[e.Name] = e.Port
			}
			addFault(ctx, chaosControl(ctx, n2), "port_collision,node=n2")
			Expect(eval(ctx, n1, `erl_epmd:port_please("n2", "n2")`)).To(Equal("{port," + strconv.Itoa(ports["other"]) + ",6}"))
			// The handshake reaches other@n2, which is not who n1 asked for.
			Expect(n1.Ping(ctx, n2.Name())).To(Equal("pang"))
			Expect(n1.Ping(ctx, "other@n2")).To(Equal("pong"))
		}, SpecTimeout(specTimeout))
})
