package faults

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
)

// ErrNotHTTP is returned when the address a Client talks to accepted the
// connection but did not answer HTTP, as an epmd port does.
var ErrNotHTTP = errors.New("did not answer HTTP")

// Client is a Go client of the admin API (see Admin). The zero value is
// not usable: set URL.
type Client struct {
	// URL is the API's base URL, e.g. "http://127.0.0.1:4380".
	URL string
	// Token is sent as a bearer token when set.
	Token string
	// HTTPClient makes the requests; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// Faults returns the installed faults in order.
func (c *Client) Faults(ctx context.Context) ([]Info, error) {
	var out []Info
	return out, c.do(ctx, http.MethodGet, "/faults", nil, http.StatusOK, &out)
}

// Add installs a fault from its spec and returns its entry. A bad spec
// gives a *SpecError.
func (c *Client) Add(ctx context.Context, spec string) (Info, error) {
	var out Info
	body, _ := json.Marshal(map[string]string{"spec": spec})
	return out, c.do(ctx, http.MethodPost, "/faults", body, http.StatusCreated, &out)
}

// AddAll installs faults from their specs, in order, all or none, and
// returns their entries. A bad spec gives a *SpecError naming it, and
// nothing is installed.
func (c *Client) AddAll(ctx context.Context, specs []string) ([]Info, error) {
	var out []Info
	body, _ := json.Marshal(specs)
	return out, c.do(ctx, http.MethodPost, "/faults", body, http.StatusCreated, &out)
}

// Stop asks the daemon to end, as SIGTERM does (POST /stop).
func (c *Client) Stop(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/stop", nil, http.StatusAccepted, nil)
}

// Remove uninstalls the fault with that id; ErrNoFault when there is none.
func (c *Client) Remove(ctx context.Context, id uint64) error {
	return c.do(ctx, http.MethodDelete, "/faults/"+strconv.FormatUint(id, 10), nil, http.StatusNoContent, nil)
}

// Clear uninstalls every fault.
func (c *Client) Clear(ctx context.Context) error {
	return c.do(ctx, http.MethodDelete, "/faults", nil, http.StatusNoContent, nil)
}

// Nodes returns the registered nodes, newest first.
func (c *Client) Nodes(ctx context.Context) ([]NodeInfo, error) {
	var out []NodeInfo
	return out, c.do(ctx, http.MethodGet, "/nodes", nil, http.StatusOK, &out)
}

// Metrics returns the Prometheus text of /metrics.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	resp, err := c.request(ctx, http.MethodGet, "/metrics", nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("read metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", apiErr(resp.StatusCode, b)
	}
	return string(b), nil
}

// Events calls fn with the kept events after since and, with follow, with
// every later event until ctx is done or fn returns an error (which Events
// returns). Without follow it returns after the kept events.
func (c *Client) Events(ctx context.Context, since uint64, follow bool, fn func(Event) error) error {
	path := "/events?since=" + strconv.FormatUint(since, 10)
	if follow {
		path += "&follow=1"
	}
	resp, err := c.request(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return apiErr(resp.StatusCode, b)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("decode event: %w", err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("read events: %w", err)
	}
	return ctx.Err()
}

func (c *Client) request(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.URL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("admin %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() == nil && notHTTP(err) {
			return nil, fmt.Errorf("admin %s %s: %s %w: is it the admin address (-admin), not the epmd port?", method, path, req.URL.Host, ErrNotHTTP)
		}
		return nil, fmt.Errorf("admin %s %s: %w", method, path, err)
	}
	return resp, nil
}

// notHTTP reports whether err from an HTTP exchange means the server end
// accepted the connection but does not speak HTTP: it closed or reset the
// connection without a reply, or answered something else.
func notHTTP(err error) bool {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		strings.Contains(err.Error(), "malformed HTTP")
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, want int, out any) error {
	resp, err := c.request(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("admin %s %s: read reply: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return apiErr(resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("admin %s %s: decode reply: %w", method, path, err)
		}
	}
	return nil
}

// apiErr turns an error reply into an error: a *SpecError for a bad spec,
// ErrNoFault for an unknown id.
func apiErr(status int, body []byte) error {
	var e apiError
	_ = json.Unmarshal(body, &e)
	switch {
	case status == http.StatusBadRequest && e.Key != "":
		return &SpecError{Spec: e.Spec, Key: e.Key, Msg: e.Msg}
	case status == http.StatusNotFound && strings.HasPrefix(e.Error, ErrNoFault.Error()):
		return fmt.Errorf("admin: %w", ErrNoFault)
	case e.Error != "":
		return fmt.Errorf("admin: %s (HTTP %d)", e.Error, status)
	}
	return fmt.Errorf("admin: HTTP %d: %s", status, bytes.TrimSpace(body))
}
