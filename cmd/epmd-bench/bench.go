package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
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
	rss        int64   // after the phase, bytes
	serverCPU  float64 // CPU time of the target per wall time (1 = one core)
	loadCPU    float64 // CPU time of the worker processes per wall time
	nodesHeld  int     // register: nodes NAMES listed afterwards
	rssPerNode int64   // register, first round: RSS growth per node, bytes
}

// goals are the targets for the ratio to the baseline: at least
// this for throughput; every p99 at most 1.
var goals = map[string]float64{
	phaseRegister:   1.5,
	phasePortPlease: 1.3,
	phaseNames:      5,
	phaseChurn:      1.3,
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
	}
	ws, err := startWorkers(c.workers)
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
	fmt.Printf("epmd-bench: %d nodes, %d clients over %d worker processes, %d rounds, targets alternating\n",
		c.nodes, c.clients, len(ws), c.rounds)
	start := time.Now()
	for round := range c.rounds {
		order := slices.Clone(targets)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, ph := range phases {
			for _, t := range order {
				if ph == phaseRegister && c.nodes == 0 {
					continue
				}
				waitConntrack(c.conntrackLimit)
				s, err := runPhase(ws, t, ph, c, round)
				if err != nil {
					return fmt.Errorf("round %d, %s on %s: %w", round+1, ph, t.name, err)
				}
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
	report(os.Stdout, targets, phases, results, rssBase)
	return nil
}

func (s sample) String() string {
	str := fmt.Sprintf("%8.0f/s  p50 %v  p99 %v  p99.9 %v  n=%d  rss %.1f MiB  cpu server %.2f load %.2f",
		s.perSec, s.p50, s.p99, s.p999, s.n, float64(s.rss)/(1<<20), s.serverCPU, s.loadCPU)
	if s.errors > 0 {
		str += fmt.Sprintf("  ERRORS %d (first: %s)", s.errors, s.firstErr)
	}
	return str
}

// split divides total among the workers as the clients are divided.
func split(total, clients, workers int) (perWorkerClients, perWorker []int) {
	for w := range workers {
		cl := clients / workers
		if w < clients%workers {
			cl++
		}
		perWorkerClients = append(perWorkerClients, cl)
	}
	given := 0
	for w := range workers {
		n := total * perWorkerClients[w] / clients
		if w == workers-1 {
			n = total - given
		}
		perWorker = append(perWorker, n)
		given += n
	}
	return perWorkerClients, perWorker
}

func runPhase(ws []*worker, t *target, phase string, c *config, round int) (sample, error) {
	count := map[string]int{
		phaseRegister:   c.nodes,
		phasePortPlease: c.ppCount,
		phaseNames:      c.namesCount,
		phaseChurn:      c.churnCount,
	}[phase]
	wc, wn := split(count, c.clients, len(ws))
	startAt := time.Now().Add(50 * time.Millisecond)
	cpu0, load0 := cpuTime(t.pid()), workersCPU(ws)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		all  result
		errs []error
	)
	first := 0
	for i, w := range ws {
		j := job{Op: phase, Addr: t.addr, Clients: wc[i], Count: wn[i], Start: startAt,
			Prefix: "n", First: first, Nodes: wn[i], Total: c.nodes, Seed: uint64(round)}
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
		return sample{}, errors.Join(errs...)
	}
	s := summarize(all)
	if wall := time.Since(startAt); wall > 0 {
		if t.pid() != 0 {
			s.serverCPU = float64(cpuTime(t.pid())-cpu0) / float64(wall)
		}
		s.loadCPU = float64(workersCPU(ws)-load0) / float64(wall)
	}
	s.rss = t.rss()
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

func summarize(r result) sample {
	s := sample{n: len(r.Lat), errors: r.Errors, firstErr: r.FirstErr, elapsed: r.Elapsed}
	if r.Elapsed > 0 {
		s.perSec = float64(len(r.Lat)) / r.Elapsed.Seconds()
	}
	slices.Sort(r.Lat)
	s.p50 = percentile(r.Lat, 0.50)
	s.p99 = percentile(r.Lat, 0.99)
	s.p999 = percentile(r.Lat, 0.999)
	return s
}

func percentile(sorted []int64, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return time.Duration(sorted[max(i, 0)])
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
		fmt.Fprintf(w, " %d rss-B", s.rss)
	}
	fmt.Fprintln(w)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

type figure struct {
	label   string
	value   func(sample) float64
	format  func(float64) string
	higher  bool    // higher is better
	goal    float64 // ratio goal, 0 = none
	ratioOK func(r float64) bool
}

func report(w io.Writer, targets []*target, phases []string, results map[string]map[string][]sample, rssBase map[string]int64) {
	ms := func(v float64) string { return strconv.FormatFloat(v/1e6, 'f', 3, 64) + " ms" }
	rate := func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) + "/s" }
	mib := func(v float64) string { return strconv.FormatFloat(v/(1<<20), 'f', 1, 64) + " MiB" }
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "phase\tfigure\t")
	for _, t := range targets {
		fmt.Fprintf(tw, "%s\t", t.name)
	}
	for _, t := range targets[1:] {
		fmt.Fprintf(tw, "%s/%s\t", t.name, targets[0].name)
	}
	if len(targets) > 1 {
		fmt.Fprint(tw, "goal\t")
	}
	fmt.Fprintln(tw)
	line := func(phase string, f figure) {
		fmt.Fprintf(tw, "%s\t%s\t", phase, f.label)
		meds := make([]float64, len(targets))
		for i, t := range targets {
			var xs []float64
			for _, s := range results[t.name][phase] {
				xs = append(xs, f.value(s))
			}
			meds[i] = median(xs)
			fmt.Fprintf(tw, "%s\t", f.format(meds[i]))
		}
		var verdicts []string
		for i := range targets[1:] {
			r := meds[i+1] / meds[0]
			if meds[0] == 0 {
				fmt.Fprint(tw, "-\t")
				continue
			}
			fmt.Fprintf(tw, "%.2f×\t", r)
			if f.ratioOK != nil && meds[0] > 0 {
				v := "met"
				if !f.ratioOK(r) {
					v = "NOT MET"
				}
				verdicts = append(verdicts, v)
			}
		}
		if len(targets) > 1 {
			goal := ""
			switch {
			case f.goal > 0:
				goal = fmt.Sprintf("≥ %.1f× %s", f.goal, strings.Join(verdicts, ","))
			case f.ratioOK != nil:
				goal = "≤ 1.0× " + strings.Join(verdicts, ",")
			}
			fmt.Fprintf(tw, "%s\t", goal)
		}
		fmt.Fprintln(tw)
	}
	for _, ph := range phases {
		g := goals[ph]
		unit := "req/s"
		if ph == phaseRegister {
			unit = "nodes/s"
		} else if ph == phaseChurn {
			unit = "cycles/s"
		}
		line(ph, figure{label: unit, value: func(s sample) float64 { return s.perSec }, format: rate,
			higher: true, goal: g, ratioOK: func(r float64) bool { return r >= g }})
		line(ph, figure{label: "p50", value: func(s sample) float64 { return float64(s.p50) }, format: ms})
		line(ph, figure{label: "p99", value: func(s sample) float64 { return float64(s.p99) }, format: ms,
			ratioOK: func(r float64) bool { return r <= 1 }})
		line(ph, figure{label: "p99.9", value: func(s sample) float64 { return float64(s.p999) }, format: ms})
		line(ph, figure{label: "errors", value: func(s sample) float64 { return float64(s.errors) },
			format: func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }})
		line(ph, figure{label: "server CPU", value: func(s sample) float64 { return s.serverCPU },
			format: func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }})
		line(ph, figure{label: "load CPU", value: func(s sample) float64 { return s.loadCPU },
			format: func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }})
		if ph == phaseRegister {
			line(ph, figure{label: "nodes held", value: func(s sample) float64 { return float64(s.nodesHeld) },
				format: func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }})
			line(ph, figure{label: "RSS loaded", value: func(s sample) float64 { return float64(s.rss) }, format: mib})
		}
	}
	_ = tw.Flush()
	for _, t := range targets {
		rs := results[t.name][phaseRegister]
		if len(rs) == 0 || rssBase[t.name] == 0 {
			continue
		}
		fmt.Fprintf(w, "%s: RSS idle %.1f MiB, with %d nodes %.1f MiB: %d bytes per node (first round); registering took %v\n",
			t.name, float64(rssBase[t.name])/(1<<20), rs[0].nodesHeld, float64(rs[0].rss)/(1<<20),
			rs[0].rssPerNode, rs[0].elapsed.Round(time.Millisecond))
	}
}

// cpuTime is the user and system CPU time of a process so far, from
// /proc/PID/stat (clock ticks of 10 ms).
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func workersCPU(ws []*worker) time.Duration {
	var d time.Duration
	for _, w := range ws {
		d += cpuTime(w.cmd.Process.Pid)
	}
	return d
}
