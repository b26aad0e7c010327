package epmd_test

// Client tests against a scripted epmd that answers each request with
// chosen bytes, so every length check of the client meets a reply one byte
// on each side of it (see make mutate).

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/epmd/epmdtest"
)

// scriptedEpmd listens on 127.0.0.1 and answers every request with reply,
// then closes the connection, unless hold is set: then it keeps it open
// until the peer closes it, and reports that on closed. It returns the
// port and a channel of the request bodies it read.
func scriptedEpmd(t *testing.T, reply []byte, hold bool, closed chan<- struct{}) (int, <-chan []byte) {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	reqs := make(chan []byte, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(ioTimeout))
				var n [2]byte
				if _, err := io.ReadFull(c, n[:]); err != nil {
					return
				}
				body := make([]byte, binary.BigEndian.Uint16(n[:]))
				if _, err := io.ReadFull(c, body); err != nil {
					return
				}
				reqs <- body
				if _, err := c.Write(reply); err != nil {
					return
				}
				if hold {
					_ = c.SetDeadline(time.Time{})
					_, _ = c.Read(make([]byte, 1))
					closed <- struct{}{}
				}
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port, reqs
}

func scriptedClient(port int) *epmd.Client {
	return &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(port), Timeout: ioTimeout}
}

func TestClientRepliesAtTheirMinimumLength(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		reply   string
		call    func(c *epmd.Client) (any, error)
		want    any
		wantErr error
	}{
		{name: "names: port alone", reply: "\x00\x00\x11\x11",
			call: func(c *epmd.Client) (any, error) { p, n, err := c.Names(ctx); return [2]any{p, n}, err },
			want: [2]any{4369, []epmd.NameEntry(nil)}},
		{name: "names: three bytes", reply: "\x00\x00\x11",
			call:    func(c *epmd.Client) (any, error) { p, n, err := c.Names(ctx); return [2]any{p, n}, err },
			want:    [2]any{0, []epmd.NameEntry(nil)},
			wantErr: epmd.ErrNoResponse},
		{name: "names: one node", reply: "\x00\x01\x00\x02name a at port 7\n",
			call: func(c *epmd.Client) (any, error) { p, n, err := c.Names(ctx); return [2]any{p, n}, err },
			want: [2]any{65538, []epmd.NameEntry{{Name: "a", Port: 7}}}},
		{name: "dump: port alone", reply: "\x00\x00\x11\x11",
			call: func(c *epmd.Client) (any, error) { b, err := c.Dump(ctx); return string(b), err },
			want: ""},
		{name: "dump: three bytes", reply: "\x00\x00\x11",
			call:    func(c *epmd.Client) (any, error) { b, err := c.Dump(ctx); return b, err },
			want:    []byte(nil),
			wantErr: epmd.ErrNoResponse},
		{name: "dump: one line", reply: "\x00\x00\x11\x11active\n\x00",
			call: func(c *epmd.Client) (any, error) { b, err := c.Dump(ctx); return string(b), err },
			want: "active\n\x00"},
		{name: "kill: OK", reply: "OK",
			call: func(c *epmd.Client) (any, error) { return c.Kill(ctx) }, want: "OK"},
		{name: "kill: one byte", reply: "O",
			call: func(c *epmd.Client) (any, error) { return c.Kill(ctx) }, want: "O", wantErr: epmd.ErrNoResponse},
		{name: "kill: more than two", reply: "NOPE",
			call: func(c *epmd.Client) (any, error) { return c.Kill(ctx) }, want: "NO"},
		{name: "stop: STOPPED", reply: "STOPPED",
			call: func(c *epmd.Client) (any, error) { return c.Stop(ctx, "a") }, want: "STOPPED"},
		{name: "stop: six bytes", reply: "STOPPE",
			call: func(c *epmd.Client) (any, error) { return c.Stop(ctx, "a") }, want: "STOPPE", wantErr: epmd.ErrNoResponse},
		{name: "stop: unknown name", reply: "NOEXISTSTOPPED",
			call: func(c *epmd.Client) (any, error) { return c.Stop(ctx, "a") }, want: "NOEXIST"},
		{name: "port please: found", reply: "w\x00\x12\x67M\x00\x00\x06\x00\x05\x00\x01a\x00\x00",
			call: func(c *epmd.Client) (any, error) { return c.PortPlease(ctx, "a") },
			want: &epmd.Port2Resp{PortNo: 0x1267, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "a", Extra: []byte{}}},
		{name: "port please: unknown", reply: "w\x01",
			call:    func(c *epmd.Client) (any, error) { return c.PortPlease(ctx, "a") },
			want:    (*epmd.Port2Resp)(nil),
			wantErr: epmd.ErrUnknownNode},
		{name: "port please: nothing", reply: "",
			call:    func(c *epmd.Client) (any, error) { return c.PortPlease(ctx, "a") },
			want:    (*epmd.Port2Resp)(nil),
			wantErr: epmd.ErrNoResponse},
		{name: "port please: malformed", reply: "w\x00\x12",
			call:    func(c *epmd.Client) (any, error) { return c.PortPlease(ctx, "a") },
			want:    (*epmd.Port2Resp)(nil),
			wantErr: epmd.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port, _ := scriptedEpmd(t, []byte(tt.reply), false, nil)
			got, err := tt.call(scriptedClient(port))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestClientRegisterReplies(t *testing.T) {
	tests := []struct {
		name         string
		highVsn      uint16
		reply        string
		wantCreation uint32
		wantErr      error
	}{
		{name: "v for version 6", highVsn: 6, reply: "v\x00\x01\x02\x03\x04", wantCreation: 0x01020304},
		{name: "y for version 5", highVsn: 5, reply: "y\x00\x00\x03", wantCreation: 3},
		{name: "refused", highVsn: 6, reply: "v\x01\x00\x00\x00\x63", wantErr: epmd.ErrRefused},
		{name: "v for version 5", highVsn: 5, reply: "v\x00\x00\x00", wantErr: epmd.ErrMalformed},
		{name: "closed after 5 bytes", highVsn: 6, reply: "v\x00\x01\x02\x03", wantErr: epmd.ErrNoResponse},
		{name: "closed at once", highVsn: 6, reply: "", wantErr: epmd.ErrNoResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			closed := make(chan struct{}, 1)
			port, reqs := scriptedEpmd(t, []byte(tt.reply), tt.wantErr == nil, closed)
			req := &epmd.Alive2Req{PortNo: 4711, NodeType: 'M', HighVsn: tt.highVsn, LowVsn: 5, Name: "a"}
			r, err := scriptedClient(port).Register(context.Background(), req)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Register: %v, want %v", err, tt.wantErr)
			}
			if want := req.Append(nil); !reflect.DeepEqual(<-reqs, want) {
				t.Errorf("request body is not % x", want)
			}
			if err != nil {
				if r != nil {
					t.Errorf("Register returned a registration with %v", err)
				}
				return
			}
			if r.Creation != tt.wantCreation {
				t.Errorf("creation %#x, want %#x", r.Creation, tt.wantCreation)
			}
			select {
			case <-r.Done():
				t.Fatal("Done closed while the connection is open")
			default:
			}
			if err := r.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			<-closed // the epmd saw the connection end
			select {
			case <-r.Done():
			default:
				t.Fatal("Done still open after Close")
			}
		})
	}
}

// TestClientRegistrationDoneWhenEpmdCloses: Done reports the epmd ending the
// registration (a STOP) without Close.
func TestClientRegistrationDoneWhenEpmdCloses(t *testing.T) {
	s := &epmd.Server{RelaxedCommandCheck: true}
	addr := startServer(t, s)
	c := &epmd.Client{Addr: addr, Timeout: ioTimeout}
	r, err := c.Register(context.Background(), &epmd.Alive2Req{PortNo: 4711, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "done"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, err := c.Stop(context.Background(), "done"); got != "STOPPED" || err != nil {
		t.Fatalf("Stop = %q, %v", got, err)
	}
	select {
	case <-r.Done():
	case <-time.After(ioTimeout):
		t.Fatal("Done not closed after STOP")
	}
}

// TestClientPortTriesBothLoopbacks: with Port set, the client dials
// [::1] and then 127.0.0.1 on that port, and uses its Dialer.
func TestClientPortTriesBothLoopbacks(t *testing.T) {
	port, _ := scriptedEpmd(t, []byte("OK"), false, nil)
	dialed := make(chan string, 4)
	d := &net.Dialer{Control: func(_, address string, _ syscall.RawConn) error {
		dialed <- address
		return nil
	}}
	c := &epmd.Client{Port: port, Timeout: ioTimeout, Dialer: d}
	if got, err := c.Kill(context.Background()); got != "OK" || err != nil {
		t.Fatalf("Kill = %q, %v; want OK", got, err)
	}
	close(dialed)
	var got []string
	for a := range dialed {
		got = append(got, a)
	}
	// [::1] is dialed first; where the host has no IPv6 loopback the
	// dial fails before Control runs.
	want := "127.0.0.1:" + strconv.Itoa(port)
	if len(got) == 0 || got[len(got)-1] != want || (len(got) == 2 && got[0] != "[::1]:"+strconv.Itoa(port)) {
		t.Errorf("dialed %q, want [::1]:%d (when the host has it), then %s", got, port, want)
	}
}

// TestClientDialErrorIsTheFirst: when no address answers, the error is
// the first address's.
func TestClientDialErrorIsTheFirst(t *testing.T) {
	port := epmdtest.Port(t) // reserved: nothing listens there
	c := &epmd.Client{Port: port, Timeout: ioTimeout}
	_, err := c.Kill(context.Background())
	if err == nil || !strings.Contains(err.Error(), "[::1]:"+strconv.Itoa(port)) {
		t.Fatalf("Kill with no epmd: %v, want the error of [::1]:%d", err, port)
	}
}

// TestClientTimeout: Timeout bounds a request to an epmd that never
// answers; the zero Timeout is DefaultTimeout, not zero.
func TestClientTimeout(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() }) // accepted, never answered
		}
	}()
	start := time.Now()
	c := &epmd.Client{Addr: l.Addr().String(), Timeout: 50 * time.Millisecond}
	if _, err := c.Kill(context.Background()); !errors.Is(err, syscall.ETIMEDOUT) && !isTimeout(err) {
		t.Fatalf("Kill to a silent epmd: %v, want a timeout", err)
	}
	if d := time.Since(start); d >= epmd.DefaultTimeout/2 {
		t.Errorf("a 50ms Timeout took %v", d)
	}
	port, _ := scriptedEpmd(t, []byte("OK"), false, nil)
	zero := &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(port)}
	if got, err := zero.Kill(context.Background()); got != "OK" || err != nil {
		t.Fatalf("Kill with the zero Timeout = %q, %v; want OK", got, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
