package epmd_test

import (
	"context"
	"encoding/binary"
	"log/slog"
	"slices"
	"strconv"
	"testing"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// TestStopLogsAsCEpmd: STOP of a registered node logs at -d what the C
// epmd does (erts-13.1.5 epmd -d -relaxed_command_check, node foo, then
// epmd -stop foo), and nothing about the registration connection it
// closes: the C epmd takes the node off before it closes the connection,
// so it never looks the connection's descriptor up.
func TestStopLogsAsCEpmd(t *testing.T) {
	var logs logBuffer
	s := &epmd.Server{RelaxedCommandCheck: true, Logger: slog.New(epmd.NewLogHandler(&logs, 1, epmd.LogFormatC))}
	addr := startServer(t, s)
	holder, resp := register(t, addr, &epmd.Alive2Req{PortNo: 5555, NodeType: 77, HighVsn: 6, LowVsn: 5, Name: "foo"})
	defer holder.Close()
	logs.waitC(t, func(lines []string) bool { return slices.Contains(lines, `epmd: ** sent ALIVE2_RESP for "foo"`) })
	reply, err := (&epmd.Client{Addr: addr, Timeout: ioTimeout}).Stop(context.Background(), "foo")
	if err != nil || reply != "STOPPED" {
		t.Fatalf("STOP foo = %q, %v; want STOPPED", reply, err)
	}
	// The registration connection ends in its own goroutine: wait until
	// it is gone, so that anything it logs is in.
	hostilePoll(t, "no connection open", func() bool { return s.OpenConns() == 0 })
	got := cLines(logs.take())
	want := []string{
		"epmd: ** got STOP_REQ",
		"epmd: unregistering 'foo:" + strconv.FormatUint(uint64(binary.BigEndian.Uint32(resp[2:])), 10) + "', port 5555",
		"epmd: epmd connection stopped",
		"epmd: ** sent STOP_RESP STOPPED",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("log:\n got %q\nwant %q", got, want)
	}
}
