package erlangfixtures

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// containerFile is a file the fixture puts into a new container.
type containerFile struct {
	path     string // absolute, in the container
	mode     int64
	data     []byte // or:
	hostPath string
}

// copyFilesHook copies all files into a created container in one tar upload
// (testcontainers' Files make one request per file).
func copyFilesHook(files []containerFile) testcontainers.ContainerLifecycleHooks {
	return testcontainers.ContainerLifecycleHooks{
		PostCreates: []testcontainers.ContainerHook{
			func(ctx context.Context, c testcontainers.Container) error {
				archive, err := tarFiles(files)
				if err != nil {
					return err
				}
				cli, err := dockerClient(ctx)
				if err != nil {
					return err
				}
				_, err = cli.CopyToContainer(ctx, c.GetContainerID(), client.CopyToContainerOptions{
					DestinationPath: "/", Content: archive})
				if err != nil {
					return fmt.Errorf("copy fixture files: %w", err)
				}
				return nil
			},
		},
	}
}

func tarFiles(files []containerFile) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	dirs := map[string]bool{}
	for _, f := range files {
		data := f.data
		if f.hostPath != "" {
			var err error
			if data, err = os.ReadFile(f.hostPath); err != nil {
				return nil, fmt.Errorf("copy fixture files: %w", err)
			}
		}
		name := f.path[1:] // relative to "/"
		if d := path.Dir(name); !dirs[d] {
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: now}); err != nil {
				return nil, err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: f.mode, Size: int64(len(data)), ModTime: now}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

// agentBeams caches the agent compiled by the first node of each image, so
// later nodes load it instead of compiling it at boot.
var agentBeams struct {
	sync.Mutex
	m map[string][]byte // image ref → chaos_agent.beam
}

func cachedAgentBeam(img string) []byte {
	agentBeams.Lock()
	defer agentBeams.Unlock()
	return agentBeams.m[img]
}

func cacheAgentBeam(ctx context.Context, img string, ctr *testcontainers.DockerContainer) {
	if cachedAgentBeam(img) != nil {
		return
	}
	r, err := ctr.CopyFileFromContainer(ctx, agentBeamPath)
	if err != nil {
		return // the next node compiles it again
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil || len(b) == 0 {
		return
	}
	agentBeams.Lock()
	defer agentBeams.Unlock()
	if agentBeams.m == nil {
		agentBeams.m = map[string][]byte{}
	}
	agentBeams.m[img] = b
}
