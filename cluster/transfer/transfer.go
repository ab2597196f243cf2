// Package transfer holds the decisions of one partition's transfer to a new
// replica in a ring transition: which current replica to read next, from
// which key, and when the new replica holds everything it must.
//
// A transfer reads the whole partition from every current replica that is
// up, one pass each, not from one of them. A write acknowledged by W of the
// N current replicas may be missing on the others (they were down, slow or
// partitioned when it was made), so a copy of one replica alone can lack it;
// if the replicas that had it then leave or lose their disks before
// anti-entropy runs, the write is gone. Reading every reachable replica
// makes the new one hold every write that any of them holds.
//
// A source that is down when the transfer would read it is skipped, so a
// dead replica cannot hold up a join or a leave: the objects are in once at
// least one pass is complete and every other source either has a complete
// pass or is down. A pass interrupted by a failure keeps its place and
// resumes from it, from the same source, when that source is tried again.
//
// Each pass reads the source's objects, then its acceptor states of strong
// keys (the consensus registers). Those need more sources: a value chosen
// by consensus is held by a majority of the current replicas, not by all,
// so the sources read must intersect every majority: paxos.CoveringReads of
// them (2 of 3). The transfer waits for that many complete acceptor passes,
// however many sources are down; a strong key whose chosen value reached
// only replicas that were not read would otherwise be lost once the ring
// change ends (see actors/transfer.go for what is done with the states).
//
// It also schedules a node's transfers (schedule.go): which partitions it
// receives at once in a ring transition and when that is done (Handoff),
// and which rebuilds of lost acceptor state start, stop or count
// (PlanRebuilds, RebuildCounts).
package transfer

import (
	"slices"

	"github.com/harmoniakv/harmonia/cluster/paxos"
)

// Pass is the progress of reading the partition from one source.
type Pass struct {
	Source string
	// AfterKey is the last key applied from this source; the next batch
	// starts after it.
	AfterKey []byte
	Keys     uint64
	Batches  uint64 // of objects
	Done     bool
	// The pass over the source's acceptor states, once its objects are
	// done: AcceptorsAfter is the last register applied, AcceptorStates
	// how many were read.
	AcceptorsAfter []byte
	AcceptorStates uint64
	AcceptorsDone  bool
}

// whole reports whether both halves of the pass are done.
func (p Pass) whole() bool { return p.Done && p.AcceptorsDone }

// Step is what a transfer does next.
type Step struct {
	// Fetch is set when a batch must be read: from Source, after AfterKey;
	// of acceptor states when Acceptors is set, else of objects.
	Fetch     bool
	Source    string
	AfterKey  []byte
	Acceptors bool
	// Complete is set when the transfer is complete.
	Complete bool
	// Wait is set when the transfer is not complete and no source that
	// could complete it is up: retry later.
	Wait bool
}

// Transfer is one partition's transfer. The zero value is not usable; use
// New.
type Transfer struct {
	passes []Pass // one per source, in the order of the preference list
	// covered reports whether the sources whose acceptor passes are done
	// are enough (paxos.Covers).
	covered func(done []string) bool
	// objects: the transfer reads objects too (not a rebuild).
	objects bool
	// rotation is where the search for the next source starts; a failure
	// moves it on, so a source that keeps failing does not stall the rest.
	rotation int
}

// New returns the transfer of a partition held by sources (its current
// replicas), resuming saved passes of those sources. Saved passes of other
// nodes are dropped: they belong to another transition.
func New(sources []string, saved []Pass) *Transfer {
	t := &Transfer{passes: make([]Pass, len(sources)), objects: true}
	t.covered = func(done []string) bool { return paxos.Covers([][]string{sources}, "", done) }
	for i, s := range sources {
		t.passes[i] = Pass{Source: s}
		if j := slices.IndexFunc(saved, func(p Pass) bool { return p.Source == s }); j >= 0 {
			t.passes[i] = saved[j]
			t.passes[i].AfterKey = slices.Clone(saved[j].AfterKey)
			t.passes[i].AcceptorsAfter = slices.Clone(saved[j].AcceptorsAfter)
		}
	}
	return t
}

// NewRebuild returns the rebuild of the acceptor states of a partition by
// self, which lost them: it reads the acceptor states (no objects) of the
// other members of self's voter groups, every one that is up, and is
// complete once they cover every quorum of those groups (paxos.Covers).
func NewRebuild(groups [][]string, self string) *Transfer {
	var mine [][]string
	var sources []string
	for _, g := range groups {
		if !slices.Contains(g, self) {
			continue
		}
		mine = append(mine, g)
		for _, id := range g {
			if id != self && !slices.Contains(sources, id) {
				sources = append(sources, id)
			}
		}
	}
	t := &Transfer{passes: make([]Pass, len(sources))}
	for i, s := range sources {
		t.passes[i] = Pass{Source: s, Done: true} // no objects to read
	}
	t.covered = func(done []string) bool { return paxos.Covers(mine, self, done) }
	return t
}

// Next decides the next step; up tells whether a node is up now. Every
// source that is up is read whole (objects, then acceptor states); the
// transfer is complete when no source that is up is left to read, one
// object pass is done, and the sources whose acceptor passes are done
// cover every quorum of them (paxos.CoveringReads: 2 of 3).
func (t *Transfer) Next(up func(node string) bool) Step {
	n := len(t.passes)
	for i := range n {
		p := &t.passes[(i+t.rotation)%n]
		switch {
		case !up(p.Source):
		case !p.Done:
			return Step{Fetch: true, Source: p.Source, AfterKey: p.AfterKey}
		case !p.AcceptorsDone:
			return Step{Fetch: true, Source: p.Source, AfterKey: p.AcceptorsAfter, Acceptors: true}
		}
	}
	objects := !t.objects || slices.ContainsFunc(t.passes, func(p Pass) bool { return p.Done })
	var acceptors []string
	for _, p := range t.passes {
		if p.AcceptorsDone {
			acceptors = append(acceptors, p.Source)
		}
	}
	if objects && t.covered(acceptors) {
		return Step{Complete: true}
	}
	return Step{Wait: true}
}

// Applied records that a batch of objects read from source, ending at
// lastKey (nil for an empty batch) and holding keys entries, is stored on
// the new replica; last reports that source has no keys after it.
func (t *Transfer) Applied(source string, lastKey []byte, keys int, last bool) {
	p := t.pass(source)
	if p == nil || p.Done {
		return
	}
	if lastKey != nil {
		p.AfterKey = slices.Clone(lastKey)
	}
	p.Keys += uint64(keys)
	p.Batches++
	p.Done = last
}

// AppliedAcceptors records that a batch of acceptor states read from
// source, ending at lastKey (nil for an empty batch) and holding states
// registers, is carried to the new replica; last reports that source has
// no registers after it.
func (t *Transfer) AppliedAcceptors(source string, lastKey []byte, states int, last bool) {
	p := t.pass(source)
	if p == nil || !p.Done || p.AcceptorsDone {
		return
	}
	if lastKey != nil {
		p.AcceptorsAfter = slices.Clone(lastKey)
	}
	p.AcceptorStates += uint64(states)
	p.AcceptorsDone = last
}

// Failed records that reading from source failed or timed out: the next
// step tries the following source first.
func (t *Transfer) Failed(source string) {
	if i := slices.IndexFunc(t.passes, func(p Pass) bool { return p.Source == source }); i >= 0 {
		t.rotation = i + 1
	} else {
		t.rotation++
	}
}

// Expects reports whether a batch from source, of acceptor states or of
// objects, starting at firstKey (nil for an empty batch), can be the answer
// to the fetch that Next asked of it: a batch from another node, of the
// other half of the pass or from before the pass's place is the late answer
// of an earlier attempt.
func (t *Transfer) Expects(source string, acceptors bool, firstKey []byte) bool {
	p := t.pass(source)
	if p == nil {
		return false
	}
	after := p.AfterKey
	switch {
	case !acceptors && p.Done, acceptors && (!p.Done || p.AcceptorsDone):
		return false
	case acceptors:
		after = p.AcceptorsAfter
	}
	return firstKey == nil || len(after) == 0 || string(firstKey) > string(after)
}

// Passes returns a copy of the progress of every source, for saving.
func (t *Transfer) Passes() []Pass {
	out := make([]Pass, len(t.passes))
	for i, p := range t.passes {
		out[i] = p
		out[i].AfterKey = slices.Clone(p.AfterKey)
		out[i].AcceptorsAfter = slices.Clone(p.AcceptorsAfter)
	}
	return out
}

// Totals sums the progress over all sources; done are the sources read
// whole (objects and acceptor states).
func (t *Transfer) Totals() (keys, batches uint64, done []string) {
	for _, p := range t.passes {
		keys += p.Keys
		batches += p.Batches
		if p.whole() {
			done = append(done, p.Source)
		}
	}
	return keys, batches, done
}

// AcceptorStates sums the acceptor states read over all sources.
func (t *Transfer) AcceptorStates() (states uint64) {
	for _, p := range t.passes {
		states += p.AcceptorStates
	}
	return states
}

func (t *Transfer) pass(source string) *Pass {
	if i := slices.IndexFunc(t.passes, func(p Pass) bool { return p.Source == source }); i >= 0 {
		return &t.passes[i]
	}
	return nil
}
