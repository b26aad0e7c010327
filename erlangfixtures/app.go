package erlangfixtures

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/faults"
)

// App is an application's own image running as an Erlang node, with
// nothing of the fixtures inside it: no agent, no script, no shell needed.
// With [WithChaosSidecar] it runs in the network namespace of a chaos-epmd
// [Sidecar]; without, it owns its namespace and starts its own epmd (the
// control). What it does is read from outside: the sidecar's registry and
// events ([App.ChaosClient]), its log and exit status ([App.Logs],
// [App.State]), commands its image has ([App.Exec]), and a probe node that
// calls into it over distribution ([App.Eval]).
type App struct {
	ctr      *testcontainers.DockerContainer
	sidecar  *Sidecar
	image    string
	opts     options
	hostname string
	name     string // node name; "" until known
	token    string
	log      *slog.Logger

	probeMu sync.Mutex
	probe   *Node
	ownsPr  bool // the probe was started for this app
}

// podConfig holds the options only [RunApp] reads.
type podConfig struct {
	sidecar sidecarConfig
	command []string
	probe   *Node
}

// WithCommand sets the command of the application container in [RunApp]
// (the image's CMD otherwise; arguments of its ENTRYPOINT when it has one).
func WithCommand(args ...string) Option {
	return func(o *options) error { o.pod.command = args; return nil }
}

// DefaultRegisterTimeout bounds [RunApp]'s wait for the node's registration.
const DefaultRegisterTimeout = 60 * time.Second

// RunApp starts the application image as a node and waits until it has
// registered with the epmd of its pod: the sidecar's registry (admin API)
// with [WithChaosSidecar], else NAMES asked of the container's epmd. The
// name waited for is that of [WithSName]/[WithName]; without one, the first
// registration. Registered is as epmd sees it: under a fault that delays
// the ALIVE2 reply (delay_write) the node is in the registry while it still
// waits for the reply, and may yet give up ([App.Wait] tells). The wait is bounded by [WithStartTimeout] (default
// [DefaultRegisterTimeout]); a failure is a [*StartError] with the app's exit
// status and its log (and the sidecar's).
//
// The pod: with a sidecar, the sidecar takes the options' network, aliases
// and hostname ([WithNetwork], [WithHostname]) and the app container joins
// its namespace (Docker network mode container:ID). For a mix release,
// RunApp sets RELEASE_NODE and RELEASE_DISTRIBUTION from the node name and
// RELEASE_COOKIE from [WithCookie]; [WithEnv] sets the rest (and wins).
//
// Like testcontainers modules, RunApp returns the App even on error so the
// caller can read logs and must Terminate it; [WithCleanup] registers that.
func RunApp(ctx context.Context, image string, opts ...Option) (*App, error) {
	configureTestcontainers()
	o := defaultOptions()
	o.startTimeout = DefaultRegisterTimeout
	o, log, err := applyOptions(o, opts)
	if err != nil {
		return nil, err
	}
	a := &App{image: image, opts: o, token: rand.Text(), log: log}
	a.hostname = o.defaultHostname()
	terminateOnCleanup(o.cleanup, a.Terminate)
	if err := requireImage(ctx, image); err != nil {
		return a, fmt.Errorf("run app: %w", err)
	}
	start := time.Now()
	if o.pod.sidecar.enabled {
		sc, err := startSidecar(ctx, o, a.hostname, a.token)
		a.sidecar = sc
		if err != nil {
			return a, fmt.Errorf("run app %s: %w", image, err)
		}
		log.Debug("sidecar listening", "id", sc.ID[:12], "ip", sc.IP, "took", time.Since(start))
	}
	if err := a.resolveName(); err != nil {
		return a, err
	}
	req, err := a.request()
	if err != nil {
		return a, err
	}
	ctr, err := testcontainers.GenericContainer(ctx, req)
	if ctr != nil {
		a.ctr, _ = ctr.(*testcontainers.DockerContainer)
	}
	if err != nil {
		if a.ctr == nil {
			return a, fmt.Errorf("run app %s: %w", image, err)
		}
		return a, a.startError(ctx, err)
	}
	log.Debug("app registered", "node", a.name, "took", time.Since(start))
	return a, nil
}

// resolveName completes the node name as the release will use it.
func (a *App) resolveName() error {
	name := a.opts.nodeName
	if name == "" || strings.Contains(name, "@") {
		a.name = name
		return nil
	}
	switch {
	case !a.opts.longNames:
		a.name = name + "@" + a.hostname
	case a.sidecar != nil:
		a.name = name + "@" + a.sidecar.IP
	default:
		return fmt.Errorf("run app: long name %q needs a host (name@host) without a sidecar", name)
	}
	return nil
}

// env is the app container's environment.
func (a *App) env() map[string]string {
	env := map[string]string{"RELEASE_COOKIE": a.opts.cookie}
	if a.name != "" {
		env["RELEASE_NODE"] = a.name
		env["RELEASE_DISTRIBUTION"] = "sname"
		if a.opts.longNames {
			env["RELEASE_DISTRIBUTION"] = "name"
		}
	}
	maps.Copy(env, a.opts.env)
	return env
}

func (a *App) request() (testcontainers.GenericContainerRequest, error) {
	o := a.opts
	req := testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:      a.image,
			Cmd:        o.pod.command,
			Env:        a.env(),
			Labels:     fixtureLabels(),
			WaitingFor: registeredStrategy{a: a, timeout: o.startTimeout},
			HostConfigModifier: func(h *container.HostConfig) {
				init := true
				h.Init = &init // reap the epmd -daemon that exits at once
				if a.sidecar != nil {
					h.NetworkMode = container.NetworkMode("container:" + a.sidecar.ID)
				} else if ipv6Loopback() {
					h.Sysctls = map[string]string{"net.ipv6.conf.lo.disable_ipv6": "0"}
				}
			},
		},
		Started: true,
		Logger:  tcLogger{a.log},
	}
	if a.sidecar == nil {
		hostname := a.hostname
		req.ConfigModifier = func(c *container.Config) { c.Hostname = hostname }
		req.NetworkAliases = map[string][]string{}
		for _, nw := range o.networks {
			req.Networks = append(req.Networks, nw.name)
			req.NetworkAliases[nw.name] = nw.aliases
		}
	}
	for _, c := range o.customizers {
		if err := c.Customize(&req); err != nil {
			return req, fmt.Errorf("customize: %w", err)
		}
	}
	return req, nil
}

// registeredStrategy is RunApp's wait strategy: the node has registered
// with the pod's epmd.
type registeredStrategy struct {
	a       *App
	timeout time.Duration
}

// WaitUntilReady implements wait.Strategy.
func (w registeredStrategy) WaitUntilReady(ctx context.Context, t wait.StrategyTarget) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	short, _, _ := strings.Cut(w.a.name, "@")
	var last error
	for delay := 20 * time.Millisecond; ; delay = min(delay*2, 200*time.Millisecond) {
		ip, err := w.a.epmdIP(ctx, t)
		var names []string
		if err == nil {
			names, err = w.a.registered(ctx, ip)
		}
		if err == nil {
			if short == "" && len(names) > 0 {
				w.a.name = names[0] + "@" + w.a.hostname
				return nil
			}
			if short != "" && slices.Contains(names, short) {
				return nil
			}
			err = fmt.Errorf("registered: %q", names)
		}
		last = err
		if st, serr := t.State(ctx); serr == nil && !st.Running {
			return fmt.Errorf("%w before %s registered", ErrExited, w.a.describe())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not register within %s (last: %v)", w.a.describe(), w.timeout, last)
		case <-time.After(delay):
		}
	}
}

func (a *App) describe() string {
	if a.name != "" {
		return a.name
	}
	return "the node"
}

// epmdIP is the address the pod's epmd is reached at from the test.
func (a *App) epmdIP(ctx context.Context, t wait.StrategyTarget) (string, error) {
	if a.sidecar != nil {
		return a.sidecar.IP, nil
	}
	ins, err := t.Inspect(ctx)
	if err != nil {
		return "", err
	}
	if ins.NetworkSettings != nil {
		for _, nw := range a.opts.networks {
			if ep := ins.NetworkSettings.Networks[nw.name]; ep != nil && ep.IPAddress.IsValid() {
				return ep.IPAddress.String(), nil
			}
		}
		for _, ep := range ins.NetworkSettings.Networks {
			if ep != nil && ep.IPAddress.IsValid() {
				return ep.IPAddress.String(), nil
			}
		}
	}
	return "", fmt.Errorf("app container has no address")
}

// registered lists the names registered with the pod's epmd at ip: the
// sidecar's registry, else a NAMES request.
func (a *App) registered(ctx context.Context, ip string) ([]string, error) {
	var names []string
	if a.sidecar != nil {
		ns, err := a.sidecar.Client().Nodes(ctx)
		if err != nil {
			return nil, err
		}
		for _, n := range ns {
			names = append(names, n.Name)
		}
		return names, nil
	}
	c := &epmd.Client{Addr: net.JoinHostPort(ip, strconv.Itoa(DefaultEpmdPort)), Timeout: time.Second}
	_, es, err := c.Names(ctx)
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		names = append(names, e.Name)
	}
	return names, nil
}

// Registered returns the names registered with the pod's epmd (see
// [RunApp]), newest first with a sidecar.
func (a *App) Registered(ctx context.Context) ([]string, error) {
	ip, err := a.IP(ctx)
	if err != nil {
		return nil, err
	}
	return a.registered(ctx, ip)
}

func (a *App) startError(ctx context.Context, err error) error {
	se := &StartError{ExitCode: -1, Err: err}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if st, serr := a.State(ctx); serr == nil && !st.Running {
		se.ExitCode = st.ExitCode
	}
	se.Log, _ = a.Logs(ctx)
	if a.sidecar != nil {
		se.Log += "----- sidecar -----\n" + a.sidecar.logs(ctx)
	}
	return se
}

// Name returns the node name (name@host), known once RunApp returned.
func (a *App) Name() string { return a.name }

// Hostname returns the pod's hostname.
func (a *App) Hostname() string { return a.hostname }

// Container returns the application's container (nil if never created).
func (a *App) Container() *testcontainers.DockerContainer { return a.ctr }

// Sidecar returns the chaos-epmd sidecar, nil without [WithChaosSidecar].
func (a *App) Sidecar() *Sidecar { return a.sidecar }

// IP returns the pod's address on its network.
func (a *App) IP(ctx context.Context) (string, error) {
	if a.sidecar != nil {
		return a.sidecar.IP, nil
	}
	if a.ctr == nil {
		return "", fmt.Errorf("app has no container")
	}
	return a.epmdIP(ctx, a.ctr)
}

// ChaosClient returns the client of the sidecar's admin API: faults at run
// time, the registry, the event stream.
func (a *App) ChaosClient() (*faults.Client, error) {
	if a.sidecar == nil {
		return nil, fmt.Errorf("app %s has no chaos-epmd sidecar (WithChaosSidecar)", a.describe())
	}
	return a.sidecar.Client(), nil
}

// Logs returns the application container's log so far.
func (a *App) Logs(ctx context.Context) (string, error) {
	if a == nil || a.ctr == nil {
		return "", nil
	}
	r, err := a.ctr.Logs(ctx)
	if err != nil {
		return "", fmt.Errorf("logs of %s: %w", a.describe(), err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return string(b), fmt.Errorf("logs of %s: %w", a.describe(), err)
	}
	return string(b), nil
}

// AppState is the state of the application's container.
type AppState struct {
	Running    bool
	ExitCode   int // meaningful once not Running
	StartedAt  time.Time
	FinishedAt time.Time // zero while running
}

// Ran is how long the container ran, for one that exited.
func (s AppState) Ran() time.Duration {
	if s.Running || s.FinishedAt.IsZero() {
		return 0
	}
	return s.FinishedAt.Sub(s.StartedAt)
}

// State returns the application container's state and exit status.
func (a *App) State(ctx context.Context) (AppState, error) {
	if a.ctr == nil {
		return AppState{}, fmt.Errorf("app has no container")
	}
	st, err := a.ctr.State(ctx)
	if err != nil {
		return AppState{}, fmt.Errorf("state of %s: %w", a.describe(), err)
	}
	s := AppState{Running: st.Running, ExitCode: st.ExitCode}
	s.StartedAt, _ = time.Parse(time.RFC3339Nano, st.StartedAt)
	if !st.Running {
		s.FinishedAt, _ = time.Parse(time.RFC3339Nano, st.FinishedAt)
	}
	return s, nil
}

// Wait waits until the application's container has exited and returns its
// state.
func (a *App) Wait(ctx context.Context) (AppState, error) {
	for {
		s, err := a.State(ctx)
		if err != nil || !s.Running {
			return s, err
		}
		select {
		case <-ctx.Done():
			return s, fmt.Errorf("wait for %s to exit: %w", a.describe(), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Exec runs a command in the application's container (its image must have
// the command: bin/APP rpc EXPR, bin/APP pid, rabbitmqctl ...). A non-zero
// exit status is not an error.
func (a *App) Exec(ctx context.Context, cmd []string, env ...string) (ExecResult, error) {
	if a.ctr == nil {
		return ExecResult{ExitCode: -1}, fmt.Errorf("exec %s: app has no container", strings.Join(cmd, " "))
	}
	return execIn(ctx, a.ctr, a.describe(), cmd, env...)
}

// Stop stops the application's container (SIGTERM, then SIGKILL after
// timeout); the sidecar keeps running, and so does its registry.
func (a *App) Stop(ctx context.Context, timeout time.Duration) error {
	if err := a.ctr.Stop(ctx, &timeout); err != nil {
		return fmt.Errorf("stop %s: %w", a.describe(), err)
	}
	return nil
}

// Terminate removes the probe the app started, the application's container
// and its sidecar. Safe on a nil App and on one partly created.
func (a *App) Terminate(ctx context.Context) error {
	if a == nil {
		return nil
	}
	var errs []error
	a.probeMu.Lock()
	if a.ownsPr {
		errs = append(errs, a.probe.Terminate(ctx))
		a.probe, a.ownsPr = nil, false
	}
	a.probeMu.Unlock()
	if a.ctr != nil {
		if err := a.ctr.Terminate(ctx, testcontainers.StopTimeout(0)); err != nil {
			errs = append(errs, fmt.Errorf("terminate %s: %w", a.describe(), err))
		}
		a.ctr = nil
	}
	errs = append(errs, a.sidecar.Terminate(ctx))
	a.sidecar = nil
	return errors.Join(errs...)
}
