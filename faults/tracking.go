package faults

import (
	"context"
	"maps"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// tracked is a registration made through the injector: its node table and
// connection, so a crash can drop it.
type tracked struct {
	reg  epmd.Registry
	conn *epmd.Conn
}

// trackingRegistry is the node table as every request under the injector
// sees it: it publishes registration events, remembers registrations for
// crash, and holds unregistrations while the daemon is stalled.
type trackingRegistry struct {
	epmd.Registry
	inj  *Injector
	conn *epmd.Conn
}

func (t *trackingRegistry) Register(n epmd.Node) (*epmd.Node, error) {
	node, err := t.Registry.Register(n)
	if err != nil {
		return node, err
	}
	t.inj.regMu.Lock()
	t.inj.tracked[node] = tracked{reg: t.Registry, conn: t.conn}
	t.inj.regMu.Unlock()
	t.inj.events.publish(nodeEvent(EventRegistered, node, t.conn))
	return node, nil
}

func (t *trackingRegistry) Unregister(n *epmd.Node) bool {
	_ = t.inj.gate.wait(context.Background())
	return t.inj.unregister(t.Registry, n)
}

func (t *trackingRegistry) UnregisterName(name string) (*epmd.Node, bool) {
	n, ok := t.Registry.UnregisterName(name)
	if ok {
		t.inj.untrack(n)
	}
	return n, ok
}

func (inj *Injector) unregister(reg epmd.Registry, n *epmd.Node) bool {
	if !reg.Unregister(n) {
		return false
	}
	inj.untrack(n)
	return true
}

func (inj *Injector) untrack(n *epmd.Node) {
	inj.regMu.Lock()
	t, ok := inj.tracked[n]
	delete(inj.tracked, n)
	inj.regMu.Unlock()
	var conn *epmd.Conn
	if ok {
		conn = t.conn
	}
	inj.events.publish(nodeEvent(EventUnregistered, n, conn))
}

// dropRegistrations unregisters every registration made through the
// injector and closes its connection (crash).
func (inj *Injector) dropRegistrations() {
	inj.regMu.Lock()
	all := make(map[*epmd.Node]tracked, len(inj.tracked))
	maps.Copy(all, inj.tracked)
	inj.regMu.Unlock()
	for n, t := range all {
		inj.unregister(t.reg, n)
		_ = t.conn.Close()
	}
}
