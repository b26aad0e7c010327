package epmd

import (
	"encoding/binary"
	"errors"
	"sync"
	"time"
)

// ErrNameInUse is returned by Registry.Register when the name is already
// registered; epmd answers such an ALIVE2 with result 1.
var ErrNameInUse = errors.New("node name already occupied")

// Default sizes of the memory of unregistered names (MAX_UNREG_COUNT and
// DEBUG_MAX_UNREG_COUNT in the C epmd).
const (
	DefaultUnregMemory = 1000
	DebugUnregMemory   = 5
)

// Node is one registration. A *Node returned by a Registry is never
// modified afterwards and may be shared.
type Node struct {
	Name     string
	PortNo   uint16
	NodeType uint8
	Protocol uint8
	HighVsn  uint16
	LowVsn   uint16
	Extra    []byte
	// Creation is the 32-bit creation counter (cr_counter); see
	// CreationFor for what a client is told.
	Creation uint32
	// FD is the registration connection's file descriptor, shown by DUMP.
	FD int
	// Conn identifies the registration connection (Conn.ID).
	Conn uint64
}

// CreationFor returns the creation a client registering with the given
// HighVsn is told: the counter itself from version 6 on, else 1..3.
func (n *Node) CreationFor(highVsn uint16) uint32 {
	if highVsn >= 6 {
		return n.Creation
	}
	return n.Creation%3 + 1
}

// Registry is the node table. The server's handler reaches it through this
// interface so middleware can wrap it (stale, forgotten or forced
// registrations) without changes to the server. Implementations are safe
// for concurrent use.
type Registry interface {
	// Register adds n, filling in its creation, and returns the stored
	// node; ErrNameInUse when the name is registered.
	Register(n Node) (*Node, error)
	// Unregister removes n if it is still the registration of its name,
	// remembers the name, and reports whether it did.
	Unregister(n *Node) bool
	// UnregisterName removes the node registered under name, if any.
	UnregisterName(name string) (*Node, bool)
	// Lookup returns the node registered under name (byte-exact).
	Lookup(name string) (*Node, bool)
	// Nodes appends the registered nodes to dst, newest first.
	Nodes(dst []*Node) []*Node
	// Unused appends the remembered unregistered nodes to dst, oldest
	// first.
	Unused(dst []*Node) []*Node
}

// MemRegistry is the in-memory Registry with the C epmd's creation
// semantics. Its zero value is ready to use and remembers
// DefaultUnregMemory unregistered names.
type MemRegistry struct {
	// UnregMemory is how many unregistered names are kept for their
	// creation counters before their slots are reused; 0 means
	// DefaultUnregMemory.
	UnregMemory int
	// Now is the clock creation counters start from; nil means time.Now.
	Now func() time.Time

	mu            sync.Mutex
	byName        map[string]*entry // registered and remembered alike
	nreg          int               // how many of them are registered
	head          *entry            // newest registration
	ufront, uback *entry            // oldest, newest unregistered
	names         []byte            // NAMES reply for namesPort; nil after a change
	namesPort     uint32
}

// entry is a node and its place in one of the two lists: the registered
// (from head, newest first: prev is newer) or, once unregistered, the
// remembered (from ufront, oldest first: next is newer). A node moves
// from the first to the second in its own entry, under the same name in
// byName, so a registration and its end allocate one object and make
// three map operations between them (lookup and insert, lookup).
type entry struct {
	node       Node
	prev, next *entry
	registered bool // in the first list, else in the second
}

func (r *MemRegistry) init() {
	if r.byName == nil {
		r.byName = make(map[string]*entry)
	}
}

// registered returns the entry registered under name, or nil.
func (r *MemRegistry) registered(name string) *entry {
	if e := r.byName[name]; e != nil && e.registered {
		return e
	}
	return nil
}

func (r *MemRegistry) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *MemRegistry) limit() int {
	if r.UnregMemory > 0 {
		return r.UnregMemory
	}
	return DefaultUnregMemory
}

func bump(c uint32) uint32 {
	c++
	if c < 4 {
		c = 4
	}
	return c
}

// Register implements Registry. A name remembered from an earlier
// registration gets its counter bumped by one; a new name starts from the
// current Unix time plus one, or, when more than UnregMemory names are
// remembered, takes over the oldest remembered slot and its counter as is.
func (r *MemRegistry) Register(n Node) (*Node, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	u := r.byName[n.Name]
	switch {
	case u != nil && u.registered:
		return nil, ErrNameInUse
	case u != nil:
		// Its new entry takes its place in byName below.
		r.unlinkUnreg(u)
		n.Creation = bump(u.node.Creation)
	case len(r.byName)-r.nreg > r.limit(): // remembered ones
		u = r.ufront
		r.unlinkUnreg(u)
		delete(r.byName, u.node.Name)
		n.Creation = u.node.Creation
	default:
		n.Creation = bump(uint32(r.now().Unix()))
	}
	e := &entry{node: n, next: r.head, registered: true}
	if r.head != nil {
		r.head.prev = e
	}
	r.head = e
	r.byName[n.Name] = e
	r.nreg++
	r.names = nil
	return &e.node, nil
}

func (r *MemRegistry) unlinkUnreg(u *entry) {
	if u.prev != nil {
		u.prev.next = u.next
	} else {
		r.ufront = u.next
	}
	if u.next != nil {
		u.next.prev = u.prev
	} else {
		r.uback = u.prev
	}
	// A *Node the caller keeps holds its entry: not the entries after it.
	u.prev, u.next = nil, nil
}

// remove unlinks e from the registered list and appends its node to the
// remembered FIFO.
func (r *MemRegistry) remove(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		r.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	}
	r.nreg--
	r.names = nil
	e.prev, e.next, e.registered = r.uback, nil, false
	if r.uback != nil {
		r.uback.next = e
	} else {
		r.ufront = e
	}
	r.uback = e
}

// Unregister implements Registry.
func (r *MemRegistry) Unregister(n *Node) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.registered(n.Name)
	if e == nil || &e.node != n {
		return false
	}
	r.remove(e)
	return true
}

// UnregisterName implements Registry.
func (r *MemRegistry) UnregisterName(name string) (*Node, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.registered(name)
	if e == nil {
		return nil, false
	}
	r.remove(e)
	return &e.node, true
}

// Lookup implements Registry.
func (r *MemRegistry) Lookup(name string) (*Node, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.registered(name)
	if e == nil {
		return nil, false
	}
	return &e.node, true
}

// Nodes implements Registry.
func (r *MemRegistry) Nodes(dst []*Node) []*Node {
	r.mu.Lock()
	defer r.mu.Unlock()
	for e := r.head; e != nil; e = e.next {
		dst = append(dst, &e.node)
	}
	return dst
}

// NamesReply returns the whole NAMES reply for a server reporting port:
// the port, then one "name %s at port %d\n" line per registered node,
// newest first. It is rendered once and kept until a registration or
// unregistration (or a different port) calls for a new one, so repeated
// NAMES requests allocate nothing. The slice is shared: callers must not
// modify it.
func (r *MemRegistry) NamesReply(port uint32) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names != nil && r.namesPort == port {
		return r.names
	}
	size := 4
	for e := r.head; e != nil; e = e.next {
		size += len("name  at port 65535\n") + len(e.node.Name)
	}
	b := binary.BigEndian.AppendUint32(make([]byte, 0, size), port)
	for e := r.head; e != nil; e = e.next {
		b = AppendNamesLine(b, e.node.Name, e.node.PortNo)
	}
	r.names, r.namesPort = b, port
	return b
}

// Unused implements Registry.
func (r *MemRegistry) Unused(dst []*Node) []*Node {
	r.mu.Lock()
	defer r.mu.Unlock()
	for u := r.ufront; u != nil; u = u.next {
		dst = append(dst, &u.node)
	}
	return dst
}

// Len returns the number of registered nodes.
func (r *MemRegistry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nreg
}
