package main_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ---------------------------------------------------------------------------
// Cases: §5 listening and -address, §8 server environment, §9 systemd, -daemon

// launch starts the binary as a server with the given arguments (PORT is
// the session's port) and returns it as the session's server, or records
// how it ended when it exits within exitWindow.
func (s *session) launch(env []string, args ...string) bool {
	argv, env := s.expand(args), s.expand(env)
	srv := s.srv
	srv.exited = make(chan struct{})
	srv.cmd = exec.Command(srv.impl.path, argv...)
	srv.cmd.Env = epmdEnv(env...)
	srv.cmd.Stdout = &srv.stdout
	srv.cmd.Stderr = &srv.stderr
	if err := srv.cmd.Start(); err != nil {
		s.printf("start: %v", err)
		return false
	}
	go func() { srv.cmd.Wait(); close(srv.exited) }()
	// Either it exits (an error, or EADDRINUSE) or it answers NAMES.
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-srv.exited:
			s.printf("server exited status=%d stdout=%s stderr=%s", srv.cmd.ProcessState.ExitCode(),
				strconv.Quote(s.norm(srv.stdout.String())), strconv.Quote(s.norm(srv.stderr.String())))
			if srv.cmd.ProcessState.ExitCode() == 0 && srv.stdout.String()+srv.stderr.String() == "" {
				// The silent exit of a busy port (or of a KILL request).
				s.notes = append(s.notes, fmt.Sprintf("exited 0 silently; TCP port %d then: %s", srv.port, portUse(srv.port)))
			}
			return false
		default:
		}
		if b := s.namesWithin(time.Second); len(b) >= 4 {
			s.printf("server running")
			return true
		}
		pause(pollInterval)
	}
	s.printf("server neither answers nor exits")
	return false
}

// reach records whether host answers NAMES at the session's port.
func (s *session) reach(host string) {
	c := s.dialFrom("names via "+host, host, nil)
	if c.nc == nil {
		return
	}
	c.send(namesReq)
	c.reply()
	c.close()
}

func startupCases() []conformanceCase {
	// stopServer kills the server (a KILL request, then the process) and
	// records its stderr.
	stopServer := func(s *session) {
		s.srv.kill()
		s.printf("stderr: %s", strconv.Quote(s.norm(s.srv.stderr.String())))
	}
	withPortTaken := func(host string, args ...string) func(s *session) {
		return func(s *session) {
			l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(s.srv.port)))
			if err != nil {
				s.printf("cannot occupy the port: %v", err)
				return
			}
			defer l.Close()
			go func() { // refuse politely, so probes of the port end at once
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
			if s.launch(nil, args...) {
				stopServer(s)
			}
		}
	}
	addrs := func(n int) string {
		var a []string
		for i := range n {
			a = append(a, fmt.Sprintf("127.0.0.%d", i+2))
		}
		return strings.Join(a, ",")
	}
	cases := []conformanceCase{
		{name: "eaddrinuse_exits_0_silently", run: withPortTaken("127.0.0.1", "-address", "127.0.0.1", "-port", "{PORT}")},
		{name: "eaddrinuse_debug_message", run: withPortTaken("127.0.0.1", "-d", "-address", "127.0.0.1", "-port", "{PORT}")},
		{name: "eaddrinuse_on_explicit_address", run: withPortTaken("127.0.0.2", "-address", "127.0.0.2", "-port", "{PORT}")},
		{name: "eaddrinuse_default_listen", run: withPortTaken("127.0.0.1", "-port", "{PORT}")},
		{name: "eaddrinuse_ipv6_loopback", skip: noIPv6, run: withPortTaken("::1", "-address", "127.0.0.1", "-port", "{PORT}")},
		{name: "address_parse_error", run: func(s *session) { s.launch(nil, "-address", "1.2.3.x", "-port", "{PORT}") }},
		{name: "address_brackets_parse_error", run: func(s *session) { s.launch(nil, "-address", "[::1]", "-port", "{PORT}") }},
		{name: "address_hostname_parse_error", run: func(s *session) { s.launch(nil, "-address", "localhost", "-port", "{PORT}") }},
		{name: "address_token_printed_raw", run: func(s *session) { s.launch(nil, "-address", "a\"b\\c\tq\x01", "-port", "{PORT}") }},
		{name: "address_ipv4_mapped_einval", run: func(s *session) { s.launch(nil, "-d", "-address", "::ffff:127.0.0.1", "-port", "{PORT}") }},
		{name: "address_not_on_host_exit_1", run: func(s *session) { s.launch(nil, "-address", "192.0.2.77", "-port", "{PORT}") }},
		{name: "address_14_explicit_too_many", run: func(s *session) { s.launch(nil, "-address", addrs(14), "-port", "{PORT}") }},
		{name: "address_13_explicit_allowed", run: func(s *session) {
			if s.launch(nil, "-address", addrs(13), "-port", "{PORT}") {
				s.reach("127.0.0.14")
				s.reach("127.0.0.15")
				stopServer(s)
			}
		}},
		{name: "address_loopbacks_deduplicated", run: func(s *session) {
			if s.launch(nil, "-address", "127.0.0.1,::1,"+addrs(13), "-port", "{PORT}") {
				s.reach("127.0.0.14")
				stopServer(s)
			}
		}},
		{name: "address_list_separators", run: func(s *session) {
			if s.launch(nil, "-address", " 127.0.0.2 ,, 127.0.0.3,", "-port", "{PORT}") {
				s.reach("127.0.0.1")
				s.reach("127.0.0.2")
				s.reach("127.0.0.3")
				s.reach("127.0.0.4")
				stopServer(s)
			}
		}},
		{name: "address_duplicate_token", run: func(s *session) { s.launch(nil, "-address", "127.0.0.2,127.0.0.2", "-port", "{PORT}") }},
		{name: "address_only_separators_listens_on_any", run: func(s *session) {
			if s.launch(nil, "-address", " , ", "-port", "{PORT}") {
				s.reach("127.0.0.5")
				stopServer(s)
			}
		}},
		{name: "default_listen_any", run: func(s *session) {
			if s.launch(nil, "-port", "{PORT}") {
				s.reach("127.0.0.6")
				stopServer(s)
			}
		}},
		{name: "address_only_loopback", run: func(s *session) {
			if s.launch(nil, "-address", "127.0.0.1", "-port", "{PORT}") {
				s.reach("127.0.0.7")
				stopServer(s)
			}
		}},
		{name: "erl_epmd_address", run: func(s *session) {
			if s.launch([]string{"ERL_EPMD_ADDRESS=127.0.0.2"}, "-port", "{PORT}") {
				s.reach("127.0.0.2")
				s.reach("127.0.0.3")
				stopServer(s)
			}
		}},
		{name: "address_flag_overrides_env", run: func(s *session) {
			if s.launch([]string{"ERL_EPMD_ADDRESS=127.0.0.2"}, "-address", "127.0.0.3", "-port", "{PORT}") {
				s.reach("127.0.0.2")
				s.reach("127.0.0.3")
				stopServer(s)
			}
		}},
		{name: "erl_epmd_port_server", run: func(s *session) {
			if s.launch([]string{"ERL_EPMD_PORT={PORT}"}, "-address", "127.0.0.1") {
				s.request("names", namesReq)
				stopServer(s)
			}
		}},
		{name: "port_flag_overrides_env", run: func(s *session) {
			if s.launch([]string{"ERL_EPMD_PORT=1"}, "-address", "127.0.0.1", "-port", "{PORT}") {
				s.request("names", namesReq)
				stopServer(s)
			}
		}},
		{name: "relaxed_env_empty_value", run: func(s *session) {
			if s.launch([]string{"ERL_EPMD_RELAXED_COMMAND_CHECK="}, "-address", "127.0.0.1", "-port", "{PORT}") {
				s.request("stop", stopReq("nosuch"))
				c := s.register("reg", alive2{name: "live", hi: 6})
				s.request("kill", killReq)
				s.serverState(replyTimeout)
				c.close()
			}
		}},
		{name: "relaxed_env_value_0", run: func(s *session) {
			if s.launch([]string{"ERL_EPMD_RELAXED_COMMAND_CHECK=0"}, "-address", "127.0.0.1", "-port", "{PORT}") {
				s.request("stop", stopReq("nosuch"))
				stopServer(s)
			}
		}},
		{name: "packet_timeout_flag_later_wins", run: func(s *session) {
			if s.launch(nil, "-packet_timeout", "60", "-packet_timeout", "1", "-address", "127.0.0.1", "-port", "{PORT}") {
				c := s.dial("idle")
				c.record(c.read(idleCloseLimit, idleCloseLimit))
				stopServer(s)
			}
		}},
		{name: "daemon", run: func(s *session) {
			s.cli(nil, "-daemon", "-relaxed_command_check", "-address", "127.0.0.1", "-port", "{PORT}")
			deadline := time.Now().Add(startTimeout)
			for len(s.names()) < 4 && time.Now().Before(deadline) {
				pause(pollInterval)
			}
			s.request("names", namesReq)
			s.request("kill", killReq)
			deadline = time.Now().Add(replyTimeout)
			for len(s.names()) >= 4 && time.Now().Before(deadline) {
				pause(pollInterval)
			}
			s.reach("127.0.0.1")
		}},
		{name: "server_port_above_65535", run: func(s *session) {
			// -port is atoi'd and truncated to 16 bits for bind, but NAMES
			// reports the configured value.
			if s.launch(nil, "-address", "127.0.0.1", "-port", "{PORT+65536}") {
				s.request("names", namesReq)
				s.cli(nil, "-port", "{PORT}", "-names")
				stopServer(s)
			}
		}},
		{name: "closed_stdout_stderr_pipes", run: runClosedStdio},
		{name: "systemd_no_sockets", run: func(s *session) { s.launch(nil, "-systemd", "-port", "{PORT}") }},
		{name: "systemd_no_sockets_debug2", run: func(s *session) { s.launch(nil, "-d", "-d", "-systemd", "-port", "{PORT}") }},
		{name: "systemd_socket", run: runSystemd},
	}
	return cases
}

// runClosedStdio starts a server at debug level 2 with stdout and stderr on
// pipes, and once it serves, closes their readers (as when epmd_SUITE's
// test case process ends): its writes fail with EPIPE, and it must go on
// serving. (The C epmd ignores SIGPIPE only once its server loop starts;
// closing the pipes earlier kills it.)
func runClosedStdio(s *session) {
	srv := s.srv
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	srv.exited = make(chan struct{})
	srv.cmd = exec.Command(srv.impl.path, "-d", "-d", "-packet_timeout", "1", "-address", "127.0.0.1", "-port", strconv.Itoa(srv.port))
	srv.cmd.Env = epmdEnv()
	srv.cmd.Stdout, srv.cmd.Stderr = outW, errW
	err := srv.cmd.Start()
	outW.Close()
	errW.Close()
	defer outR.Close()
	defer errR.Close()
	if err != nil {
		s.printf("start: %v", err)
		return
	}
	go func() { srv.cmd.Wait(); close(srv.exited) }()
	deadline := time.Now().Add(startTimeout)
	for len(s.namesWithin(200*time.Millisecond)) < 4 && time.Now().Before(deadline) {
		pause(pollInterval)
	}
	outR.Close() // the pipe buffers (64 KiB) hold what was written so far
	errR.Close()
	c := s.register("reg", alive2{name: "nopipe", hi: 6})
	s.request("names", namesReq)
	s.request("garbage", frame([]byte{'?'}))
	s.lookup("nopipe")
	c.close()
	s.waitUnregistered("nopipe")
	s.request("kill", killReq)
	s.serverState(replyTimeout)
}

// runSystemd hands a listening socket to the server as systemd does
// (LISTEN_FDS=1, LISTEN_PID, fd 3) with a NOTIFY_SOCKET, and records the
// NAMES port field (the configured port, not the socket's) and the
// notifications.
func runSystemd(s *session) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		s.printf("listen: %v", err)
		return
	}
	defer l.Close()
	lf, _ := l.(*net.TCPListener).File()
	defer lf.Close()
	sockPort := l.Addr().(*net.TCPAddr).Port

	dir, _ := os.MkdirTemp("", "sd-notify")
	defer os.RemoveAll(dir)
	notifyPath := filepath.Join(dir, "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		s.printf("notify socket: %v", err)
		return
	}
	defer notify.Close()

	srv := s.srv
	srv.exited = make(chan struct{})
	srv.cmd = exec.Command("/bin/sh", "-c", `export LISTEN_PID=$$; exec "$0" "$@"`, srv.impl.path, "-systemd", "-packet_timeout", "1")
	srv.cmd.Env = epmdEnv("LISTEN_FDS=1", "NOTIFY_SOCKET="+notifyPath)
	srv.cmd.ExtraFiles = []*os.File{lf}
	srv.cmd.Stdout, srv.cmd.Stderr = &srv.stdout, &srv.stderr
	if err := srv.cmd.Start(); err != nil {
		s.printf("start: %v", err)
		return
	}
	go func() { srv.cmd.Wait(); close(srv.exited) }()
	lf.Close()
	l.Close() // the server owns the socket now

	readNotify := func() {
		notify.SetReadDeadline(time.Now().Add(replyTimeout))
		buf := make([]byte, 4096)
		n, err := notify.Read(buf)
		if err != nil {
			s.printf("notify: %s", errClass(err))
			return
		}
		s.printf("notify: %s", strconv.Quote(s.norm(string(buf[:n]))))
	}
	readNotify()
	s.srv.port = sockPort
	s.request("names", namesReq) // port field: 4369, the configured port
	s.request("kill", killReq)
	s.serverState(replyTimeout)
	readNotify()
	s.printf("stderr: %s", strconv.Quote(s.norm(srv.stderr.String())))
}
