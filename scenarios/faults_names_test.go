package scenarios_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
	"github.com/chaos-epmd/chaos-epmd/faults"
	"github.com/chaos-epmd/chaos-epmd/scenarios/matrix"
)

// namesCase is one fault on NAMES and what a real node and the two epmd
// -names clients make of it.
type namesCase struct {
	spec string // the fault added to n1's chaos-epmd
	// names is what namesCall returns on n1 (see namesExpr), the registered
	// port of n1 shown as P.
	names string
	// epmdNames and chaosNames are what `epmd -names` (OTP's C client) and
	// `chaos-epmd -names` print in n1's container (see namesCLI).
	epmdNames, chaosNames string
	atLeast               time.Duration // net_adm:names/0 takes at least this long
	// namesOneOf, when set, is the set names may be in, a race; pinned
	// says why, for the matrix.
	namesOneOf []string
	pinned     string
}

// namesExpr calls net_adm:names/0 in a process of its own and waits for it
// at most namesBound: it has no timeout of its own. The value is
// {Result, Ms} when it returned, a list longer than 4 shown as its length,
// first two and last entries; or {blocked, Ms, CurrentFunction} when the
// caller was still waiting at the bound (it is killed then, which closes
// its epmd connection).
var namesExpr = `Self = self(), T0 = erlang:monotonic_time(millisecond),
Pid = spawn(fun() -> Self ! {names_result, self(), net_adm:names()} end),
receive
	{names_result, Pid, {ok, L}} when length(L) > 4 ->
		{{ok, {length(L), lists:sublist(L, 2), lists:last(L)}}, erlang:monotonic_time(millisecond) - T0};
	{names_result, Pid, R} -> {R, erlang:monotonic_time(millisecond) - T0}
after ` + strconv.Itoa(int(namesBound.Milliseconds())) + ` ->
	{current_function, F} = erlang:process_info(Pid, current_function),
	exit(Pid, kill),
	{blocked, erlang:monotonic_time(millisecond) - T0, F}
end`

// namesCLI runs an epmd -names client (OTP's epmd or chaos-epmd) bounded
// by timeout(1) and prints its exit status, then its output (stdout and
// stderr), or for more than 6 lines their count, first two and last.
func namesCLI(client string) []string {
	return []string{"sh", "-c", `timeout ` + strconv.Itoa(int(namesCLIBound.Seconds())) + ` ` + client + ` -names >/tmp/names.out 2>&1; echo "exit $?"
n=$(wc -l </tmp/names.out)
if [ "$n" -gt 6 ]; then echo "$n lines"; head -2 /tmp/names.out; tail -1 /tmp/names.out; else cat /tmp/names.out; fi`}
}

// namesOutcome runs namesExpr on n and returns its value, registered port
// port shown as P, and how long the call took as the node measured it.
func namesOutcome(ctx context.Context, n *erlangfixtures.Node, port int) (string, time.Duration) {
	GinkgoHelper()
	got := eval(ctx, n, "%s", namesExpr)
	open := strings.LastIndexByte(got, ',')
	Expect(open).To(BeNumerically(">", 0), got)
	ms := got[open+1 : len(got)-1]
	shown := got[1:open]
	if strings.HasPrefix(got, "{blocked,") {
		// {blocked,Ms,{M,F,A}}: Ms is the second element.
		parts := strings.SplitN(got, ",", 3)
		ms, shown = parts[1], "{blocked,"+parts[2]
	}
	took, err := strconv.Atoi(ms)
	Expect(err).NotTo(HaveOccurred(), got)
	return strings.ReplaceAll(shown, ","+strconv.Itoa(port)+"}", ",P}"), time.Duration(took) * time.Millisecond
}

// cliOutcome runs cmd in n's container and returns its output, port
// shown as P.
func cliOutcome(ctx context.Context, n *erlangfixtures.Node, cmd []string, port int) string {
	GinkgoHelper()
	res, err := n.Exec(ctx, cmd)
	Expect(err).NotTo(HaveOccurred())
	Expect(res.ExitCode).To(Equal(0), res.Output)
	return strings.TrimSpace(strings.ReplaceAll(res.Stdout, "port "+strconv.Itoa(port)+"\n", "port P\n"))
}

// registeredPort is the port name is registered with in the registry of
// the chaos-epmd that cl controls, read over its admin API.
func registeredPort(ctx context.Context, cl *faults.Client, name string) int {
	GinkgoHelper()
	nodes, err := cl.Nodes(ctx)
	Expect(err).NotTo(HaveOccurred())
	for _, n := range nodes {
		if n.Name == name {
			return int(n.Port)
		}
	}
	Fail(fmt.Sprintf("%s is not in chaos-epmd's registry: %+v", name, nodes))
	return 0
}

const (
	namesAction      = "net_adm:names() in a process of its own, waited for at most namesBound"
	epmdNamesAction  = "epmd -names (OTP's C client), under timeout(1)"
	chaosNamesAction = "chaos-epmd -names, under timeout(1)"
	chaosCLI         = "/opt/chaos-epmd/chaos-epmd"
)

// upWith is both clients' first line for an epmd on the default port.
const upWith = "epmd: up and running on port 4369 with data:\n"

// slicedNamesPinned is the matrix's text for NAMES sent a byte a write:
// erl_epmd's first receive takes the first TCP message of at least 4 bytes
// as the port. When every byte arrives alone, none matches and the close
// gives {ok,[]}; when the socket delivers later bytes together (a loaded
// reader), they are read as a port that is not epmd's: {error,address}.
const slicedNamesPinned = "{ok,[]} | {error,address}: erl_epmd takes the first TCP message of 4 bytes or more as the port; single bytes never match, coalesced later bytes mismatch"

// noResponse is what both -names clients print when epmd closes before
// the 4-byte port has arrived.
const noResponse = "exit 1\nepmd: no response from local epmd"

// namesOK is what both -names clients print for n1 alone.
const namesOK = "exit 0\n" + upWith + "name n1 at port P"

// namesCases are the NAMES faults, with what OTP release otp does.
func namesCases(otp int) []TableEntry {
	e := func(name string, tc namesCase, labels ...string) TableEntry {
		lbl := Label(append([]string{"fault:" + faults.MustParse(tc.spec).Kind()}, labels...)...)
		return Entry(name, lbl, SpecTimeout(specTimeout), tc)
	}
	return []TableEntry{
		e("drop: the list comes back empty", namesCase{spec: "drop,req=names",
			names: "{ok,[]}", epmdNames: noResponse, chaosNames: noResponse}),
		e("reset: the list comes back empty", namesCase{spec: "reset,req=names",
			names: "{ok,[]}", epmdNames: noResponse, chaosNames: noResponse}),
		e("hang: net_adm:names/0 still blocked at the bound", namesCase{spec: "hang,req=names",
			names: "{blocked,{erl_epmd,do_get_names,1}}", epmdNames: "exit 124", chaosNames: "exit 124", atLeast: namesBound}, "slow"),
		e("partial_write=2: inside the port header", namesCase{spec: "partial_write=2,req=names",
			names: "{ok,[]}", epmdNames: noResponse, chaosNames: noResponse}),
		e("partial_write=4: the port header alone", namesCase{spec: "partial_write=4,req=names",
			names: "{ok,[]}", epmdNames: "exit 0\n" + strings.TrimSuffix(upWith, "\n"), chaosNames: "exit 0\n" + strings.TrimSuffix(upWith, "\n")}),
		e("partial_write=14: the line cut after its name", namesCase{spec: "partial_write=14,req=names",
			names: "{ok,[]}", epmdNames: "exit 0\n" + upWith + "name n1 at", chaosNames: "exit 0\n" + upWith + "name n1 at"}),
		e("partial_write=4,then=hang: the header, then nothing", namesCase{spec: "partial_write=4,then=hang,req=names",
			names: "{blocked,{erl_epmd,names_loop,3}}", epmdNames: "exit 124", chaosNames: "exit 124", atLeast: namesBound}, "slow"),
		e("slice=1: one byte a write", namesCase{spec: "slice=1,gap=20ms,req=names",
			namesOneOf: []string{"{ok,[]}", "{error,address}"}, pinned: slicedNamesPinned,
			epmdNames: noResponse, chaosNames: noResponse}),
		e("delay_write=1: once for the port, once per line", namesCase{spec: "delay_write=1,req=names",
			names: `{ok,[{"n1",P}]}`, epmdNames: namesOK, chaosNames: namesOK, atLeast: otpClock(2 * time.Second)}),
		e("corrupt=names_port: another port in the header", namesCase{spec: "corrupt=names_port,req=names",
			names: "{error,address}", epmdNames: "exit 0\nepmd: up and running on port 4368 with data:\nname n1 at port P",
			chaosNames: "exit 0\nepmd: up and running on port 4368 with data:\nname n1 at port P"}),
		e("corrupt=port=1: port 1 in the header", namesCase{spec: "corrupt=port=1,req=names",
			names: "{error,address}", epmdNames: "exit 0\nepmd: up and running on port 1 with data:\nname n1 at port P",
			chaosNames: "exit 0\nepmd: up and running on port 1 with data:\nname n1 at port P"}),
		e("phantom: two names never registered", namesCase{spec: "phantom=ghost:9100;old:9101,req=names",
			names:     `{ok,[{"old",9101},{"ghost",9100},{"n1",P}]}`,
			epmdNames: namesOK + "\nname ghost at port 9100\nname old at port 9101", chaosNames: namesOK + "\nname ghost at port 9100\nname old at port 9101"}),
		e("phantom=10000: ten thousand names", namesCase{spec: "phantom=10000,req=names",
			names:      `{ok,{10001,[{"phantom10000",20000},{"phantom9999",19999}],{"n1",P}}}`,
			epmdNames:  "exit 0\n10002 lines\n" + upWith + "name n1 at port P\nname phantom10000 at port 20000",
			chaosNames: "exit 0\n10002 lines\n" + upWith + "name n1 at port P\nname phantom10000 at port 20000"}),
	}
}

var _ = Describe("Faults on NAMES", Label("container", "names"), func() {
	for _, r := range []erlangfixtures.Release{erlangfixtures.OTP25, erlangfixtures.OTP27, erlangfixtures.OTP29} {
		otp := r.OTP()
		var labels Labels
		if otp != 25 {
			labels = Labels{fmt.Sprintf("otp:%d", otp)}
		}
		// One container with chaos-epmd (n1) and one with the C epmd (n2) per
		// release, shared by the Ordered specs; each adds and removes its fault.
		Context(fmt.Sprintf("on OTP %d", otp), labels, Ordered, ContinueOnFailure, func() {
			var n1, n2 *erlangfixtures.Node
			var ctl *faults.Client
			var port, portC int
			BeforeAll(func(ctx SpecContext) {
				// chaos-epmd inside n1's container, not as a sidecar: the
				// specs run its -names client there (chaosCLI), under sh
				// and timeout(1), which the FROM-scratch sidecar lacks.
				c := startCluster(ctx, 2, []erlangfixtures.Option{erlangfixtures.WithRelease(r)}, map[int][]erlangfixtures.Option{
					0: {erlangfixtures.WithEpmd(erlangfixtures.EpmdChaos), erlangfixtures.WithChaosInContainer()},
				})
				n1, n2 = c.Nodes[0], c.Nodes[1]
				startDistribution(ctx, n1, n2)
				ctl = chaosControl(ctx, n1)
				// n1's port from chaos-epmd's registry, not from NAMES, which
				// the specs put under test.
				port = registeredPort(ctx, ctl, "n1")
				ns, err := n2.EpmdNames(ctx)
				Expect(err).NotTo(HaveOccurred())
				Expect(ns).To(HaveLen(1))
				portC = ns[0].Port
			}, NodeTimeout(specTimeout))

			It("without a fault: chaos-epmd answers as the C epmd does", func(ctx SpecContext) {
				for _, x := range []struct {
					n    *erlangfixtures.Node
					port int
					epmd erlangfixtures.EpmdMode
				}{{n1, port, erlangfixtures.EpmdChaos}, {n2, portC, erlangfixtures.EpmdC}} {
					got, took := namesOutcome(ctx, x.n, x.port)
					recordOutcome(matrix.Row{Subject: otpSubject(r), Epmd: epmdName(x.epmd), Request: reqNames, Action: namesAction, Outcome: got}, took)
					short, _, _ := strings.Cut(x.n.Name(), "@")
					Expect(got).To(Equal(`{ok,[{"` + short + `",P}]}`))
					clis := [][2]string{{"epmd", epmdNamesAction}, {chaosCLI, chaosNamesAction}}
					if x.epmd == erlangfixtures.EpmdC {
						clis = clis[:1] // chaos-epmd is not in the C epmd's container
					}
					for _, cli := range clis {
						out := cliOutcome(ctx, x.n, namesCLI(cli[0]), x.port)
						recordOutcome(matrix.Row{Subject: otpSubject(r), Epmd: epmdName(x.epmd), Request: reqNames, Action: cli[1], Outcome: out}, 0)
						Expect(out).To(Equal("exit 0\n" + upWith + "name " + short + " at port P"))
					}
				}
			}, SpecTimeout(specTimeout))

			DescribeTable("net_adm:names/0, epmd -names and chaos-epmd -names",
				func(ctx SpecContext, tc namesCase) {
					id := addFault(ctx, ctl, tc.spec)
					got, took := namesOutcome(ctx, n1, port)
					row := matrix.Row{Subject: otpSubject(r), Epmd: epmdName(erlangfixtures.EpmdChaos), Request: reqNames, Spec: tc.spec,
						Action: namesAction, Outcome: got, Pinned: tc.pinned}
					recordOutcome(row, took)
					row.Pinned = ""
					start := time.Now()
					epmdOut := cliOutcome(ctx, n1, namesCLI("epmd"), port)
					row.Action, row.Outcome = epmdNamesAction, epmdOut
					recordOutcome(row, time.Since(start))
					start = time.Now()
					chaosOut := cliOutcome(ctx, n1, namesCLI(chaosCLI), port)
					row.Action, row.Outcome = chaosNamesAction, chaosOut
					recordOutcome(row, time.Since(start))
					removeFault(ctx, ctl, id)
					if tc.namesOneOf != nil {
						Expect(got).To(BeElementOf(tc.namesOneOf))
					} else {
						Expect(got).To(Equal(tc.names))
					}
					Expect(took).To(BeNumerically(">=", tc.atLeast))
					Expect(epmdOut).To(Equal(tc.epmdNames))
					Expect(chaosOut).To(Equal(tc.chaosNames))
					// A NAMES fault never costs the registration.
					Expect(registered(ctx, n1)(Default)).To(Equal([]string{"n1"}))
				},
				namesCases(otp))
		})
	}
})
