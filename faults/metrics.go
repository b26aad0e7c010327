package faults

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// metrics counts requests and fired faults for /metrics.
type metrics struct {
	// requests counts by request kind and result index (resultNames):
	// lock-free, as it is on every request's path.
	requests [8][len(resultNames)]atomic.Uint64
	mu       sync.Mutex
	faults   map[string]uint64 // kind
}

func (m *metrics) request(k epmd.Kind, r result) {
	if int(k) < len(m.requests) {
		m.requests[k][r].Add(1)
	}
}

func (m *metrics) fault(kind string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.faults == nil {
		m.faults = make(map[string]uint64)
	}
	m.faults[kind]++
}

// Gauges are the instantaneous values /metrics reports besides the
// injector's counters.
type Gauges struct {
	RegisteredNodes int
	OpenConnections int
}

// WriteMetrics writes the injector's counters and g in the Prometheus text
// exposition format: chaos_epmd_requests_total{type,result} (accept counts
// connections), chaos_epmd_faults_fired_total{kind},
// chaos_epmd_registered_nodes, chaos_epmd_open_connections,
// chaos_epmd_faults_active.
func (inj *Injector) WriteMetrics(w io.Writer, g Gauges) error {
	m := &inj.metrics
	var reqKeys [][2]string
	var reqs []uint64
	for k := range m.requests {
		for i, name := range resultNames {
			if n := m.requests[k][i].Load(); n > 0 {
				reqKeys = append(reqKeys, [2]string{epmd.Kind(k).String(), name})
				reqs = append(reqs, n)
			}
		}
	}
	order := make([]int, len(reqKeys))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(strings.Compare(reqKeys[a][0], reqKeys[b][0]), strings.Compare(reqKeys[a][1], reqKeys[b][1]))
	})
	sortedKeys := make([][2]string, len(order))
	sorted := make([]uint64, len(order))
	for i, j := range order {
		sortedKeys[i], sorted[i] = reqKeys[j], reqs[j]
	}
	reqKeys, reqs = sortedKeys, sorted
	m.mu.Lock()
	faultKinds := kindNames()
	fired := make([]uint64, len(faultKinds))
	for i, k := range faultKinds {
		fired[i] = m.faults[k]
	}
	m.mu.Unlock()

	ew := &errWriter{w: w}
	ew.printf("# HELP chaos_epmd_requests_total Requests that reached the fault injector, by type and result (accept counts connections).\n")
	ew.printf("# TYPE chaos_epmd_requests_total counter\n")
	for i, k := range reqKeys {
		ew.printf("chaos_epmd_requests_total{type=%q,result=%q} %d\n", k[0], k[1], reqs[i])
	}
	ew.printf("# HELP chaos_epmd_faults_fired_total Times a fault acted, by kind.\n")
	ew.printf("# TYPE chaos_epmd_faults_fired_total counter\n")
	for i, k := range faultKinds {
		ew.printf("chaos_epmd_faults_fired_total{kind=%q} %d\n", k, fired[i])
	}
	ew.printf("# HELP chaos_epmd_faults_active Faults installed.\n")
	ew.printf("# TYPE chaos_epmd_faults_active gauge\n")
	ew.printf("chaos_epmd_faults_active %d\n", len(*inj.faults.Load()))
	ew.printf("# HELP chaos_epmd_registered_nodes Nodes registered.\n")
	ew.printf("# TYPE chaos_epmd_registered_nodes gauge\n")
	ew.printf("chaos_epmd_registered_nodes %d\n", g.RegisteredNodes)
	ew.printf("# HELP chaos_epmd_open_connections Client connections open.\n")
	ew.printf("# TYPE chaos_epmd_open_connections gauge\n")
	ew.printf("chaos_epmd_open_connections %d\n", g.OpenConnections)
	return ew.err
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
