package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// Bounds of -takeover.
const (
	// takeoverNamesTimeout bounds the NAMES request that checks the port
	// holder is an epmd.
	takeoverNamesTimeout = 2 * time.Second
	// takeoverTermWait is how long the port may stay taken after SIGTERM
	// before the holder gets SIGKILL; takeoverKillWait, after SIGKILL.
	takeoverTermWait = 5 * time.Second
	takeoverKillWait = 2 * time.Second
	// takeoverReturnWait is how long the nodes registered with the old
	// epmd have to register again with chaos-epmd (OTP 24 and later do so
	// within about 2 s) before each missing one is logged.
	takeoverReturnWait = 10 * time.Second
	// registryPoll is the interval at which the node table is read to
	// see nodes come back.
	registryPoll = 50 * time.Millisecond
	// bindRetry is the interval between attempts to bind the port.
	bindRetry = 10 * time.Millisecond
)

// errTakeover is wrapped by every refusal of -takeover.
var errTakeover = errors.New("-takeover")

// epmdProcess is the epmd found on the port by -takeover: what -handback
// restarts.
type epmdProcess struct {
	PID  int
	Exe  string   // /proc/PID/exe
	Args []string // /proc/PID/cmdline, argv[0] included
	// Env is /proc/PID/environ without the variables that only meant
	// something to that process (a -daemon child's pipe, systemd's
	// sockets); nil when it could not be read.
	Env []string
	// Nodes are the names the epmd answered to NAMES, newest first.
	Nodes []string
}

// String shows the process as ps would: pid and command line.
func (p *epmdProcess) String() string {
	return fmt.Sprintf("pid %d (%s)", p.PID, commandLine(p.Args, p.Exe))
}

// commandLine shows argv on one line, as ps does, with each argument
// holding white space, a quote or a control character in Go quotes
// (erl's -eval expressions span lines).
func commandLine(args []string, exe string) string {
	if len(args) == 0 {
		if exe == "" {
			return "?"
		}
		return exe
	}
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = a
		if a == "" || strings.ContainsFunc(a, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == '"' || r == '\'' }) {
			quoted[i] = strconv.Quote(a)
		}
	}
	return strings.Join(quoted, " ")
}

// procFS reads and signals processes: the real /proc and kill(2) in the
// program, a fake tree in tests.
type procFS struct {
	Root   string                                  // "/proc"
	Signal func(pid int, sig syscall.Signal) error // syscall.Kill
}

var realProc = procFS{Root: "/proc", Signal: syscall.Kill}

// listeningInodes returns the inodes of the listening TCP sockets (IPv4
// and IPv6) on port in this network namespace.
func (fs procFS) listeningInodes(port int) ([]uint64, error) {
	want := fmt.Sprintf(":%04X", port)
	var inodes []uint64
	for _, name := range []string{"net/tcp", "net/tcp6"} {
		b, err := os.ReadFile(filepath.Join(fs.Root, name))
		if errors.Is(err, os.ErrNotExist) {
			continue // no IPv6 in this kernel
		}
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Scan() // header
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			f := strings.Fields(sc.Text())
			if len(f) < 10 || f[3] != "0A" || !strings.HasSuffix(f[1], want) {
				continue
			}
			ino, err := strconv.ParseUint(f[9], 10, 64)
			if err == nil && ino != 0 && !slices.Contains(inodes, ino) {
				inodes = append(inodes, ino)
			}
		}
	}
	return inodes, nil
}

// socketHolders returns the pids, in increasing order, of the processes
// with a descriptor on one of the socket inodes. Processes whose
// descriptors cannot be read (another user's, without privileges) are not
// seen.
func (fs procFS) socketHolders(inodes []uint64) []int {
	links := make(map[string]bool, len(inodes))
	for _, ino := range inodes {
		links[fmt.Sprintf("socket:[%d]", ino)] = true
	}
	dirs, _ := os.ReadDir(fs.Root)
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid <= 0 {
			continue
		}
		fdDir := filepath.Join(fs.Root, d.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && links[l] {
				pids = append(pids, pid)
				break
			}
		}
	}
	slices.Sort(pids)
	return pids
}

// process reads what /proc tells of pid: executable, argv, environment.
func (fs procFS) process(pid int) *epmdProcess {
	dir := filepath.Join(fs.Root, strconv.Itoa(pid))
	p := &epmdProcess{PID: pid}
	p.Exe, _ = os.Readlink(filepath.Join(dir, "exe"))
	if b, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil && len(b) > 0 {
		p.Args = strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "environ")); err == nil {
		p.Env = []string{}
		for _, kv := range strings.Split(string(b), "\x00") {
			if kv != "" && !privateEnv(kv) {
				p.Env = append(p.Env, kv)
			}
		}
	}
	return p
}

// privateEnv reports whether a variable of the recorded environment
// belonged to that one process and must not reach its restart.
func privateEnv(kv string) bool {
	name, _, _ := strings.Cut(kv, "=")
	switch name {
	case envDaemonChild, "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NOTIFY_SOCKET":
		return true
	}
	return false
}

// portHolder finds the one process listening on port. It returns nil and
// no error when nothing listens there.
func (fs procFS) portHolder(port int) (*epmdProcess, error) {
	inodes, err := fs.listeningInodes(port)
	if err != nil {
		return nil, fmt.Errorf("%w: read the listening sockets: %v", errTakeover, err)
	}
	if len(inodes) == 0 {
		return nil, nil
	}
	pids := fs.socketHolders(inodes)
	switch len(pids) {
	case 0:
		return nil, fmt.Errorf("%w: port %d is held by a process not visible here (another user's); run chaos-epmd as that user or as root", errTakeover, port)
	case 1:
		return fs.process(pids[0]), nil
	}
	holders := make([]string, len(pids))
	for i, pid := range pids {
		holders[i] = fs.process(pid).String()
	}
	hint := ""
	if pids[0] == 1 {
		hint = " (pid 1 holding it: socket activation? stop epmd.socket and epmd.service, or use the drop-in in chaos-epmd's deploy folder)"
	}
	return nil, fmt.Errorf("%w: port %d is held by several processes: %s; not taking over%s", errTakeover, port, strings.Join(holders, ", "), hint)
}

// takeover is a running -takeover: the epmd it replaced and the names to
// see again.
type takeover struct {
	orig  *epmdProcess // nil when no process listened on the port
	bound time.Time    // when chaos-epmd held the port
	// last is the set of names registered at the last look at the node
	// table before the server closed: the nodes -handback waits for.
	last chan []string
}

// takeOver replaces the epmd listening on c.port: it checks that it is an
// epmd (it answers NAMES with its port), records it, stops it with
// SIGTERM (SIGKILL after takeoverTermWait) and binds the port as soon as
// it is free. It refuses, before signalling anything, a holder that is
// not an epmd, that cannot be signalled, or that shares the port with
// other processes.
func takeOver(ctx context.Context, fs procFS, c *config, logger *slog.Logger) (*takeover, []net.Listener, error) {
	port := c.port & 0xffff
	orig, err := fs.portHolder(port)
	if err != nil {
		return nil, nil, err
	}
	t := &takeover{orig: orig, last: make(chan []string, 1)}
	if orig == nil {
		logger.LogAttrs(ctx, epmd.LevelAlways, "takeover: nothing listens on the port", slog.Int("port", port))
		ls, err := epmd.Listen(ctx, c.address, c.port, logger)
		t.bound = time.Now()
		return t, ls, err
	}
	if orig.PID == os.Getpid() {
		return nil, nil, fmt.Errorf("%w: port %d is held by this process", errTakeover, port)
	}
	if slices.Contains(orig.Args, "-systemd") {
		return nil, nil, fmt.Errorf("%w: %s was started by systemd with its sockets; stop epmd.socket and epmd.service, or use the drop-in in chaos-epmd's deploy folder", errTakeover, orig)
	}
	names, why := askNames(ctx, port, c.port)
	if why != "" {
		return nil, nil, fmt.Errorf("%w: port %d is held by %s, which does not answer NAMES as an epmd (%s); not taking over", errTakeover, port, orig, why)
	}
	orig.Nodes = names
	if err := fs.Signal(orig.PID, 0); err != nil {
		return nil, nil, fmt.Errorf("%w: cannot signal %s: %v; run chaos-epmd as its user or as root", errTakeover, orig, epmd.Strerror(err))
	}
	logger.LogAttrs(ctx, epmd.LevelAlways, "takeover: stopping epmd",
		slog.Int("pid", orig.PID), slog.String("exe", orig.Exe), slog.String("args", commandLine(orig.Args, orig.Exe)),
		slog.String("nodes", strings.Join(orig.Nodes, ",")))
	ls, err := stopAndBind(ctx, fs, orig, c, logger)
	if err != nil {
		return nil, nil, err
	}
	t.bound = time.Now()
	logger.LogAttrs(ctx, epmd.LevelAlways, "takeover: listening", slog.Int("port", port), slog.Int("pid", os.Getpid()))
	return t, ls, nil
}

// askNames sends NAMES to the local port and returns the names in the
// reply, or why the reply is not an epmd's: it must start with the port
// (reported as given, untruncated, by epmd -port) and list names.
func askNames(ctx context.Context, port, reported int) ([]string, string) {
	cl := &epmd.Client{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Timeout: takeoverNamesTimeout}
	b, err := cl.Request(ctx, &epmd.NamesReq{})
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout() && len(b) == 0:
		return nil, fmt.Sprintf("no reply within %v", takeoverNamesTimeout)
	case err != nil && len(b) == 0:
		return nil, "error: " + epmd.Strerror(err)
	case len(b) == 0:
		return nil, "it closed the connection without a reply"
	}
	if len(b) < 4 || int32(binary.BigEndian.Uint32(b)) != int32(reported) {
		return nil, fmt.Sprintf("it replied %q", b[:min(len(b), 16)])
	}
	entries, err := epmd.ParseNames(b[4:])
	if err != nil {
		return nil, fmt.Sprintf("it replied %q", b[:min(len(b), 16)])
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name
	}
	return names, ""
}

// stopAndBind sends SIGTERM to the process and binds the port as soon as
// it is free; SIGKILL follows when the port is still taken after
// takeoverTermWait.
func stopAndBind(ctx context.Context, fs procFS, p *epmdProcess, c *config, logger *slog.Logger) ([]net.Listener, error) {
	for _, step := range []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{syscall.SIGTERM, takeoverTermWait}, {syscall.SIGKILL, takeoverKillWait}} {
		if step.sig == syscall.SIGKILL {
			logger.LogAttrs(ctx, epmd.LevelAlways, "takeover: port still taken after SIGTERM; sending SIGKILL",
				slog.Int("pid", p.PID), slog.Duration("waited", takeoverTermWait))
		}
		if err := fs.Signal(p.PID, step.sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return nil, fmt.Errorf("%w: signal %s: %v", errTakeover, p, epmd.Strerror(err))
		}
		ls, err := bindWithin(ctx, c, step.wait)
		if !errors.Is(err, epmd.ErrAddrInUse) {
			return ls, err
		}
	}
	return nil, fmt.Errorf("%w: port %d still taken %v after SIGKILL to %s", errTakeover, c.port&0xffff, takeoverKillWait, p)
}

// bindWithin retries binding the port until it succeeds, fails otherwise
// than with the port in use, or d has passed.
func bindWithin(ctx context.Context, c *config, d time.Duration) ([]net.Listener, error) {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(bindRetry)
	defer tick.Stop()
	for {
		// The loopback bind failures are logged by Listen; not while retrying.
		ls, err := epmd.Listen(ctx, c.address, c.port, nil)
		if !errors.Is(err, epmd.ErrAddrInUse) || time.Now().After(deadline) {
			return ls, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// watch logs, per node registered with the replaced epmd, when it
// registered again with srv, and after takeoverReturnWait each that did
// not; until srv closes it keeps the set of registered names for
// -handback.
func (t *takeover) watch(srv *epmd.Server, logger *slog.Logger) {
	ctx := context.Background()
	var waiting []string
	if t.orig != nil {
		waiting = slices.Clone(t.orig.Nodes)
	}
	giveUp := time.NewTimer(time.Until(t.bound.Add(takeoverReturnWait)))
	defer giveUp.Stop()
	tick := time.NewTicker(registryPoll)
	defer tick.Stop()
	var last []string
	defer func() { t.last <- last }()
	for {
		names := registeredNames(srv)
		select {
		case <-srv.Done():
			return // the table is being emptied: keep the set seen before
		default:
		}
		last = names
		waiting = slices.DeleteFunc(waiting, func(n string) bool {
			if !slices.Contains(names, n) {
				return false
			}
			logger.LogAttrs(ctx, epmd.LevelAlways, "takeover: node registered again",
				slog.String("node", n), slog.Duration("after", time.Since(t.bound).Round(10*time.Millisecond)))
			return true
		})
		select {
		case <-srv.Done():
			return
		case <-giveUp.C:
			for _, n := range waiting {
				logger.LogAttrs(ctx, epmd.LevelAlways, "takeover: node did not register again (OTP before 24 does not; it stays reachable only over connections already open)",
					slog.String("node", n), slog.Duration("waited", takeoverReturnWait))
			}
			waiting = nil
		case <-tick.C:
		}
	}
}

// registeredNames lists the names in the server's node table.
func registeredNames(srv *epmd.Server) []string {
	nodes := srv.NodeTable().Nodes(nil)
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
	}
	return names
}
