package epmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Log levels of the server, matching the C epmd's debug levels: LevelAlways
// is printed even without -d (protocol violations, KILL), LevelDebug1 with
// -d, LevelDebug2 with -d -d, LevelDebug3 with -d -d -d.
const (
	LevelAlways = slog.LevelWarn
	LevelDebug1 = slog.LevelInfo
	LevelDebug2 = slog.LevelDebug
	LevelDebug3 = slog.LevelDebug - 4
)

// Log messages with a C epmd text (see cText). The data is in attributes.
const (
	msgDropped      = "request dropped"                // attr reason: the C text
	msgRefused      = "registration refused"           // attr reason: the C text
	msgNonLocal     = "request from non local address" // attr req
	msgGot          = "got request"                    // attr req
	msgRegistered   = "registering"                    // node, creation, port, type, proto, highvsn, lowvsn
	msgUnregistered = "unregistering"                  // node, creation, port
	msgBytes        = "got bytes"                      // fd, bytes
	msgConnOpen     = "opening connection"             // fd, local
	msgKeptEnd      = "registration connection ended"  // fd, n, err
	msgTimedOut     = "closing because timed out on receive"
	msgPartial      = "got partial packet only"      // fd, got
	msgPacketSize   = "invalid packet size"          // size
	msgSurplus      = "got more bytes than expected" // got, want
	msgKillNo       = "disallowed kill, live nodes"
	msgStopNo       = "disallowed stop, no relaxed_command_check"
	msgKill         = "got kill, terminating"
	msgReadError    = "error in read"   // err
	msgWriteError   = "error in write"  // err
	msgAcceptError  = "error in accept" // err
)

var cReqNames = [...]string{
	KindAlive2: "ALIVE2_REQ", KindPortPlease2: "PORT2_REQ", KindNames: "NAMES_REQ",
	KindDump: "DUMP_REQ", KindKill: "KILL_REQ", KindStop: "STOP_REQ",
}

func (s *Server) log0(msg string, attrs ...slog.Attr) {
	if s.logLevels[0] {
		s.log.LogAttrs(context.Background(), LevelAlways, msg, attrs...)
	}
}

func (s *Server) log1(msg string, attrs ...slog.Attr) {
	if s.logLevels[1] {
		s.log.LogAttrs(context.Background(), LevelDebug1, msg, attrs...)
	}
}

func (s *Server) logGot(k Kind) {
	if s.logLevels[1] {
		s.log.LogAttrs(context.Background(), LevelDebug1, msgGot, slog.String("req", k.String()))
	}
}

func (s *Server) logDropped(k Kind, body []byte, err error) {
	if s.logLevels[0] {
		s.log.LogAttrs(context.Background(), LevelAlways, msgDropped,
			slog.String("req", k.String()), slog.String("reason", reason(err)))
	}
}

// reason is an error's text without its wrapped sentinel: the C text.
func reason(err error) string {
	if u := errors.Unwrap(err); u != nil {
		return strings.TrimSuffix(err.Error(), ": "+u.Error())
	}
	return err.Error()
}

func (s *Server) logAlive2Error(m *Alive2Req, err error) {
	if !s.logLevels[0] {
		return
	}
	r := reason(err)
	if errors.Is(err, ErrNameInUse) {
		r = "node name already occupied " + m.Name
	}
	s.log.LogAttrs(context.Background(), LevelAlways, msgRefused,
		slog.String("node", m.Name), slog.String("reason", r))
}

func (s *Server) logRegistered(n *Node, c *Conn) {
	if s.logLevels[1] {
		s.log.LogAttrs(context.Background(), LevelDebug1, msgRegistered,
			slog.String("node", n.Name), slog.Uint64("creation", uint64(n.Creation)),
			slog.Int("port", int(n.PortNo)), slog.Int("type", int(n.NodeType)),
			slog.Int("proto", int(n.Protocol)), slog.Int("highvsn", int(n.HighVsn)),
			slog.Int("lowvsn", int(n.LowVsn)), slog.Int("fd", c.FD))
	}
}

func (s *Server) logUnregistered(n *Node) {
	if s.logLevels[1] {
		s.log.LogAttrs(context.Background(), LevelDebug1, msgUnregistered,
			slog.String("node", n.Name), slog.Uint64("creation", uint64(n.Creation)),
			slog.Int("port", int(n.PortNo)))
	}
}

func (s *Server) logBytes(c *Conn, p []byte) {
	s.log.LogAttrs(context.Background(), LevelDebug2, msgBytes,
		slog.Int("fd", c.FD), slog.String("bytes", string(p)))
}

func (s *Server) logConnOpen(c *Conn) {
	if s.logLevels[2] {
		s.log.LogAttrs(context.Background(), LevelDebug2, msgConnOpen,
			slog.Int("fd", c.FD), slog.Bool("local", c.IsLocal), slog.String("peer", c.RemoteAddr.String()))
	}
}

func (s *Server) logKeptEnd(c *Conn, n int, err error) {
	if s.logLevels[1] {
		attrs := []slog.Attr{slog.Int("fd", c.FD), slog.Int("n", n)}
		if err != nil && !errors.Is(err, io.EOF) {
			attrs = append(attrs, slog.Any("err", err))
		}
		s.log.LogAttrs(context.Background(), LevelDebug1, msgKeptEnd, attrs...)
	}
}

func (s *Server) logWriteError(c *Conn, err error) {
	s.log0(msgWriteError, slog.Int("fd", c.FD), slog.Any("err", err))
}

func (s *Server) logAcceptError(err error) {
	s.log0(msgAcceptError, slog.Any("err", err))
}

// DebugHandler is a slog.Handler that prints the server's log the way the
// C epmd prints its debug output: "epmd: <ctime>: <text>\r\n", with the C
// texts, at the records' levels up to the -d count it was made with.
type DebugHandler struct {
	// Syslog drops the time stamp and the CRLF: the form the C epmd
	// sends to syslog as a daemon.
	Syslog bool

	mu    *sync.Mutex
	w     io.Writer
	level slog.Level
	now   func() time.Time
}

// NewDebugHandler returns a DebugHandler writing to w that prints what the
// C epmd prints with debug (the number of -d flags, 0 to 3).
func NewDebugHandler(w io.Writer, debug int) *DebugHandler {
	levels := []slog.Level{LevelAlways, LevelDebug1, LevelDebug2, LevelDebug3}
	return &DebugHandler{mu: new(sync.Mutex), w: w, level: levels[min(max(debug, 0), 3)], now: time.Now}
}

// Enabled implements slog.Handler.
func (h *DebugHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

// WithAttrs implements slog.Handler; the C texts use no common attributes.
func (h *DebugHandler) WithAttrs([]slog.Attr) slog.Handler { return h }

// WithGroup implements slog.Handler.
func (h *DebugHandler) WithGroup(string) slog.Handler { return h }

// Handle implements slog.Handler.
func (h *DebugHandler) Handle(_ context.Context, r slog.Record) error {
	attrs := make(map[string]slog.Value, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		attrs[a.Key] = a.Value
		return true
	})
	var out strings.Builder
	stamp := h.now().Format("Mon Jan _2 15:04:05 2006")
	for _, line := range CText(r.Message, attrs) {
		if h.Syslog {
			if !strings.HasPrefix(line, "***** ") {
				out.WriteString("epmd: " + line + "\n")
			}
			continue
		}
		if strings.HasPrefix(line, "***** ") {
			out.WriteString(line + "\r\n")
			continue
		}
		out.WriteString("epmd: " + stamp + ": " + line + "\r\n")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, out.String())
	return err
}

// CText renders a log record of the server as the C epmd's debug lines.
// Messages it does not know are printed as the message followed by the
// attributes.
func CText(msg string, a map[string]slog.Value) []string {
	str := func(k string) string { return a[k].String() }
	req := func() string {
		if k, ok := ParseKind(str("req")); ok && int(k) < len(cReqNames) {
			return cReqNames[k]
		}
		return str("req")
	}
	switch msg {
	case msgDropped, msgRefused:
		return []string{str("reason")}
	case msgNonLocal:
		return []string{req() + " from non local address"}
	case msgGot:
		return []string{"** got " + req()}
	case msgRegistered:
		return []string{
			fmt.Sprintf("registering '%s:%s', port %s", str("node"), str("creation"), str("port")),
			fmt.Sprintf("type %s proto %s highvsn %s lowvsn %s", str("type"), str("proto"), str("highvsn"), str("lowvsn")),
		}
	case msgUnregistered:
		return []string{fmt.Sprintf("unregistering '%s:%s', port %s", str("node"), str("creation"), str("port"))}
	case msgBytes:
		return append([]string{fmt.Sprintf("got %d bytes", len(str("bytes")))}, hexDump([]byte(str("bytes")))...)
	case msgConnOpen:
		peer := "Non-local peer connected"
		if a["local"].Bool() {
			peer = "Local peer connected"
		}
		return []string{peer, "opening connection on file descriptor " + str("fd")}
	case msgKeptEnd:
		if e, ok := a["err"]; ok {
			return []string{fmt.Sprintf("error on ALIVE socket %s (%s)", str("fd"), e.String())}
		}
		if n := a["n"].Int64(); n > 0 {
			return []string{fmt.Sprintf("got more than expected on ALIVE socket %s (%d)", str("fd"), n)}
		}
		return nil
	case msgTimedOut:
		return []string{msgTimedOut}
	case "epmd running":
		d := 0
		if a["daemon"].Bool() {
			d = 1
		}
		return []string{fmt.Sprintf("epmd running - daemon = %d", d)}
	case "there is already a epmd running":
		return []string{fmt.Sprintf("there is already a epmd running at port %s on ipaddr %s", str("port"), str("addr"))}
	case "failed to bind":
		return []string{fmt.Sprintf("failed to bind on ipaddr %s: %s", str("addr"), str("err"))}
	case msgPartial:
		return []string{fmt.Sprintf("got partial packet only on file descriptor %s (%s)", str("fd"), str("got"))}
	case msgPacketSize:
		return []string{fmt.Sprintf("invalid packet size (%s)", str("size"))}
	case msgSurplus:
		return []string{fmt.Sprintf("got %s bytes in packet, expected %s", str("got"), str("want"))}
	case msgKillNo:
		return []string{"Disallowed KILL_REQ, live nodes"}
	case msgStopNo:
		return []string{"Disallowed STOP_REQ, no relaxed_command_check"}
	case msgKill:
		return []string{"got KILL_REQ - terminates normal"}
	case msgReadError, msgWriteError, msgAcceptError:
		return []string{msg + ": " + str("err")}
	}
	var b strings.Builder
	b.WriteString(msg)
	for k, v := range a {
		fmt.Fprintf(&b, " %s=%s", k, v)
	}
	return []string{b.String()}
}

// hexDump formats b as the C epmd's -d -d dumps: 16 bytes a row, at most
// 1024 bytes.
func hexDump(b []byte) []string {
	more := len(b) > 1024
	if more {
		b = b[:1024]
	}
	var rows []string
	for start := 0; start < len(b); start += 16 {
		var r strings.Builder
		fmt.Fprintf(&r, "***** %.8x", start)
		for i := start; i < start+16; i++ {
			if i%8 == 0 {
				r.WriteByte(' ')
			}
			if i < len(b) {
				fmt.Fprintf(&r, " %.2x", b[i])
			} else {
				r.WriteString("   ")
			}
		}
		r.WriteString("  |")
		for i := start; i < start+16 && i < len(b); i++ {
			if c := b[i]; c >= 32 && c <= 126 {
				r.WriteByte(c)
			} else {
				r.WriteByte('.')
			}
		}
		r.WriteByte('|')
		rows = append(rows, r.String())
	}
	if more {
		rows = append(rows, "***** ......and more")
	}
	return rows
}
