package main_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// Running a case on both servers

// runCase runs the script against both servers and compares the
// transcripts.
func runCase(t *testing.T, servers [2]*server, run func(*session)) {
	t.Helper()
	s := runSessions(servers, false, run)
	compareTranscripts(t, s[0], s[1])
}

// runSessions runs the script against both servers: concurrently, or the C
// server first and then the Go server with the C session as its reference.
func runSessions(servers [2]*server, sequential bool, run func(*session)) [2]*session {
	sessions := [2]*session{newSession(servers[0]), newSession(servers[1])}
	if sequential {
		run(sessions[0])
		sessions[1].ref = sessions[0]
		run(sessions[1])
		return sessions
	}
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Go(func() { run(s) })
	}
	wg.Wait()
	return sessions
}

func compareTranscripts(t *testing.T, c, g *session) {
	t.Helper()
	a, b := c.lines, g.lines
	show := func() string {
		var sb strings.Builder
		fmt.Fprintf(&sb, "\n--- C epmd transcript (%s):\n", c.srv.impl.path)
		for _, l := range a {
			fmt.Fprintf(&sb, "    %s\n", clip(l))
		}
		fmt.Fprintf(&sb, "--- chaos-epmd transcript (%s):\n", g.srv.impl.path)
		for _, l := range b {
			fmt.Fprintf(&sb, "    %s\n", clip(l))
		}
		for _, n := range c.notes {
			fmt.Fprintf(&sb, "--- note, C epmd: %s\n", n)
		}
		for _, n := range g.notes {
			fmt.Fprintf(&sb, "--- note, chaos-epmd: %s\n", n)
		}
		return sb.String()
	}
	for i := 0; i < len(a) || i < len(b); i++ {
		var la, lb string
		if i < len(a) {
			la = a[i]
		}
		if i < len(b) {
			lb = b[i]
		}
		if la != lb {
			t.Errorf("transcripts differ at step %d:\n    C:  %s\n    Go: %s%s", i+1, la, lb, show())
			return
		}
	}
	if os.Getenv("CONFORMANCE_SHOW") == "1" {
		t.Logf("transcripts agree:%s", show())
	}
}

// clip shortens a transcript line for the full-transcript dump (the first
// difference is always printed in full).
func clip(s string) string {
	if len(s) > 400 {
		return s[:400] + fmt.Sprintf("... (%d more bytes)", len(s)-400)
	}
	return s
}

// session is one server's side of a case: the transcript and the state
// needed to normalise it.
type session struct {
	srv   *server
	lines []string
	cr    creations
	// ref is the C session of a sequential case (nil in the C session);
	// marks are the server's log line counts after each step.
	ref   *session
	marks []int
	// notes are shown with the transcripts when they differ, never
	// compared: what was seen around a step that is a matter of the host
	// (who held a port).
	notes []string
}

func newSession(srv *server) *session {
	return &session{srv: srv, cr: creations{last: map[string]uint32{}, res: map[string]int{}, since: map[string]int{}}}
}

func (s *session) printf(format string, a ...any) {
	s.lines = append(s.lines, fmt.Sprintf(format, a...))
}

var (
	ctimeRE = regexp.MustCompile(`epmd: [A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}: `)
	fdRE    = regexp.MustCompile(`(fd = |fd=|file descriptor |ALIVE socket |socket )\d+`)
	regRE   = regexp.MustCompile(`registering '([^']*):\d+'`)
	timeRE  = regexp.MustCompile(`time in seconds: \d+`)
	pidRE   = regexp.MustCompile(`MAINPID=\d+`)
	// the "active name" table of -d -d -d: name#creation
	tableRE = regexp.MustCompile(`"([^"]*)#\d+"`)
	// the hex dump (-d -d) of an ALIVE2 reply: 'v'/'y', result 0, creation.
	// The text column runs to the line's last '|': a creation byte can be
	// 0x7c, which the column prints as '|' too.
	dumpCreationRE = regexp.MustCompile(`(\*\*\*\*\* 00000000  7[69] 00)( [0-9a-f]{2})+ +\|[^\n]*\|`)
	// a hex dump line of DUMP text: the fd digits are in the hex column too
	dumpFdRE = regexp.MustCompile(`(\*\*\*\*\* [0-9a-f]{8}  )[0-9a-f ]+(\|[^|\n]*fd[^|\n]*\|)`)
)

// norm replaces what legitimately differs between the two servers in text:
// the server's port, ctime stamps, fd numbers, creation numbers in log
// lines, pids.
func (s *session) norm(text string) string {
	text = ctimeRE.ReplaceAllString(text, "epmd: CTIME: ")
	text = dumpFdRE.ReplaceAllString(text, "${1}<hex> ${2}")
	text = fdRE.ReplaceAllString(text, "${1}N")
	text = regRE.ReplaceAllString(text, "registering '${1}:CREATION'")
	text = timeRE.ReplaceAllString(text, "time in seconds: T")
	text = pidRE.ReplaceAllString(text, "MAINPID=PID")
	text = tableRE.ReplaceAllString(text, `"${1}#CREATION"`)
	text = dumpCreationRE.ReplaceAllString(text, "${1} <CREATION>")
	if s.srv.port != 0 {
		// the 4-byte port in a hex dump line (-d -d)
		hex := fmt.Sprintf(`\*\*\*\*\* 00000000  00 00 %02x %02x +\|\.\..{2}\|`, s.srv.port>>8, s.srv.port&0xff)
		text = regexp.MustCompile(hex).ReplaceAllString(text, "***** 00000000  <PORT32>")
		p := strconv.Itoa(s.srv.port)
		text = regexp.MustCompile(`\b`+p+`\b`).ReplaceAllString(text, "{PORT}")
		text = regexp.MustCompile(`\b`+strconv.Itoa(s.srv.port+65536)+`\b`).ReplaceAllString(text, "{PORT+65536}")
	}
	return text
}

// quote renders reply bytes: a leading 4-byte copy of the server's port
// (NAMES, DUMP) becomes <PORT32>, the rest is Go-quoted and normalised.
func (s *session) quote(b []byte) string {
	prefix := ""
	if len(b) >= 4 && s.srv.port != 0 {
		switch binary.BigEndian.Uint32(b) {
		case uint32(s.srv.port):
			prefix, b = "<PORT32>", b[4:]
		case uint32(s.srv.port + 65536):
			prefix, b = "<PORT32+65536>", b[4:]
		}
	}
	return prefix + strconv.Quote(s.norm(string(b)))
}

// TestNormCreationDump pins the creation mask on -d -d hex dumps of ALIVE2
// replies, whatever bytes the creation holds: a 0x7c byte prints as '|'
// in the text column, and a mask that stopped at the first '|' left the
// rest of the column behind, different for the two servers.
func TestNormCreationDump(t *testing.T) {
	s := newSession(&server{})
	for _, tc := range []struct{ in, want string }{
		{"***** 00000000  76 00 6a 0b 7c 46                                 |v.j.|F|\r\n",
			"***** 00000000  76 00 <CREATION>\r\n"},
		{"***** 00000000  76 00 7c 7c 7c 7c                                 |v.||||||\r\n",
			"***** 00000000  76 00 <CREATION>\r\n"},
		{"***** 00000000  79 00 00 7c                                       |y..||\r\n",
			"***** 00000000  79 00 <CREATION>\r\n"},
		{"***** 00000000  76 00 6a 53 01 02                                 |v.jS..|\r\n" +
			"epmd: Sat Dec  5 00:00:00 2026: ** sent ALIVE2_RESP for \"a|b\"\r\n",
			"***** 00000000  76 00 <CREATION>\r\nepmd: CTIME: ** sent ALIVE2_RESP for \"a|b\"\r\n"},
		// an error reply keeps its bytes: result 1, creation 99
		{"***** 00000000  76 01 00 00 00 63                                 |v....c|\r\n",
			"***** 00000000  76 01 00 00 00 63                                 |v....c|\r\n"},
	} {
		if got := s.norm(tc.in); got != tc.want {
			t.Errorf("norm(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

// ---------------------------------------------------------------------------
// Creation numbers

// creations turns creation numbers into relations that are equal for two
// servers that follow the same rules, tried in this order: "last+K" (this
// name's previous full creation bumped once per registration since, K of
// them, a HighVsn<6 one included), "now+1" (time of the request plus
// one), "=last(X)" (equal to another name's creation: a reused slot),
// "last+N" and, for HighVsn<6 replies, residues mod 3. Cases keep these
// apart by construction (a counter to be inherited is first pushed far
// from now+1). The bump comes before now+1: a name registered at second T
// (T+1), again with HighVsn 5 (T+2) and again with 6 gets T+3, which is
// also now+1 when the clock has reached T+2 meanwhile (a CI run, 2026-12-02).
type creations struct {
	last  map[string]uint32 // latest full (v6) creation per name
	res   map[string]int    // latest cr_counter%3 per name
	since map[string]int    // registrations of the name since its last full creation
	order []string
}

func (c *creations) label(name string, v6 bool, val uint32, t0, t1 int64) string {
	if !v6 {
		if val < 1 || val > 3 {
			return fmt.Sprintf("raw(%d)", val)
		}
		c.since[name]++
		r, known := c.res[name]
		c.res[name] = int(val) - 1
		if !known {
			return "v5:new(1..3)"
		}
		return fmt.Sprintf("v5:last+%d(mod 3)", ((int(val)-1)-r+3)%3)
	}
	defer func() {
		if _, ok := c.last[name]; !ok {
			c.order = append(c.order, name)
		}
		c.last[name] = val
		c.res[name] = int(val % 3)
		c.since[name] = 0
	}()
	l, known := c.last[name]
	if k := c.since[name] + 1; known && val == l+uint32(k) {
		return fmt.Sprintf("last+%d", k)
	}
	if int64(val) >= t0+1 && int64(val) <= t1+1 {
		return "now+1"
	}
	var same []string
	for _, n := range c.order {
		if c.last[n] == val && n != name {
			same = append(same, n)
		}
	}
	switch len(same) {
	case 0:
		if d := int64(val) - int64(l); known && d >= -10 && d <= 10 {
			return fmt.Sprintf("last%+d", d)
		}
		return fmt.Sprintf("raw(%d)", val)
	case 1:
		return "=last(" + same[0] + ")"
	default:
		return "=last(one of several)"
	}
}

// ---------------------------------------------------------------------------
// Connections

// conn is a client connection of a session. A failed dial leaves nc nil and
// every later operation a no-op (the failure is in the transcript).
type conn struct {
	s   *session
	tag string
	nc  net.Conn
}

func (s *session) dial(tag string) *conn {
	return s.dialFrom(tag, "127.0.0.1", nil)
}

// dialFrom connects to host (at the server's port) from the local address
// local (nil: any).
func (s *session) dialFrom(tag, host string, local net.IP) *conn {
	d := net.Dialer{Timeout: replyTimeout}
	if local != nil {
		d.LocalAddr = &net.TCPAddr{IP: local}
	}
	nc, err := d.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(s.srv.port)))
	if err != nil {
		s.printf("%s: dial: %s", tag, errClass(err))
		return &conn{s: s, tag: tag}
	}
	return &conn{s: s, tag: tag, nc: nc}
}

func errClass(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, io.EOF):
		return "eof"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	}
	return err.Error()
}

// send writes b. Write errors are not recorded: whether a write to a
// connection the server is closing fails is a matter of timing.
func (c *conn) send(b []byte) {
	if c.nc != nil {
		c.nc.SetWriteDeadline(time.Now().Add(replyTimeout))
		c.nc.Write(b)
	}
}

// closeWrite half-closes the connection (the server reads EOF).
func (c *conn) closeWrite() {
	if c.nc != nil {
		c.nc.(*net.TCPConn).CloseWrite()
	}
}

// reset closes the connection with a TCP RST.
func (c *conn) reset() {
	if c.nc != nil {
		c.nc.(*net.TCPConn).SetLinger(0)
		c.nc.Close()
	}
}

func (c *conn) close() {
	if c.nc != nil {
		c.nc.Close()
	}
}

// chunk is the data of one read, with its arrival time.
type chunk struct {
	at   time.Time
	data []byte
}

// readResult is what arrived on a connection and how it ended.
type readResult struct {
	chunks []chunk
	end    string // "closed", "closed after a delay", "open", "no connection"
}

func (r readResult) data() []byte {
	var b []byte
	for _, c := range r.chunks {
		b = append(b, c.data...)
	}
	return b
}

// read waits up to first for data or a close, then after each piece of data
// up to idle for more. A close (EOF or reset) more than lateClose after the
// last event is "closed after a delay" (a timeout, not a drop).
func (c *conn) read(first, idle time.Duration) readResult {
	if c.nc == nil {
		return readResult{end: "no connection"}
	}
	var r readResult
	last := time.Now()
	deadline := last.Add(first)
	buf := make([]byte, 1<<16)
	for {
		c.nc.SetReadDeadline(deadline)
		n, err := c.nc.Read(buf)
		now := time.Now()
		if n > 0 {
			r.chunks = append(r.chunks, chunk{now, append([]byte(nil), buf[:n]...)})
			last = now
			deadline = now.Add(idle)
		}
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			r.end = "open"
		} else if now.Sub(last) > lateClose {
			r.end = "closed after a delay"
		} else {
			r.end = "closed"
		}
		return r
	}
}

// reply records everything up to the close: the usual request.
func (c *conn) reply() readResult {
	r := c.read(replyTimeout, replyTimeout)
	c.record(r)
	return r
}

// record writes a read result to the transcript.
func (c *conn) record(r readResult) {
	if d := r.data(); len(d) > 0 {
		c.s.printf("%s: recv %s", c.tag, c.s.quote(d))
	}
	c.s.printf("%s: %s", c.tag, r.end)
}

// recordChunks writes a read result split into separate writes of the
// server (pieces more than chunkGap apart).
func (c *conn) recordChunks(r readResult) {
	var pieces [][]byte
	var prev time.Time
	for _, ch := range r.chunks {
		if len(pieces) == 0 || ch.at.Sub(prev) > chunkGap {
			pieces = append(pieces, nil)
		}
		pieces[len(pieces)-1] = append(pieces[len(pieces)-1], ch.data...)
		prev = ch.at
	}
	for i, p := range pieces {
		c.s.printf("%s: write %d: %s", c.tag, i+1, c.s.quote(p))
	}
	c.s.printf("%s: %s", c.tag, r.end)
}

// request sends one framed request on a new connection and records the
// reply and the close.
func (s *session) request(tag string, frame []byte) readResult {
	c := s.dial(tag)
	defer c.close()
	c.send(frame)
	return c.reply()
}
