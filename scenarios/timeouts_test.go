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
