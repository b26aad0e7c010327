package main_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/epmd/epmdtest"
	"github.com/chaos-epmd/chaos-epmd/faults"
)

// Browser test timeouts.
const (
	// browserTestTimeout bounds the whole browser test.
	browserTestTimeout = 2 * time.Minute
	// pageStepTimeout bounds each wait for the page to show something.
	pageStepTimeout = 15 * time.Second
	// pagePoll is how often a wait reads the page again.
	pagePoll = 50 * time.Millisecond
)

// pageScreenshot is where the test saves the page while a fault is
// installed and has fired (the repository's build/, which git ignores).
var pageScreenshot = filepath.Join("..", "..", "build", "page.png")

// TestPageInBrowser drives the admin page of a real chaos-epmd -admin
// with a token in headless Chromium (Debian's chromium, through the
// DevTools protocol over --remote-debugging-pipe): the page asks for the
// token and names a wrong one, shows a registered node, adds a fault from
// its form, shows the event when a NAMES request triggers it, and removes
// it again.
func TestPageInBrowser(t *testing.T) {
	chromium := findChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTestTimeout)
	defer cancel()
	const token = "page-test-token"
	admin := "127.0.0.1:" + strconv.Itoa(epmdtest.Port(t))
	port, _ := startChaos(t, "-admin", admin, "-admin-token", token)
	api := &faults.Client{URL: "http://" + admin, Token: token}
	waitAdmin(ctx, t, "http://"+admin+"/")

	cl := &epmd.Client{Addr: "127.0.0.1:" + strconv.Itoa(port), Timeout: 5 * time.Second}
	reg, err := cl.Register(ctx, &epmd.Alive2Req{Name: "pagenode", PortNo: 4242, NodeType: 77, HighVsn: 6, LowVsn: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()

	start := time.Now()
	b := startBrowser(ctx, t, chromium)
	p := b.newPage(ctx, t, 1280, 900)
	t.Logf("browser up, page target attached: %v", time.Since(start).Round(time.Millisecond))
	step := func(what string, f func()) {
		t.Helper()
		s := time.Now()
		f()
		t.Logf("%-58s %v", what, time.Since(s).Round(time.Millisecond))
	}

	step("open the page: token required", func() {
		p.call(ctx, t, "Page.navigate", map[string]string{"url": "http://" + admin + "/"}, nil)
		p.waitText(ctx, t, `document.querySelector("#auth").hidden ? "" : document.querySelector("#auth").textContent`,
			"Token required: this admin API is protected. Enter the token chaos-epmd was started with (-admin-token).")
		p.waitText(ctx, t, `document.querySelector("#status").textContent`, "token required")
	})
	step("enter a wrong token (Enter): token invalid", func() {
		p.typeText(ctx, t, "#token", "wrong")
		p.pressEnter(ctx, t)
		p.waitText(ctx, t, `document.querySelector("#auth").textContent`,
			"Token invalid: the admin API refused it. Enter the token chaos-epmd was started with (-admin-token).")
		p.waitText(ctx, t, `document.querySelector("#status").textContent`, "token invalid")
		p.screenshot(ctx, t, strings.TrimSuffix(pageScreenshot, ".png")+"-token-invalid.png")
	})
	step("enter the token: live, node and registration shown", func() {
		p.typeText(ctx, t, "#token", token)
		p.click(ctx, t, `#token-form button[type=submit]`)
		p.waitText(ctx, t, `document.querySelector("#status").textContent`, "live")
		p.waitText(ctx, t, `String(document.querySelector("#auth").hidden)`, "true")
		creation := strconv.FormatUint(uint64(reg.Creation), 10)
		p.waitMatch(ctx, t, `[...document.querySelectorAll("#nodes tbody tr")].map(r => r.innerText).join("\n")`,
			`^pagenode\t4242\tnormal\t5–6\t`+creation+`\t\d+$`)
		p.waitText(ctx, t, `[...document.querySelectorAll("#timeline li[data-type=registered] .text")].map(e => e.textContent).join("\n")`,
			"pagenode on port 4242, creation "+creation)
	})
	var id string
	step("add drop,req=names through the form", func() {
		p.typeText(ctx, t, "#spec", "drop,req=names")
		p.click(ctx, t, `#add-form button[type=submit]`)
		got := p.waitMatch(ctx, t, `[...document.querySelectorAll("#faults tbody tr")].map(r => r.dataset.id + " " + r.querySelector(".spec").textContent + " " + r.cells[2].textContent).join("\n")`,
			`^\d+ drop,req=names 0$`)
		id = strings.Fields(got)[0]
		list, err := api.Faults(ctx)
		if err != nil || len(list) != 1 || list[0].Spec != "drop,req=names" || strconv.FormatUint(list[0].ID, 10) != id {
			t.Fatalf("API faults after the page's add: %+v, %v; want one, id %s, drop,req=names", list, err, id)
		}
	})
	step("NAMES over loopback: dropped, event on the timeline", func() {
		got, err := rawRequest(t, port, &epmd.NamesReq{})
		if err != nil || len(got) != 0 {
			t.Fatalf("NAMES under drop,req=names: %q, %v; want no reply, a clean close", got, err)
		}
		p.waitMatch(ctx, t, `[...document.querySelectorAll("#timeline li[data-type=fault] .text")].map(e => e.textContent).join("\n")`,
			`^#`+id+` drop,req=names fired on names from 127\.0\.0\.1 conn \d+$`)
		p.waitText(ctx, t, `document.querySelector("#faults tbody tr").cells[2].textContent`, "1")
		p.waitText(ctx, t, `[...document.querySelectorAll("#timeline li[data-type=requests] .text")].map(e => e.textContent).join("\n")`,
			"names → no_reply ×1")
		p.waitMatch(ctx, t, `document.querySelector("#requests tr[data-type=names]").innerText`, `^names\t.*\t1$`)
	})
	step("screenshots "+pageScreenshot+", dark scheme beside it", func() {
		p.screenshot(ctx, t, pageScreenshot)
		dark := func(on bool) {
			scheme := map[bool]string{true: "dark", false: "light"}[on]
			p.call(ctx, t, "Emulation.setEmulatedMedia",
				map[string]any{"features": []map[string]string{{"name": "prefers-color-scheme", "value": scheme}}}, nil)
			p.waitText(ctx, t, `matchMedia("(prefers-color-scheme: dark)").matches`, strconv.FormatBool(on))
		}
		dark(true)
		p.screenshot(ctx, t, strings.TrimSuffix(pageScreenshot, ".png")+"-dark.png")
		dark(false)
	})
	step("remove the fault from the page: list empty", func() {
		p.click(ctx, t, `#faults button[aria-label="Remove fault `+id+` (drop,req=names)"]`)
		p.waitText(ctx, t, `document.querySelectorAll("#faults tbody tr").length + " " + document.querySelector("#faults-empty").hidden`, "0 false")
		list, err := api.Faults(ctx)
		if err != nil || len(list) != 0 {
			t.Fatalf("API faults after the page's remove: %+v, %v; want none", list, err)
		}
		got, err := rawRequest(t, port, &epmd.NamesReq{})
		if err != nil || len(got) < 4 || binary.BigEndian.Uint32(got) != uint32(port) {
			t.Fatalf("NAMES after the remove: %q, %v; want a reply with port %d", got, err, port)
		}
	})
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("the page reported %d errors:\n%s", len(errs), strings.Join(errs, "\n"))
	}
	t.Logf("total with the browser: %v", time.Since(start).Round(time.Millisecond))
}

// findChromium returns Debian's chromium ($CHROMIUM overrides); without
// one the test skips, or fails under CI=true.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	skipOrFail(t, "no chromium on PATH: apt-get install chromium (make deps does), or set CHROMIUM")
	return ""
}

// waitAdmin waits until the admin API serves its page.
func waitAdmin(ctx context.Context, t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, e2eReady)
	defer cancel()
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("admin page %s: %v, %v", url, err, ctx.Err())
		case <-time.After(pagePoll):
		}
	}
}

// browser is a headless Chromium driven through the DevTools protocol:
// JSON messages ending in a NUL byte, written to its fd 3 and read from
// its fd 4 (--remote-debugging-pipe).
type browser struct {
	w  io.Writer
	wm sync.Mutex

	mu      sync.Mutex
	next    int64
	calls   map[int64]chan cdpMessage
	errs    []string // exceptions, CSP violations and console errors of the page
	readErr error
}

// cdpMessage is a DevTools protocol message: a reply (ID) or an event
// (Method).
type cdpMessage struct {
	ID        int64           `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

func startBrowser(ctx context.Context, t *testing.T, chromium string) *browser {
	t.Helper()
	toBrowser, ourEnd, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	fromBrowser, theirEnd, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--no-first-run", "--disable-dev-shm-usage", "--remote-debugging-pipe",
		"--user-data-dir="+t.TempDir(), "about:blank")
	cmd.ExtraFiles = []*os.File{toBrowser, theirEnd} // fds 3 and 4
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	toBrowser.Close()
	theirEnd.Close()
	b := &browser{w: ourEnd, calls: map[int64]chan cdpMessage{}}
	done := make(chan struct{})
	go func() { b.read(fromBrowser); close(done) }()
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.call(cctx, "", "Browser.close", nil, nil)
		ourEnd.Close()
		select {
		case <-done:
		case <-cctx.Done():
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // its renderer and helpers too
		_ = cmd.Wait()
		fromBrowser.Close()
		if t.Failed() {
			t.Logf("chromium stderr:\n%s", stderr.String())
		}
	})
	var v struct {
		Product string `json:"product"`
	}
	if err := b.call(ctx, "", "Browser.getVersion", nil, &v); err != nil {
		t.Fatalf("%v\nchromium stderr:\n%s", err, stderr.String())
	}
	t.Logf("browser: %s", v.Product)
	return b
}

func (b *browser) read(r io.Reader) {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes(0)
		if err != nil {
			b.mu.Lock()
			b.readErr = err
			for id, ch := range b.calls {
				close(ch)
				delete(b.calls, id)
			}
			b.mu.Unlock()
			return
		}
		var m cdpMessage
		if json.Unmarshal(line[:len(line)-1], &m) != nil {
			continue
		}
		b.mu.Lock()
		if ch, ok := b.calls[m.ID]; ok && m.ID != 0 {
			ch <- m
			delete(b.calls, m.ID)
		} else if e := pageError(m); e != "" {
			b.errs = append(b.errs, e)
		}
		b.mu.Unlock()
	}
}

// pageError describes an event that is an error of the page: an uncaught
// exception, a console error, a CSP violation; "" for other events. The
// 401 replies the page gets before it has the right token are expected.
func pageError(m cdpMessage) string {
	switch m.Method {
	case "Runtime.exceptionThrown":
		var p struct {
			Details struct {
				Text      string `json:"text"`
				Exception struct {
					Description string `json:"description"`
				} `json:"exception"`
			} `json:"exceptionDetails"`
		}
		_ = json.Unmarshal(m.Params, &p)
		return "exception: " + p.Details.Text + " " + p.Details.Exception.Description
	case "Log.entryAdded":
		var p struct {
			Entry struct {
				Source, Level, Text, URL string
			} `json:"entry"`
		}
		_ = json.Unmarshal(m.Params, &p)
		e := p.Entry
		if e.Level != "error" || (e.Source == "network" && strings.Contains(e.Text, "status of 401")) {
			return ""
		}
		return fmt.Sprintf("log %s: %s (%s)", e.Source, e.Text, e.URL)
	}
	return ""
}

// call sends a command (to a page when session is set) and decodes its
// result into result.
func (b *browser) call(ctx context.Context, session, method string, params, result any) error {
	b.mu.Lock()
	if b.readErr != nil {
		b.mu.Unlock()
		return fmt.Errorf("%s: browser gone: %w", method, b.readErr)
	}
	b.next++
	id := b.next
	ch := make(chan cdpMessage, 1)
	b.calls[id] = ch
	b.mu.Unlock()
	msg, err := json.Marshal(struct {
		ID        int64  `json:"id"`
		SessionID string `json:"sessionId,omitempty"`
		Method    string `json:"method"`
		Params    any    `json:"params,omitempty"`
	}{id, session, method, params})
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	b.wm.Lock()
	_, err = b.w.Write(append(msg, 0))
	b.wm.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return fmt.Errorf("%s: browser gone", method)
		}
		if m.Error != nil {
			return fmt.Errorf("%s: %s", method, m.Error.Message)
		}
		if result == nil {
			return nil
		}
		return json.Unmarshal(m.Result, result)
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

func (b *browser) pageErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// browserPage is one tab, attached in flat mode.
type browserPage struct {
	b       *browser
	session string
}

func (b *browser) newPage(ctx context.Context, t *testing.T, width, height int) *browserPage {
	t.Helper()
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]string{"url": "about:blank"}, &target); err != nil {
		t.Fatal(err)
	}
	var att struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		t.Fatal(err)
	}
	p := &browserPage{b: b, session: att.SessionID}
	p.call(ctx, t, "Runtime.enable", nil, nil)
	p.call(ctx, t, "Log.enable", nil, nil)
	p.call(ctx, t, "Page.enable", nil, nil)
	p.call(ctx, t, "Emulation.setDeviceMetricsOverride",
		map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}, nil)
	return p
}

func (p *browserPage) call(ctx context.Context, t *testing.T, method string, params, result any) {
	t.Helper()
	if err := p.b.call(ctx, p.session, method, params, result); err != nil {
		t.Fatal(err)
	}
}

// eval evaluates a JavaScript expression in the page and returns its
// value as a string.
func (p *browserPage) eval(ctx context.Context, expr string) (string, error) {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	err := p.b.call(ctx, p.session, "Runtime.evaluate",
		map[string]any{"expression": "String(" + expr + ")", "returnByValue": true}, &res)
	if err != nil {
		return "", err
	}
	if res.Exception != nil {
		return "", errors.New(res.Exception.Text)
	}
	var s string
	err = json.Unmarshal(res.Result.Value, &s)
	return s, err
}

// waitFor evaluates expr until ok accepts its value, or fails the test
// after pageStepTimeout with the last value (and a screenshot beside
// page.png).
func (p *browserPage) waitFor(ctx context.Context, t *testing.T, expr, want string, ok func(string) bool) string {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, pageStepTimeout)
	defer cancel()
	var got string
	var err error
	for {
		got, err = p.eval(wctx, expr)
		if err == nil && ok(got) {
			return got
		}
		select {
		case <-wctx.Done():
			p.screenshot(ctx, t, strings.TrimSuffix(pageScreenshot, ".png")+"-failure.png")
			t.Fatalf("page: %s\ngot  %q (%v)\nwant %s", expr, got, err, want)
		case <-time.After(pagePoll):
		}
	}
}

// waitText waits until expr is exactly want.
func (p *browserPage) waitText(ctx context.Context, t *testing.T, expr, want string) string {
	t.Helper()
	return p.waitFor(ctx, t, expr, strconv.Quote(want), func(s string) bool { return s == want })
}

// waitMatch waits until expr matches the regular expression re.
func (p *browserPage) waitMatch(ctx context.Context, t *testing.T, expr, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	return p.waitFor(ctx, t, expr, "match of "+re, rx.MatchString)
}

// typeText focuses the element and types text into it, as keyboard input.
func (p *browserPage) typeText(ctx context.Context, t *testing.T, selector, text string) {
	t.Helper()
	p.waitText(ctx, t, `(e => (e.focus(), document.activeElement === e))(document.querySelector(`+strconv.Quote(selector)+`))`, "true")
	p.call(ctx, t, "Input.insertText", map[string]string{"text": text}, nil)
}

// pressEnter presses and releases Enter in the focused element.
func (p *browserPage) pressEnter(ctx context.Context, t *testing.T) {
	t.Helper()
	for _, typ := range []string{"keyDown", "keyUp"} {
		ev := map[string]any{"type": typ, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}
		if typ == "keyDown" {
			ev["text"] = "\r"
		}
		p.call(ctx, t, "Input.dispatchKeyEvent", ev, nil)
	}
}

// click clicks the centre of the element with the mouse.
func (p *browserPage) click(ctx context.Context, t *testing.T, selector string) {
	t.Helper()
	box := p.waitMatch(ctx, t, `(r => r ? Math.round(r.x + r.width / 2) + " " + Math.round(r.y + r.height / 2) : "")(
		document.querySelector(`+strconv.Quote(selector)+`)?.getBoundingClientRect())`, `^\d+ \d+$`)
	x, _ := strconv.Atoi(strings.Fields(box)[0])
	y, _ := strconv.Atoi(strings.Fields(box)[1])
	for _, typ := range []string{"mousePressed", "mouseReleased"} {
		p.call(ctx, t, "Input.dispatchMouseEvent",
			map[string]any{"type": typ, "x": x, "y": y, "button": "left", "clickCount": 1}, nil)
	}
}

// screenshot saves a PNG of the viewport at path.
func (p *browserPage) screenshot(ctx context.Context, t *testing.T, path string) {
	t.Helper()
	var shot struct {
		Data string `json:"data"`
	}
	p.call(ctx, t, "Page.captureScreenshot", map[string]string{"format": "png"}, &shot)
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	t.Logf("screenshot: %s (%d bytes)", abs, len(png))
}
