package main_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// ---------------------------------------------------------------------------
// §4 non-local peers, in a private network namespace: the servers listen on
// 192.0.2.1 (and 2001:db8::1), an address that is not loopback; clients
// connect from 192.0.2.2 (non-local), from 192.0.2.1 (the server's own
// address: local) and from 127.0.0.1 (loopback: local). All addresses are on
// the namespace's own lo, so no traffic leaves it.

func runNonLocal(t *testing.T, impls [2]impl) {
	if os.Getenv("CONFORMANCE_NETNS") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestConformance$/^nonlocal$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "CONFORMANCE_NETNS=1", "C_EPMD_BIN="+impls[0].path, "CHAOS_EPMD_BIN="+impls[1].path, "CHAOS_EPMD_BINARY="+impls[1].path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			skipOrFail(t, fmt.Sprintf("cannot create a network namespace for the non-local cases: %v", err))
		}
		err := cmd.Wait()
		text := out.String()
		if err != nil {
			t.Errorf("non-local cases (run in a network namespace) failed: %v\n%s", err, text)
			return
		}
		if m := regexp.MustCompile(`--- SKIP: TestConformance/nonlocal \([^)]*\)\n\s*(.*)`).FindStringSubmatch(text); m != nil {
			skipOrFail(t, "non-local cases skipped in the network namespace: "+m[1])
		}
		if os.Getenv("CONFORMANCE_SHOW") == "1" {
			t.Log(text)
		}
		return
	}

	ipv6 := true
	for _, cmd := range [][]string{
		{"link", "set", "lo", "up"},
		{"addr", "add", "192.0.2.1/32", "dev", "lo"},
		{"addr", "add", "192.0.2.2/32", "dev", "lo"},
	} {
		if out, err := exec.Command("ip", cmd...).CombinedOutput(); err != nil {
			t.Skipf("ip %s: %v %s", strings.Join(cmd, " "), err, out)
		}
	}
	for _, cmd := range [][]string{
		{"-6", "addr", "add", "2001:db8::1/128", "dev", "lo", "nodad"},
		{"-6", "addr", "add", "2001:db8::2/128", "dev", "lo", "nodad"},
	} {
		if err := exec.Command("ip", cmd...).Run(); err != nil {
			ipv6 = false
		}
	}
	addrList := "192.0.2.1"
	if ipv6 {
		addrList += ",2001:db8::1"
	}
	spec := serverSpec{args: []string{"-packet_timeout", "1", "-relaxed_command_check", "-address", addrList}}
	servers := startPair(t, impls, spec)

	remote := net.ParseIP("192.0.2.2")
	own := net.ParseIP("192.0.2.1")
	from := func(s *session, tag string, src net.IP, dst string, b []byte) *conn {
		c := s.dialFrom(tag, dst, src)
		c.send(b)
		return c
	}
	cases := []conformanceCase{
		{name: "alive2_dropped", run: func(s *session) {
			c := from(s, "alive2", remote, "192.0.2.1", alive2{name: "remote", hi: 6}.frame())
			c.reply()
			s.lookup("remote")
		}},
		{name: "dump_dropped", run: func(s *session) { from(s, "dump", remote, "192.0.2.1", dumpReq).reply() }},
		{name: "kill_dropped_even_relaxed", run: func(s *session) {
			from(s, "kill", remote, "192.0.2.1", killReq).reply()
			s.serverState(openWindow)
		}},
		{name: "stop_dropped_even_relaxed", run: func(s *session) {
			reg := s.register("local reg", alive2{name: "victim", hi: 6})
			from(s, "stop", remote, "192.0.2.1", stopReq("victim")).reply()
			s.lookup("victim")
			reg.close()
		}},
		{name: "garbage_dropped", run: func(s *session) { from(s, "garbage", remote, "192.0.2.1", frame([]byte{'?'})).reply() }},
		{name: "names_allowed", run: func(s *session) {
			reg := s.register("local reg", alive2{name: "listed", hi: 6})
			from(s, "names", remote, "192.0.2.1", namesReq).reply()
			reg.close()
		}},
		{name: "port2_allowed", run: func(s *session) {
			reg := s.register("local reg", alive2{name: "found", hi: 6, extra: "e"})
			from(s, "port2", remote, "192.0.2.1", port2("found")).reply()
			from(s, "port2 unknown", remote, "192.0.2.1", port2("nosuch")).reply()
			reg.close()
		}},
		{name: "own_address_is_local", run: func(s *session) {
			c := s.dialFrom("alive2 from own address", "192.0.2.1", own)
			s.alive2On(c, "ownaddr", alive2{name: "ownaddr", hi: 6}.frame())
			from(s, "dump from own address", own, "192.0.2.1", dumpReq).reply()
			c.close()
		}},
		{name: "loopback_source_is_local", run: func(s *session) {
			c := s.dialFrom("alive2 from 127.0.0.1", "192.0.2.1", net.ParseIP("127.0.0.1"))
			s.alive2On(c, "loopsrc", alive2{name: "loopsrc", hi: 6}.frame())
			c.close()
		}},
		{name: "ipv6_alive2_dropped", skip: func() string {
			if !ipv6 {
				return "no IPv6 in the namespace"
			}
			return ""
		}, run: func(s *session) {
			from(s, "alive2", net.ParseIP("2001:db8::2"), "2001:db8::1", alive2{name: "remote6", hi: 6}.frame()).reply()
			c := s.dialFrom("alive2 from own v6 address", "2001:db8::1", net.ParseIP("2001:db8::1"))
			s.alive2On(c, "own6", alive2{name: "own6", hi: 6}.frame())
			c.close()
		}},
		{name: "kill_local_after_remote", run: func(s *session) {
			// Last: a local KILL still works (relaxed) and ends the server.
			from(s, "kill remote", remote, "192.0.2.1", killReq).reply()
			s.request("kill local", killReq)
			s.serverState(replyTimeout)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.skip != nil {
				if why := c.skip(); why != "" {
					t.Skip(why)
				}
			}
			// Sequential: the last case kills the shared servers.
			runCase(t, servers, c.run)
		})
	}
}
