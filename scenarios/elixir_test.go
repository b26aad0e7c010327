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

// elixir is the elixir command line of the Elixir stories: the fixture's
// cookie, and no epmd started by erl (the container's epmd is the one under
// test, as erl -start_epmd false does in the OTP stories).
func elixir(args ...string) []string {
	return elixirErl("", args...)
}

// shJoin quotes args for sh -c, each in single quotes.
func shJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// elixirErl is elixir with more flags for erl (--erl).
func elixirErl(erlFlags string, args ...string) []string {
	return append([]string{"elixir", "--cookie", erlangfixtures.DefaultCookie, "--erl", strings.TrimSpace("-start_epmd false " + erlFlags)}, args...)
}

// elixirRegistryCases are the registry and daemon faults (creation,
// hold_ports, crash, stall) for Elixir on release otp.
func elixirRegistryCases(otp int) []subjectCase {
	return []subjectCase{
		{req: reqAlive2, spec: "creation=424242,node=x", action: "elixir --sname x: :erlang.system_info(:creation)",
			cmd:  elixir("--sname", "x", "-e", "IO.inspect(:erlang.system_info(:creation))"),
			want: `exit 0; stdout "424242"`},
		{req: reqDaemon, spec: "hold_ports=9100-9102", action: "elixir --sname x, inet_dist_listen_min/max 9100-9102",
			cmd:  elixirErl("-kernel inet_dist_listen_min 9100 inet_dist_listen_max 9102", "--sname", "x", "-e", "IO.puts(:started)"),
			want: registerFailed(otp, "eaddrinuse")},
		{req: reqPortPlease, spec: "stale=8,node=x", action: `elixir --sname x exits, then elixir --sname y: :erl_epmd.port_please(~c"x", ~c"n1")`,
			cmd: []string{"sh", "-c", shJoin(elixir("--sname", "x", "-e", "IO.puts(:started)")) + " >/dev/null && " +
				shJoin(elixir("--sname", "y", "-e", `case :erl_epmd.port_please(~c"x", ~c"n1") do {:port, _, v} -> {:port, :p, v}; e -> e end |> IO.inspect()`))},
			want: `exit 0; stdout "{:port, :p, 6}"`},
		{req: reqDaemon, spec: "stall=2,first=1", want: `exit 0; stdout "true"`, action: "elixir --sname y: Node.connect(:n1@n1)",
			cmd: elixir("--sname", "y", "-e", "IO.inspect(Node.connect(:n1@n1))")},
		crashCase(otp, elixir("--sname", "x", "-e", "IO.puts(:started)"), "elixir --sname x during the crash"),
	}
}

// elixirNames is the Elixir expression printing :net_adm.names/0 with the
// ports left out: the names as Elixir prints charlists.
const elixirNames = `case :net_adm.names() do {:ok, l} -> {:ok, Enum.map(l, &elem(&1, 0))}; e -> e end |> IO.inspect()`

// elixirNamesWaiting prints what elixirNames does, or that
// :net_adm.names/0 is still blocked after namesWaitMS.
const elixirNamesWaiting = `t = Task.async(fn -> :net_adm.names() end)
case Task.yield(t, ` + namesWaitMS + `) do
  {:ok, {:ok, l}} -> IO.inspect({:ok, Enum.map(l, &elem(&1, 0))})
  {:ok, e} -> IO.inspect(e)
  nil -> IO.puts("blocked after ` + namesWaitMS + ` ms")
end`

// elixirSubject is Elixir on release r.
func elixirSubject(r erlangfixtures.Release) subject {
	return subject{
		name: appSubject("Elixir", erlangfixtures.Elixir, r), release: r, app: erlangfixtures.Elixir,
		start:        elixir("--sname", "x", "-e", "IO.puts(:started)"),
		lookup:       elixir("--sname", "y", "-e", "IO.inspect(Node.connect(:n1@n1))"),
		names:        elixir("-e", elixirNamesWaiting),
		startAction:  "elixir --sname x",
		lookupAction: "elixir --sname y: Node.connect(:n1@n1)",
		namesAction:  "elixir: :net_adm.names() (ports left out), waited for " + namesWaitMS + " ms",
	}
}

// elixirJoin is what two Elixir nodes print when the second joins the
// first with Node.connect/1, on one release.
type elixirJoin struct {
	release erlangfixtures.Release
	// short and long are elixir's output (execText) for --sname and
	// --name nodes: Node.connect/1, Node.list/0, then :net_adm.names/0.
	short, long string
}

var _ = Describe("Elixir nodes", Label("app:elixir"), func() {
	for _, j := range []elixirJoin{
		// The --name story runs second: a@n1 of the first is still there.
		{release: erlangfixtures.OTP25,
			short: `exit 0; stdout "true\n[:a@n1]\n{:ok, ` + charlists(25, "n1", "a", "b") + `}"`,
			long:  `exit 0; stdout "true\n[:\"c@127.0.0.1\"]\n{:ok, ` + charlists(25, "n1", "a", "c", "d") + `}"`},
		{release: erlangfixtures.OTP27,
			short: `exit 0; stdout "true\n[:a@n1]\n{:ok, ` + charlists(27, "n1", "a", "b") + `}"`,
			long:  `exit 0; stdout "true\n[:\"c@127.0.0.1\"]\n{:ok, ` + charlists(27, "n1", "a", "c", "d") + `}"`},
		{release: erlangfixtures.OTP29,
			short: `exit 0; stdout "true\n[:a@n1]\n{:ok, ` + charlists(29, "n1", "a", "b") + `}"`,
			long:  `exit 0; stdout "true\n[:\"c@127.0.0.1\"]\n{:ok, ` + charlists(29, "n1", "a", "c", "d") + `}"`},
	} {
		for _, mode := range []erlangfixtures.EpmdMode{erlangfixtures.EpmdC, erlangfixtures.EpmdChaos} {
			Context("Elixir "+erlangfixtures.Elixir.Versions[j.release]+" with "+epmdName(mode), Label("container"), Ordered, func() {
				var n *erlangfixtures.Node
				BeforeAll(func(ctx SpecContext) {
					n = startNode(ctx, erlangfixtures.WithRelease(j.release), erlangfixtures.WithApplication(erlangfixtures.Elixir),
						erlangfixtures.WithSName("n1@n1"), erlangfixtures.WithHostname("n1"), erlangfixtures.WithEpmd(mode))
					startDistribution(ctx, n)
				}, NodeTimeout(specTimeout))

				join := func(ctx SpecContext, nameFlag, first, second, target, want string) {
					GinkgoHelper()
					res, err := n.Exec(ctx, elixir(nameFlag, first, "--erl", "-detached", "-e", "Process.sleep(:infinity)"), "HOME=/root")
					Expect(err).NotTo(HaveOccurred())
					Expect(res.ExitCode).To(Equal(0), res.Output)
					firstName, _, _ := strings.Cut(first, "@")
					Eventually(ctx, registered(ctx, n)).Should(ContainElement(firstName))
					start := time.Now()
					res, err = n.Exec(ctx, elixir(nameFlag, second, "-e",
						"IO.inspect(Node.connect(:"+`"`+target+`"`+")); IO.inspect(Node.list()); "+elixirNames), "HOME=/root")
					Expect(err).NotTo(HaveOccurred())
					got := execText(res)
					recordOutcome(matrix.Row{Subject: appSubject("Elixir", erlangfixtures.Elixir, j.release), Epmd: epmdName(mode), Request: reqPortPlease,
						Action: "elixir " + nameFlag + " " + second + ": Node.connect(:" + `"` + target + `"` + "), Node.list(), :net_adm.names()", Outcome: got}, time.Since(start))
					Expect(got).To(Equal(want))
				}

				It("--sname nodes join with Node.connect/1, and :net_adm.names/0 lists them", func(ctx SpecContext) {
					join(ctx, "--sname", "a", "b", "a@n1", j.short)
				}, SpecTimeout(specTimeout))

				It("--name nodes join with Node.connect/1, and :net_adm.names/0 lists them", func(ctx SpecContext) {
					join(ctx, "--name", "c@127.0.0.1", "d@127.0.0.1", "c@127.0.0.1", j.long)
				}, SpecTimeout(specTimeout))
			})
		}
	}

	for _, r := range []erlangfixtures.Release{erlangfixtures.OTP25, erlangfixtures.OTP27, erlangfixtures.OTP29} {
		Context("Elixir "+erlangfixtures.Elixir.Versions[r]+" (OTP "+strconv.Itoa(r.OTP())+") under faults", func() {
			subjectFaults(elixirSubject(r), Labels{"app:elixir"}, append(elixirFaultCases(r.OTP()), elixirRegistryCases(r.OTP())...))
		})
	}
})

// charlists is how Elixir on release otp inspects a list of charlists:
// 'a' up to Elixir 1.14 (OTP 25), ~c"a" from 1.15 on.
func charlists(otp int, names ...string) string {
	q := make([]string, len(names))
	for i, n := range names {
		if otp < 27 {
			q[i] = "'" + n + "'"
		} else {
			q[i] = `~c\"` + n + `\"`
		}
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// elixirFaultCases are the faults Elixir's commands meet in subjectFaults,
// with what they print on release otp: OTP's own texts for a failed
// registration (elixir adds nothing), Node.connect/1's false for a failed
// lookup, :net_adm.names/0's {:ok, []} for a NAMES reply cut short.
func elixirFaultCases(otp int) []subjectCase {
	return []subjectCase{
		{req: reqAlive2, spec: "drop,req=alive2", want: registerFailed(otp, "epmd_close")},
		{req: reqAlive2, spec: "hang,req=alive2", want: registerFailed(otp, "no_reg_reply_from_epmd")},
		{req: reqAlive2, spec: "name_in_use,node=x", want: nameInUse},
		garbageCase(otp),
		{req: reqAlive2, spec: "delay_write=1,req=alive2", want: `exit 0; stdout "started"`},
		// Started from Elixir code, distribution's failure comes back as
		// Node.start/2's error, and Elixir's Logger prints OTP's message
		// in its own format.
		{req: reqAlive2, spec: "drop,req=alive2", cmd: elixir("-e", "Node.start(:x, :shortnames) |> elem(1) |> elem(0) |> IO.inspect()"),
			action: "elixir: Node.start(:x, :shortnames), the reason's first element",
			want:   `exit 0; stdout "HH:MM:SS.mmm [notice] Protocol 'inet_tcp': register/listen error: epmd_close\n\n{:shutdown, {:failed_to_start_child, :net_kernel, {:EXIT, :nodistribution}}}"`},
		{req: reqPortPlease, spec: "drop,req=port_please", want: `exit 0; stdout "false"`},
		{req: reqPortPlease, spec: "hang,req=port_please", want: `exit 0; stdout "false"`},
		{req: reqPortPlease, spec: "corrupt=result,req=port_please", want: `exit 0; stdout "false"`},
		{req: reqPortPlease, spec: "forget,node=n1", want: `exit 0; stdout "false"`},
		{req: reqPortPlease, spec: "slice=1,gap=20ms,req=port_please", want: `exit 0; stdout "true"`},
		{req: reqPortPlease, spec: "reset,req=port_please", want: `exit 0; stdout "false"`},
		{req: reqPortPlease, spec: "port_collision,port=1,node=n1", want: `exit 0; stdout "false"`},
		{req: reqPortPlease, spec: "delay_accept=1", want: `exit 0; stdout "true"`},
		{req: reqPortPlease, spec: "packet_timeout=1", want: `exit 0; stdout "true"`},
		{req: reqNames, spec: "drop,req=names", want: `exit 0; stdout "{:ok, []}"`},
		{req: reqNames, spec: "reset,req=names", want: `exit 0; stdout "{:ok, []}"`},
		{req: reqNames, spec: "hang,req=names", want: `exit 0; stdout "blocked after ` + namesWaitMS + ` ms"`},
		{req: reqNames, spec: "partial_write=2,req=names", want: `exit 0; stdout "{:ok, []}"`},
		{req: reqNames, spec: "phantom=ghost:9100,req=names", want: `exit 0; stdout "{:ok, ` + charlists(otp, "ghost", "n1") + `}"`},
	}
}
