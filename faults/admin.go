package faults

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// ErrNoFault is returned when no installed fault has the given id.
var ErrNoFault = errors.New("no such fault")

// Admin is the JSON HTTP control API of an injector and its server:
//
//	GET    /faults           the installed faults: [{"id","spec","fired","added","until","capped"}]
//	POST   /faults           install faults, all or none (see below); 201 and their entries
//	DELETE /faults/{id}      remove one: 204, or 404
//	DELETE /faults           remove all: 204
//	GET    /nodes            the registrations: [{"name","port","node_type",...}]
//	GET    /events           NDJSON: the kept events after ?since=SEQ (default 0: all kept),
//	                         then, with ?follow=1, every later one until the client leaves
//	GET    /metrics          Prometheus text format
//	POST   /stop             end the daemon (OnStop): 202
//	GET    /                 the page (page.go): nodes, faults, timeline, counters; served without the token
//
// A POST /faults body is a spec (drop,req=names) or several, one a line
// as in a faults file, whatever the Content-Type says; or, when it starts
// with { or [, JSON: {"spec": SPEC}, or a list whose elements are SPEC or
// {"spec": SPEC}. One spec (text of one line, or an object) is answered
// with its entry, a list with the list of entries. Either every spec is
// installed or, when one is bad, none.
//
// Every reply but /events and /metrics is JSON, errors included:
// {"error": "..."}; a bad spec adds "spec", "key", "msg" and, in a list,
// "index" (from 0). Unknown JSON fields and malformed query parameters are
// refused (400). With Token set every request must carry
// "Authorization: Bearer TOKEN" (the scheme in any case); without it only
// loopback clients are served.
type Admin struct {
	// Injector is the fault list the API controls.
	Injector *Injector
	// Server supplies the registrations and the connection count; nil
	// reports none.
	Server *epmd.Server
	// Token, when set, is required of every request.
	Token string
	// OnStop, when set, is called once, in its own goroutine, after the
	// reply to the first POST /stop is written; it should end the daemon
	// as SIGTERM does. Without it POST /stop is refused (501).
	OnStop func()

	once     sync.Once
	table    []route
	stopOnce sync.Once
	http     httpServer
}

// NodeInfo is one registration as the API lists it.
type NodeInfo struct {
	Name     string `json:"name"`
	Port     uint16 `json:"port"`
	NodeType uint8  `json:"node_type"`
	Protocol uint8  `json:"protocol"`
	HighVsn  uint16 `json:"high_vsn"`
	LowVsn   uint16 `json:"low_vsn"`
	Extra    []byte `json:"extra"`
	Creation uint32 `json:"creation"`
	FD       int    `json:"fd"`
	Conn     uint64 `json:"conn"`
}

// apiError is the body of an error reply.
type apiError struct {
	Error string `json:"error"`
	Key   string `json:"key,omitempty"`
	Spec  string `json:"spec,omitempty"`
	Msg   string `json:"msg,omitempty"`
	// Index is the position of the bad spec in a list, from 0.
	Index *int `json:"index,omitempty"`
}

// Serve answers the API's requests on l (HTTP/1.1, see httpd.go) until l
// fails or Close is called; it then returns ErrAdminClosed or the
// listener's error.
func (a *Admin) Serve(l net.Listener) error {
	a.once.Do(a.routes)
	return a.http.serve(l)
}

// Close closes the listeners Serve was given and every connection, event
// streams included.
func (a *Admin) Close() error { return a.http.close() }

// serve serves one request: the page, else the API once the client is
// allowed.
func (a *Admin) serve(w *response, r *request) {
	if a.servePage(w, r) {
		return
	}
	if !a.allowed(w, r) {
		return
	}
	for _, rt := range a.table {
		id, ok := rt.match(r.Path)
		if !ok {
			continue
		}
		m := r.Method
		if m == "HEAD" {
			m = "GET" // as GET, with the body left out
		}
		h := rt.methods[m]
		if h == nil {
			allow := rt.allow()
			w.setHeader("Allow", allow)
			writeJSON(w, 405, apiError{Error: fmt.Sprintf("method %s not allowed on %s: want %s", r.Method, r.Path, allow)})
			return
		}
		r.pathID = id
		h(w, r)
		return
	}
	writeJSON(w, 404, apiError{Error: fmt.Sprintf("no such endpoint: %s %s (see GET /faults, /nodes, /events, /metrics)", r.Method, r.Path)})
}

// route is a path of the API and its handler per method. A path ending
// in "/{id}" matches any one segment there.
type route struct {
	path    string
	methods map[string]handlerFunc
}

func (rt route) match(path string) (id string, ok bool) {
	prefix, wild := strings.CutSuffix(rt.path, "{id}")
	if !wild {
		return "", path == rt.path
	}
	id, ok = strings.CutPrefix(path, prefix)
	return id, ok && id != "" && !strings.Contains(id, "/")
}

// allow is the route's Allow field: its methods, HEAD with GET, sorted.
func (rt route) allow() string {
	var ms []string
	for m := range rt.methods {
		ms = append(ms, m)
		if m == "GET" {
			ms = append(ms, "HEAD")
		}
	}
	slices.Sort(ms)
	return strings.Join(ms, ", ")
}

// bearer returns the credentials of an "Authorization: Bearer X" header;
// the scheme is case-insensitive (RFC 7235).
func bearer(h string) (string, bool) {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(cred), true
}

func (a *Admin) allowed(w *response, r *request) bool {
	refuse := func(status int, msg string) bool {
		w.close = true // a refused client gets no kept connection to try again on
		writeJSON(w, status, apiError{Error: msg})
		return false
	}
	// A browser names the page a request comes from: a page of another
	// site must not add faults or stop the daemon through the user's
	// browser (a form or a no-cors fetch can send a POST anywhere).
	if o := r.Header("Origin"); o != "" && o != "http://"+r.Header("Host") {
		return refuse(403, fmt.Sprintf("Origin %q is not this API's (http://%s): requests from another site's pages are refused", o, r.Header("Host")))
	}
	if a.Token != "" {
		got, ok := bearer(r.Header("Authorization"))
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.Token)) != 1 {
			w.setHeader("WWW-Authenticate", `Bearer realm="chaos-epmd"`)
			return refuse(401, "missing or wrong token")
		}
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	ip, perr := netip.ParseAddr(host)
	if err != nil || perr != nil || !ip.Unmap().IsLoopback() {
		return refuse(403, "loopback clients only (no token configured)")
	}
	// A page whose site name has been made to resolve to 127.0.0.1 (DNS
	// rebinding) reaches a loopback API with that name as the Host.
	if h := r.Header("Host"); h != "" && !loopbackName(h) {
		return refuse(403, fmt.Sprintf("Host %q is not a loopback name: with no token configured the API answers only requests addressed to localhost or a loopback address", h))
	}
	return true
}

// loopbackName reports whether the Host field hostport names this
// machine's loopback: localhost (or a name under it) or a loopback
// address, with or without a port.
func loopbackName(hostport string) bool {
	h := hostport
	if sh, _, err := net.SplitHostPort(hostport); err == nil {
		h = sh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Unmap().IsLoopback()
	}
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

func (a *Admin) routes() {
	a.http.handler = a.serve
	a.table = []route{
		{"/faults", map[string]handlerFunc{
			"GET":    func(w *response, r *request) { writeJSON(w, 200, a.Injector.Faults()) },
			"POST":   a.add,
			"DELETE": func(w *response, r *request) { a.Injector.Clear(); w.writeHeader(204) },
		}},
		{"/faults/{id}", map[string]handlerFunc{"DELETE": func(w *response, r *request) {
			id, err := strconv.ParseUint(r.pathID, 10, 64)
			if err != nil || !a.Injector.Remove(id) {
				writeJSON(w, 404, apiError{Error: ErrNoFault.Error() + ": " + r.pathID})
				return
			}
			w.writeHeader(204)
		}}},
		{"/nodes", map[string]handlerFunc{"GET": func(w *response, r *request) { writeJSON(w, 200, a.nodes()) }}},
		{"/events", map[string]handlerFunc{"GET": a.events}},
		{"/metrics", map[string]handlerFunc{"GET": func(w *response, r *request) {
			g := Gauges{RegisteredNodes: len(a.nodes())}
			if a.Server != nil {
				g.OpenConnections = a.Server.OpenConns()
			}
			w.setHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			_ = a.Injector.WriteMetrics(w, g)
		}}},
		{"/stop", map[string]handlerFunc{"POST": a.stop}},
	}
}

func (a *Admin) stop(w *response, r *request) {
	if a.OnStop == nil {
		writeJSON(w, 501, apiError{Error: "stop: not enabled on this server"})
		return
	}
	writeJSON(w, 202, map[string]bool{"stopping": true})
	_ = w.finish() // the reply is out before the daemon starts to end
	a.stopOnce.Do(func() { go a.OnStop() })
}

func (a *Admin) nodes() []NodeInfo {
	out := []NodeInfo{}
	if a.Server == nil {
		return out
	}
	for _, n := range a.Server.NodeTable().Nodes(nil) {
		out = append(out, NodeInfo{Name: n.Name, Port: n.PortNo, NodeType: n.NodeType, Protocol: n.Protocol,
			HighVsn: n.HighVsn, LowVsn: n.LowVsn, Extra: n.Extra, Creation: n.Creation, FD: n.FD, Conn: n.Conn})
	}
	return out
}

// wantBody names the accepted forms of a POST /faults body.
const wantBody = `want a spec (drop,req=names), several one a line, {"spec": SPEC} or a JSON list of SPEC or {"spec": SPEC}`

func (a *Admin) add(w *response, r *request) {
	specs, one, err := readSpecs(r.Body)
	if err != nil {
		writeJSON(w, 400, apiError{Error: "body: " + err.Error()})
		return
	}
	fs := make([]Fault, len(specs))
	for i, spec := range specs {
		if fs[i], err = Parse(spec); err != nil {
			var se *SpecError
			errors.As(err, &se)
			e := apiError{Error: "bad fault spec: " + se.Key + ": " + se.Msg, Key: se.Key, Spec: se.Spec, Msg: se.Msg}
			if !one {
				e.Index = &i
				e.Error = fmt.Sprintf("bad fault spec (%d of %d; none installed): %s: %s", i+1, len(specs), se.Key, se.Msg)
			}
			writeJSON(w, 400, e)
			return
		}
	}
	infos, err := a.Injector.AddList(fs)
	if err != nil {
		writeJSON(w, 400, apiError{Error: err.Error()})
		return
	}
	if one {
		writeJSON(w, 201, infos[0])
		return
	}
	writeJSON(w, 201, infos)
}

// readSpecs reads a POST /faults body (see Admin); one reports a single
// spec, answered with a single entry.
func readSpecs(raw []byte) (specs []string, one bool, err error) {
	body := bytes.TrimSpace(raw)
	type object struct {
		Spec *string `json:"spec"`
	}
	decode := func(b []byte, v any) error {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return err
		}
		if dec.More() {
			return errors.New("data after the JSON value")
		}
		return nil
	}
	specOf := func(b []byte) (string, error) {
		var o object
		if err := decode(b, &o); err != nil {
			return "", fmt.Errorf("%v; %s", err, wantBody)
		}
		if o.Spec == nil {
			return "", fmt.Errorf(`no "spec"; %s`, wantBody)
		}
		return *o.Spec, nil
	}
	switch {
	case len(body) == 0:
		return nil, false, errors.New("empty; " + wantBody)
	case body[0] == '{':
		spec, err := specOf(body)
		return []string{spec}, true, err
	case body[0] == '[':
		var list []json.RawMessage
		if err := decode(body, &list); err != nil {
			return nil, false, fmt.Errorf("%v; %s", err, wantBody)
		}
		if len(list) == 0 {
			return nil, false, errors.New("empty list; " + wantBody)
		}
		for i, el := range list {
			var spec string
			if json.Unmarshal(el, &spec) != nil {
				if spec, err = specOf(el); err != nil {
					return nil, false, fmt.Errorf("element %d: %w", i, err)
				}
			}
			specs = append(specs, spec)
		}
		return specs, false, nil
	}
	for line := range strings.Lines(string(body)) {
		if spec, _, _ := strings.Cut(line, "#"); strings.TrimSpace(spec) != "" {
			specs = append(specs, strings.TrimSpace(spec))
		}
	}
	if len(specs) == 0 {
		return nil, false, errors.New("only comments; " + wantBody)
	}
	return specs, len(specs) == 1, nil
}

// queryUint reads the query parameter key as a whole number (0 when absent).
func queryUint(r *request, key, want string) (uint64, error) {
	v := r.Query.Get(key)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: want %s", key, want)
	}
	return n, nil
}

func (a *Admin) events(w *response, r *request) {
	since, err := queryUint(r, "since", "a whole number: the seq of the last event seen, 0 for all kept")
	follow := false
	if v := r.Query.Get("follow"); v != "" && err == nil {
		if follow, err = strconv.ParseBool(v); err != nil {
			err = errors.New("follow: want 1 (keep streaming) or 0 (return after the kept events)")
		}
	}
	if err != nil {
		writeJSON(w, 400, apiError{Error: err.Error()})
		return
	}
	past, ch, cancel := a.Injector.Subscribe(since)
	defer cancel()
	w.setHeader("Content-Type", "application/x-ndjson")
	w.setHeader("Cache-Control", "no-cache")
	w.writeHeader(200)
	enc := json.NewEncoder(w)
	for _, ev := range past {
		if enc.Encode(ev) != nil {
			return
		}
	}
	if !follow || r.Method == "HEAD" {
		return // sent whole, with its Content-Length
	}
	if w.Flush() != nil {
		return
	}
	gone := r.clientGone()
	for {
		select {
		case <-gone:
			return
		case ev := <-ch:
			if enc.Encode(ev) != nil || w.Flush() != nil {
				return
			}
		}
	}
}
