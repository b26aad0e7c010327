package erlangfixtures

import (
	"bufio"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// Release is a Debian release whose erlang-base package gives an image its OTP
// version. The zero value means the default, [OTP25].
type Release string

// The releases the fixtures build images for.
const (
	OTP25 Release = "bookworm" // Debian 12, erlang-base 1:25.x
	OTP27 Release = "trixie"   // Debian 13, erlang-base 1:27.x
)

// Releases lists every release the fixtures know, default first.
func Releases() []Release { return []Release{OTP25, OTP27} }

// OTP returns the OTP major version the release ships, or 0 when unknown.
func (r Release) OTP() int {
	switch r.orDefault() {
	case OTP25:
		return 25
	case OTP27:
		return 27
	}
	return 0
}

func (r Release) orDefault() Release {
	if r == "" {
		return OTP25
	}
	return r
}

// ParseRelease accepts a Debian release name ("bookworm") or an OTP version
// ("25", "otp25", "OTP-27").
func ParseRelease(s string) (Release, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "otp"), "-")
	for _, r := range Releases() {
		if t == string(r) || t == fmt.Sprint(r.OTP()) {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown release %q: want one of bookworm (25), trixie (27)", s)
}

// imagePackages are installed on top of debootstrap's minbase variant. erlang-base
// carries erl, erlc, epmd, the compiler (the agent is compiled at boot) and
// depends on procps. Keep this list minimal: every node starts from it.
var imagePackages = []string{"erlang-base"}

// imageRecipeVersion is part of the image content hash: bump it when the build
// steps in this file change in a way that changes the image.
const imageRecipeVersion = "1"

// rootfsTrim runs inside the new root file system (chroot) before import.
const rootfsTrim = `set -e
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old \
  /usr/share/doc/* /usr/share/man/* /usr/share/info/* /var/log/*.log
`

// ImageRepository is the repository of the images the fixtures build.
const ImageRepository = "chaos-epmd/erlang"

// Labels put on every image, container and network the fixtures create.
const (
	LabelFixture = "org.chaos-epmd.fixture" // value "1"
	LabelSession = "org.chaos-epmd.session" // the creating process's session
	LabelRelease = "org.chaos-epmd.release" // images: the Debian release
)

// ImageRef returns the content-addressed reference of the image built for r:
// chaos-epmd/erlang:<release>-otp<N>-<hash>, where the hash covers the release,
// the package list and the build recipe. The image exists only after
// [BuildImage] (or `go run ./erlangfixtures/cmd/erlfix images`).
func ImageRef(r Release) string {
	r = r.orDefault()
	h := sha256.New()
	fmt.Fprintf(h, "recipe %s\nrelease %s\nvariant minbase\npackages %s\ntrim\n%s",
		imageRecipeVersion, r, strings.Join(imagePackages, ","), rootfsTrim)
	return fmt.Sprintf("%s:%s-otp%d-%s", ImageRepository, r, r.OTP(), hex.EncodeToString(h.Sum(nil))[:12])
}

// BuildOptions tune [BuildImage]. The zero value uses the defaults.
type BuildOptions struct {
	// Mirror is the Debian mirror URL. Default: $CHAOS_EPMD_DEBIAN_MIRROR, else
	// the first Debian archive URI of this machine's apt configuration.
	Mirror string
	// CacheDir keeps debootstrap's package cache and the temporary root file
	// system. Default: [CacheDir].
	CacheDir string
	// Logger receives progress; nil discards.
	Logger *slog.Logger
	// Output receives debootstrap's output; nil discards.
	Output io.Writer
}

// presentImages remembers the image references found in the engine by this
// process, so each Run does not ask again.
var presentImages sync.Map

// ErrNeedRoot is returned when building an image needs root (debootstrap).
var ErrNeedRoot = errors.New("building an image needs root (debootstrap): run `go run ./erlangfixtures/cmd/erlfix images` as root")

// BuildImage makes sure the image for r exists in the Docker engine, building it
// offline when missing: debootstrap --variant=minbase with erlang-base from the
// machine's Debian mirror, trimmed, imported as ImageRef(r). It returns the
// reference and whether it built. Building needs root and takes about a minute;
// when the image exists it returns at once. Concurrent builds of one release,
// in this process or others, wait for each other.
func BuildImage(ctx context.Context, r Release, o BuildOptions) (ref string, built bool, err error) {
	r = r.orDefault()
	if r.OTP() == 0 {
		return "", false, fmt.Errorf("build image: unknown release %q", r)
	}
	ref = ImageRef(r)
	if _, ok := presentImages.Load(ref); ok {
		return ref, false, nil
	}
	defer func() {
		if err == nil {
			presentImages.Store(ref, true)
		}
	}()
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cli, err := dockerClient(ctx)
	if err != nil {
		return ref, false, err
	}
	if ok, err := imageExists(ctx, cli, ref); err != nil || ok {
		return ref, false, err
	}
	if os.Geteuid() != 0 {
		return ref, false, fmt.Errorf("image %s missing: %w", ref, ErrNeedRoot)
	}
	cache := o.CacheDir
	if cache == "" {
		if cache, err = CacheDir(); err != nil {
			return ref, false, err
		}
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return ref, false, fmt.Errorf("build image: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(cache, "build-"+string(r)+".lock"))
	if err != nil {
		return ref, false, err
	}
	defer unlock()
	if ok, err := imageExists(ctx, cli, ref); err != nil || ok { // built while we waited
		return ref, false, err
	}

	mirror := o.Mirror
	if mirror == "" {
		if mirror, err = DebianMirror(); err != nil {
			return ref, false, err
		}
	}
	start := time.Now()
	rootfs := filepath.Join(cache, "rootfs-"+string(r))
	if err := os.RemoveAll(rootfs); err != nil {
		return ref, false, fmt.Errorf("build image: remove old root: %w", err)
	}
	defer os.RemoveAll(rootfs)
	debs := filepath.Join(cache, "debs-"+string(r))
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return ref, false, fmt.Errorf("build image: %w", err)
	}
	log.Info("debootstrap", "release", r, "mirror", mirror, "dir", rootfs)
	out := o.Output
	if out == nil {
		out = io.Discard
	}
	tail := &tailBuffer{max: 4096}
	w := io.MultiWriter(out, tail)
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase",
		"--include="+strings.Join(imagePackages, ","), "--cache-dir="+debs,
		string(r), rootfs, mirror)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return ref, false, fmt.Errorf("debootstrap %s from %s: %w\n%s", r, mirror, err, tail)
	}
	trim := exec.CommandContext(ctx, "chroot", rootfs, "/bin/sh", "-c", rootfsTrim)
	trim.Stdout, trim.Stderr = w, w
	if err := trim.Run(); err != nil {
		return ref, false, fmt.Errorf("trim root of %s: %w\n%s", r, err, tail)
	}
	log.Info("import", "release", r, "ref", ref, "debootstrap", time.Since(start).Round(time.Millisecond))
	if err := importRootfs(ctx, cli, rootfs, ref, r); err != nil {
		return ref, false, err
	}
	log.Info("built", "release", r, "ref", ref, "took", time.Since(start).Round(time.Millisecond))
	return ref, true, nil
}

func importRootfs(ctx context.Context, cli client.APIClient, rootfs, ref string, r Release) error {
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
	res, err := cli.ImageImport(ctx, client.ImageImportSource{Source: pipe, SourceName: "-"}, ref,
		client.ImageImportOptions{
			Message: "chaos-epmd erlangfixtures " + string(r),
			Changes: []string{
				"LABEL " + LabelFixture + "=1",
				"LABEL " + LabelRelease + "=" + string(r),
				"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"ENV LANG=C.UTF-8",
				`CMD ["erl"]`,
			},
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

// tailBuffer keeps the last max bytes written to it, for error messages.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }
