package faults_test

// Tests that kill the faults package's surviving mutants (make mutate):
// the exact edges of the spec parser's limits, the metrics' zero series,
// the admin event stream past its first event, and a stall that must not
// outlive the server.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/epmd/epmdtest"
	"github.com/chaos-epmd/chaos-epmd/faults"
)

func TestParseLimitEdges(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		wantKey string // "" for a valid spec
	}{
		{name: "node glob of 1020 bytes", spec: "drop,req=port_please,node=" + strings.Repeat("a", 1020)},
		{name: "node glob of 1021 bytes", spec: "drop,req=port_please,node=" + strings.Repeat("a", 1021), wantKey: "node"},
		{name: "p=1", spec: "drop,p=1"},
		{name: "p just above 1", spec: "drop,p=1.000001", wantKey: "p"},
		{name: "p=0", spec: "drop,p=0", wantKey: "p"},
		{name: "p just above 0", spec: "drop,p=0.000001"},
		{name: "hold_ports of 4096 ports", spec: "hold_ports=1-4096"},
		{name: "hold_ports of 4097 ports", spec: "hold_ports=1-4097", wantKey: "range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := faults.Parse(tt.spec)
			var se *faults.SpecError
			switch {
			case tt.wantKey == "" && err != nil:
				t.Errorf("Parse: %v, want valid", err)
			case tt.wantKey != "" && (!errors.As(err, &se) || se.Key != tt.wantKey):
				t.Errorf("Parse: %v, want a SpecError on %s", err, tt.wantKey)
			}
		})
	}
}

// injectorServer serves an epmd with inj on 127.0.0.1 until the test ends.
func injectorServer(t *testing.T, inj *faults.Injector) (*epmd.Server, *epmd.Client) {
	t.Helper()
	srv := &epmd.Server{Port: 4369, Middleware: []epmd.Middleware{inj.Middleware}}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = srv.Serve(l); close(done) }()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
		_ = inj.Close()
	})
	return srv, &epmd.Client{Addr: l.Addr().String(), Timeout: 5 * time.Second}
}

// TestMetricsOnlyNonZeroSeries: /metrics lists a request series once it
// has counted something, and no series of zero.
func TestMetricsOnlyNonZeroSeries(t *testing.T) {
	inj := faults.NewInjector(1, nil)
	_, c := injectorServer(t, inj)
	if _, _, err := c.Names(context.Background()); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := inj.WriteMetrics(&out, faults.Gauges{}); err != nil {
		t.Fatal(err)
	}
	var series []string
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "chaos_epmd_requests_total{") {
			series = append(series, sc.Text())
		}
	}
	want := []string{
		`chaos_epmd_requests_total{type="accept",result="ok"} 1`,
		`chaos_epmd_requests_total{type="names",result="ok"} 1`,
	}
	if strings.Join(series, "\n") != strings.Join(want, "\n") {
		t.Errorf("request series %q, want %q", series, want)
	}
}

// TestEventStreamFollowsPastTheFirst: a followed event stream goes on
// after each event it sends.
func TestEventStreamFollowsPastTheFirst(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	inj := faults.NewInjector(1, nil)
	srv, c := injectorServer(t, inj)
	hs := newAdminServer(t, &faults.Admin{Injector: inj, Server: srv})
	defer hs.Close()
	ac := &faults.Client{URL: hs.URL}
	got := make(chan faults.Event, 8)
	evCtx, evCancel := context.WithCancel(ctx)
	defer evCancel()
	go func() { _ = ac.Events(evCtx, 0, true, func(ev faults.Event) error { got <- ev; return nil }) }()
	if _, err := ac.Add(ctx, "drop,req=port_please"); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for i := range 3 {
		if _, err := c.PortPlease(ctx, "n"+strconv.Itoa(i)); !errors.Is(err, epmd.ErrNoResponse) {
			t.Fatalf("PORT_PLEASE2 under drop: %v, want %v", err, epmd.ErrNoResponse)
		}
		select {
		case ev := <-got:
			seen = append(seen, ev.Type+" "+ev.Kind+" "+ev.Node)
		case <-ctx.Done():
			t.Fatalf("event %d never came; seen %q", i+1, seen)
		}
	}
	if want := []string{"fault drop n0", "fault drop n1", "fault drop n2"}; strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Errorf("events %q, want %q", seen, want)
	}
}

// TestShutdownDoesNotWaitForAStall: a request held by a stall ends when
// the server shuts down, not when the stall does.
func TestShutdownDoesNotWaitForAStall(t *testing.T) {
	inj := faults.NewInjector(1, nil)
	srv, c := injectorServer(t, inj)
	if _, err := inj.AddSpec("stall=1h"); err != nil {
		t.Fatal(err)
	}
	go func() { _, _, _ = c.Names(context.Background()) }()
	waitForCond(t, "the request held", func() bool { return srv.OpenConns() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown during a stall: %v, want nil before 5s", err)
	}
}

// waitForCond polls cond until it holds or 5 s pass.
func waitForCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !holdsWithin5s(cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// holdsWithin5s polls cond every millisecond until it holds, for at most
// 5 s, and reports whether it did.
func holdsWithin5s(cond func() bool) bool {
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// TestPartialWriteCutAtAWriteEnd: a cut falling exactly at the end of a
// write ends the reply there, with the chosen ending, and the handler is
// told: nothing is logged as sent.
func TestPartialWriteCutAtAWriteEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs logRecorder
		b := newLoggedBubble(t, &logs, "partial_write=4,then=hang,req=names")
		defer b.close()
		x := b.send("127.0.0.1", &epmd.NamesReq{}) // no node: the port is the whole reply
		time.Sleep(time.Hour)
		got, eof := x.result()
		if len(got) != 1 || got[0].Data != "\x00\x00\x11\x11" || eof {
			t.Errorf("read %v (closed %t), want the 4 port bytes and a connection held open", got, eof)
		}
		x.conn.Close() // the hang ends: the handler learns the reply was cut
		synctest.Wait()
		if sent := logs.matching("sent NAMES reply"); len(sent) != 0 {
			t.Errorf("logged %q for a cut reply", sent)
		}
	})
}

// TestBareSecondsLimit: the largest whole number of seconds a Duration
// holds is accepted, one more is refused.
func TestBareSecondsLimit(t *testing.T) {
	max := strconv.FormatInt(math.MaxInt64/int64(time.Second), 10)
	if _, err := faults.Parse("delay_write=" + max); err != nil {
		t.Errorf("delay_write=%s: %v, want valid", max, err)
	}
	over := strconv.FormatInt(math.MaxInt64/int64(time.Second)+1, 10)
	var se *faults.SpecError
	if _, err := faults.Parse("delay_write=" + over); !errors.As(err, &se) || !strings.Contains(se.Msg, "too large") {
		t.Errorf("delay_write=%s: %v, want too large", over, err)
	}
}

// TestHoldPortsHoldsTheWholeRange: every port of the range, the last one
// included, is taken while the fault is installed. The ports are picked
// free on all addresses (a port free on 127.0.0.1 may be in use on
// another); only "taken" is asserted, which stays true if another process
// took one meanwhile.
func TestHoldPortsHoldsTheWholeRange(t *testing.T) {
	lo := epmdtest.Ports(t, 2)
	inj := faults.NewInjector(1, nil)
	defer inj.Close()
	if _, err := inj.AddSpec("hold_ports=" + strconv.Itoa(lo) + "-" + strconv.Itoa(lo+1)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []int{lo, lo + 1} {
		if portFree(p) {
			t.Errorf("port %d of hold_ports=%d-%d free while held", p, lo, lo+1)
		}
	}
	// Without for= there is no window to close: still held a while later.
	time.Sleep(200 * time.Millisecond)
	for _, p := range []int{lo, lo + 1} {
		if portFree(p) {
			t.Errorf("port %d of hold_ports=%d-%d free 200ms later", p, lo, lo+1)
		}
	}
}

// portFree reports whether p can be listened on, on all addresses.
func portFree(p int) bool {
	l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// TestHoldPortsWindowEnds: with for=, the ports are released when the
// window closes (start + for), the fault still installed.
func TestHoldPortsWindowEnds(t *testing.T) {
	lo := epmdtest.Ports(t, 2)
	inj := faults.NewInjector(1, nil)
	defer inj.Close()
	if _, err := inj.AddSpec("hold_ports=" + strconv.Itoa(lo) + ",for=1s"); err != nil {
		t.Fatal(err)
	}
	if portFree(lo) {
		t.Fatalf("port %d free at once under hold_ports=%d,for=1s", lo, lo)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !portFree(lo) {
		if time.Now().After(deadline) {
			t.Fatalf("port %d still held 15s after a window of 1s", lo)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(inj.Faults()); n != 1 {
		t.Errorf("%d faults installed after the window, want 1 (for= ends the window, not the fault)", n)
	}
}

// TestHoldPortsDelayedWindow: with start= and for=, the ports are held
// from start to start+for: not at once, then held, then released.
func TestHoldPortsDelayedWindow(t *testing.T) {
	lo := epmdtest.Ports(t, 2)
	inj := faults.NewInjector(1, nil)
	defer inj.Close()
	if _, err := inj.AddSpec("hold_ports=" + strconv.Itoa(lo) + ",start=1s,for=300ms"); err != nil {
		t.Fatal(err)
	}
	if !portFree(lo) {
		t.Fatalf("port %d held at once under start=1s", lo)
	}
	for _, want := range []bool{false, true} { // held, then free again
		deadline := time.Now().Add(15 * time.Second)
		for portFree(lo) != want {
			if time.Now().After(deadline) {
				t.Fatalf("port %d: free=%v 15s into a window of start=1s,for=300ms, want free=%v", lo, !want, want)
			}
			time.Sleep(5 * time.Millisecond) // polling interval
		}
	}
}

// TestClientErrorTexts: an error reply's message is the error's text, with
// the status; a reply that is not the API's JSON is quoted whole.
func TestClientErrorTexts(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{name: "API error", status: http.StatusInternalServerError, body: `{"error":"boom"}`, want: "admin: boom (HTTP 500)"},
		{name: "not the API", status: http.StatusBadGateway, body: "oops\n", want: "admin: HTTP 502: oops"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer hs.Close()
			_, err := (&faults.Client{URL: hs.URL}).Add(context.Background(), "drop")
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Add: %v, want %q", err, tt.want)
			}
		})
	}
}

// TestClientContentType: the admin client labels a request body as JSON,
// and only a request that has one.
func TestClientContentType(t *testing.T) {
	got := make(chan string, 4)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Method + " " + r.URL.Path + " " + r.Header.Get("Content-Type")
		http.Error(w, `{"error":"test"}`, http.StatusTeapot)
	}))
	defer hs.Close()
	c := &faults.Client{URL: hs.URL}
	ctx := context.Background()
	_, _ = c.Add(ctx, "drop")
	_, _ = c.Faults(ctx)
	want := []string{"POST /faults application/json", "GET /faults "}
	for _, w := range want {
		if g := <-got; g != w {
			t.Errorf("request %q, want %q", g, w)
		}
	}
}

// TestCorruptRandomIsSeeded: corrupt=random flips one byte of each write,
// at a place and with a value from the injector's seed (1): the same
// bytes every run.
func TestCorruptRandomIsSeeded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, "corrupt=random,req=port_please")
		defer b.close()
		b.register("abc", 4711)
		got := b.send("127.0.0.1", &epmd.PortPlease2Req{Name: "abc"}).bytes()
		// The reply with byte 8 (LowVsn's high byte, 0x00) XORed with 0x08.
		want := "w\x00\x12\x67M\x00\x00\x06\x08\x05\x00\x03abc\x00\x00"
		if got != want {
			t.Errorf("corrupted reply % x, want % x", got, want)
		}
	})
}

// TestClientEventsReadError: a broken event stream is an error, not the
// stream's end.
func TestClientEventsReadError(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		_, _ = w.Write(bytes.Repeat([]byte("x"), 70000)) // longer than a line may be
	}))
	defer hs.Close()
	c := &faults.Client{URL: hs.URL}
	err := c.Events(context.Background(), 0, false, func(faults.Event) error { return nil })
	if !errors.Is(err, bufio.ErrTooLong) {
		t.Errorf("Events on a 70000-byte line: %v, want %v", err, bufio.ErrTooLong)
	}
}

// TestProbabilityOneDrawsNothing: p=1 is "always", as no p= is: it draws
// nothing from the seeded source, so the random choices that follow are
// the same.
func TestProbabilityOneDrawsNothing(t *testing.T) {
	var replies []string
	for _, spec := range []string{"corrupt=random,req=port_please", "corrupt=random,req=port_please,p=1"} {
		synctest.Test(t, func(t *testing.T) {
			b := newBubble(t, spec)
			defer b.close()
			b.register("abc", 4711)
			replies = append(replies, b.send("127.0.0.1", &epmd.PortPlease2Req{Name: "abc"}).bytes())
		})
	}
	if replies[0] != replies[1] {
		t.Errorf("with p=1: % x; without p=: % x", replies[1], replies[0])
	}
}

// TestStopIsTracked: a STOP through the injector ends the registration
// in the event stream.
func TestStopIsTracked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t)
		defer b.close()
		b.register("gone", 4711)
		if got := b.send("127.0.0.1", &epmd.StopReq{Name: "gone"}).bytes(); got != "STOPPED" {
			t.Fatalf("STOP = %q", got)
		}
		synctest.Wait()
		past, _, cancel := b.inj.Subscribe(0)
		cancel()
		var seen []string
		for _, ev := range past {
			seen = append(seen, ev.Type+" "+ev.Node)
		}
		if want := []string{"registered gone", "unregistered gone"}; strings.Join(seen, ",") != strings.Join(want, ",") {
			t.Errorf("events %q, want %q", seen, want)
		}
	})
}
