package faults

import (
	"log/slog"
	"net"
	"strconv"
	"strings"
)

// maxHeldPorts bounds the range of hold_ports: each port is a descriptor.
const maxHeldPorts = 4096

// HoldPorts is the hold_ports=LO-HI fault: while it is active the daemon
// listens on every TCP port from Lo to Hi (all addresses, IPv4 and IPv6)
// without accepting, so Erlang nodes whose inet_dist_listen_min/max range
// overlaps find those ports in use. Ports already taken are skipped. It
// acts on the whole daemon: only start= and for= apply.
type HoldPorts struct{ Lo, Hi uint16 }

// Kind implements Action.
func (HoldPorts) Kind() string { return "hold_ports" }

// HoldPorts is the hold_ports kind.
func (kindTable) HoldPorts() *kindDef {
	return &kindDef{
		name:    "hold_ports",
		syntax:  "hold_ports=LO-HI",
		summary: "listen on ports LO..HI so that nodes cannot take them",
		arg:     "range",
		daemon:  true,
		parse:   parseHoldPorts,
		example: "hold_ports=9100-9105",
		bad:     "hold_ports=9-3",
		badErr:  `fault "hold_ports=9-3": range: want LO-HI (or one port) with 1 <= LO <= HI <= 65535`,
	}
}

func (a HoldPorts) appendArgs(b []byte) []byte {
	b = strconv.AppendUint(append(b, '='), uint64(a.Lo), 10)
	if a.Hi != a.Lo {
		b = strconv.AppendUint(append(b, '-'), uint64(a.Hi), 10)
	}
	return b
}

func (a HoldPorts) activate(inj *Injector, f *active) func() {
	var ls []net.Listener
	for p := int(a.Lo); p <= int(a.Hi); p++ {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			inj.logFault(f, "hold_ports: port not held", nil, slog.Int("port", p), slog.Any("err", err))
			continue
		}
		ls = append(ls, l)
	}
	return func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}
}

func parseHoldPorts(arg string, _ map[string]string) (Action, *partError) {
	lo, hi, isRange := strings.Cut(arg, "-")
	if !isRange {
		hi = lo
	}
	l, err1 := strconv.Atoi(lo)
	h, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || strings.Trim(lo+hi, "0123456789") != "" || l < 1 || l > h || h > 65535 {
		return nil, errf("range", "want LO-HI (or one port) with 1 <= LO <= HI <= 65535")
	}
	if h-l >= maxHeldPorts {
		return nil, errf("range", "at most %d ports", maxHeldPorts)
	}
	return HoldPorts{Lo: uint16(l), Hi: uint16(h)}, nil
}
