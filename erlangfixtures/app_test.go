package erlangfixtures_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
)

func TestErlString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "plain", in: "Node.list()", want: `"Node.list()"`},
		{name: "double quote", in: `IO.puts("a")`, want: `"IO.puts(\"a\")"`},
		{name: "backslash", in: `a\b`, want: `"a\\b"`},
		{name: "newline and tab", in: "a\n\tb", want: `"a\n\tb"`},
		{name: "control", in: "\x01", want: `"\x{1}"`},
		{name: "single quote kept", in: "'a@b'", want: `"'a@b'"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := erlangfixtures.ErlString(tt.in); got != tt.want {
				t.Errorf("ErlString(%q) = %s; want %s", tt.in, got, tt.want)
			}
		})
	}
}

// A missing image is an error naming it, before testcontainers could try
// to pull it.
func TestMissingImageIsNotPulled(t *testing.T) {
	erlangfixtures.RequireEngine(t)
	const absent = "chaos-epmd/absent:never"
	tests := []struct {
		name string
		run  func(ctx context.Context) error
		want string
	}{
		{name: "Run WithImage", run: func(ctx context.Context) error {
			_, err := erlangfixtures.Run(ctx, erlangfixtures.WithImage(absent), erlangfixtures.WithSName("a"), erlangfixtures.WithHostname("h"))
			return err
		}, want: "run node a@h: image " + absent + ": " + erlangfixtures.ErrNoImage.Error()},
		{name: "RunApp", run: func(ctx context.Context) error {
			a, err := erlangfixtures.RunApp(ctx, absent, erlangfixtures.WithChaosSidecar())
			if tErr := a.Terminate(ctx); tErr != nil {
				t.Error(tErr)
			}
			return err
		}, want: "run app: image " + absent + ": " + erlangfixtures.ErrNoImage.Error()},
		{name: "RunApp WithSidecarImage", run: func(ctx context.Context) error {
			a, err := erlangfixtures.RunApp(ctx, erlangfixtures.ImageRef(erlangfixtures.OTP25),
				erlangfixtures.WithChaosSidecar(), erlangfixtures.WithSidecarImage(absent))
			if tErr := a.Terminate(ctx); tErr != nil {
				t.Error(tErr)
			}
			return err
		}, want: "run app " + erlangfixtures.ImageRef(erlangfixtures.OTP25) + ": image " + absent + ": " + erlangfixtures.ErrNoImage.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t, time.Minute)
			if tt.name == "RunApp WithSidecarImage" {
				if _, _, err := erlangfixtures.BuildImage(ctx, erlangfixtures.OTP25, erlangfixtures.BuildOptions{}); err != nil {
					t.Skip(err)
				}
			}
			err := tt.run(ctx)
			if !errors.Is(err, erlangfixtures.ErrNoImage) || err.Error() != tt.want {
				t.Fatalf("error = %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestPingWithoutDistribution(t *testing.T) {
	erlangfixtures.RequireEngine(t)
	ctx := testContext(t, 2*time.Minute)
	n := runNode(t, ctx, erlangfixtures.WithSName("a"), erlangfixtures.WithHostname("h"))
	out, err := n.Ping(ctx, "b@h")
	want := "ping b@h from a@h: distribution not started (node() is nonode@nohost): " +
		"start it with StartDistribution, WithDistAtBoot or RunCluster's Joined"
	if !errors.Is(err, erlangfixtures.ErrNoDistribution) || err.Error() != want || out != "" {
		t.Fatalf("Ping = %q, %v\nwant error %s", out, err, want)
	}
	if err := n.StartDistribution(ctx); err != nil {
		t.Fatal(err)
	}
	if out, err := n.Ping(ctx, "b@h"); err != nil || out != "pang" {
		t.Fatalf("Ping with distribution = %q, %v; want pang", out, err)
	}
}

// The reference release in its no-shell image, with a chaos-epmd sidecar:
// it registers over loopback, the probe reaches it over distribution, the
// image cannot run a shell, and WithCleanup removes app, sidecar and probe
// (and a Run node) when the test that started them ends.
func TestRunAppNoShellWithSidecar(t *testing.T) {
	erlangfixtures.RequireEngine(t)
	ctx := testContext(t, 5*time.Minute)
	imgs, err := erlangfixtures.BuildRefApp(ctx, erlangfixtures.OTP25, erlangfixtures.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nw, err := erlangfixtures.NewNetwork(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nw.Remove(context.Background()) })
	var ids []string
	t.Run("app", func(t *testing.T) {
		app, err := erlangfixtures.RunApp(ctx, imgs.NoShell,
			erlangfixtures.WithNetwork(nw.Name, "p1"),
			erlangfixtures.WithSName("refapp"),
			erlangfixtures.WithEnv("ERL_AFLAGS", "-sname refapp@p1 -setcookie "+erlangfixtures.DefaultCookie),
			erlangfixtures.WithChaosSidecar(),
			erlangfixtures.WithCleanup(t.Cleanup))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, app.Container().GetContainerID(), app.Sidecar().ID)
		if app.Name() != "refapp@p1" {
			t.Errorf("Name = %q; want refapp@p1", app.Name())
		}
		if got, err := app.Registered(ctx); err != nil || !slices.Equal(got, []string{"refapp"}) {
			t.Errorf("Registered = %q, %v; want [refapp]", got, err)
		}
		if got, err := app.Eval(ctx, "{node(), lists:member(refapp, [A || {A, _, _} <- application:which_applications()])}"); err != nil || got != "{refapp@p1,true}" {
			t.Errorf("Eval = %q, %v; want {refapp@p1,true}", got, err)
		}
		p, err := app.Probe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.Container().GetContainerID())
		res, err := app.Exec(ctx, []string{"/bin/sh", "-c", "true"})
		// The engine's exec finds no /bin/sh: 126, as a shell reports a
		// command it cannot run.
		if err != nil || res.ExitCode != 126 {
			t.Errorf("/bin/sh in the no-shell image: exit %d, %v; want exit 126", res.ExitCode, err)
		}
		n, err := erlangfixtures.Run(ctx, erlangfixtures.WithCleanup(t.Cleanup))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, n.Container().GetContainerID())
	})
	left, err := erlangfixtures.Leftovers(ctx, erlangfixtures.Session())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range left {
		if slices.Contains(ids, l.ID) {
			t.Errorf("WithCleanup left %s", l)
		}
	}
	if len(ids) != 4 {
		t.Errorf("containers started: %d; want 4 (app, sidecar, probe, node)", len(ids))
	}
}

// A node Option given to RunCluster applies to every node; WithCleanup, to
// the cluster.
func TestRunClusterTakesNodeOptions(t *testing.T) {
	erlangfixtures.RequireEngine(t)
	ctx := testContext(t, 3*time.Minute)
	c, err := erlangfixtures.RunCluster(ctx, 2, erlangfixtures.WithEnv("FIXTURE_ALL", "every node"),
		erlangfixtures.WithCleanup(t.Cleanup))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		if got, err := n.EvalString(ctx, `os:getenv("FIXTURE_ALL")`); err != nil || got != "every node" {
			t.Errorf("FIXTURE_ALL on %s = %q, %v; want every node", n.Name(), got, err)
		}
	}
}
