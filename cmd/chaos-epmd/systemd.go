package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// systemdListeners returns the sockets systemd passed (LISTEN_FDS, from fd
// 3), with the C epmd's errors for none and for too many.
func systemdListeners() ([]net.Listener, error) {
	if pid, err := strconv.Atoi(os.Getenv("LISTEN_PID")); err != nil || pid != os.Getpid() {
		return nil, errors.New("systemd provides no sockets")
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n <= 0 {
		return nil, errors.New("systemd provides no sockets")
	}
	if n > epmd.MaxListenSockets {
		return nil, fmt.Errorf("cannot listen on more than %d IP addresses", epmd.MaxListenSockets)
	}
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	ls := make([]net.Listener, 0, n)
	for fd := 3; fd < 3+n; fd++ {
		f := os.NewFile(uintptr(fd), "systemd-socket")
		l, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("systemd socket %d: %w", fd, err)
		}
		// Accepted connections get no TCP keep-alive, as from
		// epmd.Listen's listeners and the C epmd.
		ls = append(ls, epmd.WithoutKeepAlive(l))
	}
	return ls, nil
}

// sdNotify sends a state to systemd's notification socket, if any.
func sdNotify(state string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = conn.Write([]byte(state))
}
