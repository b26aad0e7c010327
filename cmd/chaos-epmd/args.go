package main

import (
	"errors"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// errUsage means: print the usage text on stderr and exit 1, as epmd does
// for any argument it does not accept.
var errUsage = errors.New("usage")

// action is what the command line asks for.
type action int

const (
	actServe   action = iota // run the daemon
	actNames                 // -names
	actStarted               // -started
	actDump                  // -dump
	actKill                  // -kill
	actStop                  // -stop NAME
	actVersion               // -version (chaos-epmd's own)
)

// config is the parsed command line and environment.
type config struct {
	act      action
	stopName string

	debug         int
	port          int
	address       string
	daemon        bool
	relaxed       bool
	systemd       bool
	packetTimeout time.Duration
	delayAccept   time.Duration
	delayWrite    time.Duration
	logFormat     epmd.LogFormat // -log-format (chaos-epmd's own)

	// daemonChild is set in the re-executed child of -daemon.
	daemonChild bool

	// chaos holds the fault-injection flags (faults.go); nil when none
	// was given.
	chaos *chaosConfig
	// staging holds -takeover, -handback and -for (staging.go).
	staging stagingConfig
}

// envDaemonChild marks the re-executed child of -daemon.
const envDaemonChild = "CHAOS_EPMD_DAEMON_CHILD"

// parseArgs reads epmd's command line exactly as epmd.c does: left to
// right, flags set state, client commands must come last, numbers are read
// with atoi and 0 is a usage error. getenv reports a variable's value and
// whether it is set.
func parseArgs(args []string, getenv func(string) (string, bool)) (*config, error) {
	c := &config{port: 4369}
	if v, ok := getenv("ERL_EPMD_PORT"); ok {
		c.port = atoi(v)
	}
	if v, ok := getenv("ERL_EPMD_ADDRESS"); ok {
		c.address = v
	}
	if _, ok := getenv("ERL_EPMD_RELAXED_COMMAND_CHECK"); ok {
		c.relaxed = true
	}
	if _, ok := getenv(envDaemonChild); ok {
		c.daemonChild = true
	}
	// The chaos flags' variables, reported only when the daemon runs.
	envErr := applyChaosEnv(c, getenv)
	seconds := func(i int, dst *time.Duration) error {
		if i+1 >= len(args) {
			return errUsage
		}
		n := atoi(args[i+1])
		if n == 0 {
			return errUsage
		}
		*dst = time.Duration(n) * time.Second
		return nil
	}
	last := func(i int, a action) (*config, error) {
		if i != len(args)-1 {
			return nil, errUsage
		}
		c.act = a
		return c, nil
	}
	for i := 0; i < len(args); i++ {
		if n, err := chaosArg(c, args, i); err != nil {
			return nil, err
		} else if n > 0 {
			i += n - 1
			continue
		}
		if n, err := stagingArg(c, args, i); err != nil {
			return nil, err
		} else if n > 0 {
			i += n - 1
			continue
		}
		switch args[i] {
		case "-d", "-debug":
			c.debug++
		case "-packet_timeout":
			if err := seconds(i, &c.packetTimeout); err != nil {
				return nil, err
			}
			i++
		case "-delay_accept":
			if err := seconds(i, &c.delayAccept); err != nil {
				return nil, err
			}
			i++
		case "-delay_write":
			if err := seconds(i, &c.delayWrite); err != nil {
				return nil, err
			}
			i++
		case "-daemon":
			c.daemon = true
		case "-relaxed_command_check":
			c.relaxed = true
		case "-systemd":
			c.systemd = true
		case "-log-format":
			if i+1 >= len(args) {
				return nil, errUsage
			}
			f, err := epmd.ParseLogFormat(args[i+1])
			if err != nil {
				return nil, &chaosError{flag: args[i], value: args[i+1], err: epmd.ErrLogFormat}
			}
			c.logFormat = f
			i++
		case "-address":
			if i+1 >= len(args) {
				return nil, errUsage
			}
			c.address = args[i+1]
			i++
		case "-port":
			if i+1 >= len(args) {
				return nil, errUsage
			}
			if c.port = atoi(args[i+1]); c.port == 0 {
				return nil, errUsage
			}
			i++
		case "-names":
			return last(i, actNames)
		case "-started":
			return last(i, actStarted)
		case "-dump":
			return last(i, actDump)
		case "-kill":
			return last(i, actKill)
		case "-stop":
			if i+2 != len(args) {
				return nil, errUsage
			}
			c.act = actStop
			c.stopName = args[i+1]
			return c, nil
		case "-h", "-help", "--help":
			return nil, errHelp
		case "-version":
			return last(i, actVersion)
		default:
			return nil, errUsage
		}
	}
	if envErr != nil {
		return nil, envErr
	}
	if err := checkStaging(c); err != nil {
		return nil, err
	}
	if err := checkAdmin(c, getenv); err != nil {
		return nil, err
	}
	return c, nil
}

// atoi is C's atoi: optional leading white space and sign, then digits up
// to the first non-digit; 0 when there are none. Like glibc's, it wraps
// silently on overflow (here at 32 bits).
func atoi(s string) int {
	i := 0
	for i < len(s) && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	var n int32
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int32(s[i]-'0')
	}
	if neg {
		n = -n
	}
	return int(n)
}

const usageText = `usage: epmd [-d|-debug] [DbgExtra...] [-address List]
            [-port No] [-daemon] [-relaxed_command_check]
       epmd [-d|-debug] [-port No] [-names|-kill|-stop name]

See the Erlang epmd manual page for info about the usage.

Regular options
    -address List
        Let epmd listen only on the comma-separated list of IP
        addresses (and on the loopback interface).
    -port No
        Let epmd listen to another port than default 4369
    -d
    -debug
        Enable debugging. This will give a log to
        the standard error stream. It will shorten
        the number of saved used node names to 5.

        If you give more than one debug flag you may
        get more debugging information.
    -daemon
        Start epmd detached (as a daemon)
    -relaxed_command_check
        Allow this instance of epmd to be killed with
        epmd -kill even if there are registered nodes.
        Also allows forced unregister (epmd -stop).
    -systemd
        Wait for socket from systemd. The option makes sense
        when started from .socket unit.

DbgExtra options
    -packet_timeout Seconds
        Set the number of seconds a connection can be
        inactive before epmd times out and closes the
        connection (default 60).

    -delay_accept Seconds
        To simulate a busy server you can insert a
        delay between epmd gets notified about that
        a new connection is requested and when the
        connections gets accepted.

    -delay_write Seconds
        Also a simulation of a busy server. Inserts
        a delay before a reply is sent.

Interactive options
    -names
        List names registered with the currently running epmd
    -kill
        Kill the currently running epmd
        (only allowed if -names show empty database or
        -relaxed_command_check was given when epmd was started).
    -stop Name
        Forcibly unregisters a name with epmd
        (only allowed if -relaxed_command_check was given when 
        epmd was started).
`
