package faults

import (
	"encoding/binary"
	"slices"
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
//     are left alone. Only the reply changes: the node is registered, the
//     daemon killed, the node stopped all the same.
//   - Mode "random": one byte of every reply write, at a random offset, is
//     XORed with a random non-zero value (from the injector's seeded
//     source).
//   - Mode "port" (corrupt=port=N): PORT2_RESP carries port Port; the
//     NAMES and DUMP replies report Port as epmd's own port (OTP's
//     net_adm:names/0 then fails with {error,address}).
//   - Mode "names_port": the NAMES reply reports another port than
//     epmd's own: the lowest bit of its 4-byte port is flipped (4369 is
//     sent as 4368). Other replies are left alone.
//   - Mode "version" (corrupt=version=H:L): a PORT2_RESP that found its
//     node carries HighestVersion High and LowestVersion Low. Other
//     replies are left alone.
//
// The PORT2_RESP edits act on a reply whose result byte is 0, whichever
// write carried it, so they also hold when an outer fault slices the
// reply.
type Corrupt struct {
	Mode      string
	Port      uint16
	High, Low uint16
}

// Kind implements Action.
func (Corrupt) Kind() string { return "corrupt" }

// Corrupt is the corrupt kind.
func (kindTable) Corrupt() *kindDef {
	return &kindDef{
		name:    "corrupt",
		syntax:  "corrupt=result|random|port=N|names_port|version=H:L",
		summary: "change the reply: an error result, a random byte, port N, NAMES' epmd port, PORT2_RESP's versions",
		arg:     "mode",
		acts:    reqRequests,
		def:     reqRequests,
		parse:   parseCorrupt,
		example: "corrupt=port=1,req=port_please,node=b*",
		bad:     "corrupt=bits",
		badErr:  `fault "corrupt=bits": mode: ` + wantCorruptMode,
	}
}

const wantCorruptMode = "want result, random, port=N, names_port or version=H:L"

func (a Corrupt) appendArgs(b []byte) []byte {
	b = append(append(b, '='), a.Mode...)
	switch a.Mode {
	case "port":
		b = strconv.AppendUint(append(b, '='), uint64(a.Port), 10)
	case "version":
		b = strconv.AppendUint(append(b, '='), uint64(a.High), 10)
		b = strconv.AppendUint(append(b, ':'), uint64(a.Low), 10)
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
				return afterResultOK(func(off int, p []byte) {
					setBytes(off, p, 2, byte(a.Port>>8), byte(a.Port))
				})
			case epmd.KindNames, epmd.KindDump:
				return func(off int, p []byte) {
					setBytes(off, p, 0, binary.BigEndian.AppendUint32(nil, uint32(a.Port))...)
				}
			}
		case "names_port":
			if r.Kind == epmd.KindNames {
				return func(off int, p []byte) {
					if b, ok := byteAt(off, p, 3); ok {
						setBytes(off, p, 3, b^1)
					}
				}
			}
		case "version":
			if r.Kind == epmd.KindPortPlease2 {
				return afterResultOK(func(off int, p []byte) {
					setBytes(off, p, 6, byte(a.High>>8), byte(a.High), byte(a.Low>>8), byte(a.Low))
				})
			}
		case "result":
			switch r.Kind {
			case epmd.KindAlive2, epmd.KindPortPlease2:
				return afterResultOK(func(off int, p []byte) { setBytes(off, p, 1, 1) })
			case epmd.KindKill:
				return replaceReply("OK", "NO")
			case epmd.KindStop:
				return replaceReply("STOPPED", "NOEXIST")
			}
		}
		return nil
	})
}

// afterResultOK returns an editing function for a reply with a result
// byte at index 1 (ALIVE2, PORT2_RESP) that applies set to the writes from
// the one carrying a result of 0 on, so that a reply cut into several
// writes is edited as a whole one.
func afterResultOK(set func(off int, p []byte)) func(int, []byte) {
	ok := false
	return func(off int, p []byte) {
		if b, at := byteAt(off, p, 1); at {
			ok = b == 0
		}
		if ok {
			set(off, p)
		}
	}
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

func parseCorrupt(arg string, opts map[string]string) (Action, *partError) {
	mode, val, hasVal := strings.Cut(arg, "=")
	switch mode {
	case "result", "random", "names_port":
		if hasVal {
			return nil, errf("mode", "%s takes no value; %s", mode, wantCorruptMode)
		}
		if mode == "names_port" && !reqIncludes(opts, "names") {
			return nil, errf("req", "corrupt=names_port changes NAMES replies only; want names in req= (or no req=)")
		}
		return Corrupt{Mode: mode}, nil
	case "port":
		n, perr := parseInt("mode", val, 0, 65535)
		if !hasVal || perr != nil {
			return nil, errf("mode", "port=N wants a port from 0 to 65535")
		}
		return Corrupt{Mode: mode, Port: uint16(n)}, nil
	case "version":
		const want = "version=H:L wants PORT2_RESP's HighestVersion and LowestVersion, each from 0 to 65535, joined by a colon (version=7:7)"
		hs, ls, ok := strings.Cut(val, ":")
		h, herr := parseInt("mode", hs, 0, 65535)
		l, lerr := parseInt("mode", ls, 0, 65535)
		if !hasVal || !ok || herr != nil || lerr != nil {
			return nil, errf("mode", "%s", want)
		}
		if !reqIncludes(opts, "port_please") {
			return nil, errf("req", "corrupt=version changes PORT2_RESP only; want port_please in req= (or no req=)")
		}
		return Corrupt{Mode: mode, High: uint16(h), Low: uint16(l)}, nil
	}
	return nil, errf("mode", "%s", wantCorruptMode)
}

// reqIncludes reports whether the spec's req= (if any) names the request
// kind want.
func reqIncludes(opts map[string]string, want string) bool {
	v, ok := opts["req"]
	return !ok || slices.Contains(strings.Split(v, "|"), want)
}
