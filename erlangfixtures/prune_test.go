package erlangfixtures_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
)

func TestPlanPrune(t *testing.T) {
	const (
		otpNow    = "chaos-epmd/erlang:bookworm-otp25-3c3c9d87e1ab"
		otpOld    = "chaos-epmd/erlang:bookworm-otp25-000000000001"
		rmqNow    = "chaos-epmd/rabbitmq:trixie-otp27-7b9337302e0b"
		rmqOld    = "chaos-epmd/rabbitmq:trixie-otp27-000000000002"
		refNow    = "chaos-epmd/refapp:bookworm-040bf1b5058e"
		refOld    = "chaos-epmd/refapp:bookworm-noshell-000000000003"
		gone      = "chaos-epmd/mongooseim:sid-otp30-000000000004" // an application no longer defined
		chaosNow  = "chaos-epmd:f665022-dirty-c5648d2cbd86"
		chaosOld  = "chaos-epmd:1355a8e"
		chaosOld2 = "chaos-epmd:855a2da-dirty-c5648d2cbd86"
		mine      = "myteam/myapp:1.4.2"           // built FROM a fixture image: inherits the label
		mirror    = "localhost:5000/chaos-epmd:v1" // another registry's repository
	)
	current := []string{otpNow, rmqNow, refNow, chaosNow}
	imgs := []erlangfixtures.FixtureImage{
		{ID: "sha256:a1", Tags: []string{chaosOld}, Size: 13},
		{ID: "sha256:a2", Tags: []string{chaosNow}, Size: 13},
		{ID: "sha256:a3", Tags: []string{chaosOld2}, Size: 13, Containers: []string{"n1-chaos"}},
		{ID: "sha256:b1", Tags: []string{otpNow}, Size: 124, Containers: []string{"n1"}},
		{ID: "sha256:b2", Tags: []string{otpOld}, Size: 124},
		{ID: "sha256:c1", Tags: []string{rmqOld, mine}, Size: 210},
		{ID: "sha256:c2", Tags: []string{rmqNow}, Size: 210},
		{ID: "sha256:d1", Tags: []string{refNow}, Size: 156},
		{ID: "sha256:d2", Tags: []string{refOld}, Size: 20},
		{ID: "sha256:e1", Tags: []string{gone}, Size: 100},
		{ID: "sha256:e2", Tags: []string{mirror}, Size: 13},
		{ID: "sha256:e3", Tags: []string{chaosOld, chaosNow}, Size: 13}, // two tags, one current
		{ID: "sha256:f2", Size: 13},                                     // dangling (API >= 1.44)
		{ID: "sha256:f1", Tags: []string{"<none>:<none>"}, Size: 13},    // dangling (older API)
		{ID: "sha256:f3", Size: 13, Containers: []string{"old-run", "older-run"}},
	}
	for _, tc := range []struct {
		name string
		all  bool
		want []string // per step, in order: ACTION ID [untag TAGS] [by NAMES]
	}{
		{name: "what the tree does not use", want: []string{
			"remove b2 untag " + otpOld,
			"keep b1",
			"remove e1 untag " + gone,
			"untag c1 untag " + rmqOld,
			"keep c2",
			"keep d1",
			"remove d2 untag " + refOld,
			"remove a1 untag " + chaosOld,
			"untag e3 untag " + chaosOld,
			"in use a3 by n1-chaos",
			"keep a2",
			"keep e2",
			"remove f1",
			"remove f2",
			"in use f3 by old-run,older-run",
		}},
		{name: "all", all: true, want: []string{
			"remove b2 untag " + otpOld,
			"in use b1 by n1",
			"remove e1 untag " + gone,
			"untag c1 untag " + rmqOld,
			"remove c2 untag " + rmqNow,
			"remove d1 untag " + refNow,
			"remove d2 untag " + refOld,
			"remove a1 untag " + chaosOld,
			"remove e3 untag " + chaosOld + "," + chaosNow,
			"in use a3 by n1-chaos",
			"remove a2 untag " + chaosNow,
			"keep e2",
			"remove f1",
			"remove f2",
			"in use f3 by old-run,older-run",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steps := erlangfixtures.PlanPrune(slices.Clone(imgs), current, tc.all)
			var got []string
			for _, s := range steps {
				line := fmt.Sprintf("%s %s", s.Action, strings.TrimPrefix(s.Image.ID, "sha256:"))
				if len(s.Untag) > 0 {
					line += " untag " + strings.Join(s.Untag, ",")
				}
				if s.Action == erlangfixtures.PruneInUse {
					line += " by " + strings.Join(s.Image.Containers, ",")
				}
				got = append(got, line)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("PlanPrune(all=%v):\n%s\nwant:\n%s", tc.all, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
	if imgs[13].Tags[0] != "<none>:<none>" {
		t.Fatalf("PlanPrune changed its argument: %v", imgs[13].Tags)
	}
}

// The references prune keeps are those the fixtures build: every image of
// [erlangfixtures.Images] and both refapp images on every release.
func TestCurrentImageRefs(t *testing.T) {
	refs, err := erlangfixtures.CurrentImageRefs(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, i := range erlangfixtures.Images() {
		want = append(want, i.Ref())
	}
	for _, r := range erlangfixtures.Releases() {
		deb, noShell, err := erlangfixtures.RefAppRefs(r)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(deb, erlangfixtures.RefAppRepository+":"+string(r)+"-") ||
			!strings.HasPrefix(noShell, erlangfixtures.RefAppRepository+":"+string(r)+"-noshell-") ||
			deb[len(deb)-12:] != noShell[len(noShell)-12:] {
			t.Errorf("RefAppRefs(%s) = %s, %s; want %s:%s-HASH12 and %[3]s:%[4]s-noshell-HASH12", r, deb, noShell, erlangfixtures.RefAppRepository, r)
		}
		want = append(want, deb, noShell)
	}
	if !slices.Equal(refs, want) || len(refs) != 15 {
		t.Fatalf("CurrentImageRefs = %q\nwant %q", refs, want)
	}
	var imgs []erlangfixtures.FixtureImage
	for k, ref := range refs {
		imgs = append(imgs, erlangfixtures.FixtureImage{ID: fmt.Sprint(k), Tags: []string{ref}})
	}
	for _, s := range erlangfixtures.PlanPrune(imgs, refs, false) {
		if s.Action != erlangfixtures.PruneKeep {
			t.Errorf("prune would %s %s, an image the tree uses", s.Action, s.Image.Tags)
		}
	}
}
