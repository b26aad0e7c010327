package faults

import (
	"encoding/binary"
	"math"
	"strconv"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// Creation is the creation=N fault: a selected ALIVE2 that succeeds is
// answered with creation N instead of the registry's: the 32-bit field of
// ALIVE2_X_RESP (`v`), or N's low 16 bits in ALIVE2_RESP (`y`, HighVsn <
// 6). The node table keeps its own counter (DUMP, the admin API and
// later re-registrations are unaffected); only the node is told N.
type Creation struct{ N uint32 }

// Kind implements Action.
func (Creation) Kind() string { return "creation" }

// Creation is the creation kind.
func (kindTable) Creation() *kindDef {
	return &kindDef{
		name:    "creation",
		syntax:  "creation=N",
		summary: "answer a successful ALIVE2 with creation N",
		arg:     "creation",
		acts:    Reqs(kindAlive2),
		def:     Reqs(kindAlive2),
		parse:   parseCreation,
		example: "creation=7,node=a1",
		bad:     "creation=-1",
		badErr:  `fault "creation=-1": creation: want a whole number from 0 to 4294967295`,
	}
}

func (a Creation) appendArgs(b []byte) []byte {
	return strconv.AppendUint(append(b, '='), uint64(a.N), 10)
}

func (a Creation) middleware(*Injector, *active) epmd.Middleware {
	return rewriting(func(*epmd.Request) func(int, []byte) {
		return func(off int, p []byte) {
			if off != 0 || len(p) < 4 || p[1] != 0 {
				return
			}
			switch {
			case p[0] == epmd.CodeAlive2XResp && len(p) == 6:
				binary.BigEndian.PutUint32(p[2:], a.N)
			case p[0] == epmd.CodeAlive2Resp && len(p) == 4:
				binary.BigEndian.PutUint16(p[2:], uint16(a.N))
			}
		}
	})
}

func parseCreation(arg string, _ map[string]string) (Action, *partError) {
	n, perr := parseInt("creation", arg, 0, math.MaxUint32)
	if perr != nil {
		return nil, perr
	}
	return Creation{N: uint32(n)}, nil
}
