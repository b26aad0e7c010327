package faults

import (
	"strconv"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// PortCollision is the port_collision fault: a selected PORT2_RESP that
// found its node carries the port of another registered node (the most
// recently registered other one), or Port when set (port=N). With no other
// node registered and no Port, the reply is left alone.
type PortCollision struct{ Port uint16 }

// Kind implements Action.
func (PortCollision) Kind() string { return "port_collision" }

// PortCollision is the port_collision kind.
func (kindTable) PortCollision() *kindDef {
	return &kindDef{
		name:    "port_collision",
		syntax:  "port_collision[,port=N]",
		summary: "PORT2_RESP carries another registered node's port (or N)",
		keys:    []string{"port"},
		acts:    Reqs(kindPortPlease2),
		def:     Reqs(kindPortPlease2),
		parse:   parsePortCollision,
		example: "port_collision,node=b1",
		bad:     "port_collision,port=0",
		badErr:  `fault "port_collision,port=0": port: want a whole number from 1 to 65535`,
	}
}

func (a PortCollision) appendArgs(b []byte) []byte {
	if a.Port != 0 {
		b = strconv.AppendUint(append(b, ",port="...), uint64(a.Port), 10)
	}
	return b
}

func (a PortCollision) middleware(*Injector, *active) epmd.Middleware {
	return rewriting(func(r *epmd.Request) func(int, []byte) {
		port := a.Port
		if port == 0 {
			name, _ := r.NodeName()
			for _, n := range r.Registry.Nodes(nil) {
				if n.Name != name {
					port = n.PortNo
					break
				}
			}
		}
		if port == 0 {
			return nil
		}
		return func(off int, p []byte) {
			if b, ok := byteAt(off, p, 1); ok && b == 0 {
				setBytes(off, p, 2, byte(port>>8), byte(port))
			}
		}
	})
}

func parsePortCollision(_ string, opts map[string]string) (Action, *partError) {
	v, ok := opts["port"]
	if !ok {
		return PortCollision{}, nil
	}
	n, perr := parseInt("port", v, 1, 65535)
	if perr != nil {
		return nil, perr
	}
	return PortCollision{Port: uint16(n)}, nil
}
