package epmd_test

import (
	"testing"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

func TestReplySucceeded(t *testing.T) {
	tests := []struct {
		name string
		kind epmd.Kind
		head string
		want bool
	}{
		{name: "alive2 v ok", kind: epmd.KindAlive2, head: "v\x00\x00\x00\x00\x01", want: true},
		{name: "alive2 y ok", kind: epmd.KindAlive2, head: "y\x00\x00\x01", want: true},
		{name: "alive2 refused", kind: epmd.KindAlive2, head: "v\x01\x00\x00\x00\x63", want: false},
		{name: "alive2 cut after the code", kind: epmd.KindAlive2, head: "v", want: false},
		{name: "alive2 wrong code", kind: epmd.KindAlive2, head: "w\x00", want: false},
		{name: "port_please found", kind: epmd.KindPortPlease2, head: "w\x00\x13\x88\x4d\x00\x00", want: true},
		{name: "port_please not found", kind: epmd.KindPortPlease2, head: "w\x01", want: false},
		{name: "port_please wrong code", kind: epmd.KindPortPlease2, head: "v\x00", want: false},
		{name: "kill ok", kind: epmd.KindKill, head: "OK", want: true},
		{name: "kill refused", kind: epmd.KindKill, head: "NO", want: false},
		{name: "stop stopped", kind: epmd.KindStop, head: "STOPPED", want: true},
		{name: "stop unknown name", kind: epmd.KindStop, head: "NOEXIST", want: false},
		{name: "names has no result", kind: epmd.KindNames, head: "\x00\x00\x11\x11", want: true},
		{name: "dump has no result", kind: epmd.KindDump, head: "\x00\x00\x11\x11", want: true},
		{name: "accept has no reply", kind: epmd.KindAccept, head: "", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := epmd.ReplySucceeded(tt.kind, []byte(tt.head)); got != tt.want {
				t.Errorf("ReplySucceeded(%v, %q) = %v, want %v", tt.kind, tt.head, got, tt.want)
			}
		})
	}
}
