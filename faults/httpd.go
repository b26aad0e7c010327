package faults

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The admin API's HTTP/1.1 server. It is written here rather than taken
// from net/http because net/http brings crypto/tls, x509 and HTTP/2 into
// the binary, and their start-up code and pages were most of the daemon's
// resident memory (6.3 MiB of mapped binary against 2.6 without them). It
// serves what the API, the page and curl or a browser need: persistent
// connections, Content-Length and chunked request bodies, Expect:
// 100-continue, HEAD, and chunked replies for the event stream.

const (
	// maxHeaderBytes bounds a request's line and headers together, and
	// maxHeaderLines the number of header lines.
	maxHeaderBytes = 64 << 10
	maxHeaderLines = 100
	// maxBodyBytes bounds a request's body (a POST /faults).
	maxBodyBytes = 64 << 10
	// readTimeout bounds the wait for a request's headers (idle time on a
	// kept connection included) and, again, for its body.
	readTimeout = 10 * time.Second
	// writeTimeout bounds each write of a reply.
	writeTimeout = 10 * time.Second
	// maxConns bounds the connections served at once; one more is closed
	// as soon as it is accepted, so that clients of the API cannot take
	// the descriptors the epmd side needs.
	maxConns = 128
)

// ErrAdminClosed is returned by Admin.Serve after Admin.Close.
var ErrAdminClosed = errors.New("admin: server closed")

// request is one parsed HTTP request.
type request struct {
	Method string
	// Path is the target's path, percent-decoded; Query its query.
	Path  string
	Query url.Values
	// header holds the fields' values by lower-case name, a repeated
	// field's in order.
	header map[string][]string
	Body   []byte
	// RemoteAddr is the peer's address, host:port.
	RemoteAddr string
	// http10 is set for an HTTP/1.0 request.
	http10 bool
	// pathID is the segment a route's "{id}" matched.
	pathID string

	br   *bufio.Reader
	conn net.Conn
	gone chan struct{}
}

// Header returns the field name's value, a repeated field's values
// joined with ", " ("" when absent).
func (r *request) Header(name string) string {
	return strings.Join(r.header[strings.ToLower(name)], ", ")
}

// wantsClose reports whether the client asked to close after the reply.
func (r *request) wantsClose() bool {
	for _, v := range strings.Split(r.Header("Connection"), ",") {
		if strings.EqualFold(strings.TrimSpace(v), "close") {
			return true
		}
	}
	return r.http10
}

// clientGone returns a channel closed when the client closes or resets
// the connection. From the first call the connection serves no further
// request: what the client sends is read and dropped.
func (r *request) clientGone() <-chan struct{} {
	if r.gone == nil {
		r.gone = make(chan struct{})
		_ = r.conn.SetReadDeadline(time.Time{})
		go func() {
			defer close(r.gone)
			for {
				if _, err := r.br.Discard(1); err != nil {
					return
				}
			}
		}()
	}
	return r.gone
}

// httpError is a request the server refuses before any handler sees it.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{status: 400, msg: fmt.Sprintf(format, args...)}
}

// readLine reads one line ending in LF (or CRLF), without its end,
// charging its length to *budget; past the budget it fails with tooLong.
// io.EOF means nothing was read; a line cut short by the end of input is
// io.ErrUnexpectedEOF. The server and the client (httpwire.go) share it.
func readLine(br *bufio.Reader, budget *int, tooLong error) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		*budget -= len(frag)
		if *budget < 0 {
			return nil, tooLong
		}
		line = append(line, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return nil, unexpectedEOF(err, len(line))
		}
		line = line[:len(line)-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		return line, nil
	}
}

// errHeadTooLong refuses a request whose line and headers (or a chunk's
// line and the trailer) are over maxHeaderBytes.
var errHeadTooLong = &httpError{status: 431, msg: fmt.Sprintf("request line and headers over %d bytes", maxHeaderBytes)}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// readRequest reads one request's line, headers and body. An io.EOF
// means the client closed between requests; an *httpError is a request
// to refuse with its status.
func readRequest(conn net.Conn, br *bufio.Reader) (*request, error) {
	budget := maxHeaderBytes
	_ = conn.SetReadDeadline(time.Now().Add(readTimeout))
	line, err := readLine(br, &budget, errHeadTooLong)
	for err == nil && len(line) == 0 { // RFC 9112 2.2: ignore empty lines before a request
		line, err = readLine(br, &budget, errHeadTooLong)
	}
	if err != nil {
		return nil, err
	}
	method, rest, ok1 := strings.Cut(string(line), " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !isToken(method) || target == "" || strings.ContainsAny(target, " \t") {
		return nil, badRequest("malformed request line %q: want METHOD TARGET HTTP/1.1", truncate(string(line), 80))
	}
	r := &request{Method: method, header: map[string][]string{}, RemoteAddr: conn.RemoteAddr().String(), br: br, conn: conn}
	switch proto {
	case "HTTP/1.1":
	case "HTTP/1.0":
		r.http10 = true
	default:
		if strings.HasPrefix(proto, "HTTP/") {
			return nil, &httpError{status: 505, msg: fmt.Sprintf("protocol %q not supported: want HTTP/1.1 or HTTP/1.0", truncate(proto, 20))}
		}
		return nil, badRequest("malformed request line %q: want METHOD TARGET HTTP/1.1", truncate(string(line), 80))
	}
	u, err := url.ParseRequestURI(target)
	if err != nil || (u.Scheme == "" && !strings.HasPrefix(target, "/")) {
		return nil, badRequest("malformed request target %q: want a path such as /faults", truncate(target, 80))
	}
	r.Path = u.Path
	r.Query, _ = url.ParseQuery(u.RawQuery) // as net/http's Query(): a bad pair is left out
	for lines := 0; ; lines++ {
		line, err := readLine(br, &budget, errHeadTooLong)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if len(line) == 0 {
			break
		}
		if lines == maxHeaderLines {
			return nil, &httpError{status: 431, msg: fmt.Sprintf("over %d header lines", maxHeaderLines)}
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil, badRequest("folded header line %q: not allowed (RFC 9112 5.2)", truncate(string(line), 80))
		}
		name, value, ok := strings.Cut(string(line), ":")
		if !ok || !isToken(name) {
			return nil, badRequest("malformed header line %q: want NAME: VALUE", truncate(string(line), 80))
		}
		value = strings.Trim(value, " \t")
		if i := strings.IndexFunc(value, func(c rune) bool { return c < ' ' && c != '\t' || c == 0x7f }); i >= 0 {
			return nil, badRequest("header %s has a control character (%q): not allowed in a field value", name, value[i])
		}
		field := name
		name = strings.ToLower(name)
		if old := r.header[name]; len(old) > 0 && (name == "content-length" || name == "host") {
			if name == "host" || old[0] != value {
				return nil, badRequest("two %s headers (%q, %q): want one", field, old[0], value)
			}
			continue // the same Content-Length twice: as one (RFC 9110 8.6)
		}
		r.header[name] = append(r.header[name], value)
	}
	if _, ok := r.header["host"]; !ok && !r.http10 {
		return nil, badRequest("no Host header: HTTP/1.1 requires one")
	}
	if err := r.readBody(conn, br); err != nil {
		return nil, err
	}
	return r, nil
}

// readBody reads the body framed by Content-Length or chunked coding,
// first answering Expect: 100-continue.
func (r *request) readBody(conn net.Conn, br *bufio.Reader) error {
	_, hasTE := r.header["transfer-encoding"]
	_, hasCL := r.header["content-length"]
	te, cl := r.Header("Transfer-Encoding"), r.Header("Content-Length")
	if err := r.checkExpect(); err != nil {
		return err
	}
	var n int64
	switch {
	case hasTE && hasCL:
		return badRequest("both Transfer-Encoding and Content-Length: want one")
	case hasTE && r.http10:
		return badRequest("Transfer-Encoding in an HTTP/1.0 request: want Content-Length")
	case hasTE && !strings.EqualFold(te, "chunked"):
		return &httpError{status: 501, msg: fmt.Sprintf("Transfer-Encoding %q not supported: want chunked", truncate(te, 40))}
	case hasCL:
		var err error
		if n, err = strconv.ParseInt(cl, 10, 64); err != nil || n < 0 || cl[0] == '+' {
			return badRequest("malformed Content-Length %q: want a whole number of bytes", truncate(cl, 40))
		}
		if n > maxBodyBytes {
			return &httpError{status: 413, msg: fmt.Sprintf("request body of %d bytes: over the limit of %d", n, maxBodyBytes)}
		}
		if n == 0 {
			return nil
		}
	case !hasTE:
		return nil
	}
	if strings.EqualFold(r.Header("Expect"), "100-continue") && !r.http10 {
		_ = conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := io.WriteString(conn, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
			return err
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(readTimeout))
	if !hasTE {
		r.Body = make([]byte, n)
		_, err := io.ReadFull(br, r.Body)
		return err
	}
	body, err := readChunked(br)
	r.Body = body
	return err
}

// checkExpect refuses an Expect field other than 100-continue (417).
func (r *request) checkExpect() error {
	if e, ok := r.header["expect"]; ok && !strings.EqualFold(r.Header("Expect"), "100-continue") {
		return &httpError{status: 417, msg: fmt.Sprintf("Expect %q not supported: want 100-continue or none", truncate(strings.Join(e, ", "), 40))}
	}
	return nil
}

// readChunked reads a chunked body (RFC 9112 7.1) up to maxBodyBytes;
// chunk extensions and trailer fields are read and dropped.
func readChunked(br *bufio.Reader) ([]byte, error) {
	var body []byte
	budget := maxHeaderBytes
	for {
		line, err := readLine(br, &budget, errHeadTooLong)
		if err != nil {
			return nil, unexpectedEOF(err, 1)
		}
		size, _, _ := strings.Cut(string(line), ";")
		size = strings.TrimRight(size, " \t")
		n, err := strconv.ParseUint(size, 16, 64)
		if err != nil || size == "" || len(size) > 16 {
			return nil, badRequest("malformed chunk size %q", truncate(string(line), 40))
		}
		if n == 0 {
			break
		}
		if n > maxBodyBytes || len(body)+int(n) > maxBodyBytes {
			return nil, &httpError{status: 413, msg: fmt.Sprintf("request body over the limit of %d bytes", maxBodyBytes)}
		}
		start := len(body)
		body = append(body, make([]byte, n)...)
		if _, err := io.ReadFull(br, body[start:]); err != nil {
			return nil, unexpectedEOF(err, 1)
		}
		if crlf, err := readLine(br, &budget, errHeadTooLong); err != nil || len(crlf) != 0 {
			if err != nil {
				return nil, unexpectedEOF(err, 1)
			}
			return nil, badRequest("chunk of %d bytes not followed by CRLF", n)
		}
	}
	for { // trailer fields, dropped
		line, err := readLine(br, &budget, errHeadTooLong)
		if err != nil {
			return nil, unexpectedEOF(err, 1)
		}
		if len(line) == 0 {
			return body, nil
		}
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// statusText is the reason phrase of each status the API sends.
func statusText(code int) string {
	switch code {
	case 100:
		return "Continue"
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 202:
		return "Accepted"
	case 204:
		return "No Content"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 413:
		return "Content Too Large"
	case 417:
		return "Expectation Failed"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Status " + strconv.Itoa(code)
}

// response is a reply under construction. The body is kept until the
// handler returns and then sent with its Content-Length; Flush sends what
// is kept so far as a chunk, and every later write too (the event stream).
type response struct {
	conn    net.Conn
	bw      *bufio.Writer
	req     *request
	status  int
	fields  [][2]string
	body    bytes.Buffer
	sent    bool // the status line and fields are on the wire
	chunked bool
	done    bool // the reply is complete: later writes are dropped
	close   bool // close the connection after the reply
	err     error
}

// setHeader sets the field name (in the case given) to value.
func (w *response) setHeader(name, value string) {
	for i := range w.fields {
		if strings.EqualFold(w.fields[i][0], name) {
			w.fields[i][1] = value
			return
		}
	}
	w.fields = append(w.fields, [2]string{name, value})
}

func (w *response) getHeader(name string) string {
	for _, f := range w.fields {
		if strings.EqualFold(f[0], name) {
			return f[1]
		}
	}
	return ""
}

// writeHeader sets the status; the first call counts.
func (w *response) writeHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

// Write adds to the body.
func (w *response) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	if w.done || w.err != nil {
		return len(b), w.err
	}
	return w.body.Write(b)
}

// bodyless reports whether the reply carries no body on the wire.
func (w *response) bodyless() bool {
	return w.req.Method == "HEAD" || w.status == 204 || w.status == 304
}

func (w *response) writeHead(length int) {
	if w.status == 0 {
		w.status = 200
	}
	fmt.Fprintf(w.bw, "HTTP/1.1 %d %s\r\n", w.status, statusText(w.status))
	for _, f := range w.fields {
		fmt.Fprintf(w.bw, "%s: %s\r\n", f[0], f[1])
	}
	fmt.Fprintf(w.bw, "Date: %s\r\n", time.Now().UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT"))
	switch {
	case w.status == 204 || w.status == 304:
	case length < 0 && w.req.Method == "HEAD": // a stream's HEAD: no framing, no body
	case length >= 0:
		if w.getHeader("Content-Length") == "" {
			fmt.Fprintf(w.bw, "Content-Length: %d\r\n", length)
		}
	case w.req.http10:
		w.close = true // the body ends when the connection does
	default:
		w.chunked = true
		w.bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if w.close {
		w.bw.WriteString("Connection: close\r\n")
	}
	w.bw.WriteString("\r\n")
	w.sent = true
}

// Flush sends the status line and fields if not yet sent, then what the
// body holds, at once.
func (w *response) Flush() error {
	if w.err != nil || w.done {
		return w.err
	}
	_ = w.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if !w.sent {
		w.writeHead(-1)
	}
	if w.body.Len() > 0 && !w.bodyless() {
		if w.chunked {
			fmt.Fprintf(w.bw, "%x\r\n", w.body.Len())
		}
		w.bw.Write(w.body.Bytes())
		if w.chunked {
			w.bw.WriteString("\r\n")
		}
	}
	w.body.Reset()
	w.err = w.bw.Flush()
	return w.err
}

// finish completes the reply; later writes are dropped.
func (w *response) finish() error {
	if w.done {
		return w.err
	}
	if !w.sent {
		_ = w.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		w.writeHead(w.body.Len())
		if !w.bodyless() {
			w.bw.Write(w.body.Bytes())
		}
		w.err = w.bw.Flush()
	} else if w.Flush() == nil && w.chunked {
		w.bw.WriteString("0\r\n\r\n")
		w.err = w.bw.Flush()
	}
	w.done = true
	return w.err
}

// handlerFunc serves one request.
type handlerFunc func(w *response, r *request)

// httpServer runs handler on every request of every connection it
// accepts, until closed.
type httpServer struct {
	handler handlerFunc

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
}

func (s *httpServer) track(l net.Listener, c net.Conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listeners == nil {
		s.listeners, s.conns = map[net.Listener]struct{}{}, map[net.Conn]struct{}{}
	}
	switch {
	case add && s.closed:
		return false
	case l != nil && add:
		s.listeners[l] = struct{}{}
	case l != nil:
		delete(s.listeners, l)
	case add:
		s.conns[c] = struct{}{}
	default:
		delete(s.conns, c)
	}
	return true
}

// serve accepts on l until it fails or the server is closed.
func (s *httpServer) serve(l net.Listener) error {
	if !s.track(l, nil, true) {
		_ = l.Close()
		return ErrAdminClosed
	}
	defer s.track(l, nil, false)
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrAdminClosed
			}
			var ne net.Error
			if errors.Is(err, net.ErrClosed) || !errors.As(err, &ne) {
				return err
			}
			// Out of descriptors or a connection aborted before it was
			// accepted: wait a little and go on, as a daemon must.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !s.track(nil, c, true) {
			_ = c.Close()
			return ErrAdminClosed
		}
		s.mu.Lock()
		over := len(s.conns) > maxConns
		s.mu.Unlock()
		if over {
			s.track(nil, c, false)
			_ = c.Close()
			continue
		}
		go func() {
			defer s.track(nil, c, false)
			s.serveConn(c)
		}()
	}
}

// close closes the listeners and every connection, streams included.
func (s *httpServer) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for l := range s.listeners {
		_ = l.Close()
	}
	for c := range s.conns {
		_ = c.Close()
	}
	return nil
}

// serveConn serves the requests of one connection in turn. A handler
// that panics ends its connection (with a 500 when nothing was sent yet),
// not the daemon.
func (s *httpServer) serveConn(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	bw := bufio.NewWriter(c)
	var w *response
	defer func() {
		if p := recover(); p != nil && w != nil && !w.sent && !w.done {
			w = &response{conn: c, bw: bw, req: w.req, close: true}
			writeJSON(w, 500, apiError{Error: fmt.Sprintf("internal error: %v", p)})
			_ = w.finish()
		}
	}()
	for {
		r, err := readRequest(c, br)
		if err != nil {
			var he *httpError
			if errors.As(err, &he) {
				w := &response{conn: c, bw: bw, req: &request{Method: "GET"}, close: true}
				writeJSON(w, he.status, apiError{Error: he.msg})
				if w.finish() == nil {
					lingerClose(c, br)
				}
			}
			return
		}
		w = &response{conn: c, bw: bw, req: r, close: r.wantsClose()}
		s.handler(w, r)
		if w.finish() != nil || r.gone != nil {
			return
		}
		if w.close {
			lingerClose(c, br)
			return
		}
	}
}

// lingerClose ends a connection whose client may still be sending (a
// refused request's rest): closed with unread input, the connection
// would be reset, and a reset can destroy the reply before the client
// reads it. So it half-closes, then reads and drops what comes, up to
// lingerBytes or for lingerTime, before closing.
func lingerClose(c net.Conn, br *bufio.Reader) {
	hc, ok := c.(interface{ CloseWrite() error })
	if !ok || hc.CloseWrite() != nil {
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, br, lingerBytes)
}

const (
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 256 << 10
)

func writeJSON(w *response, status int, v any) {
	w.setHeader("Content-Type", "application/json")
	w.writeHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
