package epmd_test

import (
	"net"
	"syscall"
	"testing"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// soKeepAlive returns the SO_KEEPALIVE option of c's socket.
func soKeepAlive(t *testing.T, c net.Conn) int {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

// TestWithoutKeepAlive: a listener from a file (as systemd passes one)
// accepts with Go's default keep-alive on; WithoutKeepAlive turns it off,
// as Listen's listeners have it.
func TestWithoutKeepAlive(t *testing.T) {
	tests := []struct {
		name string
		wrap func(net.Listener) net.Listener
		want int
	}{
		{name: "file listener", wrap: func(l net.Listener) net.Listener { return l }, want: 1},
		{name: "file listener without keep-alive", wrap: epmd.WithoutKeepAlive, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			f, err := orig.(*net.TCPListener).File()
			orig.Close()
			if err != nil {
				t.Fatal(err)
			}
			fl, err := net.FileListener(f)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			l := tt.wrap(fl)
			defer l.Close()
			client, err := net.Dial("tcp4", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			c, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := soKeepAlive(t, c); got != tt.want {
				t.Errorf("SO_KEEPALIVE of the accepted connection = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestListenWithoutKeepAlive: Listen's listeners accept without
// keep-alive, which WithoutKeepAlive matches.
func TestListenWithoutKeepAlive(t *testing.T) {
	ls, err := epmd.Listen(t.Context(), "127.0.0.1", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		defer l.Close()
	}
	client, err := net.Dial("tcp4", ls[0].Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := ls[0].Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := soKeepAlive(t, c); got != 0 {
		t.Errorf("SO_KEEPALIVE of a connection accepted by Listen's listener = %d, want 0", got)
	}
}
