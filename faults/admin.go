package faults

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
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
	mux      *http.ServeMux
	stopOnce sync.Once
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

// ServeHTTP implements http.Handler.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.once.Do(a.routes)
	if a.servePage(w, r) {
		return
	}
	if !a.allowed(w, r) {
		return
	}
	if _, pattern := a.mux.Handler(r); pattern == "" {
		// The mux's own 404 and 405 replies are plain text: make them JSON.
		w = &muxErrorWriter{ResponseWriter: w, r: r}
	}
	a.mux.ServeHTTP(w, r)
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

func (a *Admin) allowed(w http.ResponseWriter, r *http.Request) bool {
	if a.Token != "" {
		got, ok := bearer(r.Header.Get("Authorization"))
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.Token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="chaos-epmd"`)
			writeJSON(w, http.StatusUnauthorized, apiError{Error: "missing or wrong token"})
			return false
		}
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	ip, perr := netip.ParseAddr(host)
	if err != nil || perr != nil || !ip.Unmap().IsLoopback() {
		writeJSON(w, http.StatusForbidden, apiError{Error: "loopback clients only (no token configured)"})
		return false
	}
	return true
}

func (a *Admin) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.Injector.Faults())
	})
	m.HandleFunc("POST /faults", a.add)
	m.HandleFunc("DELETE /faults", func(w http.ResponseWriter, r *http.Request) {
		a.Injector.Clear()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("DELETE /faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
		if err != nil || !a.Injector.Remove(id) {
			writeJSON(w, http.StatusNotFound, apiError{Error: ErrNoFault.Error() + ": " + r.PathValue("id")})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("GET /nodes", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.nodes())
	})
	m.HandleFunc("GET /events", a.events)
	m.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		g := Gauges{RegisteredNodes: len(a.nodes())}
		if a.Server != nil {
			g.OpenConnections = a.Server.OpenConns()
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_ = a.Injector.WriteMetrics(w, g)
	})
	m.HandleFunc("POST /stop", a.stop)
	a.mux = m
}

// muxErrorWriter turns the ServeMux's plain-text 404 and 405 replies into
// JSON errors like the API's others.
type muxErrorWriter struct {
	http.ResponseWriter
	r    *http.Request
	done bool
}

func (e *muxErrorWriter) WriteHeader(code int) {
	var msg string
	switch code {
	case http.StatusNotFound:
		msg = fmt.Sprintf("no such endpoint: %s %s (see GET /faults, /nodes, /events, /metrics)", e.r.Method, e.r.URL.Path)
	case http.StatusMethodNotAllowed:
		msg = fmt.Sprintf("method %s not allowed on %s: want %s", e.r.Method, e.r.URL.Path, e.Header().Get("Allow"))
	default:
		e.ResponseWriter.WriteHeader(code)
		return
	}
	e.Header().Del("X-Content-Type-Options")
	writeJSON(e.ResponseWriter, code, apiError{Error: msg})
	e.done = true
}

func (e *muxErrorWriter) Write(b []byte) (int, error) {
	if e.done {
		return len(b), nil
	}
	return e.ResponseWriter.Write(b)
}

func (a *Admin) stop(w http.ResponseWriter, r *http.Request) {
	if a.OnStop == nil {
		writeJSON(w, http.StatusNotImplemented, apiError{Error: "stop: not enabled on this server"})
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]bool{"stopping": true})
	_ = http.NewResponseController(w).Flush()
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

// maxSpecBody bounds a POST /faults body.
const maxSpecBody = 64 << 10

// wantBody names the accepted forms of a POST /faults body.
const wantBody = `want a spec (drop,req=names), several one a line, {"spec": SPEC} or a JSON list of SPEC or {"spec": SPEC}`

func (a *Admin) add(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSpecBody))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "read body: " + err.Error()})
		return
	}
	specs, one, err := readSpecs(raw)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "body: " + err.Error()})
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
			writeJSON(w, http.StatusBadRequest, e)
			return
		}
	}
	infos, err := a.Injector.AddList(fs)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	if one {
		writeJSON(w, http.StatusCreated, infos[0])
		return
	}
	writeJSON(w, http.StatusCreated, infos)
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
func queryUint(r *http.Request, key, want string) (uint64, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: want %s", key, want)
	}
	return n, nil
}

func (a *Admin) events(w http.ResponseWriter, r *http.Request) {
	since, err := queryUint(r, "since", "a whole number: the seq of the last event seen, 0 for all kept")
	follow := false
	if v := r.URL.Query().Get("follow"); v != "" && err == nil {
		if follow, err = strconv.ParseBool(v); err != nil {
			err = errors.New("follow: want 1 (keep streaming) or 0 (return after the kept events)")
		}
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	past, ch, cancel := a.Injector.Subscribe(since)
	defer cancel()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	for _, ev := range past {
		if enc.Encode(ev) != nil {
			return
		}
	}
	if rc.Flush() != nil || !follow {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case ev := <-ch:
			if enc.Encode(ev) != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
