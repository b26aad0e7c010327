package erlangfixtures_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
)

func TestReleases(t *testing.T) {
	got := erlangfixtures.Releases()
	want := []erlangfixtures.Release{erlangfixtures.OTP25, erlangfixtures.OTP27, erlangfixtures.OTP29}
	if len(got) != len(want) {
		t.Fatalf("Releases() = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Releases() = %q, want %q", got, want)
		}
	}
	for _, tc := range []struct {
		name string
		in   string
		want erlangfixtures.Release
		otp  int
	}{
		{name: "suite", in: "bookworm", want: erlangfixtures.OTP25, otp: 25},
		{name: "number", in: "27", want: erlangfixtures.OTP27, otp: 27},
		{name: "otp prefix", in: "otp29", want: erlangfixtures.OTP29, otp: 29},
		{name: "OTP- prefix", in: " OTP-29 ", want: erlangfixtures.OTP29, otp: 29},
		{name: "forky", in: "forky", want: erlangfixtures.OTP29, otp: 29},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := erlangfixtures.ParseRelease(tc.in)
			if err != nil || r != tc.want || r.OTP() != tc.otp {
				t.Fatalf("ParseRelease(%q) = %q (OTP %d), %v; want %q (OTP %d)", tc.in, r, r.OTP(), err, tc.want, tc.otp)
			}
		})
	}
	_, err := erlangfixtures.ParseRelease("28")
	if want := `unknown release "28": want one of bookworm (25), trixie (27), forky (29)`; err == nil || err.Error() != want {
		t.Fatalf("ParseRelease(28) error = %v, want %s", err, want)
	}
	if got := erlangfixtures.Release("").OTP(); got != 25 {
		t.Fatalf("default release OTP = %d, want 25", got)
	}
}

func TestParseImages(t *testing.T) {
	ex, rmq := erlangfixtures.Elixir, erlangfixtures.RabbitMQ
	for _, tc := range []struct {
		name string
		in   string
		want string // Image.String()s, space-separated
	}{
		{name: "all", in: "all", want: "bookworm elixir:bookworm rabbitmq:bookworm trixie elixir:trixie rabbitmq:trixie forky elixir:forky rabbitmq:forky"},
		{name: "releases", in: "bookworm,27", want: "bookworm trixie"},
		{name: "application on every release", in: "elixir", want: "elixir:bookworm elixir:trixie elixir:forky"},
		{name: "application on one release", in: "rabbitmq:otp29", want: "rabbitmq:forky"},
		{name: "repeats dropped", in: "forky,forky,elixir:25,elixir:bookworm", want: "forky elixir:bookworm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is, err := erlangfixtures.ParseImages(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, i := range is {
				got = append(got, i.String())
			}
			if strings.Join(got, " ") != tc.want {
				t.Fatalf("ParseImages(%q) = %s, want %s", tc.in, strings.Join(got, " "), tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		{name: "unknown application", in: "mongooseim:trixie", want: `image "mongooseim:trixie": unknown application "mongooseim": want one of elixir, rabbitmq`},
		{name: "unknown release of an application", in: "elixir:sid", want: `image "elixir:sid": unknown release "sid": want one of bookworm (25), trixie (27), forky (29)`},
		{name: "neither", in: "ejabberd", want: `image "ejabberd": not an application (elixir, rabbitmq) nor a release: unknown release "ejabberd": want one of bookworm (25), trixie (27), forky (29)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := erlangfixtures.ParseImages(tc.in)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("ParseImages(%q) error = %v, want %s", tc.in, err, tc.want)
			}
		})
	}
	if got := ex.On(erlangfixtures.OTP27); got != (erlangfixtures.Image{Release: erlangfixtures.OTP27, App: ex}) {
		t.Fatalf("Elixir.On(OTP27) = %v", got)
	}
	if got := rmq.On("").Release; got != erlangfixtures.OTP25 {
		t.Fatalf("RabbitMQ.On(\"\").Release = %q, want the default bookworm", got)
	}
}

func TestImageRefs(t *testing.T) {
	seen := map[string]string{}
	for _, i := range erlangfixtures.Images() {
		ref := i.Ref()
		repo, tag, _ := strings.Cut(ref, ":")
		wantRepo := erlangfixtures.ImageRepository
		if i.App != nil {
			wantRepo = "chaos-epmd/" + i.App.Name
		}
		prefix := string(i.Release) + "-otp" + map[erlangfixtures.Release]string{"bookworm": "25", "trixie": "27", "forky": "29"}[i.Release] + "-"
		if repo != wantRepo || !strings.HasPrefix(tag, prefix) || len(tag) != len(prefix)+12 {
			t.Errorf("%s: ref %s, want %s:%sHASH12", i, ref, wantRepo, prefix)
		}
		if other, dup := seen[tag]; dup && strings.HasSuffix(other, tag[len(tag)-12:]) {
			t.Errorf("%s and %s share the hash of %s", i, other, ref)
		}
		seen[tag] = ref
	}
	if len(seen) != 9 {
		t.Fatalf("%d image refs, want 9 (3 releases × OTP, Elixir, RabbitMQ)", len(seen))
	}
	if got, want := erlangfixtures.ImageRef(erlangfixtures.OTP29), erlangfixtures.OTPImage(erlangfixtures.OTP29).Ref(); got != want {
		t.Fatalf("ImageRef(OTP29) = %s, OTPImage(OTP29).Ref() = %s", got, want)
	}
}

// upstream is a Debian version without epoch, revision and repack suffix:
// 1:25.2.3+dfsg-1+deb12u4 → 25.2.3, 1.14.0.dfsg-2 → 1.14.0.
func upstream(v string) string {
	if _, after, ok := strings.Cut(v, ":"); ok {
		v = after
	}
	if i := strings.LastIndex(v, "-"); i >= 0 {
		v = v[:i]
	}
	v, _, _ = strings.Cut(v, "+")
	return strings.TrimSuffix(v, ".dfsg")
}

// TestImagesRunNodes starts the usual node (agent, node.sh, the C epmd) in
// every image and checks what the subject's file says: the OTP release, the
// package versions (only the OTP major on a testing suite), the application's
// command and, for RabbitMQ, the cookie.
func TestImagesRunNodes(t *testing.T) {
	erlangfixtures.RequireEngine(t)
	for _, img := range erlangfixtures.Images() {
		t.Run(strings.ReplaceAll(img.String(), ":", "-"), func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t, 5*time.Minute)
			opts := []erlangfixtures.Option{erlangfixtures.WithRelease(img.Release)}
			if img.App != nil {
				opts = append(opts, erlangfixtures.WithApplication(img.App))
			}
			n := runNode(t, ctx, opts...)
			if n.Application() != img.App {
				t.Errorf("Application() = %v, want %v", n.Application(), img.App)
			}
			info := img.Release.Info()
			otp, err := n.EvalString(ctx, "erlang:system_info(otp_release)")
			if err != nil || otp != strconv.Itoa(info.OTP) {
				t.Fatalf("otp_release = %q, %v; want %d", otp, err, info.OTP)
			}
			checkVersion(t, ctx, n, "erlang-base", upstream(info.ErlangBase), info.Testing)
			switch img.App {
			case nil:
			case erlangfixtures.Elixir:
				checkVersion(t, ctx, n, "elixir", img.App.Versions[img.Release], info.Testing)
				res, err := n.Exec(ctx, []string{"elixir", "-e", "IO.puts(System.version()); IO.inspect(:file.native_name_encoding())"})
				want := img.App.Versions[img.Release] + "\n:utf8\n"
				if err != nil || res.ExitCode != 0 || (!info.Testing && res.Output != want) {
					t.Errorf("elixir -e: %d %q, %v; want 0 %q", res.ExitCode, res.Output, err, want)
				}
				t.Logf("elixir: %q", res.Output)
			case erlangfixtures.RabbitMQ:
				checkVersion(t, ctx, n, "rabbitmq-server", img.App.Versions[img.Release], info.Testing)
				res, err := n.Exec(ctx, []string{"stat", "-c", "%U %a %s", img.App.Cookie})
				want := "rabbitmq 400 " + strconv.Itoa(len(erlangfixtures.DefaultCookie)) + "\n"
				if err != nil || res.Output != want {
					t.Errorf("cookie %s: %q, %v; want %q", img.App.Cookie, res.Output, err, want)
				}
				res, err = n.Exec(ctx, []string{"sh", "-c", "command -v " + img.App.Command[0]})
				if err != nil || res.ExitCode != 0 {
					t.Errorf("%s not on PATH: %q, %v", img.App.Command[0], res.Output, err)
				}
			default:
				t.Fatalf("no check for application %s", img.App.Name)
			}
		})
	}
}

func checkVersion(t *testing.T, ctx context.Context, n *erlangfixtures.Node, pkg, want string, moving bool) {
	t.Helper()
	res, err := n.Exec(ctx, []string{"dpkg-query", "-W", "-f", "${Version}", pkg})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("dpkg-query %s: %q, %v", pkg, res.Output, err)
	}
	got := upstream(res.Stdout)
	t.Logf("%s %s", pkg, res.Stdout)
	if got != want && !moving {
		t.Errorf("%s upstream version %s (%s), want %s as the subject's file says", pkg, got, res.Stdout, want)
	}
}

// TestChaosImage checks the FROM-scratch image: one layer, the binary alone
// as entry point, the binary's hash as label; asked again, nothing imported.
func TestChaosImage(t *testing.T) {
	erlangfixtures.RequireEngine(t)
	ctx := testContext(t, 3*time.Minute)
	bin, err := erlangfixtures.ChaosEpmdBinary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := erlangfixtures.ChaosImage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ref, erlangfixtures.ChaosRepository+":") {
		t.Fatalf("ChaosImage() = %s, want %s:VERSION", ref, erlangfixtures.ChaosRepository)
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	inspect, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	// Asked again: the same image, not imported again. The tag follows git
	// describe, which moves when a commit lands meanwhile in a shared tree;
	// then the new tag must hold the same binary.
	again, built, err := erlangfixtures.BuildChaosImage(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	if again == ref && built {
		t.Errorf("BuildChaosImage(%s) imported %s again", bin, ref)
	}
	if again != ref {
		other, err := cli.ImageInspect(ctx, again)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := other.Config.Labels[erlangfixtures.LabelBinary], inspect.Config.Labels[erlangfixtures.LabelBinary]; a != b {
			t.Errorf("BuildChaosImage again = %s holding binary %s, want %s's %s", again, a, ref, b)
		}
	}
	if n := len(inspect.RootFS.Layers); n != 1 {
		t.Errorf("%d layers, want 1", n)
	}
	if ep := inspect.Config.Entrypoint; len(ep) != 1 || ep[0] != erlangfixtures.ChaosBinaryPath {
		t.Errorf("entry point %q, want [%s]", ep, erlangfixtures.ChaosBinaryPath)
	}
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	if inspect.Size != st.Size() {
		t.Errorf("image size %d, binary %d: want the binary alone", inspect.Size, st.Size())
	}
	if inspect.Config.Labels[erlangfixtures.LabelBinary] == "" {
		t.Errorf("no %s label", erlangfixtures.LabelBinary)
	}
}

// TestOTP29JoinsWithChaosEpmd: two OTP 29 nodes and an OTP 27 one, each with
// chaos-epmd, form one cluster.
func TestOTP29JoinsWithChaosEpmd(t *testing.T) {
	erlangfixtures.RequireEngine(t)
	ctx := testContext(t, 3*time.Minute)
	c, err := erlangfixtures.RunCluster(ctx, 3,
		erlangfixtures.WithNodeOptions(erlangfixtures.WithRelease(erlangfixtures.OTP29), erlangfixtures.WithChaosEpmd()),
		erlangfixtures.WithNodeOptionsAt(2, erlangfixtures.WithRelease(erlangfixtures.OTP27)),
		erlangfixtures.Joined(),
		erlangfixtures.WithCleanup(t.Cleanup))
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range c.Nodes {
		want := "29"
		if i == 2 {
			want = "27"
		}
		if otp, err := n.EvalString(ctx, "erlang:system_info(otp_release)"); err != nil || otp != want {
			t.Errorf("%s: otp_release = %q, %v; want %s", n.Name(), otp, err, want)
		}
		got, err := n.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var others []string
		for _, m := range c.Nodes {
			if m != n {
				others = append(others, m.Name())
			}
		}
		if strings.Join(got, " ") != strings.Join(others, " ") {
			t.Errorf("nodes() on %s = %v; want %v", n.Name(), got, others)
		}
	}
}
