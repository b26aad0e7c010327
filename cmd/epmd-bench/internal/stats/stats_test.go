package stats_test

import (
	"slices"
	"testing"
	"time"

	"github.com/chaos-epmd/chaos-epmd/cmd/epmd-bench/internal/stats"
)

// oneTo returns 1 .. n.
func oneTo(n int) []int64 {
	xs := make([]int64, n)
	for i := range xs {
		xs[i] = int64(i + 1)
	}
	return xs
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name   string
		sorted []int64
		q      float64
		want   time.Duration
	}{
		{"no values", nil, 0.99, 0},
		{"one value, any quantile", []int64{7}, 0.5, 7},
		{"one value, p99.9", []int64{7}, 0.999, 7},
		{"median of 4 is the 2nd (nearest rank)", []int64{10, 20, 30, 40}, 0.5, 20},
		{"median of 5 is the 3rd", []int64{10, 20, 30, 40, 50}, 0.5, 30},
		{"p99 of 100 is the 99th", oneTo(100), 0.99, 99},
		{"p99 of 101 is the 100th", oneTo(101), 0.99, 100},
		{"p99.9 of 1000 is the 999th", oneTo(1000), 0.999, 999},
		{"p99.9 of 999 is the largest", oneTo(999), 0.999, 999},
		{"p100 is the largest", oneTo(10), 1, 10},
		{"a tiny quantile is the smallest", oneTo(10), 0.0001, 1},
		{"q 0 is the smallest", oneTo(10), 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stats.Percentile(tt.sorted, tt.q); got != tt.want {
				t.Fatalf("Percentile(%d values, %v) = %d, want %d", len(tt.sorted), tt.q, got, tt.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		want float64
	}{
		{"none", nil, 0},
		{"one", []float64{3.5}, 3.5},
		{"odd count, unsorted", []float64{9, 1, 5}, 5},
		{"even count: mean of the middle two", []float64{4, 1, 3, 2}, 2.5},
		{"outlier does not move it", []float64{1000, 2, 3, 1, 2}, 2},
		{"three rounds of rates", []float64{5544, 4283, 9129}, 5544},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.xs)
			if got := stats.Median(tt.xs); got != tt.want {
				t.Fatalf("Median(%v) = %v, want %v", in, got, tt.want)
			}
			if !slices.Equal(in, tt.xs) {
				t.Fatalf("Median reordered its argument: %v, was %v", tt.xs, in)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name                    string
		total, clients, workers int
		wantClients, wantCounts []int
	}{
		{"even", 1000, 4, 4, []int{1, 1, 1, 1}, []int{250, 250, 250, 250}},
		{"remainder to the last worker", 1001, 4, 4, []int{1, 1, 1, 1}, []int{250, 250, 250, 251}},
		{"uneven clients: first workers get more", 1000, 5, 2, []int{3, 2}, []int{600, 400}},
		{"19,900 nodes", 19900, 4, 4, []int{1, 1, 1, 1}, []int{4975, 4975, 4975, 4975}},
		{"more workers than requests", 3, 4, 4, []int{1, 1, 1, 1}, []int{0, 0, 0, 3}},
		{"one worker", 4000, 4, 1, []int{4}, []int{4000}},
		{"proportional, rounding down", 10, 3, 2, []int{2, 1}, []int{6, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl, n := stats.Split(tt.total, tt.clients, tt.workers)
			if !slices.Equal(cl, tt.wantClients) || !slices.Equal(n, tt.wantCounts) {
				t.Fatalf("Split(%d, %d, %d) = %v, %v; want %v, %v",
					tt.total, tt.clients, tt.workers, cl, n, tt.wantClients, tt.wantCounts)
			}
		})
	}
}

func TestSlice(t *testing.T) {
	tests := []struct {
		name          string
		total, slices int
		want          [][2]int
	}{
		{"one slice is all of it", 1000, 1, [][2]int{{0, 1000}}},
		{"even", 1000, 4, [][2]int{{0, 250}, {250, 500}, {500, 750}, {750, 1000}}},
		{"uneven: sizes differ by one at most", 10, 3, [][2]int{{0, 3}, {3, 6}, {6, 10}}},
		{"more slices than work: empty ones", 2, 4, [][2]int{{0, 0}, {0, 1}, {1, 1}, {1, 2}}},
		{"no work", 0, 2, [][2]int{{0, 0}, {0, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][2]int
			for k := range tt.slices {
				lo, hi := stats.Slice(tt.total, tt.slices, k)
				got = append(got, [2]int{lo, hi})
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Slice(%d, %d, 0..%d) = %v, want %v", tt.total, tt.slices, tt.slices-1, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name    string
		lat     []int64
		elapsed time.Duration
		want    stats.Summary
	}{
		{"nothing succeeded", nil, time.Second, stats.Summary{}},
		{"no elapsed time: no rate", []int64{5}, 0, stats.Summary{N: 1, P50: 5, P99: 5, P999: 5}},
		{
			name: "1000 latencies, shuffled, in 250 ms",
			lat: func() []int64 {
				xs := oneTo(1000)
				slices.Reverse(xs[:500])
				return xs
			}(),
			elapsed: 250 * time.Millisecond,
			want:    stats.Summary{N: 1000, PerSec: 4000, P50: 500, P99: 990, P999: 999},
		},
		{
			name:    "one slow request in 100",
			lat:     append(slices.Repeat([]int64{int64(time.Millisecond)}, 99), int64(12*time.Millisecond)),
			elapsed: 50 * time.Millisecond,
			want:    stats.Summary{N: 100, PerSec: 2000, P50: time.Millisecond, P99: time.Millisecond, P999: 12 * time.Millisecond},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stats.Summarize(tt.lat, tt.elapsed); got != tt.want {
				t.Fatalf("Summarize = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRotate(t *testing.T) {
	ts := []string{"C", "null", "chaos"}
	tests := []struct {
		name  string
		round int
		want  []string
	}{
		{"round 1", 0, []string{"C", "null", "chaos"}},
		{"round 2", 1, []string{"null", "chaos", "C"}},
		{"round 3", 2, []string{"chaos", "C", "null"}},
		{"round 4 starts over", 3, []string{"C", "null", "chaos"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stats.Rotate(ts, tt.round); !slices.Equal(got, tt.want) {
				t.Fatalf("Rotate(%v, %d) = %v, want %v", ts, tt.round, got, tt.want)
			}
		})
	}
	if !slices.Equal(ts, []string{"C", "null", "chaos"}) {
		t.Fatalf("Rotate modified its argument: %v", ts)
	}
	if got := stats.Rotate([]string(nil), 1); got != nil {
		t.Fatalf("Rotate(nil) = %v, want nil", got)
	}
}

func TestRatio(t *testing.T) {
	tests := []struct {
		name string
		a, b float64
		want string
	}{
		{"faster", 5544, 4283, "1.29×"},
		{"slower", 4.58, 2.27, "2.02×"},
		{"equal", 3, 3, "1.00×"},
		{"zero reference", 1, 0, "-"},
		{"zero figure", 0, 7, "0.00×"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stats.Ratio(tt.a, tt.b); got != tt.want {
				t.Fatalf("Ratio(%v, %v) = %q, want %q", tt.a, tt.b, got, tt.want)
			}
		})
	}
}
