package erlangfixtures

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// ChaosRepository is the repository of the chaos-epmd image.
const ChaosRepository = "chaos-epmd"

// LabelBinary, on the chaos-epmd image, is the SHA-256 of the binary it holds.
const LabelBinary = "org.chaos-epmd.binary-sha256"

// ChaosBinaryPath is where the chaos-epmd image holds the binary: its only
// file, and its entry point.
const ChaosBinaryPath = "/chaos-epmd"

// chaosImage caches the image of this process.
var chaosImage memo[string]

// ChaosImage returns the reference of the chaos-epmd image, chaos-epmd:VERSION,
// built FROM scratch on first use in the process: one layer holding only the
// static binary of [ChaosEpmdBinary] at [ChaosBinaryPath], its entry point.
// Nothing is pulled: the layer is imported from a tar of that one file. An
// image of the same tag holding another binary (see [LabelBinary]) is
// replaced.
func ChaosImage(ctx context.Context) (string, error) {
	return chaosImage.get(func() (string, error) {
		bin, err := ChaosEpmdBinary(ctx)
		if err != nil {
			return "", err
		}
		ref, _, err := BuildChaosImage(ctx, bin)
		return ref, err
	})
}

// BuildChaosImage makes sure the chaos-epmd image of the static binary bin
// exists and returns its reference and whether it imported it. The tag is
// the version: `git describe --always --dirty` in the module tree, else the
// module version the binary reports with -version; a dirty tree, a
// development build or a module replaced by a directory (v0.0.0) adds the
// binary's hash (VERSION-HASH12), so two builds never share a tag.
func BuildChaosImage(ctx context.Context, bin string) (ref string, built bool, err error) {
	data, hash, version, err := chaosImageTag(ctx, bin)
	if err != nil {
		return "", false, err
	}
	ref = ChaosRepository + ":" + version
	cli, err := dockerClient(ctx)
	if err != nil {
		return ref, false, err
	}
	inspect, err := cli.ImageInspect(ctx, ref)
	if err == nil && inspect.Config != nil && inspect.Config.Labels[LabelBinary] == hash {
		return ref, false, nil
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(ChaosBinaryPath, "/"),
		Mode: 0o755, Size: int64(len(data)), ModTime: time.Unix(0, 0)}
	if err := tw.WriteHeader(hdr); err != nil {
		return ref, false, fmt.Errorf("chaos-epmd image: %w", err)
	}
	if _, err := tw.Write(data); err != nil {
		return ref, false, fmt.Errorf("chaos-epmd image: %w", err)
	}
	if err := tw.Close(); err != nil {
		return ref, false, fmt.Errorf("chaos-epmd image: %w", err)
	}
	res, err := cli.ImageImport(ctx, client.ImageImportSource{Source: &layer, SourceName: "-"}, ref,
		client.ImageImportOptions{
			Message: "chaos-epmd " + version + " (static binary only)",
			Changes: []string{
				"LABEL " + LabelFixture + "=1",
				"LABEL " + LabelBinary + "=" + hash,
				"LABEL org.opencontainers.image.version=" + version,
				"ENTRYPOINT " + jsonArray([]string{ChaosBinaryPath}),
				"EXPOSE 4369/tcp",
			},
		})
	if err == nil {
		_, err = io.Copy(io.Discard, res)
		res.Close()
	}
	if err != nil {
		return ref, false, fmt.Errorf("import %s: %w", ref, err)
	}
	return ref, true, nil
}

// ChaosImageRef returns the reference [BuildChaosImage] gives the image of
// the static binary bin, without looking at the engine.
func ChaosImageRef(ctx context.Context, bin string) (string, error) {
	_, _, version, err := chaosImageTag(ctx, bin)
	if err != nil {
		return "", err
	}
	return ChaosRepository + ":" + version, nil
}

// chaosImageTag reads bin and returns its content, its SHA-256 and the
// image's tag (see [BuildChaosImage]).
func chaosImageTag(ctx context.Context, bin string) (data []byte, hash, tag string, err error) {
	data, err = os.ReadFile(bin)
	if err != nil {
		return nil, "", "", fmt.Errorf("chaos-epmd image: %w", err)
	}
	sum := sha256.Sum256(data)
	hash = hex.EncodeToString(sum[:])
	tag, err = chaosVersion(ctx, bin)
	if err != nil {
		return nil, "", "", err
	}
	if tagNamesNoBuild(tag) {
		tag += "-" + hash[:12]
	}
	return data, hash, tag, nil
}

// tagNamesNoBuild reports whether a version names no one build, so that
// the image tag needs the binary's hash: a dirty tree, a development build,
// a module replaced by a directory (v0.0.0), or one required at the zero
// pseudo-version, as a module that imports this one through a replace
// directive does (v0.0.0-00010101000000-000000000000).
func tagNamesNoBuild(tag string) bool {
	return strings.Contains(tag, "dirty") || strings.HasPrefix(tag, "devel") ||
		tag == "v0.0.0" || strings.HasPrefix(tag, "v0.0.0-00010101000000-")
}

// chaosVersion is the image tag's version (see [BuildChaosImage]).
func chaosVersion(ctx context.Context, bin string) (string, error) {
	if root, err := ModuleRoot(); err == nil {
		cmd := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty")
		cmd.Dir = root
		if out, err := cmd.Output(); err == nil && len(bytes.TrimSpace(out)) > 0 {
			return tagSafe(string(bytes.TrimSpace(out))), nil
		}
	}
	out, err := exec.CommandContext(ctx, bin, "-version").Output()
	if err != nil {
		return "", fmt.Errorf("chaos-epmd image: %s -version: %w", bin, err)
	}
	// "chaos-epmd v1.2.3 commit 0123456789ab (dirty)" or "chaos-epmd (devel)"
	fields := strings.Fields(string(out))
	if len(fields) < 2 || fields[0] != "chaos-epmd" {
		return "", fmt.Errorf("chaos-epmd image: %s -version printed %q", bin, out)
	}
	v := strings.Trim(fields[1], "()")
	if strings.Contains(string(out), "(dirty)") {
		v += "-dirty"
	}
	return tagSafe(v), nil
}

// tagSafe makes s a valid image tag: [A-Za-z0-9_.-], at most 100 bytes (room
// for the hash), not starting with '.' or '-'.
func tagSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			b[i] = '-'
		}
	}
	s = strings.TrimLeft(string(b[:min(len(b), 100)]), ".-")
	if s == "" {
		return "unknown"
	}
	return s
}

// chaosPackage is chaos-epmd's package path, built by go build from a module
// that requires this one.
const chaosPackage = modulePath + "/cmd/chaos-epmd"

// buildChaosEpmdPackage builds chaos-epmd, outside this module's tree, by its
// package path from the working directory's module (which requires this one,
// so the source is in the module cache or at its replace path), into
// $CHAOS_EPMD_CACHE/bin or the user's cache directory.
func buildChaosEpmdPackage(ctx context.Context) (string, error) {
	dir := os.Getenv("CHAOS_EPMD_CACHE")
	if dir == "" {
		uc, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("build chaos-epmd: %w", err)
		}
		dir = filepath.Join(uc, "chaos-epmd", "erlangfixtures")
	}
	return goBuildChaosEpmd(ctx, filepath.Join(dir, "bin"), "", chaosPackage, func(err error, out string) error {
		wd, _ := os.Getwd()
		return fmt.Errorf("build chaos-epmd (CGO_ENABLED=0 go build %s in %s; or set CHAOS_EPMD_BINARY to a static build): %w\n%s",
			chaosPackage, wd, err, out)
	})
}
