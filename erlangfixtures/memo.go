package erlangfixtures

import "sync"

// memo keeps, for the rest of the process, the result of the first call of a
// computation that succeeded; a failure is not kept, so the next call retries.
// Calls wait for each other.
type memo[T comparable] struct {
	mu sync.Mutex
	v  T
}

// get returns the kept value, or computes it with f and keeps it when f
// succeeds.
func (m *memo[T]) get(f func() (T, error)) (T, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var zero T
	if m.v != zero {
		return m.v, nil
	}
	v, err := f()
	if err != nil {
		return zero, err
	}
	m.v = v
	return v, nil
}
