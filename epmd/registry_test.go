package epmd_test

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/chaos-epmd/chaos-epmd/epmd"
)

func fixedClock(unix int64) func() time.Time {
	return func() time.Time { return time.Unix(unix, 0) }
}

func names(ns []*epmd.Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	return out
}

func TestRegistryCreation(t *testing.T) {
	r := &epmd.MemRegistry{Now: fixedClock(1795238990)}
	a, err := r.Register(epmd.Node{Name: "alpha", HighVsn: 6})
	if err != nil {
		t.Fatal(err)
	}
	if a.Creation != 1795238991 {
		t.Fatalf("first creation = %d, want time+1 = 1795238991", a.Creation)
	}
	if _, err := r.Register(epmd.Node{Name: "alpha"}); !errors.Is(err, epmd.ErrNameInUse) {
		t.Fatalf("duplicate: err = %v, want ErrNameInUse", err)
	}
	if !r.Unregister(a) {
		t.Fatal("Unregister of the registration = false")
	}
	if r.Unregister(a) {
		t.Fatal("second Unregister = true")
	}
	a2, _ := r.Register(epmd.Node{Name: "alpha", HighVsn: 6})
	if a2.Creation != 1795238992 {
		t.Fatalf("re-registration creation = %d, want 1795238992", a2.Creation)
	}
	if got := a2.CreationFor(6); got != 1795238992 {
		t.Fatalf("CreationFor(6) = %d", got)
	}
	if got, want := a2.CreationFor(5), uint32(1795238992%3+1); got != want {
		t.Fatalf("CreationFor(5) = %d, want %d", got, want)
	}
	// An old registration handle must not unregister the new one.
	if r.Unregister(a) {
		t.Fatal("stale handle unregistered the new registration")
	}
	if _, ok := r.Lookup("alpha"); !ok {
		t.Fatal("alpha lost")
	}
}

func TestRegistryBumpFloor(t *testing.T) {
	r := &epmd.MemRegistry{Now: fixedClock(0)}
	n, _ := r.Register(epmd.Node{Name: "z"})
	if n.Creation != 4 {
		t.Fatalf("creation from time 0 = %d, want 4 (bump floor)", n.Creation)
	}
}

func TestRegistryNewestFirstAndUnused(t *testing.T) {
	r := &epmd.MemRegistry{Now: fixedClock(100)}
	var nodes []*epmd.Node
	for _, name := range []string{"a", "b", "c"} {
		n, _ := r.Register(epmd.Node{Name: name})
		nodes = append(nodes, n)
	}
	if got := fmt.Sprint(names(r.Nodes(nil))); got != "[c b a]" {
		t.Fatalf("Nodes = %s, want [c b a]", got)
	}
	r.Unregister(nodes[1])
	if n, ok := r.UnregisterName("a"); !ok || n != nodes[0] {
		t.Fatalf("UnregisterName(a) = %v %v", n, ok)
	}
	if _, ok := r.UnregisterName("a"); ok {
		t.Fatal("UnregisterName of unknown name = true")
	}
	if got := fmt.Sprint(names(r.Nodes(nil))); got != "[c]" {
		t.Fatalf("Nodes = %s, want [c]", got)
	}
	if got := fmt.Sprint(names(r.Unused(nil))); got != "[b a]" {
		t.Fatalf("Unused = %s, want [b a] (oldest first)", got)
	}
}

// With the memory full (more than UnregMemory names remembered), a new
// name takes over the oldest remembered slot and its counter, unbumped.
func TestRegistryRecyclesOldestSlot(t *testing.T) {
	clock := int64(1000)
	r := &epmd.MemRegistry{UnregMemory: epmd.DebugUnregMemory, Now: func() time.Time { return time.Unix(clock, 0) }}
	for i := range 6 {
		n, _ := r.Register(epmd.Node{Name: fmt.Sprint("n", i)})
		clock++
		r.Unregister(n)
	}
	// 6 remembered > 5: the next new name recycles n0 (creation 1001).
	n, _ := r.Register(epmd.Node{Name: "new"})
	if n.Creation != 1001 {
		t.Fatalf("recycled creation = %d, want 1001 (n0's counter, unbumped)", n.Creation)
	}
	if got := fmt.Sprint(names(r.Unused(nil))); got != "[n1 n2 n3 n4 n5]" {
		t.Fatalf("Unused = %s", got)
	}
	// 5 remembered is not more than 5: a new name gets a fresh counter.
	m, _ := r.Register(epmd.Node{Name: "fresh"})
	if want := uint32(clock + 1); m.Creation != want {
		t.Fatalf("fresh creation = %d, want %d", m.Creation, want)
	}
	// A remembered name is bumped.
	n3, _ := r.Register(epmd.Node{Name: "n3"})
	if n3.Creation != 1005 {
		t.Fatalf("n3 creation = %d, want 1005 (1004 bumped)", n3.Creation)
	}
}

// TestRegistryForgottenNodeHoldsNoOther: a *Node kept after its name was
// forgotten (its remembered slot taken by a new name) keeps only itself
// reachable, not the nodes remembered after it: a node and its place in
// the lists share one object.
func TestRegistryForgottenNodeHoldsNoOther(t *testing.T) {
	r := &epmd.MemRegistry{UnregMemory: 1}
	cycle := func(name string) *epmd.Node {
		n, err := r.Register(epmd.Node{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		r.Unregister(n)
		return n
	}
	a := cycle("a")
	wb := weak.Make(cycle("b")) // remembered after a
	cycle("c")                  // 2 remembered > 1: takes a's slot
	cycle("d")                  // takes b's
	if got := fmt.Sprint(names(r.Unused(nil))); got != "[c d]" {
		t.Fatalf("Unused = %s, want [c d]", got)
	}
	runtime.GC()
	if wb.Value() != nil {
		t.Fatal("b is still reachable after its slot was taken: the forgotten a holds it")
	}
	runtime.KeepAlive(a)
}

func TestRegistryZeroValueAndConcurrency(t *testing.T) {
	var r epmd.MemRegistry
	done := make(chan struct{})
	for w := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				n, err := r.Register(epmd.Node{Name: fmt.Sprint(w, "-", i)})
				if err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					r.Unregister(n)
				}
				r.Nodes(nil)
			}
		}()
	}
	for range 4 {
		<-done
	}
	if got := r.Len(); got != 400 {
		t.Fatalf("Len = %d, want 400", got)
	}
}

// The NAMES reply is rendered once per registry state: exact bytes, the
// same slice while nothing changes, a new one after each change, and no
// allocation per request in between.
func TestNamesReplyCache(t *testing.T) {
	r := &epmd.MemRegistry{}
	const port = 4369
	wantEmpty := "\x00\x00\x11\x11"
	if got := string(r.NamesReply(port)); got != wantEmpty {
		t.Fatalf("empty registry: %q, want %q", got, wantEmpty)
	}
	a, _ := r.Register(epmd.Node{Name: "alpha", PortNo: 40001})
	if _, err := r.Register(epmd.Node{Name: "beta", PortNo: 65535}); err != nil {
		t.Fatal(err)
	}
	first := r.NamesReply(port)
	want := "\x00\x00\x11\x11name beta at port 65535\nname alpha at port 40001\n"
	if string(first) != want {
		t.Fatalf("NamesReply = %q, want %q", first, want)
	}
	if again := r.NamesReply(port); &again[0] != &first[0] {
		t.Fatal("NamesReply rendered again with no registry change")
	}
	if allocs := testing.AllocsPerRun(100, func() { r.NamesReply(port) }); allocs != 0 {
		t.Fatalf("NamesReply allocates %v times per call at steady state, want 0", allocs)
	}
	if got := string(r.NamesReply(70000)); got != "\x00\x01\x11\x70name beta at port 65535\nname alpha at port 40001\n" {
		t.Fatalf("port 70000: %q", got)
	}
	r.Unregister(a)
	if got := string(r.NamesReply(port)); got != "\x00\x00\x11\x11name beta at port 65535\n" {
		t.Fatalf("after unregistering alpha: %q", got)
	}
	if string(first) != want {
		t.Fatalf("a reply already handed out changed to %q", first)
	}
	r.UnregisterName("beta")
	if got := string(r.NamesReply(port)); got != wantEmpty {
		t.Fatalf("after unregistering beta: %q, want %q", got, wantEmpty)
	}
}

// BenchmarkNamesReply is NAMES at steady state with 1000 nodes: the kept
// reply, no rendering and no allocation.
func BenchmarkNamesReply(b *testing.B) {
	r := &epmd.MemRegistry{}
	for i := range 1000 {
		if _, err := r.Register(epmd.Node{Name: fmt.Sprint("node", i), PortNo: uint16(40000 + i)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n = len(r.NamesReply(4369))
	}
	// The port, then 1000 lines of 20 bytes plus the name (node0 ..
	// node999: 4,000 + 10×1 + 90×2 + 900×3 = 6,890 bytes of names).
	if n != 4+1000*20+6890 {
		b.Fatalf("reply of %d bytes", n)
	}
}
