package erlangfixtures

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Atom quotes s as an Erlang atom, for building expressions: 'a@host',
// with backslashes and single quotes escaped.
func Atom(s string) string {
	return "'" + atomEscaper.Replace(s) + "'"
}

var atomEscaper = strings.NewReplacer(`\`, `\\`, `'`, `\'`)

// StartDistribution starts distribution on the running node with
// net_kernel:start/2 under its name, as short or long name, hidden as
// configured. OTP's {error,Reason} comes back as a [*ResultError].
func (n *Node) StartDistribution(ctx context.Context) error {
	domain := "shortnames"
	if n.opts.longNames {
		domain = "longnames"
	}
	opts := "name_domain => " + domain
	if n.opts.hidden {
		opts += ", hidden => true"
	}
	expr := fmt.Sprintf("net_kernel:start(%s, #{%s})", Atom(n.name), opts)
	out, err := n.Eval(ctx, expr)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(out, "{ok,") {
		return &ResultError{Expr: expr, Term: out}
	}
	return nil
}

// ErrNoDistribution is returned by [Node.Ping] on a node whose distribution
// is not started, where net_adm:ping/1 would answer pang whatever the target.
var ErrNoDistribution = errors.New("distribution not started")

// Ping runs net_adm:ping/1 towards node and returns "pong" or "pang". On a
// node without distribution (node() is nonode@nohost) it returns an error
// wrapping [ErrNoDistribution] instead of that meaningless pang.
func (n *Node) Ping(ctx context.Context, node string) (string, error) {
	out, err := n.EvalString(ctx, fmt.Sprintf(
		"case node() of nonode@nohost -> \"nodist\"; _ -> atom_to_list(net_adm:ping(%s)) end", Atom(node)))
	if err == nil && out == "nodist" {
		return "", fmt.Errorf("ping %s from %s: %w (node() is nonode@nohost): start it with StartDistribution, WithDistAtBoot or RunCluster's Joined",
			node, n.name, ErrNoDistribution)
	}
	return out, err
}

// Nodes returns nodes() on the node, or nodes(Arg) for the given kinds
// ("visible", "hidden", "connected", "this", "known").
func (n *Node) Nodes(ctx context.Context, kinds ...string) ([]string, error) {
	call := "nodes()"
	if len(kinds) > 0 {
		atoms := make([]string, len(kinds))
		for i, k := range kinds {
			atoms[i] = Atom(k)
		}
		call = "nodes([" + strings.Join(atoms, ",") + "])"
	}
	out, err := n.EvalString(ctx, fmt.Sprintf(`lists:join("\n", [atom_to_list(N) || N <- lists:sort(%s)])`, call))
	if err != nil || out == "" {
		return nil, err
	}
	return strings.Split(out, "\n"), nil
}

// EpmdName is one line of an epmd NAMES reply.
type EpmdName struct {
	Name string
	Port int
}

// EpmdNames asks the node's local epmd for its registered names with
// erl_epmd:names/0, so the node's epmd port settings apply. OTP's
// {error,Reason} (e.g. {error,address} when no epmd answers) comes back as a
// [*ResultError].
func (n *Node) EpmdNames(ctx context.Context) ([]EpmdName, error) {
	expr := `case erl_epmd:names() of
	{ok, L} -> ["ok\n", [[Nm, " ", integer_to_list(P), "\n"] || {Nm, P} <- L]];
	Other -> ["error\n", io_lib:format("~1000000tp", [Other])]
end`
	out, err := n.EvalString(ctx, expr)
	if err != nil {
		return nil, err
	}
	status, rest, _ := strings.Cut(out, "\n")
	if status != "ok" {
		return nil, &ResultError{Expr: "erl_epmd:names()", Term: rest}
	}
	var names []EpmdName
	for line := range strings.Lines(rest) {
		name, port, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("erl_epmd:names(): bad line %q", line)
		}
		names = append(names, EpmdName{Name: name, Port: p})
	}
	return names, nil
}
