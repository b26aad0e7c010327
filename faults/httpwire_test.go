package faults

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// TestReadResponse: replies as bytes, read as the client reads them.
func TestReadResponse(t *testing.T) {
	long := strings.Repeat("x", maxReplyHeader)
	for _, tc := range []struct {
		name, method, in string
		status           int
		body             string
		keep             bool
		err, bodyErr     string
		rest             string // left unread after the body
	}{
		{name: "content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloNEXT",
			status: 200, body: "hello", keep: true, rest: "NEXT"},
		{name: "zero length", in: "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", status: 202, keep: true},
		{name: "header names in any case", in: "HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh:  3 \r\nconnection: Keep-Alive\r\n\r\nabc",
			status: 200, body: "abc", keep: true},
		{name: "LF line ends", in: "HTTP/1.1 200 OK\nContent-Length: 2\n\nhi", status: 200, body: "hi", keep: true},
		{name: "no reason", in: "HTTP/1.1 201\r\nContent-Length: 2\r\n\r\n{}", status: 201, body: "{}", keep: true},
		{name: "empty reason", in: "HTTP/1.1 201 \r\nContent-Length: 2\r\n\r\n{}", status: 201, body: "{}", keep: true},
		{name: "chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"3\r\nhel\r\n2;name=value;x\r\nlo\r\nA \r\n, world!!!\r\n0\r\nX-Sum: 1\r\nX-More: 2\r\n\r\nNEXT",
			status: 200, body: "hello, world!!!", keep: true, rest: "NEXT"},
		{name: "chunked wins over length", in: "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: Chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
			status: 200, body: "a", keep: true},
		{name: "chunked, big size in hex", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1f\r\n" +
			strings.Repeat("z", 31) + "\r\n0\r\n\r\n", status: 200, body: strings.Repeat("z", 31), keep: true},
		{name: "close-delimited", in: "HTTP/1.1 200 OK\r\n\r\nto the end", status: 200, body: "to the end"},
		{name: "connection close", in: "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 1\r\n\r\nx",
			status: 200, body: "x"},
		{name: "HTTP/1.0", in: "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", status: 200, body: "x"},
		{name: "204 has no body", in: "HTTP/1.1 204 No Content\r\n\r\nNEXT", status: 204, keep: true, rest: "NEXT"},
		{name: "304 has no body", in: "HTTP/1.1 304 Not Modified\r\nContent-Length: 4\r\n\r\nNEXT", status: 304, keep: true, rest: "NEXT"},
		{name: "HEAD has no body", method: "HEAD", in: "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nNEXT",
			status: 200, keep: true, rest: "NEXT"},
		{name: "interim replies skipped", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n" +
			"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}", status: 404, body: "{}", keep: true},

		{name: "epmd-like garbage", in: "\x00\x01\x02", err: `not an HTTP/1.x status line: starts "\x00\x01\x02"`},
		{name: "HTTP/2 answer", in: "HTTP/2 200\r\n\r\n", err: `not an HTTP/1.x status line: starts "HTTP/2 "`},
		{name: "bad status code", in: "HTTP/1.1 2x0 OK\r\n\r\n", err: `not an HTTP/1.x status line: "HTTP/1.1 2x0 OK"`},
		{name: "status under 100", in: "HTTP/1.1 099 OK\r\n\r\n", err: `not an HTTP/1.x status line: "HTTP/1.1 099 OK"`},
		{name: "status too long", in: "HTTP/1.1 2000 OK\r\n\r\n", err: `not an HTTP/1.x status line: "HTTP/1.1 2000 OK"`},
		{name: "no status", in: "HTTP/1.1\r\n\r\n", err: `not an HTTP/1.x status line: "HTTP/1.1"`},
		{name: "cut in the version", in: "HTTP/", err: "unexpected EOF"},
		{name: "nothing", in: "", err: "EOF"},
		{name: "cut in the header", in: "HTTP/1.1 200 OK\r\nContent-Len", err: "unexpected EOF"},
		{name: "header line without colon", in: "HTTP/1.1 200 OK\r\nbogus\r\n\r\n", err: `malformed header line "bogus"`},
		{name: "space before colon", in: "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\n", err: `malformed header line "Content-Length : 1"`},
		{name: "folded header line", in: "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", err: `malformed header line " b"`},
		{name: "bad length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", err: `bad Content-Length "-1"`},
		{name: "signed length", in: "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n", err: `bad Content-Length "+1"`},
		{name: "two lengths", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", err: "two Content-Lengths, 1 and 2"},
		{name: "gzip", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", err: `unsupported Transfer-Encoding "gzip, chunked"`},
		{name: "header at the bound", in: "HTTP/1.1 200 OK\r\nX: " + long[:maxReplyHeader-len("HTTP/1.1 200 OK\r\nX: \r\n\r\n")] + "\r\n\r\n",
			status: 200},
		{name: "header over the bound", in: "HTTP/1.1 200 OK\r\nX: " + long[:maxReplyHeader-len("HTTP/1.1 200 OK\r\nX: \r\n\r\n")+1] + "\r\n\r\n",
			err: "reply header over 65536 bytes"},
		{name: "endless header line", in: "HTTP/1.1 200 OK\r\nX: " + long + long, err: "reply header over 65536 bytes"},
		{name: "endless status line", in: "HTTP/1.1 200 " + long, err: "reply header over 65536 bytes"},

		{name: "length body cut short", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
			status: 200, keep: true, body: "hel", bodyErr: "unexpected EOF"},
		{name: "chunk cut short", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
			status: 200, keep: true, body: "hel", bodyErr: "unexpected EOF"},
		{name: "no last chunk", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n",
			status: 200, keep: true, body: "hel", bodyErr: "unexpected EOF"},
		{name: "trailer cut short", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n",
			status: 200, keep: true, bodyErr: "unexpected EOF"},
		{name: "chunk longer than said", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhel\r\n0\r\n\r\n",
			status: 200, keep: true, body: "he", bodyErr: "chunk not followed by a line end"},
		{name: "bad chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nhel\r\n0\r\n\r\n",
			status: 200, keep: true, bodyErr: `bad chunk size line "0x3"`},
		{name: "negative chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-0\r\n\r\n",
			status: 200, keep: true, bodyErr: `bad chunk size line "-0"`},
		{name: "chunk size overflows", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8000000000000000\r\n",
			status: 200, keep: true, bodyErr: `bad chunk size line "8000000000000000"`},
		{name: "endless chunk size line", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + long[:5000],
			status: 200, keep: true, bodyErr: "chunk size line over 4096 bytes"},
		{name: "endless trailer", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " + long,
			status: 200, keep: true, bodyErr: "chunked trailer over 65536 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = "GET"
			}
			br := bufio.NewReader(strings.NewReader(tc.in))
			resp, err := readResponse(br, method)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("readResponse: %v, want error %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("readResponse: %v", err)
			}
			body, err := io.ReadAll(resp.body)
			if errText(err) != tc.bodyErr {
				t.Errorf("read body: %v, want error %q", err, tc.bodyErr)
			}
			if resp.status != tc.status || string(body) != tc.body || resp.keep != tc.keep {
				t.Errorf("status %d, body %q, keep %v; want %d, %q, %v", resp.status, body, resp.keep, tc.status, tc.body, tc.keep)
			}
			if tc.bodyErr == "" {
				if rest, _ := io.ReadAll(br); string(rest) != tc.rest {
					t.Errorf("left after the body: %q, want %q", rest, tc.rest)
				}
			}
		})
	}
}

// TestReadResponseNotHTTP: what an epmd port answers is told apart as not
// HTTP.
func TestReadResponseNotHTTP(t *testing.T) {
	for _, in := range []string{"\x00\x02y\x00", "garbage\r\n\r\n", "http/1.1 200 OK\r\n\r\n", "HTTP/1.1 OK\r\n\r\n"} {
		_, err := readResponse(bufio.NewReader(strings.NewReader(in)), "GET")
		if !errors.Is(err, errNotStatusLine) {
			t.Errorf("readResponse(%q): %v, want errNotStatusLine", in, err)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzReadResponse: readResponse and the body it frames never panic, hang
// or read more than they are given, whatever the input.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nhel\r\n2\r\nlo\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nto the end",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
		"\x00\x01garbage",
	} {
		f.Add([]byte(s), false, uint8(0))
	}
	f.Fuzz(func(t *testing.T, in []byte, head bool, size uint8) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		// Small buffers take the paths where a line spans reads.
		br := bufio.NewReaderSize(bytes.NewReader(in), 16+int(size))
		resp, err := readResponse(br, method)
		if err != nil {
			if resp != nil {
				t.Fatalf("a reply and an error: %v", err)
			}
			return
		}
		if resp.status < 200 || resp.status > 999 {
			t.Fatalf("status %d", resp.status)
		}
		n, err := io.Copy(io.Discard, resp.body)
		if n > int64(len(in)) {
			t.Fatalf("read a body of %d bytes from %d", n, len(in))
		}
		if err == nil && resp.keep {
			// A body whose end is known leaves the rest of the input.
			if _, err := resp.body.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("read after the end: %v, want EOF", err)
			}
		}
	})
}

// TestChunkPassedOn: a chunk's data is passed on without waiting for the
// line end after it, as a followed /events stream needs.
func TestChunkPassedOn(t *testing.T) {
	pr, pw := io.Pipe()
	defer pr.Close()
	go func() {
		_, _ = io.WriteString(pw, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nevent\n")
	}()
	resp, err := readResponse(bufio.NewReader(pr), "GET")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		b := make([]byte, 64)
		n, err := resp.body.Read(b)
		got <- fmt.Sprintf("%q %v", b[:n], err)
	}()
	select {
	case s := <-got:
		if s != `"event\n" <nil>` {
			t.Errorf("Read: %s, want %q, nil", s, "event\n")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read still waiting after 10 s")
	}
	go func() { _, _ = io.WriteString(pw, "\r\n0\r\n\r\n") }()
	if rest, err := io.ReadAll(resp.body); len(rest) != 0 || err != nil {
		t.Errorf("rest of the body: %q, %v; want none", rest, err)
	}
}
