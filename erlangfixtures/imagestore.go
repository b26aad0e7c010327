package erlangfixtures

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// This file imports a built root file system into the engine as an image,
// remembers which images are present, and locks a suite's build across
// processes.

// presentImages remembers the image references found in the engine by this
// process, so each Run does not ask again.
var presentImages sync.Map

func importRootfs(ctx context.Context, cli client.APIClient, rootfs, ref string, i Image) error {
	tarCmd := exec.CommandContext(ctx, "tar", "--numeric-owner", "-C", rootfs, "-c", ".")
	pipe, err := tarCmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("import %s: %w", ref, err)
	}
	var stderr strings.Builder
	tarCmd.Stderr = &stderr
	if err := tarCmd.Start(); err != nil {
		return fmt.Errorf("import %s: start tar: %w", ref, err)
	}
	changes := []string{
		"LABEL " + LabelFixture + "=1",
		"LABEL " + LabelRelease + "=" + string(i.Release),
		"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"ENV LANG=C.UTF-8",
	}
	cmd := `CMD ["erl"]`
	if a := i.App; a != nil {
		changes = append(changes, "LABEL "+LabelApp+"="+a.Name)
		for _, e := range a.Env {
			changes = append(changes, "ENV "+e)
		}
		if len(a.Command) > 0 {
			cmd = "CMD " + jsonArray(a.Command)
		}
	}
	res, err := cli.ImageImport(ctx, client.ImageImportSource{Source: pipe, SourceName: "-"}, ref,
		client.ImageImportOptions{
			Message: "chaos-epmd erlangfixtures " + i.String(),
			Changes: append(changes, cmd),
		})
	if err == nil {
		_, err = io.Copy(io.Discard, res) // the engine imports while we read
		res.Close()
	}
	_ = pipe.Close()
	if werr := tarCmd.Wait(); werr != nil && err == nil {
		err = fmt.Errorf("tar: %w: %s", werr, stderr.String())
	}
	if err != nil {
		return fmt.Errorf("import %s: %w", ref, err)
	}
	return nil
}

// jsonArray writes ss as a JSON array of strings (a Dockerfile exec form).
func jsonArray(ss []string) string {
	b, _ := json.Marshal(ss) // strings always marshal
	return string(b)
}

func imageExists(ctx context.Context, cli client.APIClient, ref string) (bool, error) {
	_, err := cli.ImageInspect(ctx, ref)
	if err == nil {
		return true, nil
	}
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	return false, fmt.Errorf("inspect image %s: %w", ref, err)
}

// lockFile takes an exclusive flock on path, waiting until ctx is done.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
