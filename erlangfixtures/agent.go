package erlangfixtures

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// The agent's wire protocol (chaos_agent.erl has the full contract); the
// fixture makes one exchange per connection:
//
//	request  Len:32 Mode:8 Expr     Mode 'p': the value printed as a term,
//	                                Mode 's': the value as chardata
//	reply    Len:32 'o' Text        the value
//	         Len:32 'e' Class \n Reason   an exception, or Class "parse"
//
// Len counts the bytes after it, big-endian.
const (
	evalTerm   byte = 'p'
	evalString byte = 's'
	replyOK    byte = 'o'
	replyError byte = 'e'
)

// EvalError is an expression's exception (or a parse error) on the node.
type EvalError struct {
	Expr   string
	Class  string // error, exit, throw; "parse" when it did not scan or parse
	Reason string // the reason, printed as an Erlang term on one line
}

func (e *EvalError) Error() string {
	return fmt.Sprintf("eval %s: %s:%s", e.Expr, e.Class, e.Reason)
}

// ResultError is an expression that returned an error value (e.g.
// {error,Reason} from net_kernel:start/2) where a helper expected success.
type ResultError struct {
	Expr string
	Term string // the value, printed as an Erlang term on one line
}

func (e *ResultError) Error() string { return fmt.Sprintf("eval %s: returned %s", e.Expr, e.Term) }

// Eval evaluates Erlang expressions (a trailing '.' is optional) on the node
// and returns the value printed as a term on one line, e.g. "{ok,<0.87.0>}".
// An exception gives an [*EvalError] with OTP's exact reason. Eval works with
// no epmd and no distribution.
func (n *Node) Eval(ctx context.Context, expr string) (string, error) {
	return n.eval(ctx, evalTerm, expr)
}

// EvalString evaluates expressions whose value is chardata (a string, binary or
// iolist) and returns it as is; other values come back printed as terms.
func (n *Node) EvalString(ctx context.Context, expr string) (string, error) {
	return n.eval(ctx, evalString, expr)
}

func (n *Node) eval(ctx context.Context, mode byte, expr string) (string, error) {
	e := strings.TrimSpace(expr)
	if !strings.HasSuffix(e, ".") {
		e += "."
	}
	if n.agent == "" {
		return "", fmt.Errorf("eval %s: node has no agent", expr)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", n.agent)
	if err != nil {
		return "", fmt.Errorf("eval %s: %w", expr, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	req := make([]byte, 5, 5+len(e))
	binary.BigEndian.PutUint32(req, uint32(1+len(e)))
	req[4] = mode
	if _, err := conn.Write(append(req, e...)); err != nil {
		return "", fmt.Errorf("eval %s: %w", expr, ctxErr(ctx, err))
	}
	var hdr [4]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return "", fmt.Errorf("eval %s: read reply: %w", expr, ctxErr(ctx, err))
	}
	reply := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(conn, reply); err != nil {
		return "", fmt.Errorf("eval %s: read reply: %w", expr, ctxErr(ctx, err))
	}
	if len(reply) == 0 {
		return "", fmt.Errorf("eval %s: empty reply", expr)
	}
	switch reply[0] {
	case replyOK:
		return string(reply[1:]), nil
	case replyError:
		class, reason, _ := strings.Cut(string(reply[1:]), "\n")
		return "", &EvalError{Expr: expr, Class: class, Reason: reason}
	}
	return "", fmt.Errorf("eval %s: bad reply %q", expr, reply)
}

// ctxErr prefers the context's error to the I/O error its deadline caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
