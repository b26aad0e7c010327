package erlangfixtures

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
)

// NewIPv6Network creates a fresh bridge network with IPv6 enabled on the
// given subnet (a unique local prefix such as fd00:c0de::/64; networks on
// one engine need distinct ones) and an IPv4 subnet the engine picks, with
// the fixture labels. Containers on it get an address of each family, and
// Docker's DNS answers their aliases with both. Remove it with Remove once
// its containers are gone.
func NewIPv6Network(ctx context.Context, subnet string) (*testcontainers.DockerNetwork, error) {
	configureTestcontainers()
	p, err := netip.ParsePrefix(subnet)
	if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() {
		return nil, fmt.Errorf("NewIPv6Network: %q is not an IPv6 prefix", subnet)
	}
	nw, err := tcnetwork.New(ctx, tcnetwork.WithLabels(fixtureLabels()), tcnetwork.WithEnableIPv6(),
		tcnetwork.WithIPAM(&network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: p.Masked()}}}))
	if err != nil {
		return nil, fmt.Errorf("create IPv6 network %s: %w", subnet, err)
	}
	return nw, nil
}
