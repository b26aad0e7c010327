package erlangfixtures

import (
	"context"
	_ "embed"
	"strings"
)

// agentLoad is the -eval expression erl boots with: it loads the agent
// compiled by an earlier node of this image if there is one (and this OTP can
// load it), else compiles it from source and keeps the beam, then starts it.
// AGENT stands for the agent's path without extension.
//
//go:embed agent_load.erl
var agentLoad string

// erlArgv is the command line erl boots with: no distribution unless
// WithDistAtBoot, and the agent loaded and started.
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
	return append(a, "-eval", strings.ReplaceAll(agentLoad, "AGENT", strings.TrimSuffix(agentSourcePath, ".erl")))
}

// Erl runs a plain erl command line in the node's container, the way users
// start nodes (e.g. "-sname", "b", "-noshell", "-eval", "halt()."), and
// returns its exit status and output. It talks to the container's epmd, or
// auto-starts one as erl does (chaos-epmd in EpmdChaosAuto mode).
func (n *Node) Erl(ctx context.Context, args ...string) (ExecResult, error) {
	env := n.opts.epmd.env()
	env["HOME"] = "/root"
	return n.Exec(ctx, append([]string{"erl"}, args...), envList(env)...)
}
