package epmd_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// alive2Body is the ALIVE2_REQ an OTP 25 node named "a1" on port 33513
// sends (captured from erl -sname a1).
var alive2Body = []byte{'x', 0x82, 0xe9, 'M', 0, 0, 6, 0, 5, 0, 2, 'a', '1', 0, 0}

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		want epmd.Message
		err  error
	}{
		{"alive2 from OTP 25", alive2Body, &epmd.Alive2Req{PortNo: 33513, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "a1", Extra: []byte{}}, nil},
		{"alive2 trailing bytes ignored", append(bytes.Clone(alive2Body), 9, 9), &epmd.Alive2Req{PortNo: 33513, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "a1", Extra: []byte{}}, nil},
		{"alive2 extra", []byte{'x', 0, 1, 'H', 0, 0, 5, 0, 5, 0, 1, 'b', 0, 2, 0, 7}, &epmd.Alive2Req{PortNo: 1, NodeType: 'H', HighVsn: 5, LowVsn: 5, Name: "b", Extra: []byte{0, 7}}, nil},
		{"alive2 empty name with padding", []byte{'x', 0, 1, 'M', 0, 0, 6, 0, 5, 0, 0, 0, 0, 0}, &epmd.Alive2Req{PortNo: 1, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "", Extra: []byte{}}, nil},
		{"alive2 13 bytes", []byte{'x', 0, 1, 'M', 0, 0, 6, 0, 5, 0, 0, 0, 0}, nil, epmd.ErrMalformed},
		{"alive2 name beyond body", []byte{'x', 0, 1, 'M', 0, 0, 6, 0, 5, 0, 9, 'a', 0, 0}, nil, epmd.ErrMalformed},
		{"alive2 extra beyond body", []byte{'x', 0, 1, 'M', 0, 0, 6, 0, 5, 0, 1, 'a', 0, 5, 1}, nil, epmd.ErrMalformed},
		{"alive2 NUL in name", []byte{'x', 0, 1, 'M', 0, 0, 6, 0, 5, 0, 2, 'a', 0, 0, 0}, nil, epmd.ErrMalformed},
		{"port_please", []byte("za1"), &epmd.PortPlease2Req{Name: "a1"}, nil},
		{"port_please one trailing NUL stripped", []byte("za1\x00"), &epmd.PortPlease2Req{Name: "a1"}, nil},
		{"port_please empty", []byte("z"), nil, epmd.ErrMalformed},
		{"port_please only NUL", []byte("z\x00"), nil, epmd.ErrMalformed},
		{"port_please inner NUL", []byte("za\x00b"), nil, epmd.ErrMalformed},
		{"port_please two NULs", []byte("za\x00\x00"), nil, epmd.ErrMalformed},
		{"port_please bad UTF-8", []byte("z\xff"), nil, epmd.ErrInvalidName},
		{"port_please 254 chars", append([]byte("z"), strings.Repeat("é", 254)...), &epmd.PortPlease2Req{Name: strings.Repeat("é", 254)}, nil},
		{"port_please 255 chars (C off-by-one)", append([]byte("z"), strings.Repeat("a", 255)...), nil, epmd.ErrInvalidName},
		{"names", []byte("n"), &epmd.NamesReq{}, nil},
		{"names trailing ignored", []byte("nxyz"), &epmd.NamesReq{}, nil},
		{"dump", []byte("d"), &epmd.DumpReq{}, nil},
		{"kill", []byte("k"), &epmd.KillReq{}, nil},
		{"stop", []byte("sa1"), &epmd.StopReq{Name: "a1"}, nil},
		{"stop C string", []byte("sa1\x00junk"), &epmd.StopReq{Name: "a1"}, nil},
		{"stop empty", []byte("s"), nil, epmd.ErrMalformed},
		{"garbage", []byte("q"), nil, epmd.ErrUnknownRequest},
		{"obsolete ALIVE_REQ", []byte("a\x00\x01a"), nil, epmd.ErrUnknownRequest},
		{"obsolete PORT_PLEASE_REQ", []byte("pa1"), nil, epmd.ErrUnknownRequest},
		{"reply code as request", []byte("w"), nil, epmd.ErrUnknownRequest},
		{"empty body", []byte{}, nil, epmd.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := epmd.ParseRequest(tt.body)
			if !errors.Is(err, tt.err) {
				t.Fatalf("ParseRequest(% x) error = %v, want %v", tt.body, err, tt.err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseRequest(% x) = %#v, want %#v", tt.body, got, tt.want)
			}
		})
	}
}

func TestErrorTexts(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"short alive2", []byte{'x', 0, 1, 'M', 0, 0, 6, 0, 5, 0, 0, 0, 0}, "parse ALIVE2_REQ: 13 bytes: body too short: malformed message"},
		{"alive2 name beyond body", []byte{'x', 0, 1, 'M', 0, 0, 6, 0, 5, 0, 9, 'a', 0, 0}, "parse ALIVE2_REQ: name length 9 in 14 bytes: name length beyond body: malformed message"},
		{"alive2 extra beyond body", []byte{'x', 0, 1, 'M', 0, 0, 6, 0, 5, 0, 1, 'a', 0, 5, 1}, "parse ALIVE2_REQ: extra length 5 in 15 bytes: extra length beyond body: malformed message"},
		{"nul", []byte("za\x00b"), "parse PORT2_REQ: NUL in node name: malformed message"},
		{"port_please not UTF-8", []byte("z\xff"), "parse PORT2_REQ: node name not UTF-8: invalid node name"},
		{"port_please 255 chars", append([]byte("z"), strings.Repeat("a", 255)...), "parse PORT2_REQ: 255 characters: node name too long: invalid node name"},
		{"stop without name", []byte("s"), "parse STOP_REQ: no name: body too short: malformed message"},
		{"garbage", []byte("q"), "parse request: code 113: unknown request code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := epmd.ParseRequest(tt.body)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestValidateAlive2ErrorTexts(t *testing.T) {
	tests := []struct {
		name string
		req  epmd.Alive2Req
		want string
	}{
		{"1021 bytes", epmd.Alive2Req{Name: strings.Repeat("\U0001F600", 255) + "a"}, "validate ALIVE2_REQ: 1021 bytes: node name too long: invalid node name"},
		{"256 chars", epmd.Alive2Req{Name: strings.Repeat("a", 256)}, "validate ALIVE2_REQ: 256 characters: node name too long: invalid node name"},
		{"not UTF-8", epmd.Alive2Req{Name: "a\x80"}, "validate ALIVE2_REQ: node name not UTF-8: invalid node name"},
		{"extra 1021", epmd.Alive2Req{Name: "a", Extra: make([]byte, 1021)}, "validate ALIVE2_REQ: extra of 1021 bytes: extra data too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := epmd.ValidateAlive2(&tt.req); err == nil || err.Error() != tt.want {
				t.Fatalf("ValidateAlive2 error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestValidateAlive2(t *testing.T) {
	tests := []struct {
		name string
		req  epmd.Alive2Req
		err  error
	}{
		{"ascii", epmd.Alive2Req{Name: "a1"}, nil},
		{"spaces, @ and newline are accepted", epmd.Alive2Req{Name: "a b@c\nd"}, nil},
		{"255 chars", epmd.Alive2Req{Name: strings.Repeat("a", 255)}, nil},
		{"256 chars", epmd.Alive2Req{Name: strings.Repeat("a", 256)}, epmd.ErrInvalidName},
		{"255 four-byte chars is 1020 bytes", epmd.Alive2Req{Name: strings.Repeat("\U0001F600", 255)}, nil},
		{"1021 bytes", epmd.Alive2Req{Name: strings.Repeat("\U0001F600", 255) + "a"}, epmd.ErrInvalidName},
		{"overlong 2-byte", epmd.Alive2Req{Name: "\xc0\xaf"}, epmd.ErrInvalidName},
		{"overlong 3-byte", epmd.Alive2Req{Name: "\xe0\x80\xaf"}, epmd.ErrInvalidName},
		{"overlong 4-byte", epmd.Alive2Req{Name: "\xf0\x80\x80\xaf"}, epmd.ErrInvalidName},
		{"surrogate", epmd.Alive2Req{Name: "\xed\xa0\x80"}, epmd.ErrInvalidName},
		{"above U+10FFFF", epmd.Alive2Req{Name: "\xf4\x90\x80\x80"}, epmd.ErrInvalidName},
		{"U+10FFFF", epmd.Alive2Req{Name: "\xf4\x8f\xbf\xbf"}, nil},
		{"stray continuation", epmd.Alive2Req{Name: "a\x80"}, epmd.ErrInvalidName},
		{"truncated", epmd.Alive2Req{Name: "a\xe2\x82"}, epmd.ErrInvalidName},
		{"extra 1020", epmd.Alive2Req{Name: "a", Extra: make([]byte, 1020)}, nil},
		{"extra 1021", epmd.Alive2Req{Name: "a", Extra: make([]byte, 1021)}, epmd.ErrExtraTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := epmd.ValidateAlive2(&tt.req); !errors.Is(err, tt.err) {
				t.Fatalf("ValidateAlive2(%q) = %v, want %v", tt.req.Name, err, tt.err)
			}
		})
	}
}

func TestAppend(t *testing.T) {
	tests := []struct {
		name string
		msg  epmd.Message
		want []byte
	}{
		{"alive2 req", &epmd.Alive2Req{PortNo: 33513, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "a1"}, alive2Body},
		{"alive2 resp", &epmd.Alive2Resp{Result: 1, Creation: 99}, []byte{'y', 1, 0, 99}},
		{"alive2 x resp", &epmd.Alive2XResp{Result: 0, Creation: 1795238991}, []byte{'v', 0, 0x6b, 0x01, 0x2c, 0x4f}},
		{"alive2 x error", &epmd.Alive2XResp{Result: 1, Creation: 99}, []byte{'v', 1, 0, 0, 0, 99}},
		{"port2 not found", &epmd.Port2Resp{Result: 1}, []byte{'w', 1}},
		{"port2 found", &epmd.Port2Resp{PortNo: 33513, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "a1"},
			[]byte{'w', 0, 0x82, 0xe9, 'M', 0, 0, 6, 0, 5, 0, 2, 'a', '1', 0, 0}},
		{"names", &epmd.NamesReq{}, []byte("n")},
		{"stop", &epmd.StopReq{Name: "a1"}, []byte("sa1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.msg.Append(nil); !bytes.Equal(got, tt.want) {
				t.Fatalf("Append = % x, want % x", got, tt.want)
			}
		})
	}
	if got, want := epmd.AppendFrame(nil, &epmd.NamesReq{}), []byte{0, 1, 'n'}; !bytes.Equal(got, want) {
		t.Fatalf("AppendFrame = % x, want % x", got, want)
	}
}

func TestParseReplies(t *testing.T) {
	r, c, err := epmd.ParseAlive2Reply([]byte{'y', 0, 0, 2})
	if err != nil || r != 0 || c != 2 {
		t.Fatalf("ParseAlive2Reply y = %d %d %v", r, c, err)
	}
	r, c, err = epmd.ParseAlive2Reply([]byte{'v', 1, 0, 0, 0, 99})
	if err != nil || r != 1 || c != 99 {
		t.Fatalf("ParseAlive2Reply v = %d %d %v", r, c, err)
	}
	if _, _, err := epmd.ParseAlive2Reply([]byte{'v', 0, 0, 0, 0}); !errors.Is(err, epmd.ErrMalformed) {
		t.Fatalf("5-byte v reply: err = %v", err)
	}
	resp := &epmd.Port2Resp{PortNo: 1, NodeType: 'H', Protocol: 0, HighVsn: 6, LowVsn: 5, Name: "x", Extra: []byte{1, 0, 2}}
	got, err := epmd.ParsePort2Resp(resp.Append(nil))
	if err != nil || !reflect.DeepEqual(got, resp) {
		t.Fatalf("ParsePort2Resp round trip = %#v, %v", got, err)
	}
	names, err := epmd.ParseNames([]byte("name b at port 2\nname a b at port 1\n"))
	want := []epmd.NameEntry{{"b", 2}, {"a b", 1}}
	if err != nil || !reflect.DeepEqual(names, want) {
		t.Fatalf("ParseNames = %v, %v", names, err)
	}
	if _, err := epmd.ParseNames([]byte("name b at port 2")); !errors.Is(err, epmd.ErrMalformed) {
		t.Fatalf("ParseNames without newline: %v", err)
	}
}

// FuzzParseRequest: nothing panics, and what parses re-encodes to bytes
// that parse to the same message; for ALIVE2, PORT_PLEASE2 and STOP the
// encoding is the input minus what the C epmd ignores.
func FuzzParseRequest(f *testing.F) {
	for _, seed := range [][]byte{
		alive2Body,
		{'x', 0, 1, 'H', 0, 0, 5, 0, 5, 0, 1, 'b', 0, 2, 0, 7},
		{'x', 0, 1, 'M', 0, 0, 6, 0, 5, 0, 0, 0, 0, 0},
		[]byte("za1"), []byte("za1\x00"), []byte("n"), []byte("d"), []byte("k"), []byte("sa1"),
		[]byte("q"), []byte("z\xed\xa0\x80"),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := epmd.ParseRequest(body)
		if err != nil {
			if m != nil {
				t.Fatalf("message %#v with error %v", m, err)
			}
			return
		}
		enc := m.Append(nil)
		padded := enc
		switch m := m.(type) {
		case *epmd.Alive2Req:
			if m.Name == "" {
				padded = append(bytes.Clone(enc), 0) // the empty name parses only with padding
			}
		case *epmd.StopReq:
			if m.Name == "" {
				padded = append(bytes.Clone(enc), 0) // "s\x00": STOP of the empty name
			}
		}
		m2, err := epmd.ParseRequest(padded)
		if err != nil {
			t.Fatalf("re-encoded % x of % x does not parse: %v", enc, body, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip %#v != %#v", m, m2)
		}
		if !bytes.HasPrefix(body, enc) && !bytes.HasPrefix(append(bytes.Clone(enc), 0), body) {
			switch m.(type) {
			case *epmd.StopReq:
				// a STOP name is cut at its first NUL
			default:
				t.Fatalf("encoding % x is not a prefix of input % x", enc, body)
			}
		}
	})
}
