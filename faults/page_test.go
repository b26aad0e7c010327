package faults_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/chaos-epmd/chaos-epmd/faults"
)

// inlineSHA256 is the CSP source naming the content of page's one
// <tag>…</tag> element.
func inlineSHA256(t *testing.T, page []byte, tag string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<`+tag+`>(.*?)</`+tag+`>`).FindAllSubmatch(page, -1)
	if len(m) != 1 {
		t.Fatalf("page has %d <%s> elements, want 1", len(m), tag)
	}
	sum := sha256.Sum256(m[0][1])
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// TestPage: GET / serves the embedded page without the token (the API
// still wants it), with a policy that lets only its own inline style and
// script run; without a token the page follows the loopback rule.
func TestPage(t *testing.T) {
	page, err := os.ReadFile("page/index.html")
	if err != nil {
		t.Fatal(err)
	}
	csp := "default-src 'none'; connect-src 'self'; style-src " + inlineSHA256(t, page, "style") +
		"; script-src " + inlineSHA256(t, page, "script") +
		"; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	const loopback, remote = "127.0.0.1:40000", "192.0.2.7:40000"
	for _, tt := range []struct {
		name, token, method, path, peer string
		status                          int
		body                            string // the page when empty and status is 200
		header                          map[string]string
	}{
		{name: "token set, page without it", token: "s3cret", method: "GET", path: "/", peer: remote, status: 200,
			header: map[string]string{"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": csp,
				"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}},
		{name: "no token, loopback", method: "GET", path: "/", peer: loopback, status: 200,
			header: map[string]string{"Content-Length": strconv.Itoa(len(page))}},
		{name: "no token, remote", method: "GET", path: "/", peer: remote, status: 403,
			body: `{"error":"loopback clients only (no token configured)"}` + "\n"},
		{name: "head", token: "s3cret", method: "HEAD", path: "/", peer: loopback, status: 200, body: "-",
			header: map[string]string{"Content-Length": strconv.Itoa(len(page))}},
		{name: "post", token: "s3cret", method: "POST", path: "/", peer: loopback, status: 405,
			body:   `{"error":"method POST not allowed on /: GET or HEAD"}` + "\n",
			header: map[string]string{"Allow": "GET, HEAD"}},
		{name: "token set, api still needs it", token: "s3cret", method: "GET", path: "/faults", peer: loopback, status: 401,
			body: `{"error":"missing or wrong token"}` + "\n"},
		{name: "token set, only / is the page", token: "s3cret", method: "GET", path: "/index.html", peer: loopback, status: 401,
			body: `{"error":"missing or wrong token"}` + "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inj := faults.NewInjector(1, nil)
			t.Cleanup(func() { _ = inj.Close() })
			req := httptest.NewRequest(tt.method, tt.path, nil)
			req.RemoteAddr = tt.peer
			rec := httptest.NewRecorder()
			(&faults.Admin{Injector: inj, Token: tt.token}).ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Errorf("status %d, want %d", rec.Code, tt.status)
			}
			switch want := tt.body; {
			case want == "" && !bytes.Equal(rec.Body.Bytes(), page):
				t.Errorf("body is not page/index.html (%d bytes, want %d)", rec.Body.Len(), len(page))
			case want == "-" && rec.Body.Len() != 0:
				t.Errorf("body %q, want none", rec.Body.String())
			case want != "" && want != "-" && rec.Body.String() != want:
				t.Errorf("body %q, want %q", rec.Body.String(), want)
			}
			for k, want := range tt.header {
				if got := rec.Header().Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
		})
	}
}

// TestPageSelfContained: the page loads nothing from anywhere: no src,
// no link but the empty data: icon, no URL with a scheme or host.
func TestPageSelfContained(t *testing.T) {
	page, err := os.ReadFile("page/index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, pattern string
		want          []string
	}{
		{name: "src attributes", pattern: `\ssrc\s*=`},
		{name: "link elements", pattern: `<link[^>]*>`, want: []string{`<link rel="icon" href="data:,">`}},
		{name: "absolute URLs", pattern: `(?i)\b(https?|wss?):|["'(]//`},
		{name: "imports", pattern: `@import|\bimport\s*\(|<iframe|<object|<embed`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, m := range regexp.MustCompile(tt.pattern).FindAll(page, -1) {
				got = append(got, string(m))
			}
			if len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) {
				t.Errorf("matches of %s: %q, want %q", tt.pattern, got, tt.want)
			}
		})
	}
}
