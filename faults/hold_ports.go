package faults

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// maxHeldPorts bounds the range of hold_ports: each port is a descriptor.
const maxHeldPorts = 4096

// holdRetry is how often hold_ports tries again for the ports of its range
// that were in use when its window opened.
const holdRetry = 50 * time.Millisecond

// HoldPorts is the hold_ports=LO-HI fault: while it is active the daemon
// listens on every TCP port from Lo to Hi (all addresses, IPv4 and IPv6)
// without accepting, so Erlang nodes whose inet_dist_listen_min/max range
// overlaps find those ports in use. A port in use when the window opens
// (another listener, or the local port of a connection, TIME_WAIT
// included) is logged and taken once it is free, tried every holdRetry:
// a connection that ends does not open a gap in the range. It acts on
// the whole daemon: only start= and for= apply.
type HoldPorts struct{ Lo, Hi uint16 }

// Kind implements Action.
func (HoldPorts) Kind() string { return "hold_ports" }

// HoldPorts is the hold_ports kind.
func (kindTable) HoldPorts() *kindDef {
	return &kindDef{
		name:    "hold_ports",
		syntax:  "hold_ports=LO-HI|PORT",
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
	closeAll := func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}
	var busy []int
	for p := int(a.Lo); p <= int(a.Hi); p++ {
		l, err := listenAll(p)
		if err != nil {
			inj.logFault(f, "hold_ports: port not held", nil, slog.Int("port", p), slog.Any("err", err))
			if errors.Is(err, syscall.EADDRINUSE) {
				busy = append(busy, p) // another socket's for now
			}
			continue
		}
		ls = append(ls, l)
	}
	if len(busy) == 0 {
		return closeAll
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(holdRetry)
		defer t.Stop()
		for len(busy) > 0 {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			still := busy[:0]
			for _, p := range busy {
				l, err := listenAll(p)
				if err != nil {
					still = append(still, p)
					continue
				}
				inj.logFault(f, "hold_ports: port held", nil, slog.Int("port", p))
				ls = append(ls, l)
			}
			busy = still
		}
	}()
	return func() {
		close(stop)
		<-done // ls is the closer's from here
		closeAll()
	}
}

// listenAll listens on TCP port p on all addresses, IPv4 and IPv6, with
// the epmd's own kind of listener (plain TCP).
func listenAll(p int) (net.Listener, error) {
	lc := epmd.ListenConfig()
	return lc.Listen(context.Background(), "tcp", ":"+strconv.Itoa(p))
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
