package erlangfixtures_test

import (
	"context"
	"testing"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
)

// An IPv4 or malformed subnet is refused before the engine is asked.
func TestNewIPv6NetworkRefusesNonIPv6Subnets(t *testing.T) {
	for _, tc := range []struct{ name, subnet, want string }{
		{"IPv4", "10.0.0.0/8", `NewIPv6Network: "10.0.0.0/8" is not an IPv6 prefix`},
		{"IPv4-mapped", "::ffff:10.0.0.0/104", `NewIPv6Network: "::ffff:10.0.0.0/104" is not an IPv6 prefix`},
		{"no length", "fd00:c0de::", `NewIPv6Network: "fd00:c0de::" is not an IPv6 prefix`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nw, err := erlangfixtures.NewIPv6Network(context.Background(), tc.subnet)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("NewIPv6Network(%q) = %v, %v; want error %q", tc.subnet, nw, err, tc.want)
			}
		})
	}
}
