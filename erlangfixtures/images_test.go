package erlangfixtures_test

import (
	"strings"
	"testing"

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
