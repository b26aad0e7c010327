package faults

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// Fault is one parsed fault spec: what to do and to which requests.
// Faults are comparable (every Action type is; a kind-generic test checks
// it), so Parse(f.String()) == f.
type Fault struct {
	// Action is the kind-specific part, one of the kind types of this
	// package (DelayWrite, Drop, PartialWrite, ...).
	Action Action
	// Selector narrows the requests the fault acts on.
	Selector
}

// Action is what a fault does: one comparable type per kind, each in its
// own file with the kind's table entry (see kindTable). Besides Action, it
// implements requestAction, activator or both.
type Action interface {
	// Kind returns the fault kind's name as written in specs.
	Kind() string
	// appendArgs appends the canonical "=ARG" and kind-specific
	// ",key=value" parts of the spec.
	appendArgs(b []byte) []byte
}

// requestAction is implemented by kinds that act on the requests a fault
// selects: middleware returns what the fault does to them.
type requestAction interface {
	middleware(inj *Injector, f *active) epmd.Middleware
}

// activator is implemented by kinds that act on the whole daemon rather
// than on requests (hold_ports, crash): activate runs when the fault's time
// window opens and the function it returns when the window closes or the
// fault is removed.
type activator interface {
	activate(inj *Injector, f *active) (deactivate func())
}

// Selector chooses the requests a fault acts on. Its zero value selects
// every request the fault's kind can act on.
type Selector struct {
	// Req is the set of request types (req=); empty means the kind's
	// default set.
	Req ReqSet
	// Node is a glob (path.Match syntax) on the node name (node=).
	Node string
	// Peer restricts the fault to peers in this prefix (peer=).
	Peer netip.Prefix
	// P is the probability a selected request is acted on (p=); 0 means
	// always.
	P float64
	// First acts on only the first First selected requests (first=).
	First int
	// Every acts on only every Every-th selected request (every=).
	Every int
	// After skips the first After selected requests (after=).
	After int
	// Start and For are the time window (start=, for=), from when the
	// fault was added; For 0 means no end.
	Start, For time.Duration
}

// ReqSet is a set of request kinds.
type ReqSet uint16

// Reqs returns the set of the given kinds.
func Reqs(kinds ...epmd.Kind) ReqSet {
	var s ReqSet
	for _, k := range kinds {
		s |= 1 << k
	}
	return s
}

// Has reports whether k is in s.
func (s ReqSet) Has(k epmd.Kind) bool { return s&(1<<k) != 0 }

// allKinds lists the request kinds in spec order.
var allKinds = [...]epmd.Kind{epmd.KindAccept, epmd.KindAlive2, epmd.KindPortPlease2,
	epmd.KindNames, epmd.KindDump, epmd.KindKill, epmd.KindStop}

// String returns s as in a spec: kind names joined by "|".
func (s ReqSet) String() string {
	var parts []string
	for _, k := range allKinds {
		if s.Has(k) {
			parts = append(parts, k.String())
		}
	}
	return strings.Join(parts, "|")
}

// Common request sets.
var (
	reqAccept   = Reqs(epmd.KindAccept)
	reqRequests = Reqs(epmd.KindAlive2, epmd.KindPortPlease2, epmd.KindNames, epmd.KindDump, epmd.KindKill, epmd.KindStop)
	reqAll      = reqAccept | reqRequests
	reqNamed    = Reqs(epmd.KindAlive2, epmd.KindPortPlease2, epmd.KindStop) // requests with a node name
)

// Kind returns the fault's kind name.
func (f Fault) Kind() string {
	if f.Action == nil {
		return ""
	}
	return f.Action.Kind()
}

// String returns the canonical spec of f: the kind and its argument, the
// kind's own keys, then the selectors in the order req, node, peer, p,
// first, every, after, start, for. Durations in whole seconds are written
// as bare integers.
func (f Fault) String() string {
	if f.Action == nil {
		return ""
	}
	b := []byte(f.Action.Kind())
	b = f.Action.appendArgs(b)
	s := &f.Selector
	if s.Req != 0 {
		b = append(b, ",req="...)
		b = append(b, s.Req.String()...)
	}
	if s.Node != "" {
		b = append(b, ",node="...)
		b = append(b, s.Node...)
	}
	if s.Peer.IsValid() {
		b = append(b, ",peer="...)
		b = append(b, s.Peer.String()...)
	}
	if s.P != 0 {
		b = append(b, ",p="...)
		b = strconv.AppendFloat(b, s.P, 'g', -1, 64)
	}
	for _, kv := range []struct {
		k string
		v int
	}{{"first", s.First}, {"every", s.Every}, {"after", s.After}} {
		if kv.v != 0 {
			b = append(b, ","+kv.k+"="...)
			b = strconv.AppendInt(b, int64(kv.v), 10)
		}
	}
	if s.Start != 0 {
		b = append(b, ",start="...)
		b = appendDuration(b, s.Start)
	}
	if s.For != 0 {
		b = append(b, ",for="...)
		b = appendDuration(b, s.For)
	}
	return string(b)
}

// appendDuration writes d as a spec duration: whole seconds as a bare
// integer, anything else as a Go duration.
func appendDuration(b []byte, d time.Duration) []byte {
	if d%time.Second == 0 {
		return strconv.AppendInt(b, int64(d/time.Second), 10)
	}
	return append(b, d.String()...)
}

// Short names of request kinds for the tables.
const (
	kindAccept      = epmd.KindAccept
	kindAlive2      = epmd.KindAlive2
	kindPortPlease2 = epmd.KindPortPlease2
)

// reqLookups are the requests that read the node table.
var reqLookups = Reqs(epmd.KindPortPlease2, epmd.KindNames, epmd.KindDump)
