package epmd_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

const ioTimeout = 5 * time.Second

// startServer serves s on a fresh loopback port until the test ends.
func startServer(t testing.TB, s *epmd.Server) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-errc; !errors.Is(err, epmd.ErrServerClosed) && !errors.Is(err, epmd.ErrServerKilled) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return l.Addr().String()
}

// exchange sends raw bytes on a new connection, half-closes it when
// halfClose is set, and returns what arrived until the server closed it.
func exchange(t testing.TB, addr string, raw []byte, halfClose bool) []byte {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := conn.Write(raw); err != nil {
		t.Fatal(err)
	}
	if halfClose {
		_ = conn.(*net.TCPConn).CloseWrite()
	}
	got, err := io.ReadAll(conn)
	if err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Fatalf("read: %v (got % x)", err, got)
	}
	return got
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "read" && !op.Timeout()
}

// framed prefixes body with its 16-bit length.
func framed(body []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(body))), body...)
}

// register opens a registration connection and returns it with the reply.
func register(t testing.TB, addr string, req *epmd.Alive2Req) (net.Conn, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := conn.Write(epmd.AppendFrame(nil, req)); err != nil {
		t.Fatal(err)
	}
	n := 4
	if req.HighVsn >= 6 {
		n = 6
	}
	reply := make([]byte, n)
	if _, err := io.ReadFull(conn, reply); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, reply
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(ioTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func TestFraming(t *testing.T) {
	addr := startServer(t, &epmd.Server{})
	port := uint16(netip.MustParseAddrPort(addr).Port())
	namesReply := binary.BigEndian.AppendUint32(nil, uint32(port))
	tests := []struct {
		name string
		raw  []byte
		want []byte
	}{
		{"names", []byte{0, 1, 'n'}, namesReply},
		{"len 0 dropped", []byte{0, 0, 'n'}, []byte{}},
		{"len 3057 answered", append([]byte{0x0b, 0xf1, 'n'}, make([]byte, 3056)...), namesReply},
		{"len 3058 dropped", append([]byte{0x0b, 0xf2, 'n'}, make([]byte, 3057)...), []byte{}},
		{"len 63000 dropped", []byte{0xf6, 0x18, 'n'}, []byte{}},
		{"surplus bytes in the same segment dropped", []byte{0, 1, 'n', 'x'}, []byte{}},
		{"two pipelined requests dropped", []byte{0, 1, 'n', 0, 1, 'n'}, []byte{}},
		{"partial packet dropped", []byte{0, 5, 'n'}, []byte{}},
		{"one byte dropped", []byte{0}, []byte{}},
		{"garbage dropped", []byte{0, 1, 'q'}, []byte{}},
		{"port2 unknown", framed([]byte("zfoo")), []byte{'w', 1}},
		{"port2 NUL inside dropped", framed([]byte("zf\x00o")), []byte{}},
		{"stop without relaxed dropped", framed([]byte("sfoo")), []byte{}},
		{"kill with no nodes", []byte{0, 1, 'k'}, []byte("OK")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "kill with no nodes" {
				addr := startServer(t, &epmd.Server{})
				if got := exchange(t, addr, tt.raw, false); !bytes.Equal(got, tt.want) {
					t.Fatalf("got % x, want % x", got, tt.want)
				}
				return
			}
			if got := exchange(t, addr, tt.raw, true); !bytes.Equal(got, tt.want) {
				t.Fatalf("got % x (%q), want % x", got, got, tt.want)
			}
		})
	}
}

func TestRegistrationLifetime(t *testing.T) {
	reg := &epmd.MemRegistry{Now: fixedClock(1795238990)}
	s := &epmd.Server{Registry: reg, RelaxedCommandCheck: true}
	addr := startServer(t, s)

	conn, reply := register(t, addr, &epmd.Alive2Req{PortNo: 4711, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "alpha"})
	if want := []byte{'v', 0, 0x6b, 0x01, 0x2c, 0x4f}; !bytes.Equal(reply, want) {
		t.Fatalf("ALIVE2 reply % x, want % x", reply, want)
	}
	_, dup := register(t, addr, &epmd.Alive2Req{PortNo: 1, NodeType: 'M', HighVsn: 5, LowVsn: 5, Name: "alpha"})
	if want := []byte{'y', 1, 0, 99}; !bytes.Equal(dup, want) {
		t.Fatalf("duplicate reply % x, want % x", dup, want)
	}
	got := exchange(t, addr, framed([]byte("zalpha")), true)
	want := []byte{'w', 0, 0x12, 0x67, 'M', 0, 0, 6, 0, 5, 0, 5, 'a', 'l', 'p', 'h', 'a', 0, 0}
	if !bytes.Equal(got, want) {
		t.Fatalf("PORT2 % x, want % x", got, want)
	}
	// Any byte on the registration connection unregisters.
	if _, err := conn.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	if n, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatalf("registration connection answered %d bytes", n)
	}
	waitFor(t, "alpha unregistered", func() bool { _, ok := reg.Lookup("alpha"); return !ok })
	_, again := register(t, addr, &epmd.Alive2Req{PortNo: 4711, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "alpha"})
	if want := []byte{'v', 0, 0x6b, 0x01, 0x2c, 0x50}; !bytes.Equal(again, want) {
		t.Fatalf("re-registration reply % x, want % x (creation bumped)", again, want)
	}
}

// TestChurnOnTwoListeners: registrations made and ended at once on two
// listeners, each with its own accept loop, all get their reply and all
// end. The watcher ends a registration and gives its connection's object
// to whichever accept loop takes one next: the loop that served it must
// not touch it once it is watched (under -race, such a touch is reported
// as a race with the other loop's accept).
func TestChurnOnTwoListeners(t *testing.T) {
	const clients, cycles = 4, 150
	reg := &epmd.MemRegistry{}
	s := &epmd.Server{Registry: reg}
	addrs := []string{startServer(t, s), startServer(t, s)}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Go(func() {
			addr := addrs[i%2]
			reply := make([]byte, 6)
			for k := range cycles {
				req := &epmd.Alive2Req{PortNo: 4711, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: fmt.Sprintf("c%d_%d", i, k)}
				conn, err := net.Dial("tcp4", addr)
				if err != nil {
					errs <- err
					return
				}
				_ = conn.SetDeadline(time.Now().Add(ioTimeout))
				_, err = conn.Write(epmd.AppendFrame(nil, req))
				if err == nil {
					_, err = io.ReadFull(conn, reply)
				}
				conn.Close()
				if err == nil && (reply[0] != 'v' || reply[1] != 0) {
					err = fmt.Errorf("reply % x, want 76 00 and a creation", reply)
				}
				if err != nil {
					errs <- fmt.Errorf("client %d, cycle %d (%s): %w", i, k, addr, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitFor(t, "every registration ended and its connection closed", func() bool {
		return reg.Len() == 0 && s.OpenConns() == 0
	})
}

func TestFailedAlive2KeepsConnection(t *testing.T) {
	s := &epmd.Server{PacketTimeout: 50 * time.Millisecond}
	addr := startServer(t, s)
	conn, reply := register(t, addr, &epmd.Alive2Req{HighVsn: 6, Name: "\xff"})
	if want := []byte{'v', 1, 0, 0, 0, 99}; !bytes.Equal(reply, want) {
		t.Fatalf("reply % x, want % x", reply, want)
	}
	// Well past the packet timeout the connection is still open.
	_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err := conn.Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read on failed registration connection: %v, want our own timeout", err)
	}
}

func TestPacketTimeoutClosesIdleConnection(t *testing.T) {
	s := &epmd.Server{PacketTimeout: 100 * time.Millisecond}
	addr := startServer(t, s)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(ioTimeout))
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: %v, want EOF from the server", err)
	}
}

func TestStopClosesRegistration(t *testing.T) {
	s := &epmd.Server{RelaxedCommandCheck: true}
	addr := startServer(t, s)
	conn, _ := register(t, addr, &epmd.Alive2Req{HighVsn: 6, Name: "beta"})
	if got := exchange(t, addr, framed([]byte("sbeta")), true); string(got) != "STOPPED" {
		t.Fatalf("STOP beta = %q", got)
	}
	_ = conn.SetReadDeadline(time.Now().Add(ioTimeout))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("stopped node's connection still open")
	}
	if got := exchange(t, addr, framed([]byte("sbeta")), true); string(got) != "NOEXISTSTOPPED" {
		t.Fatalf("STOP unknown = %q", got)
	}
}

func TestNamesAndDump(t *testing.T) {
	s := &epmd.Server{Port: 4369}
	addr := startServer(t, s)
	c1, _ := register(t, addr, &epmd.Alive2Req{PortNo: 4711, HighVsn: 6, Name: "beta"})
	register(t, addr, &epmd.Alive2Req{PortNo: 4712, HighVsn: 6, Name: "gamma"})
	got := exchange(t, addr, []byte{0, 1, 'n'}, true)
	want := append([]byte{0, 0, 0x11, 0x11}, "name gamma at port 4712\nname beta at port 4711\n"...)
	if !bytes.Equal(got, want) {
		t.Fatalf("NAMES %q, want %q", got, want)
	}
	c1.Close()
	waitFor(t, "beta unregistered", func() bool { _, ok := s.NodeTable().Lookup("beta"); return !ok })
	got = exchange(t, addr, []byte{0, 1, 'd'}, true)
	nodes := s.NodeTable().Nodes(nil)
	unused := s.NodeTable().Unused(nil)
	want = append([]byte{0, 0, 0x11, 0x11}, "active name     <gamma> at port 4712, fd = "...)
	want = append(want, itoa(nodes[0].FD)+"\n\x00old/unused name <beta>, port = 4711, fd = "+itoa(unused[0].FD)+" \n\x00"...)
	if !bytes.Equal(got, want) {
		t.Fatalf("DUMP %q, want %q", got, want)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestKillStopsServer(t *testing.T) {
	before := runtime.NumGoroutine()
	s := &epmd.Server{}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	addr := l.Addr().String()
	if got := exchange(t, addr, []byte{0, 1, 'k'}, false); string(got) != "OK" {
		t.Fatalf("KILL = %q", got)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, epmd.ErrServerKilled) {
			t.Fatalf("Serve = %v, want ErrServerKilled", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("server still serving after KILL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= before })
}

func TestKillRefusedWithNodes(t *testing.T) {
	addr := startServer(t, &epmd.Server{})
	register(t, addr, &epmd.Alive2Req{HighVsn: 6, Name: "n"})
	if got := exchange(t, addr, []byte{0, 1, 'k'}, true); string(got) != "NO" {
		t.Fatalf("KILL with nodes = %q, want NO", got)
	}
}

func TestIsLocalPeer(t *testing.T) {
	tests := []struct {
		name          string
		remote, local string
		want          bool
	}{
		{"127.0.0.1", "127.0.0.1", "127.0.0.1", true},
		{"127.1.2.3", "127.1.2.3", "10.0.0.1", true},
		{"::1", "::1", "::1", true},
		{"own address", "10.0.0.5", "10.0.0.5", true},
		{"other host", "10.0.0.6", "10.0.0.5", false},
		{"mapped loopback is not local", "::ffff:127.0.0.1", "::ffff:10.0.0.5", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := epmd.IsLocalPeer(netip.MustParseAddr(tt.remote), netip.MustParseAddr(tt.local))
			if got != tt.want {
				t.Fatalf("IsLocalPeer(%s, %s) = %v", tt.remote, tt.local, got)
			}
		})
	}
}

func TestListenAddrs(t *testing.T) {
	tests := []struct {
		name    string
		address string
		want    string
		err     string
	}{
		{"empty", "", "[0.0.0.0 ::]", ""},
		{"only separators", " ,, ", "[0.0.0.0 ::]", ""},
		{"loopbacks added first, deduplicated", "10.1.2.3,127.0.0.1 ::1 127.0.0.2", "[127.0.0.1 ::1 10.1.2.3 127.0.0.2]", ""},
		{"unparsable", "10.1.2.3,foo", "", `cannot parse IP address "foo"`},
		{"13 explicit addresses", "10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4,10.0.0.5,10.0.0.6,10.0.0.7,10.0.0.8,10.0.0.9,10.0.0.10,10.0.0.11,10.0.0.12,10.0.0.13", "", ""},
		{"14 explicit addresses", "10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4,10.0.0.5,10.0.0.6,10.0.0.7,10.0.0.8,10.0.0.9,10.0.0.10,10.0.0.11,10.0.0.12,10.0.0.13,10.0.0.14", "", "cannot listen on more than 16 IP addresses"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addrs, _, err := epmd.ListenAddrs(tt.address)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != "" {
				if got := netipString(addrs); got != tt.want {
					t.Fatalf("addrs = %s, want %s", got, tt.want)
				}
			}
		})
	}
}

func netipString(as []netip.Addr) string {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, a := range as {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(a.String())
	}
	b.WriteByte(']')
	return b.String()
}

func TestListenAddrInUse(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = epmd.Listen(context.Background(), "127.0.0.1", port, nil)
	if !errors.Is(err, epmd.ErrAddrInUse) {
		t.Fatalf("Listen on a taken port: %v, want ErrAddrInUse", err)
	}
}

// FuzzReadFrame sends arbitrary bytes to a live server and half-closes:
// the server must end every such connection, answer only with well-formed
// replies, and never lose the registration held by another connection.
func FuzzReadFrame(f *testing.F) {
	for _, seed := range [][]byte{
		{0, 1, 'n'}, {0, 0}, {0, 1, 'n', 0, 1, 'n'}, {0x0b, 0xf2}, framed([]byte("zkeeper")),
		framed(alive2Body), framed([]byte("sfoo")), {0, 1, 'd'}, {0, 3, 'z', 0xff, 0},
	} {
		f.Add(seed)
	}
	s := &epmd.Server{PacketTimeout: time.Second}
	addr := startServer(f, s)
	register(f, addr, &epmd.Alive2Req{PortNo: 7, HighVsn: 6, Name: "keeper"})
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) >= 3 && raw[2] == 'k' {
			raw[2] = 'K' // KILL would end the server under test; it has its own test
		}
		got := exchange(t, addr, raw, true)
		if len(got) > 0 {
			switch got[0] {
			case 'w', 'v', 'y', 0, 'N', 'S', 'O':
			default:
				t.Fatalf("reply % x to % x", got, raw)
			}
		}
		if n, ok := s.NodeTable().Lookup("keeper"); !ok || n.PortNo != 7 {
			t.Fatalf("registration of keeper lost after % x", raw)
		}
	})
}
