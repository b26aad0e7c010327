// Command erlfix prepares and cleans up after the Erlang fixtures.
//
//	erlfix images [-images LIST] [-release LIST] [-force] [-v]
//	                              build missing images (root), print refs and timings;
//	                              LIST: all (default), bookworm, 29, elixir, rabbitmq:trixie, ...
//	erlfix chaos-image            import the FROM-scratch chaos-epmd:VERSION image, print its ref
//	erlfix leftovers [-session ID | -ended]
//	                              list fixture containers/networks; exit 1 if any
//	                              (-ended: only those of processes that have ended)
//	erlfix clean [-session ID | -ended]
//	                              force-remove fixture containers and networks
//	erlfix prune [-all] [-n]      remove the fixture images the tree does not use
//	                              (-all: every fixture image); never one a
//	                              container uses; -n: only print what would go
//
// Run it from the module tree: go run ./erlangfixtures/cmd/erlfix images
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	tclog.SetDefault(tclog.NewNoopLogger()) // no connection banner
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	switch os.Args[1] {
	case "images":
		err = images(ctx, os.Args[2:])
	case "chaos-image":
		err = chaosImage(ctx, os.Args[2:])
	case "leftovers":
		err = leftovers(ctx, os.Args[2:], false)
	case "clean":
		err = leftovers(ctx, os.Args[2:], true)
	case "prune":
		err = prune(ctx, os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "erlfix:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: erlfix images [-images LIST] [-release LIST] [-force] [-v] | chaos-image | leftovers [-session ID | -ended] | clean [-session ID | -ended] | prune [-all] [-n]")
	os.Exit(2)
}

func images(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("images", flag.ExitOnError)
	list := fs.String("images", "all", "comma-separated images: all, a release (bookworm, 27, otp29), an application (elixir, rabbitmq: on every release) or APP:RELEASE")
	releases := fs.String("release", "", "only the OTP images of these releases (comma-separated names or OTP versions)")
	verbose := fs.Bool("v", false, "show debootstrap's and apt-get's output")
	force := fs.Bool("force", false, "build even when present, replacing the images (time a cold build with an empty $CHAOS_EPMD_CACHE)")
	_ = fs.Parse(args)
	if fs.NArg() > 0 {
		return fmt.Errorf("images: unexpected argument %q (lists go in -images)", fs.Arg(0))
	}
	if *releases != "" {
		*list = *releases
	}
	imgs, err := erlangfixtures.ParseImages(*list)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var out io.Writer
	if *verbose {
		out = os.Stderr
	}
	start := time.Now()
	res, err := erlangfixtures.BuildImages(ctx, imgs, erlangfixtures.BuildOptions{Logger: log, Output: out, Force: *force})
	for _, r := range res {
		if r.Ref == "" {
			continue
		}
		what := "present"
		if r.Built {
			what = fmt.Sprintf("built in %.1fs", r.Took.Seconds())
		}
		fmt.Printf("%-16s otp%d %s %s\n", r.Image, r.Image.Release.OTP(), r.Ref, what)
	}
	if err != nil {
		return err
	}
	fmt.Printf("%d images ready in %.1fs\n", len(res), time.Since(start).Seconds())
	return nil
}

func chaosImage(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("chaos-image", flag.ExitOnError)
	_ = fs.Parse(args)
	start := time.Now()
	bin, err := erlangfixtures.ChaosEpmdBinary(ctx)
	if err != nil {
		return err
	}
	ref, built, err := erlangfixtures.BuildChaosImage(ctx, bin)
	if err != nil {
		return err
	}
	what := "present"
	if built {
		what = "built"
	}
	fmt.Printf("%s %s from %s in %.1fs\n", ref, what, bin, time.Since(start).Seconds())
	return nil
}

func leftovers(ctx context.Context, args []string, remove bool) error {
	name := "leftovers"
	if remove {
		name = "clean"
	}
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	session := fs.String("session", "", "only this session's (default: all)")
	ended := fs.Bool("ended", false, "only those whose session's process has ended on this host (what a killed or crashed run left); the others are listed as kept")
	_ = fs.Parse(args)
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))
	}
	if *ended && *session != "" {
		return fmt.Errorf("%s: -ended and -session %s: give one or the other", name, *session)
	}
	if remove && *ended {
		removed, kept, err := erlangfixtures.RemoveEndedLeftovers(ctx)
		for _, l := range removed {
			fmt.Println("removed", l)
		}
		for _, l := range kept {
			fmt.Println("kept", l)
		}
		return err
	}
	if remove {
		ls, err := erlangfixtures.RemoveLeftovers(ctx, *session)
		for _, l := range ls {
			fmt.Println("removed", l)
		}
		return err
	}
	ls, err := erlangfixtures.Leftovers(ctx, *session)
	if err != nil {
		return err
	}
	n := 0
	for _, l := range ls {
		if *ended && l.State != erlangfixtures.SessionEnded {
			fmt.Println("in use or not judged:", l)
			continue
		}
		fmt.Println("leftover", l)
		n++
	}
	if n > 0 {
		hint := "clean"
		if *ended {
			hint = "clean -ended"
		}
		return fmt.Errorf("%d fixture containers/networks left behind (remove: go run ./erlangfixtures/cmd/erlfix %s)", n, hint)
	}
	return nil
}

func prune(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("prune", flag.ExitOnError)
	all := fs.Bool("all", false, "remove every fixture image, not only those the tree does not use (to give the host back)")
	dryRun := fs.Bool("n", false, "only print what would be removed")
	_ = fs.Parse(args)
	if fs.NArg() > 0 {
		return fmt.Errorf("prune: unexpected argument %q", fs.Arg(0))
	}
	var current []string
	if !*all {
		// The chaos-epmd image to keep is the one `make image` tags: of
		// the same binary (CHAOS_EPMD_BINARY, which the Makefile sets).
		bin, err := erlangfixtures.ChaosEpmdBinary(ctx)
		if err != nil {
			return err
		}
		if current, err = erlangfixtures.CurrentImageRefs(ctx, bin); err != nil {
			return err
		}
	}
	verb := map[erlangfixtures.PruneAction]string{
		erlangfixtures.PruneRemove: "removed", erlangfixtures.PruneUntag: "untagged", erlangfixtures.PruneInUse: "kept",
	}
	if *dryRun {
		verb[erlangfixtures.PruneRemove], verb[erlangfixtures.PruneUntag] = "would remove", "would untag"
	}
	sum, err := erlangfixtures.PruneImages(ctx, erlangfixtures.PruneOptions{
		All: *all, Current: current, DryRun: *dryRun,
		Report: func(s erlangfixtures.PruneStep, err error) {
			name := "<none>"
			if len(s.Image.Tags) > 0 {
				name = strings.Join(s.Image.Tags, ",")
			}
			id := strings.TrimPrefix(s.Image.ID, "sha256:")
			line := fmt.Sprintf("%s %s (%.12s, %s)", verb[s.Action], name, id, megabytes(s.Image.Size))
			switch {
			case err != nil:
				line = fmt.Sprintf("failed %s (%.12s): %v", name, id, err)
			case s.Action == erlangfixtures.PruneInUse:
				line += ": in use by container " + strings.Join(s.Image.Containers, ", container ")
			case s.Action == erlangfixtures.PruneUntag:
				kept := slices.DeleteFunc(slices.Clone(s.Image.Tags), func(t string) bool { return slices.Contains(s.Untag, t) })
				line = fmt.Sprintf("%s %s (%.12s): the image stays as %s",
					verb[s.Action], strings.Join(s.Untag, ","), id, strings.Join(kept, ","))
			}
			fmt.Println(line)
		},
	})
	freed := "freed " + megabytes(sum.Freed)
	if *dryRun {
		freed = "would free at most " + megabytes(sum.Freed)
	}
	what := "images not used by this tree"
	if *all {
		what = "fixture images"
	}
	done := fmt.Sprintf("%d removed, %d untagged", sum.Removed, sum.Untagged)
	if *dryRun {
		done = fmt.Sprintf("%d to remove, %d to untag", sum.Removed, sum.Untagged)
	}
	fmt.Printf("prune (%s): %s, %d kept in use, %d failed; %s\n", what, done, sum.InUse, sum.Failed, freed)
	return err
}

func megabytes(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
