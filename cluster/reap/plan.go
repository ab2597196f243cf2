package reap

import (
	"slices"

	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/ring"
)

// MembersOf is the reaping node's view of the members, from membership's
// (members, by node id): a member that left is no member any more and
// counts for nothing; any other counts as up only when its status is
// membership.Up, so a suspect, joining, leaving or down member blocks
// reaping. This node (self) is up, and its hints are its own count
// (selfHints), fresher than the one it last gossiped.
func MembersOf(self string, selfHints int64, members map[string]membership.Member) []Member {
	var out []Member
	for id, m := range members {
		if m.Status == membership.Left {
			continue
		}
		rm := Member{ID: id, Up: m.Status == membership.Up, HintsPending: m.HintsPending}
		if id == self {
			rm.Up, rm.HintsPending = true, selfHints
		}
		out = append(out, rm)
	}
	return out
}

// Plan is what a reaper's tick does on ring r (n replicas a partition)
// for node self, given the cluster cl. When anything blocks reaping
// (blocked, as Blocked says it), it does nothing at all: a node with a
// partial view could name the wrong replicas and drop the only copy.
// Otherwise it splits the partitions, in order, between the ones self is a
// replica of (held, with their preference lists: the reap round's work)
// and the ones it is not (drop: the copies self keeps of them, a
// fallback's writes or a partition handed off, are deleted).
func (c Config) Plan(cl Cluster, r *ring.Ring, n int, self string) (blocked string, held []HeldPartition, drop []int) {
	if blocked = c.Blocked(cl); blocked != "" {
		return blocked, nil, nil
	}
	for p := 0; p < r.Partitions(); p++ {
		if pref := r.PreferenceListForPartition(p, n); slices.Contains(pref, self) {
			held = append(held, HeldPartition{Partition: p, Replicas: pref})
		} else {
			drop = append(drop, p)
		}
	}
	return "", held, drop
}
