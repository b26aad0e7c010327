package faults

// LockFaultList takes the lock that serializes changes of inj's fault list
// (the one Add, Remove and Clear hold) and returns its release: a test
// shows with it that requests never wait for that lock.
func LockFaultList(inj *Injector) (unlock func()) {
	inj.mu.Lock()
	return inj.mu.Unlock
}
