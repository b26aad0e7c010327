package erlangfixtures

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// WithProbe makes [App.Eval] use p, a node with distribution on the app's
// network and with its cookie, instead of starting a probe of its own:
// apps of one network can share one probe.
func WithProbe(p *Node) Option {
	return func(o *options) error { o.pod.probe = p; return nil }
}

// ProbeTimeout bounds one erpc:call of [App.Eval].
const ProbeTimeout = 15 * time.Second

// Probe returns the app's probe: a hidden node of the fixtures' own image
// (agent inside) on the app's network, with the app's cookie and name
// domain, started on first use (distribution at boot, its own C epmd). It reaches
// the app over distribution the way any peer does: PORT_PLEASE2 to the
// app's pod epmd, then the handshake. The App terminates the probe it
// started.
func (a *App) Probe(ctx context.Context) (*Node, error) {
	a.probeMu.Lock()
	defer a.probeMu.Unlock()
	if a.opts.pod.probe != nil {
		return a.opts.pod.probe, nil
	}
	if a.probe != nil {
		return a.probe, nil
	}
	if len(a.opts.networks) == 0 {
		return nil, fmt.Errorf("probe of %s: the app has no network (WithNetwork)", a.describe())
	}
	host := "probe-" + a.hostname
	opts := []Option{WithNetwork(a.opts.networks[0].name, host), WithHostname(host),
		WithCookie(a.opts.cookie), WithDistAtBoot(), WithHidden(), WithLogger(a.log)}
	if a.opts.longNames {
		opts = append(opts, WithName("probe"))
	} else {
		opts = append(opts, WithSName("probe"))
	}
	p, err := Run(ctx, opts...)
	if p != nil {
		a.probe, a.ownsPr = p, true
	}
	if err != nil {
		return p, fmt.Errorf("probe of %s: %w", a.describe(), err)
	}
	return p, nil
}

// Eval evaluates Erlang expressions on the app's node from the probe, over
// distribution: the probe parses them and runs erpc:call(App, erl_eval,
// exprs, ...), so the app needs nothing but distribution and the same
// cookie. The value comes back printed as a term on one line; an exception
// (also erpc's own, e.g. {erpc,noconnection}) is an [*EvalError].
func (a *App) Eval(ctx context.Context, expr string) (string, error) {
	p, err := a.Probe(ctx)
	if err != nil {
		return "", err
	}
	e := strings.TrimSpace(expr)
	if !strings.HasSuffix(e, ".") {
		e += "."
	}
	return p.Eval(ctx, fmt.Sprintf(`begin
	{ok, Ts, _} = erl_scan:string(%s),
	{ok, Es} = erl_parse:parse_exprs(Ts),
	{value, V, _} = erpc:call(%s, erl_eval, exprs, [Es, []], %d),
	V
end`, ErlString(e), Atom(a.name), ProbeTimeout.Milliseconds()))
}

// ErlString quotes s as an Erlang string literal: "..." with backslashes,
// double quotes and control characters escaped.
func ErlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '\\' || r == '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20:
			fmt.Fprintf(&b, `\x{%x}`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
