package faults

import (
	"context"
	"log/slog"
	"maps"
	"math/rand/v2"
	"path"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// Injector holds the active faults of one epmd server and applies them as
// a single middleware (see Middleware). Its methods are safe for
// concurrent use; changing the fault list never blocks requests.
type Injector struct {
	seed int64
	log  *slog.Logger

	mu     sync.Mutex // serializes changes of the fault list
	faults atomic.Pointer[[]*active]
	nextID uint64

	rngMu sync.Mutex
	rng   *rand.Rand

	gate    gate
	events  eventLog
	metrics metrics

	regMu   sync.Mutex
	tracked map[*epmd.Node]tracked
}

// tracked is a registration made through the injector: its node table and
// connection, so a crash can drop it.
type tracked struct {
	reg  epmd.Registry
	conn *epmd.Conn
}

// active is one installed fault with its counters.
type active struct {
	id    uint64
	fault Fault
	spec  string
	added time.Time
	reqs  ReqSet // effective request set
	mw    epmd.Middleware

	mu      sync.Mutex
	matched int // requests that passed req, node, peer and the window
	acted   int // requests acted on
	fired   atomic.Uint64

	actMu      sync.Mutex
	timers     []*time.Timer
	deactivate func()
	removed    bool
}

// NewInjector returns an injector with no faults whose random choices
// come from a source seeded with seed. log receives a line for every fault
// that fires, at epmd.LevelDebug1; nil discards it.
func NewInjector(seed int64, log *slog.Logger) *Injector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	inj := &Injector{seed: seed, log: log,
		rng:     rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15)),
		tracked: make(map[*epmd.Node]tracked)}
	inj.faults.Store(new([]*active))
	return inj
}

// Seed returns the seed of the injector's random source.
func (inj *Injector) Seed() int64 { return inj.seed }

// Info describes an installed fault.
type Info struct {
	// ID identifies the fault within its injector, from 1.
	ID uint64 `json:"id"`
	// Spec is the fault's canonical spec.
	Spec string `json:"spec"`
	// Fired counts the requests the fault acted on.
	Fired uint64 `json:"fired"`
	// Added is when the fault was installed; its start= and for= count
	// from then.
	Added time.Time `json:"added"`
}

// Add installs f after the faults already installed and returns its
// description.
func (inj *Injector) Add(f Fault) Info {
	inj.mu.Lock()
	defer inj.mu.Unlock()
	inj.nextID++
	a := &active{id: inj.nextID, fault: f, spec: f.String(), added: time.Now()}
	info := kinds[f.Kind()]
	a.reqs = f.Req
	if a.reqs == 0 {
		a.reqs = info.def
	}
	a.mw = f.Action.middleware(inj, a)
	list := append(slices.Clone(*inj.faults.Load()), a)
	inj.faults.Store(&list)
	if act, ok := f.Action.(activator); ok {
		inj.schedule(a, act)
	}
	return a.info()
}

// AddSpec parses spec and installs the fault.
func (inj *Injector) AddSpec(spec string) (Info, error) {
	f, err := Parse(spec)
	if err != nil {
		return Info{}, err
	}
	return inj.Add(f), nil
}

// Remove uninstalls the fault with that id and reports whether there was
// one. Requests already under way finish with the faults they started
// with.
func (inj *Injector) Remove(id uint64) bool {
	inj.mu.Lock()
	defer inj.mu.Unlock()
	list := *inj.faults.Load()
	i := slices.IndexFunc(list, func(a *active) bool { return a.id == id })
	if i < 0 {
		return false
	}
	a := list[i]
	list = slices.Delete(slices.Clone(list), i, i+1)
	inj.faults.Store(&list)
	a.stop()
	return true
}

// Clear uninstalls every fault.
func (inj *Injector) Clear() {
	inj.mu.Lock()
	defer inj.mu.Unlock()
	for _, a := range *inj.faults.Load() {
		a.stop()
	}
	inj.faults.Store(new([]*active))
}

// Close uninstalls every fault, releasing what daemon-wide faults hold
// (hold_ports listeners).
func (inj *Injector) Close() error {
	inj.Clear()
	return nil
}

// Faults describes the installed faults in order.
func (inj *Injector) Faults() []Info {
	list := *inj.faults.Load()
	out := make([]Info, len(list))
	for i, a := range list {
		out[i] = a.info()
	}
	return out
}

func (a *active) info() Info {
	return Info{ID: a.id, Spec: a.spec, Fired: a.fired.Load(), Added: a.added}
}

// schedule activates a daemon-wide fault when its window opens and
// deactivates it when the window closes.
func (inj *Injector) schedule(a *active, act activator) {
	on := func() {
		a.actMu.Lock()
		defer a.actMu.Unlock()
		if a.removed || a.deactivate != nil {
			return
		}
		inj.fired(a, nil)
		a.deactivate = act.activate(inj, a)
	}
	off := func() {
		a.actMu.Lock()
		defer a.actMu.Unlock()
		if a.deactivate != nil {
			a.deactivate()
			a.deactivate = func() {} // a window opens once
		}
	}
	a.actMu.Lock()
	if a.fault.For > 0 {
		a.timers = append(a.timers, time.AfterFunc(a.fault.Start+a.fault.For, off))
	}
	if a.fault.Start > 0 {
		a.timers = append(a.timers, time.AfterFunc(a.fault.Start, on))
		a.actMu.Unlock()
		return
	}
	a.actMu.Unlock()
	on()
}

// stop ends the fault's timers and deactivates it.
func (a *active) stop() {
	a.actMu.Lock()
	defer a.actMu.Unlock()
	a.removed = true
	for _, t := range a.timers {
		t.Stop()
	}
	if a.deactivate != nil {
		a.deactivate()
		a.deactivate = nil
	}
}

// Middleware is the injector as middleware of an epmd.Server: install it
// once, where the faults are to act (usually alone, or first).
func (inj *Injector) Middleware(next epmd.Handler) epmd.Handler {
	return epmd.HandlerFunc(func(ctx context.Context, w epmd.ResponseWriter, r *epmd.Request) {
		inj.serve(ctx, next, w, r)
	})
}

func (inj *Injector) serve(ctx context.Context, next epmd.Handler, w epmd.ResponseWriter, r *epmd.Request) {
	if inj.gate.wait(ctx) != nil {
		return
	}
	ow := outerWriterPool.Get().(*outerWriter)
	*ow = outerWriter{ResponseWriter: w, inj: inj, ctx: ctx}
	if r.Kind == epmd.KindAlive2 || r.Kind == epmd.KindStop {
		// Only these change the registry: the others need no tracking.
		r = r.WithRegistry(&trackingRegistry{Registry: r.Registry, inj: inj, conn: r.Conn})
	}
	h := next
	if list := *inj.faults.Load(); len(list) > 0 {
		now := time.Now()
		var chosen []*active
		for _, a := range list {
			if a.mw != nil && inj.selects(a, r, now) {
				chosen = append(chosen, a)
			}
		}
		for i := len(chosen) - 1; i >= 0; i-- {
			h = chosen[i].mw(h)
		}
		for _, a := range chosen {
			inj.fired(a, r)
		}
	}
	h.ServeEPMD(ctx, ow, r)
	inj.metrics.request(r.Kind, ow.result(r.Kind))
	*ow = outerWriter{}
	outerWriterPool.Put(ow)
}

var outerWriterPool = sync.Pool{New: func() any { return new(outerWriter) }}

// selects applies a's selector to r, counting matches.
func (inj *Injector) selects(a *active, r *epmd.Request, now time.Time) bool {
	f := &a.fault
	if !a.reqs.Has(r.Kind) {
		return false
	}
	if f.Node != "" && !kinds[f.Kind()].regNode {
		name, ok := r.NodeName()
		if !ok || !globMatch(f.Node, name) {
			return false
		}
	}
	if f.Peer.IsValid() && !f.Peer.Contains(r.Conn.RemoteAddr.Addr().Unmap()) {
		return false
	}
	if !a.inWindow(now) {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.matched++
	n := a.matched - f.After
	if n <= 0 {
		return false
	}
	if f.Every > 1 && n%f.Every != 0 {
		return false
	}
	if f.First > 0 && a.acted >= f.First {
		return false
	}
	if f.P > 0 && f.P < 1 && inj.float64() >= f.P {
		return false
	}
	a.acted++
	return true
}

func (a *active) inWindow(now time.Time) bool {
	age := now.Sub(a.added)
	if age < a.fault.Start {
		return false
	}
	return a.fault.For == 0 || age < a.fault.Start+a.fault.For
}

func globMatch(pattern, name string) bool {
	ok, _ := path.Match(pattern, name)
	return ok
}

// float64 draws from the injector's seeded source.
func (inj *Injector) float64() float64 {
	inj.rngMu.Lock()
	defer inj.rngMu.Unlock()
	return inj.rng.Float64()
}

// intN draws from the injector's seeded source.
func (inj *Injector) intN(n int) int {
	inj.rngMu.Lock()
	defer inj.rngMu.Unlock()
	return inj.rng.IntN(n)
}

// fired records that a acted on r (nil for a daemon-wide activation).
func (inj *Injector) fired(a *active, r *epmd.Request) {
	a.fired.Add(1)
	kind := a.fault.Kind()
	inj.metrics.fault(kind)
	ev := Event{Type: EventFault, Fault: a.id, Kind: kind, Spec: a.spec}
	attrs := []slog.Attr{slog.String("fault", a.spec)}
	if r != nil {
		ev.Req = r.Kind.String()
		ev.Peer = r.Conn.RemoteAddr.Addr().Unmap().String()
		ev.Conn = r.Conn.ID
		attrs = append(attrs, slog.String("req", ev.Req), slog.String("peer", ev.Peer), slog.Uint64("conn", ev.Conn))
		if name, ok := r.NodeName(); ok {
			ev.Node = name
			attrs = append(attrs, slog.String("node", name))
		}
	}
	inj.events.publish(ev)
	inj.log.LogAttrs(context.Background(), epmd.LevelDebug1, "fault fired", attrs...)
}

// gate freezes the whole daemon (stall): while it is closed nothing passing
// the injector proceeds.
type gate struct {
	until atomic.Int64 // UnixNano
}

// freeze closes the gate for d from now (or longer, if it already is).
func (g *gate) freeze(d time.Duration) {
	u := time.Now().Add(d).UnixNano()
	for {
		old := g.until.Load()
		if old >= u || g.until.CompareAndSwap(old, u) {
			return
		}
	}
}

// wait returns when the gate is open, or with ctx's error.
func (g *gate) wait(ctx context.Context) error {
	for {
		u := g.until.Load()
		if u == 0 {
			return nil // never stalled, or the stall is over: no clock read
		}
		d := time.Until(time.Unix(0, u))
		if d <= 0 {
			g.until.CompareAndSwap(u, 0)
			return nil
		}
		if err := epmd.Sleep(ctx, d); err != nil {
			return err
		}
	}
}

// outerWriter is the writer every fault's writer ends in: it holds writes
// while the daemon is stalled and notes what reached the client for the
// metrics.
type outerWriter struct {
	epmd.ResponseWriter
	inj   *Injector
	ctx   context.Context
	head  [8]byte
	total int
}

func (w *outerWriter) Write(p []byte) (int, error) {
	if err := w.inj.gate.wait(w.ctx); err != nil {
		return 0, err
	}
	n, err := w.ResponseWriter.Write(p)
	if w.total < len(w.head) {
		copy(w.head[w.total:], p[:n])
	}
	w.total += n
	return n, err
}

func (w *outerWriter) Flush() error {
	if err := w.inj.gate.wait(w.ctx); err != nil {
		return err
	}
	return w.ResponseWriter.Flush()
}

// result classifies the reply for the requests metric: ok, error,
// not_found, refused, or no_reply.
func (w *outerWriter) result(k epmd.Kind) result {
	if w.total == 0 {
		if k == epmd.KindAccept {
			return resultOK
		}
		return resultNoReply
	}
	h := w.head[:min(w.total, len(w.head))]
	switch k {
	case epmd.KindAlive2:
		if len(h) >= 2 && h[1] == 0 {
			return resultOK
		}
		return resultError
	case epmd.KindPortPlease2:
		if len(h) >= 2 && h[1] == 0 {
			return resultOK
		}
		return resultNotFound
	case epmd.KindKill:
		if string(h) == "OK" {
			return resultOK
		}
		return resultRefused
	case epmd.KindStop:
		if len(h) >= 7 && string(h[:7]) == "NOEXIST" {
			return resultNotFound
		}
	}
	return resultOK
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
