package erlangfixtures

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
)

// NewNetwork creates a fresh bridge network carrying the fixture labels. Remove
// it with Remove once its containers are gone.
func NewNetwork(ctx context.Context) (*testcontainers.DockerNetwork, error) {
	configureTestcontainers()
	nw, err := network.New(ctx, network.WithLabels(fixtureLabels()))
	if err != nil {
		return nil, fmt.Errorf("create network: %w", err)
	}
	return nw, nil
}

// Cluster is N nodes on one fresh network. Node i (from 0) has hostname and
// network alias "n<i+1>" and, unless its options say otherwise, short name
// n<i+1>@n<i+1>.
type Cluster struct {
	Network *testcontainers.DockerNetwork
	Nodes   []*Node
}

// ClusterOption configures [RunCluster]. Every node [Option] is one too:
// it applies to every node, except [WithCleanup], which applies to the
// cluster.
type ClusterOption interface{ applyCluster(*clusterOptions) }

type clusterOption func(*clusterOptions)

func (f clusterOption) applyCluster(c *clusterOptions) { f(c) }

// applyCluster makes an Option a ClusterOption.
func (o Option) applyCluster(c *clusterOptions) {
	var probe options
	if o(&probe) == nil && probe.cleanup != nil {
		c.cleanup = probe.cleanup
		return
	}
	c.common = append(c.common, o)
}

type clusterOptions struct {
	common  []Option
	perNode map[int][]Option
	join    bool
	cleanup func(func())
}

// WithNodeOptions applies node options to every node (before per-node ones).
func WithNodeOptions(opts ...Option) ClusterOption {
	return clusterOption(func(c *clusterOptions) { c.common = append(c.common, opts...) })
}

// WithNodeOptionsAt applies node options to node i (from 0), e.g. a release.
func WithNodeOptionsAt(i int, opts ...Option) ClusterOption {
	return clusterOption(func(c *clusterOptions) {
		if c.perNode == nil {
			c.perNode = map[int][]Option{}
		}
		c.perNode[i] = append(c.perNode[i], opts...)
	})
}

// Joined starts distribution on every node that did not start it at boot and
// has every node ping every other one, so all are connected whatever
// -connect_all says. A hidden node is joined the same way.
func Joined() ClusterOption {
	return clusterOption(func(c *clusterOptions) { c.join = true })
}

// WithCleanup registers Terminate with the caller's cleanup function
// (t.Cleanup, Ginkgo's DeferCleanup) as soon as there is something to remove,
// so it is removed even when the fixture fails: for [RunCluster] the cluster
// (once the network exists), for [Run] the node, for [RunApp] the app, its
// sidecar and probe. Without it, the caller must Terminate what they return,
// which they return even on error.
func WithCleanup(register func(func())) Option {
	return func(o *options) error { o.cleanup = register; return nil }
}

// RunCluster starts n nodes in parallel on one fresh network, and joins them
// with [Joined]. A failure's error carries every node's log.
func RunCluster(ctx context.Context, n int, opts ...ClusterOption) (*Cluster, error) {
	var co clusterOptions
	for _, o := range opts {
		o.applyCluster(&co)
	}
	nw, err := NewNetwork(ctx)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Network: nw, Nodes: make([]*Node, n)}
	terminateOnCleanup(co.cleanup, c.Terminate)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		host := fmt.Sprintf("n%d", i+1)
		nodeOpts := []Option{
			WithHostname(host), WithSName(host), WithNetwork(nw.Name, host),
		}
		nodeOpts = append(nodeOpts, co.common...)
		nodeOpts = append(nodeOpts, co.perNode[i]...)
		wg.Go(func() {
			c.Nodes[i], errs[i] = Run(ctx, nodeOpts...)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("node %s: %w", host, errs[i])
			}
		})
	}
	wg.Wait()
	err = errors.Join(errs...)
	if err == nil && co.join {
		err = c.Join(ctx)
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, c.Logs(ctx))
		}
	}
	if err != nil && co.cleanup == nil {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = c.Terminate(tctx)
	}
	return c, err
}

// Join starts distribution where it is not running yet, then has every node
// ping every other node; any pang is an error.
func (c *Cluster) Join(ctx context.Context) error {
	if err := c.each(func(nd *Node) error {
		out, err := nd.Eval(ctx, "node()")
		if err != nil {
			return err
		}
		if out == "nonode@nohost" {
			return nd.StartDistribution(ctx)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("start distribution: %w", err)
	}
	return c.each(func(nd *Node) error {
		var errs []error
		for _, other := range c.Nodes {
			if other == nd {
				continue
			}
			res, err := nd.Ping(ctx, other.Name())
			if err == nil && res != "pong" {
				err = fmt.Errorf("ping %s from %s: %s", other.Name(), nd.Name(), res)
			}
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

// each runs f on every node in parallel.
func (c *Cluster) each(f func(*Node) error) error {
	errs := make([]error, len(c.Nodes))
	var wg sync.WaitGroup
	for i, nd := range c.Nodes {
		if nd == nil {
			continue
		}
		wg.Go(func() { errs[i] = f(nd) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Logs returns every node's container log, each under a header line.
func (c *Cluster) Logs(ctx context.Context) string {
	var b strings.Builder
	for _, nd := range c.Nodes {
		if nd == nil || nd.ctr == nil {
			continue
		}
		l, err := nd.Logs(ctx)
		fmt.Fprintf(&b, "----- %s (%s) -----\n%s", nd.Name(), nd.ctr.GetContainerID()[:12], l)
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
		}
		if l != "" && !strings.HasSuffix(l, "\n") {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// Terminate removes the nodes' containers one at a time, then the network.
//
// Not in parallel: Debian bookworm's Docker engine (docker.io 20.10.24) can
// deadlock when two containers leave one network at once. A container's
// exit takes the network's lock, then the controller's, to clear the
// others' names from its hosts file, while the daemon's watch loop,
// handling the other container's endpoint deletion, takes them the other
// way round (moby/moby#42545, whose 20.10 backport, moby/libnetwork#2679,
// bookworm lacks). The engine then answers no network call again until
// restarted.
func (c *Cluster) Terminate(ctx context.Context) error {
	if c == nil {
		return nil
	}
	var errs []error
	for _, nd := range c.Nodes {
		errs = append(errs, nd.Terminate(ctx))
	}
	err := errors.Join(errs...)
	if c.Network != nil {
		if rerr := c.Network.Remove(ctx); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove network %s: %w", c.Network.Name, rerr))
		}
	}
	return err
}
