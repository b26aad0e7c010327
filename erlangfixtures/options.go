package erlangfixtures

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/testcontainers/testcontainers-go"
)

// EpmdMode says which epmd a node's container runs and who starts it.
type EpmdMode string

// The epmd modes.
const (
	// EpmdC starts OTP's C epmd in the foreground before erl, and erl runs with
	// -start_epmd false so it never starts another one. The default.
	EpmdC EpmdMode = "c"
	// EpmdChaos runs chaos-epmd, with the fault specs of [WithChaosEpmd] and
	// its admin API on [ChaosAdminPort], listening before erl starts. By
	// default it runs from [ChaosImage] as a sidecar container that shares
	// the node container's network and pid namespaces (the node's processes
	// see it, node.sh kills it by name, its port and admin API are on the
	// node's address); [WithChaosInContainer] runs it inside the node's
	// container instead, copied there.
	EpmdChaos EpmdMode = "chaos"
	// EpmdAuto starts no epmd: erl starts OTP's epmd itself (epmd -daemon) when
	// its command line has -sname or -name ([WithDistAtBoot] or [Node.Erl]).
	EpmdAuto EpmdMode = "auto"
	// EpmdChaosAuto installs chaos-epmd as the epmd in the erts bin directory, so
	// erl auto-starts chaos-epmd -daemon as if it were OTP's (the drop-in test).
	EpmdChaosAuto EpmdMode = "auto-chaos"
	// EpmdNone starts no epmd and runs erl with -start_epmd false.
	EpmdNone EpmdMode = "none"
)

func (m EpmdMode) valid() bool {
	switch m {
	case EpmdC, EpmdChaos, EpmdAuto, EpmdChaosAuto, EpmdNone:
		return true
	}
	return false
}

// explicit reports whether the fixture starts this epmd (so erl must not).
func (m EpmdMode) explicit() bool { return m == EpmdC || m == EpmdChaos }

// needsChaos reports whether the node's container needs the chaos-epmd
// binary copied in: erl auto-starts it, or [WithChaosInContainer] asked for it.
func (c epmdConfig) needsChaos() bool {
	return c.mode == EpmdChaosAuto || c.mode == EpmdChaos && c.inContainer
}

// sidecar reports whether chaos-epmd runs as the node's sidecar container.
func (c epmdConfig) sidecar() bool { return c.mode == EpmdChaos && !c.inContainer }

// PortVia says how a non-default epmd port reaches epmd and erl.
type PortVia int

const (
	// ViaEnv sets ERL_EPMD_PORT in the container: epmd and erl both read it.
	ViaEnv PortVia = iota
	// ViaFlag passes -port N to epmd and -epmd_port N to erl.
	ViaFlag
)

// Ports inside every node container.
const (
	AgentPort       = 7369 // the chaos_agent control channel
	ChaosAdminPort  = 4380 // chaos-epmd's admin API in EpmdChaos mode
	DefaultEpmdPort = 4369
)

// envAdminToken is the variable chaos-epmd reads its admin API token from.
const envAdminToken = "CHAOS_EPMD_ADMIN_TOKEN"

// ContainerIP, in an epmd address or an erl argument, is replaced in the
// container by the container's address on its first network.
const ContainerIP = "%CONTAINER_IP%"

// DefaultCookie is the cookie of nodes without [WithCookie].
const DefaultCookie = "chaos-epmd"

// DefaultStartTimeout bounds [Run] from container start to a ready agent.
const DefaultStartTimeout = 60 * time.Second

type options struct {
	release      Release
	app          *Application // nil: the release's OTP image
	image        string
	hostname     string
	nodeName     string // as given: "a", "a@host"
	longNames    bool
	cookie       string
	distAtBoot   bool
	hidden       bool
	noConnectAll bool
	distMin      int
	distMax      int
	erlArgs      []string
	env          map[string]string
	networks     []networkAttachment
	epmd         epmdConfig
	startTimeout time.Duration
	logger       *slog.Logger
	customizers  []testcontainers.ContainerCustomizer
	cleanup      func(func()) // WithCleanup
	pod          podConfig    // RunApp only
}

// defaultOptions are a node's options before any [Option]: OTP 25, the C
// epmd, [DefaultCookie], [DefaultStartTimeout].
func defaultOptions() options {
	return options{release: OTP25, cookie: DefaultCookie, epmd: epmdConfig{mode: EpmdC},
		startTimeout: DefaultStartTimeout}
}

// applyOptions applies opts over o, in order, and returns the result and the
// logger to use: [WithLogger]'s, else one that discards.
func applyOptions(o options, opts []Option) (options, *slog.Logger, error) {
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, nil, err
		}
	}
	log := o.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return o, log, nil
}

// terminateOnCleanup registers terminate, bounded by a minute, with cleanup
// ([WithCleanup]); a nil cleanup registers nothing.
func terminateOnCleanup(cleanup func(func()), terminate func(context.Context) error) {
	if cleanup == nil {
		return
	}
	cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = terminate(ctx)
	})
}

type networkAttachment struct {
	name    string
	aliases []string
}

type epmdConfig struct {
	mode        EpmdMode
	port        int
	via         PortVia
	address     []string
	faults      []string
	args        []string
	inContainer bool // WithChaosInContainer
}

// Option configures a node, in the shape of testcontainers-go modules: it
// also satisfies testcontainers.ContainerCustomizer (as a no-op), and
// testcontainers' own customizers reach [Run] through [WithCustomizers].
type Option func(*options) error

// Customize implements testcontainers.ContainerCustomizer; the option acts on
// the fixture's options, not on the request.
func (o Option) Customize(*testcontainers.GenericContainerRequest) error { return nil }

// WithRelease picks the OTP release (image built from that Debian release).
func WithRelease(r Release) Option {
	return func(o *options) error {
		if r.orDefault().OTP() == 0 {
			return fmt.Errorf("WithRelease: unknown release %q", r)
		}
		o.release = r.orDefault()
		return nil
	}
}

// WithImage uses an existing local image instead of the built ones, e.g. an
// official "erlang:27" image where a registry is reachable. It needs /bin/sh,
// awk and erl on PATH. A missing image is an error wrapping [ErrNoImage]
// that names it: nothing is pulled.
func WithImage(ref string) Option {
	return func(o *options) error { o.image = ref; return nil }
}

// WithHostname sets the container's hostname (the host part of short names).
// Default: the first network alias, else a generated name.
func WithHostname(h string) Option {
	return func(o *options) error { o.hostname = h; return nil }
}

// WithSName gives the node a short name: "a" (host: the container's hostname)
// or "a@host".
func WithSName(name string) Option {
	return func(o *options) error { o.nodeName, o.longNames = name, false; return nil }
}

// WithName gives the node a long name: "a@host.domain", "a@10.0.0.2", or "a",
// whose host becomes the container's IP address.
func WithName(name string) Option {
	return func(o *options) error { o.nodeName, o.longNames = name, true; return nil }
}

// WithCookie sets the magic cookie (erl -setcookie). Default [DefaultCookie].
func WithCookie(c string) Option {
	return func(o *options) error { o.cookie = c; return nil }
}

// WithDistAtBoot starts distribution on erl's command line (-sname/-name), as
// users do, instead of later through [Node.StartDistribution]. If it fails to
// start, erl exits and [Run] returns a [*StartError] with its exit status and log.
func WithDistAtBoot() Option {
	return func(o *options) error { o.distAtBoot = true; return nil }
}

// WithHidden makes the node hidden (erl -hidden).
func WithHidden() Option {
	return func(o *options) error { o.hidden = true; return nil }
}

// WithoutConnectAll runs erl with -connect_all false.
func WithoutConnectAll() Option {
	return func(o *options) error { o.noConnectAll = true; return nil }
}

// WithDistListen restricts the distribution listen ports
// (-kernel inet_dist_listen_min MIN inet_dist_listen_max MAX).
func WithDistListen(min, max int) Option {
	return func(o *options) error {
		if min <= 0 || max < min || max > 65535 {
			return fmt.Errorf("WithDistListen(%d, %d): want 0 < min <= max <= 65535", min, max)
		}
		o.distMin, o.distMax = min, max
		return nil
	}
}

// WithErlArgs appends arguments to erl's command line.
func WithErlArgs(args ...string) Option {
	return func(o *options) error { o.erlArgs = append(o.erlArgs, args...); return nil }
}

// WithEnv sets an environment variable in the container.
func WithEnv(key, value string) Option {
	return func(o *options) error {
		if o.env == nil {
			o.env = map[string]string{}
		}
		o.env[key] = value
		return nil
	}
}

// WithNetwork attaches the node to a Docker network (by name, e.g.
// DockerNetwork.Name) with DNS aliases. The first alias of the first network
// is the default hostname.
func WithNetwork(name string, aliases ...string) Option {
	return func(o *options) error {
		o.networks = append(o.networks, networkAttachment{name: name, aliases: aliases})
		return nil
	}
}

// WithEpmd selects the epmd mode (default [EpmdC]).
func WithEpmd(m EpmdMode) Option {
	return func(o *options) error {
		if !m.valid() {
			return fmt.Errorf("WithEpmd: unknown mode %q: want c, chaos, auto, auto-chaos or none", m)
		}
		o.epmd.mode = m
		return nil
	}
}

// WithChaosEpmd selects [EpmdChaos] and starts it with these fault specs
// (chaos-epmd -fault SPEC each; see package faults for the syntax).
func WithChaosEpmd(faultSpecs ...string) Option {
	return func(o *options) error {
		o.epmd.mode = EpmdChaos
		o.epmd.faults = append(o.epmd.faults, faultSpecs...)
		return nil
	}
}

// WithChaosInContainer runs an [EpmdChaos] chaos-epmd inside the node's
// container, the binary of [ChaosEpmdBinary] copied to
// /opt/chaos-epmd/chaos-epmd and started by node.sh, instead of as a sidecar
// container of [ChaosImage]. For tests that run the chaos-epmd binary
// itself in the container (e.g. its -names client).
func WithChaosInContainer() Option {
	return func(o *options) error { o.epmd.inContainer = true; return nil }
}

// WithEpmdPort makes epmd listen on port, and erl look for it there, via the
// ERL_EPMD_PORT environment variable or via flags (epmd -port, erl -epmd_port).
func WithEpmdPort(port int, via PortVia) Option {
	return func(o *options) error {
		if port <= 0 || port > 65535 {
			return fmt.Errorf("WithEpmdPort(%d): want 1..65535", port)
		}
		o.epmd.port, o.epmd.via = port, via
		return nil
	}
}

// WithEpmdAddress restricts the addresses epmd listens on (epmd -address
// a,b; epmd adds the loopback addresses itself). [ContainerIP] in an address
// stands for the container's own address.
func WithEpmdAddress(addrs ...string) Option {
	return func(o *options) error { o.epmd.address = append(o.epmd.address, addrs...); return nil }
}

// WithEpmdArgs appends arguments to the command line of an epmd the fixture
// starts (EpmdC, EpmdChaos), e.g. "-d" or "-relaxed_command_check".
func WithEpmdArgs(args ...string) Option {
	return func(o *options) error { o.epmd.args = append(o.epmd.args, args...); return nil }
}

// WithStartTimeout bounds the wait for the node's agent (default
// [DefaultStartTimeout]); the context passed to [Run] bounds it too.
func WithStartTimeout(d time.Duration) Option {
	return func(o *options) error { o.startTimeout = d; return nil }
}

// WithCustomizers applies testcontainers customizers to the node's container
// request, after the fixture's own settings.
func WithCustomizers(cs ...testcontainers.ContainerCustomizer) Option {
	return func(o *options) error { o.customizers = append(o.customizers, cs...); return nil }
}

// WithLogger makes the fixture log what it does (container ids, timings).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error { o.logger = l; return nil }
}
