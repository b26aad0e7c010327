package epmd

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"strconv"
)

// Kind is the type of a request passed through the handler chain.
type Kind uint8

// Request kinds. KindAccept is the pseudo-request every connection passes
// through the chain with before anything is read from it, so middleware
// can delay, drop or reset connections at accept.
const (
	KindAccept Kind = iota + 1
	KindAlive2
	KindPortPlease2
	KindNames
	KindDump
	KindKill
	KindStop
)

var kindNames = [...]string{
	KindAccept:      "accept",
	KindAlive2:      "alive2",
	KindPortPlease2: "port_please",
	KindNames:       "names",
	KindDump:        "dump",
	KindKill:        "kill",
	KindStop:        "stop",
}

// String returns the kind's name as used in fault specs: accept, alive2,
// port_please, names, dump, kill, stop.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind returns the kind named s (as printed by Kind.String).
func ParseKind(s string) (Kind, bool) {
	for k, name := range kindNames {
		if name != "" && name == s {
			return Kind(k), true
		}
	}
	return 0, false
}

func kindOf(code byte) Kind {
	switch code {
	case CodeAlive2Req:
		return KindAlive2
	case CodePortPlease2Req:
		return KindPortPlease2
	case CodeNamesReq:
		return KindNames
	case CodeDumpReq:
		return KindDump
	case CodeKillReq:
		return KindKill
	case CodeStopReq:
		return KindStop
	}
	return 0
}

// Request is one decoded request on its way through the handler chain.
type Request struct {
	// Kind is the request type.
	Kind Kind
	// Msg is the decoded message: *Alive2Req, *PortPlease2Req,
	// *NamesReq, *DumpReq, *KillReq or *StopReq; nil for KindAccept.
	Msg Message
	// Body is the raw request body, without the length prefix; nil for
	// KindAccept. It is valid only until ServeEPMD returns: the server
	// reuses the buffer.
	Body []byte
	// Conn is the connection the request arrived on.
	Conn *Conn
	// Registry is the node table the request acts on. Middleware may
	// pass a wrapped one down the chain (see WithRegistry).
	Registry Registry
}

// NodeName returns the node name the request is about: the registered
// name of ALIVE2, the looked-up name of PORT_PLEASE2, the stopped name of
// STOP.
func (r *Request) NodeName() (string, bool) {
	switch m := r.Msg.(type) {
	case *Alive2Req:
		return m.Name, true
	case *PortPlease2Req:
		return m.Name, true
	case *StopReq:
		return m.Name, true
	}
	return "", false
}

// WithRegistry returns a shallow copy of r acting on reg.
func (r *Request) WithRegistry(reg Registry) *Request {
	r2 := *r
	r2.Registry = reg
	return &r2
}

// ResponseWriter is the write side of a connection. Every reply byte
// passes through Write, so middleware can delay, cut, split or corrupt
// replies.
type ResponseWriter interface {
	// Write queues p as one reply write: one write() of the C epmd.
	// Queued bytes are sent at the latest when the handler chain returns.
	Write(p []byte) (int, error)
	// Flush sends the queued bytes now.
	Flush() error
	// Close closes the connection at once; unsent bytes are discarded.
	Close() error
	// Reset closes the connection at once with a TCP RST.
	Reset() error
}

// Handler serves one request. ctx is cancelled when the server shuts down.
type Handler interface {
	ServeEPMD(ctx context.Context, w ResponseWriter, r *Request)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, w ResponseWriter, r *Request)

// ServeEPMD calls f.
func (f HandlerFunc) ServeEPMD(ctx context.Context, w ResponseWriter, r *Request) {
	f(ctx, w, r)
}

// Middleware wraps a handler.
type Middleware func(next Handler) Handler

// Chain applies mws to h, the first middleware outermost. With no
// middleware it returns h itself.
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// core is the epmd protocol itself: the innermost handler.
type core struct{ s *Server }

func (h core) ServeEPMD(ctx context.Context, w ResponseWriter, r *Request) {
	switch m := r.Msg.(type) {
	case *Alive2Req:
		h.alive2(w, r, m)
	case *PortPlease2Req:
		h.portPlease2(w, r, m)
	case *NamesReq:
		h.names(w, r)
	case *DumpReq:
		h.dump(w, r)
	case *KillReq:
		h.kill(w, r)
	case *StopReq:
		h.stop(w, r, m)
	}
}

func (h core) alive2(w ResponseWriter, r *Request, m *Alive2Req) {
	s := h.s
	reg := r.Registry
	var node *Node
	err := ValidateAlive2(m)
	if err == nil {
		node, err = reg.Register(Node{
			Name: m.Name, PortNo: m.PortNo, NodeType: m.NodeType, Protocol: m.Protocol,
			HighVsn: m.HighVsn, LowVsn: m.LowVsn, Extra: m.Extra,
			FD: r.Conn.FD, Conn: r.Conn.ID,
		})
	}
	x := Alive2XResp{Result: 1, Creation: ErrorCreation}
	o := Alive2Resp{Result: 1, Creation: ErrorCreation}
	if err != nil {
		s.logAlive2Error(m, err)
	} else {
		s.logRegistered(node, reg)
		c := node.CreationFor(m.HighVsn)
		x, o = Alive2XResp{Creation: c}, Alive2Resp{Creation: uint16(c)}
	}
	reply := x.Append
	if m.HighVsn < 6 {
		reply = o.Append
	}
	// The reply goes out now, in one write, so its failure is known here.
	// As in the C epmd, a failed reply undoes the registration and the
	// connection is not kept; otherwise it is kept even when the
	// registration failed. Deliberate deviation: the C epmd unregisters the
	// name whoever holds it, so a duplicate request reset before its reply
	// removes the original holder — any client could unregister any node.
	// Here only the registration this request made is undone.
	err = writeShort(w, 6, reply)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		if node != nil && reg.Unregister(node) {
			s.logUnregistered(node, reg)
		}
		s.log1(msgSendFailed, slog.String("node", m.Name))
		return
	}
	s.logSent(KindAlive2, m.Name, "")
	r.Conn.keep(node, reg)
}

// writeShort writes a reply of at most size bytes that appendTo renders:
// into the writer's buffer when it is the server's own (no copy of its
// own, which an interface's Write would have to allocate), else through
// w.Write.
func writeShort(w ResponseWriter, size int, appendTo func([]byte) []byte) error {
	if cw, ok := w.(*connWriter); ok {
		return cw.writeAppended(appendTo)
	}
	_, err := w.Write(appendTo(make([]byte, 0, size)))
	return err
}

func (h core) portPlease2(w ResponseWriter, r *Request, m *PortPlease2Req) {
	node, ok := r.Registry.Lookup(m.Name)
	if !ok {
		_, _ = w.Write([]byte{CodePort2Resp, 1})
		h.s.logSent(KindPortPlease2, m.Name, "error")
		return
	}
	resp := Port2Resp{
		PortNo: node.PortNo, NodeType: node.NodeType, Protocol: node.Protocol,
		HighVsn: node.HighVsn, LowVsn: node.LowVsn, Name: node.Name, Extra: node.Extra,
	}
	_ = writeShort(w, 14+len(node.Name)+len(node.Extra), resp.Append)
	h.s.logSent(KindPortPlease2, m.Name, "ok")
}

func (h core) reportedPort(r *Request) uint32 {
	if h.s.Port != 0 {
		return uint32(h.s.Port)
	}
	return uint32(r.Conn.LocalAddr.Port())
}

// names writes the port and then one write per node, as the C epmd does,
// so that delay_write and slicing middleware see each line.
func (h core) names(w ResponseWriter, r *Request) {
	if h.namesCached(w, r) {
		return
	}
	nodes := r.Registry.Nodes(nil)
	buf := make([]byte, 0, 64)
	buf = binary.BigEndian.AppendUint32(buf, h.reportedPort(r))
	if _, err := w.Write(buf); err != nil {
		return
	}
	for _, n := range nodes {
		buf = AppendNamesLine(buf[:0], n.Name, n.PortNo)
		if _, err := w.Write(buf); err != nil {
			return
		}
	}
	h.s.logSent(KindNames, "", "")
}

func (h core) dump(w ResponseWriter, r *Request) {
	buf := binary.BigEndian.AppendUint32(make([]byte, 0, 64), h.reportedPort(r))
	if _, err := w.Write(buf); err != nil {
		return
	}
	for _, n := range r.Registry.Nodes(nil) {
		buf = append(buf[:0], "active name     <"...)
		buf = append(buf, n.Name...)
		buf = append(buf, "> at port "...)
		buf = strconv.AppendUint(buf, uint64(n.PortNo), 10)
		buf = append(buf, ", fd = "...)
		buf = strconv.AppendInt(buf, int64(n.FD), 10)
		buf = append(buf, '\n', 0)
		if _, err := w.Write(buf); err != nil {
			return
		}
	}
	for _, n := range r.Registry.Unused(nil) {
		buf = append(buf[:0], "old/unused name <"...)
		buf = append(buf, n.Name...)
		buf = append(buf, ">, port = "...)
		buf = strconv.AppendUint(buf, uint64(n.PortNo), 10)
		buf = append(buf, ", fd = "...)
		buf = strconv.AppendInt(buf, int64(n.FD), 10)
		buf = append(buf, ' ', '\n', 0)
		if _, err := w.Write(buf); err != nil {
			return
		}
	}
	h.s.logSent(KindDump, "", "")
}

func (h core) kill(w ResponseWriter, r *Request) {
	s := h.s
	if !s.RelaxedCommandCheck && len(r.Registry.Nodes(nil)) > 0 {
		s.log0(msgKillNo)
		_, _ = w.Write([]byte("NO"))
		return
	}
	_, _ = w.Write([]byte("OK"))
	_ = w.Flush()
	s.log1(msgKilled)
	_ = w.Close()
	s.log0(msgKill)
	s.kill()
}

func (h core) stop(w ResponseWriter, r *Request, m *StopReq) {
	s := h.s
	node, ok := r.Registry.UnregisterName(m.Name)
	if !ok {
		s.log1(msgUnregUnknownName, slog.String("node", m.Name))
		if _, err := w.Write([]byte("NOEXIST")); err != nil {
			return
		}
		s.logSent(KindStop, "", "NOEXIST")
	} else {
		s.logUnregistered(node, r.Registry)
		s.closeConn(node.Conn)
		s.log1(msgStopped)
	}
	_, _ = w.Write([]byte("STOPPED"))
	s.logSent(KindStop, "", "STOPPED")
}

// ErrServerKilled is returned by Serve and ListenAndServe after the server
// obeyed a KILL_REQ.
var ErrServerKilled = errors.New("epmd: killed by KILL_REQ")
