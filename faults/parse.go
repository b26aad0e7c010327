package faults

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// SpecError is a malformed fault spec: which part is wrong and what is
// valid there.
type SpecError struct {
	// Spec is the whole spec as given.
	Spec string
	// Key names the part at fault: "kind", the kind's argument
	// ("duration", "bytes", "mode", ...), or a key (req, node, p, ...).
	Key string
	// Msg says what is wrong and which values are valid.
	Msg string
}

// Error returns `fault "SPEC": KEY: MSG`; the command line prefixes it with
// "chaos-epmd: -".
func (e *SpecError) Error() string {
	return fmt.Sprintf("fault %q: %s: %s", e.Spec, e.Key, e.Msg)
}

// partError is a SpecError before the spec is known: its key and message,
// which Parse wraps with the spec. It has no Error method, so that a nil
// *partError cannot leave this package as a non-nil error.
type partError struct{ key, msg string }

func errf(key, format string, args ...any) *partError {
	return &partError{key: key, msg: fmt.Sprintf(format, args...)}
}

// Messages naming the valid values of common argument types.
const (
	wantDuration = "want seconds (5) or a Go duration (200ms)"
	wantGrammar  = "want KIND[=ARG][,KEY=VALUE]..."
)

// selectorKeys are the keys every kind accepts, in canonical order.
var selectorKeys = []string{"req", "node", "peer", "p", "first", "every", "after", "start", "for"}

// windowKeys are the selector keys of the time window, the only ones that
// apply to daemon-wide kinds.
var windowKeys = []string{"start", "for"}

// Parse reads one fault spec (see the package documentation). Errors are
// *SpecError.
func Parse(spec string) (Fault, error) {
	f, perr := parse(spec)
	if perr != nil {
		return Fault{}, &SpecError{Spec: spec, Key: perr.key, Msg: perr.msg}
	}
	return f, nil
}

// MustParse is Parse for specs known to be valid, as in tests; it panics
// on error.
func MustParse(spec string) Fault {
	f, err := Parse(spec)
	if err != nil {
		panic(err)
	}
	return f
}

func parse(spec string) (Fault, *partError) {
	s := strings.TrimSpace(spec)
	if s == "" {
		return Fault{}, errf("spec", "empty; %s", wantGrammar)
	}
	parts := strings.Split(s, ",")
	head := strings.TrimSpace(parts[0])
	name, arg, hasArg := strings.Cut(head, "=")
	info, ok := kindNamed(name)
	if !ok {
		if name == "" {
			return Fault{}, errf("kind", "missing before %q; %s", "="+arg, wantGrammar)
		}
		return Fault{}, errf("kind", "unknown fault %q; want %s", name, strings.Join(kindNames(), "|"))
	}
	switch {
	case info.arg == "" && hasArg:
		return Fault{}, errf(name, "takes no argument; want %s", info.syntax)
	case info.arg != "" && !hasArg:
		return Fault{}, errf(info.arg, "missing; want %s", info.syntax)
	case hasArg && arg == "":
		return Fault{}, errf(info.arg, "empty; want %s", info.syntax)
	}
	valid := append(slices.Clone(info.keys), selectorKeys...)
	opts := make(map[string]string)
	for _, p := range parts[1:] {
		p = strings.TrimSpace(p)
		k, v, ok := strings.Cut(p, "=")
		switch {
		case p == "":
			return Fault{}, errf("spec", "empty part between commas; %s", wantGrammar)
		case k == "":
			return Fault{}, errf("spec", "missing key before %q; want KEY=VALUE", p)
		case !slices.Contains(valid, k):
			return Fault{}, errf(k, "unknown key; want %s", strings.Join(valid, "|"))
		case !ok:
			return Fault{}, errf(k, "missing value; want %s=VALUE", k)
		case v == "":
			return Fault{}, errf(k, "empty value")
		}
		if _, dup := opts[k]; dup {
			return Fault{}, errf(k, "given twice")
		}
		opts[k] = v
	}
	action, perr := info.parse(arg, opts)
	if perr != nil {
		return Fault{}, perr
	}
	sel, perr := parseSelector(name, info, opts)
	if perr != nil {
		return Fault{}, perr
	}
	return Fault{Action: action, Selector: sel}, nil
}

func parseSelector(name string, info *kindDef, opts map[string]string) (Selector, *partError) {
	var s Selector
	var perr *partError
	if info.daemon {
		for _, k := range selectorKeys {
			if _, ok := opts[k]; ok && !slices.Contains(windowKeys, k) {
				return s, errf(k, "%s acts on the whole daemon; only start= and for= apply", name)
			}
		}
	}
	if v, ok := opts["req"]; ok {
		for _, r := range strings.Split(v, "|") {
			k, ok := epmd.ParseKind(r)
			if !ok {
				return s, errf("req", "unknown request %q; want %s (several joined by |)", r, reqAll)
			}
			if !info.acts.Has(k) {
				return s, errf("req", "%s cannot act on %s; want %s", name, r, info.acts)
			}
			s.Req |= Reqs(k)
		}
	}
	if v, ok := opts["node"]; ok {
		if len(v) > epmd.MaxNameBytes {
			return s, errf("node", "glob of %d bytes; at most %d (a node name is at most %d characters, %d bytes)",
				len(v), epmd.MaxNameBytes, epmd.MaxNameChars, epmd.MaxNameBytes)
		}
		if _, err := path.Match(v, ""); err != nil {
			return s, errf("node", "bad glob %q (want *, ?, [a-z] and \\ escapes)", v)
		}
		reqs := s.Req
		if reqs == 0 {
			reqs = info.def
		}
		switch {
		case info.regNode:
		case info.acts&reqNamed == 0:
			return s, errf("node", "%s acts before any node name is known; node= does not apply", name)
		case reqs&reqNamed == 0:
			return s, errf("node", "no node name in req=%s; node= needs %s", reqs, reqNamed&info.acts)
		}
		s.Node = v
	}
	if v, ok := opts["peer"]; ok {
		s.Peer, perr = parsePeer(v)
		if perr != nil {
			return s, perr
		}
	}
	if v, ok := opts["p"]; ok {
		p, err := strconv.ParseFloat(v, 64)
		if err != nil || !(p > 0 && p <= 1) {
			return s, errf("p", "want a probability in (0, 1], e.g. 0.25")
		}
		s.P = p
	}
	for _, c := range []struct {
		key string
		min int
		dst *int
	}{{"first", 1, &s.First}, {"every", 1, &s.Every}, {"after", 0, &s.After}} {
		if v, ok := opts[c.key]; ok {
			if *c.dst, perr = parseInt(c.key, v, c.min, math.MaxInt32); perr != nil {
				return s, perr
			}
		}
	}
	if v, ok := opts["start"]; ok {
		if s.Start, perr = parseDuration("start", v, true); perr != nil {
			return s, perr
		}
	}
	if v, ok := opts["for"]; ok {
		if s.For, perr = parseDuration("for", v, false); perr != nil {
			return s, perr
		}
	}
	return s, nil
}

func parsePeer(v string) (netip.Prefix, *partError) {
	const want = "want a CIDR (10.0.0.0/8) or an address (127.0.0.1, ::1)"
	var p netip.Prefix
	if strings.Contains(v, "/") {
		var err error
		if p, err = netip.ParsePrefix(v); err != nil {
			return p, errf("peer", "%s", want)
		}
	} else {
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return p, errf("peer", "%s", want)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	return p.Masked(), nil
}

// parseDuration reads an epmd-style duration: a bare integer is seconds,
// anything else a Go duration. zeroOK allows 0.
func parseDuration(key, v string, zeroOK bool) (time.Duration, *partError) {
	var d time.Duration
	if strings.Trim(v, "0123456789") == "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > math.MaxInt64/int64(time.Second) {
			return 0, errf(key, "too large; %s", wantDuration)
		}
		d = time.Duration(n) * time.Second
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return 0, errf(key, "%s", wantDuration)
		}
	}
	switch {
	case d < 0:
		return 0, errf(key, "negative; %s", wantDuration)
	case d == 0 && !zeroOK:
		return 0, errf(key, "must be more than 0; %s", wantDuration)
	}
	return d, nil
}

func parseInt(key, v string, lo, hi int) (int, *partError) {
	n, err := strconv.Atoi(v)
	if err != nil || strings.Trim(v, "0123456789") != "" || n < lo || n > hi {
		return 0, errf(key, "want a whole number from %d to %d", lo, hi)
	}
	return n, nil
}

// ParseList reads a faults file: one spec per line; blank lines and
// everything after a # are ignored. Errors name the line.
func ParseList(r io.Reader) ([]Fault, error) {
	var fs []Fault
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		s, _, _ := strings.Cut(sc.Text(), "#")
		if strings.TrimSpace(s) == "" {
			continue
		}
		f, err := Parse(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		fs = append(fs, f)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read faults: %w", err)
	}
	return fs, nil
}
