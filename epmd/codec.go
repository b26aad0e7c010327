package epmd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// Request and reply codes: the first byte of every request body and of the
// ALIVE2 and PORT2 replies.
const (
	CodeAlive2Req      byte = 'x' // ALIVE2_REQ
	CodeAlive2Resp     byte = 'y' // ALIVE2_RESP, for HighVsn < 6
	CodeAlive2XResp    byte = 'v' // ALIVE2_X_RESP, for HighVsn >= 6
	CodePortPlease2Req byte = 'z' // PORT_PLEASE2_REQ
	CodePort2Resp      byte = 'w' // PORT2_RESP
	CodeNamesReq       byte = 'n' // NAMES_REQ
	CodeDumpReq        byte = 'd' // DUMP_REQ
	CodeKillReq        byte = 'k' // KILL_REQ
	CodeStopReq        byte = 's' // STOP_REQ
)

// Protocol limits of the C epmd.
const (
	// MaxBodyLen is the largest request body the server accepts; a Len of
	// 0 or of MaxBodyLen+1 and above closes the connection unanswered.
	MaxBodyLen = 3057
	// MaxNameBytes is the longest node name in bytes (MAXSYMLEN).
	MaxNameBytes = 1020
	// MaxNameChars is the longest node name in characters.
	MaxNameChars = 255
	// MaxExtraLen is the longest Extra field.
	MaxExtraLen = 1020
	// ErrorCreation is the creation filler sent with a failed ALIVE2 reply.
	ErrorCreation = 99
)

// Sentinel errors of the codec.
var (
	// ErrMalformed reports a request or reply the C epmd would drop
	// without answering (short, inconsistent lengths, NUL in a name).
	ErrMalformed = errors.New("malformed message")
	// ErrUnknownRequest reports a request code epmd does not serve; the
	// C epmd logs "got garbage" and closes.
	ErrUnknownRequest = errors.New("unknown request code")
	// ErrInvalidName reports a node name epmd refuses: not UTF-8, empty
	// or too long.
	ErrInvalidName = errors.New("invalid node name")
	// ErrExtraTooLong reports an ALIVE2 Extra field over MaxExtraLen bytes.
	ErrExtraTooLong = errors.New("extra data too long")
)

// What exactly is wrong with a request, for the server's log: each wraps
// one of the sentinels above.
var (
	errTooShort     = fmt.Errorf("body too short: %w", ErrMalformed)
	errNameLen      = fmt.Errorf("name length beyond body: %w", ErrMalformed)
	errExtraLen     = fmt.Errorf("extra length beyond body: %w", ErrMalformed)
	errNameNUL      = fmt.Errorf("NUL in node name: %w", ErrMalformed)
	errNameTooLong  = fmt.Errorf("node name too long: %w", ErrInvalidName)
	errNameEncoding = fmt.Errorf("node name not UTF-8: %w", ErrInvalidName)
)

// Alive2Req registers a node: code 'x'.
type Alive2Req struct {
	PortNo   uint16
	NodeType uint8 // 77 ('M') normal node, 72 ('H') hidden
	Protocol uint8 // 0 tcp/ip-v4
	HighVsn  uint16
	LowVsn   uint16
	Name     string
	Extra    []byte
}

// Alive2Resp is the reply to an ALIVE2_REQ whose HighVsn is below 6: code 'y'
// with a 16-bit creation.
type Alive2Resp struct {
	Result   uint8
	Creation uint16
}

// Alive2XResp is the reply to an ALIVE2_REQ whose HighVsn is 6 or more:
// code 'v' with a 32-bit creation.
type Alive2XResp struct {
	Result   uint8
	Creation uint32
}

// PortPlease2Req asks for a node's distribution port: code 'z'.
type PortPlease2Req struct {
	Name string
}

// Port2Resp is the reply to PORT_PLEASE2_REQ: code 'w'. A non-zero Result
// is sent as the two bytes 'w' Result; the other fields are then unused.
type Port2Resp struct {
	Result   uint8
	PortNo   uint16
	NodeType uint8
	Protocol uint8
	HighVsn  uint16
	LowVsn   uint16
	Name     string
	Extra    []byte
}

// NamesReq asks for the list of registered nodes: code 'n'.
type NamesReq struct{}

// DumpReq asks for the registered and remembered nodes: code 'd'.
type DumpReq struct{}

// KillReq asks the daemon to exit: code 'k'.
type KillReq struct{}

// StopReq asks the daemon to unregister a node: code 's'.
type StopReq struct {
	Name string
}

// Message is any request or reply of the protocol. Append adds its wire
// form (for requests the body, without the length prefix) to b.
type Message interface {
	Append(b []byte) []byte
}

// Append implements Message.
func (m *Alive2Req) Append(b []byte) []byte {
	b = append(b, CodeAlive2Req)
	return appendNodeInfo(b, m.PortNo, m.NodeType, m.Protocol, m.HighVsn, m.LowVsn, m.Name, m.Extra)
}

// appendNodeInfo appends the node description ALIVE2_REQ and PORT2_RESP
// share: PortNo NodeType Protocol HighVsn LowVsn Nlen Name Elen Extra.
func appendNodeInfo(b []byte, port uint16, typ, proto uint8, high, low uint16, name string, extra []byte) []byte {
	be := binary.BigEndian
	b = be.AppendUint16(b, port)
	b = append(b, typ, proto)
	b = be.AppendUint16(b, high)
	b = be.AppendUint16(b, low)
	b = be.AppendUint16(b, uint16(len(name)))
	b = append(b, name...)
	b = be.AppendUint16(b, uint16(len(extra)))
	return append(b, extra...)
}

// Append implements Message.
func (m *Alive2Resp) Append(b []byte) []byte {
	b = append(b, CodeAlive2Resp, m.Result)
	return binary.BigEndian.AppendUint16(b, m.Creation)
}

// Append implements Message.
func (m *Alive2XResp) Append(b []byte) []byte {
	b = append(b, CodeAlive2XResp, m.Result)
	return binary.BigEndian.AppendUint32(b, m.Creation)
}

// Append implements Message.
func (m *PortPlease2Req) Append(b []byte) []byte {
	b = append(b, CodePortPlease2Req)
	return append(b, m.Name...)
}

// Append implements Message.
func (m *Port2Resp) Append(b []byte) []byte {
	b = append(b, CodePort2Resp, m.Result)
	if m.Result != 0 {
		return b
	}
	return appendNodeInfo(b, m.PortNo, m.NodeType, m.Protocol, m.HighVsn, m.LowVsn, m.Name, m.Extra)
}

// Append implements Message.
func (*NamesReq) Append(b []byte) []byte { return append(b, CodeNamesReq) }

// Append implements Message.
func (*DumpReq) Append(b []byte) []byte { return append(b, CodeDumpReq) }

// Append implements Message.
func (*KillReq) Append(b []byte) []byte { return append(b, CodeKillReq) }

// Append implements Message.
func (m *StopReq) Append(b []byte) []byte {
	b = append(b, CodeStopReq)
	return append(b, m.Name...)
}

// AppendFrame appends a request with its 16-bit length prefix to b.
func AppendFrame(b []byte, m Message) []byte {
	at := len(b)
	b = append(b, 0, 0)
	b = m.Append(b)
	binary.BigEndian.PutUint16(b[at:], uint16(len(b)-at-2))
	return b
}

// ParseRequest decodes a request body (the bytes after the length prefix)
// exactly as the C epmd reads it: trailing bytes after a complete ALIVE2,
// NAMES, DUMP or KILL request are ignored, and what the C epmd drops without
// an answer is an error wrapping ErrMalformed or ErrUnknownRequest. It
// returns one of *Alive2Req, *PortPlease2Req, *NamesReq, *DumpReq, *KillReq
// or *StopReq.
//
// Checks that the C epmd answers with an error reply instead of dropping
// (name encoding and length, Extra length, duplicates) are not made here:
// see ValidateAlive2.
func ParseRequest(body []byte) (Message, error) {
	return parseRequest(body, nil)
}

// msgRoom is room for the requests the inline path parses most, so that
// parsing one allocates only what outlives it (a name).
type msgRoom struct {
	a2 Alive2Req
	pp PortPlease2Req
}

// parseRequest is ParseRequest, parsing into room when it is not nil.
func parseRequest(body []byte, room *msgRoom) (Message, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("parse request: empty body: %w", ErrMalformed)
	}
	var m Message
	var err error
	switch body[0] {
	case CodeAlive2Req, CodePortPlease2Req:
		if room == nil {
			room = new(msgRoom)
		}
		if body[0] == CodeAlive2Req {
			m, err = &room.a2, parseAlive2Req(body, &room.a2)
		} else {
			m, err = &room.pp, parsePortPlease2Req(body, &room.pp)
		}
	case CodeStopReq:
		m, err = parseStopReq(body)
	case CodeNamesReq:
		return &NamesReq{}, nil
	case CodeDumpReq:
		return &DumpReq{}, nil
	case CodeKillReq:
		return &KillReq{}, nil
	default:
		return nil, fmt.Errorf("parse request: code %d: %w", body[0], ErrUnknownRequest)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// parseAlive2Req follows epmd_srv.c: the size checks are on the body size,
// so a zero-length name passes when the packet carries padding.
func parseAlive2Req(body []byte, m *Alive2Req) error {
	bsize := len(body)
	if bsize <= 13 {
		return fmt.Errorf("parse ALIVE2_REQ: %d bytes: %w", bsize, errTooShort)
	}
	be := binary.BigEndian
	nlen := int(be.Uint16(body[9:]))
	if nlen+13 > bsize {
		return fmt.Errorf("parse ALIVE2_REQ: name length %d in %d bytes: %w", nlen, bsize, errNameLen)
	}
	elen := int(be.Uint16(body[11+nlen:]))
	if elen+nlen+13 > bsize {
		return fmt.Errorf("parse ALIVE2_REQ: extra length %d in %d bytes: %w", elen, bsize, errExtraLen)
	}
	name := body[11 : 11+nlen]
	if bytes.IndexByte(name, 0) >= 0 {
		return fmt.Errorf("parse ALIVE2_REQ: %w", errNameNUL)
	}
	*m = Alive2Req{
		PortNo:   be.Uint16(body[1:]),
		NodeType: body[3],
		Protocol: body[4],
		HighVsn:  be.Uint16(body[5:]),
		LowVsn:   be.Uint16(body[7:]),
		Name:     string(name),
		Extra:    bytes.Clone(body[13+nlen : 13+nlen+elen]),
	}
	return nil
}

// parsePortPlease2Req follows epmd_srv.c, including its off-by-one: the
// character count includes the terminating NUL, so only names of up to 254
// characters can be looked up.
func parsePortPlease2Req(body []byte, m *PortPlease2Req) error {
	name := body[1:]
	if n := len(name); n > 0 && name[n-1] == 0 {
		name = name[:n-1]
	}
	if len(name) == 0 {
		return fmt.Errorf("parse PORT2_REQ: no name: %w", errTooShort)
	}
	if bytes.IndexByte(name, 0) >= 0 {
		return fmt.Errorf("parse PORT2_REQ: %w", errNameNUL)
	}
	n, ok := utf8Chars(name)
	if !ok {
		return fmt.Errorf("parse PORT2_REQ: %w", errNameEncoding)
	}
	if n+1 > MaxNameChars {
		return fmt.Errorf("parse PORT2_REQ: %d characters: %w", n, errNameTooLong)
	}
	*m = PortPlease2Req{Name: string(name)}
	return nil
}

// parseStopReq: the name is the rest of the body, compared as a C string.
func parseStopReq(body []byte) (*StopReq, error) {
	if len(body) <= 1 {
		return nil, fmt.Errorf("parse STOP_REQ: no name: %w", errTooShort)
	}
	name := body[1:]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	return &StopReq{Name: string(name)}, nil
}

// ValidateAlive2 makes the checks after which the C epmd answers an ALIVE2
// request with an error reply (result 1, creation 99) rather than dropping
// it: the name must be valid UTF-8 of at most MaxNameBytes bytes and
// MaxNameChars characters, and Extra at most MaxExtraLen bytes. Duplicate
// names are the registry's concern.
func ValidateAlive2(m *Alive2Req) error {
	if len(m.Name) > MaxNameBytes {
		return fmt.Errorf("validate ALIVE2_REQ: %d bytes: %w", len(m.Name), errNameTooLong)
	}
	n, ok := utf8Chars([]byte(m.Name))
	if !ok {
		return fmt.Errorf("validate ALIVE2_REQ: %w", errNameEncoding)
	}
	if n > MaxNameChars {
		return fmt.Errorf("validate ALIVE2_REQ: %d characters: %w", n, errNameTooLong)
	}
	if len(m.Extra) > MaxExtraLen {
		return fmt.Errorf("validate ALIVE2_REQ: extra of %d bytes: %w", len(m.Extra), ErrExtraTooLong)
	}
	return nil
}

// utf8Chars counts the characters of b, rejecting what epmd's verify_utf8
// rejects: overlong forms, surrogates, code points above U+10FFFF, stray
// continuation bytes and truncated sequences.
func utf8Chars(b []byte) (int, bool) {
	n := 0
	for i := 0; i < len(b); n++ {
		c := b[i]
		switch {
		case c < 0x80:
			i++
			continue
		case c < 0xC2: // continuation byte, or overlong 2-byte lead
			return 0, false
		case c < 0xE0:
			if i+1 >= len(b) || b[i+1]&0xC0 != 0x80 {
				return 0, false
			}
			i += 2
		case c < 0xF0:
			if i+2 >= len(b) || b[i+1]&0xC0 != 0x80 || b[i+2]&0xC0 != 0x80 {
				return 0, false
			}
			if c == 0xE0 && b[i+1] < 0xA0 { // overlong
				return 0, false
			}
			if c == 0xED && b[i+1] >= 0xA0 { // surrogate
				return 0, false
			}
			i += 3
		case c < 0xF5:
			if i+3 >= len(b) || b[i+1]&0xC0 != 0x80 || b[i+2]&0xC0 != 0x80 || b[i+3]&0xC0 != 0x80 {
				return 0, false
			}
			if c == 0xF0 && b[i+1] < 0x90 { // overlong
				return 0, false
			}
			if c == 0xF4 && b[i+1] >= 0x90 { // above U+10FFFF
				return 0, false
			}
			i += 4
		default:
			return 0, false
		}
	}
	return n, true
}

// ParseAlive2Reply decodes an ALIVE2 reply, either form: 'y' with a 16-bit
// creation or 'v' with a 32-bit one. It returns the result byte and the
// creation.
func ParseAlive2Reply(b []byte) (result uint8, creation uint32, err error) {
	switch {
	case len(b) == 4 && b[0] == CodeAlive2Resp:
		return b[1], uint32(binary.BigEndian.Uint16(b[2:])), nil
	case len(b) == 6 && b[0] == CodeAlive2XResp:
		return b[1], binary.BigEndian.Uint32(b[2:]), nil
	}
	return 0, 0, fmt.Errorf("ALIVE2 reply % x: %w", b, ErrMalformed)
}

// ParsePort2Resp decodes a complete PORT2_RESP.
func ParsePort2Resp(b []byte) (*Port2Resp, error) {
	if len(b) < 2 || b[0] != CodePort2Resp {
		return nil, fmt.Errorf("PORT2_RESP % x: %w", b, ErrMalformed)
	}
	if b[1] != 0 {
		if len(b) != 2 {
			return nil, fmt.Errorf("PORT2_RESP error with %d bytes: %w", len(b), ErrMalformed)
		}
		return &Port2Resp{Result: b[1]}, nil
	}
	be := binary.BigEndian
	if len(b) < 12 {
		return nil, fmt.Errorf("PORT2_RESP of %d bytes: %w", len(b), ErrMalformed)
	}
	nlen := int(be.Uint16(b[10:]))
	if len(b) < 12+nlen+2 {
		return nil, fmt.Errorf("PORT2_RESP name length %d beyond %d bytes: %w", nlen, len(b), ErrMalformed)
	}
	elen := int(be.Uint16(b[12+nlen:]))
	if len(b) != 14+nlen+elen {
		return nil, fmt.Errorf("PORT2_RESP extra length %d in %d bytes: %w", elen, len(b), ErrMalformed)
	}
	return &Port2Resp{
		PortNo:   be.Uint16(b[2:]),
		NodeType: b[4],
		Protocol: b[5],
		HighVsn:  be.Uint16(b[6:]),
		LowVsn:   be.Uint16(b[8:]),
		Name:     string(b[12 : 12+nlen]),
		Extra:    bytes.Clone(b[14+nlen:]),
	}, nil
}

// NameEntry is one line of a NAMES reply.
type NameEntry struct {
	Name string
	Port int
}

// AppendNamesLine appends one NAMES line: "name %s at port %d\n".
func AppendNamesLine(b []byte, name string, port uint16) []byte {
	b = append(b, "name "...)
	b = append(b, name...)
	b = append(b, " at port "...)
	b = strconv.AppendUint(b, uint64(port), 10)
	return append(b, '\n')
}

// ParseNames decodes the text of a NAMES reply (after the 4-byte port).
// Names that contain " at port " or a newline, which epmd accepts, cannot
// be told apart in this text; the last " at port " of a line is used.
func ParseNames(text []byte) ([]NameEntry, error) {
	var out []NameEntry
	for len(text) > 0 {
		line := text
		rest := []byte(nil)
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line, rest = text[:i], text[i+1:]
		} else {
			return out, fmt.Errorf("NAMES line %q without newline: %w", text, ErrMalformed)
		}
		text = rest
		name, ok := bytes.CutPrefix(line, []byte("name "))
		if !ok {
			return out, fmt.Errorf("NAMES line %q: %w", line, ErrMalformed)
		}
		i := bytes.LastIndex(name, []byte(" at port "))
		if i < 0 {
			return out, fmt.Errorf("NAMES line %q: %w", line, ErrMalformed)
		}
		port, err := strconv.Atoi(string(name[i+len(" at port "):]))
		if err != nil {
			return out, fmt.Errorf("NAMES line %q: %w", line, ErrMalformed)
		}
		out = append(out, NameEntry{Name: string(name[:i]), Port: port})
	}
	return out, nil
}
