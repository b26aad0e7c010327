package epmd_test

// The registry's memory of unregistered names: its default size and its
// exact limit (see make mutate).

import (
	"fmt"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

// TestRegistryMemoryDefault: an UnregMemory of 0 or below means the
// default of 1000 remembered names, not none: a new name after one
// unregistration gets a fresh counter and the old name stays remembered.
func TestRegistryMemoryDefault(t *testing.T) {
	tests := []struct {
		name   string
		memory int
	}{
		{name: "zero", memory: 0},
		{name: "negative", memory: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := int64(1000)
			r := &epmd.MemRegistry{UnregMemory: tt.memory, Now: func() time.Time { return time.Unix(clock, 0) }}
			a, _ := r.Register(epmd.Node{Name: "a"})
			r.Unregister(a)
			clock = 2000
			b, _ := r.Register(epmd.Node{Name: "b"})
			if b.Creation != 2001 {
				t.Errorf("creation of b = %d, want 2001 (fresh)", b.Creation)
			}
			if got := fmt.Sprint(names(r.Unused(nil))); got != "[a]" {
				t.Errorf("Unused = %s, want [a]", got)
			}
		})
	}
}

// TestRegistryMemoryLimitExact: with UnregMemory n, n remembered names
// are kept and the next new name is fresh; only beyond n is the oldest
// slot reused.
func TestRegistryMemoryLimitExact(t *testing.T) {
	clock := int64(1000)
	r := &epmd.MemRegistry{UnregMemory: 2, Now: func() time.Time { return time.Unix(clock, 0) }}
	for _, name := range []string{"a", "b"} {
		n, _ := r.Register(epmd.Node{Name: name})
		r.Unregister(n)
		clock++
	}
	c, _ := r.Register(epmd.Node{Name: "c"}) // 2 remembered: not more than 2
	if c.Creation != 1003 {
		t.Errorf("creation of c = %d, want 1003 (fresh)", c.Creation)
	}
	r.Unregister(c) // 3 remembered
	d, _ := r.Register(epmd.Node{Name: "d"})
	if d.Creation != 1001 {
		t.Errorf("creation of d = %d, want 1001 (a's slot)", d.Creation)
	}
	if got := fmt.Sprint(names(r.Unused(nil))); got != "[b c]" {
		t.Errorf("Unused = %s, want [b c]", got)
	}
}
