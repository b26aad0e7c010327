package erlangfixtures

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
)

// TTY is a command running on a pseudo-terminal in a container, as
// docker exec -it runs it for a user at a shell: what is written is typed,
// and the terminal's output (stdout and stderr as one stream, with the
// terminal's \r\n) is collected as it comes.
type TTY struct {
	cli  *client.Client
	id   string // the exec's
	conn client.HijackedResponse
	who  string

	mu   sync.Mutex
	out  strings.Builder
	done chan struct{} // closed when the output ends
}

// ttySize is the terminal's size: a common 24 x 80 console.
var ttySize = client.ConsoleSize{Height: 24, Width: 80}

// ExecTTY starts cmd in the application's container on a pseudo-terminal
// of 24 rows and 80 columns. The caller writes to it with [TTY.Write],
// reads it with [TTY.Output], and must [TTY.Close] it.
func (a *App) ExecTTY(ctx context.Context, cmd []string, env ...string) (*TTY, error) {
	what := fmt.Sprintf("exec on a terminal %s in %s", strings.Join(cmd, " "), a.describe())
	if a.ctr == nil {
		return nil, fmt.Errorf("%s: app has no container", what)
	}
	cli, err := dockerClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	ex, err := cli.ExecCreate(ctx, a.ctr.GetContainerID(), client.ExecCreateOptions{
		TTY: true, ConsoleSize: ttySize, AttachStdin: true, AttachStdout: true, AttachStderr: true, Env: env, Cmd: cmd})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	att, err := cli.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{TTY: true, ConsoleSize: ttySize})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	t := &TTY{cli: cli.Client, id: ex.ID, conn: att.HijackedResponse, who: a.describe(), done: make(chan struct{})}
	go t.read()
	return t, nil
}

// read collects the terminal's output until it ends.
func (t *TTY) read() {
	defer close(t.done)
	buf := make([]byte, 4096)
	for {
		n, err := t.conn.Reader.Read(buf)
		t.mu.Lock()
		t.out.Write(buf[:n])
		t.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// Write types s on the terminal.
func (t *TTY) Write(s string) error {
	if _, err := io.WriteString(t.conn.Conn, s); err != nil {
		return fmt.Errorf("write to the terminal in %s: %w", t.who, err)
	}
	return nil
}

// Output returns what the terminal showed so far.
func (t *TTY) Output() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.out.String()
}

// Done is closed when the terminal's output has ended: the command exited.
func (t *TTY) Done() <-chan struct{} { return t.done }

// Wait waits until the command has ended and returns its exit status.
func (t *TTY) Wait(ctx context.Context) (int, error) {
	select {
	case <-t.done:
	case <-ctx.Done():
		return -1, fmt.Errorf("wait for the terminal in %s: %w", t.who, ctx.Err())
	}
	for { // the output can end just before the engine records the exit
		ins, err := t.cli.ExecInspect(ctx, t.id, client.ExecInspectOptions{})
		if err != nil {
			return -1, fmt.Errorf("wait for the terminal in %s: %w", t.who, err)
		}
		if !ins.Running {
			return ins.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("wait for the terminal in %s: %w", t.who, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Close closes the terminal's connection; a command still running is left
// to the container's end.
func (t *TTY) Close() { t.conn.Close() }
