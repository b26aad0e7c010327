package erlangfixtures

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// This file is the image machinery shared by every subject. A subject is
// described in a file of its own: an OTP release (otp25.go, otp27.go,
// otp29.go: [Release] constant and [ReleaseInfo]) or an application on each
// release (elixir.go, rabbitmq.go: an [*Application]). Adding one is adding
// that file.
//
// A build goes suite by suite, the suites in parallel: debootstrap
// --variant=minbase with erlang-base once per suite (the base), then each
// missing image of the suite from a copy of the base (the OTP image from the
// base itself), applications with apt-get install in a chroot, all trimmed and
// imported into the engine in parallel. Downloaded packages are kept per suite
// in the cache directory, so a rebuild downloads nothing.

// Release is a Debian release whose erlang-base package gives an image its OTP
// version. The zero value means the default, [OTP25]. Each release is
// described in a file of its own (otp25.go, ...).
type Release string

// ReleaseInfo describes a release: what defineRelease records about it.
type ReleaseInfo struct {
	OTP int // the OTP major version of its erlang-base
	// ErlangBase is the erlang-base version the release shipped when its file
	// was written (documentation; the images test compares it).
	ErlangBase string
	// Testing marks a suite whose packages still move (Debian testing): the
	// images test then checks only the OTP major version.
	Testing bool
	// Script is the debootstrap script to use when the installed debootstrap
	// has none for the suite (e.g. "sid" for a suite newer than it).
	Script string
}

var releases = map[Release]ReleaseInfo{}

// defineRelease records a release; each release's file calls it once in a
// package-level declaration.
func defineRelease(r Release, info ReleaseInfo) Release {
	if _, dup := releases[r]; dup || info.OTP == 0 {
		panic("erlangfixtures: bad or duplicate release " + string(r))
	}
	releases[r] = info
	return r
}

// Releases lists every release the fixtures know, default first, then by OTP
// version.
func Releases() []Release {
	rs := make([]Release, 0, len(releases))
	for r := range releases {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b Release) int {
		if a == OTP25 || b == OTP25 {
			return boolOrder(b == OTP25) - boolOrder(a == OTP25)
		}
		return cmp.Compare(a.OTP(), b.OTP())
	})
	return rs
}

func boolOrder(b bool) int {
	if b {
		return 1
	}
	return 0
}

// OTP returns the OTP major version the release ships, or 0 when unknown.
func (r Release) OTP() int { return releases[r.orDefault()].OTP }

// Info returns what the release's file says about it (zero when unknown).
func (r Release) Info() ReleaseInfo { return releases[r.orDefault()] }

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
	var want []string
	for _, r := range Releases() {
		if t == string(r) || t == fmt.Sprint(r.OTP()) {
			return r, nil
		}
		want = append(want, fmt.Sprintf("%s (%d)", r, r.OTP()))
	}
	return "", fmt.Errorf("unknown release %q: want one of %s", s, strings.Join(want, ", "))
}

// An Application is a Debian-packaged Erlang application the fixtures image on
// every release: the release's OTP image plus the application's packages. Its
// images are node images too (erl, /bin/sh and awk are there), so [Run] with
// [WithApplication] starts the usual node whose container can run the
// application's commands. Each application is described in a file of its own
// (elixir.go, rabbitmq.go).
type Application struct {
	// Name is the image repository's last part (chaos-epmd/NAME) and the name
	// [ParseImage] knows it by.
	Name string
	// Packages are installed with apt-get install --no-install-recommends in
	// a chroot of the release's base (policy-rc.d denies every service start).
	Packages []string
	// Versions is the upstream version of the main package each release
	// shipped when the file was written (documentation; the images test
	// compares it).
	Versions map[Release]string
	// VersionCommand prints the application's version in its image
	// (checked by the images test against Versions).
	VersionCommand []string
	// Env is added to the image's environment (KEY=VALUE).
	Env []string
	// Command starts the application: the image's CMD.
	Command []string
	// Cookie is the file the application reads its Erlang cookie from.
	Cookie string
	// AfterInstall is shell run in the chroot after the packages are
	// installed (POSIX sh, set -e).
	AfterInstall string
}

var applications = map[string]*Application{}

// defineApplication records an application; each application's file calls it
// once in a package-level declaration.
func defineApplication(a *Application) *Application {
	if _, dup := applications[a.Name]; dup || a.Name == "" || len(a.Packages) == 0 {
		panic("erlangfixtures: bad or duplicate application " + a.Name)
	}
	applications[a.Name] = a
	return a
}

// Applications lists the applications the fixtures image, by name.
func Applications() []*Application {
	as := make([]*Application, 0, len(applications))
	for _, a := range applications {
		as = append(as, a)
	}
	slices.SortFunc(as, func(a, b *Application) int { return strings.Compare(a.Name, b.Name) })
	return as
}

// On returns the application's image on release r.
func (a *Application) On(r Release) Image { return Image{Release: r.orDefault(), App: a} }

// Image is one image the fixtures build offline from Debian's packages: a
// release's OTP image (App nil) or an application on a release.
type Image struct {
	Release Release
	App     *Application // nil: erlang-base alone
}

// OTPImage returns release r's OTP image (erlang-base alone).
func OTPImage(r Release) Image { return Image{Release: r.orDefault()} }

// Images lists every image the fixtures know: per release, its OTP image,
// then each application's.
func Images() []Image {
	var is []Image
	for _, r := range Releases() {
		is = append(is, OTPImage(r))
		for _, a := range Applications() {
			is = append(is, a.On(r))
		}
	}
	return is
}

// String names the image as [ParseImage] reads it: "trixie" or
// "elixir:trixie".
func (i Image) String() string {
	if i.App == nil {
		return string(i.Release.orDefault())
	}
	return i.App.Name + ":" + string(i.Release.orDefault())
}

// ParseImages reads a comma-separated list of images: "all" (every image),
// a release ("bookworm", "29": its OTP image), an application ("elixir": on
// every release) or APP:RELEASE ("rabbitmq:trixie", "elixir:27").
func ParseImages(list string) ([]Image, error) {
	var is []Image
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "all" {
			is = append(is, Images()...)
			continue
		}
		name, rel, hasRel := strings.Cut(s, ":")
		if a := applications[strings.ToLower(name)]; a != nil {
			if !hasRel {
				for _, r := range Releases() {
					is = append(is, a.On(r))
				}
				continue
			}
			r, err := ParseRelease(rel)
			if err != nil {
				return nil, fmt.Errorf("image %q: %w", s, err)
			}
			is = append(is, a.On(r))
			continue
		}
		if hasRel {
			return nil, fmt.Errorf("image %q: unknown application %q: want one of %s", s, name, appNames())
		}
		r, err := ParseRelease(s)
		if err != nil {
			return nil, fmt.Errorf("image %q: not an application (%s) nor a release: %w", s, appNames(), err)
		}
		is = append(is, OTPImage(r))
	}
	return slices.CompactFunc(is, func(a, b Image) bool { return a == b }), nil
}

func appNames() string {
	var ns []string
	for _, a := range Applications() {
		ns = append(ns, a.Name)
	}
	return strings.Join(ns, ", ")
}

// basePackages are installed on top of debootstrap's minbase variant in every
// image. erlang-base carries erl, erlc, epmd, the compiler (the agent is
// compiled at boot) and depends on procps. Keep this list minimal: every node
// starts from it.
var basePackages = []string{"erlang-base"}

// imageRecipeVersion is part of the image content hash: bump it when the build
// steps in this file change in a way that changes the image.
const imageRecipeVersion = "2"

// policyRCD denies every service start while packages are installed in a
// chroot: a postinst that starts its daemon (rabbitmq-server's does) would
// otherwise start it on the building machine.
const policyRCD = "#!/bin/sh\nexit 101\n"

// rootfsTrim runs inside the new root file system (chroot) before import.
const rootfsTrim = `set -e
apt-get clean
rm -f /usr/sbin/policy-rc.d
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old \
  /usr/share/doc/* /usr/share/man/* /usr/share/info/* /var/log/*.log
`

// ImageRepository is the repository of the OTP images; an application's
// images are in chaos-epmd/NAME.
const ImageRepository = "chaos-epmd/erlang"

// Labels put on every image, container and network the fixtures create.
const (
	LabelFixture = "org.chaos-epmd.fixture" // value "1"
	LabelSession = "org.chaos-epmd.session" // the creating process's session
	LabelRelease = "org.chaos-epmd.release" // images: the Debian release
	LabelApp     = "org.chaos-epmd.app"     // images: the application, if any
)

// Ref returns the image's content-addressed reference:
// chaos-epmd/erlang:<release>-otp<N>-<hash> for an OTP image,
// chaos-epmd/<app>:<release>-otp<N>-<hash> for an application's, where the hash
// covers the release, the packages, the build steps and the image settings.
// The image exists only after [Image.Build] (or `erlfix images`).
func (i Image) Ref() string {
	r := i.Release.orDefault()
	h := sha256.New()
	fmt.Fprintf(h, "recipe %s\nrelease %s\nvariant minbase\npackages %s\ntrim\n%s",
		imageRecipeVersion, r, strings.Join(basePackages, ","), rootfsTrim)
	repo := ImageRepository
	if a := i.App; a != nil {
		repo = "chaos-epmd/" + a.Name
		fmt.Fprintf(h, "\napp %s\npackages %s\npolicy-rc.d %q\nafter %q\nenv %q\ncmd %q",
			a.Name, strings.Join(a.Packages, ","), policyRCD, a.AfterInstall, a.Env, a.Command)
	}
	return fmt.Sprintf("%s:%s-otp%d-%s", repo, r, r.OTP(), hex.EncodeToString(h.Sum(nil))[:12])
}

// ImageRef returns the reference of release r's OTP image ([OTPImage](r).Ref()).
func ImageRef(r Release) string { return OTPImage(r).Ref() }

// BuildOptions tune [BuildImage]. The zero value uses the defaults.
type BuildOptions struct {
	// Mirror is the Debian mirror URL. Default: $CHAOS_EPMD_DEBIAN_MIRROR, else
	// the first Debian archive URI of this machine's apt configuration.
	Mirror string
	// CacheDir keeps debootstrap's package cache and the temporary root file
	// systems. Default: [CacheDir].
	CacheDir string
	// Logger receives progress; nil discards.
	Logger *slog.Logger
	// Output receives debootstrap's and apt-get's output; nil discards.
	Output io.Writer
	// Force builds the images even when present and imports them under the
	// same references (to time a cold build, or to take a moved testing
	// suite's packages); containers of the old images keep running.
	Force bool
}

// presentImages remembers the image references found in the engine by this
// process, so each Run does not ask again.
var presentImages sync.Map

// ErrNeedRoot is returned when building an image needs root (debootstrap).
var ErrNeedRoot = errors.New("building an image needs root (debootstrap): run `go run ./erlangfixtures/cmd/erlfix images` as root")

// BuildImage makes sure release r's OTP image exists ([OTPImage](r).Build).
func BuildImage(ctx context.Context, r Release, o BuildOptions) (ref string, built bool, err error) {
	return OTPImage(r).Build(ctx, o)
}

// Build makes sure the image exists in the Docker engine, building it offline
// when missing (see [BuildImages]). It returns the reference and whether it
// built. When the image exists it returns at once.
func (i Image) Build(ctx context.Context, o BuildOptions) (ref string, built bool, err error) {
	res, err := BuildImages(ctx, []Image{i}, o)
	if len(res) == 1 {
		ref, built = res[0].Ref, res[0].Built
	}
	return ref, built, err
}

// BuildResult is what [BuildImages] did for one image.
type BuildResult struct {
	Image Image
	Ref   string
	Built bool          // false: it was present
	Took  time.Duration // from the start of the build of its suite to its import
}

// BuildImages makes sure every image exists in the Docker engine, building the
// missing ones offline: per Debian suite, in parallel, debootstrap
// --variant=minbase with erlang-base from the machine's Debian mirror once,
// then each missing image of the suite derived from it (applications: apt-get
// install in a chroot of a copy), trimmed and imported. Building needs root.
// Builds of one suite, in this process or others, wait for each other. The
// results are in the order of imgs; on error, those that succeeded are there.
func BuildImages(ctx context.Context, imgs []Image, o BuildOptions) ([]BuildResult, error) {
	res := make([]BuildResult, len(imgs))
	bySuite := map[Release][]int{}
	var suites []Release
	for k, i := range imgs {
		i.Release = i.Release.orDefault()
		if i.Release.OTP() == 0 {
			return nil, fmt.Errorf("build image: unknown release %q", i.Release)
		}
		imgs[k] = i
		res[k] = BuildResult{Image: i, Ref: i.Ref()}
		if _, ok := presentImages.Load(res[k].Ref); ok && !o.Force {
			continue
		}
		if bySuite[i.Release] == nil {
			suites = append(suites, i.Release)
		}
		bySuite[i.Release] = append(bySuite[i.Release], k)
	}
	if len(suites) == 0 {
		return res, nil
	}
	b := &builder{o: o, log: o.Logger}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.o.Output == nil {
		b.o.Output = io.Discard
	}
	cli, err := dockerClient(ctx)
	if err != nil {
		return nil, err
	}
	b.cli = cli
	errs := make([]error, len(suites))
	var wg sync.WaitGroup
	var mu sync.Mutex // res
	for s, r := range suites {
		wg.Go(func() {
			errs[s] = b.suite(ctx, r, imgs, bySuite[r], func(k int, built bool, took time.Duration) {
				mu.Lock()
				defer mu.Unlock()
				res[k].Built, res[k].Took = built, took
			})
		})
	}
	wg.Wait()
	return res, errors.Join(errs...)
}

type builder struct {
	o   BuildOptions
	log *slog.Logger
	cli client.APIClient
}

// suite builds the missing images at indexes ks of imgs, all of release r.
func (b *builder) suite(ctx context.Context, r Release, imgs []Image, ks []int, done func(k int, built bool, took time.Duration)) error {
	missing := func() ([]int, error) {
		var m []int
		for _, k := range ks {
			ref := imgs[k].Ref()
			if b.o.Force {
				m = append(m, k)
				continue
			}
			ok, err := imageExists(ctx, b.cli, ref)
			if err != nil {
				return nil, err
			}
			if ok {
				presentImages.Store(ref, true)
				continue
			}
			m = append(m, k)
		}
		return m, nil
	}
	todo, err := missing()
	if err != nil || len(todo) == 0 {
		return err
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("image %s missing: %w", imgs[todo[0]].Ref(), ErrNeedRoot)
	}
	cache := b.o.CacheDir
	if cache == "" {
		if cache, err = CacheDir(); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return fmt.Errorf("build image: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(cache, "build-"+string(r)+".lock"))
	if err != nil {
		return err
	}
	defer unlock()
	if todo, err = missing(); err != nil || len(todo) == 0 { // built while we waited
		return err
	}
	start := time.Now()
	debs := filepath.Join(cache, "debs-"+string(r))
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return fmt.Errorf("build image: %w", err)
	}
	base := filepath.Join(cache, "rootfs-"+string(r))
	if err := b.debootstrap(ctx, r, base, debs); err != nil {
		return err
	}
	defer os.RemoveAll(base)
	// Each application's image starts from a copy of the base, made while the
	// base still has its package lists; the OTP image, if wanted, is the base
	// itself, trimmed once every copy is made.
	errs := make([]error, len(todo))
	var wg, copied sync.WaitGroup
	for _, k := range todo {
		if imgs[k].App != nil {
			copied.Add(1)
		}
	}
	for j, k := range todo {
		wg.Go(func() {
			i := imgs[k]
			root := base
			if i.App == nil {
				copied.Wait()
			} else {
				root = base + "-" + i.App.Name
				errs[j] = copyTree(ctx, base, root)
				copied.Done()
				defer os.RemoveAll(root)
				if errs[j] != nil {
					return
				}
				if errs[j] = b.install(ctx, i, root, debs); errs[j] != nil {
					return
				}
			}
			if errs[j] = b.chroot(ctx, root, "trim "+i.String(), rootfsTrim); errs[j] != nil {
				return
			}
			ref := i.Ref()
			if errs[j] = importRootfs(ctx, b.cli, root, ref, i); errs[j] != nil {
				return
			}
			presentImages.Store(ref, true)
			took := time.Since(start)
			b.log.Info("built", "image", i.String(), "ref", ref, "took", took.Round(time.Millisecond))
			done(k, true, took)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// debootstrap makes the suite's base in dir: minbase with basePackages, with
// the suite's package lists (for the applications' apt-get).
func (b *builder) debootstrap(ctx context.Context, r Release, dir, debs string) error {
	mirror := b.o.Mirror
	if mirror == "" {
		var err error
		if mirror, err = DebianMirror(); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("build image: remove old root: %w", err)
	}
	args := []string{"--variant=minbase", "--include=" + strings.Join(basePackages, ","),
		"--cache-dir=" + debs, string(r), dir, mirror}
	if s := r.Info().Script; s != "" {
		if _, err := os.Stat(filepath.Join(debootstrapScripts, string(r))); err != nil {
			args = append(args, filepath.Join(debootstrapScripts, s))
		}
	}
	start := time.Now()
	b.log.Info("debootstrap", "release", r, "mirror", mirror, "dir", dir)
	if err := b.run(ctx, "debootstrap "+string(r)+" from "+mirror, exec.CommandContext(ctx, "debootstrap", args...)); err != nil {
		return err
	}
	b.log.Info("base ready", "release", r, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

const debootstrapScripts = "/usr/share/debootstrap/scripts"

// install adds the application's packages to root, reusing and filling the
// suite's package cache.
func (b *builder) install(ctx context.Context, i Image, root, debs string) error {
	archives := filepath.Join(root, "var/cache/apt/archives")
	if err := linkDebs(debs, archives); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "usr/sbin/policy-rc.d"), []byte(policyRCD), 0o755); err != nil {
		return fmt.Errorf("build image %s: %w", i, err)
	}
	script := "set -e\napt-get install -y -q --no-install-recommends " + strings.Join(i.App.Packages, " ") + "\n"
	start := time.Now()
	if err := b.chroot(ctx, root, "install "+i.String(), script); err != nil {
		return err
	}
	if i.App.AfterInstall != "" {
		if err := b.chroot(ctx, root, "after install "+i.String(), "set -e\n"+i.App.AfterInstall); err != nil {
			return err
		}
	}
	b.log.Info("installed", "image", i.String(), "packages", i.App.Packages, "took", time.Since(start).Round(time.Millisecond))
	return linkDebs(archives, debs)
}

// chroot runs a shell script in root with a clean environment.
func (b *builder) chroot(ctx context.Context, root, what, script string) error {
	cmd := exec.CommandContext(ctx, "chroot", root, "/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"DEBIAN_FRONTEND=noninteractive", "LANG=C.UTF-8", "HOME=/root"}
	return b.run(ctx, what, cmd)
}

// run runs cmd with its output to Options.Output, and its tail in the error.
func (b *builder) run(ctx context.Context, what string, cmd *exec.Cmd) error {
	tail := &tailBuffer{max: 4096}
	w := io.MultiWriter(b.o.Output, tail)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", what, err, tail)
	}
	return nil
}

// copyTree copies the root file system src to dst (cp -a: owners, modes,
// links, device nodes).
func copyTree(ctx context.Context, src, dst string) error {
	if err := os.RemoveAll(dst); err != nil {
		return fmt.Errorf("build image: remove old root: %w", err)
	}
	out, err := exec.CommandContext(ctx, "cp", "-a", "--reflink=auto", src, dst).CombinedOutput()
	if err != nil {
		return fmt.Errorf("copy %s: %w: %s", src, err, out)
	}
	return nil
}

// linkDebs hard-links (or copies) the .deb files of from that to lacks.
func linkDebs(from, to string) error {
	debs, err := filepath.Glob(filepath.Join(from, "*.deb"))
	if err != nil {
		return err
	}
	for _, f := range debs {
		dst := filepath.Join(to, filepath.Base(f))
		if _, err := os.Lstat(dst); err == nil {
			continue
		}
		if err := os.Link(f, dst); err == nil {
			continue
		}
		if err := copyFile(f, dst); err != nil {
			return fmt.Errorf("package cache: %w", err)
		}
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

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

// WithApplication runs the node in application a's image on the node's
// release ([WithRelease]): the same node (agent, epmd modes) with the
// application's commands in its container, e.g. elixir or rabbitmq-server.
// The image is built when missing, as the OTP images are.
func WithApplication(a *Application) Option {
	return func(o *options) error {
		if a == nil || applications[a.Name] != a {
			return fmt.Errorf("WithApplication: not one of the fixtures' applications (%s)", appNames())
		}
		o.app = a
		return nil
	}
}

// Application returns the node's application, nil for the OTP image.
func (n *Node) Application() *Application { return n.opts.app }
