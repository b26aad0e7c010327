package epmd_test

// The server's log at -d -d -d in the C format, over in-memory
// connections in virtual time: the time stamp is the bubble's
// (Sat Jan  1 00:00:00 2000) and a pipe has no descriptor (fd -1), so every
// line is exact (see make mutate).

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// debugSession registers a node, asks NAMES, sends a PORT_PLEASE2 of a
// 1100-byte name, one byte of a frame and ends the registration, with the
// server logging to h.
func debugSession(t *testing.T, h slog.Handler) {
	t.Helper()
	s := &epmd.Server{Port: 4369, RelaxedCommandCheck: true, Logger: slog.New(h)}
	l := serveInBubble(t, s)
	reg := l.dial()
	go func() {
		_, _ = reg.Write(epmd.AppendFrame(nil, &epmd.Alive2Req{PortNo: 4711, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "a"}))
	}()
	if _, err := reg.Read(make([]byte, 6)); err != nil {
		t.Fatal(err)
	}
	synctest.Wait()
	readPiecesAfter(l.dial(), epmd.AppendFrame(nil, &epmd.NamesReq{}))
	synctest.Wait()
	readPiecesAfter(l.dial(), epmd.AppendFrame(nil, &epmd.PortPlease2Req{Name: strings.Repeat("\x01", 1100)}))
	synctest.Wait()
	partial := l.dial()
	go func() { _, _ = partial.Write([]byte{0}) }()
	synctest.Wait()
	partial.Close()
	synctest.Wait()
	reg.Close()
	synctest.Wait()
}

// stamp is the C time stamp of every line written in a fresh bubble.
const stamp = "epmd: Sat Jan  1 00:00:00 2000: "

func TestDebugLogAtLevel3(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out logBuffer
		debugSession(t, epmd.NewDebugHandler(&out, 3))
		got := strings.Split(strings.TrimSuffix(out.take(), "\r\n"), "\r\n")
		dump := []string{ // the 1103 bytes of the PORT_PLEASE2, up to 1024
			stamp + "got 1103 bytes",
			"***** 00000000  04 4d 7a 01 01 01 01 01  01 01 01 01 01 01 01 01  |.Mz.............|",
		}
		for off := 16; off < 1024; off += 16 {
			dump = append(dump, fmt.Sprintf("***** %.8x  01 01 01 01 01 01 01 01  01 01 01 01 01 01 01 01  |................|", off))
		}
		dump = append(dump, "***** ......and more")
		want := []string{
			stamp + "Local peer connected",
			stamp + "opening connection on file descriptor -1",
			stamp + "got 16 bytes",
			"***** 00000000  00 0e 78 12 67 4d 00 00  06 00 05 00 01 61 00 00  |..x.gM.......a..|",
			stamp + "** got ALIVE2_REQ",
			stamp + "registering 'a:946684801', port 4711",
			stamp + "type 77 proto 0 highvsn 6 lowvsn 5",
			`*****     active name     "a#946684801" at port 4711, fd = -1`,
			"*****     reg calculated count  : 1",
			"*****     unreg counter         : 0",
			"*****     unreg calculated count: 0",
			stamp + "got 6 bytes",
			"***** 00000000  76 00 38 6d 43 81                                 |v.8mC.|",
			stamp + `** sent ALIVE2_RESP for "a"`,
			stamp + "Local peer connected",
			stamp + "opening connection on file descriptor -1",
			stamp + "got 3 bytes",
			"***** 00000000  00 01 6e                                          |..n|",
			stamp + "** got NAMES_REQ",
			stamp + "got 4 bytes",
			"***** 00000000  00 00 11 11                                       |....|",
			stamp + "got 20 bytes",
			"***** 00000000  6e 61 6d 65 20 61 20 61  74 20 70 6f 72 74 20 34  |name a at port 4|",
			"***** 00000010  37 31 31 0a                                       |711.|",
			stamp + "** sent NAMES_RESP",
			stamp + "closing connection on file descriptor -1",
			stamp + "Local peer connected",
			stamp + "opening connection on file descriptor -1",
		}
		want = append(want, dump...)
		want = append(want,
			stamp+"** got PORT2_REQ",
			stamp+"invalid node name in PORT2_REQ",
			stamp+"closing connection on file descriptor -1",
			stamp+"Local peer connected",
			stamp+"opening connection on file descriptor -1",
			stamp+"got 1 bytes",
			"***** 00000000  00                                                |.|",
			stamp+"got partial packet only on file descriptor -1 (1)",
			stamp+"closing connection on file descriptor -1",
			stamp+"unregistering 'a:946684801', port 4711",
			"*****     reg calculated count  : 0",
			`*****     old/unused name "a#946684801"`,
			"*****     unreg counter         : 1",
			"*****     unreg calculated count: 1",
			stamp+"closing connection on file descriptor -1",
		)
		if len(got) != len(want) {
			t.Errorf("%d lines, want %d", len(got), len(want))
		}
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Errorf("line %d:\n got %q\nwant %q", i+1, got[i], want[i])
			}
		}
	})
}

// TestDebugLogToSyslog: as a daemon the C texts go to syslog without time
// stamp and CRLF, and without the dumps and tables.
func TestDebugLogToSyslog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out logBuffer
		h := epmd.NewDebugHandler(&out, 3)
		h.Syslog = true
		debugSession(t, h)
		want := strings.Join([]string{
			"Local peer connected", "opening connection on file descriptor -1", "got 16 bytes", "** got ALIVE2_REQ",
			"registering 'a:946684801', port 4711", "type 77 proto 0 highvsn 6 lowvsn 5", "got 6 bytes", `** sent ALIVE2_RESP for "a"`,
			"Local peer connected", "opening connection on file descriptor -1", "got 3 bytes", "** got NAMES_REQ",
			"got 4 bytes", "got 20 bytes", "** sent NAMES_RESP", "closing connection on file descriptor -1",
			"Local peer connected", "opening connection on file descriptor -1", "got 1103 bytes", "** got PORT2_REQ",
			"invalid node name in PORT2_REQ", "closing connection on file descriptor -1",
			"Local peer connected", "opening connection on file descriptor -1", "got 1 bytes",
			"got partial packet only on file descriptor -1 (1)", "closing connection on file descriptor -1",
			"unregistering 'a:946684801', port 4711", "closing connection on file descriptor -1",
		}, "\n")
		want = "epmd: " + strings.ReplaceAll(want, "\n", "\nepmd: ") + "\n"
		if got := out.take(); got != want {
			t.Errorf("syslog text:\n%s\nwant:\n%s", got, want)
		}
	})
}

// TestDebugHandlerLevels: the -d count picks the levels; out of range
// counts are clamped to 0 and 3.
func TestDebugHandlerLevels(t *testing.T) {
	tests := []struct {
		name  string
		debug int
		want  []bool // Always, Debug1, Debug2, Debug3 enabled
	}{
		{name: "-1", debug: -1, want: []bool{true, false, false, false}},
		{name: "0", debug: 0, want: []bool{true, false, false, false}},
		{name: "1", debug: 1, want: []bool{true, true, false, false}},
		{name: "2", debug: 2, want: []bool{true, true, true, false}},
		{name: "3", debug: 3, want: []bool{true, true, true, true}},
		{name: "7", debug: 7, want: []bool{true, true, true, true}},
	}
	levels := []slog.Level{epmd.LevelAlways, epmd.LevelDebug1, epmd.LevelDebug2, epmd.LevelDebug3}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range []epmd.LogFormat{epmd.LogFormatC, epmd.LogFormatText, epmd.LogFormatJSON} {
				h := epmd.NewLogHandler(&bytes.Buffer{}, tt.debug, f)
				for i, l := range levels {
					if got := h.Enabled(context.Background(), l); got != tt.want[i] {
						t.Errorf("format %s, -d×%d: level %v enabled %t, want %t", f, tt.debug, l, got, tt.want[i])
					}
				}
			}
		})
	}
}

// TestDebugDumpEdges: a dump of exactly 1024 bytes is whole (no "and
// more"), and only the bytes 32 to 126 show as themselves.
func TestDebugDumpEdges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out logBuffer
		s := &epmd.Server{Logger: slog.New(epmd.NewDebugHandler(&out, 2))}
		l := serveInBubble(t, s)
		name := "\x1f\x20\x7e\x7f" + strings.Repeat("a", 1017) // 1021 bytes: a frame of 1024
		readPiecesAfter(l.dial(), epmd.AppendFrame(nil, &epmd.PortPlease2Req{Name: name}))
		synctest.Wait()
		lines := strings.Split(strings.TrimSuffix(out.take(), "\r\n"), "\r\n")
		var dump []string
		for i, line := range lines {
			if line == stamp+"got 1024 bytes" {
				dump = lines[i+1:]
				break
			}
		}
		if len(dump) < 65 {
			t.Fatalf("no dump of 1024 bytes in %q", lines)
		}
		if want := "***** 00000000  03 fe 7a 1f 20 7e 7f 61  61 61 61 61 61 61 61 61  |..z. ~.aaaaaaaaa|"; dump[0] != want {
			t.Errorf("first row %q, want %q", dump[0], want)
		}
		if want := "***** 000003f0  61 61 61 61 61 61 61 61  61 61 61 61 61 61 61 61  |aaaaaaaaaaaaaaaa|"; dump[63] != want {
			t.Errorf("last row %q, want %q", dump[63], want)
		}
		if dump[64] != stamp+"** got PORT2_REQ" {
			t.Errorf("after the 64 rows: %q, want the request line", dump[64])
		}
	})
}

func TestLogFormatString(t *testing.T) {
	tests := []struct {
		name string
		f    epmd.LogFormat
	}{
		{name: "c", f: epmd.LogFormatC},
		{name: "text", f: epmd.LogFormatText},
		{name: "json", f: epmd.LogFormatJSON},
		{name: "LogFormat(3)", f: epmd.LogFormatJSON + 1},
		{name: "LogFormat(255)", f: 255},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.String(); got != tt.name {
				t.Errorf("LogFormat(%d).String() = %q, want %q", uint8(tt.f), got, tt.name)
			}
		})
	}
}

// TestNamesReplyFailedNotLoggedSent: when the NAMES reply cannot be sent
// (the client is gone) the write error is logged and the reply is not
// logged as sent.
func TestNamesReplyFailedNotLoggedSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gone := make(chan struct{})
		prefix := func(next epmd.Handler) epmd.Handler {
			return epmd.HandlerFunc(func(ctx context.Context, w epmd.ResponseWriter, r *epmd.Request) {
				if r.Kind == epmd.KindNames {
					_, _ = w.Write([]byte("pre:"))
					<-gone
				}
				next.ServeEPMD(ctx, w, r)
			})
		}
		var out logBuffer
		s := &epmd.Server{Middleware: []epmd.Middleware{prefix}, Logger: slog.New(epmd.NewDebugHandler(&out, 1))}
		l := serveInBubble(t, s)
		c := l.dial()
		go func() { _, _ = c.Write(epmd.AppendFrame(nil, &epmd.NamesReq{})) }()
		synctest.Wait()
		c.Close()
		close(gone)
		synctest.Wait()
		want := stamp + "** got NAMES_REQ\r\n" + stamp + "error in write, errno=0: io: read/write on closed pipe\r\n"
		if got := out.take(); got != want {
			t.Errorf("log %q, want %q", got, want)
		}
	})
}
