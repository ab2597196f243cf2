// Package hinted owns where a hint goes (the writes a node keeps for a
// replica that could not take them: sloppy quorum's hinted handoff): to
// its target when it is up; when the target has left or was removed, to
// the replicas the ring now names; while this node leaves, to the next
// ring's replicas; and what one replay step does with the hints it read
// (NewBatch: send them, drop one for good, or stop) and when a hint may
// be deleted (Batch.Acked: once every destination acknowledged it). It is
// pure: the replay worker (actors) reads the queue, sends, drops and
// deletes hints, and keeps the pace and the timers.
package hinted

import (
	"slices"

	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/ring"
)

// Placement is what a hint's destinations depend on, as this node sees
// the cluster.
type Placement struct {
	Self string
	// Members is each member's status (liveness and place); a node not in
	// it was never a member.
	Members map[string]membership.Status
	// Transition is the current ring and, while members join or leave,
	// the next one.
	Transition *ring.Transition
	// N is the number of replicas of each partition.
	N int
}

func (pl Placement) up(id string) bool { return pl.Members[id].Live() }

// Gone reports whether id left the cluster or was removed (or was never a
// member): hints kept for it can no longer reach it, and a node that is
// gone must not write its own hints into the cluster.
func (pl Placement) Gone(id string) bool {
	st, ok := pl.Members[id]
	return !ok || st == membership.Left
}

// Replayable reports whether target's hints can go anywhere now.
func (pl Placement) Replayable(target string) bool {
	return pl.up(target) || pl.Gone(target) || pl.Members[pl.Self] == membership.Leaving
}

// Destinations says where a hint of partition kept for target goes now,
// and false when it must wait: to target when it is up; when target is
// gone, to the replicas the ring now names for the partition (they
// rebuilt target's share, and must see its writes too), every one of them
// up. While this node is leaving and target is down, to the next ring's
// replicas that are up (at least one), so that the leave neither waits
// for the target nor takes the hints away with it; keeper is then the one
// that keeps the hint for target when target is a replica of the next
// ring, which still needs the write when it is back. A hint with a
// partition outside the ring (a corrupt record) goes nowhere.
func (pl Placement) Destinations(target string, partition int) (dests []string, keeper string, ok bool) {
	if pl.Transition == nil || partition < 0 || partition >= pl.Transition.Current.Partitions() {
		return nil, "", false
	}
	switch {
	case pl.up(target):
		return []string{target}, "", true
	case pl.Gone(target):
		pref, extra := pl.Transition.WriteReplicas(partition)
		dests = append(slices.Clone(pref), extra...)
		if len(dests) == 0 || slices.ContainsFunc(dests, func(id string) bool { return id != pl.Self && !pl.up(id) }) {
			return nil, "", false
		}
		return dests, "", true
	case pl.Members[pl.Self] == membership.Leaving:
		next := pl.Transition.Next.PreferenceListForPartition(partition, pl.N)
		for _, id := range next {
			if id != pl.Self && pl.up(id) {
				dests = append(dests, id)
			}
		}
		if len(dests) == 0 {
			return nil, "", false
		}
		if slices.Contains(next, target) {
			keeper = dests[0]
		}
		return dests, keeper, true
	}
	return nil, "", false
}
