package erlangfixtures

import (
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
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

// request is the container request of the node: node.sh as entry point,
// which starts the configured epmd and execs erl's command line.
func (n *Node) request(ctx context.Context, img string) (testcontainers.GenericContainerRequest, error) {
	o := n.opts
	env := o.epmd.env()
	env["HOME"] = "/root"
	env["CHAOS_AGENT_PORT"] = itoa(AgentPort)
	env["CHAOS_EPMD_WAIT"] = itoa(int(max(o.startTimeout, time.Second) / time.Second))
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
	if o.epmd.needsChaos() {
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
	req := testcontainers.GenericContainerRequest{
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
				if a := o.app; a != nil && a.ReservedPorts != "" {
					if h.Sysctls == nil {
						h.Sysctls = map[string]string{}
					}
					h.Sysctls["net.ipv4.ip_local_reserved_ports"] = a.ReservedPorts
				}
			},
		},
		Started: true,
		Logger:  tcLogger{n.log},
	}
	for _, c := range o.customizers {
		if err := c.Customize(&req); err != nil {
			return req, fmt.Errorf("customize: %w", err)
		}
	}
	return req, nil
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
