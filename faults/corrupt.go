package faults

import (
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// Corrupt is the corrupt=MODE fault: it changes the bytes of a selected
// reply.
//
//   - Mode "result": the result turns into an error. ALIVE2 and PORT2
//     replies get result 1 (the rest unchanged), KILL's OK becomes NO,
//     STOP's STOPPED becomes NOEXIST; NAMES and DUMP have no result and
//     are left alone.
//   - Mode "random": one byte of every reply write, at a random offset, is
//     XORed with a random non-zero value (from the injector's seeded
//     source).
//   - Mode "port" (corrupt=port=N): PORT2_RESP carries port Port; the
//     NAMES and DUMP replies report Port as epmd's own port (OTP's
//     net_adm:names/0 then fails with {error,address}).
type Corrupt struct {
	Mode string
	Port uint16
}

// Kind implements Action.
func (Corrupt) Kind() string { return "corrupt" }

// Corrupt is the corrupt kind.
func (kindTable) Corrupt() *kindDef {
	return &kindDef{
		name:    "corrupt",
		syntax:  "corrupt=result|random|port=N",
		summary: "change the reply: an error result, a random byte, or port N",
		arg:     "mode",
		acts:    reqRequests,
		def:     reqRequests,
		parse:   parseCorrupt,
		example: "corrupt=port=1,req=port_please,node=b*",
		bad:     "corrupt=bits",
		badErr:  `fault "corrupt=bits": mode: want result, random or port=N`,
	}
}

func (a Corrupt) appendArgs(b []byte) []byte {
	b = append(append(b, '='), a.Mode...)
	if a.Mode == "port" {
		b = strconv.AppendUint(append(b, '='), uint64(a.Port), 10)
	}
	return b
}

func (a Corrupt) middleware(inj *Injector, _ *active) epmd.Middleware {
	return rewriting(func(r *epmd.Request) func(int, []byte) {
		switch a.Mode {
		case "random":
			return func(_ int, p []byte) {
				if len(p) > 0 {
					p[inj.intN(len(p))] ^= byte(1 + inj.intN(255))
				}
			}
		case "port":
			switch r.Kind {
			case epmd.KindPortPlease2:
				return func(off int, p []byte) {
					if b, ok := byteAt(off, p, 1); ok && b == 0 {
						setBytes(off, p, 2, byte(a.Port>>8), byte(a.Port))
					}
				}
			case epmd.KindNames, epmd.KindDump:
				return func(off int, p []byte) {
					setBytes(off, p, 0, binary.BigEndian.AppendUint32(nil, uint32(a.Port))...)
				}
			}
		case "result":
			switch r.Kind {
			case epmd.KindAlive2, epmd.KindPortPlease2:
				return func(off int, p []byte) {
					if b, ok := byteAt(off, p, 1); ok && b == 0 {
						setBytes(off, p, 1, 1)
					}
				}
			case epmd.KindKill:
				return replaceReply("OK", "NO")
			case epmd.KindStop:
				return replaceReply("STOPPED", "NOEXIST")
			}
		}
		return nil
	})
}

// replaceReply rewrites a reply that starts with from into one that starts
// with to (of the same length).
func replaceReply(from, to string) func(int, []byte) {
	return func(off int, p []byte) {
		if off == 0 && strings.HasPrefix(string(p), from) {
			copy(p, to)
		}
	}
}

func parseCorrupt(arg string, _ map[string]string) (Action, *partError) {
	const want = "want result, random or port=N"
	switch {
	case arg == "result" || arg == "random":
		return Corrupt{Mode: arg}, nil
	case strings.HasPrefix(arg, "port="):
		n, perr := parseInt("mode", arg[len("port="):], 0, 65535)
		if perr != nil {
			return nil, errf("mode", "port=N wants a port from 0 to 65535")
		}
		return Corrupt{Mode: "port", Port: uint16(n)}, nil
	}
	return nil, errf("mode", "%s", want)
}
