package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// Phase names, as given to -phases and printed in the report.
const (
	phaseRegister   = "register"
	phasePortPlease = "port_please"
	phaseNames      = "names"
	phaseChurn      = "churn"
)

// job is one phase's share of work for one worker process.
type job struct {
	Op      string    `json:"op"`   // a phase, or "release"
	Addr    string    `json:"addr"` // the epmd, host:port
	Clients int       `json:"clients"`
	Count   int       `json:"count"` // requests for the whole worker
	Start   time.Time `json:"start"` // all workers begin at this instant
	// First and Nodes: this worker registers names Prefix+First ..
	// Prefix+First+Nodes-1 (register); PORT_PLEASE2 asks for random names
	// of Prefix+0 .. Prefix+Total-1; NAMES expects Total lines.
	Prefix string `json:"prefix"`
	First  int    `json:"first"`
	Nodes  int    `json:"nodes"`
	Total  int    `json:"total"`
	Seed   uint64 `json:"seed"`
}

// result is what a worker reports for a job.
type result struct {
	Lat      []int64       `json:"lat"` // nanoseconds per request
	Errors   int           `json:"errors"`
	FirstErr string        `json:"first_err,omitempty"`
	Elapsed  time.Duration `json:"elapsed"` // from Start to the last reply
}

// loader is a worker's state: the registrations it holds, per epmd, as
// file descriptors.
type loader struct {
	index int // worker number; picks the 127.x.y.z source addresses
	mu    sync.Mutex
	held  map[string][]int
}

func newLoader(index int) *loader {
	return &loader{index: index, held: make(map[string][]int)}
}

// sourceAddr is the loopback source address of a worker's client: spread
// over 127.0.0.0/8 so that neither ephemeral ports nor one address's
// connection table is the bound.
func (l *loader) sourceAddr(client int) [4]byte {
	return [4]byte{127, byte(1 + l.index), byte(client / 250), byte(1 + client%250)}
}

func (l *loader) run(j job) result {
	if j.Op == "release" {
		l.mu.Lock()
		conns := l.held[j.Addr]
		delete(l.held, j.Addr)
		l.mu.Unlock()
		for _, fd := range conns {
			_ = syscall.Close(fd)
		}
		return result{}
	}
	clients := max(j.Clients, 1)
	work := j.Count
	if j.Op == phaseRegister {
		work = j.Nodes
	}
	ap, err := netip.ParseAddrPort(j.Addr)
	if err != nil || !ap.Addr().Is4() {
		return result{Errors: 1, FirstErr: fmt.Sprintf("address %q: want IPv4 host:port", j.Addr)}
	}
	dst := &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	if d := time.Until(j.Start); d > 0 {
		time.Sleep(d) // a scheduled start shared by all workers
	}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		out result
	)
	for c := range clients {
		n := work / clients
		if c < work%clients {
			n++
		}
		from := j.First + c*(work/clients) + min(c, work%clients)
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &client{l: l, j: j, src: l.sourceAddr(c), dst: dst,
				rng: rand.New(rand.NewPCG(j.Seed, uint64(l.index)<<32|uint64(c)))}
			lat, errs, first := cl.loop(c, from, n)
			mu.Lock()
			out.Lat = append(out.Lat, lat...)
			out.Errors += errs
			if out.FirstErr == "" && first != nil {
				out.FirstErr = first.Error()
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	out.Elapsed = time.Since(j.Start)
	return out
}

// client is one sequential load client. It uses blocking system calls
// on raw sockets, as a C client would: no poller, no goroutine switches,
// so that it costs less CPU per request than the daemons it measures.
type client struct {
	l   *loader
	j   job
	src [4]byte
	dst *syscall.SockaddrInet4
	rng *rand.Rand
	buf []byte
}

func (cl *client) loop(c, from, n int) (lat []int64, errs int, first error) {
	lat = make([]int64, 0, n)
	cl.buf = make([]byte, 0, 64<<10)
	var frame []byte
	for i := range n {
		var err error
		t0 := time.Now()
		switch cl.j.Op {
		case phaseRegister:
			err = cl.register(cl.j.Prefix+strconv.Itoa(from+i), &frame)
		case phasePortPlease:
			err = cl.portPlease(cl.j.Prefix+strconv.Itoa(cl.rng.IntN(max(cl.j.Total, 1))), &frame)
		case phaseNames:
			err = cl.names()
		case phaseChurn:
			err = cl.churn(fmt.Sprintf("churn%d_%d_%d", cl.l.index, c, i), &frame)
		default:
			err = fmt.Errorf("unknown op %q", cl.j.Op)
		}
		if err != nil {
			errs++
			if first == nil {
				first = err
			}
			continue
		}
		lat = append(lat, int64(time.Since(t0)))
	}
	return lat, errs, first
}

// dial opens a blocking TCP connection from the client's source address.
func (cl *client) dial() (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	// Choose the source port at connect, per destination.
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_IP, 24 /* IP_BIND_ADDRESS_NO_PORT */, 1)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: cl.src}); err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("bind: %w", err)
	}
	if err := syscall.Connect(fd, cl.dst); err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("connect: %w", err)
	}
	tv := syscall.NsecToTimeval(int64(10 * time.Second))
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	return fd, nil
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		b = b[n:]
	}
	return nil
}

// read reads into b, retrying interrupted calls; 0 is EOF.
func read(fd int, b []byte) (int, error) {
	for {
		n, err := syscall.Read(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read: %w", err)
		}
		return n, nil
	}
}

// exchange dials, sends one framed request and reads the reply to EOF.
func (cl *client) exchange(m epmd.Message, frame *[]byte) ([]byte, error) {
	fd, err := cl.dial()
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	*frame = epmd.AppendFrame((*frame)[:0], m)
	if err := writeAll(fd, *frame); err != nil {
		return nil, err
	}
	b := cl.buf[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := read(fd, b[len(b):cap(b)])
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		b = b[:len(b)+n]
	}
	cl.buf = b
	return b, nil
}

func (cl *client) portPlease(name string, frame *[]byte) error {
	b, err := cl.exchange(&epmd.PortPlease2Req{Name: name}, frame)
	if err != nil {
		return err
	}
	if len(b) < 14 || b[0] != epmd.CodePort2Resp || b[1] != 0 {
		return fmt.Errorf("PORT2_RESP for %q: % x", name, b[:min(len(b), 8)])
	}
	return nil
}

func (cl *client) names() error {
	b, err := cl.exchange(&epmd.NamesReq{}, new([]byte))
	if err != nil {
		return err
	}
	if len(b) < 4 {
		return fmt.Errorf("NAMES reply of %d bytes", len(b))
	}
	if n := bytes.Count(b[4:], []byte{'\n'}); n != cl.j.Total {
		return fmt.Errorf("NAMES listed %d nodes, want %d", n, cl.j.Total)
	}
	return nil
}

// alive2 registers name on a new connection and returns it open.
func (cl *client) alive2(name string, frame *[]byte) (int, error) {
	fd, err := cl.dial()
	if err != nil {
		return -1, err
	}
	*frame = epmd.AppendFrame((*frame)[:0], &epmd.Alive2Req{
		PortNo: 40000, NodeType: 77, HighVsn: 6, LowVsn: 6, Name: name})
	if err := writeAll(fd, *frame); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	// ALIVE2_X_RESP is 6 bytes; a daemon that answers with the older
	// ALIVE2_RESP (as ergo's does, whatever the version asked) sends 4.
	var reply [6]byte
	want := 4
	for got := 0; got < want; {
		n, err := read(fd, reply[got:want])
		if err == nil && n == 0 {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			syscall.Close(fd)
			return -1, fmt.Errorf("ALIVE2 %q: %w", name, err)
		}
		got += n
		if reply[0] == epmd.CodeAlive2XResp {
			want = len(reply)
		}
	}
	if (reply[0] != epmd.CodeAlive2XResp && reply[0] != epmd.CodeAlive2Resp) || reply[1] != 0 {
		syscall.Close(fd)
		return -1, fmt.Errorf("ALIVE2 %q refused: % x", name, reply[:want])
	}
	return fd, nil
}

func (cl *client) register(name string, frame *[]byte) error {
	fd, err := cl.alive2(name, frame)
	if err != nil {
		return err
	}
	cl.l.mu.Lock()
	cl.l.held[cl.j.Addr] = append(cl.l.held[cl.j.Addr], fd)
	cl.l.mu.Unlock()
	return nil
}

// churn is one register/unregister cycle: ALIVE2, its reply, close.
func (cl *client) churn(name string, frame *[]byte) error {
	fd, err := cl.alive2(name, frame)
	if err != nil {
		return err
	}
	return syscall.Close(fd)
}

// readNames asks addr for NAMES and returns how many nodes it lists.
func readNames(addr string) (int, error) {
	conn, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write(epmd.AppendFrame(nil, &epmd.NamesReq{})); err != nil {
		return 0, err
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		return 0, err
	}
	if len(b) < 4 {
		return 0, fmt.Errorf("NAMES reply of %d bytes", len(b))
	}
	return bytes.Count(b[4:], []byte{'\n'}), nil
}
