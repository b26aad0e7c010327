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
