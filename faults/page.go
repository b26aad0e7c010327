package faults

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"strconv"
)

// pageHTML is the admin page: one HTML file with its style and script
// inline, so the binary serves it with nothing else.
//
//go:embed page/index.html
var pageHTML []byte

// servePage serves the admin page when r asks for "/" and reports whether
// it handled r. The page holds no data of its own: everything it shows it
// fetches from the API with the token the user enters, so it is served
// without one; with no token configured it follows the API's loopback
// rule.
func (a *Admin) servePage(w *response, r *request) bool {
	if r.Path != "/" {
		return false
	}
	if a.Token == "" && !a.allowed(w, r) {
		return true
	}
	if r.Method != "GET" && r.Method != "HEAD" {
		w.setHeader("Allow", "GET, HEAD")
		writeJSON(w, 405, apiError{Error: "method " + r.Method + " not allowed on /: GET or HEAD"})
		return true
	}
	w.setHeader("Content-Type", "text/html; charset=utf-8")
	w.setHeader("Content-Length", strconv.Itoa(len(pageHTML)))
	w.setHeader("Cache-Control", "no-store")
	w.setHeader("Content-Security-Policy", pageCSP(pageHTML))
	w.setHeader("X-Content-Type-Options", "nosniff")
	w.setHeader("Referrer-Policy", "no-referrer")
	w.writeHeader(200)
	_, _ = w.Write(pageHTML) // left out of a HEAD reply
	return true
}

// pageCSP returns the Content-Security-Policy the page is served with:
// nothing may load from anywhere, the page talks only to the API that
// served it, and only its own inline <style> and <script> (named by their
// SHA-256) run.
func pageCSP(page []byte) string {
	return "default-src 'none'; connect-src 'self'; style-src " + inlineHash(page, "style") +
		"; script-src " + inlineHash(page, "script") +
		"; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

// inlineHash is the CSP source of the first <tag>…</tag> of page, or
// 'none' when it has none.
func inlineHash(page []byte, tag string) string {
	_, rest, ok := bytes.Cut(page, []byte("<"+tag+">"))
	if !ok {
		return "'none'"
	}
	body, _, ok := bytes.Cut(rest, []byte("</"+tag+">"))
	if !ok {
		return "'none'"
	}
	sum := sha256.Sum256(body)
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}
