package scenarios_test

import "time"

// Every timeout of the suite, in one place.
const (
	// specTimeout bounds one spec: its nodes' start, the story, cleanup.
	specTimeout = 3 * time.Minute
	// suiteSetupTimeout bounds building the images and chaos-epmd.
	suiteSetupTimeout = 20 * time.Minute
	// eventually bounds a poll for a state the nodes reach by themselves.
	// Every Eventually names it: with a context and no timeout, Gomega
	// would poll until the spec's own deadline.
	eventually = 20 * time.Second
	// pollEvery is the polling interval of Eventually and Consistently.
	pollEvery = 100 * time.Millisecond
	// consistently is how long a state that must not change is watched.
	consistently = 2 * time.Second
	// reregisterWithin bounds how long a node takes to register again with
	// a restarted epmd (OTP retries about every second).
	reregisterWithin = 15 * time.Second
)
