package ring

import (
	"fmt"
	"slices"
	"strings"
)

// Ring statuses a member can have (see membership.KeyStatus).
const (
	StatusJoining = "joining"
	StatusNormal  = "normal"
	StatusLeaving = "leaving"
	StatusLeft    = "left"
)

// Move is one replica that a ring transition creates: node To must receive
// partition Partition from one of From (the partition's current replicas).
type Move struct {
	Partition int
	To        string
	From      []string
}

// Transition is the pair of rings a cluster is between while members join or
// leave. Reads use Current; writes go to the replicas of both, so a node that
// is receiving a partition misses nothing written meanwhile. When no member
// is joining or leaving, Current and Next are the same ring and there are no
// moves.
type Transition struct {
	Current, Next *Ring
	N             int
	// Key names the transition; every node that sees the same statuses
	// computes the same key.
	Key   string
	Moves []Move
	extra [][]string // by partition: next-ring replicas not in the current one
}

// NewTransition computes the transition from the members' ring statuses.
// Current holds the normal and leaving members, Next the normal and joining
// ones. A cluster with no normal member yet (all nodes joining at once) uses
// Next as Current: there is no data to move.
func NewTransition(statuses map[string]string, q, n int) (*Transition, error) {
	var cur, next []string
	for id, st := range statuses {
		switch st {
		case StatusNormal:
			cur = append(cur, id)
			next = append(next, id)
		case StatusLeaving:
			cur = append(cur, id)
		case StatusJoining:
			next = append(next, id)
		case StatusLeft:
		default:
			return nil, fmt.Errorf("member %s has unknown ring status %q", id, st)
		}
	}
	slices.Sort(cur)
	slices.Sort(next)
	if len(next) == 0 {
		return nil, fmt.Errorf("%w: every member is leaving", ErrNoMembers)
	}
	if len(cur) == 0 {
		cur = next
	}
	t := &Transition{N: n, Key: "current=" + strings.Join(cur, ",") + " next=" + strings.Join(next, ",")}
	var err error
	if t.Current, err = New(cur, q); err != nil {
		return nil, err
	}
	if t.Next, err = New(next, q); err != nil {
		return nil, err
	}
	t.extra = make([][]string, q)
	for p := 0; p < q; p++ {
		from := t.Current.PreferenceListForPartition(p, n)
		for _, to := range t.Next.PreferenceListForPartition(p, n) {
			if !slices.Contains(from, to) {
				t.Moves = append(t.Moves, Move{Partition: p, To: to, From: from})
				t.extra[p] = append(t.extra[p], to)
			}
		}
	}
	return t, nil
}

// Stable reports whether no member is joining or leaving.
func (t *Transition) Stable() bool { return slices.Equal(t.Current.Members(), t.Next.Members()) }

// MovesTo returns the moves that node must receive.
func (t *Transition) MovesTo(node string) []Move {
	var out []Move
	for _, m := range t.Moves {
		if m.To == node {
			out = append(out, m)
		}
	}
	return out
}

// WriteReplicas returns the replicas a write of partition p goes to: the
// current preference list (which counts toward W) and the extra replicas of
// the next ring (which receive the write but do not count).
// The extra replicas are the moves' targets, computed once; do not modify.
func (t *Transition) WriteReplicas(p int) (counted, extra []string) {
	return t.Current.PreferenceListForPartition(p, t.N), t.extra[p]
}

// Voters are the acceptor groups of partition p's strong keys, each of
// which a ballot needs a majority of: the current ring's N primary
// replicas, and, while the partition's replicas change (the next ring's
// differ), the next ring's too, so that a value chosen before the change
// is seen after it. Fallbacks are never voters.
func (t *Transition) Voters(p int) [][]string {
	cur := t.Current.PreferenceListForPartition(p, t.N)
	next := t.Next.PreferenceListForPartition(p, t.N)
	if slices.Equal(cur, next) {
		return [][]string{cur}
	}
	return [][]string{cur, next}
}

// IsVoter reports whether node is a voter of partition p (Voters).
func (t *Transition) IsVoter(p int, node string) bool {
	for _, g := range t.Voters(p) {
		if slices.Contains(g, node) {
			return true
		}
	}
	return false
}
