package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// slowAccept is the accept call duration epmd-bench reports calls above:
// a server whose accept takes longer holds up every connection behind it.
const slowAccept = time.Millisecond

// acceptStats are one process's accept calls over a traced phase.
type acceptStats struct {
	calls int           // accept and accept4 calls that returned
	slow  int           // calls that took longer than slowAccept
	max   time.Duration // the longest call
	// Where the slow calls' time (slowTime, in all) went, from the
	// scheduler's switches of the calling thread inside each call: blocked
	// is time switched out asleep (in the kernel, such as an RCU grace
	// period while the descriptor table grows); preempted is time switched
	// out runnable, waiting for a CPU another process held. The rest the
	// thread ran, as far as the kernel can tell: softirq is the part of it
	// its CPU spent in softirqs (network receive work, mostly for other
	// connections, done in the call's context); time the hypervisor stole
	// from the virtual CPU counts as running (or softirq).
	slowTime, blocked, preempted, softirq time.Duration
	// stolen is how much of the slow calls' time on a CPU (running or in
	// softirqs) the hypervisor stole at least, from the scheduler's
	// updates of the calling thread's run time (see parseAcceptTrace).
	// That run time is counted on the task clock, which leaves out stolen
	// time with CONFIG_PARAVIRT_TIME_ACCOUNTING; without it this is about
	// 0, and with CONFIG_IRQ_TIME_ACCOUNTING, which leaves out interrupt
	// and softirq time too, it counts those as stolen.
	stolen time.Duration
	// dark is how much of the slow calls' time on a CPU that CPU took no
	// timer interrupt: the trace samples every CPU on a timer each
	// tickPeriod while it runs a task, and a sample late by more than
	// tickSlack leaves the time from when it was due to when it came
	// dark (see parseAcceptTrace). The virtual CPU ran no guest code
	// then, or ran it with its interrupts off. A hypervisor that reports
	// no steal time, as the one under this project's machine did on
	// 2026-12-05, leaves stolen above at 0 all the same.
	dark time.Duration
	// slowLit counts the slow calls that took longer than slowAccept
	// even without their dark time.
	slowLit int
	// onCPU is how long the process's threads were on a CPU during the
	// trace, from each switch in to the switch out (a thread already on
	// a CPU when the trace began counts from its first switch in), and
	// onCPUDark how much of that time was dark: time the host took from
	// the server itself, which its rate pays for.
	onCPU, onCPUDark time.Duration
}

// running is the slow calls' time on a CPU outside softirqs (or stolen by
// the host).
func (s acceptStats) running() time.Duration {
	return s.slowTime - s.blocked - s.preempted - s.softirq
}

// tickPeriod is the period of the timer samples the trace takes on
// every CPU; a sample later than tickSlack past its due time marks dark
// time (see acceptStats.dark), so a stall of the virtual CPU shows as
// up to a tickPeriod less than it was. On the project's virtual machine
// a sample costs a CPU about 20–30 µs: two CPU-bound loops, one per
// core, took 1.03–1.20× as long (median 1.11×, 6 pairs, 2026-12-05)
// with a sample each 250 µs, and 1.25–1.37× with one each 100 µs (8
// pairs). Of the samples of two busy CPUs, 99 % came within 13 µs of
// due and 99.9 % within 32 µs (10 s, 79,765 samples).
const (
	tickPeriod = 250 * time.Microsecond
	tickSlack  = 20 * time.Microsecond
)

// tickEvent is the timer sampling event, as perf names it in its output.
var tickEvent = fmt.Sprintf("cpu-clock/period=%d/", tickPeriod.Nanoseconds())

// acceptTraceEvents are the perf events the trace records: every accept
// call's entry and exit, every context switch, every softirq, every
// update of a thread's run time, and a timer sample on every CPU each
// tickPeriod.
var acceptTraceEvents = []string{
	"sched:sched_switch", "irq:softirq_entry", "irq:softirq_exit", "sched:sched_stat_runtime",
	"syscalls:sys_enter_accept", "syscalls:sys_exit_accept",
	"syscalls:sys_enter_accept4", "syscalls:sys_exit_accept4",
	tickEvent,
}

// perfBinary is the perf command the trace runs.
var perfBinary = "perf"

// acceptTracer is a running `perf record` of acceptTraceEvents on every
// CPU, started with its events disabled and switched on and off through
// its control descriptors.
type acceptTracer struct {
	cmd  *exec.Cmd
	dir  string
	ctl  *os.File
	ack  *bufio.Reader
	ackF *os.File
	errb bytes.Buffer
}

// startAcceptTrace starts perf and returns once it records.
func startAcceptTrace() (*acceptTracer, error) {
	dir, err := os.MkdirTemp("", "epmd-bench-accept-")
	if err != nil {
		return nil, err
	}
	a := &acceptTracer{dir: dir}
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		a.cleanup()
		return nil, err
	}
	ackR, ackW, err := os.Pipe()
	if err != nil {
		ctlR.Close()
		ctlW.Close()
		a.cleanup()
		return nil, err
	}
	args := []string{"record", "-q", "-a", "-D", "-1", "--control", "fd:3,4",
		"-o", filepath.Join(dir, "perf.data"), "-e", strings.Join(acceptTraceEvents, ",")}
	a.cmd = exec.Command(perfBinary, args...)
	a.cmd.ExtraFiles = []*os.File{ctlR, ackW}
	a.cmd.Stderr = &a.errb
	err = a.cmd.Start()
	ctlR.Close()
	ackW.Close()
	a.ctl, a.ackF, a.ack = ctlW, ackR, bufio.NewReader(ackR)
	if err != nil {
		a.closePipes()
		a.cleanup()
		return nil, fmt.Errorf("-accept-trace needs %s (Debian: linux-perf): %w", perfBinary, err)
	}
	if err := a.command("enable"); err != nil {
		return nil, err
	}
	return a, nil
}

// command sends perf a control command and waits for its "ack".
func (a *acceptTracer) command(c string) error {
	if _, err := io.WriteString(a.ctl, c+"\n"); err != nil {
		return a.failed(c, err)
	}
	done := make(chan error, 1)
	go func() {
		// perf 6.1 writes the C string's NUL after "ack\n" too.
		line, err := a.ack.ReadString('\n')
		if err == nil && strings.TrimLeft(line, "\x00") != "ack\n" {
			err = fmt.Errorf("perf answered %q, want \"ack\\n\"", line)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return a.failed(c, err)
		}
		return nil
	case <-time.After(30 * time.Second):
		return a.failed(c, errors.New("no answer from perf in 30s"))
	}
}

// failed stops perf, whose standard error is then complete, and returns
// err with what perf said.
func (a *acceptTracer) failed(c string, err error) error {
	a.kill()
	return fmt.Errorf("perf record %s: %w (perf said: %s)", c, err, strings.TrimSpace(a.errb.String()))
}

// stop ends the recording and returns each process's accept calls, by
// process ID.
func (a *acceptTracer) stop() (map[int]acceptStats, error) {
	defer a.cleanup()
	if err := a.command("disable"); err != nil {
		return nil, err
	}
	_ = a.cmd.Process.Signal(syscall.SIGINT)
	err := a.cmd.Wait()
	a.closePipes()
	if err != nil && !isInterrupted(err) {
		return nil, fmt.Errorf("perf record: %w (perf said: %s)", err, strings.TrimSpace(a.errb.String()))
	}
	if n, err := perfLost(filepath.Join(a.dir, "perf.data")); err != nil || n > 0 {
		// Lost switches or run-time updates make the figures wrong,
		// not only short: say so rather than fail the whole run.
		fmt.Fprintf(os.Stderr, "epmd-bench: -accept-trace: perf lost %d events (%v): this phase's accept figures are incomplete\n", n, err)
	}
	script := exec.Command(perfBinary, "script", "-i", filepath.Join(a.dir, "perf.data"), "-F", "pid,tid,cpu,time,event,trace", "--ns")
	var errb bytes.Buffer
	script.Stderr = &errb
	out, err := script.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := script.Start(); err != nil {
		return nil, err
	}
	got, perr := parseAcceptTrace(out)
	_, _ = io.Copy(io.Discard, out)
	if err := script.Wait(); err != nil {
		return nil, fmt.Errorf("perf script: %w (perf said: %s)", err, strings.TrimSpace(errb.String()))
	}
	return got, perr
}

// perfLost returns how many events perf could not record into data, from
// `perf report --stats`.
func perfLost(data string) (int, error) {
	out, err := exec.Command(perfBinary, "report", "--stats", "-i", data).Output()
	if err != nil {
		return 0, err
	}
	return parseLost(string(out)), nil
}

// parseLost adds up the LOST and LOST_SAMPLES counts of `perf report
// --stats` output.
func parseLost(stats string) int {
	n := 0
	for line := range strings.Lines(stats) {
		f := strings.Fields(line)
		if len(f) >= 3 && (f[0] == "LOST" || f[0] == "LOST_SAMPLES") && f[1] == "events:" {
			if v, err := strconv.Atoi(f[2]); err == nil && v > 0 {
				n += v
			}
		}
	}
	return n
}

// isInterrupted reports whether perf ended on the SIGINT stop sends it.
func isInterrupted(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGINT
}

// kill stops perf and removes its data; it may be called more than once.
func (a *acceptTracer) kill() {
	a.closePipes()
	_ = a.cmd.Process.Kill()
	_ = a.cmd.Wait()
	a.cleanup()
}

func (a *acceptTracer) closePipes() {
	if a.ctl != nil {
		a.ctl.Close()
		a.ackF.Close()
		a.ctl = nil
	}
}

func (a *acceptTracer) cleanup() { os.RemoveAll(a.dir) }

// parseAcceptTrace reads `perf script -F pid,tid,cpu,time,event,trace`
// output of acceptTraceEvents and returns, by process ID, the accept calls
// its threads made. Lines of other events are ignored; a malformed line of
// a traced event is an error naming it.
func parseAcceptTrace(r io.Reader) (map[int]acceptStats, error) {
	type call struct {
		pid, tid, cpu int
		t0, t1        int64
	}
	type sw struct {
		t        int64
		out      bool // switched out (else in, on cpu)
		runnable bool // switched out runnable: preempted
		cpu      int
	}
	entered := make(map[int]call) // tid: the call it is in
	callers := make(map[int]bool) // tids that entered an accept call
	var calls []call
	switches := make(map[int][]sw) // tid: its switches
	// A thread's run time is updated while it is on a CPU (at ticks, at
	// wakeups on its run queue, at its switch out): between two updates,
	// or a switch in and an update, the wall-clock time it did not get is
	// what the hypervisor stole, give or take stealSlack. The update made
	// while switching it out may use a clock last read well before (the
	// scheduler skips reading it again after a wakeup asked for the
	// switch), which would count time it ran as stolen: an interval is
	// kept only once a later event shows that its update was not that one.
	onSince := make(map[int]int64)  // tid: its last switch in or update, while on a CPU
	pending := make(map[int]steal)  // tid: the interval its last update ended
	stolen := make(map[int][]steal) // tid: its intervals with stolen time, in time order
	keep := func(tid int) {
		if x, ok := pending[tid]; ok {
			stolen[tid] = append(stolen[tid], x)
			delete(pending, tid)
		}
	}
	softirqs := make(map[int][]span)   // cpu: its softirqs, in time order
	inSoftirq := make(map[int]int64)   // cpu: the softirq it runs, from
	ticks := make(map[int][]int64)     // cpu: its timer samples, in time order
	idleExits := make(map[int][]int64) // cpu: when it left the idle task, in time order
	type onCPU struct {
		tid int
		t   int64
	}
	type stretch struct {
		pid, cpu int
		span
	}
	current := make(map[int]onCPU) // cpu: the thread it runs, since
	var stretches []stretch        // a thread on a CPU, switch in to switch out
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		ev := strings.TrimSuffix(f[3], ":")
		var kind byte
		switch ev {
		case "syscalls:sys_enter_accept", "syscalls:sys_enter_accept4":
			kind = 'e'
		case "syscalls:sys_exit_accept", "syscalls:sys_exit_accept4":
			kind = 'x'
		case "sched:sched_switch":
			kind = 's'
		case "irq:softirq_entry":
			kind = 'i'
		case "irq:softirq_exit":
			kind = 'o'
		case "sched:sched_stat_runtime":
			kind = 'r'
		case tickEvent:
			kind = 't'
		default:
			continue
		}
		bad := func(what string) error {
			return fmt.Errorf("perf script line %d: %s: %q", n, what, line)
		}
		pid, tid, ok := parsePidTid(f[0])
		if !ok {
			return nil, bad("want PID/TID first")
		}
		cpu, ok := parseCPU(f[1])
		if !ok {
			return nil, bad("want [CPU] second")
		}
		t, ok := parseTraceTime(f[2])
		if !ok {
			return nil, bad("want a time in seconds with a colon third")
		}
		switch kind {
		case 't':
			// perf script sorts by time: a sample out of that order is
			// not counted.
			if tk := ticks[cpu]; len(tk) == 0 || t >= tk[len(tk)-1] {
				ticks[cpu] = append(tk, t)
			}
		case 'e', 'x':
			if pid < 0 || tid < 0 {
				break // perf knows no task for the event: it is none of ours
			}
			if kind == 'e' {
				entered[tid] = call{pid: pid, tid: tid, cpu: cpu, t0: t}
				callers[tid] = true
				break
			}
			if c, ok := entered[tid]; ok && t >= c.t0 {
				c.t1 = t
				calls = append(calls, c)
			}
			delete(entered, tid)
		case 'r':
			tid, ran, ok := parseRuntime(f[4:])
			if !ok {
				return nil, bad("want pid= and runtime= in a sched_stat_runtime")
			}
			if !callers[tid] {
				break
			}
			from, on := onSince[tid]
			if on && t < from {
				break // out of time order: not counted
			}
			keep(tid)
			if lost := t - from - ran - int64(stealSlack); on && lost > 0 {
				pending[tid] = steal{span{from, t}, lost}
			}
			onSince[tid] = t
		case 'i':
			inSoftirq[cpu] = t
		case 'o':
			// Softirqs on one CPU do not nest, and perf script sorts by
			// time: a span out of that order is not counted.
			spans := softirqs[cpu]
			if t0, ok := inSoftirq[cpu]; ok && t >= t0 && (len(spans) == 0 || t0 >= spans[len(spans)-1].t1) {
				softirqs[cpu] = append(spans, span{t0, t})
			}
			delete(inSoftirq, cpu)
		default:
			prev, state, next, ok := parseSwitch(f[4:])
			if !ok {
				return nil, bad("want prev_pid=, prev_state= and next_pid= in a sched_switch")
			}
			if prev == 0 {
				if x := idleExits[cpu]; len(x) == 0 || t >= x[len(x)-1] {
					idleExits[cpu] = append(x, t)
				}
			}
			// The line's task is the one switched out.
			if c, ok := current[cpu]; ok && c.tid == prev && prev != 0 && pid >= 0 && t >= c.t {
				stretches = append(stretches, stretch{pid, cpu, span{c.t, t}})
			}
			current[cpu] = onCPU{next, t}
			// A switch inside a call follows the call's entry, so only
			// threads that have entered one need their switches kept.
			if callers[prev] {
				switches[prev] = append(switches[prev], sw{t: t, out: true, runnable: strings.HasPrefix(state, "R")})
				delete(onSince, prev)
				delete(pending, prev) // the switch's own update
			}
			if callers[next] {
				switches[next] = append(switches[next], sw{t: t, cpu: cpu})
				keep(next)
				if x := stolen[next]; len(x) == 0 || t >= x[len(x)-1].t1 {
					onSince[next] = t
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for tid := range pending {
		keep(tid) // the trace ended before any switch out
	}
	// A CPU's sample is due a tickPeriod after the one before. An idle
	// CPU may take none, and its first after it leaves the idle task can
	// come a tickPeriod later: when it was idle between two samples, the
	// later one is due a tickPeriod after it left idle.
	dark := make(map[int][]span) // cpu: the times its timer sample was overdue
	for cpu, tk := range ticks {
		exits, j := idleExits[cpu], 0
		for i := 1; i < len(tk); i++ {
			due := tk[i-1] + int64(tickPeriod)
			for j < len(exits) && exits[j] < tk[i] {
				j++
			}
			if j > 0 && exits[j-1] > tk[i-1] {
				due = max(due, exits[j-1]+int64(tickPeriod))
			}
			if tk[i]-due > int64(tickSlack) {
				dark[cpu] = append(dark[cpu], span{due, tk[i]})
			}
		}
	}
	out := make(map[int]acceptStats)
	for _, c := range calls {
		s := out[c.pid]
		s.calls++
		d := time.Duration(c.t1 - c.t0)
		s.max = max(s.max, d)
		if d > slowAccept {
			s.slow++
			s.slowTime += d
			// Walk the call: on c.cpu from its entry, off the CPU from
			// each switch out to the next switch in, then on that CPU.
			cpu, from, on := c.cpu, c.t0, true
			var off *sw
			var callDark time.Duration
			ranOn := func(cpu int, a, b int64) { // a stretch of the call on a CPU
				s.softirq += overlap(softirqs[cpu], a, b)
				callDark += overlap(dark[cpu], a, b)
			}
			offCPU := s.blocked + s.preempted
			for i, x := range switches[c.tid] {
				if x.t < from || x.t > c.t1 { // perf script sorts by time: a line out of order is not counted
					continue
				}
				switch {
				case x.out && on:
					ranOn(cpu, from, x.t)
					off, on = &switches[c.tid][i], false
				case !x.out && off != nil && x.t >= off.t:
					if off.runnable {
						s.preempted += time.Duration(x.t - off.t)
					} else {
						s.blocked += time.Duration(x.t - off.t)
					}
					off, on, cpu, from = nil, true, x.cpu, x.t
				}
			}
			if on {
				ranOn(cpu, from, c.t1)
			}
			s.dark += callDark
			if d-callDark > slowAccept {
				s.slowLit++
			}
			// Lines out of time order or events perf lost aside, the
			// intervals lie where the thread was on a CPU.
			offCPU = s.blocked + s.preempted - offCPU
			s.stolen += min(stolenAtLeast(stolen[c.tid], c.t0, c.t1), max(0, d-offCPU))
		}
		out[c.pid] = s
	}
	for _, x := range stretches {
		if s, ok := out[x.pid]; ok {
			s.onCPU += time.Duration(x.t1 - x.t0)
			s.onCPUDark += overlap(dark[x.cpu], x.t0, x.t1)
			out[x.pid] = s
		}
	}
	return out, nil
}

// span is a time interval in nanoseconds, [t0, t1].
type span struct{ t0, t1 int64 }

// stealSlack is taken off the time each interval of a thread on a CPU
// lost: its ends are the events' times, while its run time is measured on
// the run queue's clock, read a little before each event.
const stealSlack = 2 * time.Microsecond

// steal is an interval of a thread on a CPU and how much of it (ns) its
// task clock did not count.
type steal struct {
	span
	lost int64
}

// stolenAtLeast returns how much of the intervals' lost time (in time
// order) must lie inside [a, b]: all of an interval's inside it, and of one
// that reaches outside, what is more than the part outside could hold.
func stolenAtLeast(steals []steal, a, b int64) time.Duration {
	i := sort.Search(len(steals), func(i int) bool { return steals[i].t1 > a })
	var d int64
	for ; i < len(steals) && steals[i].t0 < b; i++ {
		x := steals[i]
		outside := (x.t1 - x.t0) - (min(b, x.t1) - max(a, x.t0))
		d += max(0, x.lost-outside)
	}
	return time.Duration(d)
}

// overlap returns how much of [a, b] the spans (in time order, not
// overlapping each other) cover.
func overlap(spans []span, a, b int64) time.Duration {
	i := sort.Search(len(spans), func(i int) bool { return spans[i].t1 > a })
	var d int64
	for ; i < len(spans) && spans[i].t0 < b; i++ {
		d += min(b, spans[i].t1) - max(a, spans[i].t0)
	}
	return time.Duration(d)
}

// parseCPU parses perf's "[CPU]".
func parseCPU(s string) (int, bool) {
	s, ok := strings.CutPrefix(s, "[")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "]")
	if !ok {
		return 0, false
	}
	cpu, err := strconv.Atoi(s)
	return cpu, err == nil && cpu >= 0
}

// parsePidTid parses "PID/TID"; perf prints -1/-1 for a task it has no
// record of (a kernel thread started during the trace).
func parsePidTid(s string) (pid, tid int, ok bool) {
	a, b, found := strings.Cut(s, "/")
	if !found {
		return 0, 0, false
	}
	pid, err1 := strconv.Atoi(a)
	tid, err2 := strconv.Atoi(b)
	return pid, tid, err1 == nil && err2 == nil && pid >= -1 && tid >= -1
}

// parseTraceTime parses perf's "SECONDS.FRACTION:" into nanoseconds,
// without rounding through a float.
func parseTraceTime(s string) (int64, bool) {
	s, found := strings.CutSuffix(s, ":")
	if !found {
		return 0, false
	}
	sec, frac, _ := strings.Cut(s, ".")
	if len(frac) > 9 {
		return 0, false
	}
	secs, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || secs < 0 || secs > math.MaxInt64/int64(time.Second)-1 {
		return 0, false
	}
	var ns int64
	if frac != "" {
		v, err := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		if err != nil || v < 0 {
			return 0, false
		}
		ns = v
	}
	return secs*1e9 + ns, true
}

// lastField returns the value of the last key=value field with that key:
// a comm= with spaces or "=" in it comes before the fields read here.
func lastField(fields []string, key string) (string, bool) {
	for i := len(fields) - 1; i >= 0; i-- {
		if k, v, found := strings.Cut(fields[i], "="); found && k == key {
			return v, true
		}
	}
	return "", false
}

// parseRuntime reads pid (the thread's ID) and runtime (ns) from a
// sched_stat_runtime's fields.
func parseRuntime(fields []string) (tid int, ran int64, ok bool) {
	p, ok1 := lastField(fields, "pid")
	r, ok2 := lastField(fields, "runtime")
	tid, err1 := strconv.Atoi(p)
	ran, err2 := strconv.ParseInt(r, 10, 64)
	return tid, ran, ok1 && ok2 && err1 == nil && err2 == nil && tid >= 0 && ran >= 0
}

// parseSwitch reads prev_pid, prev_state and next_pid from a
// sched_switch's fields.
func parseSwitch(fields []string) (prev int, state string, next int, ok bool) {
	p, ok1 := lastField(fields, "prev_pid")
	state, ok2 := lastField(fields, "prev_state")
	n, ok3 := lastField(fields, "next_pid")
	prev, err1 := strconv.Atoi(p)
	next, err2 := strconv.Atoi(n)
	return prev, state, next, ok1 && ok2 && ok3 && err1 == nil && err2 == nil && state != ""
}
