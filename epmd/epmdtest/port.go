// Package epmdtest provides what tests of an epmd need beyond the protocol:
// TCP ports that stay theirs while they start and stop servers on them.
package epmdtest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A port from net.Listen(":0") is in the kernel's ephemeral range: once
// closed, any process's next connect or bind(0) may take it. A test that
// frees a port for a server to bind, or stops a server and starts another
// on the same port (a takeover, a restart), then talks to whoever took it.
// Port hands out ports below the ephemeral range instead, which the kernel
// never assigns by itself, and reserves each with a lock file shared by
// every test process on the machine.

// rangeWidth is how many ports below the ephemeral range are used.
const rangeWidth = 8000

// lockDir holds one lock file per port reserved by a running test.
var lockDir = filepath.Join(os.TempDir(), "chaos-epmd-test-ports")

// Port returns a TCP port outside the kernel's ephemeral range, free on
// every address a moment ago and reserved for tb until its cleanup: no
// other caller of Port, in this process or another, gets it meanwhile.
func Port(tb testing.TB) int {
	tb.Helper()
	return Ports(tb, 1)
}

// Ports returns the first of n consecutive such ports.
func Ports(tb testing.TB, n int) int {
	tb.Helper()
	first, locks, err := find(n)
	if err != nil {
		tb.Fatalf("epmdtest: %v", err)
	}
	tb.Cleanup(func() {
		for _, f := range locks {
			f.Close() // the lock goes with the descriptor
		}
	})
	return first
}

// Reserve returns a port as Port does, for code with no testing.TB at hand
// (a harness's helpers): it stays reserved until the process exits.
func Reserve() (int, error) {
	first, locks, err := find(1)
	if err != nil {
		return 0, fmt.Errorf("epmdtest: %w", err)
	}
	kept.Lock()
	kept.files = append(kept.files, locks...) // an unreferenced *os.File is closed by its finalizer
	kept.Unlock()
	return first, nil
}

// kept holds the lock files of the ports Reserve handed out.
var kept struct {
	sync.Mutex
	files []*os.File
}

// find reserves n consecutive ports from a random start among the
// candidates and returns the first with the lock files that hold them.
func find(n int) (int, []*os.File, error) {
	lo, hi, err := candidates()
	if err != nil {
		return 0, nil, err
	}
	if err := os.MkdirAll(lockDir, 0o1777); err != nil {
		return 0, nil, err
	}
	span := hi - lo - n + 1 // first can be hi-n
	start := rand.IntN(span)
	for i := range span {
		first := lo + (start+i)%span
		if locks, ok := reserve(first, n); ok {
			return first, locks, nil
		}
	}
	return 0, nil, fmt.Errorf("no %d consecutive free ports in %d-%d", n, lo, hi-1)
}

// candidates returns the ports [lo, hi) Port chooses from: below the
// ephemeral range, above the privileged ports, never epmd's 4369.
func candidates() (lo, hi int, err error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, fmt.Errorf("the ephemeral port range: %v", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("the ephemeral port range: %q, want two numbers", b)
	}
	eph, err := strconv.Atoi(f[0])
	if err != nil {
		return 0, 0, fmt.Errorf("the ephemeral port range: %q, want two numbers", b)
	}
	hi = eph
	lo = max(hi-rangeWidth, 4370)
	if hi-lo < 100 {
		return 0, 0, fmt.Errorf("the ephemeral range starts at %d: too few ports below it", eph)
	}
	return lo, hi, nil
}

// reserve locks ports first..first+n-1 and checks each can be listened on,
// on every address, IPv4 and IPv6.
func reserve(first, n int) ([]*os.File, bool) {
	var locks []*os.File
	release := func() {
		for _, f := range locks {
			f.Close()
		}
	}
	for p := first; p < first+n; p++ {
		f, err := os.OpenFile(filepath.Join(lockDir, strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			release()
			return nil, false
		}
		locks = append(locks, f)
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil || !free(p) {
			release()
			return nil, false
		}
	}
	return locks, true
}

// free reports whether p can be listened on everywhere an epmd binds.
func free(p int) bool {
	for _, a := range []struct{ network, host string }{{"tcp4", "0.0.0.0"}, {"tcp6", "::"}} {
		l, err := net.Listen(a.network, net.JoinHostPort(a.host, strconv.Itoa(p)))
		if err != nil {
			// A host without IPv6 cannot hold the port there either.
			if a.network == "tcp6" && (errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EAFNOSUPPORT)) {
				continue
			}
			return false
		}
		l.Close()
	}
	return true
}

// DialMultipath connects to addr asking for Multipath TCP, and returns
// whether the connection it got is MPTCP (MultipathTCP's answer): a plain
// TCP listener, as the C epmd's are, gives plain TCP. The kernel completes
// the handshake before any accept, so the listener need not accept.
func DialMultipath(tb testing.TB, addr string) (bool, error) {
	tb.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	d.SetMultipathTCP(true)
	c, err := d.Dial("tcp", addr)
	if err != nil {
		tb.Fatalf("connecting to %s asking for MPTCP: %v", addr, err)
	}
	defer c.Close()
	return c.(*net.TCPConn).MultipathTCP()
}
