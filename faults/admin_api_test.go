package faults_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/faults"
)

// adminDo serves one request to a and returns the status and body.
func adminDo(t *testing.T, a http.Handler, method, target, contentType, body string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.RemoteAddr = "127.0.0.1:5000"
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b), rec.Result().Header
}

func specsOf(inj *faults.Injector) []string {
	out := []string{}
	for _, f := range inj.Faults() {
		out = append(out, f.Spec)
	}
	return out
}

// TestAdminAddBodies: POST /faults takes a bare spec whatever the
// Content-Type, several one a line, JSON when the body is JSON; a list is
// installed all or none; errors name the bad spec once.
func TestAdminAddBodies(t *testing.T) {
	long := "delay_write=" + strings.Repeat("x", 2000)
	glob := strings.Repeat("a", epmd.MaxNameBytes+1)
	for _, tt := range []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
		wantBody    string // exact, for errors
		wantList    bool   // a list of entries, else one entry
		wantSpecs   []string
	}{
		{name: "bare spec with curl's form type", contentType: "application/x-www-form-urlencoded", body: "drop,req=names",
			wantStatus: 201, wantSpecs: []string{"drop,req=names"}},
		{name: "bare spec with no type", body: " drop , req=names\n", wantStatus: 201, wantSpecs: []string{"drop,req=names"}},
		{name: "bare spec labelled JSON", contentType: "application/json", body: "drop,req=names",
			wantStatus: 201, wantSpecs: []string{"drop,req=names"}},
		{name: "lines as in a faults file", contentType: "text/plain", body: "# staging\ndrop,req=names\n\ndelay_write=1  # slow\n",
			wantStatus: 201, wantList: true, wantSpecs: []string{"drop,req=names", "delay_write=1"}},
		{name: "JSON object", contentType: "application/json", body: `{"spec":"drop,req=names"}`,
			wantStatus: 201, wantSpecs: []string{"drop,req=names"}},
		{name: "JSON object with form type", contentType: "application/x-www-form-urlencoded", body: `{"spec":"hang,for=5"}`,
			wantStatus: 201, wantSpecs: []string{"hang,for=5"}},
		{name: "JSON list of specs and objects", body: `["drop,req=names", {"spec": "delay_write=1,for=1m"}]`,
			wantStatus: 201, wantList: true, wantSpecs: []string{"drop,req=names", "delay_write=1,for=60"}},
		{name: "unknown JSON field", body: `{"spec":"drop","bogus":1}`, wantStatus: 400,
			wantBody: `{"error":"body: json: unknown field \"bogus\"; want a spec (drop,req=names), several one a line, {\"spec\": SPEC} or a JSON list of SPEC or {\"spec\": SPEC}"}`},
		{name: "unknown field in a list element", body: `["drop",{"spec":"hang","x":2}]`, wantStatus: 400,
			wantBody: `{"error":"body: element 1: json: unknown field \"x\"; want a spec (drop,req=names), several one a line, {\"spec\": SPEC} or a JSON list of SPEC or {\"spec\": SPEC}"}`},
		{name: "object without spec", body: `{}`, wantStatus: 400,
			wantBody: `{"error":"body: no \"spec\"; want a spec (drop,req=names), several one a line, {\"spec\": SPEC} or a JSON list of SPEC or {\"spec\": SPEC}"}`},
		{name: "data after the JSON value", body: `{"spec":"drop"} {"spec":"hang"}`, wantStatus: 400,
			wantBody: `{"error":"body: data after the JSON value; want a spec (drop,req=names), several one a line, {\"spec\": SPEC} or a JSON list of SPEC or {\"spec\": SPEC}"}`},
		{name: "empty body", body: " \n", wantStatus: 400,
			wantBody: `{"error":"body: empty; want a spec (drop,req=names), several one a line, {\"spec\": SPEC} or a JSON list of SPEC or {\"spec\": SPEC}"}`},
		{name: "empty list", body: `[]`, wantStatus: 400,
			wantBody: `{"error":"body: empty list; want a spec (drop,req=names), several one a line, {\"spec\": SPEC} or a JSON list of SPEC or {\"spec\": SPEC}"}`},
		{name: "only comments", contentType: "text/plain", body: "# staging\n\n  # nothing yet\n", wantStatus: 400,
			wantBody: `{"error":"body: only comments; want a spec (drop,req=names), several one a line, {\"spec\": SPEC} or a JSON list of SPEC or {\"spec\": SPEC}"}`},
		{name: "a body of 64 KiB", contentType: "text/plain", body: "drop\n" + strings.Repeat("#", 64<<10-5),
			wantStatus: 201, wantSpecs: []string{"drop"}},
		{name: "a body over 64 KiB", contentType: "text/plain", body: "drop\n" + strings.Repeat("#", 64<<10-4), wantStatus: 413,
			wantBody: `{"error":"request body of 65537 bytes: over the limit of 65536"}`},
		{name: "one bad spec", body: "drop,req=bogus", wantStatus: 400,
			wantBody: `{"error":"bad fault spec: req: unknown request \"bogus\"; want accept|alive2|port_please|names|dump|kill|stop (several joined by |)","key":"req","spec":"drop,req=bogus","msg":"unknown request \"bogus\"; want accept|alive2|port_please|names|dump|kill|stop (several joined by |)"}`},
		{name: "JSON list with a bad spec: none installed", body: `["drop","stall=x"]`, wantStatus: 400,
			wantBody: `{"error":"bad fault spec (2 of 2; none installed): duration: want seconds (5) or a Go duration (200ms)","key":"duration","spec":"stall=x","msg":"want seconds (5) or a Go duration (200ms)","index":1}`},
		{name: "lines with a bad one: none installed", body: "drop\nhang,first=0\n", wantStatus: 400,
			wantBody: `{"error":"bad fault spec (2 of 2; none installed): first: want a whole number from 1 to 2147483647","key":"first","spec":"hang,first=0","msg":"want a whole number from 1 to 2147483647","index":1}`},
		{name: "node glob longer than a node name", body: "drop,node=" + glob, wantStatus: 400,
			wantBody: `{"error":"bad fault spec: node: glob of 1021 bytes; at most 1020 (a node name is at most 255 characters, 1020 bytes)","key":"node","spec":"drop,node=` + glob + `","msg":"glob of 1021 bytes; at most 1020 (a node name is at most 255 characters, 1020 bytes)"}`},
		{name: "a long bad spec is echoed once", body: long, wantStatus: 400,
			wantBody: `{"error":"bad fault spec: duration: want seconds (5) or a Go duration (200ms)","key":"duration","spec":"` + long + `","msg":"want seconds (5) or a Go duration (200ms)"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inj := faults.NewInjector(1, nil)
			defer inj.Close()
			status, body, _ := adminDo(t, &faults.Admin{Injector: inj}, http.MethodPost, "/faults", tt.contentType, tt.body)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", status, tt.wantStatus, body)
			}
			if tt.wantBody != "" && body != tt.wantBody+"\n" {
				t.Errorf("body\n%s\nwant\n%s", body, tt.wantBody)
			}
			if got := specsOf(inj); strings.Join(got, " ") != strings.Join(tt.wantSpecs, " ") {
				t.Errorf("installed %q, want %q", got, tt.wantSpecs)
			}
			if status != http.StatusCreated {
				return
			}
			var one faults.Info
			var list []faults.Info
			if tt.wantList {
				if err := json.Unmarshal([]byte(body), &list); err != nil || len(list) != len(tt.wantSpecs) {
					t.Fatalf("reply %s: want a list of %d entries (%v)", body, len(tt.wantSpecs), err)
				}
			} else if err := json.Unmarshal([]byte(body), &one); err != nil || one.Spec != tt.wantSpecs[0] || one.ID != 1 {
				t.Fatalf("reply %s: want one entry for %q (%v)", body, tt.wantSpecs[0], err)
			}
		})
	}
}

// TestAdminQueryAndMuxErrors: malformed query parameters and the mux's own
// 404 and 405 are JSON errors naming what was wrong.
func TestAdminQueryAndMuxErrors(t *testing.T) {
	a := &faults.Admin{Injector: faults.NewInjector(1, nil)}
	for _, tt := range []struct {
		name, method, target string
		wantStatus           int
		wantBody, wantAllow  string
	}{
		{name: "since not a number", method: "GET", target: "/events?since=abc", wantStatus: 400,
			wantBody: `{"error":"since: want a whole number: the seq of the last event seen, 0 for all kept"}`},
		{name: "since negative", method: "GET", target: "/events?since=-1", wantStatus: 400,
			wantBody: `{"error":"since: want a whole number: the seq of the last event seen, 0 for all kept"}`},
		{name: "follow not a boolean", method: "GET", target: "/events?follow=yes", wantStatus: 400,
			wantBody: `{"error":"follow: want 1 (keep streaming) or 0 (return after the kept events)"}`},
		{name: "405 on /faults", method: "PUT", target: "/faults", wantStatus: 405, wantAllow: "DELETE, GET, HEAD, POST",
			wantBody: `{"error":"method PUT not allowed on /faults: want DELETE, GET, HEAD, POST"}`},
		{name: "405 on /stop", method: "GET", target: "/stop", wantStatus: 405, wantAllow: "POST",
			wantBody: `{"error":"method GET not allowed on /stop: want POST"}`},
		{name: "404", method: "GET", target: "/fault", wantStatus: 404,
			wantBody: `{"error":"no such endpoint: GET /fault (see GET /faults, /nodes, /events, /metrics)"}`},
		{name: "remove of an unknown id", method: "DELETE", target: "/faults/7", wantStatus: 404,
			wantBody: `{"error":"no such fault: 7"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body, hdr := adminDo(t, a, tt.method, tt.target, "", "")
			if status != tt.wantStatus || body != tt.wantBody+"\n" || hdr.Get("Content-Type") != "application/json" {
				t.Errorf("%s %s: %d %s %s, want %d application/json %s", tt.method, tt.target, status, hdr.Get("Content-Type"), body, tt.wantStatus, tt.wantBody)
			}
			if hdr.Get("Allow") != tt.wantAllow {
				t.Errorf("Allow %q, want %q", hdr.Get("Allow"), tt.wantAllow)
			}
		})
	}
}

// TestAdminBearerScheme: the token's scheme is case-insensitive (RFC 7235);
// the token itself is not.
func TestAdminBearerScheme(t *testing.T) {
	a := &faults.Admin{Injector: faults.NewInjector(1, nil), Token: "s3cret"}
	for _, tt := range []struct {
		name, header string
		want         int
	}{
		{name: "Bearer", header: "Bearer s3cret", want: 200},
		{name: "bearer", header: "bearer s3cret", want: 200},
		{name: "BEARER with spaces", header: " BEARER  s3cret ", want: 200},
		{name: "wrong token", header: "bearer S3CRET", want: 401},
		{name: "other scheme", header: "Basic s3cret", want: 401},
		{name: "no scheme", header: "s3cret", want: 401},
		{name: "none", header: "", want: 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := adminDo(t, a, "GET", "/faults", "", "", "Authorization", tt.header)
			if status != tt.want {
				t.Errorf("Authorization %q: %d %s, want %d", tt.header, status, body, tt.want)
			}
		})
	}
}

// TestAdminEventsFollowOptIn: GET /events returns after the kept events;
// with follow=1 it streams later ones too.
func TestAdminEventsFollowOptIn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ec, ac, _ := loopbackServer(t, "")
	reg, err := ec.Register(ctx, &epmd.Alive2Req{Name: "e1", PortNo: 4001, HighVsn: 6, LowVsn: 5})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(ac.URL + "/events?since=0")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body) // ends: no follow=1
	resp.Body.Close()
	if err != nil || strings.Count(string(b), "\n") != 1 || !strings.Contains(string(b), `"type":"registered","node":"e1"`) {
		t.Fatalf("GET /events?since=0: %v\n%s\nwant the one registration", err, b)
	}
	if got := ac.Events(ctx, 1, false, func(faults.Event) error { return errors.New("no event expected") }); got != nil {
		t.Errorf("Events since 1 without follow: %v", got)
	}

	seen := make(chan faults.Event, 4)
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	go func() {
		_ = ac.Events(fctx, 0, true, func(ev faults.Event) error { seen <- ev; return nil })
	}()
	for i, want := range []string{faults.EventRegistered, faults.EventUnregistered} {
		select {
		case ev := <-seen:
			if ev.Type != want || ev.Node != "e1" || ev.Seq != uint64(i+1) {
				t.Errorf("followed event %+v, want %s e1 (seq %d)", ev, want, i+1)
			}
		case <-ctx.Done():
			t.Fatalf("follow=1: no %s event", want)
		}
		if i == 0 {
			// The replay came, so the follower is subscribed: the
			// unregistration can only arrive streamed.
			_ = reg.Close()
		}
	}
}

// TestAdminStop: POST /stop answers 202 and calls OnStop once; without
// OnStop it is refused.
func TestAdminStop(t *testing.T) {
	status, body, _ := adminDo(t, &faults.Admin{Injector: faults.NewInjector(1, nil)}, "POST", "/stop", "", "")
	if status != 501 || body != `{"error":"stop: not enabled on this server"}`+"\n" {
		t.Errorf("POST /stop without OnStop: %d %s", status, body)
	}
	called := make(chan struct{}, 2)
	a := &faults.Admin{Injector: faults.NewInjector(1, nil), OnStop: func() { called <- struct{}{} }}
	hs := newAdminServer(t, a)
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl := &faults.Client{URL: hs.URL}
	for range 2 {
		if err := cl.Stop(ctx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
	}
	select {
	case <-called:
	case <-ctx.Done():
		t.Fatal("OnStop not called")
	}
	if err := cl.Stop(ctx); err != nil || len(called) != 0 {
		t.Errorf("third Stop: %v; OnStop calls after the first: %d, want 0", err, len(called))
	}
}

// TestMaxFor: with a cap every fault gets a for= no longer than the cap;
// the entry says so and GET /faults shows the value in force.
func TestMaxFor(t *testing.T) {
	inj := faults.NewInjector(1, nil)
	defer inj.Close()
	inj.SetMaxFor(10 * time.Minute)
	hs := newAdminServer(t, &faults.Admin{Injector: inj})
	defer hs.Close()
	cl := &faults.Client{URL: hs.URL}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tt := range []struct {
		name, spec, want string
		capped           bool
		window           time.Duration
	}{
		{name: "no for= gets the cap", spec: "drop,req=names", want: "drop,req=names,for=600", capped: true, window: 10 * time.Minute},
		{name: "a longer for= is capped", spec: "hang,for=1h", want: "hang,for=600", capped: true, window: 10 * time.Minute},
		{name: "a shorter for= stays", spec: "delay_write=1,for=90s", want: "delay_write=1,for=90", window: 90 * time.Second},
		{name: "for= equal to the cap stays", spec: "reset,for=10m", want: "reset,for=600", window: 10 * time.Minute},
		{name: "start= is not capped", spec: "crash,start=1h", want: "crash,start=3600,for=600", capped: true, window: 70 * time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			info, err := cl.Add(ctx, tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if info.Spec != tt.want || info.Capped != tt.capped || info.Until.Sub(info.Added) != tt.window {
				t.Errorf("Add %q = spec %q capped %v window %v; want %q %v %v", tt.spec, info.Spec, info.Capped,
					info.Until.Sub(info.Added), tt.want, tt.capped, tt.window)
			}
			list, err := cl.Faults(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := list[len(list)-1]; got.ID != info.ID || got.Spec != tt.want || got.Capped != tt.capped || !got.Until.Equal(info.Until) {
				t.Errorf("GET /faults shows %+v, want %+v", got, info)
			}
		})
	}
	inj.SetMaxFor(0)
	if info, err := inj.AddSpec("drop"); err != nil || info.Spec != "drop" || info.Capped || !info.Until.IsZero() {
		t.Errorf("without a cap: %+v, %v", info, err)
	}
}

// TestClientAddAllAllOrNone: a list with a bad spec installs nothing and
// the error names the bad spec.
func TestClientAddAllAllOrNone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, ac, _ := loopbackServer(t, "")
	_, err := ac.AddAll(ctx, []string{"drop", "bogus"})
	var se *faults.SpecError
	if !errors.As(err, &se) || se.Spec != "bogus" || se.Key != "kind" {
		t.Fatalf("AddAll(drop, bogus): %v, want a *SpecError for bogus", err)
	}
	if list, err := ac.Faults(ctx); err != nil || len(list) != 0 {
		t.Fatalf("after a refused list: %+v, %v; want none installed", list, err)
	}
	infos, err := ac.AddAll(ctx, []string{"drop,req=names", "hang,for=5"})
	if err != nil || len(infos) != 2 || infos[0].ID != 1 || infos[1].ID != 2 || infos[1].Spec != "hang,for=5" {
		t.Fatalf("AddAll = %+v, %v", infos, err)
	}
}

// TestClientNotHTTP: a Client aimed at an epmd port says so, not "EOF".
func TestClientNotHTTP(t *testing.T) {
	ec, _, _ := loopbackServer(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl := &faults.Client{URL: "http://" + ec.Addr}
	_, err := cl.Faults(ctx)
	want := "admin GET /faults: " + ec.Addr + " did not answer HTTP: is it the admin address (-admin), not the epmd port?"
	if !errors.Is(err, faults.ErrNotHTTP) || err.Error() != want {
		t.Errorf("Faults from the epmd port: %v, want %q", err, want)
	}
}

// TestRequestsNeverWaitForTheAdminLock: while the lock that serializes
// fault-list changes is held, requests are still served, the installed
// faults still act, and GET /faults still answers.
func TestRequestsNeverWaitForTheAdminLock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	inj := faults.NewInjector(1, nil)
	srv := &epmd.Server{Middleware: []epmd.Middleware{inj.Middleware}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	a := &faults.Admin{Injector: inj, Server: srv}
	if _, err := inj.AddSpec("drop,req=names"); err != nil {
		t.Fatal(err)
	}
	ec := &epmd.Client{Addr: l.Addr().String(), Timeout: 5 * time.Second}

	unlock := faults.LockFaultList(inj)
	for i := range 20 {
		name := "w" + strconv.Itoa(i)
		reg, err := ec.Register(ctx, &epmd.Alive2Req{Name: name, PortNo: uint16(5000 + i), HighVsn: 6, LowVsn: 5})
		if err != nil {
			unlock()
			t.Fatalf("ALIVE2 %s with the admin lock held: %v", name, err)
		}
		p, err := ec.PortPlease(ctx, name)
		_ = reg.Close()
		if err != nil || p.PortNo != uint16(5000+i) {
			unlock()
			t.Fatalf("PORT_PLEASE2 %s with the admin lock held: %+v, %v", name, p, err)
		}
	}
	if _, _, err := ec.Names(ctx); !errors.Is(err, epmd.ErrNoResponse) {
		t.Errorf("NAMES with drop,req=names and the lock held: %v, want ErrNoResponse", err)
	}
	status, body, _ := adminDo(t, a, "GET", "/faults", "", "")
	unlock()
	if status != 200 || !strings.Contains(body, `"spec":"drop,req=names"`) {
		t.Errorf("GET /faults with the lock held: %d %s", status, body)
	}
}
