package erlangfixtures

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/testcontainers/testcontainers-go"
)

// Node is an Erlang node in its own container, driven through its agent.
type Node struct {
	ctr        *testcontainers.DockerContainer
	opts       options
	name       string // full node name, once known
	hostname   string
	agent      string                            // host:port of the agent
	adminToken string                            // guards chaos-epmd's admin API
	sidecars   []*testcontainers.DockerContainer // chaos-epmd sidecars, oldest first
	log        *slog.Logger
}

// StartError is returned by [Run] when the container exited or its agent did not
// answer in time. It carries erl's exit status and the container's log.
type StartError struct {
	ExitCode int    // -1 when the container is still running
	Log      string // the container's stdout and stderr
	Err      error  // what went wrong
}

func (e *StartError) Error() string {
	if e.ExitCode >= 0 {
		return fmt.Sprintf("node exited with status %d: %v\n%s", e.ExitCode, e.Err, e.Log)
	}
	return fmt.Sprintf("node not ready: %v\n%s", e.Err, e.Log)
}

func (e *StartError) Unwrap() error { return e.Err }

// ErrExited is wrapped by a [*StartError] when erl exited during start-up.
var ErrExited = errors.New("container exited")

// Run starts an Erlang node in a new container and waits until its agent
// answers. Like testcontainers modules, Run returns the node even on error
// when a container was created, so the caller can read its logs and must
// Terminate it.
func Run(ctx context.Context, opts ...Option) (*Node, error) {
	configureTestcontainers()
	o, log, err := applyOptions(defaultOptions(), opts)
	if err != nil {
		return nil, err
	}
	n := &Node{opts: o, log: log, adminToken: rand.Text()}
	n.hostname = o.defaultHostname()
	n.name = n.nodeName()

	img := o.image
	if img == "" {
		var err error
		if img, _, err = (Image{Release: o.release, App: o.app}).Build(ctx, BuildOptions{Logger: o.logger}); err != nil {
			return nil, err
		}
	}
	if err := requireImage(ctx, img); err != nil {
		return nil, fmt.Errorf("run node %s: %w", n.name, err)
	}
	req, err := n.request(ctx, img)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	ctr, err := testcontainers.GenericContainer(ctx, req)
	if ctr != nil {
		n.ctr, _ = ctr.(*testcontainers.DockerContainer)
		terminateOnCleanup(o.cleanup, n.Terminate)
	}
	if err != nil {
		if n.ctr != nil {
			return n, n.startError(ctx, err)
		}
		return nil, fmt.Errorf("run node %s: %w", n.name, err)
	}
	log.Debug("container started", "node", n.name, "id", n.ctr.GetContainerID(), "took", time.Since(start))
	if o.epmd.sidecar() {
		// node.sh waits for its port before it starts erl.
		if err := n.startChaosSidecar(ctx, o.epmd); err != nil {
			return n, n.startError(ctx, err)
		}
	}
	if err := n.waitReady(ctx); err != nil {
		return n, err
	}
	cacheAgentBeam(ctx, img, n.ctr)
	if strings.Contains(n.name, ContainerIP) {
		ip, err := n.IP(ctx)
		if err != nil {
			return n, err
		}
		n.name = strings.ReplaceAll(n.name, ContainerIP, ip)
	}
	log.Debug("node ready", "node", n.name, "took", time.Since(start))
	return n, nil
}

var nodeCounter atomic.Int64

// defaultHostname is the container's hostname: as given, else the first
// network alias, else a generated one.
func (o options) defaultHostname() string {
	if o.hostname != "" {
		return o.hostname
	}
	for _, nw := range o.networks {
		if len(nw.aliases) > 0 {
			return nw.aliases[0]
		}
	}
	return fmt.Sprintf("erl-%d-%d", time.Now().UnixMilli()%1e6, nodeCounter.Add(1))
}

// nodeName returns the full node name; for long names without a host the host
// is the placeholder node.sh and Run replace with the container's address.
func (n *Node) nodeName() string {
	name := n.opts.nodeName
	if name == "" {
		name = n.hostname
	}
	if strings.Contains(name, "@") {
		return name
	}
	if n.opts.longNames {
		return name + "@" + ContainerIP
	}
	return name + "@" + n.hostname
}

func (n *Node) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.opts.startTimeout)
	defer cancel()
	// The agent is dialled on the container's own address: traffic stays
	// between the test process and the project's containers, and no port is
	// published (no docker-proxy, no host-address guessing).
	ip, err := n.IP(ctx)
	if err != nil {
		return n.startError(ctx, err)
	}
	n.agent = net.JoinHostPort(ip, strconv.Itoa(AgentPort))
	delay := 10 * time.Millisecond
	var last error
	for {
		actx, acancel := context.WithTimeout(ctx, time.Second)
		out, err := n.eval(actx, evalTerm, "ok")
		acancel()
		if err == nil && out == "ok" {
			return nil
		}
		last = err
		st, serr := n.ctr.State(ctx)
		if serr == nil && !st.Running {
			return n.startError(ctx, fmt.Errorf("%w before its agent answered", ErrExited))
		}
		select {
		case <-ctx.Done():
			return n.startError(ctx, fmt.Errorf("agent at %s: %w (last: %v)", n.agent, ctx.Err(), last))
		case <-time.After(delay):
		}
		delay = min(delay*2, 100*time.Millisecond)
	}
}

func (n *Node) startError(ctx context.Context, err error) error {
	se := &StartError{ExitCode: -1, Err: err}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if st, serr := n.ctr.State(ctx); serr == nil && !st.Running {
		se.ExitCode = st.ExitCode
	}
	se.Log, _ = n.Logs(ctx)
	return se
}

// Name returns the node name (a@host). For long names without a host it is
// known once Run returned.
func (n *Node) Name() string { return n.name }

// Hostname returns the container's hostname.
func (n *Node) Hostname() string { return n.hostname }

// Release returns the node's release (meaningless with [WithImage]).
func (n *Node) Release() Release { return n.opts.release }

// EpmdMode returns the node's epmd mode.
func (n *Node) EpmdMode() EpmdMode { return n.opts.epmd.mode }

// Container returns the underlying testcontainers container.
func (n *Node) Container() *testcontainers.DockerContainer { return n.ctr }

// AgentAddr returns the address:port of the node's agent (the container's
// address: the test process must be able to route to the Docker network).
func (n *Node) AgentAddr() string { return n.agent }

// IP returns the container's address on its (first) network.
func (n *Node) IP(ctx context.Context) (string, error) {
	ip, err := n.ctr.ContainerIP(ctx)
	if err != nil {
		return "", fmt.Errorf("container ip of %s: %w", n.name, err)
	}
	return ip, nil
}

// Logs returns the container's log so far (erl's and epmd's output), with
// the lines of its chaos-epmd sidecars merged in the order the engine
// received them.
func (n *Node) Logs(ctx context.Context) (string, error) {
	if n == nil || n.ctr == nil {
		return "", nil
	}
	if len(n.sidecars) > 0 {
		ids := []string{n.ctr.GetContainerID()}
		for _, sc := range n.sidecars {
			ids = append(ids, sc.GetContainerID())
		}
		l, err := mergedLogs(ctx, ids...)
		if err != nil {
			return l, fmt.Errorf("logs of %s: %w", n.name, err)
		}
		return l, nil
	}
	r, err := n.ctr.Logs(ctx)
	if err != nil {
		return "", fmt.Errorf("logs of %s: %w", n.name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return string(b), fmt.Errorf("logs of %s: %w", n.name, err)
	}
	return string(b), nil
}

// Stop stops the container (erl gets SIGTERM, then SIGKILL after timeout);
// its logs stay readable until Terminate.
func (n *Node) Stop(ctx context.Context, timeout time.Duration) error {
	if err := n.ctr.Stop(ctx, &timeout); err != nil {
		return fmt.Errorf("stop %s: %w", n.name, err)
	}
	return nil
}

// Terminate kills and removes the container and its chaos-epmd sidecars.
// Safe on a nil node or one whose container was never created.
func (n *Node) Terminate(ctx context.Context) error {
	if n == nil || n.ctr == nil {
		return nil
	}
	// The sidecars first: they live in the node container's namespaces.
	serr := n.terminateSidecars(ctx)
	if err := n.ctr.Terminate(ctx, testcontainers.StopTimeout(0)); err != nil {
		return errors.Join(serr, fmt.Errorf("terminate %s: %w", n.name, err))
	}
	return serr
}
