package erlangfixtures_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
)

// scratchGoMod is the go.mod of a new user's module: it requires this one
// through a replace pointing at a clone (here: this tree).
const scratchGoMod = `module example.com/scratch

go 1.26.0

require github.com/chaos-epmd/chaos-epmd v0.0.0-00010101000000-000000000000

replace github.com/chaos-epmd/chaos-epmd => %ROOT%
`

// scratchTest is the test a new user writes first: the cases issue 10
// found broken from outside this module.
const scratchTest = `package scratch_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
)

func TestFixturesFromAnotherModule(t *testing.T) {
	erlangfixtures.RequireEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// A node with chaos-epmd and a fault: chaos-epmd is built from the
	// package path, no CHAOS_EPMD_BINARY needed.
	c, err := erlangfixtures.RunCluster(ctx, 2,
		erlangfixtures.WithNodeOptionsAt(1, erlangfixtures.WithChaosEpmd("drop,req=names")),
		erlangfixtures.WithCleanup(t.Cleanup))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("RunCluster with a chaos-epmd fault: %s, %s", c.Nodes[0].Name(), c.Nodes[1].Name())

	// Without Joined there is no distribution: Ping says so.
	_, err = c.Nodes[0].Ping(ctx, c.Nodes[1].Name())
	if !errors.Is(err, erlangfixtures.ErrNoDistribution) {
		t.Fatalf("Ping without distribution: %v; want ErrNoDistribution", err)
	}
	t.Logf("Ping without distribution: %v", err)

	// A missing image is an error naming it, not a pull.
	_, err = erlangfixtures.Run(ctx, erlangfixtures.WithImage("example.com/absent:1"), erlangfixtures.WithCleanup(t.Cleanup))
	if !errors.Is(err, erlangfixtures.ErrNoImage) {
		t.Fatalf("WithImage(absent): %v; want ErrNoImage", err)
	}
	t.Logf("WithImage(absent): %v", err)

	// Any image as an app with a chaos-epmd sidecar (the image built FROM
	// scratch from the package path), and WithCleanup on Run and RunApp.
	app, err := erlangfixtures.RunApp(ctx, erlangfixtures.ImageRef(erlangfixtures.OTP25),
		erlangfixtures.WithCommand("erl", "-sname", "app", "-noshell"),
		erlangfixtures.WithSName("app"),
		erlangfixtures.WithChaosSidecar("delay_write=200ms,req=alive2"),
		erlangfixtures.WithCleanup(t.Cleanup))
	if err != nil {
		t.Fatal(err)
	}
	names, err := app.Registered(ctx)
	if err != nil || !slices.Equal(names, []string{"app"}) {
		t.Fatalf("sidecar registry: %q, %v; want [app]", names, err)
	}
	t.Logf("RunApp: %s registered with its sidecar: %q", app.Name(), names)
	n, err := erlangfixtures.Run(ctx, erlangfixtures.WithCleanup(t.Cleanup))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Run with WithCleanup: %s", n.Name())
}
`

// The fixtures used from another module, as a new user does: a scratch
// module whose go.mod replaces this module by this tree, and go test there
// with neither CHAOS_EPMD_BINARY nor CHAOS_EPMD_CACHE set.
func TestFixturesFromAnotherModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds chaos-epmd and a test binary in a scratch module")
	}
	erlangfixtures.RequireEngine(t)
	root, err := erlangfixtures.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":          strings.ReplaceAll(scratchGoMod, "%ROOT%", root),
		"scratch_test.go": scratchTest,
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	files["go.sum"] = string(sum)
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := testContext(t, 10*time.Minute)
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-v", "./...")
	cmd.Dir = dir
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "CHAOS_EPMD_BINARY=") && !strings.HasPrefix(e, "CHAOS_EPMD_CACHE=") {
			env = append(env, e)
		}
	}
	// Modules through the environment's GOPROXY, as a new user's go test
	// gets them: the scratch module's graph also needs go.mod files this
	// module's pruned graph never reads (go-logr/logr v1.2.2's, below
	// go-logr/stdr, a go 1.16 module), absent from a fresh module cache.
	// Their hashes are in this module's go.sum, copied above.
	cmd.Env = append(env, "GOFLAGS=-mod=mod", "GOWORK=off", "HOME="+os.Getenv("HOME"))
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("go test in %s (%.1fs):\n%s", dir, time.Since(start).Seconds(), out)
	if err != nil {
		t.Fatalf("go test in the scratch module: %v", err)
	}
	if !regexp.MustCompile(`(?m)^--- PASS: TestFixturesFromAnotherModule `).Match(out) {
		t.Fatalf("no PASS line for the scratch module's test")
	}
}
