package erlangfixtures

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
)

// A build goes suite by suite, the suites in parallel: debootstrap
// --variant=minbase with erlang-base once per suite (the base), then each
// missing image of the suite from a copy of the base (the OTP image from the
// base itself), applications with apt-get install in a chroot, all trimmed and
// imported into the engine in parallel. Downloaded packages are kept per suite
// in the cache directory, so a rebuild downloads nothing.

// ErrNeedRoot is returned when building an image needs root (debootstrap).
var ErrNeedRoot = errors.New("building an image needs root (debootstrap): run `go run ./erlangfixtures/cmd/erlfix images` as root")

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
