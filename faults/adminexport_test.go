package faults

import (
	"bufio"
	"io"
	"net"
	"net/http"
)

// rawAddr is a peer address as a test gives it, well-formed or not.
type rawAddr string

func (a rawAddr) Network() string { return "tcp" }
func (a rawAddr) String() string  { return string(a) }

// peerConn is one end of an in-memory connection with the peer's address
// a test chose.
type peerConn struct {
	net.Conn
	remote net.Addr
}

func (c peerConn) RemoteAddr() net.Addr { return c.remote }

// ServeHTTP lets the tests written against net/http's recorder run a
// request through the admin's own HTTP server: r is written by net/http
// to an in-memory connection from r.RemoteAddr, served by serveConn, and
// the reply, read back by net/http, copied into w. httptest's default
// Host, example.com, is replaced by 127.0.0.1, as a local client sends.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.once.Do(a.routes)
	if r.Host == "example.com" { // httptest.NewRequest's default: as a local client would
		r.Host = "127.0.0.1"
	}
	c, s := net.Pipe()
	defer c.Close()
	go a.http.serveConn(peerConn{Conn: s, remote: rawAddr(r.RemoteAddr)})
	go func() { _ = r.Write(c) }()
	resp, err := http.ReadResponse(bufio.NewReader(c), r)
	if err != nil {
		panic("admin reply not read by net/http: " + err.Error())
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(w, resp.Body); err != nil {
		panic("admin reply body not read by net/http: " + err.Error())
	}
}
