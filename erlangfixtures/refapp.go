package erlangfixtures

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// refappSource is the reference application's mix project (refapp/).
//
//go:embed refapp/mix.exs refapp/lib
var refappSource embed.FS

// RefAppRepository is the repository of the reference application's images.
const RefAppRepository = "chaos-epmd/refapp"

// RefAppDir is where both images of the reference application hold the
// release (bin/refapp, erts-*/, lib/, releases/).
const RefAppDir = "/opt/refapp"

// refappRecipe changes when the build below changes, so the images' tags do.
const refappRecipe = "refapp-1"

// RefAppImages are the two images of the reference release built on one
// Debian release by [BuildRefApp].
type RefAppImages struct {
	Release Release
	// Debian is the release in the Elixir image it was built in, at
	// [RefAppDir]; its command is bin/refapp start, configured by
	// RELEASE_NODE, RELEASE_COOKIE, RELEASE_DISTRIBUTION and REFAPP_PEERS.
	Debian string
	// NoShell holds the release and the shared libraries its executables
	// load, on an empty root: no /bin/sh, no package, nothing but the
	// release. Its entry point is erts' erlexec with the arguments
	// bin/refapp start passes. No script reads RELEASE_NODE here: the node's
	// name and cookie go in ERL_AFLAGS, which erlexec itself puts at the
	// front of its command line (ERL_AFLAGS="-sname refapp@n1 -setcookie
	// C"). REFAPP_PEERS is read as in Debian.
	NoShell string
	// ERTS is the release's erts version (the erts-VSN directory).
	ERTS string
}

// BuildRefApp makes sure both images of the reference application
// (erlangfixtures/refapp, embedded in the package) exist for release r and
// returns them. It builds the release offline in r's Elixir image
// (Elixir.On(r), built when missing): MIX_ENV=prod mix release in a
// container, then commits that container with the release at [RefAppDir]
// (the Debian image) and imports the release plus the libraries ldd names
// for its executables as a one-layer image (the no-shell image). Both tags
// carry a hash of the source, the recipe and the Elixir image, so an
// unchanged application is built once.
func BuildRefApp(ctx context.Context, r Release, o BuildOptions) (RefAppImages, error) {
	imgs := RefAppImages{Release: r.orDefault()}
	elixir, _, err := Elixir.On(r).Build(ctx, o)
	if err != nil {
		return imgs, fmt.Errorf("refapp: %w", err)
	}
	if imgs.Debian, imgs.NoShell, err = refAppRefs(imgs.Release, elixir); err != nil {
		return imgs, err
	}
	cli, err := dockerClient(ctx)
	if err != nil {
		return imgs, err
	}
	deb, err := cli.ImageInspect(ctx, imgs.Debian)
	if err == nil {
		if _, nerr := cli.ImageInspect(ctx, imgs.NoShell); nerr == nil {
			imgs.ERTS = deb.Config.Labels[labelERTS]
			return imgs, nil
		}
	}
	start := time.Now()
	if imgs.ERTS, err = buildRefApp(ctx, cli, elixir, imgs); err != nil {
		return imgs, err
	}
	if o.Logger != nil {
		o.Logger.Info("refapp images built", "debian", imgs.Debian, "noshell", imgs.NoShell, "took", time.Since(start))
	}
	return imgs, nil
}

// RefAppRefs returns the references [BuildRefApp] gives the reference
// application's two images on release r (Debian, then no-shell), without
// building anything.
func RefAppRefs(r Release) (debian, noShell string, err error) {
	return refAppRefs(r.orDefault(), Elixir.On(r).Ref())
}

// refAppRefs tags the images of release r built in the Elixir image elixir.
func refAppRefs(r Release, elixir string) (debian, noShell string, err error) {
	hash, err := refappHash(elixir)
	if err != nil {
		return "", "", err
	}
	return fmt.Sprintf("%s:%s-%s", RefAppRepository, r, hash),
		fmt.Sprintf("%s:%s-noshell-%s", RefAppRepository, r, hash), nil
}

// labelERTS, on the refapp images, is the release's erts version.
const labelERTS = "org.chaos-epmd.erts"

// refappHash covers the embedded source, the recipe and the build image.
func refappHash(buildImage string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", refappRecipe, buildImage, refappBuildScript)
	err := fs.WalkDir(refappSource, "refapp", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := refappSource.ReadFile(p)
		fmt.Fprintf(h, "%s %d\n%s", p, len(b), b)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("refapp source: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// refappBuildScript runs in the Elixir image. /src and /out are volumes, so
// the commit keeps only the release at /opt/refapp. The no-shell root gets
// the release and every library ldd lists for its files (erts' beam.smp,
// erl_child_setup, epmd, inet_gethost, NIFs), the loader included.
const refappBuildScript = `set -eu
export MIX_ENV=prod HOME=/root LANG=C.UTF-8 LC_ALL=C.UTF-8
cd /src
mix release --quiet --overwrite
cp -a _build/prod/rel/refapp ` + RefAppDir + `
root=/out/root
mkdir -p "$root/opt" "$root/tmp"
chmod 1777 "$root/tmp"
cp -a ` + RefAppDir + ` "$root/opt/"
find ` + RefAppDir + ` -type f | while read -r f; do ldd "$f" 2>/dev/null || true; done |
	awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u > /out/libs
while read -r lib; do cp -L --parents "$lib" "$root"; done < /out/libs
echo "libraries: $(tr '\n' ' ' < /out/libs)"
tar --numeric-owner -C "$root" -cf /out/root.tar .
cat ` + RefAppDir + `/releases/start_erl.data
`

func buildRefApp(ctx context.Context, cli *testcontainers.DockerClient, elixir string, imgs RefAppImages) (string, error) {
	src, err := refappTar()
	if err != nil {
		return "", err
	}
	created, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{
			Image:  elixir,
			Cmd:    []string{"/bin/sh", "-c", refappBuildScript},
			Labels: fixtureLabels(),
		},
		HostConfig: &container.HostConfig{
			NetworkMode: "none", // offline: no Hex, no registry
			Mounts: []mount.Mount{
				{Type: mount.TypeVolume, Target: "/src"},
				{Type: mount.TypeVolume, Target: "/out"},
			},
		},
	})
	if err != nil {
		return "", fmt.Errorf("refapp build container: %w", err)
	}
	id := created.ID
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_, _ = cli.ContainerRemove(rctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	}()
	if _, err := cli.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: "/src", Content: src}); err != nil {
		return "", fmt.Errorf("refapp: copy source: %w", err)
	}
	wait := cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return "", fmt.Errorf("refapp: start build: %w", err)
	}
	var status int64
	select {
	case res := <-wait.Result:
		status = res.StatusCode
	case err := <-wait.Error:
		return "", fmt.Errorf("refapp: wait for build: %w", err)
	}
	logs := containerLogs(ctx, cli, id)
	if status != 0 {
		return "", fmt.Errorf("refapp: mix release in %s: exit status %d:\n%s", elixir, status, logs)
	}
	erts, vsn, ok := strings.Cut(lastLine(logs), " ")
	if !ok || erts == "" || vsn == "" {
		return "", fmt.Errorf("refapp: no releases/start_erl.data at the end of the build log:\n%s", logs)
	}
	if err := importNoShell(ctx, cli, id, imgs.NoShell, erts, vsn); err != nil {
		return "", err
	}
	_, err = cli.ContainerCommit(ctx, id, client.ContainerCommitOptions{
		Reference: imgs.Debian,
		Comment:   "chaos-epmd reference application (mix release)",
		Changes: []string{
			"LABEL " + LabelFixture + "=1",
			"LABEL " + labelERTS + "=" + erts,
			"WORKDIR " + RefAppDir,
			"CMD " + jsonArray([]string{RefAppDir + "/bin/refapp", "start"}),
		},
	})
	if err != nil {
		return "", fmt.Errorf("refapp: commit %s: %w", imgs.Debian, err)
	}
	return erts, nil
}

// importNoShell imports /out/root.tar of the build container as the
// no-shell image, its entry point erlexec started as bin/refapp start
// starts it.
func importNoShell(ctx context.Context, cli *testcontainers.DockerClient, id, ref, erts, vsn string) error {
	res, err := cli.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: "/out/root.tar"})
	if err != nil {
		return fmt.Errorf("refapp: copy the no-shell root: %w", err)
	}
	defer res.Content.Close()
	tr := tar.NewReader(res.Content) // the copy is a tar holding root.tar
	if _, err := tr.Next(); err != nil {
		return fmt.Errorf("refapp: copy the no-shell root: %w", err)
	}
	bin := fmt.Sprintf("%s/erts-%s/bin", RefAppDir, erts)
	rel := RefAppDir + "/releases/" + vsn
	imp, err := cli.ImageImport(ctx, client.ImageImportSource{Source: tr, SourceName: "-"}, ref,
		client.ImageImportOptions{
			Message: "chaos-epmd reference application: the release and its libraries, no shell",
			Changes: []string{
				"LABEL " + LabelFixture + "=1",
				"LABEL " + labelERTS + "=" + erts,
				// What erts' erl script would export before exec'ing erlexec.
				"ENV ROOTDIR=" + RefAppDir,
				"ENV BINDIR=" + bin,
				"ENV EMU=beam",
				"ENV PROGNAME=erl",
				"ENV HOME=/",
				"ENV RELEASE_ROOT=" + RefAppDir,
				"WORKDIR " + RefAppDir,
				// bin/refapp start, with +fnu for the UTF-8 file names a
				// locale would give (there is none).
				"ENTRYPOINT " + jsonArray([]string{bin + "/erlexec", "+fnu",
					"-elixir", "ansi_enabled", "false", "-noshell", "-s", "elixir", "start_cli",
					"-mode", "embedded", "-boot", rel + "/start", "-boot_var", "RELEASE_LIB", RefAppDir + "/lib",
					"-args_file", rel + "/vm.args", "-config", rel + "/sys",
					"-extra", "--no-halt"}),
				"CMD []",
			},
		})
	if err == nil {
		_, err = io.Copy(io.Discard, imp)
		imp.Close()
	}
	if err != nil {
		return fmt.Errorf("import %s: %w", ref, err)
	}
	return nil
}

// refappTar is the embedded mix project as a tar rooted at its directory.
func refappTar() (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := fs.WalkDir(refappSource, "refapp", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "refapp" {
			return err
		}
		name := strings.TrimPrefix(p, "refapp/")
		if d.IsDir() {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755})
		}
		b, err := refappSource.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(b))}); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("refapp source: %w", err)
	}
	return &buf, nil
}

// containerLogs returns a container's stdout and stderr, or the error
// reading them, as text for an error message.
func containerLogs(ctx context.Context, cli *testcontainers.DockerClient, id string) string {
	rc, err := cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return "(logs: " + err.Error() + ")"
	}
	defer rc.Close()
	var out strings.Builder
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(&out, "(logs: %v)", err)
	}
	return out.String()
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}
