package faults

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
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

	mu     sync.Mutex // serializes changes of the fault list; never taken by requests
	faults atomic.Pointer[[]*active]
	nextID uint64
	maxFor time.Duration // guarded by mu (SetMaxFor)

	rngMu sync.Mutex // guards rng (select.go)
	rng   *rand.Rand

	gate    gate
	events  eventLog
	metrics metrics

	regMu   sync.Mutex // guards tracked (tracking.go)
	tracked map[*epmd.Node]tracked
}

// active is one installed fault with its counters.
type active struct {
	id    uint64
	fault Fault
	kind  *kindDef // the fault's entry in the table
	spec  string
	added time.Time
	reqs  ReqSet          // effective request set
	mw    epmd.Middleware // nil for kinds that act on the daemon only
	// capped: for= was set or shortened by the injector's cap.
	capped bool

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
	// Until is when the fault's window closes (Added + start= + for=);
	// zero for a fault without for=, which lasts until removed.
	Until time.Time `json:"until,omitzero"`
	// Capped reports that the injector's cap (SetMaxFor) set or shortened
	// the fault's for=; Spec shows the value in force.
	Capped bool `json:"capped,omitempty"`
}

// ErrUnknownKind reports a fault whose kind is not in the table of kinds.
var ErrUnknownKind = errors.New("unknown fault kind")

// SetMaxFor caps the time window of every fault added from now on: a
// fault without for= is added with for=d, and one with a longer for= is
// added with for=d (its Info says Capped). It does not refuse any. 0, the
// default, means no cap. Faults already installed keep their window.
func (inj *Injector) SetMaxFor(d time.Duration) {
	inj.mu.Lock()
	defer inj.mu.Unlock()
	inj.maxFor = max(d, 0)
}

// Add installs f after the faults already installed and returns its
// description. A fault whose kind is not in the table (see Kinds) is
// refused with ErrUnknownKind.
func (inj *Injector) Add(f Fault) (Info, error) {
	infos, err := inj.AddList([]Fault{f})
	if err != nil {
		return Info{}, err
	}
	return infos[0], nil
}

// AddList installs fs, in order, after the faults already installed, all
// at once: requests see either none of them or all. If any is refused
// (ErrUnknownKind) none is installed.
func (inj *Injector) AddList(fs []Fault) ([]Info, error) {
	defs := make([]*kindDef, len(fs))
	for i, f := range fs {
		kind, ok := kindNamed(f.Kind())
		if !ok {
			return nil, fmt.Errorf("add fault: kind %q: %w", f.Kind(), ErrUnknownKind)
		}
		defs[i] = kind
	}
	inj.mu.Lock()
	defer inj.mu.Unlock()
	now := time.Now()
	added := make([]*active, len(fs))
	for i, f := range fs {
		capped := false
		if inj.maxFor > 0 && (f.For == 0 || f.For > inj.maxFor) {
			f.For, capped = inj.maxFor, true
		}
		inj.nextID++
		a := &active{id: inj.nextID, fault: f, kind: defs[i], spec: f.String(), added: now, capped: capped}
		a.reqs = f.Req
		if a.reqs == 0 {
			a.reqs = defs[i].def
		}
		if ra, ok := f.Action.(requestAction); ok {
			a.mw = ra.middleware(inj, a)
		}
		added[i] = a
	}
	list := append(slices.Clone(*inj.faults.Load()), added...)
	inj.faults.Store(&list)
	infos := make([]Info, len(added))
	for i, a := range added {
		if act, ok := a.fault.Action.(activator); ok {
			inj.schedule(a, act)
		}
		infos[i] = a.info()
	}
	return infos, nil
}

// AddSpec parses spec and installs the fault.
func (inj *Injector) AddSpec(spec string) (Info, error) {
	f, err := Parse(spec)
	if err != nil {
		return Info{}, err
	}
	return inj.Add(f)
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
	inj.gate.release(a.id)
	return true
}

// Clear uninstalls every fault.
func (inj *Injector) Clear() {
	inj.mu.Lock()
	defer inj.mu.Unlock()
	for _, a := range *inj.faults.Load() {
		a.stop()
		inj.gate.release(a.id)
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
	in := Info{ID: a.id, Spec: a.spec, Fired: a.fired.Load(), Added: a.added, Capped: a.capped}
	in.Until, _ = a.windowEnd()
	return in
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

// windowEnd is when the fault's window closes (for=), if it has one.
func (a *active) windowEnd() (time.Time, bool) {
	if a.fault.For <= 0 {
		return time.Time{}, false
	}
	return a.added.Add(a.fault.Start + a.fault.For), true
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
