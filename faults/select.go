package faults

import (
	"context"
	"path"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

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

// selects applies a's selector to r, counting matches.
func (inj *Injector) selects(a *active, r *epmd.Request, now time.Time) bool {
	f := &a.fault
	if !a.reqs.Has(r.Kind) {
		return false
	}
	if f.Node != "" && !a.kind.regNode {
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
