package erlangfixtures

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// chaosBuild caches the chaos-epmd build of this process: built once, reused by
// every container. A failed build is retried on the next call.
var chaosBuild memo[string]

// ChaosEpmdBinary returns the path of a static chaos-epmd binary for containers:
// $CHAOS_EPMD_BINARY when set (relative to the module root unless absolute; it
// must be static, CGO_ENABLED=0), else built once per process from the module
// tree (CGO_ENABLED=0 go build ./cmd/chaos-epmd) into [CacheDir]/bin; outside
// it, by package path from the working directory's module, which requires this
// one (go build github.com/chaos-epmd/chaos-epmd/cmd/chaos-epmd).
func ChaosEpmdBinary(ctx context.Context) (string, error) {
	return chaosBuild.get(func() (string, error) { return buildChaosEpmd(ctx) })
}

func buildChaosEpmd(ctx context.Context) (string, error) {
	if p := os.Getenv("CHAOS_EPMD_BINARY"); p != "" {
		if filepath.IsAbs(p) {
			return p, nil
		}
		root, err := ModuleRoot() // go test runs in the package directory
		if err != nil {
			return "", err
		}
		return filepath.Join(root, p), nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return buildChaosEpmdPackage(ctx) // from a module that requires this one
	}
	cache, err := CacheDir()
	if err != nil {
		return "", fmt.Errorf("build chaos-epmd: %w", err)
	}
	return goBuildChaosEpmd(ctx, filepath.Join(cache, "bin"), root, "./cmd/chaos-epmd", func(err error, out string) error {
		return fmt.Errorf("build chaos-epmd (CGO_ENABLED=0 go build ./cmd/chaos-epmd in %s): %w\n%s",
			root, err, out)
	})
}

// goBuildChaosEpmd builds pkg with CGO_ENABLED=0 go build in workDir (the
// working directory when empty) into dir/chaos-epmd and returns that path. A
// failed go build is reported by buildErr with go's output, trimmed.
func goBuildChaosEpmd(ctx context.Context, dir, workDir, pkg string, buildErr func(err error, out string) error) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build chaos-epmd: %w", err)
	}
	// Build under a private name, then rename: test processes running in
	// parallel each build and never see a half-written binary.
	tmp, err := os.CreateTemp(dir, "chaos-epmd-*.tmp")
	if err != nil {
		return "", fmt.Errorf("build chaos-epmd: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", tmp.Name(), pkg)
	cmd.Dir = workDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", buildErr(err, strings.TrimSpace(string(out)))
	}
	path := filepath.Join(dir, "chaos-epmd")
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("build chaos-epmd: %w", err)
	}
	return path, nil
}
