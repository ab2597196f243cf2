package hinted

import "fmt"

// Hint is what a replay step needs of one hint in a target's queue.
type Hint struct {
	// Seq is the hint's place in the queue: the store deletes or drops it
	// by Seq, and the replay's puts carry it as their request id.
	Seq       uint64
	Partition int
	Key       []byte
}

// Send is where one hint of a batch goes now.
type Send struct {
	Seq   uint64
	Dests []string
	// Keeper is the destination that keeps the hint for the target (its
	// put says so), "" when none does; see Placement.Destinations.
	Keeper string
}

// Drop is a hint to delete from the queue for good: it can never be
// delivered, and left there it would hold up every hint behind it.
type Drop struct {
	Seq uint64
	// Why is logged with the drop.
	Why string
}

// Batch is one replay round: where each hint goes, and how many
// acknowledgements each still waits for. A hint may be deleted from the
// queue only once every destination acknowledged it; until then a
// restarted replay sends it again, which is harmless (replicas merge it
// idempotently). The zero Batch waits for nothing.
type Batch struct {
	// Sends[i] is where the i-th hint given to NewBatch goes.
	Sends []Send
	// outstanding counts the acknowledgements each hint still waits for,
	// by Seq.
	outstanding map[uint64]int
}

// NewBatch is what one replay step does with hints, the oldest of
// target's queue in order. The first hint that cannot go now decides:
// one whose partition is outside the ring (a corrupt record) or whose
// write every replica refuses (checkWrite says why, e.g. its table was
// deleted) is dropped for good, drop says which (the step then reads the
// queue again); one that has no destination now (see
// Placement.Destinations), or any hint while there is no ring, stops the
// replay (stop) until the next check starts over. Otherwise every hint
// goes, and b says where. checkWrite is asked only about hints before
// the first that cannot go, in order.
func NewBatch(pl Placement, target string, hints []Hint, checkWrite func(key []byte) error) (b Batch, drop *Drop, stop bool) {
	if len(hints) > 0 && pl.Transition == nil {
		return Batch{}, nil, true
	}
	sends := make([]Send, len(hints))
	for i, h := range hints {
		if h.Partition < 0 || h.Partition >= pl.Transition.Current.Partitions() {
			return Batch{}, &Drop{Seq: h.Seq, Why: fmt.Sprintf("partition %d is outside the ring", h.Partition)}, false
		}
		if err := checkWrite(h.Key); err != nil {
			return Batch{}, &Drop{Seq: h.Seq, Why: err.Error()}, false
		}
		dests, keeper, ok := pl.Destinations(target, h.Partition)
		if !ok {
			return Batch{}, nil, true
		}
		sends[i] = Send{Seq: h.Seq, Dests: dests, Keeper: keeper}
	}
	b = Batch{Sends: sends, outstanding: make(map[uint64]int, len(sends))}
	for _, s := range sends {
		b.outstanding[s.Seq] = len(s.Dests)
	}
	return b, nil, false
}

// Acked records a destination's answer to the put of hint seq (ok false:
// it answered with an error) and reports whether the hint may now be
// deleted: this was the last acknowledgement it waited for. An error
// leaves the hint waiting, so the round times out and starts over from
// the queue; an answer about a hint the batch no longer waits for (or
// never did) changes nothing.
func (b *Batch) Acked(seq uint64, ok bool) (deletable bool) {
	if b.outstanding[seq] == 0 || !ok {
		return false
	}
	if b.outstanding[seq]--; b.outstanding[seq] > 0 {
		return false
	}
	delete(b.outstanding, seq)
	return true
}

// Pending reports whether some hint of the batch still waits for an
// acknowledgement: the next batch waits until none does, and a round's
// timeout abandons it only while some does.
func (b *Batch) Pending() bool { return len(b.outstanding) > 0 }
