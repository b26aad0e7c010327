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
	if err := restartEpmd(ctx, t.orig, cl); err != nil {
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
// standard streams on /dev/null. It returns once the epmd answers NAMES on
// the port, or with the reason it does not.
func restartEpmd(ctx context.Context, p *epmdProcess, cl *epmd.Client) error {
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

	ctx, cancel := context.WithTimeout(ctx, handbackStartWait)
	defer cancel()
	tick := time.NewTicker(handbackPoll)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			if !daemon || err != nil {
				return fmt.Errorf("it exited before answering NAMES: %v", exitReason(err))
			}
			daemon = false // the detached child serves; the parent is done
			exited = nil
		case <-ctx.Done():
			return fmt.Errorf("no NAMES answer on the port within %v", handbackStartWait)
		case <-tick.C:
			if _, _, err := cl.Names(ctx); err == nil {
				return nil
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
