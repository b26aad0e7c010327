package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseHostCPU(t *testing.T) {
	tests := []struct {
		name, in string
		want     hostCPU
		err      string
	}{
		{"a kernel of today (guest fields not added)",
			"cpu  1584611 1500 1099966 3996483 16282 0 101633 145532 7 9\ncpu0 1 2 3 4 5 6 7 8 0 0\n",
			hostCPU{total: 1584611 + 1500 + 1099966 + 3996483 + 16282 + 101633 + 145532, steal: 145532}, ""},
		{"no steal field (before 2.6.11)", "cpu 10 20 30 40\n", hostCPU{total: 100}, ""},
		{"steal but no guest fields", "cpu 1 1 1 1 1 1 1 5", hostCPU{total: 12, steal: 5}, ""},
		{"empty", "", hostCPU{}, `/proc/stat: first line "": want "cpu" and at least 4 counts`},
		{"a per-CPU line first", "cpu0 1 2 3 4\n", hostCPU{}, `/proc/stat: first line "cpu0 1 2 3 4": want "cpu" and at least 4 counts`},
		{"too few counts", "cpu 1 2 3\n", hostCPU{}, `/proc/stat: first line "cpu 1 2 3": want "cpu" and at least 4 counts`},
		{"not a number", "cpu 1 2 x 4\n", hostCPU{}, `/proc/stat: field 3 "x": want a tick count`},
		{"counts past 2^63", "cpu 9223372036854775807 1 0 0\n", hostCPU{}, "/proc/stat: the counts add up past 2^63"},
		{"negative", "cpu 1 2 3 4 5 6 7 -8\n", hostCPU{}, `/proc/stat: field 8 "-8": want a tick count`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseHostCPU([]byte(tt.in))
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("parseHostCPU(%q) error = %v, want %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseHostCPU(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestStolenSince(t *testing.T) {
	tests := []struct {
		name        string
		before, now hostCPU
		want        float64
	}{
		{"a tenth stolen", hostCPU{1000, 50}, hostCPU{1200, 70}, 0.1},
		{"none stolen", hostCPU{1000, 50}, hostCPU{1200, 50}, 0},
		{"no time passed", hostCPU{1000, 50}, hostCPU{1000, 50}, 0},
		{"unreadable afterwards", hostCPU{1000, 50}, hostCPU{}, 0},
		{"unreadable before", hostCPU{}, hostCPU{200, 20}, 0.1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.now.since(tt.before).stolen(); got != tt.want {
				t.Fatalf("%+v.since(%+v).stolen() = %v, want %v", tt.now, tt.before, got, tt.want)
			}
		})
	}
}

func TestParseSchedstat(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"66494000 1200 37\n", 66494000, ""},
		{"0 0 0", 0, ""},
		{"1 2\n", 0, `schedstat "1 2\n": want 3 fields`},
		{"x 2 3", 0, `schedstat "x 2 3": run time is not a count of nanoseconds`},
		{"-5 2 3", 0, `schedstat "-5 2 3": run time is not a count of nanoseconds`},
	}
	for _, tt := range tests {
		got, err := parseSchedstat([]byte(tt.in))
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("parseSchedstat(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseSchedstat(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	// Fields after the name: state ppid pgrp session tty tpgid flags minflt
	// cminflt majflt cmajflt utime stime ...
	line := "4034 (chaos epmd) (x)) S 1 4034 1 0 -1 4194560 900 0 0 0 25 12 0 0 20 0 5 0\n"
	got, err := parseStatCPU([]byte(line))
	if err != nil || got != 370*time.Millisecond {
		t.Fatalf("parseStatCPU = %v, %v; want 370ms (37 ticks)", got, err)
	}
	for in, want := range map[string]string{
		"4034 chaos S 1":                    "stat: no command name in parentheses",
		"4034 (chaos) S 1 2 3":              "stat: 4 fields after the command name, want at least 13",
		"1 (a) S 1 1 1 0 -1 0 0 0 0 0 x 12": `stat: utime "x", stime "12": want tick counts`,
	} {
		if _, err := parseStatCPU([]byte(in)); err == nil || err.Error() != want {
			t.Errorf("parseStatCPU(%q) error = %v, want %q", in, err, want)
		}
	}
}

// cpuTime counts this process's own CPU time in nanoseconds, not in the
// 10 ms ticks of /proc/PID/stat: 2 ms of spinning shows.
func TestCPUTimeOfThisProcess(t *testing.T) {
	pid := os.Getpid()
	c0 := cpuTime(pid)
	if c0 <= 0 {
		t.Fatalf("cpuTime(%d) = %v, want > 0", pid, c0)
	}
	deadline := time.Now().Add(10 * time.Second)
	x := 0
	for cpuTime(pid)-c0 < 2*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("cpuTime(%d) grew %v in 10 s of spinning, want 2 ms", pid, cpuTime(pid)-c0)
		}
		for i := range 100000 {
			x += i
		}
	}
	if got := cpuTime(pid) - c0; got%(10*time.Millisecond) == 0 {
		t.Fatalf("cpuTime grew by %v, a whole number of ticks: read from /proc/PID/stat, not schedstat", got)
	}
	_ = x
	if cpuTime(0) != 0 {
		t.Fatal("cpuTime(0) is not 0")
	}
}

// The parsers read files of the kernel's, but a fuzzer finds the inputs
// that would make them panic or report more stolen time than there was.
func FuzzParseHostCPU(f *testing.F) {
	f.Add("cpu  1584611 1500 1099966 3996483 16282 0 101633 145532 0 0\n")
	f.Add("cpu 1 2 3 4\n")
	f.Add("cpu 9223372036854775807 9223372036854775807 1 1 1 1 1 1")
	f.Fuzz(func(t *testing.T, in string) {
		h, err := parseHostCPU([]byte(in))
		if err != nil {
			if h != (hostCPU{}) {
				t.Fatalf("parseHostCPU(%q) = %+v with error %v", in, h, err)
			}
			return
		}
		if !strings.HasPrefix(strings.TrimLeft(in, " \t"), "cpu") {
			t.Fatalf("parseHostCPU(%q) accepted a line not starting with cpu", in)
		}
		if h.total < 0 || h.steal > h.total {
			t.Fatalf("parseHostCPU(%q) = %+v", in, h)
		}
		if r := h.since(hostCPU{}).stolen(); r < 0 || r > 1 {
			t.Fatalf("parseHostCPU(%q) = %+v: stolen fraction %v", in, h, r)
		}
	})
}

func TestStatusKiB(t *testing.T) {
	status := []byte("Name:\tepmd\nVmPeak:\t   10116 kB\nVmRSS:\t    7680 kB\nRssAnon:\t    5124 kB\nRssFile:\t    2556 kB\nThreads:\t1\n")
	tests := []struct {
		key  string
		want int64
	}{
		{"VmRSS:", 7680 << 10},
		{"RssAnon:", 5124 << 10},
		{"RssFile:", 2556 << 10},
		{"RssShmem:", 0}, // absent
		{"Threads:", 1 << 10},
		{"Name:", 0}, // not a number
	}
	for _, tt := range tests {
		if got := statusKiB(status, tt.key); got != tt.want {
			t.Errorf("statusKiB(%q) = %d, want %d", tt.key, got, tt.want)
		}
	}
}
