package main_test

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chaos-epmd/chaos-epmd/epmd/epmdtest"
)

// TestStartFailureLogMessages: an error that stops the daemon at start is
// logged with a constant message and the error in err, so that -log-format
// json and text have a fixed msg; -log-format c prints the same text as
// before, the error alone or after "chaos-epmd: ".
func TestStartFailureLogMessages(t *testing.T) {
	bin := chaosEpmd(t)
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	admin := busy.Addr().String()
	adminErr := `-admin "` + admin + `": listen tcp ` + admin + `: bind: address already in use`
	stamp := regexp.MustCompile(`"time":"[^"]*",|time=\S+ |epmd: \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}: `)
	tests := []struct {
		name string
		args []string
		want string // the last line of stderr, time stamp cut
	}{
		{name: "no systemd sockets, json", args: []string{"-systemd", "-log-format", "json"},
			want: `{"level":"WARN","msg":"cannot listen","err":"systemd provides no sockets"}`},
		{name: "no systemd sockets, text", args: []string{"-systemd", "-log-format", "text"},
			want: `level=WARN msg="cannot listen" err="systemd provides no sockets"`},
		{name: "no systemd sockets, c", args: []string{"-systemd"}, want: "systemd provides no sockets\r"},
		{name: "admin address in use, json", args: []string{"-admin", admin, "-log-format", "json"},
			want: `{"level":"WARN","msg":"cannot start","err":` + strconv.Quote(adminErr) + `}`},
		{name: "admin address in use, c", args: []string{"-admin", admin}, want: "chaos-epmd: " + adminErr + "\r"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-address", "127.0.0.1", "-port", strconv.Itoa(epmdtest.Port(t))}, tt.args...)
			cmd := exec.Command(bin, args...)
			cmd.Env = append(os.Environ(), "LISTEN_FDS=", "LISTEN_PID=")
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("exit %v, output %q; want status 1", err, out)
			}
			lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
			last := lines[len(lines)-1]
			if strings.HasPrefix(last, "{") && !json.Valid([]byte(last)) {
				t.Errorf("not a JSON line: %q", last)
			}
			if got := stamp.ReplaceAllString(last, ""); got != tt.want {
				t.Fatalf("last line %q, want %q; output:\n%s", got, tt.want, out)
			}
		})
	}
}
