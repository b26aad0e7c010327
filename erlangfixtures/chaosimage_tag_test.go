package erlangfixtures

import "testing"

// Only a version that names one build makes an image tag by itself; the
// others get the binary's hash, so that two builds never share a tag.
func TestTagNamesNoBuild(t *testing.T) {
	for tag, want := range map[string]bool{
		"ab3cfd7":                            false, // git describe of a clean tree
		"v1.2.3":                             false,
		"v0.0.0-20261201192655-ab3cfd72461a": false, // a commit's pseudo-version
		"ab3cfd7-dirty":                      true,
		"v1.2.3-dirty":                       true,
		"devel":                              true,
		"v0.0.0":                             true,
		"v0.0.0-00010101000000-000000000000": true, // required through a replace directive
	} {
		if got := tagNamesNoBuild(tag); got != want {
			t.Errorf("tagNamesNoBuild(%q) = %v, want %v", tag, got, want)
		}
	}
}
