package epmd_test

import (
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// TestRegistrationEndsWithFIN: data on a registration connection (a second
// ALIVE2, one stray byte) unregisters the node and closes the connection
// unanswered, as the C epmd does: with a FIN, the data read first, so the
// peer reads EOF, not a reset.
func TestRegistrationEndsWithFIN(t *testing.T) {
	tests := []struct {
		name string
		send []byte
	}{
		{name: "second ALIVE2", send: epmd.AppendFrame(nil, &epmd.Alive2Req{PortNo: 4712, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "again"})},
		{name: "one byte", send: []byte{0}},
		{name: "a full input buffer", send: make([]byte, 3058)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &epmd.Server{}
			addr := startServer(t, s)
			conn, _ := register(t, addr, &epmd.Alive2Req{PortNo: 4711, NodeType: 'M', HighVsn: 6, LowVsn: 5, Name: "first"})
			_ = conn.SetDeadline(time.Now().Add(ioTimeout))
			if _, err := conn.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(conn)
			if err != nil || len(got) != 0 {
				t.Fatalf("read after %d bytes on the registration = %q, %v (a reset: %t); want EOF", len(tt.send), got, err, errors.Is(err, syscall.ECONNRESET))
			}
			waitFor(t, "first unregistered", func() bool { _, ok := s.NodeTable().Lookup("first"); return !ok })
			if _, ok := s.NodeTable().Lookup("again"); ok {
				t.Fatal("the second ALIVE2 registered its name")
			}
		})
	}
}
