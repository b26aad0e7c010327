package erlangfixtures

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// env is the one description of the node's epmd for the container: node.sh
// reads CHAOS_EPMD_MODE, CHAOS_EPMD_ARGS (one argument a line) and
// CHAOS_EPMD_PORT to start it and wait for it (mode "sidecar": only wait
// for the sidecar's chaos-epmd to listen); erl and epmd read ERL_EPMD_PORT
// when the port is set [ViaEnv].
func (c epmdConfig) env() map[string]string {
	mode := string(c.mode)
	if c.sidecar() {
		mode = "sidecar"
	}
	env := map[string]string{
		"CHAOS_EPMD_MODE": mode,
		"CHAOS_EPMD_ARGS": strings.Join(c.epmdArgv(), "\n"),
		"CHAOS_EPMD_PORT": itoa(c.epmdPort()),
	}
	if c.port != 0 && c.via == ViaEnv {
		env["ERL_EPMD_PORT"] = itoa(c.port)
	}
	return env
}

// epmdPort returns the port epmd listens on.
func (c epmdConfig) epmdPort() int {
	if c.port != 0 {
		return c.port
	}
	return DefaultEpmdPort
}

// epmdArgv returns the arguments for an epmd the fixture starts.
func (c epmdConfig) epmdArgv() []string {
	var a []string
	if c.port != 0 && c.via == ViaFlag {
		a = append(a, "-port", itoa(c.port))
	}
	if len(c.address) > 0 {
		a = append(a, "-address", strings.Join(c.address, ","))
	}
	if c.mode == EpmdChaos {
		for _, f := range c.faults {
			a = append(a, "-fault", f)
		}
		a = append(a, "-admin", fmt.Sprintf("0.0.0.0:%d", ChaosAdminPort))
	}
	return append(a, c.args...)
}

// KillEpmd kills every epmd (and chaos-epmd) process in the container with
// SIGKILL and waits until they are gone; registered nodes lose their epmd
// connection as when epmd crashes. A chaos-epmd sidecar shares the
// container's pid namespace: it is killed the same way, and its container
// exits.
func (n *Node) KillEpmd(ctx context.Context) error {
	_, err := n.nodeScript(ctx, "kill epmd", nil, "kill-epmd", "KILL")
	return err
}

// StartEpmd starts an epmd in the container as the node's options say, or
// changed by opts (e.g. [WithChaosEpmd] to replace a killed C epmd with
// chaos-epmd), and waits until it listens. Only epmd options matter here.
// chaos-epmd starts as a new sidecar container ([EpmdChaos]) unless
// [WithChaosInContainer]. The new configuration becomes the node's.
func (n *Node) StartEpmd(ctx context.Context, opts ...Option) error {
	o := n.opts
	o.epmd.faults = append([]string(nil), o.epmd.faults...)
	for _, f := range opts {
		if err := f(&o); err != nil {
			return err
		}
	}
	switch o.epmd.mode {
	case EpmdAuto, EpmdNone:
		o.epmd.mode = EpmdC
	case EpmdChaosAuto:
		o.epmd.mode = EpmdChaos
	}
	if o.epmd.sidecar() {
		if err := n.startChaosSidecar(ctx, o.epmd); err != nil {
			return err
		}
		n.opts.epmd = o.epmd
		return nil
	}
	if o.epmd.mode == EpmdChaos {
		if err := n.copyChaosBinary(ctx); err != nil {
			return err
		}
	}
	if _, err := n.nodeScript(ctx, "start epmd", envList(o.epmd.env()), "start-epmd", string(o.epmd.mode)); err != nil {
		return err
	}
	n.opts.epmd = o.epmd
	return nil
}

func (n *Node) copyChaosBinary(ctx context.Context) error {
	if n.opts.epmd.needsChaos() {
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
	res, err := n.nodeScript(ctx, "epmd processes", nil, "epmd-info")
	if err != nil {
		return nil, err
	}
	var ps []EpmdProcess
	for line := range strings.Lines(res.Stdout) {
		f := strings.SplitN(strings.TrimSuffix(line, "\n"), "\t", 4)
		if len(f) != 4 {
			return nil, fmt.Errorf("epmd processes in %s: bad line %q", n.name, line)
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, fmt.Errorf("epmd processes in %s: bad line %q", n.name, line)
		}
		ps = append(ps, EpmdProcess{PID: pid, Chaos: f[1] == "chaos", Exe: f[2], Args: f[3]})
	}
	return ps, nil
}
