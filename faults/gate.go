package faults

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

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
