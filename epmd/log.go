package epmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"syscall"
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
	msgDropped          = "request dropped"                // attr reason: the C text
	msgRefused          = "registration refused"           // attr reason: the C text
	msgNonLocal         = "request from non local address" // attr req
	msgGot              = "got request"                    // attr req
	msgRegistered       = "registering"                    // node, creation, port, type, proto, highvsn, lowvsn
	msgUnregistered     = "unregistering"                  // node, creation, port
	msgBytes            = "got bytes"                      // fd, bytes
	msgConnOpen         = "opening connection"             // fd, local
	msgKeptEnd          = "registration connection ended"  // fd, n, err
	msgTimedOut         = "closing because timed out on receive"
	msgPartial          = "got partial packet only"      // fd, got
	msgPacketSize       = "invalid packet size"          // size
	msgSurplus          = "got more bytes than expected" // got, want
	msgKillNo           = "disallowed kill, live nodes"
	msgStopNo           = "disallowed stop, no relaxed_command_check"
	msgKill             = "got kill, terminating"
	msgReadError        = "error in read"                    // err
	msgWriteError       = "error in write"                   // err
	msgAcceptError      = "error in accept"                  // err
	msgConnClose        = "closing connection"               // fd
	msgUnregUnknownFD   = "unregister of unknown connection" // fd
	msgUnregUnknownName = "unregister of unknown name"       // node
	msgStopped          = "epmd connection stopped"
	msgKilled           = "epmd killed"
	msgSendFailed       = "failed to send ALIVE2 reply"                // node
	msgAtLimit          = "out of file descriptors, connection closed" // peer
	msgSent             = "sent reply"                                 // req, node, result
	msgNamesTable       = "names table"                                // reg, unreg (level 3)
	// MsgListening and MsgServing are logged by the epmd command at start,
	// before and after opening its sockets (C: -d -d).
	MsgListening = "try to initiate listening port" // port
	// MsgRunning is logged by the epmd command once its flags are read.
	MsgRunning    = "epmd running"                    // daemon
	msgAddrInUse  = "there is already a epmd running" // port, addr
	msgBindFailed = "failed to bind"                  // addr, err
	MsgServing    = "entering the main select() loop"
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

func (s *Server) logDropped(k Kind, err error) {
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

func (s *Server) logRegistered(n *Node, reg Registry) {
	if s.logLevels[1] {
		s.log.LogAttrs(context.Background(), LevelDebug1, msgRegistered,
			slog.String("node", n.Name), slog.Uint64("creation", uint64(n.CreationFor(n.HighVsn))),
			slog.Int("port", int(n.PortNo)), slog.Int("type", int(n.NodeType)),
			slog.Int("proto", int(n.Protocol)), slog.Int("highvsn", int(n.HighVsn)),
			slog.Int("lowvsn", int(n.LowVsn)), slog.Int("fd", n.FD))
		s.logNamesTable(reg)
	}
}

func (s *Server) logUnregistered(n *Node, reg Registry) {
	if s.logLevels[1] {
		s.log.LogAttrs(context.Background(), LevelDebug1, msgUnregistered,
			slog.String("node", n.Name), slog.Uint64("creation", uint64(n.CreationFor(n.HighVsn))),
			slog.Int("port", int(n.PortNo)))
		s.logNamesTable(reg)
	}
}

// logNamesTable prints the node tables after a change (C: -d -d -d).
func (s *Server) logNamesTable(reg Registry) {
	if !s.logLevels[3] {
		return
	}
	s.log.LogAttrs(context.Background(), LevelDebug3, msgNamesTable,
		slog.Any("reg", reg.Nodes(nil)), slog.Any("unreg", reg.Unused(nil)))
}

// logSent reports a reply sent: result is "ok" or "error" for PORT2 and
// the reply word for STOP.
func (s *Server) logSent(k Kind, node, result string) {
	if s.logLevels[1] {
		s.log.LogAttrs(context.Background(), LevelDebug1, msgSent,
			slog.String("req", k.String()), slog.String("node", node), slog.String("result", result))
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

// logKeptEnd reports what ended a registration connection: data (and its
// dump), or an error; EOF is silent.
func (s *Server) logKeptEnd(c *Conn, data []byte, err error) {
	if !s.logLevels[1] {
		return
	}
	switch {
	case len(data) > 0:
		s.log.LogAttrs(context.Background(), LevelDebug1, msgKeptEnd, slog.Int("fd", c.FD), slog.Int("n", len(data)))
		if s.logLevels[2] {
			s.logBytes(c, data)
		}
	case err != nil && !errors.Is(err, io.EOF):
		s.log.LogAttrs(context.Background(), LevelDebug1, msgKeptEnd, slog.Int("fd", c.FD), slog.Int("n", -1), slog.Any("err", err))
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
			return []string{fmt.Sprintf("error on ALIVE socket %s (-1; errno=0x%x)", str("fd"), errnoOf(e))}
		}
		return []string{fmt.Sprintf("got more than expected on ALIVE socket %s (%s)", str("fd"), str("n"))}
	case msgConnClose:
		return []string{"closing connection on file descriptor " + str("fd")}
	case msgUnregUnknownFD:
		return []string{"trying to unregister node with unknown file descriptor " + str("fd")}
	case msgUnregUnknownName:
		return []string{"trying to unregister node with unknown name " + str("node")}
	case msgAtLimit:
		return []string{"failed opening connection: out of file descriptors, closed connection from " + str("peer")}
	case msgSendFailed:
		return []string{"** failed to send ALIVE2_RESP for \"" + str("node") + "\""}
	case msgStopped, msgKilled, MsgServing:
		return []string{msg}
	case MsgListening:
		return []string{"try to initiate listening port " + str("port")}
	case msgSent:
		return []string{sentText(str("req"), str("node"), str("result"))}
	case msgNamesTable:
		return namesTable(a["reg"].Any(), a["unreg"].Any())
	case msgTimedOut:
		return []string{msgTimedOut}
	case MsgRunning:
		d := 0
		if a["daemon"].Bool() {
			d = 1
		}
		return []string{fmt.Sprintf("epmd running - daemon = %d", d)}
	case msgAddrInUse:
		return []string{fmt.Sprintf("there is already a epmd running at port %s on ipaddr %s", str("port"), str("addr"))}
	case msgBindFailed:
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
	case msgWriteError:
		return []string{fmt.Sprintf("error in write, errno=%d: %s", errnoOf(a["err"]), Strerror(a["err"].Any()))}
	case msgReadError, msgAcceptError:
		return []string{msg + ": " + Strerror(a["err"].Any())}
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

func sentText(req, node, result string) string {
	switch req {
	case "alive2":
		return "** sent ALIVE2_RESP for \"" + node + "\""
	case "port_please":
		return "** sent PORT2_RESP (" + result + ") for \"" + node + "\""
	case "names":
		return "** sent NAMES_RESP"
	case "dump":
		return "** sent DUMP_RESP"
	case "stop":
		return "** sent STOP_RESP " + result
	}
	return "** sent " + req
}

// namesTable renders the C epmd's -d -d -d node tables.
func namesTable(reg, unreg any) []string {
	var lines []string
	rs, _ := reg.([]*Node)
	us, _ := unreg.([]*Node)
	for _, n := range rs {
		lines = append(lines, fmt.Sprintf("*****     active name     \"%s#%d\" at port %d, fd = %d", n.Name, n.CreationFor(n.HighVsn), n.PortNo, n.FD))
	}
	lines = append(lines, fmt.Sprintf("*****     reg calculated count  : %d", len(rs)))
	for _, n := range us {
		lines = append(lines, fmt.Sprintf("*****     old/unused name \"%s#%d\"", n.Name, n.CreationFor(n.HighVsn)))
	}
	return append(lines,
		fmt.Sprintf("*****     unreg counter         : %d", len(us)),
		fmt.Sprintf("*****     unreg calculated count: %d", len(us)))
}

// errnoOf returns the errno in a logged error value, or 0.
func errnoOf(v slog.Value) uintptr {
	err, _ := v.Any().(error)
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return uintptr(errno)
	}
	return 0
}

// Strerror renders an error as C's perror does: a system error as its
// strerror text ("Connection reset by peer"), anything else as its text.
func Strerror(v any) string {
	err, ok := v.(error)
	if !ok {
		return fmt.Sprint(v)
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if t := errno.Error(); t != "" {
			return strings.ToUpper(t[:1]) + t[1:]
		}
	}
	return err.Error()
}
