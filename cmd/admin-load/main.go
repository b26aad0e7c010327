// Command admin-load measures chaos-epmd's control plane under load: it
// sends fault add/remove requests to the admin API at a fixed rate while
// a thousand nodes churn (register, look themselves up, hold, unregister)
// over loopback, and reports the admin requests' latency, the
// registrations lost, and the epmd requests' latency with and without the
// admin load.
//
//	admin-load                                  # an in-process chaos-epmd
//	admin-load -epmd 127.0.0.1:4369 -admin 127.0.0.1:4380   # a running one
//
// Each round runs a phase of churn alone, then a phase of churn with the
// admin load, -duration each, so both see the same machine. The churn's
// connections come from -sources addresses 127.0.0.2, 127.0.0.3, ... so
// that TIME_WAIT does not exhaust one source's ephemeral ports. A
// registration is lost when its connection is closed by the daemon, or
// when its own PORT_PLEASE2 does not return its port while it is held.
// The faults added never match a churn node (node=zz-absent-*), but every
// request walks them. The exit status is 1 when an admin request took
// longer than -max-admin or a registration was lost.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/faults"
)

type config struct {
	epmdAddr, adminURL string
	nodes              int
	rate               int
	duration           time.Duration
	rounds             int
	hold               time.Duration
	sources            int
	installed          int
	adminWorkers       int
	maxAdmin           time.Duration
	// pid is the daemon's process, whose CPU time each phase reports;
	// this process when the daemon runs in it.
	pid int
}

func main() {
	var c config
	var admin string
	flag.StringVar(&c.epmdAddr, "epmd", "", "HOST:PORT of a running chaos-epmd (default: one in this process)")
	flag.StringVar(&admin, "admin", "", "HOST:PORT of its admin API (with -epmd)")
	flag.IntVar(&c.nodes, "nodes", 1000, "nodes churning at once")
	flag.IntVar(&c.rate, "rate", 1000, "admin requests per second (adds and removes alternately)")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "length of each phase")
	flag.IntVar(&c.rounds, "rounds", 3, "rounds of (churn alone, churn with admin load)")
	flag.DurationVar(&c.hold, "hold", time.Second, "mean time a node stays registered (uniform in [0.5, 1.5] of it)")
	flag.IntVar(&c.sources, "sources", 250, "source addresses 127.0.0.2... for the churn")
	flag.IntVar(&c.installed, "installed", 20, "faults kept installed throughout (never matching)")
	flag.IntVar(&c.adminWorkers, "admin-workers", 16, "concurrent admin clients")
	flag.DurationVar(&c.maxAdmin, "max-admin", 100*time.Millisecond, "longest admin request allowed")
	flag.IntVar(&c.pid, "pid", 0, "process ID of the -epmd daemon, to report its CPU use")
	flag.Parse()
	if (c.epmdAddr == "") != (admin == "") {
		fmt.Fprintln(os.Stderr, "admin-load: -epmd and -admin go together")
		os.Exit(2)
	}
	if admin != "" {
		c.adminURL = "http://" + admin
	}
	ok, err := run(c, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "admin-load:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// phaseResult is what one phase measured.
type phaseResult struct {
	admin            []time.Duration
	adminErrors      int
	alive2, lookup   []time.Duration
	registered, lost int
	failed           int
	firstLost        string
	// stall is the longest a 1 ms sleep overslept during the phase: how
	// long the machine kept this process off the CPU.
	stall time.Duration
	// cpu is the daemon's CPU time during the phase, wall the phase's
	// length.
	cpu, wall time.Duration
}

func (r *phaseResult) add(o *phaseResult) {
	r.admin = append(r.admin, o.admin...)
	r.alive2 = append(r.alive2, o.alive2...)
	r.lookup = append(r.lookup, o.lookup...)
	r.adminErrors += o.adminErrors
	r.registered += o.registered
	r.lost += o.lost
	r.failed += o.failed
	r.stall = max(r.stall, o.stall)
	r.cpu += o.cpu
	r.wall += o.wall
	if r.firstLost == "" {
		r.firstLost = o.firstLost
	}
}

// run runs the rounds and writes the report to w; ok reports whether the
// admin requests stayed under c.maxAdmin and no registration was lost.
func run(c config, w io.Writer) (ok bool, err error) {
	epmd.RaiseFileLimit()
	if c.epmdAddr == "" {
		stop, err := startInProcess(&c)
		if err != nil {
			return false, err
		}
		defer stop()
	}
	ac := &faults.Client{URL: c.adminURL, Timeout: 10 * time.Second, MaxIdleConns: c.adminWorkers}
	ctx := context.Background()
	if err := ac.Clear(ctx); err != nil {
		return false, err
	}
	for i := range c.installed {
		if _, err := ac.Add(ctx, "drop,req=port_please|alive2,node=zz-absent-"+strconv.Itoa(i)); err != nil {
			return false, err
		}
	}
	fmt.Fprintf(w, "admin-load: %d nodes churning (hold %v), %d admin req/s, %d faults installed, %d rounds of 2 × %v, %d CPUs, load %s\n",
		c.nodes, c.hold, c.rate, c.installed, c.rounds, c.duration, runtime.NumCPU(), loadavg())
	var base, loaded phaseResult
	for round := 1; round <= c.rounds; round++ {
		b := phase(c, ac, false)
		l := phase(c, ac, true)
		fmt.Fprintf(w, "round %d: churn alone: %s\n", round, b.churnLine())
		fmt.Fprintf(w, "round %d: with admin: %s; %s\n", round, l.churnLine(), l.adminLine())
		base.add(&b)
		loaded.add(&l)
	}
	fmt.Fprintf(w, "all rounds: churn alone: %s\n", base.churnLine())
	fmt.Fprintf(w, "all rounds: with admin: %s; %s\n", loaded.churnLine(), loaded.adminLine())
	fmt.Fprintf(w, "load after: %s\n", loadavg())
	if err := ac.Clear(ctx); err != nil {
		return false, err
	}
	lost := base.lost + loaded.lost
	if lost > 0 {
		fmt.Fprintf(w, "FAIL: %d registrations lost (first: %s)\n", lost, cmpOr(base.firstLost, loaded.firstLost))
	}
	if m := maxOf(loaded.admin); m > c.maxAdmin {
		fmt.Fprintf(w, "FAIL: slowest admin request %v > %v (longest stall of this process meanwhile: %v)\n",
			m.Round(10*time.Microsecond), c.maxAdmin, loaded.stall.Round(10*time.Microsecond))
	}
	if loaded.adminErrors > 0 {
		fmt.Fprintf(w, "FAIL: %d admin requests failed\n", loaded.adminErrors)
	}
	return lost == 0 && maxOf(loaded.admin) <= c.maxAdmin && loaded.adminErrors == 0, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (r *phaseResult) churnLine() string {
	cpu := ""
	if r.cpu > 0 {
		cpu = fmt.Sprintf("; daemon CPU %.0f%% of a core", 100*r.cpu.Seconds()/r.wall.Seconds())
	}
	return fmt.Sprintf("%d registrations, %d lost, %d failed; ALIVE2 %s; PORT_PLEASE2 %s; longest stall %s%s",
		r.registered, r.lost, r.failed, latencies(r.alive2), latencies(r.lookup), r.stall.Round(10*time.Microsecond), cpu)
}

func (r *phaseResult) adminLine() string {
	return fmt.Sprintf("admin %d requests, %d failed, %s", len(r.admin), r.adminErrors, latencies(r.admin))
}

// latencies formats p50, p99 and max.
func latencies(d []time.Duration) string {
	if len(d) == 0 {
		return "none"
	}
	s := slices.Clone(d)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	r := func(d time.Duration) string { return d.Round(10 * time.Microsecond).String() }
	return fmt.Sprintf("p50 %s p99 %s max %s", r(q(0.50)), r(q(0.99)), r(s[len(s)-1]))
}

func maxOf(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return slices.Max(d)
}

// phase runs the churn for c.duration, with the admin load when withAdmin.
func phase(c config, ac *faults.Client, withAdmin bool) phaseResult {
	waitConntrack()
	ctx, cancel := context.WithTimeout(context.Background(), c.duration)
	defer cancel()
	var mu sync.Mutex
	var res phaseResult
	var wg sync.WaitGroup
	cpu0, start := cpuTime(c.pid), time.Now()
	wg.Go(func() {
		for ctx.Err() == nil {
			t0 := time.Now()
			time.Sleep(time.Millisecond)
			if d := time.Since(t0) - time.Millisecond; d > 0 {
				mu.Lock()
				res.stall = max(res.stall, d)
				mu.Unlock()
			}
		}
	})
	for i := range c.nodes {
		wg.Go(func() {
			r := churn(ctx, c, i)
			mu.Lock()
			res.add(&r)
			mu.Unlock()
		})
	}
	if withAdmin {
		r := adminLoad(ctx, c, ac)
		mu.Lock()
		res.admin, res.adminErrors = r.admin, r.adminErrors
		mu.Unlock()
	}
	wg.Wait()
	if c.pid != 0 {
		res.cpu, res.wall = cpuTime(c.pid)-cpu0, time.Since(start)
	}
	return res
}

// cpuTime returns the user and system CPU time of process pid so far
// (clock ticks of 10 ms, Linux's USER_HZ); 0 for pid 0.
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// churn registers node i under a new name each cycle, looks it up,
// holds it and unregisters it, until ctx is done.
func churn(ctx context.Context, c config, i int) phaseResult {
	var res phaseResult
	src := net.IPv4(127, 0, 0, byte(2+i%c.sources))
	cl := &epmd.Client{Addr: c.epmdAddr, Timeout: 5 * time.Second,
		Dialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}}}
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	hold := func() time.Duration { return c.hold/2 + time.Duration(rng.Int64N(int64(c.hold)+1)) }
	if !sleep(ctx, time.Duration(rng.Int64N(int64(c.hold)+1))) { // spread the starts
		return res
	}
	port := uint16(20000 + i%40000)
	for cycle := 0; ctx.Err() == nil; cycle++ {
		name := "churn" + strconv.Itoa(i) + "-" + strconv.Itoa(cycle)
		t0 := time.Now()
		reg, err := cl.Register(context.Background(), &epmd.Alive2Req{Name: name, PortNo: port, NodeType: 77, HighVsn: 6, LowVsn: 5})
		if err != nil {
			res.failed++
			if res.firstLost == "" {
				res.firstLost = "ALIVE2 " + name + ": " + err.Error()
			}
			sleep(ctx, 100*time.Millisecond)
			continue
		}
		res.alive2 = append(res.alive2, time.Since(t0))
		res.registered++
		t1 := time.Now()
		p, err := cl.PortPlease(context.Background(), name)
		res.lookup = append(res.lookup, time.Since(t1))
		lost := ""
		if err != nil || p.PortNo != port {
			lost = fmt.Sprintf("PORT_PLEASE2 %s while held: %+v, %v", name, p, err)
		}
		select {
		case <-reg.Done():
			lost = "registration " + name + " closed by the daemon"
		case <-time.After(hold()):
		case <-ctx.Done():
		}
		_ = reg.Close()
		if lost != "" {
			res.lost++
			if res.firstLost == "" {
				res.firstLost = lost
			}
		}
	}
	return res
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// adminLoad sends c.rate requests a second, from c.adminWorkers clients,
// until ctx is done: each client adds a fault, then removes it. A request
// is timed from when it is sent to when its reply is read.
func adminLoad(ctx context.Context, c config, ac *faults.Client) phaseResult {
	jobs := make(chan struct{}, c.adminWorkers)
	var mu sync.Mutex
	var res phaseResult
	var seq atomic.Uint64
	var wg sync.WaitGroup
	for range c.adminWorkers {
		wg.Go(func() {
			var pending uint64
			for range jobs {
				t0 := time.Now()
				var err error
				if pending == 0 {
					var info faults.Info
					info, err = ac.Add(context.Background(), "delay_write=1,req=port_please,node=zz-absent-load-"+strconv.FormatUint(seq.Add(1), 10))
					pending = info.ID
				} else {
					err = ac.Remove(context.Background(), pending)
					pending = 0
				}
				d := time.Since(t0)
				mu.Lock()
				res.admin = append(res.admin, d)
				if err != nil {
					res.adminErrors++
				}
				mu.Unlock()
			}
			if pending != 0 {
				_ = ac.Remove(context.Background(), pending)
			}
		})
	}
	start := time.Now()
	interval := time.Second / time.Duration(c.rate)
	for k := 0; ; k++ {
		due := start.Add(time.Duration(k) * interval)
		if !sleep(ctx, time.Until(due)) {
			break
		}
		select {
		case jobs <- struct{}{}:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	return res
}

// startInProcess serves a chaos-epmd (server, injector, admin API) on
// loopback in this process and points c at it.
func startInProcess(c *config) (stop func(), err error) {
	inj := faults.NewInjector(1, nil)
	srv := &epmd.Server{Registry: &epmd.MemRegistry{}, Middleware: []epmd.Middleware{inj.Middleware},
		Logger: slog.New(slog.DiscardHandler)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	al, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		l.Close()
		return nil, err
	}
	a := &faults.Admin{Injector: inj, Server: srv}
	go func() { _ = srv.Serve(l) }()
	go func() { _ = a.Serve(al) }()
	c.epmdAddr, c.adminURL = l.Addr().String(), "http://"+al.Addr().String()
	return func() {
		_ = a.Close()
		_ = srv.Close()
		_ = inj.Close()
	}, nil
}

// waitConntrack waits, at most three minutes, while the kernel's
// conntrack table is more than half full: every loopback connection leaves
// an entry there for the two minutes of TIME_WAIT, and a full table drops
// new connections.
func waitConntrack() {
	read := func(name string) int {
		b, _ := os.ReadFile("/proc/sys/net/netfilter/" + name)
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	limit := read("nf_conntrack_max") / 2
	for deadline := time.Now().Add(3 * time.Minute); limit > 0 && read("nf_conntrack_count") > limit && time.Now().Before(deadline); {
		time.Sleep(time.Second)
	}
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
