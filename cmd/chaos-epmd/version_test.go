package main

import (
	"runtime/debug"
	"testing"
)

func TestVersionLine(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	const rev = "59fb779861d7ae18180000690dd1257094493679"
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{name: "no build information", ok: false, want: "chaos-epmd unknown (no build information)"},
		{name: "no vcs stamp", ok: true, bi: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}},
			want: "chaos-epmd (devel)"},
		{name: "empty version", ok: true, bi: &debug.BuildInfo{},
			want: "chaos-epmd (devel)"},
		{name: "pseudo-version, clean", ok: true, bi: &debug.BuildInfo{
			Main:     debug.Module{Version: "v0.0.0-20261130121707-59fb779861d7"},
			Settings: vcs("vcs", "git", "vcs.revision", rev, "vcs.time", "2026-11-30T12:17:07Z", "vcs.modified", "false")},
			want: "chaos-epmd v0.0.0-20261130121707-59fb779861d7 commit 59fb779861d7"},
		{name: "devel, dirty", ok: true, bi: &debug.BuildInfo{
			Main:     debug.Module{Version: "(devel)"},
			Settings: vcs("vcs.revision", rev, "vcs.modified", "true")},
			want: "chaos-epmd (devel) commit 59fb779861d7 (dirty)"},
		{name: "tagged", ok: true, bi: &debug.BuildInfo{
			Main:     debug.Module{Version: "v1.2.3"},
			Settings: vcs("vcs.revision", rev)},
			want: "chaos-epmd v1.2.3 commit 59fb779861d7"},
		{name: "short revision kept whole", ok: true, bi: &debug.BuildInfo{
			Main:     debug.Module{Version: "(devel)"},
			Settings: vcs("vcs.revision", "abc1234")},
			want: "chaos-epmd (devel) commit abc1234"},
		{name: "modified without revision says nothing", ok: true, bi: &debug.BuildInfo{
			Main:     debug.Module{Version: "(devel)"},
			Settings: vcs("vcs.modified", "true")},
			want: "chaos-epmd (devel)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionLine(tt.bi, tt.ok); got != tt.want {
				t.Fatalf("versionLine = %q, want %q", got, tt.want)
			}
		})
	}
}
