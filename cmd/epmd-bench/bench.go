package main

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/chaos-epmd/chaos-epmd/cmd/epmd-bench/internal/stats"
)

// sample is one phase's figures on one target in one round.
type sample struct {
	n          int // successful requests
	errors     int
	firstErr   string
	elapsed    time.Duration
	perSec     float64
	p50, p99   time.Duration
	p999       time.Duration
	rss        int64         // after the phase, bytes
	rssAnon    int64         // after the phase: the anonymous part of rss, bytes
	rssIdle    int64         // fresh: before the phase, bytes
	serverCPU  float64       // CPU time of the target per wall time (1 = one core)
	loadCPU    float64       // CPU time of the worker processes per wall time
	cpuPerReq  time.Duration // CPU time of the target per request served
	steal      float64       // the machine's CPU time the hypervisor stole, fraction
	nodesHeld  int           // register: nodes NAMES listed afterwards
	rssPerNode int64         // register, first round: RSS growth per node, bytes
	accept     acceptStats   // register with -accept-trace: the target's accept calls
}

// phaseFresh is the warm-up registration on a fresh daemon, reported
// apart from the measured rounds.
const phaseFresh = "fresh"

// freshDaemons returns how many times the warm-up registration runs, each
// time on newly started daemons: once per round, as every other figure is
// a median over the rounds; once only when a target is a daemon the tool
// did not start (NAME=@HOST:PORT), which it cannot start again.
func freshDaemons(c *config, targets []*target) int {
	for _, t := range targets {
		if t.cmd == nil {
			return 1
		}
	}
	return c.rounds
}

func benchMain(c *config) error {
	var targets []*target
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()
	for _, spec := range c.targets {
		t, err := startTarget(spec)
		if err != nil {
			return err
		}
		targets = append(targets, t)
		if c.acceptTrace && t.pid() == 0 {
			fmt.Fprintf(os.Stderr, "epmd-bench: -accept-trace: target %s is no process started here (@%s): its accept calls are not traced\n", t.name, t.addr)
		}
	}
	// Each worker holds its share of the nodes on every target at once
	// (they are released at the end of a round), plus one connection
	// per client in flight.
	perWorker := (c.nodes+c.workers-1)/c.workers*len(targets) + c.clients + 64
	ws, err := startWorkers(c.workers, perWorker)
	defer func() {
		for _, w := range ws {
			w.stop()
		}
	}()
	if err != nil {
		return err
	}
	var bout io.Writer = io.Discard
	if c.benchOut != "" {
		f, err := os.Create(c.benchOut)
		if err != nil {
			return err
		}
		defer f.Close()
		bout = f
		fmt.Fprintf(f, "goos: linux\npkg: github.com/chaos-epmd/chaos-epmd/cmd/epmd-bench\nnodes: %d\nclients: %d\n", c.nodes, c.clients)
	}

	results := make(map[string]map[string][]sample) // target, phase
	rssBase := make(map[string]int64)
	for _, t := range targets {
		results[t.name] = make(map[string][]sample)
		rssBase[t.name] = t.rss()
	}
	phases := c.phases
	if c.nodes > 0 && !slices.Contains(phases, phaseRegister) {
		phases = append([]string{phaseRegister}, phases...)
	}
	fmt.Printf("epmd-bench: %d nodes, %d clients over %d worker processes, %d rounds, targets in turn\n",
		c.nodes, c.clients, len(ws), c.rounds)
	start := time.Now()
	if c.warmup && c.nodes > 0 {
		n := freshDaemons(c, targets)
		for f := range n {
			if f > 0 {
				// A new daemon for each sample but the first: stop
				// them all, then start them again, so that none runs
				// while another starts.
				for _, t := range targets {
					t.stop()
				}
				for i, t := range targets {
					nt, err := startTarget(t.spec)
					if err != nil {
						return fmt.Errorf("fresh daemon %d of %d: %w", f+1, n, err)
					}
					targets[i] = nt
					rssBase[t.name] = nt.rss()
				}
			}
			order := stats.Rotate(targets, f)
			fresh, err := runInterleaved(ws, order, phaseRegister, c, f)
			if err != nil {
				return fmt.Errorf("warm-up on fresh daemon %d of %d: %w", f+1, n, err)
			}
			for i, t := range order {
				s := fresh[i]
				s.rssIdle = rssBase[t.name]
				if s.rssIdle > 0 {
					s.rssPerNode = (s.rss - s.rssIdle) / int64(c.nodes)
				}
				results[t.name][phaseFresh] = append(results[t.name][phaseFresh], s)
				if c.verbose {
					fmt.Printf("  fresh %d  %-11s %-8s pid %d: %s\n", f+1, phaseRegister, t.name, t.pid(), s)
				}
				if err := release(ws, t); err != nil {
					return err
				}
			}
		}
	}
	for round := range c.rounds {
		order := stats.Rotate(targets, round)
		for _, ph := range phases {
			if ph == phaseRegister && c.nodes == 0 {
				continue
			}
			got, err := runInterleaved(ws, order, ph, c, round)
			if err != nil {
				return fmt.Errorf("round %d: %w", round+1, err)
			}
			for i, t := range order {
				s := got[i]
				if ph == phaseRegister && round == 0 && rssBase[t.name] > 0 && c.nodes > 0 {
					s.rssPerNode = (s.rss - rssBase[t.name]) / int64(c.nodes)
				}
				results[t.name][ph] = append(results[t.name][ph], s)
				writeBenchLine(bout, t.name, ph, s)
				if c.verbose {
					fmt.Printf("  round %d %-11s %-8s %s\n", round+1, ph, t.name, s)
				}
			}
		}
		if c.nodes > 0 {
			for _, t := range order {
				if err := release(ws, t); err != nil {
					return err
				}
			}
		}
	}
	fmt.Printf("took %v\n\n", time.Since(start).Round(time.Millisecond))
	if _, ok := results[targets[0].name][phaseFresh]; ok {
		phases = append([]string{phaseFresh}, phases...)
	}
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.name
	}
	refs := c.refs
	if len(refs) == 0 {
		refs = names[:1]
	}
	report(os.Stdout, names, refs, phases, results)
	memoryReport(os.Stdout, names, results, rssBase)
	return nil
}

func (s sample) String() string {
	str := fmt.Sprintf("%8.0f/s  p50 %v  p99 %v  p99.9 %v  n=%d  rss %.1f MiB (anonymous %.1f)  cpu server %.2f (%.1f µs/req) load %.2f  stolen %.1f %%",
		s.perSec, s.p50, s.p99, s.p999, s.n, float64(s.rss)/(1<<20), float64(s.rssAnon)/(1<<20), s.serverCPU, float64(s.cpuPerReq)/1e3, s.loadCPU, 100*s.steal)
	if s.accept.calls > 0 {
		str += fmt.Sprintf("  accept calls %d, over %v %d (blocked %v, waiting for a CPU %v, in softirqs %v, running or stolen %v; of their time on a CPU, stolen by the host at least %v, with no timer interrupt %v), over %v without that %d, longest %v; on a CPU %v, with no timer interrupt %v",
			s.accept.calls, slowAccept, s.accept.slow, s.accept.blocked, s.accept.preempted, s.accept.softirq, s.accept.running(), s.accept.stolen, s.accept.dark, slowAccept, s.accept.slowLit, s.accept.max, s.accept.onCPU, s.accept.onCPUDark)
	}
	if s.errors > 0 {
		str += fmt.Sprintf("  ERRORS %d (first: %s)", s.errors, s.firstErr)
	}
	return str
}

// runInterleaved runs one phase on every target, in order, and returns
// each target's figures. With -slices N the phase's work is cut into N
// slices run in turn on the targets (A B C A B C ...), so that a change
// in the machine's speed while the phase runs (the host stealing CPU)
// falls on all of them alike; each target's figures are over its slices
// together.
func runInterleaved(ws []*worker, order []*target, phase string, c *config, round int) ([]sample, error) {
	var tracer *acceptTracer
	if c.acceptTrace && phase == phaseRegister {
		var err error
		if tracer, err = startAcceptTrace(); err != nil {
			return nil, err
		}
		defer func() {
			if tracer != nil {
				tracer.kill()
			}
		}()
	}
	parts := make([]part, len(order))
	for k := range max(c.slices, 1) {
		for i, t := range order {
			waitConntrack(c.conntrackLimit)
			p, err := runPart(ws, t, phase, c, round, k)
			if err != nil {
				return nil, fmt.Errorf("%s on %s: %w", phase, t.name, err)
			}
			parts[i].add(p)
		}
	}
	var accepts map[int]acceptStats
	if tracer != nil {
		var err error
		accepts, err = tracer.stop()
		tracer = nil
		if err != nil {
			return nil, fmt.Errorf("%s: accept trace: %w", phase, err)
		}
	}
	out := make([]sample, len(order))
	for i, t := range order {
		s, err := parts[i].sample(t, phase, c)
		if err != nil {
			return nil, fmt.Errorf("%s on %s: %w", phase, t.name, err)
		}
		if pid := t.pid(); pid != 0 {
			s.accept = accepts[pid]
		}
		out[i] = s
	}
	return out, nil
}

// part is what one run of a phase, or of one slice of it, measured on one
// target; parts add up.
type part struct {
	lat      []int64
	errors   int
	firstErr string
	elapsed  time.Duration // from the workers' common start to the last reply
	wall     time.Duration // from that start to the part's end, as measured here
	cpu      time.Duration // the target's CPU time
	load     time.Duration // the workers' CPU time
	host     hostCPU       // the machine's CPU ticks, all and stolen
}

func (p *part) add(q part) {
	p.lat = append(p.lat, q.lat...)
	p.errors += q.errors
	p.firstErr = cmp.Or(p.firstErr, q.firstErr)
	p.elapsed += q.elapsed
	p.wall += q.wall
	p.cpu += q.cpu
	p.load += q.load
	p.host.total += q.host.total
	p.host.steal += q.host.steal
}

// runPart runs slice k of a phase's work (all of it with one slice) on t.
func runPart(ws []*worker, t *target, phase string, c *config, round, k int) (part, error) {
	count := map[string]int{
		phaseRegister:   c.nodes,
		phasePortPlease: c.ppCount,
		phaseNames:      c.namesCount,
		phaseChurn:      c.churnCount,
	}[phase]
	lo, hi := stats.Slice(count, max(c.slices, 1), k)
	wc, wn := stats.Split(hi-lo, c.clients, len(ws))
	startAt := time.Now().Add(50 * time.Millisecond)
	cpu0, load0, host0 := cpuTime(t.pid()), workersCPU(ws), readHostCPU()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		all  result
		errs []error
	)
	// A registration slice registers names lo .. hi-1, each worker its
	// share of them.
	first := lo
	for i, w := range ws {
		j := job{Op: phase, Addr: t.addr, Clients: wc[i], Count: wn[i], Start: startAt,
			Prefix: "n", First: first, Nodes: wn[i], Total: c.nodes, Seed: uint64(round) | uint64(k)<<32}
		first += wn[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := w.do(j)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			all.Lat = append(all.Lat, r.Lat...)
			all.Errors += r.Errors
			if all.FirstErr == "" {
				all.FirstErr = r.FirstErr
			}
			all.Elapsed = max(all.Elapsed, r.Elapsed)
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return part{}, errors.Join(errs...)
	}
	p := part{lat: all.Lat, errors: all.Errors, firstErr: all.FirstErr, elapsed: all.Elapsed,
		wall: max(time.Since(startAt), 0), load: workersCPU(ws) - load0}
	if t.pid() != 0 {
		p.cpu = cpuTime(t.pid()) - cpu0
	}
	p.host = readHostCPU().since(host0)
	return p, nil
}

// sample turns a phase's parts on t into its figures; after a
// registration phase it checks that t lists every node.
func (p part) sample(t *target, phase string, c *config) (sample, error) {
	sum := stats.Summarize(p.lat, p.elapsed)
	s := sample{n: sum.N, perSec: sum.PerSec, p50: sum.P50, p99: sum.P99, p999: sum.P999,
		errors: p.errors, firstErr: p.firstErr, elapsed: p.elapsed,
		steal: p.host.stolen()}
	if p.wall > 0 {
		if t.pid() != 0 {
			s.serverCPU = float64(p.cpu) / float64(p.wall)
		}
		s.loadCPU = float64(p.load) / float64(p.wall)
	}
	if t.pid() != 0 && s.n > 0 {
		s.cpuPerReq = p.cpu / time.Duration(s.n)
	}
	s.rss, s.rssAnon = t.memory()
	if phase == phaseRegister {
		n, err := readNames(t.addr)
		if err != nil {
			return s, fmt.Errorf("NAMES after registering: %w", err)
		}
		s.nodesHeld = n
		if n != c.nodes {
			fmt.Fprintf(os.Stderr, "epmd-bench: %s holds %d of %d nodes (%d registrations failed: %s)\n",
				t.name, n, c.nodes, s.errors, s.firstErr)
		}
	}
	return s, nil
}

// release closes the target's registrations in every worker and waits
// until the target lists no node.
func release(ws []*worker, t *target) error {
	for _, w := range ws {
		if _, err := w.do(job{Op: "release", Addr: t.addr}); err != nil {
			return err
		}
	}
	return waitNodes(t, 0, 30*time.Second)
}

// waitConntrack waits while the conntrack table is fuller than limit
// (a fraction of nf_conntrack_max), at most three minutes.
func waitConntrack(limit float64) {
	read := func(name string) int {
		b, err := os.ReadFile("/proc/sys/net/netfilter/" + name)
		if err != nil {
			return -1
		}
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	maxEntries := read("nf_conntrack_max")
	if maxEntries <= 0 || limit <= 0 {
		return
	}
	deadline := time.Now().Add(3 * time.Minute)
	told := false
	for {
		n := read("nf_conntrack_count")
		if float64(n) <= limit*float64(maxEntries) || time.Now().After(deadline) {
			return
		}
		if !told {
			fmt.Fprintf(os.Stderr, "epmd-bench: conntrack table %d/%d, waiting\n", n, maxEntries)
			told = true
		}
		time.Sleep(time.Second) // polling interval
	}
}

// writeBenchLine writes one Go benchmark line: benchstat -col /target
// compares the targets.
func writeBenchLine(w io.Writer, target, phase string, s sample) {
	if s.n == 0 {
		return
	}
	fmt.Fprintf(w, "BenchmarkEPMD/phase=%s/target=%s %d %.0f ns/op %.1f req/s %d p50-ns %d p99-ns %d p99.9-ns",
		phase, target, s.n, 1e9/s.perSec, s.perSec, s.p50, s.p99, s.p999)
	if s.rss > 0 {
		fmt.Fprintf(w, " %d rss-B %d rss-anon-B", s.rss, s.rssAnon)
	}
	fmt.Fprintln(w)
}

type figure struct {
	label  string
	value  func(sample) float64
	format func(float64) string
}

// sum and largest combine the rounds' values of figures that count or
// bound rare events, which a median would hide.
func sum(xs []float64) float64 {
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t
}

func largest(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return slices.Max(xs)
}

// phaseTitles name the phases in the report.
var phaseTitles = map[string]string{
	phaseFresh:      "register, fresh daemon (warm-up)",
	phaseRegister:   "register (held until the round ends)",
	phasePortPlease: "PORT_PLEASE2 (connect, ask, read to close)",
	phaseNames:      "NAMES, nodes registered",
	phaseChurn:      "churn (register, reply, close)",
}

// report prints one table: each figure's median over the rounds for
// every target, then its ratio to each reference target.
func report(w io.Writer, targets, refs []string, phases []string, results map[string]map[string][]sample) {
	ms := func(v float64) string { return strconv.FormatFloat(v/1e6, 'f', 2, 64) + " ms" }
	rate := func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) + "/s" }
	us := func(v float64) string { return strconv.FormatFloat(v/1e3, 'f', 1, 64) + " µs" }
	pct := func(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) + " %" }
	mib := func(v float64) string { return strconv.FormatFloat(v/(1<<20), 'f', 1, 64) + " MiB" }
	plain := func(prec int) func(float64) string {
		return func(v float64) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	}
	type pair struct{ t, ref int }
	var ratios []pair
	for _, r := range refs {
		ri := slices.Index(targets, r)
		for ti, t := range targets {
			if !slices.Contains(refs, t) {
				ratios = append(ratios, pair{ti, ri})
			}
		}
	}
	fmt.Fprintln(w, "Medians over the rounds. Ratio = target / reference: above 1 is faster for rates, below 1 is better for latencies and memory.")
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "figure\t")
	for _, t := range targets {
		fmt.Fprintf(tw, "%s\t", t)
	}
	for _, p := range ratios {
		fmt.Fprintf(tw, "%s/%s\t", targets[p.t], targets[p.ref])
	}
	fmt.Fprintln(tw)
	// line prints a figure's row: its median over the rounds, or what
	// over makes of the rounds' values.
	line := func(phase string, f figure, over ...func([]float64) float64) {
		combine := stats.Median
		if len(over) > 0 {
			combine = over[0]
		}
		fmt.Fprintf(tw, "%s\t", f.label)
		meds := make([]float64, len(targets))
		for i, t := range targets {
			var xs []float64
			for _, s := range results[t][phase] {
				xs = append(xs, f.value(s))
			}
			meds[i] = combine(xs)
			fmt.Fprintf(tw, "%s\t", f.format(meds[i]))
		}
		for _, p := range ratios {
			fmt.Fprintf(tw, "%s\t", stats.Ratio(meds[p.t], meds[p.ref]))
		}
		fmt.Fprintln(tw)
	}
	for _, ph := range phases {
		// Empty cells keep the title in the table's column blocks.
		fmt.Fprintf(tw, "%s\t%s\n", phaseTitles[ph], strings.Repeat("\t", len(targets)+len(ratios)))
		unit := "  req/s"
		switch ph {
		case phaseRegister, phaseFresh:
			unit = "  nodes/s"
		case phaseChurn:
			unit = "  cycles/s"
		}
		line(ph, figure{unit, func(s sample) float64 { return s.perSec }, rate})
		line(ph, figure{"  p50", func(s sample) float64 { return float64(s.p50) }, ms})
		line(ph, figure{"  p99", func(s sample) float64 { return float64(s.p99) }, ms})
		line(ph, figure{"  p99.9", func(s sample) float64 { return float64(s.p999) }, ms})
		line(ph, figure{"  errors", func(s sample) float64 { return float64(s.errors) }, plain(0)})
		line(ph, figure{"  server CPU (cores)", func(s sample) float64 { return s.serverCPU }, plain(2)})
		line(ph, figure{"  server CPU per request", func(s sample) float64 { return float64(s.cpuPerReq) }, us})
		line(ph, figure{"  load CPU (cores)", func(s sample) float64 { return s.loadCPU }, plain(2)})
		line(ph, figure{"  host CPU stolen", func(s sample) float64 { return s.steal }, pct})
		if ph == phaseRegister || ph == phaseFresh {
			traced := slices.ContainsFunc(targets, func(t string) bool {
				return slices.ContainsFunc(results[t][ph], func(s sample) bool { return s.accept.calls > 0 })
			})
			line(ph, figure{"  nodes held", func(s sample) float64 { return float64(s.nodesHeld) }, plain(0)})
			line(ph, figure{"  RSS with the nodes", func(s sample) float64 { return float64(s.rss) }, mib})
			line(ph, figure{"    of which anonymous", func(s sample) float64 { return float64(s.rssAnon) }, mib})
			line(ph, figure{"    of which mapped files", func(s sample) float64 { return float64(s.rss - s.rssAnon) }, mib})
			if traced {
				line(ph, figure{"  accept calls", func(s sample) float64 { return float64(s.accept.calls) }, plain(0)})
				line(ph, figure{"  accept calls over 1 ms, all rounds", func(s sample) float64 { return float64(s.accept.slow) }, plain(0)}, sum)
				line(ph, figure{"    their time blocked", func(s sample) float64 { return float64(s.accept.blocked) }, ms}, sum)
				line(ph, figure{"    their time waiting for a CPU", func(s sample) float64 { return float64(s.accept.preempted) }, ms}, sum)
				line(ph, figure{"    their time in softirqs", func(s sample) float64 { return float64(s.accept.softirq) }, ms}, sum)
				line(ph, figure{"    their time running or stolen", func(s sample) float64 { return float64(s.accept.running()) }, ms}, sum)
				line(ph, figure{"    their time stolen by the host, at least", func(s sample) float64 { return float64(s.accept.stolen) }, ms}, sum)
				line(ph, figure{"    their time on a CPU with no timer interrupt", func(s sample) float64 { return float64(s.accept.dark) }, ms}, sum)
				line(ph, figure{"  accept calls over 1 ms without that time, all rounds", func(s sample) float64 { return float64(s.accept.slowLit) }, plain(0)}, sum)
				line(ph, figure{"  longest accept call, all rounds", func(s sample) float64 { return float64(s.accept.max) }, ms}, largest)
				line(ph, figure{"  server's time on a CPU", func(s sample) float64 { return float64(s.accept.onCPU) }, ms})
				line(ph, figure{"    with no timer interrupt", func(s sample) float64 { return float64(s.accept.onCPUDark) }, ms})
			}
		}
	}
	_ = tw.Flush()
	for line := range strings.Lines(table.String()) {
		fmt.Fprintln(w, strings.TrimRight(line, " \n"))
	}
}

// memoryReport prints each started target's memory: idle, and with the
// nodes registered for the first time; the median over the fresh daemons
// when there were several.
func memoryReport(w io.Writer, targets []string, results map[string]map[string][]sample, rssBase map[string]int64) {
	for _, t := range targets {
		rs := results[t][phaseFresh]
		if len(rs) == 0 && len(results[t][phaseRegister]) > 0 {
			// No warm-up: the first round registered them first.
			first := results[t][phaseRegister][0]
			first.rssIdle = rssBase[t]
			rs = []sample{first}
		}
		if len(rs) == 0 || rs[0].rssIdle == 0 {
			continue
		}
		med := func(f func(sample) float64) float64 {
			xs := make([]float64, len(rs))
			for i, s := range rs {
				xs[i] = f(s)
			}
			return stats.Median(xs)
		}
		over := "the fresh daemon"
		if len(rs) > 1 {
			over = fmt.Sprintf("a fresh daemon (median of %d)", len(rs))
		}
		fmt.Fprintf(w, "%s: RSS idle %.1f MiB, %.1f MiB with %d nodes registered on %s: %.0f bytes per node; registering them took %v\n",
			t, med(func(s sample) float64 { return float64(s.rssIdle) })/(1<<20),
			med(func(s sample) float64 { return float64(s.rss) })/(1<<20), rs[0].nodesHeld, over,
			med(func(s sample) float64 { return float64(s.rssPerNode) }),
			time.Duration(med(func(s sample) float64 { return float64(s.elapsed) })).Round(time.Millisecond))
	}
}

func workersCPU(ws []*worker) time.Duration {
	var d time.Duration
	for _, w := range ws {
		d += cpuTime(w.cmd.Process.Pid)
	}
	return d
}
