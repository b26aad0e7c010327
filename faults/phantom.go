package faults

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// Phantom is the phantom fault: selected NAMES and PORT_PLEASE2 requests
// find nodes that never registered — another application's epmd entries,
// or leftovers. Either List gives them (phantom=NAME:PORT;NAME:PORT...,
// kept in canonical form) or N generated ones are served (phantom=N): the
// names phantom1 to phantomN at ports PhantomFirstPort to
// PhantomFirstPort+N-1.
//
// A phantom is answered as a node registered by OTP 25: type 77 (normal
// node), protocol 0 (TCP/IP v4), HighestVersion 6, LowestVersion 5, no
// extra. NAMES lists the phantoms after the registered nodes, in
// their order. A registered node of the same name hides its phantom; a
// phantom's name can still be registered, and DUMP never shows phantoms.
type Phantom struct {
	List string
	N    int
}

// Generated phantoms (phantom=N): phantomK is at port PhantomFirstPort+K-1,
// and N is at most PhantomMaxN.
const (
	PhantomFirstPort = 10001
	PhantomMaxN      = 50000
)

// Kind implements Action.
func (Phantom) Kind() string { return "phantom" }

// Phantom is the phantom kind.
func (kindTable) Phantom() *kindDef {
	return &kindDef{
		name:    "phantom",
		syntax:  "phantom=NAME:PORT[;NAME:PORT...]|N",
		summary: "NAMES and PORT_PLEASE2 serve nodes never registered (those given, or N generated)",
		arg:     "names",
		acts:    Reqs(epmd.KindPortPlease2, epmd.KindNames),
		def:     Reqs(epmd.KindPortPlease2, epmd.KindNames),
		parse:   parsePhantom,
		example: "phantom=ghost:9100;old:9101",
		bad:     "phantom=ghost",
		badErr:  `fault "phantom=ghost": names: entry "ghost": ` + wantPhantom,
	}
}

const wantPhantom = "want NAME:PORT (several joined by ;) or a count from 1 to 50000"

func (a Phantom) appendArgs(b []byte) []byte {
	if a.N > 0 {
		return strconv.AppendInt(append(b, '='), int64(a.N), 10)
	}
	return append(append(b, '='), a.List...)
}

func (a Phantom) middleware(*Injector, *active) epmd.Middleware {
	t := a.table()
	return withRegistry(func(reg epmd.Registry) epmd.Registry { return phantomRegistry{reg, t} })
}

// phantomTable is a Phantom's nodes, built once when the fault is added.
type phantomTable struct {
	nodes  []*epmd.Node // in NAMES order
	byName map[string]*epmd.Node
}

func (a Phantom) table() *phantomTable {
	var nodes []*epmd.Node
	if a.N > 0 {
		nodes = make([]*epmd.Node, a.N)
		for k := range nodes {
			nodes[k] = phantomNode("phantom"+strconv.Itoa(k+1), uint16(PhantomFirstPort+k))
		}
	} else {
		entries, _ := parsePhantomList(a.List) // checked by Parse
		for _, e := range entries {
			nodes = append(nodes, phantomNode(e.name, e.port))
		}
	}
	t := &phantomTable{nodes: nodes, byName: make(map[string]*epmd.Node, len(nodes))}
	for _, n := range nodes {
		t.byName[n.Name] = n
	}
	return t
}

func phantomNode(name string, port uint16) *epmd.Node {
	return &epmd.Node{Name: name, PortNo: port, NodeType: 77, Protocol: 0, HighVsn: 6, LowVsn: 5}
}

// phantomRegistry adds a table of phantoms to the lookups of a node table.
type phantomRegistry struct {
	epmd.Registry
	t *phantomTable
}

func (r phantomRegistry) Lookup(name string) (*epmd.Node, bool) {
	if n, ok := r.Registry.Lookup(name); ok {
		return n, true
	}
	n, ok := r.t.byName[name]
	return n, ok
}

func (r phantomRegistry) Nodes(dst []*epmd.Node) []*epmd.Node {
	start := len(dst)
	dst = r.Registry.Nodes(dst)
	var hidden []string
	for _, n := range dst[start:] {
		if _, ok := r.t.byName[n.Name]; ok {
			hidden = append(hidden, n.Name)
		}
	}
	if len(hidden) == 0 {
		return append(dst, r.t.nodes...)
	}
	for _, n := range r.t.nodes {
		if !slices.Contains(hidden, n.Name) {
			dst = append(dst, n)
		}
	}
	return dst
}

type phantomEntry struct {
	name string
	port uint16
}

func parsePhantom(arg string, _ map[string]string) (Action, *partError) {
	if strings.Trim(arg, "0123456789") == "" {
		n, perr := parseInt("names", arg, 1, PhantomMaxN)
		if perr != nil {
			return nil, errf("names", "phantom=N wants a count from 1 to %d", PhantomMaxN)
		}
		return Phantom{N: n}, nil
	}
	entries, perr := parsePhantomList(arg)
	if perr != nil {
		return nil, perr
	}
	var b []byte
	for i, e := range entries {
		if i > 0 {
			b = append(b, ';')
		}
		b = strconv.AppendUint(append(append(b, e.name...), ':'), uint64(e.port), 10)
	}
	return Phantom{List: string(b)}, nil
}

// parsePhantomList reads NAME:PORT[;NAME:PORT...]. A name may contain ':'
// (the port follows the last one), but no space or control character.
func parsePhantomList(list string) ([]phantomEntry, *partError) {
	var entries []phantomEntry
	for _, s := range strings.Split(list, ";") {
		if s == "" {
			return nil, errf("names", "empty entry; %s", wantPhantom)
		}
		i := strings.LastIndexByte(s, ':')
		if i < 0 {
			return nil, errf("names", "entry %q: %s", s, wantPhantom)
		}
		name, ps := s[:i], s[i+1:]
		if !validPhantomName(name) {
			return nil, errf("names", "entry %q: NAME wants 1 to %d characters (at most %d bytes), no space or control character",
				s, epmd.MaxNameChars, epmd.MaxNameBytes)
		}
		port, perr := parseInt("names", ps, 0, 65535)
		if perr != nil {
			return nil, errf("names", "entry %q: PORT wants a whole number from 0 to 65535", s)
		}
		if slices.ContainsFunc(entries, func(e phantomEntry) bool { return e.name == name }) {
			return nil, errf("names", "name %q given twice", name)
		}
		entries = append(entries, phantomEntry{name, uint16(port)})
	}
	return entries, nil
}

func validPhantomName(name string) bool {
	if name == "" || len(name) > epmd.MaxNameBytes || !utf8.ValidString(name) || utf8.RuneCountInString(name) > epmd.MaxNameChars {
		return false
	}
	return !strings.ContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
}
