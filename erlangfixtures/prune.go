package erlangfixtures

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// This file removes the fixture images the tree no longer uses (`erlfix
// prune`): every `make image` leaves a chaos-epmd:<version> behind, and a
// changed recipe leaves the OTP, application and refapp images of the old
// hash. [PlanPrune] decides, [PruneImages] acts.

// FixtureImage is an image carrying [LabelFixture] as prune sees it.
type FixtureImage struct {
	ID   string
	Tags []string // repository:tag; none for a dangling image
	Size int64
	// Containers are the names of the containers, running or stopped, made
	// from it.
	Containers []string
}

// PruneAction is what prune does with one image.
type PruneAction string

const (
	// PruneKeep: every tag is one the tree uses (or not the fixtures').
	PruneKeep PruneAction = "keep"
	// PruneRemove: the image goes (its tags, then the image).
	PruneRemove PruneAction = "remove"
	// PruneUntag: some of the image's tags go, the image stays for the
	// others (current ones, or tags outside the fixtures' repositories).
	PruneUntag PruneAction = "untag"
	// PruneInUse: the image would go but a container uses it; untouched.
	PruneInUse PruneAction = "in use"
)

// PruneStep is [PlanPrune]'s decision on one image.
type PruneStep struct {
	Image  FixtureImage
	Action PruneAction
	// Untag are the tags to remove ([PruneRemove], [PruneUntag]); a
	// dangling image is removed by its ID.
	Untag []string
}

// noTag is how engines before API 1.44 list a dangling image's tags.
const noTag = "<none>:<none>"

// fixtureRepository reports whether the image reference ref (repo:tag) is in
// one of the repositories the fixtures tag: chaos-epmd (the chaos-epmd
// image) or chaos-epmd/NAME (OTP, application and refapp images).
func fixtureRepository(ref string) bool {
	repo := ref
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		repo = ref[:i]
	}
	return repo == ChaosRepository || strings.HasPrefix(repo, ChaosRepository+"/")
}

// PlanPrune decides, for each fixture image, whether `erlfix prune` removes
// it. Without all, an image goes when it is dangling or when it has a tag in
// the fixtures' repositories (chaos-epmd, chaos-epmd/...) that is not in
// current (the references the tree uses, [CurrentImageRefs]); its current
// tags keep it. With all, every tag in the fixtures' repositories goes. A
// tag outside them (someone's own tag of a fixture image, or an image built
// FROM one, which inherits the label) is never removed and keeps the image.
// An image a container uses is never touched: [PruneInUse]. The steps are
// sorted by first tag, dangling images last by ID.
func PlanPrune(imgs []FixtureImage, current []string, all bool) []PruneStep {
	steps := make([]PruneStep, 0, len(imgs))
	for _, img := range imgs {
		var stale, kept []string
		for _, t := range img.Tags {
			switch {
			case t == noTag || t == "":
			case fixtureRepository(t) && (all || !slices.Contains(current, t)):
				stale = append(stale, t)
			default:
				kept = append(kept, t)
			}
		}
		img.Tags = slices.DeleteFunc(slices.Clone(img.Tags), func(t string) bool { return t == noTag || t == "" })
		step := PruneStep{Image: img, Action: PruneKeep}
		switch {
		case len(stale) == 0 && len(kept) > 0:
		case len(img.Containers) > 0:
			step.Action = PruneInUse
		case len(kept) > 0:
			step.Action, step.Untag = PruneUntag, stale
		default:
			step.Action, step.Untag = PruneRemove, stale
		}
		steps = append(steps, step)
	}
	slices.SortStableFunc(steps, func(a, b PruneStep) int {
		if c := boolOrder(len(a.Image.Tags) == 0) - boolOrder(len(b.Image.Tags) == 0); c != 0 {
			return c
		}
		if len(a.Image.Tags) > 0 {
			if c := strings.Compare(a.Image.Tags[0], b.Image.Tags[0]); c != 0 {
				return c
			}
		}
		return strings.Compare(a.Image.ID, b.Image.ID)
	})
	return steps
}

// CurrentImageRefs returns the image references the tree uses: each of
// [Images], the reference application's two images on each release
// ([RefAppRefs]) and, when chaosBin is not "", the chaos-epmd image of that
// static binary ([ChaosImageRef]: the tag `make image` gives it).
func CurrentImageRefs(ctx context.Context, chaosBin string) ([]string, error) {
	var refs []string
	for _, i := range Images() {
		refs = append(refs, i.Ref())
	}
	for _, r := range Releases() {
		deb, noShell, err := RefAppRefs(r)
		if err != nil {
			return nil, err
		}
		refs = append(refs, deb, noShell)
	}
	if chaosBin != "" {
		ref, err := ChaosImageRef(ctx, chaosBin)
		if err != nil {
			return nil, err
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// FixtureImages lists the images in the engine carrying [LabelFixture], each
// with the containers (running or stopped, any label) made from it.
func FixtureImages(ctx context.Context) ([]FixtureImage, error) {
	cli, err := dockerClient(ctx)
	if err != nil {
		return nil, err
	}
	users, err := containerUsers(ctx, cli)
	if err != nil {
		return nil, err
	}
	is, err := cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("label", LabelFixture+"=1")})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	imgs := make([]FixtureImage, 0, len(is.Items))
	for _, i := range is.Items {
		imgs = append(imgs, FixtureImage{ID: i.ID, Tags: i.RepoTags, Size: i.Size, Containers: users[i.ID]})
	}
	return imgs, nil
}

// PruneOptions tune [PruneImages].
type PruneOptions struct {
	// All removes every fixture image, not only those the tree does not use.
	All bool
	// Current are the references the tree uses ([CurrentImageRefs]); unused
	// with All.
	Current []string
	// DryRun only reports what would be done.
	DryRun bool
	// Report, when not nil, is called after each step that is not
	// [PruneKeep], with the error of that step. A step refused by the engine
	// because a container was made from the image meanwhile is reported as
	// [PruneInUse] with a nil error.
	Report func(PruneStep, error)
}

// PruneSummary counts what [PruneImages] did.
type PruneSummary struct {
	Removed  int // images removed
	Untagged int // images that lost the fixtures' tags and stayed
	InUse    int // images kept because a container uses them
	Failed   int
	// Freed is the engine's disk use of images before minus after (an
	// estimate in a dry run: the sizes of the images that would go, shared
	// layers counted for each).
	Freed int64
}

// PruneImages removes the fixture images [PlanPrune] picks, never by force:
// tag by tag, so that the engine deletes an image with its last tag and
// refuses, as in use, one a container was made from since it was listed.
func PruneImages(ctx context.Context, o PruneOptions) (PruneSummary, error) {
	var sum PruneSummary
	cli, err := dockerClient(ctx)
	if err != nil {
		return sum, err
	}
	imgs, err := FixtureImages(ctx)
	if err != nil {
		return sum, err
	}
	before, duErr := imagesDiskUse(ctx, cli)
	var errs []error
	for _, step := range PlanPrune(imgs, o.Current, o.All) {
		if step.Action == PruneKeep {
			continue
		}
		var err error
		if !o.DryRun && step.Action != PruneInUse {
			err = removeImage(ctx, cli, step)
			if cerrdefs.IsConflict(err) {
				if users := containersOf(ctx, cli, step.Image.ID); len(users) > 0 {
					step.Action, step.Image.Containers, err = PruneInUse, users, nil
				}
			}
		}
		switch {
		case err != nil:
			sum.Failed++
			errs = append(errs, err)
		case step.Action == PruneRemove:
			sum.Removed++
			if o.DryRun {
				sum.Freed += step.Image.Size
			}
		case step.Action == PruneUntag:
			sum.Untagged++
		case step.Action == PruneInUse:
			sum.InUse++
		}
		if o.Report != nil {
			o.Report(step, err)
		}
	}
	if !o.DryRun {
		after, err := imagesDiskUse(ctx, cli)
		if err = cmp.Or(duErr, err); err != nil {
			errs = append(errs, fmt.Errorf("bytes freed: %w", err))
		} else {
			sum.Freed = before - after
		}
	}
	return sum, errors.Join(errs...)
}

// removeImage removes step's tags, or the dangling image by its ID, without
// force, and with them the untagged parents nothing else needs (as docker
// rmi does: a refapp image's Elixir image of an old hash). A tag that no
// longer names the image listed (rebuilt meanwhile) is left alone.
func removeImage(ctx context.Context, cli client.APIClient, step PruneStep) error {
	if len(step.Untag) == 0 {
		_, err := cli.ImageRemove(ctx, step.Image.ID, client.ImageRemoveOptions{PruneChildren: true})
		if err != nil {
			return fmt.Errorf("remove image %.19s: %w", step.Image.ID, err)
		}
		return nil
	}
	for _, t := range step.Untag {
		in, err := cli.ImageInspect(ctx, t)
		if cerrdefs.IsNotFound(err) || err == nil && in.ID != step.Image.ID {
			continue
		}
		if err != nil {
			return fmt.Errorf("inspect image %s: %w", t, err)
		}
		if _, err := cli.ImageRemove(ctx, t, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
			return fmt.Errorf("remove image %s: %w", t, err)
		}
	}
	return nil
}

// containersOf names the containers made from image id, none when the
// engine cannot say.
func containersOf(ctx context.Context, cli client.APIClient, id string) []string {
	users, _ := containerUsers(ctx, cli)
	return users[id]
}

// containerUsers maps each image ID to the names of the containers,
// running or stopped, made from it.
func containerUsers(ctx context.Context, cli client.APIClient) (map[string][]string, error) {
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	users := map[string][]string{}
	for _, c := range cs.Items {
		users[c.ImageID] = append(users[c.ImageID], containerName(c.ID, c.Names))
	}
	return users, nil
}

func containerName(id string, names []string) string {
	if len(names) > 0 {
		return strings.TrimPrefix(names[0], "/")
	}
	return id
}

// imagesDiskUse is the engine's disk use of all its images.
func imagesDiskUse(ctx context.Context, cli client.APIClient) (int64, error) {
	du, err := cli.DiskUsage(ctx, client.DiskUsageOptions{Images: true})
	if err != nil {
		return 0, err
	}
	return du.Images.TotalSize, nil
}
