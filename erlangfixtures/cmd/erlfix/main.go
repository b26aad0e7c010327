// Command erlfix prepares and cleans up after the Erlang fixtures.
//
//	erlfix images [-release bookworm,trixie] [-v]   build missing images (root), print refs and timings
//	erlfix leftovers [-session ID]                  list fixture containers/networks; exit 1 if any
//	erlfix clean [-session ID]                      force-remove fixture containers and networks
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
	"strings"
	"sync"
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
	case "leftovers":
		err = leftovers(ctx, os.Args[2:], false)
	case "clean":
		err = leftovers(ctx, os.Args[2:], true)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "erlfix:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: erlfix images [-release LIST] [-v] | leftovers [-session ID] | clean [-session ID]")
	os.Exit(2)
}

func images(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("images", flag.ExitOnError)
	releases := fs.String("release", "bookworm,trixie", "comma-separated Debian releases or OTP versions")
	verbose := fs.Bool("v", false, "show debootstrap's output")
	_ = fs.Parse(args)
	var rs []erlangfixtures.Release
	for _, s := range strings.Split(*releases, ",") {
		r, err := erlangfixtures.ParseRelease(s)
		if err != nil {
			return err
		}
		rs = append(rs, r)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var out io.Writer
	if *verbose {
		out = os.Stderr
	}
	start := time.Now()
	errs := make([]error, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() {
			t := time.Now()
			ref, built, err := erlangfixtures.BuildImage(ctx, r, erlangfixtures.BuildOptions{Logger: log, Output: out})
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", r, err)
				return
			}
			what := "present"
			if built {
				what = "built"
			}
			fmt.Printf("%s otp%d %s %s in %.1fs\n", r, r.OTP(), ref, what, time.Since(t).Seconds())
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	fmt.Printf("images ready in %.1fs\n", time.Since(start).Seconds())
	return nil
}

func leftovers(ctx context.Context, args []string, remove bool) error {
	fs := flag.NewFlagSet("leftovers", flag.ExitOnError)
	session := fs.String("session", "", "only this session's (default: all)")
	_ = fs.Parse(args)
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
	for _, l := range ls {
		fmt.Println("leftover", l)
	}
	if len(ls) > 0 {
		return fmt.Errorf("%d fixture containers/networks left behind (remove: go run ./erlangfixtures/cmd/erlfix clean)", len(ls))
	}
	return nil
}
