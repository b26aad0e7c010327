package epmd

import (
	"context"
	"errors"
	"io"
	"log/slog"
)

// Log levels of the server, matching the C epmd's debug levels: LevelAlways
// is printed even without -d (protocol violations, KILL), LevelDebug1 with
// -d, LevelDebug2 with -d -d, LevelDebug3 with -d -d -d.
const (
	LevelAlways = slog.LevelWarn
	LevelDebug1 = slog.LevelInfo
	LevelDebug2 = slog.LevelDebug
	LevelDebug3 = slog.LevelDebug - 4
)

// Log messages. Each is a key of cTexts, which holds its C epmd text; the
// data is in the attributes named in the comment, in that order.
const (
	msgNonLocal         = "request from non local address"       // req, peer
	msgGot              = "got request"                          // req
	msgDropped          = "request dropped"                      // fd, req or code, size, err: an error without a message of its own
	msgGarbage          = "unknown request code"                 // as msgDropped
	msgAlive2Short      = "alive2 request too short"             // as msgDropped
	msgTooShort         = "request too short"                    // as msgDropped
	msgNameLen          = "node name beyond request"             // as msgDropped
	msgExtraLen         = "extra data beyond request"            // as msgDropped
	msgNameNUL          = "nul in node name"                     // as msgDropped
	msgPort2Name        = "invalid node name"                    // as msgDropped
	msgRefused          = "registration refused"                 // node, err (, extra): an error without a message of its own
	msgNameTooLong      = "node name too long"                   // as msgRefused
	msgNameEncoding     = "node name not utf-8"                  // as msgRefused
	msgExtraTooLong     = "extra data too long"                  // as msgRefused
	msgNameInUse        = "node name in use"                     // as msgRefused
	msgRegistered       = "registering"                          // conn, node, creation, port, type, proto, highvsn, lowvsn, fd
	msgUnregistered     = "unregistering"                        // node, creation, port
	msgBytes            = "got bytes"                            // fd, bytes
	msgConnOpen         = "opening connection"                   // conn, fd, local, peer
	msgKeptData         = "data on registration connection"      // fd, n
	msgKeptError        = "error on registration connection"     // fd, err
	msgTimedOut         = "closing because timed out on receive" // fd
	msgPartial          = "got partial packet only"              // fd, got
	msgPacketSize       = "invalid packet size"                  // size
	msgSurplus          = "got more bytes than expected"         // got, want
	msgKillNo           = "disallowed kill, live nodes"
	msgStopNo           = "disallowed stop, no relaxed_command_check"
	msgKill             = "got kill, terminating"
	msgReadError        = "error in read"                    // fd, err
	msgWriteError       = "error in write"                   // fd, err
	msgAcceptError      = "error in accept"                  // err
	msgConnClose        = "closing connection"               // fd
	msgUnregUnknownFD   = "unregister of unknown connection" // fd
	msgUnregUnknownName = "unregister of unknown name"       // node
	msgStopped          = "epmd connection stopped"
	msgKilled           = "epmd killed"
	msgSendFailed       = "failed to send ALIVE2 reply"                // node
	msgAtLimit          = "out of file descriptors, connection closed" // peer
	msgSentAlive2       = "sent ALIVE2 reply"                          // req, node
	msgSentPort2        = "sent PORT2 reply"                           // req, node, result
	msgSentNames        = "sent NAMES reply"                           // req
	msgSentDump         = "sent DUMP reply"                            // req
	msgSentStop         = "sent STOP reply"                            // req, result
	msgNamesTable       = "names table"                                // reg, unreg (level 3)
	// MsgListening and MsgServing are logged by the epmd command at start,
	// before and after opening its sockets (C: -d -d).
	MsgListening = "try to initiate listening port" // port
	// MsgSystemd is logged instead of MsgListening with -systemd (C: -d -d).
	MsgSystemd = "try to obtain sockets from systemd"
	// MsgRunning is logged by the epmd command once its flags are read.
	MsgRunning    = "epmd running"                    // daemon
	msgAddrInUse  = "there is already a epmd running" // port, addr
	msgBindFailed = "failed to bind"                  // addr, err
	MsgServing    = "entering the main select() loop"
	// MsgCannotListen and MsgCannotStart are logged by the epmd command
	// when it stops for an error (err): one that the C epmd prints as it
	// is (its sockets), and one of the command's own (printed after
	// "chaos-epmd: ").
	MsgCannotListen = "cannot listen" // err
	MsgCannotStart  = "cannot start"  // err
)

// cTexts holds the C epmd's text of every message the server logs: a
// format, one line per "\n", and where its arguments come from. A message
// missing here is printed as itself followed by its attributes.
var cTexts = map[string]cText{
	msgNonLocal:     text("%s from non local address", cReq),
	msgGot:          text("** got %s", cReq),
	msgGarbage:      text("got garbage "),
	msgAlive2Short:  text("packet to small for request ALIVE2_REQ (%d)", attr("size")),
	msgTooShort:     text("packet too small for request %s (1)", cReq), // the body is the code alone
	msgNameLen:      text("Node name size error in ALIVE2_REQ"),
	msgExtraLen:     text("Extra info size error in ALIVE2_REQ"),
	msgNameNUL:      text("node name contains ascii 0 in %s", cReq),
	msgPort2Name:    text("invalid node name in PORT2_REQ"),
	msgNameTooLong:  text("node name is too long (%d) %s", length("node"), attr("node")),
	msgNameEncoding: text("invalid node name encoding"),
	msgExtraTooLong: text("extra data is too long (%d) %s", length("extra"), cString("extra")),
	msgNameInUse:    text("node name already occupied %s", attr("node")),
	msgRegistered: text("registering '%s:%d', port %d\ntype %d proto %d highvsn %d lowvsn %d",
		attr("node"), attr("creation"), attr("port"), attr("type"), attr("proto"), attr("highvsn"), attr("lowvsn")),
	msgUnregistered:     text("unregistering '%s:%d', port %d", attr("node"), attr("creation"), attr("port")),
	msgBytes:            {format: "got %d bytes", args: []cArg{length("bytes")}, more: hexDump},
	msgConnOpen:         text("%s peer connected\nopening connection on file descriptor %d", peerKind, attr("fd")),
	msgKeptData:         text("got more than expected on ALIVE socket %d (%d)", attr("fd"), attr("n")),
	msgKeptError:        text("error on ALIVE socket %d (-1; errno=0x%x)", attr("fd"), errno),
	msgTimedOut:         text("closing because timed out on receive"),
	msgPartial:          text("got partial packet only on file descriptor %d (%d)", attr("fd"), attr("got")),
	msgPacketSize:       text("invalid packet size (%d)", attr("size")),
	msgSurplus:          text("got %d bytes in packet, expected %d", attr("got"), attr("want")),
	msgKillNo:           text("Disallowed KILL_REQ, live nodes"),
	msgStopNo:           text("Disallowed STOP_REQ, no relaxed_command_check"),
	msgKill:             text("got KILL_REQ - terminates normal"),
	msgReadError:        text("error in read: %s", strerror),
	msgWriteError:       text("error in write, errno=%d: %s", errno, strerror),
	msgAcceptError:      text("error in accept: %s", strerror),
	msgConnClose:        text("closing connection on file descriptor %d", attr("fd")),
	msgUnregUnknownFD:   text("trying to unregister node with unknown file descriptor %d", attr("fd")),
	msgUnregUnknownName: text("trying to unregister node with unknown name %s", attr("node")),
	msgStopped:          text("epmd connection stopped"),
	msgKilled:           text("epmd killed"),
	msgSendFailed:       text(`** failed to send ALIVE2_RESP for "%s"`, attr("node")),
	msgAtLimit:          text("failed opening connection: out of file descriptors, closed connection from %s", attr("peer")),
	msgSentAlive2:       text(`** sent ALIVE2_RESP for "%s"`, attr("node")),
	msgSentPort2:        text(`** sent PORT2_RESP (%s) for "%s"`, attr("result"), attr("node")),
	msgSentNames:        text("** sent NAMES_RESP"),
	msgSentDump:         text("** sent DUMP_RESP"),
	msgSentStop:         text("** sent STOP_RESP %s", attr("result")),
	msgNamesTable:       {more: namesTable},
	MsgListening:        text("try to initiate listening port %d", attr("port")),
	MsgSystemd:          text("try to obtain sockets from systemd"),
	MsgRunning:          text("epmd running - daemon = %d", flag("daemon")),
	msgAddrInUse:        text("there is already a epmd running at port %d on ipaddr %s", attr("port"), attr("addr")),
	msgBindFailed:       text("failed to bind on ipaddr %s: %s", attr("addr"), attr("err")),
	MsgServing:          text("entering the main select() loop"),
	MsgCannotListen:     text("%s", attr("err")),
	MsgCannotStart:      text("chaos-epmd: %s", attr("err")),
}

// reasons gives the message a refused or dropped request is logged with,
// by the error the codec or the registry returned: the first entry whose
// error matches, for the request kind if it names one.
var reasons = [...]struct {
	err  error
	kind Kind
	msg  string
}{
	{ErrUnknownRequest, 0, msgGarbage},
	{errTooShort, KindAlive2, msgAlive2Short},
	{errTooShort, 0, msgTooShort},
	{errNameLen, 0, msgNameLen},
	{errExtraLen, 0, msgExtraLen},
	{errNameNUL, 0, msgNameNUL},
	{ErrInvalidName, KindPortPlease2, msgPort2Name},
	{errNameTooLong, 0, msgNameTooLong},
	{errNameEncoding, 0, msgNameEncoding},
	{ErrExtraTooLong, 0, msgExtraTooLong},
	{ErrNameInUse, 0, msgNameInUse},
}

func reasonMsg(k Kind, err error, otherwise string) string {
	for _, r := range reasons {
		if (r.kind == 0 || r.kind == k) && errors.Is(err, r.err) {
			return r.msg
		}
	}
	return otherwise
}

// sentMsgs is the message of each request kind's reply.
var sentMsgs = [...]string{
	KindAlive2: msgSentAlive2, KindPortPlease2: msgSentPort2, KindNames: msgSentNames,
	KindDump: msgSentDump, KindStop: msgSentStop,
}

func (s *Server) log0(msg string, attrs ...slog.Attr) {
	if s.logLevels[0] {
		s.log.LogAttrs(context.Background(), LevelAlways, msg, attrs...)
	}
}

func (s *Server) log1(msg string, attrs ...slog.Attr) {
	if s.logLevels[1] {
		s.log.LogAttrs(context.Background(), LevelDebug1, msg, attrs...)
	}
}

func (s *Server) logGot(k Kind) {
	s.log1(msgGot, slog.String("req", k.String()))
}

// logDropped reports a request dropped for the codec's err.
func (s *Server) logDropped(c *Conn, k Kind, body []byte, err error) {
	if !s.logLevels[0] {
		return
	}
	req := slog.String("req", k.String())
	if k == 0 {
		req = slog.Int("code", int(body[0]))
	}
	s.log0(reasonMsg(k, err, msgDropped), slog.Int("fd", c.FD), req, slog.Int("size", len(body)), slog.Any("err", err))
}

// logAlive2Error reports a registration refused for err.
func (s *Server) logAlive2Error(m *Alive2Req, err error) {
	if !s.logLevels[0] {
		return
	}
	msg := reasonMsg(KindAlive2, err, msgRefused)
	if msg == msgExtraTooLong {
		s.log0(msg, slog.String("node", m.Name), slog.Any("err", err), slog.String("extra", string(m.Extra)))
		return
	}
	s.log0(msg, slog.String("node", m.Name), slog.Any("err", err))
}

func (s *Server) logRegistered(n *Node, reg Registry) {
	if s.logLevels[1] {
		s.log1(msgRegistered, slog.Uint64("conn", n.Conn),
			slog.String("node", n.Name), slog.Uint64("creation", uint64(n.CreationFor(n.HighVsn))),
			slog.Int("port", int(n.PortNo)), slog.Int("type", int(n.NodeType)),
			slog.Int("proto", int(n.Protocol)), slog.Int("highvsn", int(n.HighVsn)),
			slog.Int("lowvsn", int(n.LowVsn)), slog.Int("fd", n.FD))
		s.logNamesTable(reg)
	}
}

func (s *Server) logUnregistered(n *Node, reg Registry) {
	// A registration that ends because the daemon does is not logged: the
	// C epmd exits (KILL_REQ, a signal) without unregistering anyone.
	if s.logLevels[1] && !s.isClosing() {
		s.log1(msgUnregistered, slog.String("node", n.Name),
			slog.Uint64("creation", uint64(n.CreationFor(n.HighVsn))), slog.Int("port", int(n.PortNo)))
		s.logNamesTable(reg)
	}
}

// logNamesTable prints the node tables after a change (C: -d -d -d).
func (s *Server) logNamesTable(reg Registry) {
	if s.logLevels[3] {
		s.log.LogAttrs(context.Background(), LevelDebug3, msgNamesTable,
			slog.Any("reg", nodeList(reg.Nodes(nil))), slog.Any("unreg", nodeList(reg.Unused(nil))))
	}
}

// logSent reports a reply sent: result is "ok" or "error" for PORT2 and
// the reply word for STOP; node and result are left out when empty.
func (s *Server) logSent(k Kind, node, result string) {
	if !s.logLevels[1] {
		return
	}
	attrs := make([]slog.Attr, 1, 3)
	attrs[0] = slog.String("req", k.String())
	if node != "" {
		attrs = append(attrs, slog.String("node", node))
	}
	if result != "" {
		attrs = append(attrs, slog.String("result", result))
	}
	s.log1(sentMsgs[k], attrs...)
}

func (s *Server) logBytes(c *Conn, p []byte) {
	s.log.LogAttrs(context.Background(), LevelDebug2, msgBytes,
		slog.Int("fd", c.FD), slog.String("bytes", string(p)))
}

func (s *Server) logConnOpen(c *Conn) {
	if s.logLevels[2] {
		s.log.LogAttrs(context.Background(), LevelDebug2, msgConnOpen, slog.Uint64("conn", c.ID),
			slog.Int("fd", c.FD), slog.Bool("local", c.IsLocal), slog.String("peer", c.RemoteAddr.String()))
	}
}

// logKeptEnd reports what ended a registration connection: data (and its
// dump), or an error; EOF is silent.
func (s *Server) logKeptEnd(c *Conn, data []byte, err error) {
	switch {
	case !s.logLevels[1]:
	case len(data) > 0:
		s.log1(msgKeptData, slog.Int("fd", c.FD), slog.Int("n", len(data)))
		if s.logLevels[2] {
			s.logBytes(c, data)
		}
	case err != nil && !errors.Is(err, io.EOF):
		s.log1(msgKeptError, slog.Int("fd", c.FD), slog.Any("err", err))
	}
}

func (s *Server) logWriteError(c *Conn, err error) {
	s.log0(msgWriteError, slog.Int("fd", c.FD), slog.Any("err", err))
}

func (s *Server) logAcceptError(err error) {
	s.log0(msgAcceptError, slog.Any("err", err))
}
