package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cpuTime is the CPU time a process has run so far: the sum of its
// threads' run times from /proc/PID/task/*/schedstat (nanoseconds), or,
// where that file is missing (a kernel without schedstats), user and
// system time from /proc/PID/stat (clock ticks of 10 ms, too coarse for a
// phase of a few hundred requests). A thread that exits between two
// readings takes its time with it; Go's runtime and the C daemons under
// test keep theirs.
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var sum time.Duration
	read := 0
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread exited
		}
		d, err := parseSchedstat(b)
		if err != nil {
			continue
		}
		sum += d
		read++
	}
	if read > 0 {
		return sum
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	d, _ := parseStatCPU(b)
	return d
}

// parseSchedstat reads a thread's run time from its schedstat line:
// "RUN_NS WAIT_NS TIMESLICES".
func parseSchedstat(b []byte) (time.Duration, error) {
	f := strings.Fields(string(b))
	if len(f) != 3 {
		return 0, fmt.Errorf("schedstat %q: want 3 fields", b)
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || ns < 0 {
		return 0, fmt.Errorf("schedstat %q: run time is not a count of nanoseconds", b)
	}
	return time.Duration(ns), nil
}

// parseStatCPU reads user and system time from a /proc/PID/stat line.
func parseStatCPU(b []byte) (time.Duration, error) {
	// The command name, field 2, is in parentheses and may hold spaces
	// and parentheses itself.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("stat: no command name in parentheses")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the command name, want at least 13", len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil || utime < 0 || stime < 0 {
		return 0, fmt.Errorf("stat: utime %q, stime %q: want tick counts", f[11], f[12])
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// hostCPU is the machine's CPU time so far, in clock ticks summed over
// its CPUs: all of it, and the part stolen, when this machine is a
// virtual one, by the hypervisor running something else while a virtual
// CPU wanted to run.
type hostCPU struct {
	total, steal int64
}

func readHostCPU() hostCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return hostCPU{}
	}
	h, _ := parseHostCPU(b)
	return h
}

// parseHostCPU reads /proc/stat's first line: "cpu USER NICE SYSTEM IDLE
// IOWAIT IRQ SOFTIRQ STEAL GUEST GUEST_NICE". The guest fields are part of
// USER and NICE already, so the total is the first eight; kernels before
// 2.6.11 have no STEAL (it counts as 0).
func parseHostCPU(b []byte) (hostCPU, error) {
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return hostCPU{}, fmt.Errorf("/proc/stat: first line %q: want \"cpu\" and at least 4 counts", line)
	}
	var h hostCPU
	for i, s := range f[1:min(len(f), 9)] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			return hostCPU{}, fmt.Errorf("/proc/stat: field %d %q: want a tick count", i+1, s)
		}
		if v > math.MaxInt64-h.total {
			return hostCPU{}, errors.New("/proc/stat: the counts add up past 2^63")
		}
		h.total += v
		if i == 7 {
			h.steal = v
		}
	}
	return h, nil
}

// since returns the machine's CPU time from b to h: none when no time
// passed or /proc/stat was unreadable at either end.
func (h hostCPU) since(b hostCPU) hostCPU {
	d := hostCPU{total: h.total - b.total, steal: h.steal - b.steal}
	if d.total <= 0 || d.steal < 0 {
		return hostCPU{}
	}
	return d
}

// stolen returns the fraction of h the hypervisor stole (0 for no time).
func (h hostCPU) stolen() float64 {
	if h.total <= 0 {
		return 0
	}
	return float64(h.steal) / float64(h.total)
}
