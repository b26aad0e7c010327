package erlangfixtures

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/chaos-epmd/chaos-epmd/faults"
)

// startChaosSidecar starts chaos-epmd as configured by c in a container of
// [ChaosImage] that joins the node container's network and pid namespaces
// (docker run --network container:ID --pid container:ID), and waits until
// its admin API answers on the node's address (chaos-epmd binds the epmd
// port first). node.sh, in the node's container, waits for the port before
// it starts erl. The sidecar is the node's from then on, even on error, so
// that Terminate removes it.
func (n *Node) startChaosSidecar(ctx context.Context, c epmdConfig) error {
	img := n.opts.pod.sidecar.image
	if img == "" {
		var err error
		if img, err = ChaosImage(ctx); err != nil {
			return err
		}
	}
	if err := requireImage(ctx, img); err != nil {
		return fmt.Errorf("chaos-epmd sidecar of %s: %w", n.name, err)
	}
	ip, err := n.IP(ctx)
	if err != nil {
		return err
	}
	args := c.epmdArgv()
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, ContainerIP, ip)
	}
	// The node's environment ([WithEnv]), as a chaos-epmd started in its
	// container has: ERL_EPMD_ADDRESS and the like reach it.
	env := map[string]string{}
	maps.Copy(env, n.opts.env)
	env[envAdminToken] = n.adminToken
	if c.port != 0 && c.via == ViaEnv {
		env["ERL_EPMD_PORT"] = itoa(c.port)
	}
	owner := "container:" + n.ctr.GetContainerID()
	ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:  img,
			Cmd:    args,
			Env:    env,
			Labels: fixtureLabels(),
			HostConfigModifier: func(h *container.HostConfig) {
				h.NetworkMode = container.NetworkMode(owner)
				h.PidMode = container.PidMode(owner)
			},
		},
		Started: true,
		Logger:  tcLogger{n.log},
	})
	if dc, ok := ctr.(*testcontainers.DockerContainer); ok && dc != nil {
		n.sidecars = append(n.sidecars, dc)
	}
	if err != nil {
		return fmt.Errorf("chaos-epmd sidecar of %s: %w", n.name, err)
	}
	n.log.Debug("chaos-epmd sidecar started", "node", n.name, "id", ctr.GetContainerID())
	return n.waitSidecar(ctx, ip)
}

// waitSidecar polls the newest sidecar's admin API until it answers, the
// sidecar exits, or the start timeout passes.
func (n *Node) waitSidecar(ctx context.Context, ip string) error {
	ctx, cancel := context.WithTimeout(ctx, n.opts.startTimeout)
	defer cancel()
	sc := n.sidecars[len(n.sidecars)-1]
	cl := &faults.Client{URL: "http://" + ip + ":" + itoa(ChaosAdminPort), Token: n.adminToken}
	code, err := waitAdmin(ctx, cl, sc.State)
	switch {
	case errors.Is(err, errAdminExited):
		return fmt.Errorf("chaos-epmd sidecar of %s exited with status %d before its admin API answered", n.name, code)
	case err != nil:
		return fmt.Errorf("chaos-epmd sidecar of %s: %w", n.name, err)
	}
	return nil
}

// ChaosSidecar returns the container of the node's chaos-epmd sidecar, the
// newest when [Node.StartEpmd] started another; nil when chaos-epmd runs in
// the node's container or not at all.
func (n *Node) ChaosSidecar() *testcontainers.DockerContainer {
	if len(n.sidecars) == 0 || !n.opts.epmd.sidecar() {
		return nil
	}
	return n.sidecars[len(n.sidecars)-1]
}

// terminateSidecars removes every sidecar the node started.
func (n *Node) terminateSidecars(ctx context.Context) error {
	var errs []error
	for _, sc := range n.sidecars {
		if err := sc.Terminate(ctx, testcontainers.StopTimeout(0)); err != nil {
			errs = append(errs, fmt.Errorf("terminate chaos-epmd sidecar of %s: %w", n.name, err))
		}
	}
	n.sidecars = nil
	return errors.Join(errs...)
}

// logLine is one line of a container's log with the engine's timestamp.
type logLine struct {
	at   time.Time
	text string
}

// mergedLogs returns the logs of the containers ids, their lines in the
// order the engine received them (each container's own order kept).
func mergedLogs(ctx context.Context, ids ...string) (string, error) {
	cli, err := dockerClient(ctx)
	if err != nil {
		return "", err
	}
	var all []logLine
	for _, id := range ids {
		lines, err := timedLogs(ctx, cli, id)
		all = append(all, lines...)
		if err != nil {
			return joinLines(all), err
		}
	}
	slices.SortStableFunc(all, func(a, b logLine) int { return a.at.Compare(b.at) })
	return joinLines(all), nil
}

func joinLines(lines []logLine) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.text)
	}
	return b.String()
}

// timedLogs reads a container's stdout and stderr with timestamps.
func timedLogs(ctx context.Context, cli *testcontainers.DockerClient, id string) ([]logLine, error) {
	rc, err := cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true})
	if err != nil {
		return nil, fmt.Errorf("logs of container %.12s: %w", id, err)
	}
	defer rc.Close()
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, rc)
		pw.CloseWithError(err)
	}()
	var lines []logLine
	r := bufio.NewReader(pr)
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			// "2006-01-02T15:04:05.999999999Z TEXT"
			ts, text, _ := strings.Cut(line, " ")
			at, perr := time.Parse(time.RFC3339Nano, ts)
			if perr != nil {
				text = line
				if len(lines) > 0 {
					at = lines[len(lines)-1].at
				}
			}
			lines = append(lines, logLine{at: at, text: text})
		}
		if err != nil {
			pr.Close()
			if errors.Is(err, io.EOF) {
				return lines, nil
			}
			return lines, fmt.Errorf("logs of container %.12s: %w", id, err)
		}
	}
}

// chaosExecTarget is where chaos-epmd's own commands run: the newest sidecar,
// else the node's container.
func (n *Node) chaosExecTarget() (*testcontainers.DockerContainer, string) {
	if sc := n.ChaosSidecar(); sc != nil {
		return sc, ChaosBinaryPath
	}
	return n.ctr, chaosEpmdPath
}
