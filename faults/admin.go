package faults

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
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
//	GET    /faults           the installed faults: [{"id","spec","fired","added"}]
//	POST   /faults           install one: {"spec":"drop,req=names"} (or the spec as text/plain); 201 and its entry
//	DELETE /faults/{id}      remove one: 204, or 404
//	DELETE /faults           remove all: 204
//	GET    /nodes            the registrations: [{"name","port","node_type",...}]
//	GET    /events           NDJSON event stream; ?since=SEQ replays kept events after SEQ
//	                         (default: all kept), ?follow=0 returns after the replay
//	GET    /metrics          Prometheus text format
//	GET    /                 the page (page.go): nodes, faults, timeline, counters; served without the token
//
// Errors are {"error": "..."} (with "key" and "spec" for a bad spec, 400).
// With Token set every request must carry "Authorization: Bearer TOKEN";
// without it only loopback clients are served.
type Admin struct {
	// Injector is the fault list the API controls.
	Injector *Injector
	// Server supplies the registrations and the connection count; nil
	// reports none.
	Server *epmd.Server
	// Token, when set, is required of every request.
	Token string

	once sync.Once
	mux  *http.ServeMux
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
	a.mux.ServeHTTP(w, r)
}

func (a *Admin) allowed(w http.ResponseWriter, r *http.Request) bool {
	if a.Token != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
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
	a.mux = m
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

func (a *Admin) add(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Spec string `json:"spec"`
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSpecBody))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "read body: " + err.Error()})
		return
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		body.Spec = strings.TrimSpace(string(raw))
	} else if err := json.Unmarshal(raw, &body); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: `want {"spec": "..."}: ` + err.Error()})
		return
	}
	info, err := a.Injector.AddSpec(body.Spec)
	if err != nil {
		var se *SpecError
		errors.As(err, &se)
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error(), Key: se.Key, Spec: se.Spec, Msg: se.Msg})
		return
	}
	writeJSON(w, http.StatusCreated, info)
}

func (a *Admin) events(w http.ResponseWriter, r *http.Request) {
	since, _ := strconv.ParseUint(r.URL.Query().Get("since"), 10, 64)
	follow := r.URL.Query().Get("follow") != "0" && r.URL.Query().Get("follow") != "false"
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
