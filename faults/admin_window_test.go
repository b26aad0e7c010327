package faults_test

import (
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/faults"
)

// TestAdminAddedFaultWindow: a fault added through the admin API with
// for= acts for exactly that long, and one added under SetMaxFor without
// for= acts for exactly the cap (virtual time).
func TestAdminAddedFaultWindow(t *testing.T) {
	for _, tt := range []struct {
		name   string
		maxFor time.Duration
		spec   string
		window time.Duration
	}{
		{name: "for= through the API", spec: "reset,req=port_please,for=3", window: 3 * time.Second},
		{name: "no for= under the cap", maxFor: 5 * time.Second, spec: "reset,req=port_please", window: 5 * time.Second},
		{name: "longer for= under the cap", maxFor: 2 * time.Second, spec: "reset,req=port_please,for=1h", window: 2 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBubble(t)
				defer b.close()
				b.inj.SetMaxFor(tt.maxFor)
				b.register("a1", 4000)
				a := &faults.Admin{Injector: b.inj}
				if status, body, _ := adminDo(t, a, http.MethodPost, "/faults", "", tt.spec); status != http.StatusCreated {
					t.Fatalf("POST %q: %d %s", tt.spec, status, body)
				}
				lookup := func() string { return b.send("127.0.0.1", &epmd.PortPlease2Req{Name: "a1"}).bytes() }
				time.Sleep(tt.window - time.Millisecond)
				if got := lookup(); got != "" {
					t.Errorf("PORT_PLEASE2 1 ms before the window closes: %q, want a reset", got)
				}
				time.Sleep(time.Millisecond)
				if got, want := lookup(), port2("a1", 4000); got != want {
					t.Errorf("PORT_PLEASE2 when the window has closed: %q, want %q", got, want)
				}
			})
		})
	}
}
