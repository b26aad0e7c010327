package scenarios_test

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
	"github.com/chaos-epmd/chaos-epmd/faults"
	"github.com/chaos-epmd/chaos-epmd/scenarios/matrix"
)

// epmdlessPort is the port each epmd-less node listens on, and the port
// it assumes every other node listens on.
const epmdlessPort = "4370"

// epmdlessCase is a fault put on both epmd-less nodes' chaos-epmds while
// distribution starts and n1 pings n2.
type epmdlessCase struct {
	spec string
	req  string // the request type the fault is on, for the matrix
	// fired is how often the fault acted on each node's chaos-epmd: the
	// node's one registration attempt at most, never a lookup.
	fired uint64
	// registered is what n2's chaos-epmd lists after the start, asked
	// once the fault is removed.
	registered []string
}

// epmdlessVariant is a release and the erl arguments that make its nodes
// epmd-less: -erl_epmd_port (OTP 25 on), or the kernel parameter
// erl_epmd_node_listen_port (OTP 27 on; checked by hand on 27 and 29: the
// node registers that port when an epmd answers, starts when none does,
// and erl_epmd:port_please/2 answers {port,Port,5} for any name).
type epmdlessVariant struct {
	release erlangfixtures.Release
	args    []string
}

// epmdlessVariants are the epmd-less set-ups the stories run on.
var epmdlessVariants = []epmdlessVariant{
	{erlangfixtures.OTP25, []string{"-erl_epmd_port", epmdlessPort}},
	{erlangfixtures.OTP27, []string{"-erl_epmd_port", epmdlessPort}},
	{erlangfixtures.OTP29, []string{"-erl_epmd_port", epmdlessPort}},
	{erlangfixtures.OTP27, []string{"-kernel", "erl_epmd_node_listen_port", epmdlessPort}},
	{erlangfixtures.OTP29, []string{"-kernel", "erl_epmd_node_listen_port", epmdlessPort}},
}

var _ = Describe("epmd-less nodes", Label("container", "epmdless"), func() {
	for _, v := range epmdlessVariants {
		r := v.release
		otp := r.OTP()
		flags := "-start_epmd false " + strings.Join(v.args, " ")
		action := flags + ": net_kernel:start/2 on n1 and n2, net_adm:ping(n2@n2) from n1"
		var labels Labels
		if otp != 25 {
			labels = Labels{fmt.Sprintf("otp:%d", otp)}
		}
		// Two nodes, each with its own chaos-epmd, shared by the Ordered
		// specs; each spec starts and stops distribution under its fault.
		Context(fmt.Sprintf("on OTP %d, %s", otp, flags), labels, Ordered, ContinueOnFailure, func() {
			var n1, n2 *erlangfixtures.Node
			var ctl1, ctl2 *faults.Client
			BeforeAll(func(ctx SpecContext) {
				c := startCluster(ctx, 2, []erlangfixtures.Option{erlangfixtures.WithRelease(r),
					erlangfixtures.WithEpmd(erlangfixtures.EpmdChaos), erlangfixtures.WithErlArgs(v.args...)}, nil)
				n1, n2 = c.Nodes[0], c.Nodes[1]
				ctl1, ctl2 = chaosControl(ctx, n1), chaosControl(ctx, n2)
			}, NodeTimeout(specTimeout))

			DescribeTable("distribution starts and connects whatever epmd does",
				func(ctx SpecContext, tc epmdlessCase) {
					id1, id2 := addFault(ctx, ctl1, tc.spec), addFault(ctx, ctl2, tc.spec)
					DeferCleanup(func(ctx SpecContext) {
						// Removed by the spec unless it failed first.
						_ = ctl1.Remove(ctx, id1)
						_ = ctl2.Remove(ctx, id2)
						Expect(n1.Eval(ctx, "net_kernel:stop()")).To(BeElementOf("ok", "{error,not_allowed}", "{error,not_found}"))
						Expect(n2.Eval(ctx, "net_kernel:stop()")).To(BeElementOf("ok", "{error,not_allowed}", "{error,not_found}"))
						// net_kernel:stop() returns before epmd has seen the
						// registration connection close: the next spec's ALIVE2
						// for the same name could come first and be refused as
						// a duplicate ("node name already occupied", seen in a
						// flake-guard repeat, the node then absent from NAMES).
						Eventually(ctx, registered(ctx, n1)).Should(BeEmpty())
						Eventually(ctx, registered(ctx, n2)).Should(BeEmpty())
					}, NodeTimeout(cleanupWithin))
					start := time.Now()
					startDistribution(ctx, n1, n2)
					pong, err := n1.Ping(ctx, n2.Name())
					Expect(err).NotTo(HaveOccurred())
					row := matrix.Row{Subject: otpSubject(r), Epmd: epmdName(erlangfixtures.EpmdChaos), Request: tc.req, Spec: tc.spec,
						Action: action, Outcome: "{ok,_}; " + pong}
					recordOutcome(row, time.Since(start))
					Expect(pong).To(Equal("pong"))
					// A lookup is answered from the command line, epmd never asked,
					// with version 5 (erl_epmd's own constant, OTP 25 to 29), not
					// the 6 a registered OTP 25+ node gets from epmd.
					start = time.Now()
					lookup := eval(ctx, n1, `erl_epmd:port_please("n2", "n2")`)
					row.Action, row.Outcome = `erl_epmd:port_please("n2", "n2") on n1`, lookup
					recordOutcome(row, time.Since(start))
					Expect(lookup).To(Equal("{port," + epmdlessPort + ",5}"))
					Expect(fired(ctx, ctl1)(Default)).To(Equal(map[string]uint64{tc.spec: tc.fired}), "n1's chaos-epmd: its registration at most, no lookup")
					Expect(fired(ctx, ctl2)(Default)).To(Equal(map[string]uint64{tc.spec: tc.fired}))
					removeFault(ctx, ctl1, id1)
					removeFault(ctx, ctl2, id2)
					// Asked once the fault is gone: does epmd hold the node?
					Expect(registered(ctx, n2)(Default)).To(Equal(tc.registered))
				},
				Entry("every connection reset at accept", Label("fault:reset"), SpecTimeout(specTimeout),
					epmdlessCase{spec: "reset,req=accept", req: reqAccept, fired: 1, registered: []string{}}),
				Entry("the masked failure: ALIVE2 dropped, the node starts anyway and is absent from NAMES", Label("fault:drop"), SpecTimeout(specTimeout),
					epmdlessCase{spec: "drop,req=alive2", req: reqAlive2, fired: 1, registered: []string{}}),
				Entry("lookups answered with port 1: never asked", Label("fault:corrupt"), SpecTimeout(specTimeout),
					epmdlessCase{spec: "corrupt=port=1,req=port_please", req: reqPortPlease, fired: 0, registered: []string{"n2"}}),
				Entry("lookups hung: never asked", Label("fault:hang"), SpecTimeout(specTimeout),
					epmdlessCase{spec: "hang,req=port_please", req: reqPortPlease, fired: 0, registered: []string{"n2"}}),
				Entry("the node forgotten: never asked", Label("fault:forget"), SpecTimeout(specTimeout),
					epmdlessCase{spec: "forget,node=n*", req: reqPortPlease, fired: 0, registered: []string{"n2"}}),
			)
		})
	}
})
