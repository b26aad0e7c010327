package scenarios_test

import "time"

// Every timeout of the suite, in one place.
const (
	// specTimeout bounds one spec: its nodes' start, the story, cleanup.
	specTimeout = 3 * time.Minute
	// suiteSetupTimeout bounds building the images and chaos-epmd.
	suiteSetupTimeout = 20 * time.Minute
	// eventually bounds a poll for a state the nodes reach by themselves:
	// the suite's default for every Eventually, enforced even when it is
	// given the spec's context (else the context alone would bound it).
	eventually = 20 * time.Second
	// pollEvery is the polling interval of Eventually and Consistently.
	pollEvery = 100 * time.Millisecond
	// consistently is how long a state that must not change is watched.
	consistently = 2 * time.Second
	// reregisterWithin bounds how long a node takes to register again with
	// a restarted epmd (OTP retries about every second).
	reregisterWithin = 15 * time.Second
	// stagingRunWithin bounds a chaos-epmd -takeover -handback -for 20
	// run: its 20 s and the wait for the nodes to register back (15 s).
	stagingRunWithin = time.Minute
	// staleExpiresWithin bounds how long the registration a stale=6 fault
	// keeps takes to vanish from lookups: its 6 s and the polling lookups.
	staleExpiresWithin = 15 * time.Second
	// namesBound is how long a spec waits for net_adm:names/0, which has no
	// timeout of its own (a caller still waiting then is shown blocked).
	namesBound = 15 * time.Second
	// namesCLIBound bounds an epmd -names client run under timeout(1).
	namesCLIBound = 3 * time.Second
	// rabbitSpecTimeout bounds a RabbitMQ spec, or the start of a RabbitMQ
	// cluster: three boots of 5–15 s each on 2 loaded cores, joins, restarts.
	rabbitSpecTimeout = 4 * time.Minute
	// rabbitMonitorWithin bounds how long RabbitMQ's epmd monitor, which
	// checks its registration every 60 s, takes to act.
	rabbitMonitorWithin = 90 * time.Second
	// rabbitBootWithin bounds a RabbitMQ node's boot until it registers
	// with epmd (2–15 s seen on 2 loaded cores).
	rabbitBootWithin = time.Minute
	// diagnosticsWithin bounds reading logs and events for a failed spec's report.
	diagnosticsWithin = 30 * time.Second
	// cleanupWithin bounds removing a spec's containers.
	cleanupWithin = time.Minute
	// engineAnswersWithin is how long the suite waits for the Docker
	// engine's network list, at its start and after a failed spec, before
	// it calls the engine hung; engineAnswersAfterSuite, after the specs.
	engineAnswersWithin     = 30 * time.Second
	engineAnswersAfterSuite = 10 * time.Second
)

// otpClock is the least that a span of d on one of two clocks can read on
// the other, where a spec compares them: the kernel's monotonic clock,
// which this process, chaos-epmd's delays and the engine run on, and a
// node's Erlang monotonic time, which its timeouts (erl_epmd's 10 s,
// net_kernel's set-up time, a CLI's --timeout) and its timer:tc run on.
// ERTS steers Erlang monotonic time toward the OS system time by running it
// faster or slower than the OS monotonic clock: by 1/2048 of its rate
// (about 0.05 %) for a small error and by 20/2048 (about 1 %) for a large
// one (erts/emulator/beam/erl_time_sup.c, ERTS_TCORR_ERR_*). In a CI run of
// ff30dac, a node's 10 s timeout fired after 9.995 s of this process's
// clock, and the spec, which asked for the full 10 s, failed. A span both
// ends of which one clock measures is pinned as it is.
func otpClock(d time.Duration) time.Duration { return d - d*20/2048 }
