package epmd_test

// Codec tests at the exact edges of every length check: each case sits on
// one side of a boundary the C epmd draws, so a check moved by one byte or
// inverted fails here (see make mutate).

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// mkAlive2Body builds an ALIVE2_REQ body with the given name and extra
// lengths in its header (which may lie), then pad bytes.
func mkAlive2Body(nlen int, name string, elen int, extra string, pad int) []byte {
	b := []byte{'x', 0x12, 0x67, 'M', 0, 0, 6, 0, 5}
	b = binary.BigEndian.AppendUint16(b, uint16(nlen))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint16(b, uint16(elen))
	b = append(b, extra...)
	return append(b, make([]byte, pad)...)
}

func TestParseRequestLengthEdges(t *testing.T) {
	tests := []struct {
		name    string
		body    []byte
		want    epmd.Message
		wantErr error
	}{
		{name: "alive2 of 13 bytes is too short", body: mkAlive2Body(0, "", 0, "", 0), wantErr: epmd.ErrMalformed},
		{name: "alive2 of 14 bytes with an empty name", body: mkAlive2Body(0, "", 0, "", 1),
			want: &epmd.Alive2Req{PortNo: 0x1267, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "", Extra: []byte{}}},
		{name: "alive2 name and extra fill the body exactly", body: mkAlive2Body(2, "ab", 2, "xy", 0),
			want: &epmd.Alive2Req{PortNo: 0x1267, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "ab", Extra: []byte("xy")}},
		{name: "alive2 trailing bytes after extra ignored", body: mkAlive2Body(2, "ab", 2, "xy", 3),
			want: &epmd.Alive2Req{PortNo: 0x1267, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "ab", Extra: []byte("xy")}},
		// nlen 3 with 2 name bytes: the "name length" counts into the extra
		// length field, and nlen+13 = 16 > 15 bytes.
		{name: "alive2 name length one beyond", body: mkAlive2Body(3, "ab", 0, "", 0), wantErr: epmd.ErrMalformed},
		{name: "alive2 extra length one beyond", body: mkAlive2Body(2, "ab", 3, "xy", 0), wantErr: epmd.ErrMalformed},
		{name: "alive2 NUL in name", body: mkAlive2Body(2, "a\x00", 0, "", 0), wantErr: epmd.ErrMalformed},
		{name: "alive2 NUL first in name", body: mkAlive2Body(2, "\x00a", 0, "", 0), wantErr: epmd.ErrMalformed},
		{name: "port2 NUL first", body: []byte("z\x00a"), wantErr: epmd.ErrMalformed},
		{name: "stop name starting with NUL", body: []byte("s\x00ab"), want: &epmd.StopReq{Name: ""}},
		{name: "port2 trailing NUL stripped", body: []byte("zfoo\x00"), want: &epmd.PortPlease2Req{Name: "foo"}},
		{name: "port2 only a NUL", body: []byte("z\x00"), wantErr: epmd.ErrMalformed},
		{name: "port2 no name", body: []byte("z"), wantErr: epmd.ErrMalformed},
		{name: "port2 254 characters", body: append([]byte("z"), strings.Repeat("é", 254)...),
			want: &epmd.PortPlease2Req{Name: strings.Repeat("é", 254)}},
		{name: "port2 255 characters", body: append([]byte("z"), strings.Repeat("é", 255)...), wantErr: epmd.ErrInvalidName},
		{name: "port2 bad encoding", body: []byte("z\xc0\x80"), wantErr: epmd.ErrInvalidName},
		{name: "stop of one byte", body: []byte("s"), wantErr: epmd.ErrMalformed},
		{name: "stop one-letter name", body: []byte("sa"), want: &epmd.StopReq{Name: "a"}},
		{name: "stop name cut at NUL", body: []byte("sab\x00cd"), want: &epmd.StopReq{Name: "ab"}},
		{name: "empty body", body: []byte{}, wantErr: epmd.ErrMalformed},
		{name: "unknown code", body: []byte{'q'}, wantErr: epmd.ErrUnknownRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := epmd.ParseRequest(tt.body)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseRequest(% x) error = %v, want %v", tt.body, err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseRequest(% x) = %#v, want %#v", tt.body, got, tt.want)
			}
		})
	}
}

func TestValidateAlive2Edges(t *testing.T) {
	emoji := "\U0001F600" // four bytes, one character
	tests := []struct {
		name    string
		req     epmd.Alive2Req
		wantErr error
	}{
		{name: "1020 bytes in 255 characters", req: epmd.Alive2Req{Name: strings.Repeat(emoji, 255)}},
		{name: "1021 bytes", req: epmd.Alive2Req{Name: strings.Repeat(emoji, 255) + "a"}, wantErr: epmd.ErrInvalidName},
		{name: "255 three-byte characters", req: epmd.Alive2Req{Name: strings.Repeat("€", 255)}},
		{name: "256 two-byte characters", req: epmd.Alive2Req{Name: strings.Repeat("é", 256)}, wantErr: epmd.ErrInvalidName},
		{name: "extra of 1020 bytes", req: epmd.Alive2Req{Name: "a", Extra: make([]byte, 1020)}},
		{name: "extra of 1021 bytes", req: epmd.Alive2Req{Name: "a", Extra: make([]byte, 1021)}, wantErr: epmd.ErrExtraTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := epmd.ValidateAlive2(&tt.req); !errors.Is(err, tt.wantErr) {
				t.Errorf("ValidateAlive2(%d-byte name, %d-byte extra) = %v, want %v", len(tt.req.Name), len(tt.req.Extra), err, tt.wantErr)
			}
		})
	}
}

// TestUTF8Edges: the first and last code point of each encoding length is
// accepted, the one beyond each edge refused, as epmd's verify_utf8 does.
// Each name is repeated so that its character count (254 allowed in a
// PORT_PLEASE2, 255 refused) shows a sequence counted as one character.
func TestUTF8Edges(t *testing.T) {
	tests := []struct {
		name  string
		char  string
		valid bool
	}{
		{name: "ascii DEL", char: "\x7f", valid: true},
		{name: "lowest two-byte", char: "\xc2\x80", valid: true},
		{name: "overlong two-byte", char: "\xc1\xbf"},
		{name: "lone continuation", char: "\x80"},
		{name: "highest two-byte", char: "\xdf\xbf", valid: true},
		{name: "two-byte bad continuation", char: "\xc2\x41"},
		{name: "lowest three-byte", char: "\xe0\xa0\x80", valid: true},
		{name: "overlong three-byte", char: "\xe0\x9f\xbf"},
		{name: "last before surrogates", char: "\xed\x9f\xbf", valid: true},
		{name: "surrogate", char: "\xed\xa0\x80"},
		{name: "highest three-byte", char: "\xef\xbf\xbf", valid: true},
		{name: "three-byte bad second", char: "\xe1\x41\x80"},
		{name: "three-byte bad third", char: "\xe1\x80\x41"},
		{name: "lowest four-byte", char: "\xf0\x90\x80\x80", valid: true},
		{name: "overlong four-byte", char: "\xf0\x8f\xbf\xbf"},
		{name: "U+10FFFF", char: "\xf4\x8f\xbf\xbf", valid: true},
		{name: "above U+10FFFF", char: "\xf4\x90\x80\x80"},
		{name: "lead F5", char: "\xf5\x80\x80\x80"},
		{name: "four-byte bad second", char: "\xf1\x41\x80\x80"},
		{name: "four-byte bad third", char: "\xf1\x80\x41\x80"},
		{name: "four-byte bad fourth", char: "\xf1\x80\x80\x41"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, n := range []int{254, 255} {
				body := append([]byte("z"), strings.Repeat(tt.char, n)...)
				_, err := epmd.ParseRequest(body)
				var want error
				if !tt.valid || n == 255 {
					want = epmd.ErrInvalidName
				}
				if !errors.Is(err, want) {
					t.Errorf("PORT_PLEASE2 of %d × % x: %v, want %v", n, tt.char, err, want)
				}
			}
		})
	}
}

// TestUTF8Truncated: a multi-byte sequence cut by the end of the name is
// refused, whatever comes before it.
func TestUTF8Truncated(t *testing.T) {
	tests := []struct {
		name string
		tail string
	}{
		{name: "two-byte lead alone", tail: "\xc2"},
		{name: "three-byte lead and one", tail: "\xe1\x80"},
		{name: "three-byte lead alone", tail: "\xe1"},
		{name: "four-byte lead and two", tail: "\xf1\x80\x80"},
		{name: "four-byte lead and one", tail: "\xf1\x80"},
		{name: "four-byte lead alone", tail: "\xf1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := epmd.ValidateAlive2(&epmd.Alive2Req{Name: "ab" + tt.tail})
			if !errors.Is(err, epmd.ErrInvalidName) {
				t.Errorf("name ab % x: %v, want %v", tt.tail, err, epmd.ErrInvalidName)
			}
		})
	}
}

func TestParseAlive2ReplyForms(t *testing.T) {
	tests := []struct {
		name         string
		b            []byte
		wantResult   uint8
		wantCreation uint32
		wantErr      error
	}{
		{name: "y", b: []byte{'y', 0, 0x01, 0x02}, wantCreation: 0x0102},
		{name: "y error", b: []byte{'y', 1, 0, 99}, wantResult: 1, wantCreation: 99},
		{name: "v", b: []byte{'v', 0, 0x01, 0x02, 0x03, 0x04}, wantCreation: 0x01020304},
		{name: "y with 6 bytes", b: []byte{'y', 0, 1, 2, 3, 4}, wantErr: epmd.ErrMalformed},
		{name: "v with 4 bytes", b: []byte{'v', 0, 1, 2}, wantErr: epmd.ErrMalformed},
		{name: "other code", b: []byte{'w', 0, 1, 2}, wantErr: epmd.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, c, err := epmd.ParseAlive2Reply(tt.b)
			if !errors.Is(err, tt.wantErr) || r != tt.wantResult || c != tt.wantCreation {
				t.Errorf("ParseAlive2Reply(% x) = %d, %d, %v; want %d, %d, %v", tt.b, r, c, err, tt.wantResult, tt.wantCreation, tt.wantErr)
			}
		})
	}
}

// mkPort2 is a PORT2_RESP with result 0 and the given name and extra, whose
// name length field says nlen.
func mkPort2(nlen int, name string, elen int, extra string) []byte {
	b := []byte{'w', 0, 0x12, 0x67, 'H', 1, 0, 6, 0, 5}
	b = binary.BigEndian.AppendUint16(b, uint16(nlen))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint16(b, uint16(elen))
	return append(b, extra...)
}

func TestParsePort2RespEdges(t *testing.T) {
	tests := []struct {
		name     string
		b        []byte
		want     *epmd.Port2Resp
		wantErr  error
		wantText string
	}{
		{name: "error reply", b: []byte{'w', 1}, want: &epmd.Port2Resp{Result: 1}},
		{name: "error reply with a byte more", b: []byte{'w', 1, 0}, wantErr: epmd.ErrMalformed},
		{name: "one byte", b: []byte{'w'}, wantErr: epmd.ErrMalformed},
		{name: "wrong code", b: []byte{'v', 1}, wantErr: epmd.ErrMalformed},
		{name: "11 bytes", b: mkPort2(0, "", 0, "")[:11], wantErr: epmd.ErrMalformed},
		{name: "12 bytes, no extra length", b: mkPort2(0, "", 0, "")[:12], wantErr: epmd.ErrMalformed,
			wantText: "PORT2_RESP name length 0 beyond 12 bytes: malformed message"},
		{name: "11 bytes, text", b: mkPort2(0, "", 0, "")[:11], wantErr: epmd.ErrMalformed,
			wantText: "PORT2_RESP of 11 bytes: malformed message"},
		{name: "empty name and extra", b: mkPort2(0, "", 0, ""),
			want: &epmd.Port2Resp{PortNo: 0x1267, NodeType: 'H', Protocol: 1, HighVsn: 6, LowVsn: 5, Name: "", Extra: []byte{}}},
		{name: "name and extra", b: mkPort2(3, "foo", 2, "xy"),
			want: &epmd.Port2Resp{PortNo: 0x1267, NodeType: 'H', Protocol: 1, HighVsn: 6, LowVsn: 5, Name: "foo", Extra: []byte("xy")}},
		{name: "name length into the extra length", b: mkPort2(3, "foo", 0, "")[:16], wantErr: epmd.ErrMalformed},
		{name: "name length one beyond", b: mkPort2(4, "foo", 0, ""), wantErr: epmd.ErrMalformed},
		{name: "extra one short", b: mkPort2(3, "foo", 2, "x"), wantErr: epmd.ErrMalformed},
		{name: "extra one long", b: mkPort2(3, "foo", 2, "xyz"), wantErr: epmd.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := epmd.ParsePort2Resp(tt.b)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParsePort2Resp(% x) error = %v, want %v", tt.b, err, tt.wantErr)
			}
			if tt.wantText != "" && err.Error() != tt.wantText {
				t.Errorf("ParsePort2Resp(% x) error %q, want %q", tt.b, err, tt.wantText)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParsePort2Resp(% x) = %#v, want %#v", tt.b, got, tt.want)
			}
		})
	}
}

func TestParseNamesLines(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		want     []epmd.NameEntry
		wantErr  error
		wantText string
	}{
		{name: "empty", text: ""},
		{name: "two lines", text: "name a at port 1\nname b c at port 22\n",
			want: []epmd.NameEntry{{Name: "a", Port: 1}, {Name: "b c", Port: 22}}},
		{name: "the last at port counts", text: "name x at port y at port 5\n",
			want: []epmd.NameEntry{{Name: "x at port y", Port: 5}}},
		{name: "last line without newline", text: "name a at port 1\nname b at port 2",
			want: []epmd.NameEntry{{Name: "a", Port: 1}}, wantErr: epmd.ErrMalformed},
		{name: "no name prefix", text: "nam a at port 1\n", wantErr: epmd.ErrMalformed},
		{name: "no at port", text: "name a at 1\n", wantErr: epmd.ErrMalformed},
		{name: "port not a number", text: "name a at port x\n", wantErr: epmd.ErrMalformed},
		{name: "empty node name", text: "name  at port 5\n", want: []epmd.NameEntry{{Name: "", Port: 5}}},
		{name: "empty line", text: "\n", wantErr: epmd.ErrMalformed, wantText: `NAMES line "": malformed message`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := epmd.ParseNames([]byte(tt.text))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseNames(%q) error = %v, want %v", tt.text, err, tt.wantErr)
			}
			if tt.wantText != "" && err.Error() != tt.wantText {
				t.Errorf("ParseNames(%q) error %q, want %q", tt.text, err, tt.wantText)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseNames(%q) = %v, want %v", tt.text, got, tt.want)
			}
		})
	}
}

// TestAppendFrameAfterBytes: the length prefix counts the request only,
// not what b held before.
func TestAppendFrameAfterBytes(t *testing.T) {
	tests := []struct {
		name string
		m    epmd.Message
		want []byte
	}{
		{name: "names", m: &epmd.NamesReq{}, want: []byte{9, 9, 9, 0, 1, 'n'}},
		{name: "port please", m: &epmd.PortPlease2Req{Name: "ab"}, want: []byte{9, 9, 9, 0, 3, 'z', 'a', 'b'}},
		{name: "stop", m: &epmd.StopReq{Name: "ab"}, want: []byte{9, 9, 9, 0, 3, 's', 'a', 'b'}},
		{name: "port2 error", m: &epmd.Port2Resp{Result: 1, PortNo: 5}, want: []byte{9, 9, 9, 0, 2, 'w', 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := epmd.AppendFrame([]byte{9, 9, 9}, tt.m); !bytes.Equal(got, tt.want) {
				t.Errorf("AppendFrame = % x, want % x", got, tt.want)
			}
		})
	}
}
