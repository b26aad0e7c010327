package epmd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// Client errors.
var (
	// ErrUnknownNode is returned by PortPlease when epmd answers that no
	// node of that name is registered (PORT2_RESP result 1).
	ErrUnknownNode = errors.New("epmd: node not registered")
	// ErrRefused is returned by Register when epmd answers with result 1:
	// the name is in use, or is not a valid node name.
	ErrRefused = errors.New("epmd: registration refused")
	// ErrNoResponse reports a connection epmd closed without the expected
	// reply.
	ErrNoResponse = errors.New("epmd: no response")
)

// DefaultTimeout bounds a client request when neither the context nor
// Client.Timeout does.
const DefaultTimeout = 10 * time.Second

// Client talks to an epmd. Its zero value talks to the local epmd on
// DefaultPort, trying [::1] and then 127.0.0.1 as the epmd command does.
type Client struct {
	// Addr is the epmd's host:port. Empty means the local epmd on Port.
	Addr string
	// Port is the local epmd's port when Addr is empty; 0 means 4369.
	Port int
	// Timeout bounds each request; 0 means DefaultTimeout.
	Timeout time.Duration
	// Dialer dials the connections; nil means a zero net.Dialer.
	Dialer *net.Dialer
}

func (c *Client) addrs() []string {
	if c.Addr != "" {
		return []string{c.Addr}
	}
	p := c.Port
	if p == 0 {
		p = DefaultPort
	}
	ps := strconv.Itoa(p & 0xffff)
	return []string{"[::1]:" + ps, "127.0.0.1:" + ps}
}

// Dial opens a connection to the epmd, trying each local address in turn
// when Addr is empty.
func (c *Client) Dial(ctx context.Context) (net.Conn, error) {
	d := c.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	var first error
	for _, a := range c.addrs() {
		conn, err := d.DialContext(ctx, "tcp", a)
		if err == nil {
			return conn, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

func (c *Client) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	t := c.Timeout
	if t == 0 {
		t = DefaultTimeout
	}
	return context.WithTimeout(ctx, t)
}

// Request sends one request and returns every byte of the reply, up to the
// close of the connection. It is what the epmd command uses for -names,
// -dump, -kill and -stop.
func (c *Client) Request(ctx context.Context, m Message) ([]byte, error) {
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	conn, err := c.Dial(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(AppendFrame(nil, m)); err != nil {
		return nil, fmt.Errorf("write request: %w", err)
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		return b, fmt.Errorf("read reply: %w", err)
	}
	return b, nil
}

// Names returns the port the epmd reports and its registered nodes,
// newest first.
func (c *Client) Names(ctx context.Context) (int, []NameEntry, error) {
	b, err := c.Request(ctx, &NamesReq{})
	if err != nil {
		return 0, nil, err
	}
	if len(b) < 4 {
		return 0, nil, fmt.Errorf("NAMES reply of %d bytes: %w", len(b), ErrNoResponse)
	}
	names, err := ParseNames(b[4:])
	return int(binary.BigEndian.Uint32(b)), names, err
}

// PortPlease looks a node up by name; ErrUnknownNode when it is not
// registered.
func (c *Client) PortPlease(ctx context.Context, name string) (*Port2Resp, error) {
	b, err := c.Request(ctx, &PortPlease2Req{Name: name})
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("PORT_PLEASE2 %q: %w", name, ErrNoResponse)
	}
	resp, err := ParsePort2Resp(b)
	if err != nil {
		return nil, err
	}
	if resp.Result != 0 {
		return nil, fmt.Errorf("PORT_PLEASE2 %q: %w", name, ErrUnknownNode)
	}
	return resp, nil
}

// Dump returns the raw DUMP reply after its 4-byte port.
func (c *Client) Dump(ctx context.Context) ([]byte, error) {
	b, err := c.Request(ctx, &DumpReq{})
	if err != nil {
		return nil, err
	}
	if len(b) < 4 {
		return nil, fmt.Errorf("DUMP reply of %d bytes: %w", len(b), ErrNoResponse)
	}
	return b[4:], nil
}

// Kill asks the epmd to exit and returns its answer: "OK", or "NO" while
// nodes are registered and the epmd is not relaxed.
func (c *Client) Kill(ctx context.Context) (string, error) {
	b, err := c.Request(ctx, &KillReq{})
	if err != nil {
		return string(b), err
	}
	if len(b) < 2 {
		return string(b), fmt.Errorf("KILL reply %q: %w", b, ErrNoResponse)
	}
	return string(b[:2]), nil
}

// Stop asks the epmd to unregister a node and returns the answer's first
// seven bytes: "STOPPED", or "NOEXIST" for an unknown name. A server
// without relaxed command check drops the request: ErrNoResponse.
func (c *Client) Stop(ctx context.Context, name string) (string, error) {
	b, err := c.Request(ctx, &StopReq{Name: name})
	if err != nil {
		return string(b), err
	}
	if len(b) < 7 {
		return string(b), fmt.Errorf("STOP reply %q: %w", b, ErrNoResponse)
	}
	return string(b[:7]), nil
}

// Registration is a node registered through Register. It lasts as long as
// its connection: Close unregisters it.
type Registration struct {
	// Creation is the creation number the epmd assigned.
	Creation uint32
	conn     net.Conn
	done     chan struct{}
}

// Register registers a node and keeps its connection open. The reply form
// follows m.HighVsn ('v' from 6 on, else 'y'). ErrRefused when the epmd
// answers with result 1.
func (c *Client) Register(ctx context.Context, m *Alive2Req) (*Registration, error) {
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	conn, err := c.Dial(ctx)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(AppendFrame(nil, m)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("write ALIVE2_REQ: %w", err)
	}
	want := 4
	if m.HighVsn >= 6 {
		want = 6
	}
	buf := make([]byte, want)
	if _, err := io.ReadFull(conn, buf); err != nil {
		conn.Close()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = ErrNoResponse
		}
		return nil, fmt.Errorf("read ALIVE2 reply: %w", err)
	}
	result, creation, err := ParseAlive2Reply(buf)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if result != 0 {
		conn.Close()
		return nil, fmt.Errorf("register %q: %w", m.Name, ErrRefused)
	}
	if !stop() {
		conn.Close()
		return nil, ctx.Err()
	}
	_ = conn.SetDeadline(time.Time{})
	r := &Registration{Creation: creation, conn: conn, done: make(chan struct{})}
	go func() {
		// The epmd never writes on a registration connection; a read
		// returns only when it closes (STOP, KILL, a crash).
		var b [1]byte
		_, _ = conn.Read(b[:])
		close(r.done)
	}()
	return r, nil
}

// Done is closed when the registration's connection ends, from either
// side.
func (r *Registration) Done() <-chan struct{} { return r.done }

// Close ends the registration.
func (r *Registration) Close() error {
	err := r.conn.Close()
	<-r.done
	return err
}
