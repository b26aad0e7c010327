package faults

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The client speaks HTTP/1.1 itself (see httpwire.go) rather than through
// net/http, which would link crypto/tls and friends into the daemon.

// ErrNotHTTP is returned when the address a Client talks to accepted the
// connection but did not answer HTTP, as an epmd port does.
var ErrNotHTTP = errors.New("did not answer HTTP")

// The reply statuses the client tells apart.
const (
	statusOK         = 200
	statusCreated    = 201
	statusAccepted   = 202
	statusNoContent  = 204
	statusBadRequest = 400
	statusNotFound   = 404
)

// Client is a Go client of the admin API (see Admin). The zero value is
// not usable: set URL. A Client keeps idle connections for reuse and is
// safe for concurrent use; do not copy it after first use.
type Client struct {
	// URL is the API's base URL, http://HOST:PORT (a trailing slash is
	// allowed), e.g. "http://127.0.0.1:4380". Nothing else is accepted:
	// not https, not a path.
	URL string
	// Token is sent as a bearer token when set.
	Token string
	// Timeout bounds each request, from the dial to the reply's last byte
	// (for a followed Events, the whole stream); 0 means no bound beyond
	// the context's.
	Timeout time.Duration
	// MaxIdleConns is how many idle keep-alive connections the Client
	// keeps for later requests; 0 means 2, a negative value none.
	MaxIdleConns int

	mu   sync.Mutex
	idle []*conn // newest last
}

// Faults returns the installed faults in order.
func (c *Client) Faults(ctx context.Context) ([]Info, error) {
	var out []Info
	return out, c.do(ctx, "GET", "/faults", nil, statusOK, &out)
}

// Add installs a fault from its spec and returns its entry. A bad spec
// gives a *SpecError.
func (c *Client) Add(ctx context.Context, spec string) (Info, error) {
	var out Info
	body, _ := json.Marshal(map[string]string{"spec": spec})
	return out, c.do(ctx, "POST", "/faults", body, statusCreated, &out)
}

// AddAll installs faults from their specs, in order, all or none, and
// returns their entries. A bad spec gives a *SpecError naming it, and
// nothing is installed.
func (c *Client) AddAll(ctx context.Context, specs []string) ([]Info, error) {
	var out []Info
	body, _ := json.Marshal(specs)
	return out, c.do(ctx, "POST", "/faults", body, statusCreated, &out)
}

// Stop asks the daemon to end, as SIGTERM does (POST /stop).
func (c *Client) Stop(ctx context.Context) error {
	return c.do(ctx, "POST", "/stop", nil, statusAccepted, nil)
}

// Remove uninstalls the fault with that id; ErrNoFault when there is none.
func (c *Client) Remove(ctx context.Context, id uint64) error {
	return c.do(ctx, "DELETE", "/faults/"+strconv.FormatUint(id, 10), nil, statusNoContent, nil)
}

// Clear uninstalls every fault.
func (c *Client) Clear(ctx context.Context) error {
	return c.do(ctx, "DELETE", "/faults", nil, statusNoContent, nil)
}

// Nodes returns the registered nodes, newest first.
func (c *Client) Nodes(ctx context.Context) ([]NodeInfo, error) {
	var out []NodeInfo
	return out, c.do(ctx, "GET", "/nodes", nil, statusOK, &out)
}

// Metrics returns the Prometheus text of /metrics.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	status, body, err := c.request(ctx, "GET", "/metrics", nil)
	if err != nil {
		return "", err
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		return "", fmt.Errorf("read metrics: %w", err)
	}
	if status != statusOK {
		return "", apiErr(status, b)
	}
	return string(b), nil
}

// Events calls fn with the kept events after since and, with follow, with
// every later event until ctx is done or fn returns an error (which Events
// returns). Without follow it returns after the kept events.
func (c *Client) Events(ctx context.Context, since uint64, follow bool, fn func(Event) error) error {
	path := "/events?since=" + strconv.FormatUint(since, 10)
	if follow {
		path += "&follow=1"
	}
	status, body, err := c.request(ctx, "GET", path, nil)
	if err != nil {
		return err
	}
	defer body.Close()
	if status != statusOK {
		b, _ := io.ReadAll(body)
		return apiErr(status, b)
	}
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("decode event: %w", err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("read events: %w", err)
	}
	return ctx.Err()
}

// CloseIdle closes the connections the Client keeps for reuse.
func (c *Client) CloseIdle() {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, pc := range idle {
		pc.nc.Close()
	}
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, want int, out any) error {
	status, rc, err := c.request(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("admin %s %s: read reply: %w", method, path, err)
	}
	if status != want {
		return apiErr(status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("admin %s %s: decode reply: %w", method, path, err)
		}
	}
	return nil
}

// request sends one request and returns the reply's status and body,
// which the caller must close; closing it after reading it to the end
// keeps the connection for the next request when the reply allows.
func (c *Client) request(ctx context.Context, method, path string, body []byte) (int, io.ReadCloser, error) {
	fail := func(err error) (int, io.ReadCloser, error) {
		return 0, nil, fmt.Errorf("admin %s %s: %w", method, path, err)
	}
	host, err := baseHost(c.URL)
	if err != nil {
		return fail(err)
	}
	if strings.ContainsAny(c.Token, "\r\n\x00") {
		return fail(errors.New("the token has a line break or NUL"))
	}
	cancel := context.CancelFunc(func() {})
	if c.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
	}
	rb, err := c.exchange(ctx, host, method, encodeRequest(method, path, host, c.Token, body))
	if err != nil {
		cerr := ctx.Err() // before cancel, which would set it
		cancel()
		if cerr != nil {
			return fail(cerr)
		}
		return fail(err)
	}
	rb.cancel = cancel
	return rb.status, rb, nil
}

// exchange sends the request req to host and reads the reply up to its
// body.
//
// A kept connection the server closed while idle is normally noticed
// before use (see watch). When one still fails before any byte of a reply
// arrived, a GET, HEAD or DELETE is sent once more on a new connection:
// those are safe to repeat. A POST is not, since the server may have acted
// on it; its error then says the kept connection was closed.
func (c *Client) exchange(ctx context.Context, host, method string, req []byte) (*replyBody, error) {
	for fresh := false; ; fresh = true {
		pc, reused, err := c.conn(ctx, host, fresh)
		if err != nil {
			if errors.Is(err, syscall.ECONNRESET) {
				return nil, notHTTP(host) // accepted and reset before connect returned
			}
			return nil, err
		}
		// Closing the connection when ctx ends aborts a write or read in
		// progress at any point, up to the body's Close.
		stop := context.AfterFunc(ctx, func() { pc.nc.Close() })
		resp, replied, err := pc.roundTrip(req, method)
		if err == nil {
			return &replyBody{c: c, pc: pc, status: resp.status, r: resp.body, keep: resp.keep, ctx: ctx, stop: stop}, nil
		}
		stop()
		pc.nc.Close()
		switch {
		case ctx.Err() != nil:
			return nil, err
		case reused && !replied && closedOrReset(err):
			if !fresh && (method == "GET" || method == "HEAD" || method == "DELETE") {
				continue
			}
			return nil, fmt.Errorf("kept-alive connection to %s closed before a reply: %w", host, err)
		case !reused && (closedOrReset(err) || errors.Is(err, errNotStatusLine)):
			return nil, notHTTP(host)
		}
		return nil, err
	}
}

// baseHost returns the HOST:PORT of a base URL http://HOST:PORT, with an
// optional trailing slash, or an error saying that is what it wants.
func baseHost(base string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("URL %q: %s; want http://HOST:PORT", base, why)
	}
	if !strings.Contains(base, "://") {
		return bad("no scheme")
	}
	u, err := url.Parse(base)
	switch {
	case err != nil:
		return bad("not a URL")
	case u.Scheme != "http":
		return bad(u.Scheme + " is not supported")
	case u.Hostname() == "":
		return bad("no host")
	case u.Port() == "":
		return bad("no port")
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return bad("more than a host and port")
	}
	return u.Host, nil
}

// notHTTP is the error of a host that accepted the connection but did not
// answer HTTP.
func notHTTP(host string) error {
	return fmt.Errorf("%s %w: is it the admin address (-admin), not the epmd port?", host, ErrNotHTTP)
}

// closedOrReset reports whether err means the other end closed or reset
// the connection.
func closedOrReset(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// encodeRequest returns the bytes of a request: request line, header and
// body, sent with one write.
func encodeRequest(method, path, host, token string, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: chaos-epmd\r\n", method, path, host)
	if token != "" {
		fmt.Fprintf(&b, "Authorization: Bearer %s\r\n", token)
	}
	if body != nil {
		b.WriteString("Content-Type: application/json\r\n")
	}
	if body != nil || method == "POST" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// conn is a connection to the API, with the reader of its replies.
type conn struct {
	nc net.Conn
	br *bufio.Reader
	// watched is closed when the watch of the idle connection ends; dead
	// (under Client.mu) that the watch found it closed or misbehaving.
	watched chan struct{}
	dead    bool
}

// conn returns a kept idle connection (reused) unless fresh, or else
// dials a new one.
func (c *Client) conn(ctx context.Context, host string, fresh bool) (pc *conn, reused bool, err error) {
	for !fresh {
		c.mu.Lock()
		n := len(c.idle)
		if n == 0 {
			c.mu.Unlock()
			break
		}
		pc = c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		// End the watch: a read deadline in the past unblocks its read.
		pc.nc.SetReadDeadline(time.Unix(1, 0))
		<-pc.watched
		pc.nc.SetReadDeadline(time.Time{})
		c.mu.Lock()
		dead := pc.dead
		c.mu.Unlock()
		if !dead {
			return pc, true, nil
		}
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, false, err
	}
	return &conn{nc: nc, br: bufio.NewReader(nc)}, false, nil
}

// put keeps pc for a later request, or closes it when enough are kept.
func (c *Client) put(pc *conn) {
	max := c.MaxIdleConns
	if max == 0 {
		max = 2
	}
	c.mu.Lock()
	if len(c.idle) >= max {
		c.mu.Unlock()
		pc.nc.Close()
		return
	}
	pc.watched = make(chan struct{})
	c.idle = append(c.idle, pc)
	c.mu.Unlock()
	go c.watch(pc)
}

// watch waits on the idle connection pc for the server to close it (or
// to send anything unasked, which also spoils it), and then drops it from
// the kept ones, until conn takes pc and ends the wait with a deadline.
func (c *Client) watch(pc *conn) {
	defer close(pc.watched)
	_, err := pc.br.Peek(1)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return // conn took pc
	}
	c.mu.Lock()
	pc.dead = true
	for i, o := range c.idle {
		if o == pc {
			c.idle = append(c.idle[:i], c.idle[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	pc.nc.Close()
}

// roundTrip writes the request req and reads the reply's status line and
// header; replied reports whether any byte of a reply arrived.
func (pc *conn) roundTrip(req []byte, method string) (resp *reply, replied bool, err error) {
	if _, err := pc.nc.Write(req); err != nil {
		return nil, false, err
	}
	if _, err := pc.br.Peek(1); err != nil {
		return nil, false, err
	}
	resp, err = readResponse(pc.br, method)
	return resp, true, err
}

// replyBody is a reply's body as request returns it.
type replyBody struct {
	c      *Client
	pc     *conn
	status int
	r      io.Reader
	keep   bool
	eof    bool
	ctx    context.Context
	stop   func() bool
	cancel context.CancelFunc
	closed bool
}

func (b *replyBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.eof = true
	} else if err != nil && b.ctx.Err() != nil {
		err = b.ctx.Err()
	}
	return n, err
}

// Close keeps the connection when the body was read to its end, the reply
// allows it and ctx did not end; otherwise it closes the connection.
func (b *replyBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	stopped := b.stop()
	b.cancel()
	if stopped && b.eof && b.keep && b.c.MaxIdleConns >= 0 {
		b.c.put(b.pc)
		return nil
	}
	return b.pc.nc.Close()
}

// apiErr turns an error reply into an error: a *SpecError for a bad spec,
// ErrNoFault for an unknown id.
func apiErr(status int, body []byte) error {
	var e apiError
	_ = json.Unmarshal(body, &e)
	switch {
	case status == statusBadRequest && e.Key != "":
		return &SpecError{Spec: e.Spec, Key: e.Key, Msg: e.Msg}
	case status == statusNotFound && strings.HasPrefix(e.Error, ErrNoFault.Error()):
		return fmt.Errorf("admin: %w", ErrNoFault)
	case e.Error != "":
		return fmt.Errorf("admin: %s (HTTP %d)", e.Error, status)
	}
	return fmt.Errorf("admin: HTTP %d: %s", status, bytes.TrimSpace(body))
}
