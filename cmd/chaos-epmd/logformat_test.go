package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/epmd/epmdtest"
)

// TestLogFormats: -log-format text and json print the daemon's log with
// slog's handlers, one record a line, the attributes under fixed keys in a
// fixed order; c (the default) prints the C epmd's texts.
func TestLogFormats(t *testing.T) {
	stamp := regexp.MustCompile(`"time":"[^"]*",|time=\S+ |epmd: \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}: `)
	tests := []struct {
		name string
		args []string
		want []string // lines about the NAMES request, time stamps cut
	}{
		{name: "json", args: []string{"-log-format", "json"}, want: []string{
			`{"level":"INFO","msg":"got request","req":"names"}`,
			`{"level":"INFO","msg":"sent NAMES reply","req":"names"}`,
		}},
		{name: "text", args: []string{"-log-format", "text"}, want: []string{
			`level=INFO msg="got request" req=names`,
			`level=INFO msg="sent NAMES reply" req=names`,
		}},
		{name: "c, the default", want: []string{"** got NAMES_REQ\r", "** sent NAMES_RESP\r"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin := chaosEpmd(t)
			port := epmdtest.Port(t)
			var stderr bytes.Buffer
			cmd := exec.Command(bin, append([]string{"-d", "-address", "127.0.0.1", "-port", strconv.Itoa(port)}, tt.args...)...)
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cl := &epmd.Client{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Timeout: 5 * time.Second}
			deadline := time.Now().Add(10 * time.Second)
			for {
				_, _, err := cl.Names(context.Background())
				if err == nil {
					break
				}
				var op *net.OpError
				if !errors.As(err, &op) || op.Op != "dial" || time.Now().After(deadline) {
					_ = cmd.Process.Kill()
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond) // polling interval while the daemon starts
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("after SIGTERM: %v; stderr %q", err, stderr.String())
			}
			var got []string
			for _, line := range strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n") {
				if tt.name == "json" && !json.Valid([]byte(line)) {
					t.Errorf("not a JSON line: %q", line)
				}
				if strings.Contains(line, "names") || strings.Contains(line, "NAMES") {
					got = append(got, stamp.ReplaceAllString(line, ""))
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("lines about NAMES:\n got %q\nwant %q\nstderr:\n%s", got, tt.want, stderr.String())
			}
		})
	}
}
