package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRunSmall runs a small load against an in-process chaos-epmd: every
// phase registers, nothing is lost, the admin phase sends requests, and
// the report has its lines.
func TestRunSmall(t *testing.T) {
	var out bytes.Buffer
	ok, err := run(config{nodes: 20, rate: 100, duration: 1500 * time.Millisecond, rounds: 1, hold: 200 * time.Millisecond,
		sources: 4, installed: 3, adminWorkers: 4, maxAdmin: 10 * time.Second}, &out)
	if err != nil || !ok {
		t.Fatalf("run: ok %v, %v\n%s", ok, err, out.String())
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := []string{
		`^admin-load: 20 nodes churning \(hold 200ms\), 100 admin req/s, 3 faults installed, 1 rounds of 2 × 1.5s, \d+ CPUs, load `,
		`^round 1: churn alone: [1-9]\d* registrations, 0 lost, 0 failed; ALIVE2 p50 \S+ p99 \S+ max \S+; PORT_PLEASE2 p50 \S+ p99 \S+ max \S+; longest stall \S+$`,
		`^round 1: with admin: [1-9]\d* registrations, 0 lost, 0 failed; .*; admin 1\d\d requests, 0 failed, p50 \S+ p99 \S+ max \S+$`,
		`^all rounds: churn alone: `,
		`^all rounds: with admin: `,
		`^load after: `,
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(lines[i]) {
			t.Errorf("line %d %q does not match %q", i+1, lines[i], re)
		}
	}
}
