package epmd

import "sync"

// DefaultHeapReserve is how many bytes of heap a Server makes resident
// when it starts serving, ahead of need: room for DefaultFileTable held
// registrations at about 1 KiB each (a registration's connection, its
// registry entry and their slots in the server's maps take 1.1 KiB).
//
// Why: the first time a process touches a page of its heap, the kernel
// allocates and zeroes the page inside a page fault. On the virtual
// machine measured in the README that costs about 11.5 µs a page, and a
// fresh daemon took about 290 more faults than the null server to
// register its first 1000 nodes. The C epmd sets up its table of
// connections when it starts; this pays for the heap's first pages there
// too, once, before the first accept. What it costs: this many bytes
// resident from the start, which the first registrations then fill.
const DefaultHeapReserve = 1 << 20

// reserveStack is the stack each goroutine of reserveHeap runs on: the
// runtime grows a new goroutine's stack to the first power of two its
// frames fit in, and reserveFrame's frame (reserveFill and the call's
// own bytes) fits in 32 KiB.
const (
	reserveStack = 32 << 10
	reserveFill  = 28 << 10
)

var heapOnce sync.Once

// reserveHeap makes about n bytes of the heap resident and leaves them
// free for the allocations that follow, once per process (the heap is
// the process's): 0 means DefaultHeapReserve, negative nothing. It runs
// goroutines whose stacks fill n bytes together, then lets them end. A
// goroutine's grown stack goes back to the heap as soon as it ends (or,
// during a garbage collection, which a starting process has not begun, at
// its end), and the spans allocated next take those pages, already faulted in,
// before fresh ones. Freeing a large object instead would take a garbage
// collection, which makes 0.3–0.8 MiB more resident of its own at start
// (the collector's code and the metadata it reads).
func reserveHeap(n int) {
	heapOnce.Do(func() {
		if n == 0 {
			n = DefaultHeapReserve
		}
		stacks := n / reserveStack
		if stacks <= 0 {
			return
		}
		var ready sync.WaitGroup
		release := make(chan struct{})
		ready.Add(stacks)
		for range stacks {
			go reserveFrame(&ready, release)
		}
		ready.Wait()
		close(release)
	})
}

// reserveFrame writes every page of a frame of reserveFill bytes, so that
// its goroutine's stack is resident, and holds it until release closes.
// Zeroing fill on entry already writes them today; touchPages says so
// outright, and keeps it so should a compiler skip that zeroing.
//
//go:noinline
func reserveFrame(ready *sync.WaitGroup, release <-chan struct{}) {
	var fill [reserveFill]byte
	touchPages(fill[:])
	ready.Done()
	<-release
}

// touchPages writes a byte in every 4 KiB of b.
//
//go:noinline
func touchPages(b []byte) {
	for i := 0; i < len(b); i += 4 << 10 {
		b[i] = 1
	}
}
