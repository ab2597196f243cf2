package paxos

import (
	"bytes"
	"errors"
	"fmt"
)

// A range read: the registers of a key range read in one round from the
// voters (a Query of a strong table of items), as a read of each would be
// read. Each voter answers a page of its acceptor states in the range;
// MergeRange lines the pages up. A register is settled when every voter
// that answered (a majority of every group) holds one value, committed at
// the ballot it was accepted at: then a read of it alone would answer that
// value without a round (Proposer.ReadReply), since any value chosen
// later, or chosen and not known to be, is accepted at a majority that
// meets the answering one. Any other register must be read through
// consensus, which completes what is in flight, before it is answered.

// RangeReply is one voter's page: its states of the registers of the
// range, in the read's order, and whether registers of the range remain
// past the last one.
type RangeReply struct {
	From   string
	Keys   [][]byte
	States []State
	More   bool
}

// RangeEntry is one register of a merged page.
type RangeEntry struct {
	Key   []byte
	Value Value
	// Settled: Value is the register's value; otherwise it must be read
	// through consensus.
	Settled bool
}

// MergeRange merges the voters' pages of one range read into one page,
// in the read's order (descending keys when reverse). The page ends where
// the shortest page ends: a voter whose page stopped early (More) has not
// said what lies past its last key, so nothing there is answered.
// complete reports that no register of the range remains past the page.
// The replies must come from a majority of every voter group, one each.
func MergeRange(voters [][]string, replies []RangeReply, reverse bool) (entries []RangeEntry, complete bool, err error) {
	from := map[string]bool{}
	for _, r := range replies {
		if from[r.From] || !isIn(voters, r.From) {
			return nil, false, fmt.Errorf("range read: a reply from %s, which is not a voter or answered twice", r.From)
		}
		if len(r.Keys) != len(r.States) || (r.More && len(r.Keys) == 0) {
			return nil, false, fmt.Errorf("range read: a malformed page from %s", r.From)
		}
		from[r.From] = true
	}
	if !Quorum(voters, from) {
		return nil, false, errors.New("range read: the replies are not from a majority of every voter group")
	}
	before := func(a, b []byte) bool { // a comes before b in the read's order
		if reverse {
			return bytes.Compare(a, b) > 0
		}
		return bytes.Compare(a, b) < 0
	}
	var end []byte // the page's last key, when some page stopped early
	complete = true
	for _, r := range replies {
		if r.More {
			complete = false
			if last := r.Keys[len(r.Keys)-1]; end == nil || before(last, end) {
				end = last
			}
		}
	}
	// One cursor per page: each step takes the next key in order and sees
	// which pages hold it.
	pos := make([]int, len(replies))
	for {
		var next []byte
		for i, r := range replies {
			if pos[i] < len(r.Keys) && (next == nil || before(r.Keys[pos[i]], next)) {
				next = r.Keys[pos[i]]
			}
		}
		if next == nil || (end != nil && before(end, next)) {
			return entries, complete, nil
		}
		e := RangeEntry{Key: next, Settled: true}
		seen := false
		for i, r := range replies {
			if pos[i] >= len(r.Keys) || !bytes.Equal(r.Keys[pos[i]], next) {
				e.Settled = false // a voter that holds nothing of it
				continue
			}
			st := r.States[pos[i]]
			pos[i]++
			if !seen {
				seen, e.Value = true, st.Value
			}
			if st.Accepted.IsZero() || st.Accepted != st.Committed || st.Value.Version != e.Value.Version || !st.Value.Equal(e.Value) {
				e.Settled = false
			}
		}
		entries = append(entries, e)
	}
}

// isIn reports whether node is in a voter group.
func isIn(voters [][]string, node string) bool {
	for _, g := range voters {
		for _, m := range g {
			if m == node {
				return true
			}
		}
	}
	return false
}
