// Command epmd-bench loads one or more epmd-compatible daemons and compares
// them: it registers N nodes on long-lived connections, then runs timed
// phases with C concurrent clients — registration, PORT_PLEASE2 (connect,
// ask, read to close), NAMES with the N nodes registered, and
// register/unregister churn — and reports requests per second, p50, p99
// and p99.9 latency and the daemon's resident memory.
//
// Each -target is a command line it starts (its port is taken from
// "-port P") or "@host:port" for a daemon already running. Every phase
// runs on all targets in turn, the order rotating from round to round
// (A B C, then B C A, ...) for -rounds rounds, so a noisy machine affects
// all alike; the report gives each figure's median over the rounds and
// its ratio to each -ref target (the C epmd, and a ceiling such as
// nullepmd, a minimal single-threaded server).
//
// Beside rates, latencies and memory, each phase reports the target's
// CPU time per request (its threads' run times summed, from
// /proc/PID/task/*/schedstat, for a target it started) and the share of
// the machine's CPU the hypervisor stole meanwhile (/proc/stat). On a
// virtual machine that share moves from second to second: a phase run
// while it was high is slower for it, whichever target it measured,
// while the CPU per request moves much less. With -slices N each phase's
// work is cut into N slices run on the targets in turn (A B C A B C ...),
// so that such a change falls on all of them alike; each target's figures
// are over its slices together.
//
//	epmd-bench -target 'C=epmd -port 14369 -relaxed_command_check' \
//	           -target 'null=nullepmd -port 14371' \
//	           -target 'chaos=bin/chaos-epmd -port 14370 -relaxed_command_check' \
//	           -ref C -ref null
//
// Before the first round every target gets the same warm-up: -nodes
// registrations, released again, reported as the "fresh daemon" figures.
// It runs -rounds times, each time on daemons started anew (all stopped,
// then all started), so that those figures are medians over the rounds
// as every other one is; the measured rounds run on the last of them. A
// target given as NAME=@HOST:PORT cannot be started again: then the
// warm-up runs once.
// A daemon's descriptor table (like its other first-use costs) grows
// during that pass, not in a measured round; the worker processes grow
// their own descriptor tables before they start, because in a
// multi-threaded process each growth of the table waits an RCU grace
// period (see epmd.DefaultFileTable), which would land on whichever
// target happens to run first.
//
// The load comes from -workers child processes (the command re-executed),
// each client with its own 127.x.y.z source address, so that the tool's own
// file descriptors, ephemeral ports and CPU are not the bound. Before each
// phase it waits while the kernel's conntrack table is more than
// -conntrack-limit full: every loopback connection leaves a TIME_WAIT
// entry there for two minutes.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// envWorker marks a re-executed load worker; its value is the worker's
// index.
const envWorker = "EPMD_BENCH_WORKER"

// envWorkerFDs is how many descriptors a worker makes room for.
const envWorkerFDs = "EPMD_BENCH_WORKER_FDS"

type config struct {
	targets        []string
	refs           []string
	warmup         bool
	nodes          int
	clients        int
	workers        int
	rounds         int
	phases         []string
	ppCount        int
	namesCount     int
	churnCount     int
	benchOut       string
	conntrackLimit float64
	verbose        bool
	slices         int
	acceptTrace    bool
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	epmd.RaiseFileLimit()
	// A closed stdout (| head) must not kill the tool before it stops
	// its targets.
	signal.Ignore(syscall.SIGPIPE)
	if v, ok := os.LookupEnv(envWorker); ok {
		i, _ := strconv.Atoi(v)
		os.Exit(workerMain(i, os.Stdin, os.Stdout))
	}
	var c config
	var targets, refs listFlag
	var phases string
	flag.Var(&targets, "target", "`NAME=COMMAND` to start (port from its -port flag), or NAME=@HOST:PORT; repeatable")
	flag.Var(&refs, "ref", "`NAME` of a target the others are compared with (ratio columns); repeatable; default the first target")
	flag.BoolVar(&c.warmup, "warmup", true, "before the measured rounds, register -nodes nodes on each target and release them: -rounds times, each on daemons started anew")
	flag.IntVar(&c.nodes, "nodes", 1000, "nodes registered before the query phases")
	flag.IntVar(&c.clients, "clients", 4, "concurrent clients")
	flag.IntVar(&c.workers, "workers", 4, "client processes the clients are spread over")
	flag.IntVar(&c.rounds, "rounds", 5, "rounds of every phase on every target")
	flag.StringVar(&phases, "phases", "register,port_please,names,churn", "phases to run, in order (register always runs when -nodes > 0)")
	flag.IntVar(&c.ppCount, "pp-count", 4000, "PORT_PLEASE2 requests per phase")
	flag.IntVar(&c.namesCount, "names-count", 1000, "NAMES requests per phase")
	flag.IntVar(&c.churnCount, "churn-count", 4000, "register/unregister cycles per phase")
	flag.StringVar(&c.benchOut, "benchout", "", "also write Go benchmark lines (for benchstat -col /target) to this `file`")
	flag.Float64Var(&c.conntrackLimit, "conntrack-limit", 0.5, "wait before a phase while nf_conntrack_count exceeds this fraction of nf_conntrack_max")
	flag.IntVar(&c.slices, "slices", 1, "cut each phase's work into this many slices, run on the targets in turn (A B A B ...), so that a change in the machine's speed during a phase falls on every target alike")
	flag.BoolVar(&c.acceptTrace, "accept-trace", false, "record the targets' accept calls with perf (root; Debian: linux-perf) during the registration phases and report those over 1 ms, split into time blocked in the kernel, waiting for a CPU, in softirqs, and running (or stolen by the host), and how many stay over 1 ms without the time their CPU took no timer interrupt (the host did not run it), and each server's time on a CPU and how much of it had no timer interrupt")
	flag.BoolVar(&c.verbose, "v", false, "print every phase's figures as it ends")
	flag.Parse()
	c.targets = targets
	c.refs = refs
	if len(c.targets) == 0 {
		c.targets = []string{
			"C=epmd -port 14369 -relaxed_command_check",
			"chaos=bin/chaos-epmd -port 14370 -relaxed_command_check",
		}
	}
	for _, p := range strings.Split(phases, ",") {
		switch p = strings.TrimSpace(p); p {
		case phaseRegister, phasePortPlease, phaseNames, phaseChurn:
			c.phases = append(c.phases, p)
		case "":
		default:
			fmt.Fprintf(os.Stderr, "epmd-bench: unknown phase %q (valid: register, port_please, names, churn)\n", p)
			os.Exit(2)
		}
	}
	if c.clients < 1 || c.workers < 1 || c.rounds < 1 || c.slices < 1 || c.nodes < 0 {
		fmt.Fprintln(os.Stderr, "epmd-bench: -clients, -workers, -rounds and -slices must be at least 1, -nodes at least 0")
		os.Exit(2)
	}
	c.workers = min(c.workers, c.clients)
	for _, r := range c.refs {
		if !slices.ContainsFunc(c.targets, func(t string) bool { return strings.HasPrefix(t, r+"=") }) {
			fmt.Fprintf(os.Stderr, "epmd-bench: -ref %s names no -target\n", r)
			os.Exit(2)
		}
	}
	if err := benchMain(&c); err != nil {
		fmt.Fprintf(os.Stderr, "epmd-bench: %v\n", err)
		os.Exit(1)
	}
}

// workerMain serves jobs from r, one JSON result on w per JSON job.
func workerMain(index int, r io.Reader, w io.Writer) int {
	// Room for every descriptor the worker will hold, before the first
	// socket(): a growth later would stall the target being measured.
	if fds, _ := strconv.Atoi(os.Getenv(envWorkerFDs)); fds > 0 {
		if _, err := epmd.GrowFileTable(min(fds, epmd.RaiseFileLimit())); err != nil {
			fmt.Fprintf(os.Stderr, "epmd-bench worker %d: %v\n", index, err)
		}
	}
	l := newLoader(index)
	dec, enc := json.NewDecoder(r), json.NewEncoder(w)
	for {
		var j job
		if err := dec.Decode(&j); err != nil {
			if errors.Is(err, io.EOF) {
				return 0
			}
			fmt.Fprintf(os.Stderr, "epmd-bench worker %d: %v\n", index, err)
			return 1
		}
		if err := enc.Encode(l.run(j)); err != nil {
			return 1
		}
	}
}

// worker is a load process seen from the coordinator.
type worker struct {
	cmd *exec.Cmd
	in  io.Closer
	enc *json.Encoder
	dec *json.Decoder
}

func startWorkers(n, fds int) ([]*worker, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var ws []*worker
	for i := range n {
		cmd := exec.Command(self)
		// Blocking system calls in the load: no preemption signals to interrupt them.
		cmd.Env = append(os.Environ(), envWorker+"="+strconv.Itoa(i), envWorkerFDs+"="+strconv.Itoa(fds), "GODEBUG=asyncpreemptoff=1")
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		in, err := cmd.StdinPipe()
		if err != nil {
			return ws, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return ws, err
		}
		if err := cmd.Start(); err != nil {
			return ws, fmt.Errorf("start worker: %w", err)
		}
		ws = append(ws, &worker{cmd: cmd, in: in, enc: json.NewEncoder(in), dec: json.NewDecoder(out)})
	}
	return ws, nil
}

func (w *worker) do(j job) (result, error) {
	var r result
	if err := w.enc.Encode(j); err != nil {
		return r, fmt.Errorf("send job: %w", err)
	}
	if err := w.dec.Decode(&r); err != nil {
		return r, fmt.Errorf("worker result: %w", err)
	}
	return r, nil
}

func (w *worker) stop() {
	_ = w.in.Close() // the worker exits at EOF, closing its registrations
	_ = w.cmd.Wait()
}

// target is one epmd under test.
type target struct {
	name string
	spec string // as given to -target
	addr string
	cmd  *exec.Cmd // nil for a daemon the tool did not start
}

func (t *target) pid() int {
	if t.cmd == nil || t.cmd.Process == nil {
		return 0
	}
	return t.cmd.Process.Pid
}

// rss returns the target's resident set (VmRSS) in bytes, or 0.
func (t *target) rss() int64 {
	rss, _ := t.memory()
	return rss
}

// memory returns the target's resident set (VmRSS) and its anonymous
// part (RssAnon: heap, stacks, the runtime's own data; the rest is pages
// of files it maps, its binary and libraries), in bytes, or zeros.
func (t *target) memory() (rss, anon int64) {
	if t.pid() == 0 {
		return 0, 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", t.pid()))
	if err != nil {
		return 0, 0
	}
	return statusKiB(b, "VmRSS:"), statusKiB(b, "RssAnon:")
}

// statusKiB returns the field of /proc/PID/status named key (a figure in
// kB) in bytes, or 0.
func statusKiB(status []byte, key string) int64 {
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// startTarget parses NAME=COMMAND or NAME=@HOST:PORT, starts the command
// and waits until it answers NAMES.
func startTarget(spec string) (*target, error) {
	name, cmdline, ok := strings.Cut(spec, "=")
	if !ok || name == "" || cmdline == "" {
		return nil, fmt.Errorf("target %q: want NAME=COMMAND or NAME=@HOST:PORT", spec)
	}
	t := &target{name: name, spec: spec}
	if addr, ok := strings.CutPrefix(cmdline, "@"); ok {
		t.addr = addr
		return t, waitReady(t, 5*time.Second)
	}
	args := strings.Fields(cmdline)
	port := 0
	for i, a := range args {
		if a == "-port" && i+1 < len(args) {
			port, _ = strconv.Atoi(args[i+1])
		}
	}
	if port == 0 {
		return nil, fmt.Errorf("target %q: the command needs -port P", spec)
	}
	t.addr = "127.0.0.1:" + strconv.Itoa(port)
	if _, err := readNames(t.addr); err == nil {
		// An epmd started on a busy port exits 0 silently: we would
		// measure whatever already runs there.
		return nil, fmt.Errorf("target %s: something already answers on %s", name, t.addr)
	}
	t.cmd = exec.Command(args[0], args[1:]...)
	t.cmd.Stdout, t.cmd.Stderr = os.Stderr, os.Stderr
	t.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the tool
	if err := t.cmd.Start(); err != nil {
		return nil, fmt.Errorf("target %s: %w", name, err)
	}
	if err := waitReady(t, 10*time.Second); err != nil {
		t.stop()
		return nil, err
	}
	return t, nil
}

// waitReady polls the target with NAMES until it answers or the deadline.
func waitReady(t *target, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		_, err := readNames(t.addr)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("target %s on %s not answering after %v: %w", t.name, t.addr, within, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// waitNodes polls NAMES until it lists want nodes.
func waitNodes(t *target, want int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		n, err := readNames(t.addr)
		if err == nil && n == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("target %s lists %d nodes after %v, want %d (%v)", t.name, n, within, want, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

func (t *target) stop() {
	if t.cmd == nil || t.cmd.Process == nil {
		return
	}
	_ = t.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = t.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = t.cmd.Process.Kill()
		<-done
	}
}
