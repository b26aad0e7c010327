package erlangfixtures

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// DebianMirror returns the Debian archive URL to build images from:
// $CHAOS_EPMD_DEBIAN_MIRROR when set, else the first URI of this machine's apt
// sources (deb822 files in /etc/apt/sources.list.d, then /etc/apt/sources.list)
// that serves a plain release suite (not -security, -updates or -backports).
func DebianMirror() (string, error) {
	if m := os.Getenv("CHAOS_EPMD_DEBIAN_MIRROR"); m != "" {
		return m, nil
	}
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	for _, f := range files {
		if m := mirrorFromDeb822(f); m != "" {
			return m, nil
		}
	}
	files, _ = filepath.Glob("/etc/apt/sources.list.d/*.list")
	for _, f := range append([]string{"/etc/apt/sources.list"}, files...) {
		if m := mirrorFromList(f); m != "" {
			return m, nil
		}
	}
	return "", errors.New("no Debian mirror found in /etc/apt/sources.list{,.d}: set CHAOS_EPMD_DEBIAN_MIRROR")
}

func plainSuite(s string) bool {
	return s != "" && !strings.Contains(s, "-") && !strings.Contains(s, "/")
}

func mirrorFromDeb822(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var uris, suites, types []string
	flush := func() string {
		defer func() { uris, suites, types = nil, nil, nil }()
		if len(uris) == 0 || !contains(types, "deb") {
			return ""
		}
		for _, s := range suites {
			if plainSuite(s) {
				return uris[0]
			}
		}
		return ""
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			if m := flush(); m != "" {
				return m
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "uris":
			uris = strings.Fields(v)
		case "suites":
			suites = strings.Fields(v)
		case "types":
			types = strings.Fields(v)
		case "enabled":
			if strings.TrimSpace(v) == "no" {
				types = nil
			}
		}
	}
	return flush()
}

func mirrorFromList(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 3 || fs[0] != "deb" {
			continue
		}
		fs = fs[1:]
		if strings.HasPrefix(fs[0], "[") { // options: [arch=amd64 signed-by=...]
			for len(fs) > 0 && !strings.HasSuffix(fs[0], "]") {
				fs = fs[1:]
			}
			if len(fs) > 0 {
				fs = fs[1:]
			}
		}
		if len(fs) >= 2 && plainSuite(fs[1]) {
			return fs[0]
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
