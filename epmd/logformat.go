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

// LogFormat is how a handler made by NewLogHandler prints the log.
type LogFormat uint8

// Log formats. The zero value is LogFormatC.
const (
	// LogFormatC prints the C epmd's debug texts (DebugHandler).
	LogFormatC LogFormat = iota
	// LogFormatText prints slog's key=value lines (slog.TextHandler).
	LogFormatText
	// LogFormatJSON prints a JSON object a line (slog.JSONHandler).
	LogFormatJSON
)

var logFormatNames = [...]string{LogFormatC: "c", LogFormatText: "text", LogFormatJSON: "json"}

// ErrLogFormat is wrapped by ParseLogFormat's error for a name it does not
// know.
var ErrLogFormat = errors.New("unknown log format, want c, text or json")

// String returns the format's name as ParseLogFormat reads it.
func (f LogFormat) String() string {
	if int(f) < len(logFormatNames) {
		return logFormatNames[f]
	}
	return fmt.Sprintf("LogFormat(%d)", uint8(f))
}

// ParseLogFormat returns the format named s: c, text or json.
func ParseLogFormat(s string) (LogFormat, error) {
	for f, name := range logFormatNames {
		if name == s {
			return LogFormat(f), nil
		}
	}
	return 0, fmt.Errorf("%q: %w", s, ErrLogFormat)
}

// NewLogHandler returns a handler writing the server's log to w in format
// f, at the levels the C epmd prints with debug (the number of -d flags, 0
// to 3). The C format is a DebugHandler; text and json are slog's own
// handlers, with each message's attributes in a fixed order.
func NewLogHandler(w io.Writer, debug int, f LogFormat) slog.Handler {
	opts := &slog.HandlerOptions{Level: debugLevel(debug)}
	switch f {
	case LogFormatText:
		return slog.NewTextHandler(w, opts)
	case LogFormatJSON:
		return slog.NewJSONHandler(w, opts)
	}
	return NewDebugHandler(w, debug)
}

func debugLevel(debug int) slog.Level {
	levels := [...]slog.Level{LevelAlways, LevelDebug1, LevelDebug2, LevelDebug3}
	return levels[min(max(debug, 0), 3)]
}

// DebugHandler is a slog.Handler that prints the server's log the way the
// C epmd prints its debug output: "epmd: <ctime>: <text>\r\n", with the C
// texts, at the records' levels up to the -d count it was made with, time
// stamped with the records' times. Records it has no C text for are printed as their message followed by
// key=value for each attribute, in the record's order.
type DebugHandler struct {
	// Syslog drops the time stamp and the CRLF: the form the C epmd
	// sends to syslog as a daemon.
	Syslog bool

	mu    *sync.Mutex
	w     io.Writer
	level slog.Level
}

// NewDebugHandler returns a DebugHandler writing to w that prints what the
// C epmd prints with debug (the number of -d flags, 0 to 3).
func NewDebugHandler(w io.Writer, debug int) *DebugHandler {
	return &DebugHandler{mu: new(sync.Mutex), w: w, level: debugLevel(debug)}
}

// Enabled implements slog.Handler.
func (h *DebugHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

// WithAttrs implements slog.Handler; the C texts use no common attributes.
func (h *DebugHandler) WithAttrs([]slog.Attr) slog.Handler { return h }

// WithGroup implements slog.Handler.
func (h *DebugHandler) WithGroup(string) slog.Handler { return h }

// Handle implements slog.Handler.
func (h *DebugHandler) Handle(_ context.Context, r slog.Record) error {
	a := make(attrs, 0, r.NumAttrs())
	r.Attrs(func(x slog.Attr) bool {
		a = append(a, x)
		return true
	})
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	stamp := t.Format("Mon Jan _2 15:04:05 2006")
	var out strings.Builder
	for _, line := range cLines(r.Message, a) {
		tty := strings.HasPrefix(line, "***** ") // dumps and tables
		switch {
		case h.Syslog && tty:
		case h.Syslog:
			out.WriteString("epmd: " + line + "\n")
		case tty:
			out.WriteString(line + "\r\n")
		default:
			out.WriteString("epmd: " + stamp + ": " + line + "\r\n")
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, out.String())
	return err
}

// cText is the C epmd's text of a log message: a format, one line per
// "\n", with its arguments in order, and lines that follow it (a dump).
type cText struct {
	format string
	args   []cArg
	more   func(attrs) []string
}

// text returns the C text format with its arguments args.
func text(format string, args ...cArg) cText { return cText{format: format, args: args} }

// cLines renders a record as the C epmd's debug lines.
func cLines(msg string, a attrs) []string {
	t, ok := cTexts[msg]
	if !ok {
		var b strings.Builder
		b.WriteString(msg)
		for _, x := range a {
			fmt.Fprintf(&b, " %s=%s", x.Key, x.Value)
		}
		return []string{b.String()}
	}
	var lines []string
	args := t.args
	for line := range strings.SplitSeq(t.format, "\n") {
		if line == "" {
			continue
		}
		n := strings.Count(line, "%") - 2*strings.Count(line, "%%")
		vals := make([]any, n)
		for i, arg := range args[:n] {
			vals[i] = arg(a)
		}
		args = args[n:]
		if n > 0 {
			line = fmt.Sprintf(line, vals...)
		}
		lines = append(lines, line)
	}
	if t.more != nil {
		lines = append(lines, t.more(a)...)
	}
	return lines
}

// attrs are a record's attributes, in order.
type attrs []slog.Attr

// get returns the value of the attribute key (the first one).
func (a attrs) get(key string) slog.Value {
	for _, x := range a {
		if x.Key == key {
			return x.Value
		}
	}
	return slog.Value{}
}

// cArg takes one argument of a C text from a record's attributes.
type cArg func(attrs) any

// attr is the attribute key as it is.
func attr(key string) cArg { return func(a attrs) any { return a.get(key).Any() } }

// length is the length in bytes of the attribute key.
func length(key string) cArg { return func(a attrs) any { return len(a.get(key).String()) } }

// cString is the attribute key up to its first NUL, as C's printf("%s")
// shows it.
func cString(key string) cArg {
	return func(a attrs) any {
		s, _, _ := strings.Cut(a.get(key).String(), "\x00")
		return s
	}
}

// flag is the boolean attribute key as 0 or 1.
func flag(key string) cArg {
	return func(a attrs) any {
		if a.get(key).Bool() {
			return 1
		}
		return 0
	}
}

var cReqNames = [...]string{
	KindAlive2: "ALIVE2_REQ", KindPortPlease2: "PORT2_REQ", KindNames: "NAMES_REQ",
	KindDump: "DUMP_REQ", KindKill: "KILL_REQ", KindStop: "STOP_REQ",
}

// cReq is the request kind in the attribute req as the C epmd names it.
func cReq(a attrs) any {
	req := a.get("req").String()
	if k, ok := ParseKind(req); ok && int(k) < len(cReqNames) && cReqNames[k] != "" {
		return cReqNames[k]
	}
	return req
}

// peerKind says whether the attribute local is true.
func peerKind(a attrs) any {
	if a.get("local").Bool() {
		return "Local"
	}
	return "Non-local"
}

// errno is the system error number in the attribute err, or 0.
func errno(a attrs) any {
	err, _ := a.get("err").Any().(error)
	var e syscall.Errno
	if errors.As(err, &e) {
		return uintptr(e)
	}
	return uintptr(0)
}

// strerror is the attribute err as C's perror shows it (see Strerror).
func strerror(a attrs) any { return Strerror(a.get("err").Any()) }

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

// hexDump formats the attribute bytes as the C epmd's -d -d dumps: 16
// bytes a row, at most 1024 bytes.
func hexDump(a attrs) []string {
	b := a.get("bytes").String()
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

// nodeList is a node table in a log record: the nodes for the C text,
// their names for other handlers.
type nodeList []*Node

// LogValue implements slog.LogValuer.
func (l nodeList) LogValue() slog.Value {
	names := make([]string, len(l))
	for i, n := range l {
		names[i] = n.Name
	}
	return slog.AnyValue(names)
}

// namesTable renders the attributes reg and unreg as the C epmd's
// -d -d -d node tables.
func namesTable(a attrs) []string {
	var lines []string
	rs, _ := a.get("reg").Any().(nodeList)
	us, _ := a.get("unreg").Any().(nodeList)
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
