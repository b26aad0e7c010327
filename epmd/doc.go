// Package epmd is the Erlang Port Mapper Daemon protocol and server: a
// codec for every message, the node registry with the C epmd's creation
// semantics, a server that behaves byte for byte like OTP's C epmd, and a
// client.
//
// Every request is a frame on its own TCP connection:
//
//	+--------+------+---------------------------------------------+
//	| Len:16 | Code | rest of the body (Len-1 bytes)              |
//	+--------+------+---------------------------------------------+
//	  Len of 0, or of 3058 and more, closes the connection unanswered.
//
//	ALIVE2_REQ   'x' PortNo:16 NodeType:8 Protocol:8 HighVsn:16 LowVsn:16
//	                 Nlen:16 Name Elen:16 Extra
//	  reply      'v' Result:8 Creation:32   (HighVsn >= 6)
//	             'y' Result:8 Creation:16   (HighVsn <  6)
//	  and the connection stays open: it is the registration.
//	PORT_PLEASE2 'z' Name
//	  reply      'w' 0 PortNo:16 NodeType:8 Protocol:8 HighVsn:16 LowVsn:16
//	                 Nlen:16 Name Elen:16 Extra     or   'w' 1
//	NAMES        'n'   reply Port:32 "name %s at port %d\n"...
//	DUMP         'd'   reply Port:32 "active name     <%s> at port %d, fd = %d\n\0"...
//	KILL         'k'   reply "OK" (the server exits) or "NO"
//	STOP         's' Name   reply "STOPPED" or "NOEXISTSTOPPED"
//
// Every request passes through a handler chain (Handler, Middleware,
// ResponseWriter), net/http style: the protocol is the innermost handler,
// and middleware sees each request, each reply write and each new
// connection (KindAccept) — the seam the faults package plugs into. The
// C epmd's own -delay_accept, -delay_write and -packet_timeout knobs are
// middleware too (DelayAccept, DelayWrite, PacketTimeout).
package epmd
