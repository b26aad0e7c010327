package faults

import (
	"maps"
	"slices"
)

// kindInfo describes one fault kind: its spec syntax and which requests it
// can act on. Adding a kind means one file with its Action type and one
// line here (and an entry in README.md).
type kindInfo struct {
	// syntax is the kind's spec form, for messages.
	syntax string
	// arg names the kind's argument ("duration", "bytes", ...); "" when it
	// takes none.
	arg string
	// keys are the kind's own keys besides the selectors.
	keys []string
	// acts is the set of request kinds it can act on; def is the set used
	// when the spec has no req=.
	acts, def ReqSet
	// daemon marks kinds that act on the whole daemon: only start= and
	// for= apply.
	daemon bool
	// regNode makes node= select registrations rather than the request's
	// node name.
	regNode bool
	// parse builds the Action from the argument and the kind's keys.
	parse func(arg string, opts map[string]string) (Action, *partError)
	// summary is the kind's one-line effect, for the catalogue.
	summary string
	// example is a valid spec of the kind.
	example string
}

// kinds is the table of fault kinds, by spec name.
var kinds = map[string]kindInfo{
	"delay_accept":   {syntax: "delay_accept=DUR", arg: "duration", acts: reqAccept, def: reqAccept, parse: parseDelayAccept, summary: "each selected new connection waits DUR before anything is read", example: "delay_accept=2,peer=10.0.0.0/8"},
	"delay_write":    {syntax: "delay_write=DUR", arg: "duration", acts: reqRequests, def: reqRequests, parse: parseDelayWrite, summary: "DUR before every write of a selected reply (epmd -delay_write)", example: "delay_write=200ms,req=port_please"},
	"packet_timeout": {syntax: "packet_timeout=DUR", arg: "duration", acts: reqAccept, def: reqAccept, parse: parsePacketTimeout, summary: "close a connection that sends no complete request within DUR", example: "packet_timeout=1"},
	"stall":          {syntax: "stall=DUR", arg: "duration", acts: reqAll, def: reqAccept, parse: parseStall, summary: "freeze the whole daemon for DUR", example: "stall=10,first=1"},
	"drop":           {syntax: "drop", acts: reqAll, def: reqRequests, parse: parseDrop, summary: "close the connection without a reply (FIN)", example: "drop,req=port_please,node=b*"},
	"reset":          {syntax: "reset", acts: reqAll, def: reqRequests, parse: parseReset, summary: "close the connection without a reply (RST)", example: "reset,req=accept,p=0.1"},
	"hang":           {syntax: "hang", acts: reqAll, def: reqRequests, parse: parseHang, summary: "read the request and never answer", example: "hang,req=alive2,node=a*"},
	"partial_write":  {syntax: "partial_write=N[,then=close|hang|reset]", arg: "bytes", keys: []string{"then"}, acts: reqRequests, def: reqRequests, parse: parsePartialWrite, summary: "send only the first N bytes of the reply, then close, hang or reset", example: "partial_write=5,req=alive2"},
	"slice":          {syntax: "slice=N[,gap=DUR]", arg: "bytes", keys: []string{"gap"}, acts: reqRequests, def: reqRequests, parse: parseSlice, summary: "send every reply write in N-byte pieces, gap apart", example: "slice=1,gap=100ms,req=alive2"},
	"corrupt":        {syntax: "corrupt=result|random|port=N", arg: "mode", acts: reqRequests, def: reqRequests, parse: parseCorrupt, summary: "change the reply: error result, a random byte, or another port", example: "corrupt=port=1,req=port_please"},
	"port_collision": {syntax: "port_collision[,port=N]", keys: []string{"port"}, acts: Reqs(kindPortPlease2), def: Reqs(kindPortPlease2), parse: parsePortCollision, summary: "PORT2_RESP carries another registered node's port (or N)", example: "port_collision,node=b1"},
	"name_in_use":    {syntax: "name_in_use", acts: Reqs(kindAlive2), def: Reqs(kindAlive2), parse: parseNameInUse, summary: "refuse ALIVE2 as a duplicate name", example: "name_in_use,node=a*"},
	"hold_ports":     {syntax: "hold_ports=LO-HI", arg: "range", daemon: true, parse: parseHoldPorts, summary: "listen on ports LO..HI so nodes cannot take them", example: "hold_ports=9100-9105"},
	"stale":          {syntax: "stale=DUR", arg: "duration", acts: Reqs(kindAlive2), def: Reqs(kindAlive2), parse: parseStale, summary: "keep a registration for DUR after its connection ends", example: "stale=30,node=worker*"},
	"forget":         {syntax: "forget", acts: reqLookups, def: reqLookups, regNode: true, parse: parseForget, summary: "hide registrations from PORT_PLEASE2, NAMES and DUMP", example: "forget,node=b1,for=60"},
	"creation":       {syntax: "creation=N", arg: "creation", acts: Reqs(kindAlive2), def: Reqs(kindAlive2), parse: parseCreation, summary: "answer a successful ALIVE2 with creation N", example: "creation=7,node=a1"},
	"crash":          {syntax: "crash[,for=DUR]", acts: reqAccept, def: reqAccept, daemon: true, parse: parseCrash, summary: "drop every registration and reset new connections, as if epmd died", example: "crash,start=30,for=10"},
}

// Kinds returns the names of the fault kinds, sorted.
func Kinds() []string { return kindNames() }

func kindNames() []string { return slices.Sorted(maps.Keys(kinds)) }
