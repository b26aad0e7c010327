// Command mutate measures how much of a broken chaos-epmd the tests would
// catch, at two levels.
//
//	mutate units [flags] [package ...]
//
// runs the gremlins mutation tool (github.com/go-gremlins/gremlins) over
// packages of the module (default epmd and faults) on a snapshot of the work
// tree, with each package's fast unit tests as the per-mutant run (-short,
// and the slow tests named in fastTests skipped). It prints per package the
// mutants killed, lived, not covered and timed out, the test efficacy
// (killed / (killed + lived)) and the mutator coverage (mutants covered by a
// test / all mutants), then every surviving and uncovered mutant with its
// source line. Mutants listed in equivalent.txt (changes that cannot alter
// behaviour, each with its reason) are shown apart and counted nowhere.
//
//	mutate scenarios [flags] [mutant ...]
//
// builds deliberately broken chaos-epmd binaries — each a copy of the work
// tree with one small source edit (scenarioMutants) — and runs the container
// scenario suite against each with CHAOS_EPMD_BINARY pointing at it, then
// reports which specs failed per mutant. An edit that no longer matches the
// source exactly once stops the run with the mutant's name.
//
// Both write their logs and JSON reports to -out (build/mutation).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage:
  mutate units [flags] [package ...]      gremlins over the packages' fast unit tests (default: epmd faults)
  mutate scenarios [flags] [mutant ...]   the scenario suite against broken binaries (default: every mutant)
Run "mutate units -h" or "mutate scenarios -h" for the flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutate:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "units":
		return runUnits(ctx, args[1:], stdout)
	case "scenarios":
		return runScenarios(ctx, args[1:], stdout)
	default:
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("unknown subcommand %q, want units or scenarios", args[0])
	}
}
