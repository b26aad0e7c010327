package epmd_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// logBuffer is a log destination the test reads while the server writes.
// Its zero value is ready to use.
type logBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{} // has a value after a Write not yet waited for
}

// wroteChan returns b.wrote, made on first use; b.mu is held.
func (b *logBuffer) wroteChan() chan struct{} {
	if b.wrote == nil {
		b.wrote = make(chan struct{}, 1)
	}
	return b.wrote
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case b.wroteChan() <- struct{}{}:
	default:
	}
	return b.buf.Write(p)
}

// waitC waits until the C log written since the last take, as cLines
// gives it, satisfies done, then takes it and returns its lines. The
// server writes some lines after the reply a client waits for (a
// registration's "sent ALIVE2_RESP" comes after the write of the reply),
// so a test reading the log right after the reply would race with them.
// It fails the test after ioTimeout.
func (b *logBuffer) waitC(t *testing.T, done func(lines []string) bool) []string {
	t.Helper()
	deadline := time.NewTimer(ioTimeout)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		var lines []string
		if b.buf.Len() > 0 {
			lines = cLines(b.buf.String())
		}
		if done(lines) {
			b.buf.Reset()
			b.mu.Unlock()
			return lines
		}
		wrote := b.wroteChan()
		b.mu.Unlock()
		select {
		case <-wrote:
		case <-deadline.C:
			t.Fatalf("log after %v: %q, still waiting for more", ioTimeout, lines)
		}
	}
}

// take returns what was written since the last take.
func (b *logBuffer) take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	b.buf.Reset()
	return s
}

// logTime is the time of the test records: Mon Nov 30 12:34:56 2026.
var logTime = time.Date(2026, 11, 30, 12, 34, 56, 0, time.UTC)

// faultRecord is a record with several attributes, as the fault injector
// logs them; the C format has no text of its own for it.
func faultRecord() slog.Record {
	r := slog.NewRecord(logTime, epmd.LevelDebug1, "fault fired", 0)
	r.AddAttrs(slog.String("fault", "drop,req=alive2,first=1"), slog.Int("id", 3), slog.String("req", "alive2"),
		slog.String("peer", "127.0.0.1:40000"), slog.Uint64("conn", 7), slog.String("node", "foo"))
	return r
}

func TestLogAttributeOrderIsFixed(t *testing.T) {
	tests := []struct {
		name   string
		format epmd.LogFormat
		want   string
	}{
		{name: "c", format: epmd.LogFormatC,
			want: "epmd: Mon Nov 30 12:34:56 2026: fault fired fault=drop,req=alive2,first=1 id=3 req=alive2 peer=127.0.0.1:40000 conn=7 node=foo\r\n"},
		{name: "text", format: epmd.LogFormatText,
			want: `time=2026-11-30T12:34:56.000Z level=INFO msg="fault fired" fault="drop,req=alive2,first=1" id=3 req=alive2 peer=127.0.0.1:40000 conn=7 node=foo` + "\n"},
		{name: "json", format: epmd.LogFormatJSON,
			want: `{"time":"2026-11-30T12:34:56Z","level":"INFO","msg":"fault fired","fault":"drop,req=alive2,first=1","id":3,"req":"alive2","peer":"127.0.0.1:40000","conn":7,"node":"foo"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			h := epmd.NewLogHandler(&out, 1, tt.format)
			for i := range 20 {
				out.Reset()
				if err := h.Handle(context.Background(), faultRecord()); err != nil {
					t.Fatal(err)
				}
				if out.String() != tt.want {
					t.Fatalf("render %d:\n got %q\nwant %q", i+1, out.String(), tt.want)
				}
			}
			t.Logf("20 renders, one output: %s", out.String())
		})
	}
}

func TestParseLogFormat(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want epmd.LogFormat
		err  string
	}{
		{name: "c", in: "c", want: epmd.LogFormatC},
		{name: "text", in: "text", want: epmd.LogFormatText},
		{name: "json", in: "json", want: epmd.LogFormatJSON},
		{name: "upper case", in: "JSON", err: `"JSON": unknown log format, want c, text or json`},
		{name: "empty", in: "", err: `"": unknown log format, want c, text or json`},
		{name: "unknown", in: "xml", err: `"xml": unknown log format, want c, text or json`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := epmd.ParseLogFormat(tt.in)
			if tt.err != "" {
				if !errors.Is(err, epmd.ErrLogFormat) || err.Error() != tt.err {
					t.Fatalf("ParseLogFormat(%q) error = %v, want %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want || got.String() != tt.in {
				t.Fatalf("ParseLogFormat(%q) = %v (%s), %v; want %v", tt.in, got, got, err, tt.want)
			}
		})
	}
}

// stampFD matches what varies from run to run in a C log line: the time
// stamp and a file descriptor.
var stampFD = regexp.MustCompile(`^epmd: \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}: |file descriptor \d+`)

// cLines splits a C log into lines, with "epmd: " for the time stamp
// and FD for file descriptors.
func cLines(log string) []string {
	var lines []string
	for l := range strings.SplitSeq(strings.TrimSuffix(log, "\r\n"), "\r\n") {
		lines = append(lines, stampFD.ReplaceAllStringFunc(l, func(m string) string {
			if strings.HasPrefix(m, "file") {
				return "file descriptor FD"
			}
			return "epmd: "
		}))
	}
	return lines
}

// TestCTexts runs requests through a server logging at -d in the C format
// and checks the lines: one or more per message, in the C epmd's words.
func TestCTexts(t *testing.T) {
	var logs logBuffer
	s := &epmd.Server{Logger: slog.New(epmd.NewLogHandler(&logs, 1, epmd.LogFormatC))}
	addr := startServer(t, s)
	holder, _ := register(t, addr, &epmd.Alive2Req{PortNo: 4711, NodeType: 'M', HighVsn: 5, LowVsn: 5, Name: "held"})
	// register returns once it read the reply; the server logs that it
	// sent it only after the write.
	logs.waitC(t, func(lines []string) bool { return slices.Contains(lines, `epmd: ** sent ALIVE2_RESP for "held"`) })
	// A failed registration's connection ends without a registration.
	const unknownFD = "epmd: trying to unregister node with unknown file descriptor FD"
	tests := []struct {
		name string
		raw  []byte
		want []string
	}{
		{name: "garbage", raw: framed([]byte("q")), want: []string{"epmd: got garbage "}},
		{name: "alive2 13 bytes", raw: framed([]byte{'x', 0, 1, 'M', 0, 0, 6, 0, 5, 0, 0, 0, 0}),
			want: []string{"epmd: ** got ALIVE2_REQ", "epmd: packet to small for request ALIVE2_REQ (13)"}},
		{name: "alive2 name beyond body", raw: framed([]byte{'x', 0, 1, 'M', 0, 0, 6, 0, 5, 0, 9, 'a', 0, 0}),
			want: []string{"epmd: ** got ALIVE2_REQ", "epmd: Node name size error in ALIVE2_REQ"}},
		{name: "alive2 extra beyond body", raw: framed([]byte{'x', 0, 1, 'M', 0, 0, 6, 0, 5, 0, 1, 'a', 0, 5, 1}),
			want: []string{"epmd: ** got ALIVE2_REQ", "epmd: Extra info size error in ALIVE2_REQ"}},
		{name: "alive2 NUL in name", raw: framed([]byte{'x', 0, 1, 'M', 0, 0, 6, 0, 5, 0, 2, 'a', 0, 0, 0}),
			want: []string{"epmd: ** got ALIVE2_REQ", "epmd: node name contains ascii 0 in ALIVE2_REQ"}},
		{name: "port_please NUL only", raw: framed([]byte("z\x00")),
			want: []string{"epmd: ** got PORT2_REQ", "epmd: packet too small for request PORT2_REQ (1)"}},
		{name: "port_please inner NUL", raw: framed([]byte("za\x00b")),
			want: []string{"epmd: ** got PORT2_REQ", "epmd: node name contains ascii 0 in PORT2_REQ"}},
		{name: "port_please bad UTF-8", raw: framed([]byte("z\xff")),
			want: []string{"epmd: ** got PORT2_REQ", "epmd: invalid node name in PORT2_REQ"}},
		{name: "port_please 255 chars", raw: framed(append([]byte("z"), strings.Repeat("a", 255)...)),
			want: []string{"epmd: ** got PORT2_REQ", "epmd: invalid node name in PORT2_REQ"}},
		{name: "port_please found", raw: framed([]byte("zheld")),
			want: []string{"epmd: ** got PORT2_REQ", `epmd: ** sent PORT2_RESP (ok) for "held"`}},
		{name: "port_please not found", raw: framed([]byte("zgone")),
			want: []string{"epmd: ** got PORT2_REQ", `epmd: ** sent PORT2_RESP (error) for "gone"`}},
		{name: "names", raw: framed([]byte("n")), want: []string{"epmd: ** got NAMES_REQ", "epmd: ** sent NAMES_RESP"}},
		{name: "dump", raw: framed([]byte("d")), want: []string{"epmd: ** got DUMP_REQ", "epmd: ** sent DUMP_RESP"}},
		{name: "stop without relaxed_command_check", raw: framed([]byte("sheld")),
			want: []string{"epmd: ** got STOP_REQ", "epmd: Disallowed STOP_REQ, no relaxed_command_check"}},
		{name: "kill with live nodes", raw: framed([]byte("k")),
			want: []string{"epmd: ** got KILL_REQ", "epmd: Disallowed KILL_REQ, live nodes"}},
		{name: "name in use", raw: framed((&epmd.Alive2Req{NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "held"}).Append(nil)),
			want: []string{"epmd: ** got ALIVE2_REQ", "epmd: node name already occupied held", `epmd: ** sent ALIVE2_RESP for "held"`, unknownFD}},
		{name: "name 256 characters", raw: framed((&epmd.Alive2Req{HighVsn: 6, Name: strings.Repeat("n", 256)}).Append(nil)),
			want: []string{"epmd: ** got ALIVE2_REQ", "epmd: node name is too long (256) " + strings.Repeat("n", 256),
				`epmd: ** sent ALIVE2_RESP for "` + strings.Repeat("n", 256) + `"`, unknownFD}},
		{name: "name not UTF-8", raw: framed((&epmd.Alive2Req{HighVsn: 6, Name: "a\xff"}).Append(nil)),
			want: []string{"epmd: ** got ALIVE2_REQ", "epmd: invalid node name encoding", "epmd: ** sent ALIVE2_RESP for \"a\xff\"", unknownFD}},
		{name: "extra 1021 bytes, shown up to its NUL", raw: framed((&epmd.Alive2Req{HighVsn: 6, Name: "e", Extra: append([]byte("ab\x00c"), make([]byte, 1017)...)}).Append(nil)),
			want: []string{"epmd: ** got ALIVE2_REQ", "epmd: extra data is too long (1021) ab", `epmd: ** sent ALIVE2_RESP for "e"`, unknownFD}},
		{name: "invalid packet size", raw: []byte{0x0c, 0x00}, want: []string{"epmd: invalid packet size (3072)"}},
		{name: "two frames in one packet", raw: append(framed([]byte("n")), framed([]byte("n"))...),
			want: []string{"epmd: got 4 bytes in packet, expected 1"}},
		{name: "partial packet", raw: []byte{0}, want: []string{"epmd: got partial packet only on file descriptor FD (1)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(ioTimeout))
			if _, err := conn.Write(tt.raw); err != nil {
				t.Fatal(err)
			}
			_ = conn.(*net.TCPConn).CloseWrite()
			// The server closes after it logged (a failed registration
			// logs its reply after the write); rather than rely on that
			// order, wait for as many lines as expected: more that
			// arrived by then fail the comparison too.
			if _, err := io.ReadAll(conn); err != nil {
				t.Fatal(err)
			}
			got := logs.waitC(t, func(lines []string) bool { return len(lines) >= len(tt.want) })
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("log:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
	holder.Close()
}
