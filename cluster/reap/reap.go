// Package reap owns the rule that decides when a tombstone may be deleted
// physically, and when a node may drop the copies it keeps of partitions it
// is no replica of.
//
// A tombstone is what stops an older version of a key from coming back: any
// replica, hint or stray copy still holding the old value would otherwise
// win every merge once the tombstone is gone (Riak's kv679 class of bug).
// So a tombstone is reaped only when
//
//   - every member of the cluster is up, the ring is not changing and has
//     been the same for the settle period (a node with a partial view could
//     name the wrong replicas),
//   - no member holds a hint (a hint may carry the old value),
//   - the delete is older than the grace period, and
//   - every replica of the key's preference list holds the tombstone at
//     exactly the same version, or holds nothing at all (asked first,
//     deleted only if all agree; a replica whose version moved on meanwhile
//     keeps its copy).
//
// Repairs do not copy a tombstone past grace to a replica that holds
// nothing (Spread): it is being reaped, and an empty replica has nothing to
// bring back. Otherwise a read between the reaps on two replicas would
// write the tombstone back to the first.
package reap

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/harmoniakv/harmonia/cluster/object"
)

// Config tunes reaping.
type Config struct {
	// Grace is the least time between a delete and the reaping of its
	// tombstone. Default 1 h. 0 disables reaping.
	Grace time.Duration
	// Interval is how often a node looks for tombstones to reap, in the
	// partitions whose first replica it is. Default 1 min.
	Interval time.Duration
	// Settle is how long the membership must have been unchanged, every
	// member up, before anything is reaped. Default 1 min.
	Settle time.Duration
	// MaxPerRound bounds the tombstones one partition reaps per round.
	// Default 1,000.
	MaxPerRound int
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{Grace: time.Hour, Interval: time.Minute, Settle: time.Minute, MaxPerRound: 1000}
}

// Member is one cluster member as the reaping node sees it.
type Member struct {
	ID           string
	Up           bool
	HintsPending int64
}

// Cluster is the reaping node's view of what must hold cluster-wide.
type Cluster struct {
	Members    []Member
	Transition bool          // a ring transition is under way
	Unchanged  time.Duration // since membership or member states last changed
}

// Blocked says why nothing may be reaped (or dropped) now; "" means nothing
// blocks it.
func (c Config) Blocked(cl Cluster) string {
	if c.Grace <= 0 {
		return "reaping is disabled"
	}
	if cl.Transition {
		return "a ring transition is under way"
	}
	var down, hinting []string
	for _, m := range cl.Members {
		if !m.Up {
			down = append(down, m.ID)
		}
		if m.HintsPending > 0 {
			hinting = append(hinting, fmt.Sprintf("%s (%d)", m.ID, m.HintsPending))
		}
	}
	slices.Sort(down)
	slices.Sort(hinting)
	switch {
	case len(down) > 0:
		return "not up: " + strings.Join(down, ", ")
	case len(hinting) > 0:
		return "hints pending on " + strings.Join(hinting, ", ")
	case cl.Unchanged < c.Settle:
		return fmt.Sprintf("membership changed %v ago; settling for %v", cl.Unchanged.Round(time.Second), c.Settle)
	}
	return ""
}

// Due reports whether a tombstone written at deletedAt (Unix ns) is past
// the grace period at now.
func (c Config) Due(deletedAt int64, now time.Time) bool {
	return c.Grace > 0 && now.Sub(time.Unix(0, deletedAt)) >= c.Grace
}

// Spread reports whether a repair (read repair or anti-entropy) should
// write merged to a replica that holds target: not when the replica already
// holds those versions, nor when merged is a tombstone past grace and the
// replica holds nothing.
func (c Config) Spread(merged, target []object.Sibling, now time.Time) bool {
	if object.SameVersions(target, merged) {
		return false
	}
	if len(target) > 0 {
		return true
	}
	at, tomb := object.Tombstone(merged)
	return !tomb || !c.Due(at, now)
}

// Agreed reports whether every replica in pref answered that it holds the
// tombstone at the asked version (or nothing).
func Agreed(pref []string, holds map[string]bool) bool {
	if len(pref) == 0 {
		return false
	}
	for _, id := range pref {
		if !holds[id] {
			return false
		}
	}
	return true
}
