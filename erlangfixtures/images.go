package erlangfixtures

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// This file is the image machinery shared by every subject: the images and
// their references (the build is in debootstrap.go, the import into the engine
// in imagestore.go, the Debian mirror in mirror.go). A subject is
// described in a file of its own: an OTP release (otp25.go, otp27.go,
// otp29.go: [Release] constant and [ReleaseInfo]) or an application on each
// release (elixir.go, rabbitmq.go: an [*Application]). Adding one is adding
// that file.

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
	// ReservedPorts are kept out of the kernel's ephemeral range in the
	// application's containers (net.ipv4.ip_local_reserved_ports, a list
	// such as "25672,35672-35682"): the ports it binds by number. Then no
	// connection's local port, no TIME_WAIT and no listener on port 0
	// (Docker's DNS) has one by chance when a fault holds them. Not part
	// of the image.
	ReservedPorts string
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
// steps here or in debootstrap.go change in a way that changes the image.
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
	// LabelHost and LabelSessionLock: the creating process's host and the
	// file it holds a lock on while it runs ([SessionEnded]).
	LabelHost        = "org.chaos-epmd.host"
	LabelSessionLock = "org.chaos-epmd.session-lock"
	LabelRelease     = "org.chaos-epmd.release" // images: the Debian release
	LabelApp         = "org.chaos-epmd.app"     // images: the application, if any
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
