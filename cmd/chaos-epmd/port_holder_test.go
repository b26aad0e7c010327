package main_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/chaos-epmd/chaos-epmd/epmd/epmdtest"
)

// TestPortHolder: the check make run does before it starts chaos-epmd
// names the process that listens on the port (here, the test itself) and
// exits 1; a free port, or a command line that starts no server, passes
// silently.
func TestPortHolder(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	held := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	free := strconv.Itoa(epmdtest.Port(t))
	self, err := os.ReadFile("/proc/self/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	cmdline := strings.TrimRight(strings.ReplaceAll(string(self), "\x00", " "), " ")
	heldMsg := fmt.Sprintf("make run: port %s is held by pid %d (%s); stop it or set PORT=...\n", held, os.Getpid(), cmdline)

	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{name: "free port", args: []string{free}, code: 0},
		{name: "held port", args: []string{held}, code: 1, stderr: heldMsg},
		{name: "held port with flags", args: []string{held, "-d", "-address", "127.0.0.1", "-fault", "drop"}, code: 1, stderr: heldMsg},
		{name: "-port in ARGS moves to a held port", args: []string{free, "-port", held}, code: 1, stderr: heldMsg},
		{name: "-port in ARGS moves to a free port", args: []string{held, "-port", free}, code: 0},
		{name: "client command takes no port", args: []string{held, "-names"}, code: 0},
		{name: "-systemd takes no port itself", args: []string{held, "-systemd"}, code: 0},
		{name: "not a number: left to chaos-epmd", args: []string{"abc"}, code: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("sh", append([]string{"port-holder.sh"}, tt.args...)...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code || stdout.Len() != 0 || stderr.String() != tt.stderr {
				t.Fatalf("port-holder.sh %q: exit %d, stdout %q, stderr %q; want %d, nothing, %q",
					tt.args, code, stdout.String(), stderr.String(), tt.code, tt.stderr)
			}
		})
	}
}
