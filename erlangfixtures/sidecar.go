package erlangfixtures

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/chaos-epmd/chaos-epmd/faults"
)

// Sidecar is a chaos-epmd container that owns a network namespace (network,
// aliases, hostname) which an application container joins, as a pod's
// containers join its first one. It listens on the epmd port of every
// address of the namespace, loopback included, and serves its admin API on
// [ChaosAdminPort].
//
// It is created through the engine API, not testcontainers: testcontainers
// publishes the ports an image exposes on the host, and nothing of the
// fixtures is published there.
type Sidecar struct {
	ID       string
	Hostname string
	IP       string // on its first network; "" without one
	token    string
}

// sidecarConfig is what [WithChaosSidecar] asks for.
type sidecarConfig struct {
	enabled bool
	faults  []string
	image   string // "" = ChaosImage
}

// WithChaosSidecar runs chaos-epmd, with these fault specs, as the
// application's sidecar in [RunApp]: its container starts first, owns the
// network namespace and listens before the application starts, so the
// application's own epmd -daemon finds the port taken and exits, and the
// node registers with chaos-epmd over loopback. Without it, RunApp starts
// the application alone and it starts its own epmd (the control).
func WithChaosSidecar(faultSpecs ...string) Option {
	return func(o *options) error {
		o.pod.sidecar.enabled = true
		o.pod.sidecar.faults = append(o.pod.sidecar.faults, faultSpecs...)
		return nil
	}
}

// WithSidecarImage makes [WithChaosSidecar], and an [EpmdChaos] node's
// sidecar, run this chaos-epmd image instead of [ChaosImage]'s (e.g. a build
// with a patch); it must exist locally.
func WithSidecarImage(ref string) Option {
	return func(o *options) error { o.pod.sidecar.image = ref; return nil }
}

// startSidecar creates and starts the sidecar and waits until its admin API
// answers (chaos-epmd binds the epmd port before it starts the API). On
// error the sidecar is returned when it exists, for cleanup.
func startSidecar(ctx context.Context, o options, hostname, token string) (*Sidecar, error) {
	img := o.pod.sidecar.image
	if img == "" {
		var err error
		if img, err = ChaosImage(ctx); err != nil {
			return nil, err
		}
	}
	if err := requireImage(ctx, img); err != nil {
		return nil, err
	}
	cli, err := dockerClient(ctx)
	if err != nil {
		return nil, err
	}
	args := []string{}
	for _, f := range o.pod.sidecar.faults {
		args = append(args, "-fault", f)
	}
	args = append(args, "-admin", fmt.Sprintf("0.0.0.0:%d", ChaosAdminPort))
	args = append(args, o.epmd.args...)
	endpoints := map[string]*network.EndpointSettings{}
	if len(o.networks) > 1 {
		return nil, fmt.Errorf("sidecar: one network at most, got %d", len(o.networks))
	}
	for _, nw := range o.networks {
		endpoints[nw.name] = &network.EndpointSettings{Aliases: nw.aliases}
	}
	hc := &container.HostConfig{}
	if ipv6Loopback() {
		hc.Sysctls = map[string]string{"net.ipv6.conf.lo.disable_ipv6": "0"}
	}
	created, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{
			Image:    img,
			Cmd:      args,
			Env:      []string{envAdminToken + "=" + token},
			Hostname: hostname,
			Labels:   fixtureLabels(),
		},
		HostConfig:       hc,
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: endpoints},
	})
	if err != nil {
		return nil, fmt.Errorf("create sidecar: %w", err)
	}
	s := &Sidecar{ID: created.ID, Hostname: hostname, token: token}
	if _, err := cli.ContainerStart(ctx, s.ID, client.ContainerStartOptions{}); err != nil {
		return s, fmt.Errorf("start sidecar: %w", err)
	}
	ins, err := cli.ContainerInspect(ctx, s.ID, client.ContainerInspectOptions{})
	if err != nil {
		return s, fmt.Errorf("inspect sidecar: %w", err)
	}
	if ins.Container.NetworkSettings != nil {
		for _, nw := range o.networks {
			if ep := ins.Container.NetworkSettings.Networks[nw.name]; ep != nil && ep.IPAddress.IsValid() {
				s.IP = ep.IPAddress.String()
			}
		}
		if s.IP == "" {
			for _, ep := range ins.Container.NetworkSettings.Networks {
				if ep != nil && ep.IPAddress.IsValid() {
					s.IP = ep.IPAddress.String()
				}
			}
		}
	}
	if s.IP == "" {
		return s, errors.New("sidecar has no address")
	}
	return s, s.waitListening(ctx, o.startTimeout)
}

func (s *Sidecar) waitListening(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	code, err := waitAdmin(ctx, s.Client(), s.state)
	switch {
	case errors.Is(err, errAdminExited):
		return fmt.Errorf("sidecar exited with status %d before its admin API answered:\n%s", code, s.logs(ctx))
	case err != nil:
		return fmt.Errorf("sidecar %w\n%s", err, s.logs(ctx))
	}
	return nil
}

// errAdminExited: the chaos-epmd container exited before its admin API
// answered.
var errAdminExited = errors.New("exited before its admin API answered")

// waitAdmin polls a chaos-epmd container's admin API until it answers
// (nil), the container exits (its status and errAdminExited, as state
// reports it), or ctx ends (the API's address and last error).
func waitAdmin(ctx context.Context, cl *faults.Client, state func(context.Context) (*container.State, error)) (int, error) {
	for delay := 10 * time.Millisecond; ; delay = min(delay*2, 100*time.Millisecond) {
		actx, acancel := context.WithTimeout(ctx, time.Second)
		_, err := cl.Faults(actx)
		acancel()
		if err == nil {
			return 0, nil
		}
		if st, serr := state(ctx); serr == nil && !st.Running {
			return st.ExitCode, errAdminExited
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("admin API at %s: %w (last: %v)", cl.URL, ctx.Err(), err)
		case <-time.After(delay):
		}
	}
}

// Client returns a client of the sidecar's admin API.
func (s *Sidecar) Client() *faults.Client {
	return &faults.Client{URL: "http://" + net.JoinHostPort(s.IP, strconv.Itoa(ChaosAdminPort)), Token: s.token}
}

// Logs returns the sidecar's log (chaos-epmd's stderr and stdout).
func (s *Sidecar) Logs(ctx context.Context) (string, error) {
	cli, err := dockerClient(ctx)
	if err != nil {
		return "", err
	}
	return containerLogs(ctx, cli, s.ID), nil
}

func (s *Sidecar) logs(ctx context.Context) string {
	l, err := s.Logs(context.WithoutCancel(ctx))
	if err != nil {
		return "(sidecar logs: " + err.Error() + ")"
	}
	return l
}

func (s *Sidecar) state(ctx context.Context) (*container.State, error) {
	cli, err := dockerClient(ctx)
	if err != nil {
		return nil, err
	}
	ins, err := cli.ContainerInspect(ctx, s.ID, client.ContainerInspectOptions{})
	if err != nil {
		return nil, err
	}
	return ins.Container.State, nil
}

// Terminate removes the sidecar's container. Safe on nil.
func (s *Sidecar) Terminate(ctx context.Context) error {
	if s == nil {
		return nil
	}
	cli, err := dockerClient(ctx)
	if err != nil {
		return err
	}
	if _, err := cli.ContainerRemove(ctx, s.ID, client.ContainerRemoveOptions{Force: true}); err != nil {
		return fmt.Errorf("remove sidecar: %w", err)
	}
	return nil
}

// ErrNoImage is wrapped by the error of a fixture asked to run an image the
// engine does not have: the fixtures never pull.
var ErrNoImage = errors.New("image not in the local engine (the fixtures never pull: build or load it first)")

// requireImage returns an error naming ref when the engine lacks it, so
// that testcontainers never tries to pull it.
func requireImage(ctx context.Context, ref string) error {
	cli, err := dockerClient(ctx)
	if err != nil {
		return err
	}
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("image %s: %w", ref, ErrNoImage)
		}
		return fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return nil
}
