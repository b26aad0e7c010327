package faults

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// bytesConn is a connection that reads from a fixed input and swallows
// what is written to it.
type bytesConn struct {
	net.Conn
	r io.Reader
}

func (c bytesConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c bytesConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c bytesConn) SetReadDeadline(time.Time) error  { return nil }
func (c bytesConn) SetWriteDeadline(time.Time) error { return nil }
func (c bytesConn) RemoteAddr() net.Addr             { return rawAddr("127.0.0.1:5000") }
func (c bytesConn) Close() error                     { return nil }
func (c bytesConn) SetDeadline(t time.Time) error    { return nil }

// FuzzReadRequest: whatever a client sends, reading requests from it
// ends (in an error or at the end of the input) without a panic, every
// request read has a method, a path and a body within the limit, and
// every refusal carries a status the server knows.
func FuzzReadRequest(f *testing.F) {
	for _, s := range []string{
		"GET /faults HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /faults HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\ndrop",
		"POST /faults HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;a=b\r\ndrop\r\n0\r\nT: 1\r\n\r\n",
		"GET /events?since=3&follow=1 HTTP/1.0\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		"GET /%zz HTTP/1.1\r\n\r\n",
		"GET http://h/faults HTTP/1.1\r\n\r\n",
		"\x00\x03nx",
	} {
		f.Add([]byte(s))
	}
	known := map[int]bool{400: true, 413: true, 417: true, 431: true, 501: true, 505: true}
	f.Fuzz(func(t *testing.T, in []byte) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			readAll(t, in, known)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("still reading %q after 5 s", in)
		}
	})
}

func readAll(t *testing.T, in []byte, known map[int]bool) {
	{
		br := bufio.NewReaderSize(bytes.NewReader(in), 64)
		c := bytesConn{r: br}
		for i := 0; ; i++ {
			if i > len(in) {
				t.Errorf("%d requests from %d bytes", i, len(in))
				return
			}
			r, err := readRequest(c, br)
			if err != nil {
				var he *httpError
				if errors.As(err, &he) && !known[he.status] {
					t.Errorf("refused with %d: %s", he.status, he.msg)
				}
				return
			}
			if r.Method == "" || len(r.Body) > maxBodyBytes || r.Query == nil {
				t.Errorf("request %+v", r)
				return
			}
		}
	}
}
