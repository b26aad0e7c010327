package main_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chaos-epmd/chaos-epmd/epmd/epmdtest"
)

// portUse describes every TCP socket of this network namespace whose
// local port is port, with the processes that hold it: "127.0.0.1:P LISTEN
// pid 12 (epmd -port P)". An epmd that exits 0 silently found its port in
// use; when a case did not expect that, the note says who had it a moment
// later ("nothing" when whoever it was is gone already).
func portUse(port int) string {
	var uses []string
	owners := socketOwners()
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			uses = append(uses, err.Error())
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // the header
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 {
				continue
			}
			host, hexPort, ok := strings.Cut(fs[1], ":")
			if p, err := strconv.ParseUint(hexPort, 16, 16); !ok || err != nil || int(p) != port {
				continue
			}
			use := fmt.Sprintf("%s:%d %s", procNetHost(host), port, tcpStates[fs[3]])
			if who := owners[fs[9]]; len(who) > 0 {
				use += " " + strings.Join(who, ", ")
			}
			uses = append(uses, use)
		}
		f.Close()
	}
	if len(uses) == 0 {
		return "nothing"
	}
	return strings.Join(uses, "; ")
}

// tcpStates names the states of /proc/net/tcp (include/net/tcp_states.h).
var tcpStates = map[string]string{
	"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
	"05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
	"09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}

// procNetHost renders /proc/net/tcp's address: 8 hex digits of an IPv4
// address, or 32 of an IPv6 one, each 32-bit word in host (little-endian)
// order.
func procNetHost(h string) string {
	var b []byte
	for i := 0; i+8 <= len(h); i += 8 {
		w, err := strconv.ParseUint(h[i:i+8], 16, 32)
		if err != nil {
			return h
		}
		b = append(b, byte(w), byte(w>>8), byte(w>>16), byte(w>>24))
	}
	switch len(b) {
	case 4:
		return net.IP(b).String()
	case 16:
		return "[" + net.IP(b).String() + "]"
	}
	return h
}

// socketOwners maps a socket's inode to the processes holding it, as "pid
// N (command line)"; each process's command line is read once.
func socketOwners() map[string][]string {
	owners := map[string][]string{}
	names := map[string]string{}
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		link, err := os.Readlink(fd)
		inode, ok := strings.CutPrefix(link, "socket:[")
		if err != nil || !ok {
			continue
		}
		inode = strings.TrimSuffix(inode, "]")
		pid := strings.Split(fd, "/")[2]
		who, ok := names[pid]
		if !ok {
			cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
			who = fmt.Sprintf("pid %s (%s)", pid, strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")))
			names[pid] = who
		}
		owners[inode] = append(owners[inode], who)
	}
	return owners
}

// TestPortUse: the note of a silent exit names the sockets on the port,
// their state and the process holding each.
func TestPortUse(t *testing.T) {
	port := epmdtest.Port(t)
	if got := portUse(port); got != "nothing" {
		t.Fatalf("portUse(%d) of a reserved, unbound port = %q, want nothing", port, got)
	}
	l, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cmdline, err := os.ReadFile("/proc/self/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	me := fmt.Sprintf("pid %d (%s)", os.Getpid(), strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")))
	want := fmt.Sprintf("127.0.0.1:%d LISTEN %s", port, me)
	if got := portUse(port); got != want {
		t.Errorf("portUse(%d) = %q, want %q", port, got, want)
	}
}

func TestProcNetHost(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F":                         "127.0.0.1",
		"00000000":                         "0.0.0.0",
		"00000000000000000000000001000000": "[::1]",
		"00000000000000000000000000000000": "[::]",
		"xyz":                              "xyz",
	} {
		if got := procNetHost(in); got != want {
			t.Errorf("procNetHost(%q) = %q, want %q", in, got, want)
		}
	}
}
