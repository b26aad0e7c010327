package faults_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/faults"
)

// rawExchange sends raw to a fresh admin server's port, half-closes, and
// returns everything the server wrote until it closed, with the Date
// field's value replaced by DATE.
func rawExchange(t *testing.T, a *faults.Admin, raw string) string {
	t.Helper()
	hs := newAdminServer(t, a)
	c, err := net.Dial("tcp", strings.TrimPrefix(hs.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v (so far %q)", err, out)
	}
	return dateRE.ReplaceAllString(string(out), "Date: DATE\r\n")
}

var dateRE = regexp.MustCompile(`Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n`)

// TestAdminHTTPWire: the admin server's replies byte for byte, for
// well-formed requests (kept connections, chunked and 100-continue
// bodies, HEAD, HTTP/1.0) and for requests it refuses before the API
// sees them.
func TestAdminHTTPWire(t *testing.T) {
	const emptyList = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: DATE\r\nContent-Length: 3\r\n\r\n[]\n"
	for _, tt := range []struct {
		name, raw, want string
	}{
		{name: "two requests on one connection",
			raw:  "GET /faults HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /faults HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
			want: emptyList + emptyList},
		{name: "Connection: close ends after the first",
			raw:  "GET /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\nGET /faults HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
			want: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: DATE\r\nContent-Length: 3\r\nConnection: close\r\n\r\n[]\n"},
		{name: "HTTP/1.0 closes after the reply",
			raw:  "GET /faults HTTP/1.0\r\n\r\nGET /faults HTTP/1.0\r\n\r\n",
			want: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: DATE\r\nContent-Length: 3\r\nConnection: close\r\n\r\n[]\n"},
		{name: "bare LF line ends and empty lines before a request",
			raw:  "\r\n\nGET /faults HTTP/1.1\nHost: 127.0.0.1\n\n",
			want: emptyList},
		{name: "HEAD has the GET's length and no body",
			raw:  "HEAD /faults HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
			want: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: DATE\r\nContent-Length: 3\r\n\r\n"},
		{name: "DELETE: 204 with no length",
			raw:  "DELETE /faults HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
			want: "HTTP/1.1 204 No Content\r\nDate: DATE\r\n\r\n"},
		{name: "a chunked body with an extension and a trailer",
			raw: "POST /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"5;x=y\r\nhang,\r\n" + "10\r\nreq=names,for=60\r\n" + "0\r\nX-Trailer: 1\r\n\r\n" + "DELETE /faults/1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
			want: "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nDate: DATE\r\nContent-Length: LEN\r\n\r\n" +
				`{"id":1,"spec":"hang,req=names,for=60"` + "\n" + "HTTP/1.1 204 No Content\r\nDate: DATE\r\n\r\n"},
		{name: "Expect: 100-continue is answered before the body is read",
			raw:  "POST /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\ndropDELETE /faults HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
			want: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Type: application/json\r\nDate: DATE\r\nContent-Length: LEN\r\n\r\n" + `{"id":1,"spec":"drop"` + "\n" + "HTTP/1.1 204 No Content\r\nDate: DATE\r\n\r\n"},
		{name: "a malformed request line",
			raw:  "GET /faults\r\n\r\n",
			want: refused(400, `malformed request line \"GET /faults\": want METHOD TARGET HTTP/1.1`)},
		{name: "not HTTP at all (an epmd request)",
			raw:  "\x00\x01n",
			want: ""},
		{name: "HTTP/2.0",
			raw:  "GET /faults HTTP/2.0\r\n\r\n",
			want: refused(505, `protocol \"HTTP/2.0\" not supported: want HTTP/1.1 or HTTP/1.0`)},
		{name: "a target that is not a path",
			raw:  "GET faults HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
			want: refused(400, `malformed request target \"faults\": want a path such as /faults`)},
		{name: "a folded header",
			raw:  "GET /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nX: 1\r\n 2\r\n\r\n",
			want: refused(400, `folded header line \" 2\": not allowed (RFC 9112 5.2)`)},
		{name: "a header with no colon",
			raw:  "GET /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nX 1\r\n\r\n",
			want: refused(400, `malformed header line \"X 1\": want NAME: VALUE`)},
		{name: "two Content-Lengths that differ",
			raw:  "POST /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\ndrop",
			want: refused(400, `two Content-Length headers (\"4\", \"5\"): want one`)},
		{name: "a negative Content-Length",
			raw:  "POST /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n",
			want: refused(400, `malformed Content-Length \"-1\": want a whole number of bytes`)},
		{name: "Transfer-Encoding and Content-Length",
			raw:  "POST /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n",
			want: refused(400, `both Transfer-Encoding and Content-Length: want one`)},
		{name: "a Transfer-Encoding other than chunked",
			raw:  "POST /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n",
			want: refused(501, `Transfer-Encoding \"gzip\" not supported: want chunked`)},
		{name: "a body over the limit, by its length",
			raw:  "POST /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 65537\r\n\r\n",
			want: refused(413, `request body of 65537 bytes: over the limit of 65536`)},
		{name: "a chunked body over the limit",
			raw:  "POST /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n10001\r\n",
			want: refused(413, `request body over the limit of 65536 bytes`)},
		{name: "a malformed chunk size",
			raw:  "POST /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
			want: refused(400, `malformed chunk size \"zz\"`)},
		{name: "headers over 64 KiB",
			raw:  "GET /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nX: " + strings.Repeat("a", 64<<10) + "\r\n\r\n",
			want: refused(431, `request line and headers over 65536 bytes`)},
		{name: "no Host in HTTP/1.1",
			raw:  "GET /faults HTTP/1.1\r\n\r\n",
			want: refused(400, `no Host header: HTTP/1.1 requires one`)},
		{name: "two Hosts",
			raw:  "GET /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: 127.0.0.1\r\n\r\n",
			want: refused(400, `two Host headers (\"127.0.0.1\", \"127.0.0.1\"): want one`)},
		{name: "the same Content-Length twice is one",
			raw:  "POST /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\ndropDELETE /faults HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
			want: "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nDate: DATE\r\nContent-Length: LEN\r\n\r\n" + `{"id":1,"spec":"drop"` + "\n" + "HTTP/1.1 204 No Content\r\nDate: DATE\r\n\r\n"},
		{name: "an empty Content-Length",
			raw:  "POST /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length:\r\n\r\nGET /nodes HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
			want: refused(400, `malformed Content-Length \"\": want a whole number of bytes`)},
		{name: "an empty Transfer-Encoding beside a Content-Length",
			raw:  "POST /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding:\r\nContent-Length: 4\r\n\r\ndrop",
			want: refused(400, `both Transfer-Encoding and Content-Length: want one`)},
		{name: "Transfer-Encoding in HTTP/1.0",
			raw:  "POST /faults HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ndrop\r\n0\r\n\r\n",
			want: refused(400, `Transfer-Encoding in an HTTP/1.0 request: want Content-Length`)},
		{name: "a bare CR inside a header value",
			raw:  "POST /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nX: a\rContent-Length: 4\r\n\r\ndrop",
			want: refused(400, `header X has a control character ('\\r'): not allowed in a field value`)},
		{name: "an Expect other than 100-continue",
			raw:  "POST /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 200-ok\r\nContent-Length: 4\r\n\r\ndrop",
			want: refused(417, `Expect \"200-ok\" not supported: want 100-continue or none`)},
		{name: "over 100 header lines, as in a flood of one repeated field",
			raw:  "GET /faults HTTP/1.1\r\nHost: 127.0.0.1\r\n" + strings.Repeat("a:\r\n", 20000) + "\r\n",
			want: refused(431, `over 100 header lines`)},
		{name: "a request cut short",
			raw:  "POST /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\ndrop",
			want: ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := rawExchange(t, &faults.Admin{Injector: faults.NewInjector(1, nil)}, tt.raw)
			want := tt.want
			if strings.Contains(want, "Content-Length: LEN") {
				// A created entry's "added" time, and so its length, vary:
				// compare up to it (the API tests read these replies
				// through net/http, which checks the framing).
				got = contentLengthRE.ReplaceAllString(got, "Content-Length: LEN\r\n")
				got = addedRE.ReplaceAllString(got, "\n")
			}
			if got != want {
				t.Errorf("reply\n%q\nwant\n%q", got, want)
			}
		})
	}
}

var (
	contentLengthRE = regexp.MustCompile(`Content-Length: \d+\r\n`)
	addedRE         = regexp.MustCompile(`,"fired":0,"added":"[^"]+"[^\n]*\n`)
)

// refused is the server's reply to a request it refuses before the API.
func refused(status int, msg string) string {
	body := `{"error":"` + msg + `"}` + "\n"
	reason := map[int]string{400: "Bad Request", 413: "Content Too Large", 417: "Expectation Failed", 431: "Request Header Fields Too Large",
		501: "Not Implemented", 505: "HTTP Version Not Supported"}[status]
	return "HTTP/1.1 " + strconv.Itoa(status) + " " + reason + "\r\nContent-Type: application/json\r\nDate: DATE\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body
}

// TestAdminHTTPFollowStream: a followed event stream is chunked, carries
// each event as it happens, and ends when the client leaves or the
// server closes, leaving no connection behind.
func TestAdminHTTPFollowStream(t *testing.T) {
	inj := faults.NewInjector(1, nil)
	defer inj.Close()
	srv := &epmd.Server{Middleware: []epmd.Middleware{inj.Middleware}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	ec := &epmd.Client{Addr: l.Addr().String(), Timeout: 5 * time.Second}
	a := &faults.Admin{Injector: inj, Server: srv}
	hs := newAdminServer(t, a)
	for i, end := range []string{"client leaves", "server closes"} {
		t.Run(end, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(context.Background(), "GET", hs.URL+"/events?follow=1", nil)
			c, err := net.Dial("tcp", strings.TrimPrefix(hs.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if err := req.Write(c); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || resp.TransferEncoding == nil || resp.TransferEncoding[0] != "chunked" ||
				resp.Header.Get("Content-Type") != "application/x-ndjson" {
				t.Fatalf("status %d, transfer encoding %v, type %q; want 200, chunked, application/x-ndjson",
					resp.StatusCode, resp.TransferEncoding, resp.Header.Get("Content-Type"))
			}
			name := "follow" + strconv.Itoa(i)
			reg, err := ec.Register(context.Background(), &epmd.Alive2Req{Name: name, PortNo: 4000, NodeType: 77, HighVsn: 6, LowVsn: 5})
			if err != nil {
				t.Fatal(err)
			}
			defer reg.Close()
			events := bufio.NewReader(resp.Body)
			for { // the kept events first, then this run's registration
				line, err := events.ReadString('\n')
				if err != nil {
					t.Fatalf("stream: %v before %s registered", err, name)
				}
				if strings.Contains(line, `"type":"registered","node":"`+name+`"`) {
					break
				}
			}
			if end == "client leaves" {
				_ = c.Close()
				return
			}
			_ = a.Close()
			if _, err := io.ReadAll(resp.Body); err == nil {
				t.Fatal("stream ended cleanly after Close; want it cut")
			}
		})
	}
}

// TestAdminHTTPRefusedCloses: a client refused by the token check gets
// one reply and the connection closes; it cannot try again on it.
func TestAdminHTTPRefusedCloses(t *testing.T) {
	got := rawExchange(t, &faults.Admin{Injector: faults.NewInjector(1, nil), Token: "s3cret"},
		"GET /faults HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer guess\r\n\r\n")
	body := `{"error":"missing or wrong token"}` + "\n"
	want := "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"chaos-epmd\"\r\nContent-Type: application/json\r\nDate: DATE\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body
	if got != want {
		t.Errorf("reply\n%q\nwant\n%q", got, want)
	}
}

// TestAdminHTTPContinue: with Expect: 100-continue the server answers
// 100 before it reads the body, so a client that waits for it goes on.
func TestAdminHTTPContinue(t *testing.T) {
	hs := newAdminServer(t, &faults.Admin{Injector: faults.NewInjector(1, nil)})
	c, err := net.Dial("tcp", strings.TrimPrefix(hs.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "POST /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	interim := make([]byte, len("HTTP/1.1 100 Continue\r\n\r\n"))
	if _, err := io.ReadFull(br, interim); err != nil || string(interim) != "HTTP/1.1 100 Continue\r\n\r\n" {
		t.Fatalf("before the body: %q, %v; want the 100 reply", interim, err)
	}
	if _, err := io.WriteString(c, "drop"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("after the body: %v, %v; want 201", resp, err)
	}
}

// TestAdminHTTPConnectionCap: past 128 connections at once, one more is
// closed as soon as it is accepted; the ones open are still served.
func TestAdminHTTPConnectionCap(t *testing.T) {
	hs := newAdminServer(t, &faults.Admin{Injector: faults.NewInjector(1, nil)})
	addr := strings.TrimPrefix(hs.URL, "http://")
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	// Each of the 128 is known to be served (its request answered) before
	// the next is opened, so the server counts them all.
	for range 128 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		req, _ := http.NewRequest("GET", hs.URL+"/nodes", nil)
		if err := req.Write(c); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("connection %d: %v, %v", len(open), resp, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	_ = extra.SetDeadline(time.Now().Add(10 * time.Second))
	if n, err := extra.Read(make([]byte, 1)); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("connection 129: read %d bytes, %v; want it closed (EOF or reset)", n, err)
	}
}
