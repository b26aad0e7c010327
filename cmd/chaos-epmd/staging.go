package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
	"github.com/chaos-epmd/chaos-epmd/faults"
)

// stagingConfig is the part of the command line that bounds a run and
// replaces a host's epmd: -takeover, -handback, -for.
type stagingConfig struct {
	takeover bool
	handback bool
	// runFor ends the run after that long (-for); 0: no end.
	runFor time.Duration
}

// stagingArg handles -takeover, -handback and -for at args[i] and reports
// how many arguments it took (0: not one of them).
func stagingArg(c *config, args []string, i int) (int, error) {
	switch a := args[i]; a {
	case "-takeover":
		c.staging.takeover = true
		return 1, nil
	case "-handback":
		c.staging.handback = true
		return 1, nil
	case "-for":
		if i+1 >= len(args) {
			return 0, errUsage
		}
		d, err := parseFaultFor(args[i+1])
		if err != nil {
			return 0, &chaosError{flag: a, value: args[i+1], err: err}
		}
		c.staging.runFor = d
		return 2, nil
	}
	return 0, nil
}

// errHandbackAlone is the error of -handback without -takeover.
var errHandbackAlone = errors.New("needs -takeover (it hands back the epmd taken over)")

// checkStaging reports flags that make no sense together.
func checkStaging(c *config) error {
	s := c.staging
	if s.handback && !s.takeover {
		return &chaosError{flag: "-handback", err: errHandbackAlone}
	}
	if s.takeover && c.systemd {
		return &chaosError{flag: "-takeover", err: errors.New("cannot be used with -systemd (systemd gives the sockets)")}
	}
	return nil
}

// envFlag is an environment variable standing for a chaos flag, for when
// nobody passes flags: erl starting chaos-epmd -daemon, or systemd.
type envFlag struct {
	name, flag string
	list       bool // several values, separated by ';' or new lines
}

// chaosEnv lists the environment variables of the chaos flags, in the
// order they are applied. -takeover and -handback have none on purpose:
// stopping a host's epmd is asked for on the command line, never
// inherited. The admin token's variable (CHAOS_EPMD_ADMIN_TOKEN) is read
// by checkAdmin, only when -admin-token is not given.
var chaosEnv = []envFlag{
	{name: "CHAOS_EPMD_FAULTS", flag: "-fault", list: true},
	{name: "CHAOS_EPMD_FAULTS_FILE", flag: "-faults-file"},
	{name: "CHAOS_EPMD_SEED", flag: "-seed"},
	{name: "CHAOS_EPMD_ADMIN", flag: "-admin"},
	{name: "CHAOS_EPMD_MAX_FAULT_FOR", flag: "-max-fault-for"},
	{name: "CHAOS_EPMD_FOR", flag: "-for"},
	{name: "CHAOS_EPMD_LOG_FORMAT", flag: "-log-format"},
}

// applyChaosEnv sets the chaos flags from their environment variables,
// before the command line is read: a flag on the command line wins over
// its variable, and the faults of CHAOS_EPMD_FAULTS come before those of
// -fault. An empty variable counts as unset.
func applyChaosEnv(c *config, getenv func(string) (string, bool)) error {
	for _, e := range chaosEnv {
		v, ok := getenv(e.name)
		if !ok || strings.TrimSpace(v) == "" {
			continue
		}
		values := []string{v}
		if e.list {
			values = splitSpecs(v)
		}
		for _, v := range values {
			if e.list {
				if v = strings.TrimSpace(v); v == "" {
					continue
				}
			}
			if err := envArg(c, e, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// splitSpecs splits a list of fault specs at new lines and at ';'. A
// NAME:PORT piece that does not start with a fault kind continues the
// spec before it: phantom=a:1;b:2 keeps its own ';'.
func splitSpecs(v string) []string {
	var specs []string
	for line := range strings.Lines(v) {
		start := len(specs)
		for piece := range strings.SplitSeq(strings.TrimRight(line, "\r\n"), ";") {
			kind, _, _ := strings.Cut(piece, "=")
			kind, _, _ = strings.Cut(kind, ",")
			if len(specs) > start && strings.Contains(piece, ":") && !slices.ContainsFunc(faults.Catalogue(), func(k faults.KindDoc) bool { return k.Name == strings.TrimSpace(kind) }) {
				specs[len(specs)-1] += ";" + piece
				continue
			}
			specs = append(specs, piece)
		}
	}
	return specs
}

// envArg applies one value of a variable as its flag would be.
func envArg(c *config, e envFlag, v string) error {
	args := []string{e.flag, v}
	n, err := chaosArg(c, args, 0)
	if n == 0 && err == nil {
		n, err = stagingArg(c, args, 0)
	}
	if n == 0 && err == nil && e.flag == "-log-format" {
		f, ferr := epmd.ParseLogFormat(v)
		if ferr != nil {
			err = epmd.ErrLogFormat
		}
		c.logFormat, n = f, 2
	}
	if err == nil && e.flag == "-admin" {
		c.chaos.adminFrom = e.name
	}
	var ce *chaosError
	switch {
	case errors.As(err, &ce):
		return &chaosError{flag: e.name, value: v, err: ce.err}
	case err != nil:
		return &chaosError{flag: e.name, value: v, err: err}
	case n == 0:
		return &chaosError{flag: e.name, value: v, err: fmt.Errorf("%s is not a flag of this build", e.flag)}
	}
	return nil
}
