package erlangfixtures_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
)

// TestMain checks that the tests left no container or network of this process
// behind (acceptance: nothing left after the tests).
func TestMain(m *testing.M) {
	code := m.Run()
	if erlangfixtures.EngineAvailable(context.Background()) == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		ls, err := erlangfixtures.Leftovers(ctx, erlangfixtures.Session())
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "leftover check:", err)
			code = max(code, 1)
		}
		for _, l := range ls {
			fmt.Fprintln(os.Stderr, "FAIL: left behind:", l)
			code = max(code, 1)
		}
	}
	os.Exit(code)
}

func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// runNode starts a node and registers its termination; on failure it prints
// the node's log.
func runNode(t *testing.T, ctx context.Context, opts ...erlangfixtures.Option) *erlangfixtures.Node {
	t.Helper()
	n, err := erlangfixtures.Run(ctx, opts...)
	t.Cleanup(func() {
		if n == nil {
			return
		}
		if t.Failed() {
			l, _ := n.Logs(context.Background())
			t.Logf("log of %s:\n%s", n.Name(), l)
		}
		if err := n.Terminate(context.Background()); err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// options is a table's list of node options.
func options(o ...erlangfixtures.Option) []erlangfixtures.Option { return o }

func TestAtom(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "node name", in: "a@host", want: `'a@host'`},
		{name: "empty", in: "", want: `''`},
		{name: "single quote", in: "it's", want: `'it\'s'`},
		{name: "backslash", in: `a\b`, want: `'a\\b'`},
		{name: "backslash before quote", in: `\'`, want: `'\\\''`},
		{name: "double quote kept", in: `say "hi"`, want: `'say "hi"'`},
		{name: "unicode kept", in: "nöde@häst", want: "'nöde@häst'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := erlangfixtures.Atom(tt.in); got != tt.want {
				t.Errorf("Atom(%q) = %s; want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestEvalWithoutDistribution(t *testing.T) {
	erlangfixtures.RequireEngine(t)
	ctx := testContext(t, 2*time.Minute)
	n := runNode(t, ctx, erlangfixtures.WithCustomizers(testcontainers.WithEnv(map[string]string{"FIXTURE_TEST": "customized"})))

	out, err := n.Eval(ctx, "{node(), 1 + 1}")
	if err != nil || out != "{nonode@nohost,2}" {
		t.Fatalf("Eval = %q, %v; want {nonode@nohost,2}", out, err)
	}
	_, err = n.Eval(ctx, "1/0")
	var ee *erlangfixtures.EvalError
	if !errors.As(err, &ee) || ee.Class != "error" || ee.Reason != "badarith" {
		t.Fatalf("Eval(1/0) error = %v; want error:badarith", err)
	}
	_, err = n.Eval(ctx, "foo(")
	if !errors.As(err, &ee) || ee.Class != "parse" {
		t.Fatalf("Eval(foo() error = %v; want a parse error", err)
	}
	s, err := n.EvalString(ctx, `"héllo"`)
	if err != nil || s != "héllo" {
		t.Fatalf("EvalString = %q, %v", s, err)
	}
	otp, err := n.EvalString(ctx, "erlang:system_info(otp_release)")
	if err != nil || otp != "25" {
		t.Fatalf("otp_release = %q, %v; want 25", otp, err)
	}
	// Atom's quoting, read back by OTP itself.
	for _, s := range []string{"a@host", "it's", `a\b`, `\'`, "nöde"} {
		got, err := n.EvalString(ctx, "atom_to_list("+erlangfixtures.Atom(s)+")")
		if err != nil || got != s {
			t.Errorf("atom_to_list(%s) = %q, %v; want %q", erlangfixtures.Atom(s), got, err, s)
		}
	}
	if env, err := n.EvalString(ctx, `os:getenv("FIXTURE_TEST")`); err != nil || env != "customized" {
		t.Errorf("FIXTURE_TEST set by WithCustomizers = %q, %v; want customized", env, err)
	}
}

func TestClusterMixedReleasesJoined(t *testing.T) {
	erlangfixtures.RequireEngine(t)
	ctx := testContext(t, 3*time.Minute)
	start := time.Now()
	c, err := erlangfixtures.RunCluster(ctx, 4,
		erlangfixtures.WithNodeOptionsAt(3, erlangfixtures.WithRelease(erlangfixtures.OTP27)),
		erlangfixtures.Joined(),
		erlangfixtures.WithCleanup(t.Cleanup))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("4 nodes (3×OTP25, 1×OTP27) up and joined in %v", time.Since(start).Round(time.Millisecond))
	var all []string
	for _, n := range c.Nodes {
		all = append(all, n.Name())
	}
	for i, n := range c.Nodes {
		wantOTP := "25"
		if i == 3 {
			wantOTP = "27"
		}
		if otp, err := n.EvalString(ctx, "erlang:system_info(otp_release)"); err != nil || otp != wantOTP {
			t.Errorf("%s: otp_release = %q, %v; want %s", n.Name(), otp, err, wantOTP)
		}
		got, err := n.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, m := range all {
			if m != n.Name() {
				want = append(want, m)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("nodes() on %s = %v; want %v", n.Name(), got, want)
		}
	}
}

func TestEvalWhileEpmdIsDown(t *testing.T) {
	erlangfixtures.RequireEngine(t)
	ctx := testContext(t, 2*time.Minute)
	n := runNode(t, ctx, erlangfixtures.WithHostname("down"))
	if err := n.KillEpmd(ctx); err != nil {
		t.Fatal(err)
	}
	// With no epmd, distribution cannot register: OTP's own error comes back.
	err := n.StartDistribution(ctx)
	var re *erlangfixtures.ResultError
	if !errors.As(err, &re) || !strings.HasPrefix(re.Term, "{error,") {
		t.Fatalf("StartDistribution with epmd down = %v; want OTP's {error,...}", err)
	}
	t.Logf("net_kernel:start/2 with epmd down: %s", re.Term)
	_, err = n.EpmdNames(ctx)
	if !errors.As(err, &re) || re.Term != "{error,address}" {
		t.Fatalf("EpmdNames with epmd down = %v; want {error,address}", err)
	}
	// The agent still evaluates, and epmd comes back.
	if out, err := n.Eval(ctx, "node()"); err != nil || out != "nonode@nohost" {
		t.Fatalf("node() = %q, %v", out, err)
	}
	if err := n.StartEpmd(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.StartDistribution(ctx); err != nil {
		t.Fatal(err)
	}
	names, err := n.EpmdNames(ctx)
	if err != nil || len(names) != 1 || names[0].Name != "down" {
		t.Fatalf("EpmdNames = %v, %v; want [down]", names, err)
	}
}

func TestErlCommandLine(t *testing.T) {
	erlangfixtures.RequireEngine(t)
	ctx := testContext(t, 2*time.Minute)
	n := runNode(t, ctx, erlangfixtures.WithHostname("cli"))
	res, err := n.Erl(ctx, "-sname", "b", "-noshell", "-eval", `io:format("~s~n", [node()]), halt(3).`)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 || !strings.Contains(res.Output, "b@cli") {
		t.Fatalf("erl -sname b: %+v; want exit 3 and b@cli", res)
	}
	if err := n.KillEpmd(ctx); err != nil {
		t.Fatal(err)
	}
	res, err = n.Erl(ctx, "-sname", "c", "-start_epmd", "false", "-noshell", "-eval", "halt().")
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode == 0 {
		t.Fatalf("erl -sname c with no epmd and -start_epmd false: %+v; want a failure", res)
	}
	t.Logf("erl -sname c without epmd: exit %d:\n%s", res.ExitCode, res.Output)
}

func TestDistAtBootFailureReportsExitAndLog(t *testing.T) {
	erlangfixtures.RequireEngine(t)
	ctx := testContext(t, 2*time.Minute)
	n, err := erlangfixtures.Run(ctx, erlangfixtures.WithEpmd(erlangfixtures.EpmdNone), erlangfixtures.WithDistAtBoot())
	t.Cleanup(func() { n.Terminate(context.Background()) })
	var se *erlangfixtures.StartError
	if !errors.As(err, &se) || se.ExitCode <= 0 || !errors.Is(err, erlangfixtures.ErrExited) {
		t.Fatalf("Run with no epmd and dist at boot = %v; want a StartError with exit status", err)
	}
	t.Logf("exit %d, log:\n%s", se.ExitCode, se.Log)
}

func TestEpmdModes(t *testing.T) {
	erlangfixtures.RequireEngine(t)
	tests := []struct {
		name      string
		opts      []erlangfixtures.Option
		wantChaos bool
		wantArg   string // in the epmd command line
	}{
		{name: "C epmd started by the fixture", opts: options(erlangfixtures.WithEpmd(erlangfixtures.EpmdC))},
		{name: "chaos-epmd started by the fixture", opts: options(erlangfixtures.WithEpmd(erlangfixtures.EpmdChaos)), wantChaos: true},
		{name: "C epmd auto-started by erl", opts: options(erlangfixtures.WithEpmd(erlangfixtures.EpmdAuto), erlangfixtures.WithDistAtBoot()), wantArg: "-daemon"},
		{name: "chaos-epmd auto-started by erl as its epmd", opts: options(erlangfixtures.WithEpmd(erlangfixtures.EpmdChaosAuto), erlangfixtures.WithDistAtBoot()), wantChaos: true, wantArg: "-daemon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t, 2*time.Minute)
			c, err := erlangfixtures.RunCluster(ctx, 2, erlangfixtures.WithNodeOptions(tt.opts...),
				erlangfixtures.Joined(), erlangfixtures.WithCleanup(t.Cleanup))
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range c.Nodes {
				ps, err := n.EpmdProcesses(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(ps) != 1 || ps[0].Chaos != tt.wantChaos || !strings.Contains(ps[0].Args, tt.wantArg) {
					t.Errorf("%s: epmd processes %+v; want one, chaos=%v, args with %q", n.Name(), ps, tt.wantChaos, tt.wantArg)
				}
				names, err := n.EpmdNames(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(names) != 1 || names[0].Name != n.Hostname() {
					t.Errorf("%s: epmd names %v; want [%s]", n.Name(), names, n.Hostname())
				}
				peers, err := n.Nodes(ctx)
				if err != nil || len(peers) != 1 {
					t.Errorf("%s: nodes() = %v, %v; want the other node", n.Name(), peers, err)
				}
			}
		})
	}
}

// TestStartupTimings measures (and logs) what the scenarios pay per node and
// per cluster once the images exist. The bounds are generous: timing on shared
// machines is noisy; the log lines are the figures.
func TestStartupTimings(t *testing.T) {
	erlangfixtures.RequireEngine(t)
	ctx := testContext(t, 2*time.Minute)

	start := time.Now()
	n := runNode(t, ctx)
	one := time.Since(start)
	if _, err := n.Eval(ctx, "ok"); err != nil {
		t.Fatal(err)
	}

	start = time.Now()
	if _, err := erlangfixtures.RunCluster(ctx, 3, erlangfixtures.Joined(), erlangfixtures.WithCleanup(t.Cleanup)); err != nil {
		t.Fatal(err)
	}
	three := time.Since(start)
	t.Logf("one node ready: %v; 3-node cluster (fresh network) joined: %v", one.Round(time.Millisecond), three.Round(time.Millisecond))
	if three > 30*time.Second {
		t.Errorf("3-node cluster took %v; target is 3s", three)
	}
}

func TestChaosEpmdFaultsAtRunTime(t *testing.T) {
	erlangfixtures.RequireEngine(t)
	ctx := testContext(t, 2*time.Minute)
	n := runNode(t, ctx, erlangfixtures.WithHostname("chaos"), erlangfixtures.WithChaosEpmd("delay_write=1ms,req=dump"))
	if err := n.StartDistribution(ctx); err != nil {
		t.Fatal(err)
	}
	cl, err := n.ChaosClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := cl.Faults(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 {
		t.Fatalf("faults from the command line = %+v; want one", fs)
	}

	info, err := cl.Add(ctx, "drop,req=names")
	if err != nil {
		t.Fatal(err)
	}
	// OTP reads a NAMES connection closed without a reply as an epmd with no
	// names: erl_epmd:names() returns {ok,[]}.
	if got, err := n.EpmdNames(ctx); err != nil || len(got) != 0 {
		t.Fatalf("EpmdNames with drop,req=names = %v, %v; want [] ({ok,[]})", got, err)
	}
	if fs, err := cl.Faults(ctx); err != nil || len(fs) != 2 || fs[1].Fired == 0 {
		t.Fatalf("faults = %+v, %v; want drop,req=names fired", fs, err)
	}

	if err := cl.Remove(ctx, info.ID); err != nil {
		t.Fatal(err)
	}
	names, err := n.EpmdNames(ctx)
	if err != nil || len(names) != 1 || names[0].Name != "chaos" {
		t.Fatalf("EpmdNames after removing the fault = %v, %v; want [chaos]", names, err)
	}

	// The same through the binary's own control command, inside the container.
	res, err := n.ChaosCtl(ctx, "list")
	if err != nil || res.ExitCode != 0 || !strings.Contains(res.Stdout, "delay_write") {
		t.Fatalf("chaos-epmd ctl list = %+v, %v; want the command-line fault", res, err)
	}
}

func TestEpmdTakeoverByChaosEpmd(t *testing.T) {
	erlangfixtures.RequireEngine(t)
	ctx := testContext(t, 2*time.Minute)
	n := runNode(t, ctx, erlangfixtures.WithHostname("takeover"), erlangfixtures.WithDistAtBoot())
	if err := n.KillEpmd(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.StartEpmd(ctx, erlangfixtures.WithChaosEpmd()); err != nil {
		t.Fatal(err)
	}
	ps, err := n.EpmdProcesses(ctx)
	if err != nil || len(ps) != 1 || !ps[0].Chaos {
		t.Fatalf("epmd processes after takeover = %+v, %v; want one chaos-epmd", ps, err)
	}
	cl, err := n.ChaosClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Faults(ctx); err != nil {
		t.Fatalf("admin API of the new chaos-epmd: %v", err)
	}
	// Whether and when the running node re-registers is the scenarios' to pin;
	// here the new epmd answers for what it has.
	names, err := n.EpmdNames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("names right after takeover: %v", names)
}

func TestNodeOptionsReachErlAndEpmd(t *testing.T) {
	erlangfixtures.RequireEngine(t)
	tests := []struct {
		name     string
		opts     []erlangfixtures.Option
		epmdArg  string // in epmd's command line
		nodeHost string // "ip": the container's address
		distPort int    // registered port, 0: any
		hidden   bool
	}{
		{name: "epmd port via ERL_EPMD_PORT", opts: options(erlangfixtures.WithEpmdPort(5000, erlangfixtures.ViaEnv))},
		{name: "epmd port via flags", opts: options(erlangfixtures.WithEpmdPort(5001, erlangfixtures.ViaFlag)), epmdArg: "-port 5001"},
		{name: "dist listen range and epmd -address", opts: options(erlangfixtures.WithDistListen(9100, 9100), erlangfixtures.WithEpmdAddress(erlangfixtures.ContainerIP)), epmdArg: "-address " + erlangfixtures.ContainerIP, distPort: 9100},
		{name: "long names at boot", opts: options(erlangfixtures.WithName("a"), erlangfixtures.WithDistAtBoot()), nodeHost: "ip"},
		{name: "hidden, no connect_all", opts: options(erlangfixtures.WithHidden(), erlangfixtures.WithoutConnectAll()), hidden: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t, 2*time.Minute)
			c, err := erlangfixtures.RunCluster(ctx, 2, erlangfixtures.WithNodeOptions(tt.opts...),
				erlangfixtures.Joined(), erlangfixtures.WithCleanup(t.Cleanup))
			if err != nil {
				t.Fatal(err)
			}
			n := c.Nodes[0]
			if self, err := n.EvalString(ctx, "atom_to_list(node())"); err != nil || self != n.Name() {
				t.Errorf("node() = %q, %v; want %s", self, err, n.Name())
			}
			ip, err := n.IP(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tt.nodeHost == "ip" && !strings.HasSuffix(n.Name(), "@"+ip) {
				t.Errorf("node name %s; want host %s", n.Name(), ip)
			}
			wantArg := strings.ReplaceAll(tt.epmdArg, erlangfixtures.ContainerIP, ip)
			ps, err := n.EpmdProcesses(ctx)
			if err != nil || len(ps) != 1 || !strings.Contains(ps[0].Args, wantArg) {
				t.Errorf("epmd processes %+v, %v; want one with %q", ps, err, wantArg)
			}
			names, err := n.EpmdNames(ctx)
			if err != nil || len(names) != 1 || (tt.distPort != 0 && names[0].Port != tt.distPort) {
				t.Errorf("epmd names %v, %v; want one at port %d", names, err, tt.distPort)
			}
			kind := "visible"
			if tt.hidden {
				kind = "hidden"
			}
			if peers, err := n.Nodes(ctx, kind); err != nil || len(peers) != 1 || peers[0] != c.Nodes[1].Name() {
				t.Errorf("nodes(%s) = %v, %v; want [%s]", kind, peers, err, c.Nodes[1].Name())
			}
		})
	}
}

// TestChaosEpmdSidecar follows an EpmdChaos node's chaos-epmd, run from the
// chaos-epmd image as a sidecar sharing the node container's network and pid
// namespaces, through kill and restart; WithChaosInContainer runs it inside.
func TestChaosEpmdSidecar(t *testing.T) {
	erlangfixtures.RequireEngine(t)
	ctx := testContext(t, 3*time.Minute)
	n := runNode(t, ctx, erlangfixtures.WithHostname("side"), erlangfixtures.WithChaosEpmd("drop,req=names"))
	if err := n.StartDistribution(ctx); err != nil {
		t.Fatal(err)
	}
	sc := n.ChaosSidecar()
	if sc == nil {
		t.Fatal("ChaosSidecar() = nil; want the sidecar container")
	}
	img, err := erlangfixtures.ChaosImage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Image != img {
		t.Errorf("sidecar image %q; want %q", sc.Image, img)
	}
	// The node's processes see the sidecar's chaos-epmd; no binary was copied.
	ps, err := n.EpmdProcesses(ctx)
	if err != nil || len(ps) != 1 || !ps[0].Chaos || ps[0].Exe != erlangfixtures.ChaosBinaryPath {
		t.Fatalf("epmd processes = %+v, %v; want one chaos-epmd at %s", ps, err, erlangfixtures.ChaosBinaryPath)
	}
	if res, err := n.Exec(ctx, []string{"test", "-e", "/opt/chaos-epmd/chaos-epmd"}); err != nil || res.ExitCode != 1 {
		t.Errorf("test -e /opt/chaos-epmd/chaos-epmd = %+v, %v; want exit 1 (not copied)", res, err)
	}
	cl, err := n.ChaosClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := cl.Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].Name != "side" {
		t.Fatalf("sidecar registry = %+v, %v; want [side]", nodes, err)
	}
	if res, err := n.ChaosCtl(ctx, "list"); err != nil || res.ExitCode != 0 || !strings.Contains(res.Stdout, "drop,req=names") {
		t.Errorf("chaos-epmd ctl list = %+v, %v; want the command-line fault", res, err)
	}
	if l, err := n.Logs(ctx); err != nil || !strings.Contains(l, "fault installed fault=drop,req=names") ||
		!strings.Contains(l, "node.sh: chaos-epmd sidecar listening on port 4369") {
		t.Errorf("Logs = %q, %v; want node.sh's and the sidecar's lines", l, err)
	}

	if err := n.KillEpmd(ctx); err != nil {
		t.Fatal(err)
	}
	// The process is gone; the engine records its container's exit soon after.
	for deadline := time.Now().Add(30 * time.Second); ; {
		st, err := sc.State(ctx)
		if err == nil && !st.Running {
			if st.ExitCode != 137 {
				t.Fatalf("sidecar after KillEpmd: exit status %d; want 137 (SIGKILL)", st.ExitCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sidecar after KillEpmd: %+v, %v; want exited", st, err)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if ps, err := n.EpmdProcesses(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("epmd processes after KillEpmd = %+v, %v; want none", ps, err)
	}

	if err := n.StartEpmd(ctx); err != nil {
		t.Fatal(err)
	}
	if again := n.ChaosSidecar(); again == nil || again.GetContainerID() == sc.GetContainerID() {
		t.Fatalf("ChaosSidecar() after StartEpmd = %v; want a new sidecar", again)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		nodes, err := cl.Nodes(ctx)
		if err == nil && len(nodes) == 1 && nodes[0].Name == "side" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry of the restarted sidecar = %+v, %v; want [side]", nodes, err)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}

	in := runNode(t, ctx, erlangfixtures.WithHostname("inside"), erlangfixtures.WithChaosEpmd(), erlangfixtures.WithChaosInContainer())
	if in.ChaosSidecar() != nil {
		t.Error("ChaosSidecar() with WithChaosInContainer != nil")
	}
	ps, err = in.EpmdProcesses(ctx)
	if err != nil || len(ps) != 1 || !ps[0].Chaos || ps[0].Exe != "/opt/chaos-epmd/chaos-epmd" {
		t.Fatalf("epmd processes with WithChaosInContainer = %+v, %v; want chaos-epmd at /opt/chaos-epmd/chaos-epmd", ps, err)
	}
}

func TestChaosEpmdSidecarBadFault(t *testing.T) {
	erlangfixtures.RequireEngine(t)
	ctx := testContext(t, 2*time.Minute)
	n, err := erlangfixtures.Run(ctx, erlangfixtures.WithChaosEpmd("bogus"))
	t.Cleanup(func() { n.Terminate(context.Background()) })
	var se *erlangfixtures.StartError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "chaos-epmd sidecar of ") ||
		!strings.Contains(err.Error(), "exited with status 1 before its admin API answered") ||
		!strings.Contains(se.Log, `chaos-epmd: -fault "bogus": kind: unknown fault "bogus"`) {
		t.Fatalf("Run with a bad fault = %v; want a StartError with the sidecar's exit and log", err)
	}
}
