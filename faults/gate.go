package faults

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// gate freezes the whole daemon (stall): while it is closed nothing passing
// the injector proceeds. Each stall fault holds it until a time of its own;
// removing the fault releases its hold at once.
type gate struct {
	until atomic.Int64 // UnixNano of the latest hold's end; 0: open

	mu    sync.Mutex
	holds map[uint64]int64 // fault id → UnixNano of its hold's end
	wake  chan struct{}    // closed when a hold is released early
}

// freeze closes the gate until the time u for fault id (or longer, if it
// already is).
func (g *gate) freeze(id uint64, u time.Time) {
	n := u.UnixNano()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.holds == nil {
		g.holds = make(map[uint64]int64)
	}
	g.holds[id] = max(g.holds[id], n)
	if n > g.until.Load() {
		g.until.Store(n)
	}
}

// release ends fault id's hold: the gate stays closed only as long as
// another fault holds it, and waiters look again.
func (g *gate) release(id uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.holds[id]; !ok {
		return
	}
	delete(g.holds, id)
	now := time.Now().UnixNano()
	var u int64
	for i, h := range g.holds {
		if h <= now {
			delete(g.holds, i)
			continue
		}
		u = max(u, h)
	}
	g.until.Store(u)
	if g.wake != nil {
		close(g.wake)
		g.wake = nil
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
		g.mu.Lock()
		if g.until.Load() != u { // released meanwhile
			g.mu.Unlock()
			continue
		}
		if g.wake == nil {
			g.wake = make(chan struct{})
		}
		wake := g.wake
		g.mu.Unlock()
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-wake:
			t.Stop()
		case <-t.C:
		}
	}
}
