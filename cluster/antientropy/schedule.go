package antientropy

import (
	"fmt"
	"slices"

	"github.com/harmoniakv/harmonia/cluster/ring"
)

// The schedule of exchanges: which (partition, peer) pairs a node
// compares, in what turn, and whether an exchange that crashed runs again.
// Exchange decides one exchange; actors/repair.go runs the schedule.

// Pair is one exchange to run: this node's replica of Partition against
// Peer's.
type Pair struct {
	Partition int
	Peer      string
}

// Scheduled lists the pairs node self compares on schedule, on ring r with
// n replicas a partition: for each partition self holds a replica of, in
// order, each other replica, in preference-list order, whose id is greater
// than self's. Only the smaller id of a pair compares it, so that two
// replicas do not both run the same exchange.
func Scheduled(r *ring.Ring, n int, self string) []Pair {
	return pairs(r, n, self, func(_ int, peer string) bool { return self < peer })
}

// Chosen lists the pairs a manual run compares: those of partition
// (negative: of every partition self holds a replica of) with peer ("":
// with every other replica), whichever side's id is smaller.
func Chosen(r *ring.Ring, n int, self string, partition int, peer string) []Pair {
	return pairs(r, n, self, func(p int, other string) bool {
		return (partition < 0 || p == partition) && (peer == "" || peer == other)
	})
}

// pairs lists the pairs of self with the other replicas of the partitions
// it holds a replica of that keep chooses.
func pairs(r *ring.Ring, n int, self string, keep func(p int, peer string) bool) []Pair {
	var out []Pair
	for p := 0; p < r.Partitions(); p++ {
		pref := r.PreferenceListForPartition(p, n)
		if !slices.Contains(pref, self) {
			continue
		}
		for _, peer := range pref {
			if peer != self && keep(p, peer) {
				out = append(out, Pair{Partition: p, Peer: peer})
			}
		}
	}
	return out
}

// Rotation takes the scheduled pairs round-robin, one a tick, so that each
// gets its turn while the list changes with the ring. The zero Rotation
// starts with the first pair.
type Rotation struct {
	next int
}

// Next is the pair whose turn it is among scheduled, with running
// exchanges of at most concurrency under way; ok false, and the rotation
// stays where it is, when there is no pair or no free slot.
func (r *Rotation) Next(scheduled []Pair, running, concurrency int) (next Pair, ok bool) {
	if len(scheduled) == 0 || running >= concurrency {
		return Pair{}, false
	}
	r.next %= len(scheduled)
	next = scheduled[r.next]
	r.next++
	return next, true
}

// Crashed decides what follows the crash of an exchange that had crashed
// attempt times before: it returns the crashes so far, and nil while they
// are fewer than maxAttempts, when the exchange starts again from the
// roots (what it wrote were whole merges, so nothing is half-applied);
// otherwise the error it is reported failed with.
func Crashed(attempt, maxAttempts int) (crashes int, err error) {
	crashes = attempt + 1
	if crashes < maxAttempts {
		return crashes, nil
	}
	return crashes, fmt.Errorf("crashed %d times", crashes)
}
