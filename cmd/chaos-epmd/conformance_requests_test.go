package main_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ---------------------------------------------------------------------------
// Requests

func u16(v int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// frame prefixes a body with its 16-bit length.
func frame(body ...[]byte) []byte {
	b := cat(body...)
	return cat(u16(len(b)), b)
}

// alive2 is an ALIVE2_REQ. A zero port is sent as 4711 and a zero node
// type as 77 (what epmd_SUITE sends); a zero LowVsn as min(HighVsn, 5).
// Ports are truncated to 16 bits, so 65536 sends port 0.
type alive2 struct {
	port         int
	ntype, proto byte
	hi, lo       int
	name, extra  string
}

func (a alive2) body() []byte {
	if a.port == 0 {
		a.port = 4711
	}
	if a.ntype == 0 {
		a.ntype = 77
	}
	if a.lo == 0 {
		a.lo = min(a.hi, 5)
	}
	return cat([]byte{'x'}, u16(a.port), []byte{a.ntype, a.proto}, u16(a.hi), u16(a.lo),
		u16(len(a.name)), []byte(a.name), u16(len(a.extra)), []byte(a.extra))
}

func (a alive2) frame() []byte { return frame(a.body()) }

// register sends an ALIVE2_REQ on a new connection and records the reply
// (with the creation as a relation) and whether the connection stays open.
func (s *session) register(tag string, a alive2) *conn {
	c := s.dial(tag)
	s.alive2On(c, a.name, a.frame())
	return c
}

// alive2On sends an ALIVE2_REQ frame for name on c and records the reply
// and whether c stays open.
func (s *session) alive2On(c *conn, name string, frame []byte) {
	t0 := clockBefore()
	c.send(frame)
	r := c.read(replyTimeout, openWindow)
	s.recordAlive2(c, name, r, t0, clockAfter())
}

// clockSlack covers the lag of glibc's time(), which reads a coarse clock
// (a few ms behind time.Now()).
const clockSlack = 100 * time.Millisecond

func clockBefore() int64 { return time.Now().Add(-clockSlack).Unix() }
func clockAfter() int64  { return time.Now().Add(clockSlack).Unix() }

func (s *session) recordAlive2(c *conn, name string, r readResult, t0, t1 int64) {
	d := r.data()
	switch {
	case len(d) == 6 && d[0] == 'v' && d[1] == 0:
		s.printf("%s: recv v result=0 creation=%s", c.tag, s.cr.label(name, true, binary.BigEndian.Uint32(d[2:]), t0, t1))
	case len(d) == 4 && d[0] == 'y' && d[1] == 0:
		s.printf("%s: recv y result=0 creation=%s", c.tag, s.cr.label(name, false, uint32(binary.BigEndian.Uint16(d[2:])), t0, t1))
	case len(d) > 0:
		s.printf("%s: recv %s", c.tag, s.quote(d))
	}
	s.printf("%s: %s", c.tag, r.end)
}

func port2(name string) []byte { return frame([]byte{'z'}, []byte(name)) }

var (
	namesReq = frame([]byte{'n'})
	dumpReq  = frame([]byte{'d'})
	killReq  = frame([]byte{'k'})
)

func stopReq(name string) []byte { return frame([]byte{'s'}, []byte(name)) }

// waitUnregistered polls PORT2 until name is unknown (`w 01`).
func (s *session) waitUnregistered(name string) {
	deadline := time.Now().Add(pollTimeout)
	for time.Now().Before(deadline) {
		if s.port2Reply(name) == "w\x01" {
			s.printf("%q: unregistered", name)
			return
		}
		pause(pollInterval)
	}
	s.printf("%q: still registered after %v", name, pollTimeout)
}

// lookup records the PORT2 answer for name.
func (s *session) lookup(name string) {
	s.request("port2 "+strconv.Quote(name), port2(name))
}

// port2Reply is the raw PORT2 answer for name, not recorded.
func (s *session) port2Reply(name string) string {
	nc, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.srv.port), replyTimeout)
	if err != nil {
		return "dial: " + errClass(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(replyTimeout))
	nc.Write(port2(name))
	b, _ := io.ReadAll(nc)
	return string(b)
}

// names is the raw NAMES answer, not recorded.
func (s *session) names() []byte { return s.namesWithin(replyTimeout) }

func (s *session) namesWithin(d time.Duration) []byte {
	nc, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.srv.port), d)
	if err != nil {
		return nil
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(d))
	nc.Write(namesReq)
	b, _ := io.ReadAll(nc)
	return b
}

// waitNamesCount polls NAMES until it lists n nodes.
func (s *session) waitNamesCount(n int) {
	deadline := time.Now().Add(pollTimeout)
	got := -1
	for time.Now().Before(deadline) {
		if b := s.names(); len(b) >= 4 {
			if got = bytes.Count(b[4:], []byte("\n")); got == n {
				s.printf("names lists %d nodes", n)
				return
			}
		}
		pause(pollInterval)
	}
	s.printf("names lists %d nodes, not %d, after %v", got, n, pollTimeout)
}

// serverState records whether the server process has exited.
func (s *session) serverState(d time.Duration) {
	s.printf("server: %s", s.srv.waitExit(d))
}

// ---------------------------------------------------------------------------
// Command line

// cli runs the implementation's binary with args (the token PORT is the
// session's port) and records exit status, stdout and stderr.
func (s *session) cli(env []string, args ...string) {
	s.printf("%s", s.runCLI(env, args...))
}

// expand replaces the tokens {PORT+65536} and {PORT} with the session's port.
func (s *session) expand(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		w = strings.ReplaceAll(w, "{PORT+65536}", strconv.Itoa(s.srv.port+65536))
		out[i] = strings.ReplaceAll(w, "{PORT}", strconv.Itoa(s.srv.port))
	}
	return out
}

func (s *session) runCLI(env []string, args ...string) string {
	argv, xenv := s.expand(args), s.expand(env)
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.srv.impl.path, argv...)
	cmd.Env = epmdEnv(xenv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	status := "exit=0"
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		status = fmt.Sprintf("still running after %v (killed)", cliTimeout)
	case errors.As(err, &ee):
		status = fmt.Sprintf("exit=%d", ee.ExitCode())
	case errors.Is(err, exec.ErrWaitDelay):
		status = "exit=0 but stdout/stderr held open by a child"
	case err != nil:
		status = "error: " + err.Error()
	}
	shown := strings.Join(args, " ")
	if len(shown) > 80 {
		shown = shown[:80] + "..."
	}
	return fmt.Sprintf("cli %s %s: %s stdout=%s stderr=%s", strings.Join(env, " "), shown, status,
		strconv.Quote(s.norm(stdout.String())), strconv.Quote(s.norm(stderr.String())))
}

// registerMany registers prefix0..prefixN-1 (v6), records how many were
// accepted and how the others ended, and returns the connections.
func registerMany(s *session, prefix string, n int) []*conn {
	var conns []*conn
	ok, other := 0, map[string]int{}
	for i := range n {
		nc, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.srv.port), replyTimeout)
		if err != nil {
			other["dial: "+errClass(err)]++
			continue
		}
		c := &conn{s: s, tag: "many", nc: nc}
		conns = append(conns, c)
		c.send(alive2{name: fmt.Sprintf("%s%d", prefix, i), hi: 6}.frame())
		nc.SetReadDeadline(time.Now().Add(replyTimeout))
		buf := make([]byte, 6)
		if _, err := io.ReadFull(nc, buf); err != nil {
			// EOF or reset: accept-then-close; which one is timing.
			other["closed without reply"]++
			continue
		}
		if buf[0] == 'v' && buf[1] == 0 {
			ok++
		} else {
			other[fmt.Sprintf("reply %q", buf[:2])]++
		}
	}
	keys := make([]string, 0, len(other))
	for k := range other {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, ", %s: %d", k, other[k])
	}
	s.printf("registered %d of %d%s", ok, n, sb.String())
	return conns
}
