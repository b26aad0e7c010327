package faults

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// Event types.
const (
	// EventFault: a fault acted on a request (or, for daemon-wide kinds,
	// its window opened).
	EventFault = "fault"
	// EventRegistered: a node registered (ALIVE2 accepted).
	EventRegistered = "registered"
	// EventUnregistered: a registration ended.
	EventUnregistered = "unregistered"
)

// Event is one entry of the injector's event stream.
type Event struct {
	// Seq numbers the events of an injector from 1.
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// Type is EventFault, EventRegistered or EventUnregistered.
	Type string `json:"type"`
	// Fault, Kind and Spec identify the fault that fired.
	Fault uint64 `json:"fault,omitempty"`
	Kind  string `json:"kind,omitempty"`
	Spec  string `json:"spec,omitempty"`
	// Req is the request type the fault acted on.
	Req string `json:"req,omitempty"`
	// Node is the node name of the request or registration.
	Node string `json:"node,omitempty"`
	// Peer is the remote address of the connection.
	Peer string `json:"peer,omitempty"`
	// Conn is the connection's ID.
	Conn uint64 `json:"conn,omitempty"`
	// Port and Creation describe a registration.
	Port     uint16 `json:"port,omitempty"`
	Creation uint32 `json:"creation,omitempty"`
}

func nodeEvent(typ string, n *epmd.Node, c *epmd.Conn) Event {
	ev := Event{Type: typ, Node: n.Name, Port: n.PortNo, Creation: n.Creation, Conn: n.Conn}
	if c != nil {
		ev.Peer = c.RemoteAddr.Addr().Unmap().String()
	}
	return ev
}

// eventBacklog is how many past events an injector keeps for new
// subscribers.
const eventBacklog = 1024

// subscriberBuffer is how many events a slow subscriber may lag behind
// before it misses some: publishing never blocks the daemon.
const subscriberBuffer = 256

// eventLog keeps the recent events and feeds subscribers.
type eventLog struct {
	mu   sync.Mutex
	seq  uint64
	ring []Event
	subs map[chan Event]struct{}
}

func (l *eventLog) publish(ev Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	ev.Seq = l.seq
	ev.Time = time.Now()
	if len(l.ring) == eventBacklog {
		l.ring = append(l.ring[:0], l.ring[1:]...)
	}
	l.ring = append(l.ring, ev)
	for ch := range l.subs {
		select {
		case ch <- ev:
		default: // too slow: the subscriber misses it (Seq shows the gap)
		}
	}
}

// Subscribe returns the kept events with Seq greater than since, and a
// channel of the events that follow; cancel ends the subscription and
// closes the channel. A subscriber that falls more than a few hundred
// events behind misses some; the Seq numbers show the gap.
func (inj *Injector) Subscribe(since uint64) (past []Event, ch <-chan Event, cancel func()) {
	l := &inj.events
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range l.ring {
		if ev.Seq > since {
			past = append(past, ev)
		}
	}
	c := make(chan Event, subscriberBuffer)
	if l.subs == nil {
		l.subs = make(map[chan Event]struct{})
	}
	l.subs[c] = struct{}{}
	var once sync.Once
	return past, c, func() {
		once.Do(func() {
			l.mu.Lock()
			delete(l.subs, c)
			l.mu.Unlock()
			close(c)
		})
	}
}

// Events returns the kept events with Seq greater than since.
func (inj *Injector) Events(since uint64) []Event {
	past, _, cancel := inj.Subscribe(since)
	cancel()
	return past
}

// fired records that a acted on r (nil for a daemon-wide activation):
// its counter, the metrics, an event and a log line.
func (inj *Injector) fired(a *active, r *epmd.Request) {
	a.fired.Add(1)
	inj.metrics.fault(a.kind.name)
	ev := Event{Type: EventFault, Fault: a.id, Kind: a.kind.name, Spec: a.spec}
	if r != nil {
		ev.Req = r.Kind.String()
		ev.Node, _ = r.NodeName()
		ev.Peer = r.Conn.RemoteAddr.Addr().Unmap().String()
		ev.Conn = r.Conn.ID
	}
	inj.events.publish(ev)
	inj.logFault(a, "fault fired", r)
}

// logFault logs msg about fault a at epmd.LevelDebug1, its attributes
// always in this order: fault (the spec) and id; then, when r is not nil,
// req, node (if the request names one), peer and conn; then extra.
func (inj *Injector) logFault(a *active, msg string, r *epmd.Request, extra ...slog.Attr) {
	ctx := context.Background()
	if !inj.log.Enabled(ctx, epmd.LevelDebug1) {
		return
	}
	attrs := make([]slog.Attr, 0, 6+len(extra))
	attrs = append(attrs, slog.String("fault", a.spec), slog.Uint64("id", a.id))
	if r != nil {
		attrs = append(attrs, slog.String("req", r.Kind.String()))
		if name, ok := r.NodeName(); ok {
			attrs = append(attrs, slog.String("node", name))
		}
		attrs = append(attrs, slog.String("peer", r.Conn.RemoteAddr.Addr().Unmap().String()),
			slog.Uint64("conn", r.Conn.ID))
	}
	inj.log.LogAttrs(ctx, epmd.LevelDebug1, msg, append(attrs, extra...)...)
}
