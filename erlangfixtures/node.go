package erlangfixtures

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	tcexec "github.com/testcontainers/testcontainers-go/exec"

	"github.com/chaos-epmd/chaos-epmd/faults"

	"github.com/testcontainers/testcontainers-go"
)

//go:embed chaos_agent.erl
var agentSource []byte

//go:embed node.sh
var nodeScript []byte

// Paths inside a node container.
const (
	optDir          = "/opt/chaos-epmd"
	nodeScriptPath  = optDir + "/node.sh"
	agentSourcePath = optDir + "/chaos_agent.erl"
	agentBeamPath   = optDir + "/chaos_agent.beam"
	chaosEpmdPath   = optDir + "/chaos-epmd"
)

// Node is an Erlang node in its own container, driven through its agent.
type Node struct {
	ctr        *testcontainers.DockerContainer
	opts       options
	name       string // full node name, once known
	hostname   string
	agent      string // host:port of the agent
	adminToken string // guards chaos-epmd's admin API
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

// Run starts an Erlang node in a new container and waits until its agent answers.
// The arguments are [Option]s, or any testcontainers.ContainerCustomizer, applied
// after the fixture's own settings. Like testcontainers modules, Run returns the
// node even on error when a container was created, so the caller can read its
// logs and must Terminate it.
func Run(ctx context.Context, opts ...testcontainers.ContainerCustomizer) (*Node, error) {
	configureTestcontainers()
	o := options{release: OTP25, cookie: DefaultCookie, epmd: epmdConfig{mode: EpmdC},
		startTimeout: DefaultStartTimeout}
	for _, opt := range opts {
		if f, ok := opt.(Option); ok {
			if err := f(&o); err != nil {
				return nil, err
			}
		}
	}
	log := o.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Node{opts: o, log: log, adminToken: rand.Text()}
	n.hostname = o.hostname
	if n.hostname == "" {
		for _, nw := range o.networks {
			if len(nw.aliases) > 0 {
				n.hostname = nw.aliases[0]
				break
			}
		}
	}
	if n.hostname == "" {
		n.hostname = fmt.Sprintf("erl-%d-%d", time.Now().UnixMilli()%1e6, nodeCounter.Add(1))
	}
	n.name = n.nodeName()

	img := o.image
	if img == "" {
		var err error
		if img, _, err = BuildImage(ctx, o.release, BuildOptions{Logger: o.logger}); err != nil {
			return nil, err
		}
	}
	req, err := n.request(ctx, img)
	if err != nil {
		return nil, err
	}
	for _, opt := range opts {
		if _, ok := opt.(Option); !ok {
			if err := opt.Customize(&req); err != nil {
				return nil, fmt.Errorf("customize: %w", err)
			}
		}
	}
	start := time.Now()
	ctr, err := testcontainers.GenericContainer(ctx, req)
	if ctr != nil {
		n.ctr, _ = ctr.(*testcontainers.DockerContainer)
	}
	if err != nil {
		if n.ctr != nil {
			return n, n.startError(ctx, err)
		}
		return nil, fmt.Errorf("run node %s: %w", n.name, err)
	}
	log.Debug("container started", "node", n.name, "id", n.ctr.GetContainerID(), "took", time.Since(start))
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

func (n *Node) request(ctx context.Context, img string) (testcontainers.GenericContainerRequest, error) {
	o := n.opts
	epmdArgs := o.epmd.epmdArgv()
	env := map[string]string{
		"HOME":             "/root",
		"CHAOS_EPMD_MODE":  string(o.epmd.mode),
		"CHAOS_EPMD_ARGS":  strings.Join(epmdArgs, "\n"),
		"CHAOS_EPMD_PORT":  itoa(o.epmd.epmdPort()),
		"CHAOS_AGENT_PORT": itoa(AgentPort),
	}
	if o.epmd.port != 0 && o.epmd.via == ViaEnv {
		env["ERL_EPMD_PORT"] = itoa(o.epmd.port)
	}
	// chaos-epmd's admin API serves non-loopback clients (the test process)
	// only with a token; "chaos-epmd ctl" in the container reads the same
	// variable. Set in every mode, for a later StartEpmd of chaos-epmd.
	env[envAdminToken] = n.adminToken
	maps.Copy(env, o.env)

	files := []containerFile{
		{path: nodeScriptPath, mode: 0o755, data: nodeScript},
		{path: agentSourcePath, mode: 0o644, data: agentSource},
	}
	if beam := cachedAgentBeam(img); beam != nil {
		files = append(files, containerFile{path: agentBeamPath, mode: 0o644, data: beam})
	}
	if o.epmd.mode.needsChaos() {
		bin, err := ChaosEpmdBinary(ctx)
		if err != nil {
			return testcontainers.GenericContainerRequest{}, err
		}
		files = append(files, containerFile{path: chaosEpmdPath, mode: 0o755, hostPath: bin})
	}
	var networks []string
	aliases := map[string][]string{}
	for _, nw := range o.networks {
		networks = append(networks, nw.name)
		aliases[nw.name] = nw.aliases
	}
	hostname := n.hostname
	return testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:          img,
			Entrypoint:     []string{"/bin/sh", nodeScriptPath, "boot"},
			Cmd:            n.erlArgv(),
			Env:            env,
			Labels:         fixtureLabels(),
			LifecycleHooks: []testcontainers.ContainerLifecycleHooks{copyFilesHook(files)},
			Networks:       networks,
			NetworkAliases: aliases,
			ConfigModifier: func(c *container.Config) { c.Hostname = hostname },
			HostConfigModifier: func(h *container.HostConfig) {
				init := true
				h.Init = &init // reap epmd -daemon and friends; forward SIGTERM to erl
				if ipv6Loopback() {
					// Like a usual host, have ::1: epmd adds the loopback
					// addresses to an -address list and fails without it.
					h.Sysctls = map[string]string{"net.ipv6.conf.lo.disable_ipv6": "0"}
				}
			},
		},
		Started: true,
		Logger:  tcLogger{n.log},
	}, nil
}

// ipv6Loopback reports whether this machine's kernel has IPv6, so containers
// (on a local engine) can have ::1.
func ipv6Loopback() bool {
	_, err := os.Stat("/proc/sys/net/ipv6/conf/lo/disable_ipv6")
	return err == nil
}

// tcLogger sends testcontainers' progress lines to the fixture's logger at
// debug level (discarded by default).
type tcLogger struct{ l *slog.Logger }

func (t tcLogger) Printf(format string, v ...any) {
	t.l.Debug(strings.TrimSpace(fmt.Sprintf(format, v...)), "source", "testcontainers")
}

// erlArgv is the command line erl boots with: no distribution unless
// WithDistAtBoot, and the agent loaded from source and started.
func (n *Node) erlArgv() []string {
	o := n.opts
	a := []string{"erl", "-noshell", "-setcookie", o.cookie}
	if o.distAtBoot {
		if o.longNames {
			a = append(a, "-name", n.name)
		} else {
			a = append(a, "-sname", n.name)
		}
	}
	if o.epmd.mode.explicit() || o.epmd.mode == EpmdNone {
		a = append(a, "-start_epmd", "false")
	}
	if o.epmd.port != 0 && o.epmd.via == ViaFlag {
		a = append(a, "-epmd_port", itoa(o.epmd.port))
	}
	if o.distMin != 0 {
		a = append(a, "-kernel", "inet_dist_listen_min", itoa(o.distMin), "inet_dist_listen_max", itoa(o.distMax))
	}
	if o.hidden {
		a = append(a, "-hidden")
	}
	if o.noConnectAll {
		a = append(a, "-connect_all", "false")
	}
	a = append(a, o.erlArgs...)
	// Load the agent compiled by an earlier node of this image if there is one
	// (and this OTP can load it), else compile it from source and keep the beam.
	return append(a, "-eval", fmt.Sprintf(`case code:load_abs("%[1]s") of
	{module, _} -> ok;
	_ -> {ok, M, B} = compile:file("%[1]s.erl", [binary, return_errors]),
	     {module, M} = code:load_binary(M, "%[1]s.erl", B),
	     ok = file:write_file("%[1]s.beam", B)
end, chaos_agent:start().`, strings.TrimSuffix(agentSourcePath, ".erl")))
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
		out, err := n.eval(actx, 'p', "ok")
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

// EvalError is an expression's exception (or a parse error) on the node.
type EvalError struct {
	Expr   string
	Class  string // error, exit, throw; "parse" when it did not scan or parse
	Reason string // the reason, printed as an Erlang term on one line
}

func (e *EvalError) Error() string {
	return fmt.Sprintf("eval %s: %s:%s", e.Expr, e.Class, e.Reason)
}

// ResultError is an expression that returned an error value (e.g.
// {error,Reason} from net_kernel:start/2) where a helper expected success.
type ResultError struct {
	Expr string
	Term string // the value, printed as an Erlang term on one line
}

func (e *ResultError) Error() string { return fmt.Sprintf("eval %s: returned %s", e.Expr, e.Term) }

// Eval evaluates Erlang expressions (a trailing '.' is optional) on the node
// and returns the value printed as a term on one line, e.g. "{ok,<0.87.0>}".
// An exception gives an [*EvalError] with OTP's exact reason. Eval works with
// no epmd and no distribution.
func (n *Node) Eval(ctx context.Context, expr string) (string, error) {
	return n.eval(ctx, 'p', expr)
}

// EvalString evaluates expressions whose value is chardata (a string, binary or
// iolist) and returns it as is; other values come back printed as terms.
func (n *Node) EvalString(ctx context.Context, expr string) (string, error) {
	return n.eval(ctx, 's', expr)
}

func (n *Node) eval(ctx context.Context, mode byte, expr string) (string, error) {
	e := strings.TrimSpace(expr)
	if !strings.HasSuffix(e, ".") {
		e += "."
	}
	if n.agent == "" {
		return "", fmt.Errorf("eval %s: node has no agent", expr)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", n.agent)
	if err != nil {
		return "", fmt.Errorf("eval %s: %w", expr, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	req := make([]byte, 5, 5+len(e))
	binary.BigEndian.PutUint32(req, uint32(1+len(e)))
	req[4] = mode
	if _, err := conn.Write(append(req, e...)); err != nil {
		return "", fmt.Errorf("eval %s: %w", expr, ctxErr(ctx, err))
	}
	var hdr [4]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return "", fmt.Errorf("eval %s: read reply: %w", expr, ctxErr(ctx, err))
	}
	reply := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(conn, reply); err != nil {
		return "", fmt.Errorf("eval %s: read reply: %w", expr, ctxErr(ctx, err))
	}
	if len(reply) == 0 {
		return "", fmt.Errorf("eval %s: empty reply", expr)
	}
	switch reply[0] {
	case 'o':
		return string(reply[1:]), nil
	case 'e':
		class, reason, _ := strings.Cut(string(reply[1:]), "\n")
		return "", &EvalError{Expr: expr, Class: class, Reason: reason}
	}
	return "", fmt.Errorf("eval %s: bad reply %q", expr, reply)
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// StartDistribution starts distribution on the running node with
// net_kernel:start/2 under its name, as short or long name, hidden as
// configured. OTP's {error,Reason} comes back as a [*ResultError].
func (n *Node) StartDistribution(ctx context.Context) error {
	domain := "shortnames"
	if n.opts.longNames {
		domain = "longnames"
	}
	opts := "name_domain => " + domain
	if n.opts.hidden {
		opts += ", hidden => true"
	}
	expr := fmt.Sprintf("net_kernel:start(%s, #{%s})", erlAtom(n.name), opts)
	out, err := n.Eval(ctx, expr)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(out, "{ok,") {
		return &ResultError{Expr: expr, Term: out}
	}
	return nil
}

// Ping runs net_adm:ping/1 towards node and returns "pong" or "pang".
func (n *Node) Ping(ctx context.Context, node string) (string, error) {
	return n.EvalString(ctx, fmt.Sprintf("atom_to_list(net_adm:ping(%s))", erlAtom(node)))
}

// Nodes returns nodes() on the node, or nodes(Arg) for the given kinds
// ("visible", "hidden", "connected", "this", "known").
func (n *Node) Nodes(ctx context.Context, kinds ...string) ([]string, error) {
	call := "nodes()"
	if len(kinds) > 0 {
		atoms := make([]string, len(kinds))
		for i, k := range kinds {
			atoms[i] = erlAtom(k)
		}
		call = "nodes([" + strings.Join(atoms, ",") + "])"
	}
	out, err := n.EvalString(ctx, fmt.Sprintf(`lists:join("\n", [atom_to_list(N) || N <- lists:sort(%s)])`, call))
	if err != nil || out == "" {
		return nil, err
	}
	return strings.Split(out, "\n"), nil
}

// EpmdName is one line of an epmd NAMES reply.
type EpmdName struct {
	Name string
	Port int
}

// EpmdNames asks the node's local epmd for its registered names with
// erl_epmd:names/0, so the node's epmd port settings apply. OTP's
// {error,Reason} (e.g. {error,address} when no epmd answers) comes back as a
// [*ResultError].
func (n *Node) EpmdNames(ctx context.Context) ([]EpmdName, error) {
	expr := `case erl_epmd:names() of
	{ok, L} -> ["ok\n", [[Nm, " ", integer_to_list(P), "\n"] || {Nm, P} <- L]];
	Other -> ["error\n", io_lib:format("~1000000tp", [Other])]
end`
	out, err := n.EvalString(ctx, expr)
	if err != nil {
		return nil, err
	}
	status, rest, _ := strings.Cut(out, "\n")
	if status != "ok" {
		return nil, &ResultError{Expr: "erl_epmd:names()", Term: rest}
	}
	var names []EpmdName
	for line := range strings.Lines(rest) {
		name, port, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("erl_epmd:names(): bad line %q", line)
		}
		names = append(names, EpmdName{Name: name, Port: p})
	}
	return names, nil
}

// ExecResult is the outcome of a command run in a node's container.
type ExecResult struct {
	ExitCode int
	Stdout   string
	Stderr   string
	Output   string // Stdout followed by Stderr
}

// Exec runs a command in the node's container. A non-zero exit status is not
// an error; failing to run the command is.
func (n *Node) Exec(ctx context.Context, cmd []string, env ...string) (ExecResult, error) {
	var opts []tcexec.ProcessOption
	if len(env) > 0 {
		opts = append(opts, tcexec.WithEnv(env))
	}
	code, r, err := n.ctr.Exec(ctx, cmd, opts...)
	if err != nil {
		return ExecResult{ExitCode: -1}, fmt.Errorf("exec %s in %s: %w", strings.Join(cmd, " "), n.name, err)
	}
	var stdout, stderr strings.Builder
	if _, err := stdcopy.StdCopy(&stdout, &stderr, r); err != nil {
		return ExecResult{ExitCode: code}, fmt.Errorf("exec %s in %s: read output: %w", strings.Join(cmd, " "), n.name, err)
	}
	return ExecResult{ExitCode: code, Stdout: stdout.String(), Stderr: stderr.String(),
		Output: stdout.String() + stderr.String()}, nil
}

// Erl runs a plain erl command line in the node's container, the way users
// start nodes (e.g. "-sname", "b", "-noshell", "-eval", "halt()."), and
// returns its exit status and output. It talks to the container's epmd, or
// auto-starts one as erl does (chaos-epmd in EpmdChaosAuto mode).
func (n *Node) Erl(ctx context.Context, args ...string) (ExecResult, error) {
	env := []string{"HOME=/root"}
	if n.opts.epmd.port != 0 && n.opts.epmd.via == ViaEnv {
		env = append(env, "ERL_EPMD_PORT="+itoa(n.opts.epmd.port))
	}
	return n.Exec(ctx, append([]string{"erl"}, args...), env...)
}

// KillEpmd kills every epmd (and chaos-epmd) process in the container with
// SIGKILL and waits until they are gone; registered nodes lose their epmd
// connection as when epmd crashes.
func (n *Node) KillEpmd(ctx context.Context) error {
	res, err := n.Exec(ctx, []string{"/bin/sh", nodeScriptPath, "kill-epmd", "KILL"})
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("kill epmd in %s: exit status %d: %s", n.name, res.ExitCode, strings.TrimSpace(res.Output))
	}
	return nil
}

// StartEpmd starts an epmd in the container as the node's options say, or
// changed by opts (e.g. [WithChaosEpmd] to replace a killed C epmd with
// chaos-epmd), and waits until it listens. Only epmd options matter here.
// The new configuration becomes the node's.
func (n *Node) StartEpmd(ctx context.Context, opts ...Option) error {
	o := n.opts
	o.epmd.faults = append([]string(nil), o.epmd.faults...)
	for _, f := range opts {
		if err := f(&o); err != nil {
			return err
		}
	}
	mode := o.epmd.mode
	switch mode {
	case EpmdC, EpmdChaos:
	case EpmdAuto, EpmdNone:
		mode = EpmdC
	case EpmdChaosAuto:
		mode = EpmdChaos
	}
	if mode == EpmdChaos {
		if err := n.copyChaosBinary(ctx); err != nil {
			return err
		}
	}
	o.epmd.mode = mode
	epmdArgs := o.epmd.epmdArgv()
	env := []string{
		"CHAOS_EPMD_ARGS=" + strings.Join(epmdArgs, "\n"),
		"CHAOS_EPMD_PORT=" + itoa(o.epmd.epmdPort()),
	}
	if o.epmd.port != 0 && o.epmd.via == ViaEnv {
		env = append(env, "ERL_EPMD_PORT="+itoa(o.epmd.port))
	}
	res, err := n.Exec(ctx, []string{"/bin/sh", nodeScriptPath, "start-epmd", string(mode)}, env...)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("start epmd in %s: exit status %d: %s", n.name, res.ExitCode, strings.TrimSpace(res.Output))
	}
	n.opts.epmd = o.epmd
	return nil
}

func (n *Node) copyChaosBinary(ctx context.Context) error {
	if n.opts.epmd.mode.needsChaos() {
		return nil // copied at creation
	}
	bin, err := ChaosEpmdBinary(ctx)
	if err != nil {
		return err
	}
	if err := n.ctr.CopyFileToContainer(ctx, bin, chaosEpmdPath, 0o755); err != nil {
		return fmt.Errorf("copy chaos-epmd into %s: %w", n.name, err)
	}
	return nil
}

// EpmdProcess is an epmd running in a node's container.
type EpmdProcess struct {
	PID   int
	Chaos bool   // the executable is chaos-epmd (a Go binary), whatever its name
	Exe   string // path of the executable
	Args  string // command line, space-separated
}

// EpmdProcesses lists the epmd processes running in the container (OTP's epmd
// and chaos-epmd, under either name).
func (n *Node) EpmdProcesses(ctx context.Context) ([]EpmdProcess, error) {
	res, err := n.Exec(ctx, []string{"/bin/sh", nodeScriptPath, "epmd-info"})
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("epmd processes of %s: exit status %d: %s", n.name, res.ExitCode, strings.TrimSpace(res.Output))
	}
	var ps []EpmdProcess
	for line := range strings.Lines(res.Stdout) {
		f := strings.SplitN(strings.TrimSuffix(line, "\n"), "\t", 4)
		if len(f) != 4 {
			return nil, fmt.Errorf("epmd processes of %s: bad line %q", n.name, line)
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, fmt.Errorf("epmd processes of %s: bad line %q", n.name, line)
		}
		ps = append(ps, EpmdProcess{PID: pid, Chaos: f[1] == "chaos", Exe: f[2], Args: f[3]})
	}
	return ps, nil
}

// ChaosAdminURL returns the base URL of the node's chaos-epmd admin API as
// reachable from the test process (EpmdChaos mode only). It is the seam for the
// fault control client of package faults.
func (n *Node) ChaosAdminURL(ctx context.Context) (string, error) {
	if n.opts.epmd.mode != EpmdChaos {
		return "", fmt.Errorf("chaos admin of %s: epmd mode is %s, not chaos", n.name, n.opts.epmd.mode)
	}
	ip, err := n.IP(ctx)
	if err != nil {
		return "", fmt.Errorf("chaos admin of %s: %w", n.name, err)
	}
	return "http://" + net.JoinHostPort(ip, strconv.Itoa(ChaosAdminPort)), nil
}

// ChaosClient returns a client of the node's chaos-epmd admin API (EpmdChaos
// mode, or after StartEpmd with chaos-epmd), to add and remove faults at run
// time and read registrations and events.
func (n *Node) ChaosClient(ctx context.Context) (*faults.Client, error) {
	url, err := n.ChaosAdminURL(ctx)
	if err != nil {
		return nil, err
	}
	return &faults.Client{URL: url, Token: n.adminToken}, nil
}

// ChaosCtl runs "chaos-epmd ctl ARGS..." in the node's container, talking to
// its chaos-epmd over loopback (e.g. "add", "delay_write=5"; "list"; "clear").
func (n *Node) ChaosCtl(ctx context.Context, args ...string) (ExecResult, error) {
	if n.opts.epmd.mode != EpmdChaos {
		return ExecResult{ExitCode: -1}, fmt.Errorf("chaos ctl in %s: epmd mode is %s, not chaos", n.name, n.opts.epmd.mode)
	}
	return n.Exec(ctx, append([]string{chaosEpmdPath, "ctl", "-admin", fmt.Sprintf("127.0.0.1:%d", ChaosAdminPort)}, args...))
}

// Logs returns the container's log so far (erl's and epmd's output).
func (n *Node) Logs(ctx context.Context) (string, error) {
	if n == nil || n.ctr == nil {
		return "", nil
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

// Terminate kills and removes the container. Safe on a nil node or one whose
// container was never created.
func (n *Node) Terminate(ctx context.Context) error {
	if n == nil || n.ctr == nil {
		return nil
	}
	if err := n.ctr.Terminate(ctx, testcontainers.StopTimeout(0)); err != nil {
		return fmt.Errorf("terminate %s: %w", n.name, err)
	}
	return nil
}
