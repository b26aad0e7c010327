// Package stats holds epmd-bench's arithmetic: how work is split over
// worker processes and clients, latency percentiles, medians over rounds,
// the order of targets in a round and ratios between targets.
package stats

import (
	"math"
	"slices"
	"strconv"
	"time"
)

// Summary is one phase's figures on one target in one round.
type Summary struct {
	N              int     // requests that succeeded
	PerSec         float64 // N per second of Elapsed
	P50, P99, P999 time.Duration
}

// Summarize computes a phase's rate and latency percentiles from the
// latencies of its successful requests (nanoseconds, in any order; lat is
// sorted in place) and the phase's elapsed time.
func Summarize(lat []int64, elapsed time.Duration) Summary {
	s := Summary{N: len(lat)}
	if elapsed > 0 {
		s.PerSec = float64(len(lat)) / elapsed.Seconds()
	}
	slices.Sort(lat)
	s.P50 = Percentile(lat, 0.50)
	s.P99 = Percentile(lat, 0.99)
	s.P999 = Percentile(lat, 0.999)
	return s
}

// Percentile returns the q-quantile (0 < q <= 1) of sorted by the
// nearest-rank method: the smallest value with at least q of all values
// at or below it. It is 0 for no values.
func Percentile(sorted []int64, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return time.Duration(sorted[min(max(i, 0), len(sorted)-1)])
}

// Median returns the median of xs (the mean of the two middle values for
// an even count), or 0 for none. xs is not modified.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Split divides clients over workers as evenly as possible (the first
// workers get one more), then total requests over the workers in
// proportion to their clients, the last worker taking the remainder.
func Split(total, clients, workers int) (perWorkerClients, perWorker []int) {
	for w := range workers {
		cl := clients / workers
		if w < clients%workers {
			cl++
		}
		perWorkerClients = append(perWorkerClients, cl)
	}
	given := 0
	for w := range workers {
		n := total * perWorkerClients[w] / clients
		if w == workers-1 {
			n = total - given
		}
		perWorker = append(perWorker, n)
		given += n
	}
	return perWorkerClients, perWorker
}

// Slice returns slice k (0 <= k < slices) of total units of work as the
// half-open range [lo, hi): the slices cover 0 .. total-1 in order, and
// their sizes differ by at most one.
func Slice(total, slices, k int) (lo, hi int) {
	return total * k / slices, total * (k + 1) / slices
}

// Rotate returns the order of ts in the given round: started at index
// round modulo len(ts), so that over len(ts) rounds every target runs at
// every position once.
func Rotate[T any](ts []T, round int) []T {
	if len(ts) == 0 {
		return nil
	}
	k := round % len(ts)
	return append(slices.Clone(ts[k:]), ts[:k]...)
}

// Ratio formats a/b with two decimals and "×", or "-" when b is 0.
func Ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64) + "×"
}
