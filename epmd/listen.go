package epmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// DefaultPort is epmd's well-known port.
const DefaultPort = 4369

// MaxListenSockets is the most sockets the C epmd listens on
// (MAX_LISTEN_SOCKETS), the two loopbacks included.
const MaxListenSockets = 16

// ErrAddrInUse is wrapped by Listen's error when the port is taken on one
// of the addresses: another epmd is running there. The epmd command exits
// 0 then, silently, so that erl can start it every time.
var ErrAddrInUse = errors.New("address already in use")

// ErrBind is wrapped by Listen's error when an address cannot be bound for
// another reason; the epmd command exits 1 then.
var ErrBind = errors.New("bind failed")

// ListenAddrs returns the addresses the C epmd binds for an -address list
// (tokens separated by commas or spaces): 0.0.0.0 and :: when the list is
// empty; otherwise 127.0.0.1 and ::1 first, then the listed addresses,
// without repeating the two loopbacks. nonfatal is how many leading
// addresses may fail to bind without error. Each token is tried as IPv6
// first, then IPv4; what parses as neither is an error, and so is a list
// that needs more than MaxListenSockets sockets.
func ListenAddrs(address string) (addrs []netip.Addr, nonfatal int, err error) {
	tokens := strings.FieldsFunc(address, func(r rune) bool { return r == ',' || r == ' ' })
	if len(tokens) == 0 {
		return []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}, 0, nil
	}
	lo4 := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	addrs = []netip.Addr{lo4, netip.IPv6Loopback()}
	for _, t := range tokens {
		a, err := netip.ParseAddr(t)
		if err != nil || a.Zone() != "" {
			// The token as it came, as the C epmd prints it: no escapes.
			return nil, 0, fmt.Errorf("cannot parse IP address \"%s\"", t)
		}
		if a == lo4 || a == netip.IPv6Loopback() {
			continue
		}
		addrs = append(addrs, a)
		if len(addrs) >= MaxListenSockets {
			return nil, 0, fmt.Errorf("cannot listen on more than %d IP addresses", MaxListenSockets)
		}
	}
	return addrs, 2, nil
}

// Listen opens the listeners the C epmd opens for an -address list and a
// port (see ListenAddrs). A port in use on any address gives an error
// wrapping ErrAddrInUse; a failed bind is fatal except on the two implicit
// loopbacks, whose failures go to log (nil discards them). Addresses of a
// family the kernel lacks are skipped. IPv6 sockets are IPv6-only.
// Accepted connections get no TCP keep-alive, as in the C epmd.
func Listen(ctx context.Context, address string, port int, log *slog.Logger) ([]net.Listener, error) {
	addrs, nonfatal, err := ListenAddrs(address)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	port &= 0xffff
	var ls []net.Listener
	fail := func(err error) ([]net.Listener, error) {
		for _, l := range ls {
			_ = l.Close()
		}
		return nil, err
	}
	lc := ListenConfig()
	for i, a := range addrs {
		network := "tcp4"
		if a.Is6() {
			network = "tcp6"
		}
		hostport := netip.AddrPortFrom(a, uint16(port)).String()
		var l net.Listener
		if a.Is4In6() {
			// Go will not bind an IPv4-mapped address to an IPv6
			// socket; the C epmd's bind of one to its IPv6-only socket
			// fails with EINVAL.
			err = syscall.EINVAL
		} else {
			l, err = lc.Listen(ctx, network, hostport)
		}
		if err == nil {
			ls = append(ls, l)
			continue
		}
		switch {
		case errors.Is(err, syscall.EADDRINUSE):
			log.LogAttrs(ctx, LevelDebug1, msgAddrInUse,
				slog.Int("port", port), slog.String("addr", a.String()))
			return fail(&cError{fmt.Sprintf("there is already a epmd running at port %d on ipaddr %s", port, a), ErrAddrInUse})
		case errors.Is(err, syscall.EAFNOSUPPORT), errors.Is(err, syscall.EPROTONOSUPPORT):
			continue
		case i < nonfatal:
			log.LogAttrs(ctx, LevelAlways, msgBindFailed, slog.String("addr", a.String()), slog.String("err", Strerror(unwrapSyscall(err))))
			continue
		}
		return fail(&cError{fmt.Sprintf("failed to bind on ipaddr %s: %s", a, Strerror(unwrapSyscall(err))), ErrBind})
	}
	if len(ls) == 0 {
		return nil, errors.New("unable to bind any address")
	}
	return ls, nil
}

// ListenConfig makes listeners of the C epmd's kind, for Listen and for any
// other port the daemon listens on (the hold_ports fault):
//   - plain TCP: Go makes listeners Multipath TCP by default where the
//     kernel has it, and a client that asks for MPTCP would then get it
//     from chaos-epmd and not from the C epmd;
//   - no TCP keep-alive on accepted connections, as the C epmd sets none:
//     Go's default would add four setsockopt calls to every request and
//     probes on idle registration connections.
func ListenConfig() net.ListenConfig {
	lc := net.ListenConfig{KeepAlive: -1}
	lc.SetMultipathTCP(false)
	return lc
}

// unwrapSyscall reduces a net.OpError to its errno, whose text is the C
// strerror text.
func unwrapSyscall(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// ListenAndServe listens as Listen does on s.Address and s.Port (4369 when
// 0) and serves every listener until Shutdown, Close or KILL_REQ.
func (s *Server) ListenAndServe() error {
	port := s.Port
	if port == 0 {
		port = DefaultPort
	}
	s.init()
	ls, err := Listen(context.Background(), s.Address, port, s.log)
	if err != nil {
		return err
	}
	return s.ServeAll(ls)
}

// ServeAll serves every listener in ls (as Serve) and returns when all
// have stopped, with the first error.
func (s *Server) ServeAll(ls []net.Listener) error {
	errs := make(chan error, len(ls))
	for _, l := range ls {
		go func() { errs <- s.Serve(l) }()
	}
	var first error
	for range ls {
		err := <-errs
		if first == nil {
			first = err
		}
		if !errors.Is(err, ErrServerClosed) && !errors.Is(err, ErrServerKilled) {
			_ = s.Close()
		}
	}
	return first
}

// cError is an error whose text is the C epmd's message and which wraps a
// sentinel for callers to test.
type cError struct {
	text string
	err  error
}

func (e *cError) Error() string { return e.text }
func (e *cError) Unwrap() error { return e.err }
