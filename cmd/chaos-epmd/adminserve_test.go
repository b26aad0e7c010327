package main_test

import (
	"net"
	"testing"

	"github.com/chaos-epmd/chaos-epmd/faults"
)

// serveAdmin serves a on a loopback port until the test ends and returns
// its address.
func serveAdmin(t *testing.T, a *faults.Admin) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = a.Serve(l) }()
	t.Cleanup(func() { _ = a.Close() })
	return l.Addr().String()
}
