package epmdtest

import (
	"errors"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
)

// TestPortsReservedUntilCleanup: the ports are below the ephemeral range,
// listenable, locked against every other open of their lock files (another
// process's included) while the test runs, and unlocked by its cleanup.
func TestPortsReservedUntilCleanup(t *testing.T) {
	lo, hi, err := candidates()
	if err != nil {
		t.Fatal(err)
	}
	var first int
	t.Run("reserve", func(t *testing.T) {
		first = Ports(t, 3)
		if first < lo || first+3 > hi {
			t.Fatalf("Ports(3) = %d, want within [%d, %d)", first, lo, hi)
		}
		for p := first; p < first+3; p++ {
			l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
			if err != nil {
				t.Fatalf("port %d: %v", p, err)
			}
			l.Close()
			if err := tryLock(p); !errors.Is(err, syscall.EWOULDBLOCK) {
				t.Fatalf("port %d: another lock got %v, want EWOULDBLOCK", p, err)
			}
			// flock(1) from another process agrees.
			out, err := exec.Command("flock", "-n", filepath.Join(lockDir, strconv.Itoa(p)), "true").CombinedOutput()
			if code := exitCode(err); code != 1 {
				t.Fatalf("port %d: flock -n in another process exited %d (%s), want 1", p, code, out)
			}
		}
		if p := Port(t); p >= first && p < first+3 {
			t.Fatalf("Port() = %d while %d-%d are reserved", p, first, first+2)
		}
	})
	for p := first; p < first+3; p++ {
		if err := tryLock(p); err != nil {
			t.Fatalf("port %d after the cleanup: %v, want unlocked", p, err)
		}
	}
}

// TestPortSkipsABusyPort: with every candidate port listened on but two,
// Port returns those two.
func TestPortSkipsABusyPort(t *testing.T) {
	lo, hi, err := candidates()
	if err != nil {
		t.Fatal(err)
	}
	var ls []net.Listener
	for p := lo; p < hi; p++ {
		if l, err := net.Listen("tcp4", ":"+strconv.Itoa(p)); err == nil {
			ls = append(ls, l)
		}
	}
	if len(ls) < 2 {
		t.Fatalf("only %d ports of %d-%d could be listened on", len(ls), lo, hi-1)
	}
	left := map[int]bool{}
	for _, l := range ls[len(ls)-2:] {
		left[l.Addr().(*net.TCPAddr).Port] = true
		l.Close()
	}
	for _, l := range ls[:len(ls)-2] {
		defer l.Close()
	}
	got := map[int]bool{Port(t): true, Port(t): true}
	if len(got) != 2 || !maps.Equal(got, left) {
		t.Fatalf("Port() twice = %v, want the two free ports %v", got, left)
	}
}

func tryLock(p int) error {
	f, err := os.OpenFile(filepath.Join(lockDir, strconv.Itoa(p)), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestReserveHoldsForTheProcess: a port from Reserve is locked against
// other processes, with no test cleanup to release it, and Port never
// hands it out again.
func TestReserveHoldsForTheProcess(t *testing.T) {
	p, err := Reserve()
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC() // the lock must not go with a collected *os.File
	out, err := exec.Command("flock", "-n", filepath.Join(lockDir, strconv.Itoa(p)), "true").CombinedOutput()
	if code := exitCode(err); code != 1 {
		t.Fatalf("port %d: flock -n in another process exited %d (%s), want 1", p, code, out)
	}
	if err := tryLock(p); !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Fatalf("port %d: another lock got %v, want EWOULDBLOCK", p, err)
	}
}
