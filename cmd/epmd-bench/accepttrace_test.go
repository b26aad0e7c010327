package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A perf script excerpt: process 100 (threads 100, 101) makes a fast
// accept and a slow one, which starts on CPU 0, sleeps 2 ms, runs on CPU
// 1, waits 0.4 ms for a CPU and ends on CPU 0, and whose CPUs spend 0.2 ms
// in softirqs while it runs there (0.5 ms more while it sleeps); process
// 200 makes one accept4 with 1 ms of softirqs inside, and exits a call
// whose entry came before the trace; other events, other processes'
// switches and the events of tasks perf has no record of (-1/-1) are
// ignored. The scheduler's updates of thread 101's run time, less 2 µs
// each (stealSlack), say the host stole 0.15 ms of 0.2 ms from 0.9 ms,
// so at least 0.05 ms inside the slow call from 1.0 ms; 0.1 ms of 0.2 ms
// inside it; and 0.1 ms of 0.15 ms from 3.9 ms, so at least 0.05 ms
// before the call's exit at 4.0 ms. The updates made at its switches out
// (1.2, 3.5 and 4.1 ms) may read a stale clock and are not counted.
// Thread 200's say at least 0.5 ms of its call's last 1.5 ms; an update
// out of time order (6.9 ms, after 7.0) is not counted.
const acceptScript = `   100/101  [000] 5000.000100:  syscalls:sys_enter_accept4: fd: 0x00000003, upeer_sockaddr: 0x0, upeer_addrlen: 0x0, flags: 0x00080800
   100/101  [000] 5000.000600:   syscalls:sys_exit_accept4: 0x7
   100/101  [000] 5000.000900:   sched:sched_stat_runtime: comm=chaos epmd pid=101 runtime=40000 [ns]
   100/101  [000] 5000.001000:  syscalls:sys_enter_accept4: fd: 0x00000003, upeer_sockaddr: 0x0, upeer_addrlen: 0x0, flags: 0x00080800
   100/101  [000] 5000.001100:          irq:softirq_entry: vec=3 [action=NET_RX]
   100/101  [000] 5000.001150:           irq:softirq_exit: vec=3 [action=NET_RX]
   100/101  [000] 5000.001100:   sched:sched_stat_runtime: comm=chaos epmd pid=101 runtime=48000 [ns]
   100/101  [000] 5000.001200:   sched:sched_stat_runtime: comm=chaos epmd pid=101 runtime=0 [ns]
   100/101  [000] 5000.001200:         sched:sched_switch: prev_comm=chaos epmd prev_pid=101 prev_prio=120 prev_state=D ==> next_comm=swapper/0 next_pid=0 next_prio=120
     0/0    [000] 5000.002000:          irq:softirq_entry: vec=3 [action=NET_RX]
     0/0    [000] 5000.002500:           irq:softirq_exit: vec=3 [action=NET_RX]
     0/0    [001] 5000.003200:         sched:sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=chaos epmd next_pid=101 next_prio=120
    -1/-1   [000] 5000.003300:         sched:sched_switch: prev_comm=kworker/0:1 prev_pid=19852 prev_prio=120 prev_state=R+ ==> next_comm=kworker/u8:3 next_pid=32056 next_prio=120
    -1/-1   [000] 5000.003400:  syscalls:sys_enter_accept4: fd: 0x00000003, upeer_sockaddr: 0x0, upeer_addrlen: 0x0, flags: 0x00080800
   100/101  [001] 5000.003400:          irq:softirq_entry: vec=3 [action=NET_RX]
   100/101  [001] 5000.003400:   sched:sched_stat_runtime: comm=chaos epmd pid=101 runtime=98000 [ns]
   100/101  [001] 5000.003500:   sched:sched_stat_runtime: comm=chaos epmd pid=101 runtime=0 [ns]
   100/101  [001] 5000.003500:         sched:sched_switch: prev_comm=chaos epmd prev_pid=101 prev_prio=120 prev_state=R+ ==> next_comm=bench next_pid=300 next_prio=120
   300/300  [001] 5000.003600:           irq:softirq_exit: vec=3 [action=NET_RX]
   300/300  [001] 5000.003700:   sched:sched_stat_runtime: comm=bench pid=300 runtime=1 [ns]
   300/300  [000] 5000.003900:         sched:sched_switch: prev_comm=bench prev_pid=300 prev_prio=120 prev_state=S ==> next_comm=chaos epmd next_pid=101 next_prio=120
   100/101  [000] 5000.003950:          irq:softirq_entry: vec=3 [action=NET_RX]
   100/101  [000] 5000.004000:   syscalls:sys_exit_accept4: 0x8
   100/101  [000] 5000.004050:           irq:softirq_exit: vec=3 [action=NET_RX]
   100/101  [000] 5000.004050:   sched:sched_stat_runtime: comm=chaos epmd pid=101 runtime=48000 [ns]
   100/101  [000] 5000.004100:   sched:sched_stat_runtime: comm=chaos epmd pid=101 runtime=0 [ns]
   100/101  [000] 5000.004100:         sched:sched_switch: prev_comm=chaos epmd prev_pid=101 prev_prio=120 prev_state=S ==> next_comm=swapper/0 next_pid=0 next_prio=120
   100/100  [001] 5000.004200:  syscalls:sys_enter_accept: fd: 0x00000003, upeer_sockaddr: 0x0, upeer_addrlen: 0x0
   100/100  [001] 5000.004210:   syscalls:sys_exit_accept: 0x9
   200/200  [001] 5000.005000:   syscalls:sys_exit_accept4: 0x5
   200/200  [001] 5000.006000:  syscalls:sys_enter_accept4: fd: 0x00000004, upeer_sockaddr: 0x0, upeer_addrlen: 0x0, flags: 0x00080800
   200/200  [001] 5000.006500:           irq:softirq_exit: vec=3 [action=NET_RX]
   200/200  [001] 5000.007000:   sched:sched_stat_runtime: comm=a pid=b pid=200 runtime=5 [ns]
   200/200  [001] 5000.006900:   sched:sched_stat_runtime: comm=a pid=200 runtime=0 [ns]
   200/200  [001] 5000.007000:          irq:softirq_entry: vec=3 [action=NET_RX]
   200/200  [001] 5000.008000:           irq:softirq_exit: vec=3 [action=NET_RX]
   200/200  [001] 5000.008100:          irq:softirq_entry: vec=3 [action=NET_RX]
   200/200  [001] 5000.008500:   syscalls:sys_exit_accept4: 0xfffffffffffffff5
   200/200  [001] 5000.009000:   sched:sched_stat_runtime: comm=a pid=200 runtime=998000 [ns]
    -1/-1   [000] 5000.009400:   syscalls:sys_exit_accept4: 0x3
   300/300  [000] 5000.009000:  syscalls:sys_enter_read: fd: 0x00000004, buf: 0x0, count: 0x10
`

func TestParseAcceptTrace(t *testing.T) {
	got, err := parseAcceptTrace(strings.NewReader(acceptScript))
	if err != nil {
		t.Fatal(err)
	}
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	want := map[int]acceptStats{
		100: {calls: 3, slow: 1, max: ms(3), slowTime: ms(3), blocked: ms(2), preempted: ms(0.4), softirq: ms(0.2), stolen: ms(0.2), slowLit: 1, onCPU: ms(0.5)},
		// An accept that failed (EAGAIN) is a call too; no switch of
		// thread 200 is in the trace, so its 2.5 ms were on CPU 1. The
		// softirq still open at its exit is not counted.
		200: {calls: 1, slow: 1, max: ms(2.5), slowTime: ms(2.5), softirq: ms(1), stolen: ms(0.5), slowLit: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("parseAcceptTrace: %d processes %+v, want %d", len(got), got, len(want))
	}
	for pid, w := range want {
		if got[pid] != w {
			t.Errorf("process %d: %+v, want %+v", pid, got[pid], w)
		}
	}
	if r := got[100].running(); r != ms(0.4) {
		t.Errorf("process 100 ran %v of its slow call outside softirqs, want 400µs", r)
	}
}

// The timer samples (one each 250 µs): process 400's accept on CPU 0
// (1.0 to 4.0 ms) sees its CPU's samples up to 1.5 ms, then none until
// 3.9 ms: the sample due at 1.75 ms came 2.15 ms late, and that is dark
// time. So 0.85 ms of the 3 ms call was lit, and it is not over 1 ms
// without its dark time. After the call, the sample at 4.695 ms ends a
// dark span of 30 µs, outside the call. Process 500's thread is
// switched in on CPU 1, idle since 0.75 ms, at 4.95 ms and enters
// accept4 at 5.0 ms: the CPU's first sample after idle is due a
// tickPeriod after it left the idle task, at 5.2 ms, so the one at 5.1
// ms is not late; the span from 5.6 to 6.0 ms counts, leaving 1.1 ms
// lit of its 1.5 ms call, and the sample at 6.265 ms is 15 µs late,
// under tickSlack. CPU 1's idle time does not count for CPU 0's call,
// nor CPU 0's late sample for CPU 1's. Thread 501 is switched out at
// 6.7 ms: 1.75 ms on CPU 1, 0.4 ms of it dark. Thread 401 is never
// switched in during the trace, so its time on a CPU is not known.
func TestParseAcceptTraceDark(t *testing.T) {
	if tickPeriod != 250*time.Microsecond || tickSlack != 20*time.Microsecond {
		t.Fatalf("the samples below are for a tickPeriod of 250µs and a tickSlack of 20µs, not %v and %v", tickPeriod, tickSlack)
	}
	var b strings.Builder
	tick := func(cpu int, us ...int) {
		for _, u := range us {
			fmt.Fprintf(&b, "     0/0    [%03d] 6000.%06d: %s: \n", cpu, u, tickEvent)
		}
	}
	tick(1, 500, 750)
	tick(0, 500, 750, 1000)
	b.WriteString("   400/401  [000] 6000.001000:  syscalls:sys_enter_accept4: fd: 0x00000003, upeer_sockaddr: 0x0, upeer_addrlen: 0x0, flags: 0x00080800\n")
	tick(0, 1250, 1500, 3900)
	b.WriteString("   400/401  [000] 6000.004000:   syscalls:sys_exit_accept4: 0x7\n")
	tick(0, 4150, 4415, 4695)
	b.WriteString("     0/0    [001] 6000.004950:         sched:sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=chaos next_pid=501 next_prio=120\n")
	b.WriteString("   500/501  [001] 6000.005000:  syscalls:sys_enter_accept4: fd: 0x00000003, upeer_sockaddr: 0x0, upeer_addrlen: 0x0, flags: 0x00080800\n")
	tick(1, 5100, 5350, 6000, 6265, 6500)
	b.WriteString("   500/501  [001] 6000.006500:   syscalls:sys_exit_accept4: 0x8\n")
	b.WriteString("   500/501  [001] 6000.006700:         sched:sched_switch: prev_comm=chaos prev_pid=501 prev_prio=120 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120\n")
	tick(1, 6750)

	got, err := parseAcceptTrace(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	want := map[int]acceptStats{
		400: {calls: 1, slow: 1, max: ms(3), slowTime: ms(3), dark: ms(2.15)},
		500: {calls: 1, slow: 1, max: ms(1.5), slowTime: ms(1.5), dark: ms(0.4), slowLit: 1, onCPU: ms(1.75), onCPUDark: ms(0.4)},
	}
	if len(got) != len(want) {
		t.Fatalf("parseAcceptTrace: %d processes %+v, want %d", len(got), got, len(want))
	}
	for pid, w := range want {
		if got[pid] != w {
			t.Errorf("process %d: %+v, want %+v", pid, got[pid], w)
		}
	}
}

func TestParseAcceptTraceErrors(t *testing.T) {
	tests := []struct{ in, err string }{
		{"  x/1 [0] 1.0: syscalls:sys_enter_accept4: fd: 3",
			`perf script line 1: want PID/TID first: "  x/1 [0] 1.0: syscalls:sys_enter_accept4: fd: 3"`},
		{"  -2/1 [0] 1.0: syscalls:sys_enter_accept4: fd: 3",
			`perf script line 1: want PID/TID first: "  -2/1 [0] 1.0: syscalls:sys_enter_accept4: fd: 3"`},
		{"\n 1 [0] 1.0: syscalls:sys_exit_accept: 0x3",
			`perf script line 2: want PID/TID first: " 1 [0] 1.0: syscalls:sys_exit_accept: 0x3"`},
		{" 1/1 0 1.0: irq:softirq_entry: vec=3",
			`perf script line 1: want [CPU] second: " 1/1 0 1.0: irq:softirq_entry: vec=3"`},
		{" 1/1 [-1] 1.0: irq:softirq_exit: vec=3",
			`perf script line 1: want [CPU] second: " 1/1 [-1] 1.0: irq:softirq_exit: vec=3"`},
		{" 1/1 [1 1.0: irq:softirq_exit: vec=3",
			`perf script line 1: want [CPU] second: " 1/1 [1 1.0: irq:softirq_exit: vec=3"`},
		{" 1/1 [0] 1.0 syscalls:sys_exit_accept: 0x3",
			`perf script line 1: want a time in seconds with a colon third: " 1/1 [0] 1.0 syscalls:sys_exit_accept: 0x3"`},
		{" 1/1 [0] 1.0: sched:sched_stat_runtime: comm=a pid=1 [ns]",
			`perf script line 1: want pid= and runtime= in a sched_stat_runtime: " 1/1 [0] 1.0: sched:sched_stat_runtime: comm=a pid=1 [ns]"`},
		{" 1/1 [0] 1.0: sched:sched_stat_runtime: comm=a pid=-1 runtime=5 [ns]",
			`perf script line 1: want pid= and runtime= in a sched_stat_runtime: " 1/1 [0] 1.0: sched:sched_stat_runtime: comm=a pid=-1 runtime=5 [ns]"`},
		{" 1/1 [0] 1.0: sched:sched_switch: prev_comm=a prev_pid=1 ==> next_comm=b next_pid=2",
			`perf script line 1: want prev_pid=, prev_state= and next_pid= in a sched_switch: " 1/1 [0] 1.0: sched:sched_switch: prev_comm=a prev_pid=1 ==> next_comm=b next_pid=2"`},
	}
	for _, tt := range tests {
		got, err := parseAcceptTrace(strings.NewReader(tt.in))
		if err == nil || err.Error() != tt.err {
			t.Errorf("parseAcceptTrace(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
		}
	}
	// Lines of other events, and short lines, are not checked.
	got, err := parseAcceptTrace(strings.NewReader("x y\n x/1 [0] 1.0 sched:sched_wakeup: comm=a\n\n"))
	if err != nil || len(got) != 0 {
		t.Errorf("other events: %v, %v; want none and no error", got, err)
	}
}

func TestParseLost(t *testing.T) {
	const stats = `
Aggregated stats:
           TOTAL events:      92441
            LOST events:         12  ( 0.0%)
          SAMPLE events:      90270  (97.7%)
    LOST_SAMPLES events:          3  ( 0.0%)
sched:sched_switch stats:
          SAMPLE events:        917
`
	if n := parseLost(stats); n != 15 {
		t.Errorf("parseLost = %d, want 15", n)
	}
	if n := parseLost("           TOTAL events:       9244\n          SAMPLE events:       9027  (97.7%)\n"); n != 0 {
		t.Errorf("parseLost without lost events = %d, want 0", n)
	}
}

func TestParseTraceTime(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"44768.963950:", 44768_963950000, true},
		{"1.5:", 1_500000000, true},
		{"7:", 7_000000000, true},
		{"0.000000001:", 1, true},
		{"1.1234567891:", 0, false},
		{"1.5", 0, false},
		{"-1.0:", 0, false},
		{"1.-5:", 0, false},
		{"9223372036.0:", 0, false},
		{"9223372035.999999999:", 9223372035_999999999, true},
		{":", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseTraceTime(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseTraceTime(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseAcceptTrace(f *testing.F) {
	f.Add(acceptScript)
	f.Add(" 1/1 [0] 1.0: sched:sched_switch: prev_pid=1 prev_state=R ==> next_pid=1\n")
	f.Add(" 0/0 [0] 1.0: " + tickEvent + ":\n 1/1 [0] 1.0001: syscalls:sys_enter_accept4: fd: 3\n 0/0 [0] 1.003: " + tickEvent + ":\n 1/1 [0] 1.004: syscalls:sys_exit_accept4: 0x4\n")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := parseAcceptTrace(strings.NewReader(in))
		if err != nil {
			return
		}
		for pid, s := range got {
			// A slow call's switched-out time lies inside the call.
			if s.calls < 1 || s.slow > s.calls || s.max < 0 || s.blocked < 0 || s.preempted < 0 || s.softirq < 0 ||
				s.stolen < 0 || s.stolen > s.slowTime-s.blocked-s.preempted ||
				s.dark < 0 || s.dark > s.slowTime-s.blocked-s.preempted || s.slowLit < 0 || s.slowLit > s.slow ||
				s.onCPU < 0 || s.onCPUDark < 0 || s.onCPUDark > s.onCPU ||
				s.running() < 0 || float64(s.slowTime) > float64(s.slow)*float64(s.max) || (s.slow > 0) != (s.max > slowAccept) {
				t.Fatalf("process %d: %+v", pid, s)
			}
		}
	})
}

// TestAcceptTraceRecordsThisProcess runs the real perf around 20
// accepts in this process. It needs root and perf (make deps installs
// linux-perf); without them it fails under CI=true and is skipped
// elsewhere.
func TestAcceptTraceRecordsThisProcess(t *testing.T) {
	if _, err := exec.LookPath(perfBinary); err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("needs root and perf (Debian: linux-perf), and CI=true: perf %v, euid %d", err, os.Geteuid())
		}
		t.Skipf("needs root and perf: perf %v, euid %d", err, os.Geteuid())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const n = 20
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// Every connection waits in the backlog before the trace starts, so
	// each Accept is one accept4 call that finds one.
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	tr, err := startAcceptTrace()
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		c, err := ln.Accept()
		if err != nil {
			tr.kill()
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	got, err := tr.stop()
	if err != nil {
		t.Fatal(err)
	}
	s := got[os.Getpid()]
	if s.calls != n || s.max <= 0 {
		t.Fatalf("this process's accept calls: %+v; want %d calls", s, n)
	}
	if _, err := os.Stat(tr.dir); !os.IsNotExist(err) {
		t.Errorf("the trace's directory %s is left behind: %v", tr.dir, err)
	}
}

// The accept rows count rare calls over all rounds: a median of 0, 0, 3
// would hide the 3.
func TestSumAndLargest(t *testing.T) {
	xs := []float64{0, 3, 0}
	if got := sum(xs); got != 3 {
		t.Errorf("sum(%v) = %v, want 3", xs, got)
	}
	if got := largest([]float64{0.5, 2.25, 1}); got != 2.25 {
		t.Errorf("largest = %v, want 2.25", got)
	}
	if sum(nil) != 0 || largest(nil) != 0 {
		t.Errorf("sum(nil) = %v, largest(nil) = %v; want 0, 0", sum(nil), largest(nil))
	}
}

// Without a working perf the trace fails with an error naming what is
// missing, and leaves no directory behind.
func TestAcceptTraceWithoutPerf(t *testing.T) {
	defer func(p string) { perfBinary = p }(perfBinary)
	tmp := os.TempDir()
	before, _ := filepath.Glob(filepath.Join(tmp, "epmd-bench-accept-*"))

	perfBinary = "/nonexistent/perf"
	_, err := startAcceptTrace()
	want := "-accept-trace needs /nonexistent/perf (Debian: linux-perf): fork/exec /nonexistent/perf: no such file or directory"
	if err == nil || err.Error() != want {
		t.Errorf("startAcceptTrace with no perf: %v, want %q", err, want)
	}

	// A perf that exits at once answers no control command.
	perfBinary = "false"
	_, err = startAcceptTrace()
	if err == nil || !strings.HasPrefix(err.Error(), "perf record enable: ") || !strings.HasSuffix(err.Error(), " (perf said: )") {
		t.Errorf("startAcceptTrace with a perf that exits: %v, want perf record enable: … (perf said: )", err)
	}

	after, _ := filepath.Glob(filepath.Join(tmp, "epmd-bench-accept-*"))
	if len(after) != len(before) {
		t.Errorf("trace directories before %q, after %q", before, after)
	}
}
