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
}

// kinds is the table of fault kinds, by spec name.
var kinds = map[string]kindInfo{
	"delay_accept":   {syntax: "delay_accept=DUR", arg: "duration", acts: reqAccept, def: reqAccept, parse: parseDelayAccept},
	"delay_write":    {syntax: "delay_write=DUR", arg: "duration", acts: reqRequests, def: reqRequests, parse: parseDelayWrite},
	"packet_timeout": {syntax: "packet_timeout=DUR", arg: "duration", acts: reqAccept, def: reqAccept, parse: parsePacketTimeout},
	"stall":          {syntax: "stall=DUR", arg: "duration", acts: reqAll, def: reqAccept, parse: parseStall},
	"drop":           {syntax: "drop", acts: reqAll, def: reqRequests, parse: parseDrop},
	"reset":          {syntax: "reset", acts: reqAll, def: reqRequests, parse: parseReset},
	"hang":           {syntax: "hang", acts: reqAll, def: reqRequests, parse: parseHang},
	"partial_write":  {syntax: "partial_write=N[,then=close|hang|reset]", arg: "bytes", keys: []string{"then"}, acts: reqRequests, def: reqRequests, parse: parsePartialWrite},
	"slice":          {syntax: "slice=N[,gap=DUR]", arg: "bytes", keys: []string{"gap"}, acts: reqRequests, def: reqRequests, parse: parseSlice},
	"corrupt":        {syntax: "corrupt=result|random|port=N", arg: "mode", acts: reqRequests, def: reqRequests, parse: parseCorrupt},
	"port_collision": {syntax: "port_collision[,port=N]", keys: []string{"port"}, acts: Reqs(kindPortPlease2), def: Reqs(kindPortPlease2), parse: parsePortCollision},
	"name_in_use":    {syntax: "name_in_use", acts: Reqs(kindAlive2), def: Reqs(kindAlive2), parse: parseNameInUse},
	"hold_ports":     {syntax: "hold_ports=LO-HI", arg: "range", daemon: true, parse: parseHoldPorts},
	"stale":          {syntax: "stale=DUR", arg: "duration", acts: Reqs(kindAlive2), def: Reqs(kindAlive2), parse: parseStale},
	"forget":         {syntax: "forget", acts: reqLookups, def: reqLookups, regNode: true, parse: parseForget},
	"creation":       {syntax: "creation=N", arg: "creation", acts: Reqs(kindAlive2), def: Reqs(kindAlive2), parse: parseCreation},
	"crash":          {syntax: "crash[,for=DUR]", acts: reqAccept, def: reqAccept, daemon: true, parse: parseCrash},
}

// Kinds returns the names of the fault kinds, sorted.
func Kinds() []string { return kindNames() }

func kindNames() []string { return slices.Sorted(maps.Keys(kinds)) }
