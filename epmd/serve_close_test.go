package epmd_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// closeCounter is a listener that counts its Close calls; its Accept fails
// with acceptErr, or waits for the listener's close when that is nil.
type closeCounter struct {
	net.Listener
	acceptErr error
	closes    atomic.Int32
}

func (l *closeCounter) Accept() (net.Conn, error) {
	if l.acceptErr != nil {
		return nil, l.acceptErr
	}
	return l.Listener.Accept()
}

func (l *closeCounter) Close() error {
	l.closes.Add(1)
	return l.Listener.Close()
}

var errAcceptBroken = errors.New("accept broken")

// TestServeClosesListener: Serve closes its listener once whenever it
// returns, as net/http's Serve does: on a server closed before Serve was
// called, on Close while serving and on an accept error.
func TestServeClosesListener(t *testing.T) {
	tests := []struct {
		name      string
		acceptErr error
		before    func(*epmd.Server) // before Serve
		during    func(*epmd.Server) // once Serve accepts
		want      error
	}{
		{name: "closed before Serve", before: func(s *epmd.Server) { _ = s.Close() }, want: epmd.ErrServerClosed},
		{name: "closed while serving", during: func(s *epmd.Server) { _ = s.Close() }, want: epmd.ErrServerClosed},
		{name: "accept error", acceptErr: errAcceptBroken, want: errAcceptBroken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer inner.Close()
			l := &closeCounter{Listener: inner, acceptErr: tt.acceptErr}
			s := &epmd.Server{}
			defer s.Close()
			if tt.before != nil {
				tt.before(s)
			}
			served := make(chan error, 1)
			go func() { served <- s.Serve(l) }()
			if tt.during != nil {
				// A connection answered shows that Serve is accepting.
				cl := &epmd.Client{Addr: inner.Addr().String(), Timeout: ioTimeout}
				if _, got, err := cl.Names(context.Background()); err != nil || len(got) != 0 {
					t.Fatalf("NAMES while serving: %v, %v", got, err)
				}
				tt.during(s)
			}
			if err := <-served; !errors.Is(err, tt.want) {
				t.Fatalf("Serve = %v, want %v", err, tt.want)
			}
			if n := l.closes.Load(); n != 1 {
				t.Fatalf("listener closed %d times, want 1", n)
			}
			if _, err := inner.Accept(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Accept after Serve: %v, want net.ErrClosed", err)
			}
		})
	}
}

// TestServeAllOnClosedServerClosesListeners: ServeAll on a server stopped
// before it began closes every listener (chaos-epmd's -handback relies on
// it to find the port free).
func TestServeAllOnClosedServerClosesListeners(t *testing.T) {
	s := &epmd.Server{}
	_ = s.Close()
	var ls []net.Listener
	for range 3 {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ls = append(ls, l)
	}
	if err := s.ServeAll(ls); !errors.Is(err, epmd.ErrServerClosed) {
		t.Fatalf("ServeAll = %v, want ErrServerClosed", err)
	}
	for i, l := range ls {
		if err := l.Close(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("listener %d: Close after ServeAll = %v, want net.ErrClosed", i, err)
		}
		assertPortFree(t, l.Addr().String())
	}
}

// assertPortFree fails the test unless nothing listens on addr any more:
// a new listener can bind it. (The accept loop waits on a duplicate of a
// TCP listener's socket, which must close with it.)
func assertPortFree(t *testing.T, addr string) {
	t.Helper()
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatalf("listen on %s after Serve returned: %v", addr, err)
	}
	_ = l.Close()
}

// TestCloseFreesThePort: a bare server serving TCP listeners, whose
// connections its accept loop serves itself, leaves nothing listening
// after Close, and Serve returns.
func TestCloseFreesThePort(t *testing.T) {
	for _, mw := range []bool{false, true} {
		s := &epmd.Server{}
		if mw {
			s.Middleware = []epmd.Middleware{func(h epmd.Handler) epmd.Handler { return h }}
		}
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- s.Serve(l) }()
		cl := &epmd.Client{Addr: l.Addr().String(), Timeout: ioTimeout}
		if _, got, err := cl.Names(context.Background()); err != nil || len(got) != 0 {
			t.Fatalf("middleware %v: NAMES while serving: %v, %v", mw, got, err)
		}
		_ = s.Close()
		select {
		case err := <-served:
			if !errors.Is(err, epmd.ErrServerClosed) {
				t.Fatalf("middleware %v: Serve = %v, want ErrServerClosed", mw, err)
			}
		case <-time.After(ioTimeout):
			t.Fatalf("middleware %v: Serve still accepting %v after Close", mw, ioTimeout)
		}
		assertPortFree(t, l.Addr().String())
	}
}
