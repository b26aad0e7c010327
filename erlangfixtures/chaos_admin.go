package erlangfixtures

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/chaos-epmd/chaos-epmd/faults"
)

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

// ChaosCtl runs "chaos-epmd ctl ARGS..." in the node's chaos-epmd sidecar
// (or, with [WithChaosInContainer], in the node's container), talking to
// chaos-epmd over loopback (e.g. "add", "delay_write=5"; "list"; "clear").
func (n *Node) ChaosCtl(ctx context.Context, args ...string) (ExecResult, error) {
	if n.opts.epmd.mode != EpmdChaos {
		return ExecResult{ExitCode: -1}, fmt.Errorf("chaos ctl in %s: epmd mode is %s, not chaos", n.name, n.opts.epmd.mode)
	}
	ctr, bin := n.chaosExecTarget()
	return execIn(ctx, ctr, n.name, append([]string{bin, "ctl", "-admin", fmt.Sprintf("127.0.0.1:%d", ChaosAdminPort)}, args...))
}
