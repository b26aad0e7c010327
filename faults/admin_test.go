package faults_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/faults"
)

// loopbackServer starts an epmd server with an injector on 127.0.0.1:0
// and its admin API; it returns an epmd client and an admin client.
func loopbackServer(t *testing.T, token string) (*epmd.Client, *faults.Client, *epmd.Server) {
	t.Helper()
	inj := faults.NewInjector(1, nil)
	srv := &epmd.Server{Middleware: []epmd.Middleware{inj.Middleware}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	hs := newAdminServer(t, &faults.Admin{Injector: inj, Server: srv, Token: token})
	t.Cleanup(func() {
		hs.Close()
		_ = srv.Close()
		_ = inj.Close()
	})
	return &epmd.Client{Addr: l.Addr().String(), Timeout: 5 * time.Second}, &faults.Client{URL: hs.URL, Token: token}, srv
}

// TestAdminLifecycle: add → fires → event seen → remove → gone, with no
// registration lost.
func TestAdminLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ec, ac, _ := loopbackServer(t, "")
	reg, err := ec.Register(ctx, &epmd.Alive2Req{Name: "a1", PortNo: 4000, NodeType: 77, HighVsn: 6, LowVsn: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()

	events := make(chan faults.Event, 16)
	evCtx, evCancel := context.WithCancel(ctx)
	defer evCancel()
	go func() {
		_ = ac.Events(evCtx, 0, true, func(ev faults.Event) error { events <- ev; return nil })
	}()

	info, err := ac.Add(ctx, "drop,req=port_please , node=a*")
	if err != nil {
		t.Fatal(err)
	}
	if info.Spec != "drop,req=port_please,node=a*" || info.ID == 0 {
		t.Fatalf("Add = %+v", info)
	}
	if _, err := ec.PortPlease(ctx, "a1"); !errors.Is(err, epmd.ErrNoResponse) {
		t.Fatalf("PORT_PLEASE2 a1 with drop: %v, want ErrNoResponse", err)
	}
	for ev := range events {
		if ev.Type == faults.EventFault {
			if ev.Kind != "drop" || ev.Req != "port_please" || ev.Node != "a1" || ev.Peer != "127.0.0.1" || ev.Fault != info.ID || ev.Time.IsZero() {
				t.Errorf("fault event = %+v", ev)
			}
			break
		}
		if ev.Type != faults.EventRegistered || ev.Node != "a1" {
			t.Errorf("unexpected event %+v", ev)
		}
	}
	list, err := ac.Faults(ctx)
	if err != nil || len(list) != 1 || list[0].Fired != 1 {
		t.Fatalf("Faults = %+v, %v", list, err)
	}
	if err := ac.Remove(ctx, info.ID); err != nil {
		t.Fatal(err)
	}
	if err := ac.Remove(ctx, info.ID); !errors.Is(err, faults.ErrNoFault) {
		t.Errorf("second Remove: %v, want ErrNoFault", err)
	}
	if list, err := ac.Faults(ctx); err != nil || len(list) != 0 {
		t.Errorf("Faults after remove = %+v, %v", list, err)
	}
	if p, err := ec.PortPlease(ctx, "a1"); err != nil || p.PortNo != 4000 {
		t.Errorf("PORT_PLEASE2 a1 after remove: %+v, %v", p, err)
	}
	nodes, err := ac.Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].Name != "a1" || nodes[0].Port != 4000 {
		t.Errorf("Nodes = %+v, %v", nodes, err)
	}
	select {
	case <-reg.Done():
		t.Error("registration lost")
	default:
	}

	if _, err := ac.Add(ctx, "drop,req=bogus"); err == nil {
		t.Error("Add of a bad spec succeeded")
	} else {
		var se *faults.SpecError
		if !errors.As(err, &se) || se.Key != "req" {
			t.Errorf("Add of a bad spec: %v, want a *SpecError for req", err)
		}
	}
	if _, err := ac.Add(ctx, "delay_write=1"); err != nil {
		t.Fatal(err)
	}
	if err := ac.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	// Two figures are recorded after the client has its answer. The
	// ALIVE2 reply is sent inside the handler (a failed write must undo
	// the registration), and the injector counts a request when the
	// handler returns; the server closes a connection, which the client
	// reads as the end of its reply, before it forgets it. The client can
	// be on to its next request before either when the serving thread
	// loses its CPU right after the write: with another package's tests
	// built and run beside these, one read of the metrics found the last
	// PORT_PLEASE2 still open (open_connections 2) in 1 run of 6, and the
	// ALIVE2 not yet counted in 3 runs of 64. So read until every line is
	// there, for at most 5 s.
	wants := []string{
		`chaos_epmd_requests_total{type="alive2",result="ok"} 1`,
		`chaos_epmd_requests_total{type="port_please",result="no_reply"} 1`,
		`chaos_epmd_requests_total{type="port_please",result="ok"} 1`,
		`chaos_epmd_faults_fired_total{kind="drop"} 1`,
		"chaos_epmd_registered_nodes 1",
		"chaos_epmd_open_connections 1",
		"chaos_epmd_faults_active 0",
	}
	var m string
	var lacks []string
	if !holdsWithin5s(func() bool {
		var err error
		if m, err = ac.Metrics(ctx); err != nil {
			t.Fatal(err)
		}
		lacks = lacks[:0]
		for _, want := range wants {
			if !strings.Contains(m, want+"\n") {
				lacks = append(lacks, want)
			}
		}
		return len(lacks) == 0
	}) {
		t.Fatalf("metrics lack %q after 5 s:\n%s", lacks, m)
	}
}

func TestAdminAccess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, ac, _ := loopbackServer(t, "s3cret")
	if _, err := ac.Faults(ctx); err != nil {
		t.Errorf("with the token: %v", err)
	}
	wrong := &faults.Client{URL: ac.URL, Token: "guess"}
	if _, err := wrong.Faults(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: %v, want HTTP 401", err)
	}
	none := &faults.Client{URL: ac.URL}
	if _, err := none.Add(ctx, "drop"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("no token: %v, want HTTP 401", err)
	}

	// Without a token only loopback clients are served.
	a := &faults.Admin{Injector: faults.NewInjector(1, nil)}
	for _, tt := range []struct {
		name   string
		remote string
		want   int
	}{
		{name: "v4 loopback", remote: "127.0.0.1:5000", want: http.StatusOK},
		{name: "v6 loopback", remote: "[::1]:5000", want: http.StatusOK},
		{name: "other host", remote: "10.0.0.1:5000", want: http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/faults", nil)
			req.RemoteAddr = tt.remote
			rec := httptest.NewRecorder()
			a.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("GET /faults from %s: %d, want %d", tt.remote, rec.Code, tt.want)
			}
		})
	}
}

// TestAdminBrowserGuards: a page of another site cannot use the API
// through the user's browser. A request whose Origin is not the API's
// own is refused, token or not; without a token, so is a request whose
// Host is not a loopback name (DNS rebinding). The API's own page, and
// clients that send no Origin, are served.
func TestAdminBrowserGuards(t *testing.T) {
	const (
		evilHost   = `Host \"evil.example:4380\" is not a loopback name: with no token configured the API answers only requests addressed to localhost or a loopback address`
		evilOrigin = `Origin \"http://evil.example\" is not this API's (http://127.0.0.1:4380): requests from another site's pages are refused`
	)
	for _, tt := range []struct {
		name, token, method, host, origin, auth string
		want                                    int
		wantBody                                string
	}{
		{name: "no token, localhost", method: "GET", host: "localhost:4380", want: 200},
		{name: "no token, a name under localhost", method: "GET", host: "app.localhost", want: 200},
		{name: "no token, v6 loopback", method: "GET", host: "[::1]:4380", want: 200},
		{name: "no token, 127.0.0.2", method: "GET", host: "127.0.0.2", want: 200},
		{name: "no token, another name (DNS rebinding)", method: "GET", host: "evil.example:4380", want: 403,
			wantBody: `{"error":"` + evilHost + `"}`},
		{name: "no token, the API's own page adds a fault", method: "POST", host: "127.0.0.1:4380",
			origin: "http://127.0.0.1:4380", want: 201},
		{name: "no token, another site's page adds a fault", method: "POST", host: "127.0.0.1:4380",
			origin: "http://evil.example", want: 403, wantBody: `{"error":"` + evilOrigin + `"}`},
		{name: "token, another site's page with the token", token: "s3cret", method: "POST", host: "127.0.0.1:4380",
			origin: "http://evil.example", auth: "Bearer s3cret", want: 403, wantBody: `{"error":"` + evilOrigin + `"}`},
		{name: "token, any Host", token: "s3cret", method: "GET", host: "epmd.example:4380", auth: "Bearer s3cret", want: 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inj := faults.NewInjector(1, nil)
			req := httptest.NewRequest(tt.method, "/faults", strings.NewReader("drop"))
			req.RemoteAddr = "127.0.0.1:5000"
			req.Host = tt.host
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			(&faults.Admin{Injector: inj, Token: tt.token}).ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("%s /faults: %d %s, want %d", tt.method, rec.Code, rec.Body, tt.want)
			}
			if tt.wantBody != "" && strings.TrimSpace(rec.Body.String()) != tt.wantBody {
				t.Errorf("body %s, want %s", rec.Body, tt.wantBody)
			}
			if installed := len(inj.Faults()); tt.method == "POST" && installed != map[bool]int{true: 1, false: 0}[tt.want == 201] {
				t.Errorf("%d faults installed after %d", installed, rec.Code)
			}
		})
	}
}
