package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// Bounds of -handback.
const (
	// handbackStartWait bounds the restart of the recorded epmd: until it
	// answers NAMES on the port.
	handbackStartWait = 10 * time.Second
	// handbackReturnWait is how long the nodes have to register with the
	// restarted epmd before each missing one is logged.
	handbackReturnWait = 15 * time.Second
	// handbackPoll is the interval between NAMES requests to it.
	handbackPoll = 100 * time.Millisecond
	// watchEndWait bounds the wait for the takeover's last look at the
	// node table.
	watchEndWait = time.Second
)

// handBack restarts the epmd the takeover replaced, with its recorded
// executable, arguments and environment, once chaos-epmd's listeners are
// closed, and logs each node as it registers with it again. It returns the
// exit status: 1 when the epmd cannot be restarted.
func (t *takeover) handBack(fs procFS, c *config, logger *slog.Logger) int {
	ctx := context.Background()
	var waitFor []string
	select {
	case waitFor = <-t.last:
	case <-time.After(watchEndWait):
	}
	if t.orig == nil {
		logger.LogAttrs(ctx, epmd.LevelAlways, "handback: no epmd was taken over; nothing to restart")
		return 0
	}
	port := c.port & 0xffff
	cl := &epmd.Client{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Timeout: handbackPoll * 5}
	start := time.Now()
	if err := restartEpmd(ctx, fs, t.orig, port, cl); err != nil {
		logger.LogAttrs(ctx, epmd.LevelAlways, "handback: cannot restart the epmd taken over",
			slog.String("exe", t.orig.Exe), slog.String("args", commandLine(t.orig.Args, t.orig.Exe)), slog.Any("err", err))
		return 1
	}
	attrs := []slog.Attr{slog.String("exe", t.orig.Exe), slog.String("args", commandLine(t.orig.Args, t.orig.Exe))}
	if p, err := fs.portHolder(port); err == nil && p != nil {
		attrs = append(attrs, slog.Int("pid", p.PID))
	}
	attrs = append(attrs, slog.String("nodes", strings.Join(waitFor, ",")))
	logger.LogAttrs(ctx, epmd.LevelAlways, "handback: epmd restarted", attrs...)

	deadline := start.Add(handbackReturnWait)
	tick := time.NewTicker(handbackPoll)
	defer tick.Stop()
	for len(waitFor) > 0 {
		if _, names, err := cl.Names(ctx); err == nil {
			waitFor = slices.DeleteFunc(waitFor, func(n string) bool {
				if !slices.ContainsFunc(names, func(e epmd.NameEntry) bool { return e.Name == n }) {
					return false
				}
				logger.LogAttrs(ctx, epmd.LevelAlways, "handback: node registered again",
					slog.String("node", n), slog.Duration("after", time.Since(start).Round(10*time.Millisecond)))
				return true
			})
		}
		if len(waitFor) == 0 || time.Now().After(deadline) {
			break
		}
		<-tick.C
	}
	for _, n := range waitFor {
		logger.LogAttrs(ctx, epmd.LevelAlways, "handback: node did not register again",
			slog.String("node", n), slog.Duration("waited", handbackReturnWait))
	}
	return 0
}

// restartEpmd starts the recorded epmd again as a daemon, as erl does:
// with -daemon in its arguments it detaches itself and its first process
// must exit 0; without, it is started in a session of its own, its
// standard streams on /dev/null. It returns once the port answers NAMES
// and is held by the epmd it started (by its pid, or by its executable
// for a -daemon, whose serving process is a child), or with the reason it
// does not: another process can bind the port while it is free.
func restartEpmd(ctx context.Context, fs procFS, p *epmdProcess, port int, cl *epmd.Client) error {
	if p.Exe == "" || len(p.Args) == 0 {
		return errors.New("its executable or arguments were not readable at takeover")
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	exe := p.Exe
	// The kernel marks an executable removed or replaced since the start;
	// an upgrade puts the new one at the same path.
	if path, ok := strings.CutSuffix(exe, " (deleted)"); ok {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("its executable %s was removed after it started", path)
		}
		exe = path
	}
	cmd := exec.Command(exe, p.Args[1:]...)
	cmd.Args[0] = p.Args[0]
	cmd.Env = p.Env
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	daemon := slices.Contains(p.Args[1:], "-daemon")
	ours := func(h *epmdProcess) bool {
		return h.PID == cmd.Process.Pid || daemon && strings.TrimSuffix(h.Exe, " (deleted)") == exe
	}

	ctx, cancel := context.WithTimeout(ctx, handbackStartWait)
	defer cancel()
	tick := time.NewTicker(handbackPoll)
	defer tick.Stop()
	var other error // the port answers, but not from the epmd started
	for {
		select {
		case err := <-exited:
			if !daemon || err != nil {
				if other != nil {
					return fmt.Errorf("it exited (%v): %v", exitReason(err), other)
				}
				return fmt.Errorf("it exited before answering NAMES: %v", exitReason(err))
			}
			exited = nil // the detached child serves; the parent is done
		case <-ctx.Done():
			if other != nil {
				return other
			}
			return fmt.Errorf("no NAMES answer on the port within %v", handbackStartWait)
		case <-tick.C:
			if _, _, err := cl.Names(ctx); err != nil {
				continue
			}
			switch h, err := fs.portHolder(port); {
			case err != nil:
				other = err
			case h != nil && ours(h):
				return nil
			case h != nil:
				other = fmt.Errorf("port %d is held by %s, not by the epmd restarted", port, h)
			}
		}
	}
}

func exitReason(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
