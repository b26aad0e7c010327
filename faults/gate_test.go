package faults

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// TestGateHoldsOfTwoFaults: releasing one stall's hold leaves the gate
// closed while another's lasts; waiters then wait for that one.
func TestGateHoldsOfTwoFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g gate
		start := time.Now()
		g.freeze(1, start.Add(time.Hour))
		g.freeze(2, start.Add(10*time.Second))
		g.freeze(2, start.Add(5*time.Second)) // a shorter freeze keeps the longer
		done := make(chan time.Duration, 1)
		go func() {
			if err := g.wait(context.Background()); err != nil {
				t.Error(err)
			}
			done <- time.Since(start)
		}()
		time.Sleep(3 * time.Second)
		g.release(3) // holds nothing: no change
		g.release(1)
		time.Sleep(time.Hour)
		if got := <-done; got != 10*time.Second {
			t.Errorf("waited until %s, want 10s (fault 2's hold)", got)
		}
		g.release(2) // after its end
		if u := g.until.Load(); u != 0 {
			t.Errorf("gate closed until %s after every hold ended", time.Unix(0, u).Sub(start))
		}
	})
}
