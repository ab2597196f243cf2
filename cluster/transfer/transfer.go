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
// dead replica cannot hold up a join or a leave: the transfer is complete
// once at least one pass is complete and every other source either has a
// complete pass or is down. A pass interrupted by a failure keeps its place
// and resumes from it, from the same source, when that source is tried again.
package transfer

import "slices"

// Pass is the progress of reading the partition from one source.
type Pass struct {
	Source string
	// AfterKey is the last key applied from this source; the next batch
	// starts after it.
	AfterKey []byte
	Keys     uint64
	Batches  uint64
	Done     bool
}

// Step is what a transfer does next.
type Step struct {
	// Fetch is set when a batch must be read: from Source, after AfterKey.
	Fetch    bool
	Source   string
	AfterKey []byte
	// Complete is set when the transfer is complete.
	Complete bool
	// Wait is set when no source is up and none has a complete pass: retry
	// later.
	Wait bool
}

// Transfer is one partition's transfer. The zero value is not usable; use
// New.
type Transfer struct {
	passes []Pass // one per source, in the order of the preference list
	// rotation is where the search for the next source starts; a failure
	// moves it on, so a source that keeps failing does not stall the rest.
	rotation int
}

// New returns the transfer of a partition held by sources (its current
// replicas), resuming saved passes of those sources. Saved passes of other
// nodes are dropped: they belong to another transition.
func New(sources []string, saved []Pass) *Transfer {
	t := &Transfer{passes: make([]Pass, len(sources))}
	for i, s := range sources {
		t.passes[i] = Pass{Source: s}
		if j := slices.IndexFunc(saved, func(p Pass) bool { return p.Source == s }); j >= 0 {
			t.passes[i] = saved[j]
			t.passes[i].AfterKey = slices.Clone(saved[j].AfterKey)
		}
	}
	return t
}

// Next decides the next step; up tells whether a node is up now.
func (t *Transfer) Next(up func(node string) bool) Step {
	n := len(t.passes)
	for i := range n {
		p := &t.passes[(i+t.rotation)%n]
		if !p.Done && up(p.Source) {
			return Step{Fetch: true, Source: p.Source, AfterKey: p.AfterKey}
		}
	}
	if slices.ContainsFunc(t.passes, func(p Pass) bool { return p.Done }) {
		return Step{Complete: true}
	}
	return Step{Wait: true}
}

// Applied records that a batch read from source, ending at lastKey (nil for
// an empty batch) and holding keys entries, is stored on the new replica;
// last reports that source has no keys after it.
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

// Failed records that reading from source failed or timed out: the next
// step tries the following source first.
func (t *Transfer) Failed(source string) {
	if i := slices.IndexFunc(t.passes, func(p Pass) bool { return p.Source == source }); i >= 0 {
		t.rotation = i + 1
	} else {
		t.rotation++
	}
}

// Expects reports whether a batch from source, starting at firstKey (nil for
// an empty batch), can be the answer to the fetch that Next asked of it: a
// batch from another node or from before the pass's place is the late answer
// of an earlier attempt.
func (t *Transfer) Expects(source string, firstKey []byte) bool {
	p := t.pass(source)
	if p == nil || p.Done {
		return false
	}
	return firstKey == nil || len(p.AfterKey) == 0 || string(firstKey) > string(p.AfterKey)
}

// Passes returns a copy of the progress of every source, for saving.
func (t *Transfer) Passes() []Pass {
	out := make([]Pass, len(t.passes))
	for i, p := range t.passes {
		out[i] = p
		out[i].AfterKey = slices.Clone(p.AfterKey)
	}
	return out
}

// Totals sums the progress over all sources.
func (t *Transfer) Totals() (keys, batches uint64, done []string) {
	for _, p := range t.passes {
		keys += p.Keys
		batches += p.Batches
		if p.Done {
			done = append(done, p.Source)
		}
	}
	return keys, batches, done
}

func (t *Transfer) pass(source string) *Pass {
	if i := slices.IndexFunc(t.passes, func(p Pass) bool { return p.Source == source }); i >= 0 {
		return &t.passes[i]
	}
	return nil
}
