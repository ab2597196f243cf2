package ring

import (
	"crypto/sha256"
	"encoding/binary"
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
	Key string
	// Fingerprint is a 64-bit digest of Key, never 0, computed once: the
	// compact name of the transition that strong-key messages carry, so
	// an acceptor can refuse a proposer whose view of the ring is another
	// (its voter groups may be another, and their quorums disjoint from
	// this view's). Key itself grows with the member ids (two lists of
	// them) and would ride on every message; 64 bits make two different
	// transitions collide with probability 2^-64.
	Fingerprint uint64
	// NextFingerprint is the Fingerprint of the next ring alone: two
	// transitions toward the same ring from different current ones (views
	// that saw two ring changes in different orders) share it.
	NextFingerprint uint64
	Moves           []Move
	extra           [][]string   // by partition: next-ring replicas not in the current one
	voters          [][][]string // by partition: the acceptor groups (Voters)
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
	t.Fingerprint = Fingerprint(t.Key)
	t.NextFingerprint = Fingerprint("next=" + strings.Join(next, ","))
	var err error
	if t.Current, err = New(cur, q); err != nil {
		return nil, err
	}
	if t.Next, err = New(next, q); err != nil {
		return nil, err
	}
	t.extra = make([][]string, q)
	t.voters = make([][][]string, q)
	for p := 0; p < q; p++ {
		from := t.Current.PreferenceListForPartition(p, n)
		to := t.Next.PreferenceListForPartition(p, n)
		for _, id := range to {
			if !slices.Contains(from, id) {
				t.Moves = append(t.Moves, Move{Partition: p, To: id, From: from})
				t.extra[p] = append(t.extra[p], id)
			}
		}
		if slices.Equal(from, to) {
			t.voters[p] = [][]string{from}
		} else {
			t.voters[p] = [][]string{from, to}
		}
	}
	return t, nil
}

// Fingerprint is the Fingerprint of the transition named key: the first 8
// bytes of its SHA-256, and 1 in the one case of 2^64 where they are 0 (a
// message without a fingerprint carries 0).
func Fingerprint(key string) uint64 {
	sum := sha256.Sum256([]byte(key))
	if f := binary.BigEndian.Uint64(sum[:8]); f != 0 {
		return f
	}
	return 1
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
// differ), the next ring's too. Fallbacks are never voters.
//
// The joint groups make every quorum during the change intersect every
// quorum of the current ring and every quorum of the next, so a value
// chosen during the change is seen after it. They do not carry a value
// chosen before the change, by the current replicas alone, to the next
// ring's new replicas, which hold no acceptor state for the key: once the
// change ends and the next ring's group alone decides, a majority of it
// may not include any replica that accepted that value. The partition's
// transfers carry those values (actors/transfer.go; "Transfers carry
// acceptor state" in docs/architecture.md).
//
// The groups are computed once, in NewTransition; Voters returns a copy
// the caller may keep and modify.
func (t *Transition) Voters(p int) [][]string {
	groups := t.voters[p]
	out := make([][]string, len(groups))
	for i, g := range groups {
		out[i] = slices.Clone(g)
	}
	return out
}

// NewVoter reports whether node is a voter of partition p in the next
// ring's group but not in the current one's: it becomes a voter in this
// transition, and what it holds of p is from an earlier time, if any.
func (t *Transition) NewVoter(p int, node string) bool {
	groups := t.voters[p]
	return len(groups) == 2 && !slices.Contains(groups[0], node) && slices.Contains(groups[1], node)
}

// Entry is what a node records of a partition when it first takes a
// consensus step there (a vote, a read or a write of its acceptor state) in
// a ring transition, so that entering the next one it can tell whether what
// it holds of the partition is current (ResetOnEntry).
type Entry struct {
	// Transition is the transition's Fingerprint; 0: none recorded.
	Transition uint64
	// Heading: the transition is a ring change and the node is one of
	// the next ring's replicas of the partition; Next is that ring's
	// NextFingerprint. A stable ring is no change: an entry there is
	// never heading.
	Heading bool
	Next    uint64
}

// EntryOf is node's Entry of partition p in this transition.
func (t *Transition) EntryOf(p int, node string) Entry {
	groups := t.voters[p]
	heading := !t.Stable() && slices.Contains(groups[len(groups)-1], node)
	return Entry{Transition: t.Fingerprint, Heading: heading, Next: t.NextFingerprint}
}

// ResetOnEntry reports whether node, about to take its first step for
// partition p in this transition, must first drop what it holds of p, last
// being its entry of the transition it last took a step in there. A new
// voter (NewVoter) must, as what it holds is left from an earlier time it
// was a replica, which a transfer does not put right: the voters may have
// erased and dropped a register since (only ever in a stable ring), and
// the leftover would come back through a quorum that counts it. Unless its
// last step was in another ring change heading for the same next ring, as
// one of its replicas there: views that saw two ring changes in different
// orders (a join not yet complete in one when a leave began, complete in
// the other) make it new in one transition after voting as a next replica
// in the other, with no stable ring in between, and what it accepted
// there is current; a value chosen in one may be held, in the other's
// groups, by a majority of the next replicas alone, so dropping it would
// lose it. A node that steps in a stable ring in between (a vote, an
// exchange's read) has an entry that is not heading, and drops.
func (t *Transition) ResetOnEntry(p int, node string, last Entry) bool {
	if !t.NewVoter(p, node) || last.Transition == t.Fingerprint {
		return false
	}
	return !last.Heading || last.Next != t.NextFingerprint
}

// IsVoter reports whether node is a voter of partition p (Voters). It
// reads the groups computed in NewTransition and allocates nothing.
func (t *Transition) IsVoter(p int, node string) bool {
	for _, g := range t.voters[p] {
		if slices.Contains(g, node) {
			return true
		}
	}
	return false
}
