package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/faults"
)

// TestWriteFaultList: ctl list's table, its ENDS column as seen at a fixed
// time (rounded up to the second).
func TestWriteFaultList(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name string
		list []faults.Info
		want string
	}{
		{name: "none", want: "ID  FIRED  ENDS  SPEC\n"},
		{name: "every ENDS form", list: []faults.Info{
			{ID: 1, Spec: "drop,req=names"},
			{ID: 2, Fired: 12, Spec: "hang,for=3600", Until: now.Add(time.Hour - 300*time.Millisecond)},
			{ID: 3, Spec: "reset,for=600", Until: now.Add(9*time.Minute + 58*time.Second + time.Millisecond), Capped: true},
			{ID: 10, Fired: 3, Spec: "stall=1,for=5", Until: now.Add(-time.Second)},
			{ID: 11, Spec: "crash,for=1", Until: now},
		}, want: "ID  FIRED  ENDS       SPEC\n" +
			"1   0      -          drop,req=names\n" +
			"2   12     in 1h0m0s  hang,for=3600\n" +
			"3   0      in 9m59s   reset,for=600\n" +
			"10  3      ended      stall=1,for=5\n" +
			"11  0      ended      crash,for=1\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			writeFaultList(&b, tt.list, now)
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

// TestParseFaultFor: -max-fault-for takes seconds or a Go duration, more
// than 0.
func TestParseFaultFor(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     time.Duration
		ok       bool
	}{
		{name: "bare seconds", in: "600", want: 10 * time.Minute, ok: true},
		{name: "Go duration", in: "1h30m", want: 90 * time.Minute, ok: true},
		{name: "zero", in: "0"},
		{name: "negative", in: "-5s"},
		{name: "word", in: "soon"},
		{name: "too large", in: "99999999999999999"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := parseFaultFor(tt.in)
			if tt.ok && (err != nil || d != tt.want) {
				t.Errorf("parseFaultFor(%q) = %v, %v; want %v", tt.in, d, err, tt.want)
			}
			if !tt.ok && (err == nil || err.Error() != "want seconds (600) or a Go duration (10m), more than 0") {
				t.Errorf("parseFaultFor(%q) = %v, %v; want the error", tt.in, d, err)
			}
		})
	}
}
