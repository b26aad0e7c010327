package erlangfixtures

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
)

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
	return execIn(ctx, n.ctr, n.name, cmd, env...)
}

// execIn runs a command in a container; who names it in errors.
func execIn(ctx context.Context, ctr *testcontainers.DockerContainer, who string, cmd []string, env ...string) (ExecResult, error) {
	var opts []tcexec.ProcessOption
	if len(env) > 0 {
		opts = append(opts, tcexec.WithEnv(env))
	}
	code, r, err := ctr.Exec(ctx, cmd, opts...)
	if err != nil {
		return ExecResult{ExitCode: -1}, fmt.Errorf("exec %s in %s: %w", strings.Join(cmd, " "), who, err)
	}
	var stdout, stderr strings.Builder
	if _, err := stdcopy.StdCopy(&stdout, &stderr, r); err != nil {
		return ExecResult{ExitCode: code}, fmt.Errorf("exec %s in %s: read output: %w", strings.Join(cmd, " "), who, err)
	}
	return ExecResult{ExitCode: code, Stdout: stdout.String(), Stderr: stderr.String(),
		Output: stdout.String() + stderr.String()}, nil
}

// nodeScript runs "node.sh ARGS..." in the container and makes a non-zero
// exit status an error naming what (e.g. "kill epmd") with node.sh's output.
func (n *Node) nodeScript(ctx context.Context, what string, env []string, args ...string) (ExecResult, error) {
	res, err := n.Exec(ctx, append([]string{"/bin/sh", nodeScriptPath}, args...), env...)
	if err != nil {
		return res, err
	}
	if res.ExitCode != 0 {
		return res, fmt.Errorf("%s in %s: exit status %d: %s", what, n.name, res.ExitCode, strings.TrimSpace(res.Output))
	}
	return res, nil
}

// envList turns an environment into KEY=VALUE strings, in a stable order.
func envList(env map[string]string) []string {
	l := make([]string, 0, len(env))
	for k, v := range env {
		l = append(l, k+"="+v)
	}
	slices.Sort(l)
	return l
}
