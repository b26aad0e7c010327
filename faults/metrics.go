package faults

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// metrics counts requests and fired faults for /metrics.
type metrics struct {
	mu       sync.Mutex
	requests map[[2]string]uint64 // type, result
	faults   map[string]uint64    // kind
}

func (m *metrics) request(k epmd.Kind, result string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.requests == nil {
		m.requests = make(map[[2]string]uint64)
	}
	m.requests[[2]string{k.String(), result}]++
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
	m.mu.Lock()
	reqKeys := make([][2]string, 0, len(m.requests))
	for k := range m.requests {
		reqKeys = append(reqKeys, k)
	}
	slices.SortFunc(reqKeys, func(a, b [2]string) int {
		return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1]))
	})
	reqs := make([]uint64, len(reqKeys))
	for i, k := range reqKeys {
		reqs[i] = m.requests[k]
	}
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
