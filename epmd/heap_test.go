package epmd_test

import (
	"bytes"
	"context"
	"os"
	"runtime/metrics"
	"strconv"
	"testing"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// heapFree is the runtime's count of heap bytes free and not returned to
// the system: resident pages the next spans take first.
func heapFree() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// rssAnon is the process's resident anonymous memory (RssAnon in
// /proc/self/status), in bytes.
func rssAnon(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := bytes.Cut(b, []byte("\nRssAnon:"))
	if !ok {
		t.Fatal("no RssAnon in /proc/self/status")
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(line), []byte(" kB"))), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return kb << 10
}

// TestHeapReserve: before its first accept, a process's first server
// leaves HeapReserve bytes of heap resident and free (0: the default,
// negative: none), each in a child process, whose heap no earlier test
// used.
func TestHeapReserve(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reserve int
		want    int64 // at least 3/4 of this is added to both counts; 0: free heap grows by less than 256 KiB
	}{
		{"default", 0, epmd.DefaultHeapReserve},
		{"3MiB", 3 << 20, 3 << 20},
		{"none", -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const env = "EPMD_HEAP_RESERVE"
			if !inChild(t, env) {
				t.Logf("child:\n%s", rerunInChild(t, env, nil))
				return
			}
			free, rss := heapFree(), rssAnon(t)
			addr := startServer(t, &epmd.Server{HeapReserve: tc.reserve})
			cl := &epmd.Client{Addr: addr, Timeout: ioTimeout}
			if _, _, err := cl.Names(context.Background()); err != nil { // served: prepared
				t.Fatal(err)
			}
			if tc.want == 0 {
				if got := heapFree() - free; got >= 256<<10 {
					t.Fatalf("HeapReserve %d: %d bytes more free heap, want none reserved", tc.reserve, got)
				}
				return
			}
			want := tc.want * 3 / 4
			// The goroutines that held the reserve end after the server
			// goes on; their stacks are freed as they do.
			waitFor(t, "the reserve to be free", func() bool { return heapFree() >= free+want })
			if got := rssAnon(t) - rss; got < want {
				t.Fatalf("HeapReserve %d: %d bytes more resident, want at least %d", tc.reserve, got, want)
			}
			t.Logf("HeapReserve %d: free heap %d -> %d bytes, RssAnon %d -> %d", tc.reserve, free, heapFree(), rss, rssAnon(t))
		})
	}
}
