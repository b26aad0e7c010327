package erlangfixtures

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// configureTestcontainers sets what testcontainers-go needs in this world before
// its configuration is first read: no registry is reachable, so the Ryuk reaper
// image cannot be pulled; cleanup relies on the caller's cleanup function and on
// the fixture labels instead. A value the user set explicitly is kept.
var configureTestcontainers = sync.OnceFunc(func() {
	if _, ok := os.LookupEnv("TESTCONTAINERS_RYUK_DISABLED"); !ok {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
})

// dockerClient returns the process's client of the engine testcontainers uses
// (DOCKER_HOST, ~/.testcontainers.properties), made on first success.
func dockerClient(ctx context.Context) (*testcontainers.DockerClient, error) {
	configureTestcontainers()
	return sharedClient.get(func() (*testcontainers.DockerClient, error) {
		cli, err := testcontainers.NewDockerClientWithOpts(ctx)
		if err != nil {
			return nil, fmt.Errorf("docker client: %w", err)
		}
		return cli, nil
	})
}

var sharedClient memo[*testcontainers.DockerClient]

// ErrNoEngine is returned by [EngineAvailable] when no Docker engine answers.
var ErrNoEngine = errors.New("no Docker engine answers (run erlangfixtures/hostsetup.sh as root)")

// EngineAvailable reports whether a Docker engine answers within a few seconds.
// The error wraps [ErrNoEngine] and says why.
func EngineAvailable(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cli, err := dockerClient(ctx)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoEngine, err)
	}
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return fmt.Errorf("%w: %v", ErrNoEngine, err)
	}
	return nil
}

// ErrEngineHung is returned by [EngineResponsive] when the engine does not
// answer a network call in time.
var ErrEngineHung = errors.New("the Docker engine stopped answering network calls")

// networkLister is the call [EngineResponsive] makes.
type networkLister interface {
	NetworkList(ctx context.Context, opts client.NetworkListOptions) (client.NetworkListResult, error)
}

// EngineResponsive reports whether the engine answers a network call within
// the given time (a loaded engine answers in milliseconds): a deadlocked
// dockerd (see [Cluster.Terminate]) no longer lists, creates or removes
// networks, so that every later fixture waits until its timeout. The error
// wraps [ErrEngineHung] and says what to do; nil also when ctx ends first.
func EngineResponsive(ctx context.Context, within time.Duration) error {
	cli, err := dockerClient(ctx)
	if err != nil {
		return err
	}
	return engineResponsive(ctx, cli, within)
}

func engineResponsive(ctx context.Context, cli networkLister, within time.Duration) error {
	lctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	f := make(client.Filters).Add("label", LabelFixture+"=1")
	_, err := cli.NetworkList(lctx, client.NetworkListOptions{Filters: f})
	// An answer, even an error, is not a hang; nor is the caller giving up.
	if err == nil || ctx.Err() != nil || lctx.Err() == nil {
		return nil
	}
	return fmt.Errorf("%w: no answer to a network list in %v. Debian bookworm's docker.io 20.10.24 "+
		"can deadlock when containers leave one network at once (moby/moby#42545): "+
		"kill -USR1 the dockerd process for its goroutine stacks (written under /var/run/docker), "+
		"then restart dockerd and containerd, and run make fixtures-clean", ErrEngineHung, within)
}

// TB is the part of testing.TB (and of Ginkgo's GinkgoT()) that [RequireEngine]
// uses.
type TB interface {
	Helper()
	Skip(args ...any)
	Fatal(args ...any)
}

// RequireEngine skips the test when no Docker engine answers, with a one-line
// reason, except when the environment has CI=true: then it fails the test, so
// CI is never green for container tests that did not run.
func RequireEngine(tb TB) {
	tb.Helper()
	err := EngineAvailable(context.Background())
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal(fmt.Sprintf("CI=true, so not skipping: %v", err))
	}
	tb.Skip(err)
}

// CacheDir is where image builds and the chaos-epmd binary live:
// $CHAOS_EPMD_CACHE when set, else .cache/erlangfixtures under the module root
// (ignored by git).
func CacheDir() (string, error) {
	if d := os.Getenv("CHAOS_EPMD_CACHE"); d != "" {
		return filepath.Abs(d)
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cache", "erlangfixtures"), nil
}

const modulePath = "github.com/chaos-epmd/chaos-epmd"

// ModuleRoot finds the chaos-epmd module root from the working directory up.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("module root: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if isModuleRoot(filepath.Join(d, "go.mod")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("module root: no go.mod of %s above %s", modulePath, dir)
		}
	}
}

func isModuleRoot(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) == 2 && fs[0] == "module" {
			return strings.Trim(fs[1], `"`) == modulePath
		}
	}
	return false
}

// Leftover is a container or network carrying the fixture label, with
// what can be told of the process that made it.
type Leftover struct {
	Kind    string // "container" or "network"
	ID      string
	Name    string
	Session string
	State   SessionState // of the session's process
	Why     string       // how State was told
}

func (l Leftover) String() string {
	return fmt.Sprintf("%s %s (%.12s, session %s, %s: %s)", l.Kind, l.Name, l.ID, l.Session, l.State, l.Why)
}

// Leftovers lists the fixture containers and networks in the engine: all of
// them when session is "", else those of one session ([Session] gives this
// process's). Each says whether its session's process still runs.
func Leftovers(ctx context.Context, session string) ([]Leftover, error) {
	cli, err := dockerClient(ctx)
	if err != nil {
		return nil, err
	}
	f := make(client.Filters).Add("label", LabelFixture+"=1")
	if session != "" {
		f = f.Add("label", LabelSession+"="+session)
	}
	host, _ := os.Hostname()
	judged := map[string]Leftover{} // by session: its State and Why
	add := func(out []Leftover, l Leftover, labels map[string]string) []Leftover {
		j, ok := judged[l.Session]
		if !ok {
			j.State, j.Why = judgeSession(labels, host)
			judged[l.Session] = j
		}
		l.State, l.Why = j.State, j.Why
		return append(out, l)
	}
	var out []Leftover
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range cs.Items {
		name := c.ID
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		out = add(out, Leftover{Kind: "container", ID: c.ID, Name: name, Session: c.Labels[LabelSession]}, c.Labels)
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range ns.Items {
		out = add(out, Leftover{Kind: "network", ID: n.ID, Name: n.Name, Session: n.Labels[LabelSession]}, n.Labels)
	}
	return out, nil
}

// Session returns the label value marking what this process created.
func Session() string { return sessionID() }

// RemoveLeftovers force-removes the fixture containers, then networks, of one
// session ("" for all) and returns what it removed.
func RemoveLeftovers(ctx context.Context, session string) ([]Leftover, error) {
	ls, err := Leftovers(ctx, session)
	if err != nil {
		return nil, err
	}
	return ls, removeLeftovers(ctx, ls)
}

// RemoveEndedLeftovers force-removes the fixture containers, then networks,
// whose session's process has ended on this host ([SessionEnded]): what a
// killed or crashed run left. Those of running processes, of other hosts and
// of sessions without lock labels stay. It returns what it removed and what
// it left.
func RemoveEndedLeftovers(ctx context.Context) (removed, kept []Leftover, err error) {
	ls, err := Leftovers(ctx, "")
	if err != nil {
		return nil, nil, err
	}
	for _, l := range ls {
		if l.State == SessionEnded {
			removed = append(removed, l)
		} else {
			kept = append(kept, l)
		}
	}
	err = removeLeftovers(ctx, removed)
	sweepSessionLocks(sessionLockDir)
	return removed, kept, err
}

func removeLeftovers(ctx context.Context, ls []Leftover) error {
	cli, err := dockerClient(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range ls {
		if l.Kind == "container" {
			_, err := cli.ContainerRemove(ctx, l.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			errs = append(errs, err)
		}
	}
	for _, l := range ls {
		if l.Kind == "network" {
			_, err := cli.NetworkRemove(ctx, l.ID, client.NetworkRemoveOptions{})
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func itoa(n int) string { return strconv.Itoa(n) }
