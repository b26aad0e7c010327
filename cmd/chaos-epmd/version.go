package main

import (
	"runtime/debug"
	"strings"
)

// versionLine is what -version prints: the module version and the VCS
// commit recorded in the binary, as go version -m shows them:
//
//	chaos-epmd v0.0.0-20261130121707-59fb779861d7 commit 59fb779861d7
//	chaos-epmd (devel) commit 59fb779861d7 (dirty)
//	chaos-epmd (devel)
//
// The commit is missing when the binary was built without VCS stamping
// (-buildvcs=false, or outside a git checkout); "(dirty)" means the work
// tree had uncommitted changes. ok is ReadBuildInfo's.
func versionLine(bi *debug.BuildInfo, ok bool) string {
	if !ok || bi == nil {
		return "chaos-epmd unknown (no build information)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	var b strings.Builder
	b.WriteString("chaos-epmd ")
	b.WriteString(v)
	if rev != "" {
		b.WriteString(" commit ")
		b.WriteString(rev[:min(len(rev), 12)])
		if dirty {
			b.WriteString(" (dirty)")
		}
	}
	return b.String()
}
