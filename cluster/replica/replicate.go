package replica

import (
	"fmt"

	"github.com/harmoniakv/harmonia/cluster/hlc"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/object"
)

// ReplicaWrite is an object a peer sent for key: a copy of a client write,
// read repair, a replayed hint, or, with HintFor, a write this node keeps
// for replica HintFor (as a fallback, or for a replica that did not
// answer); with HintOnly it keeps the hint without storing the object as
// a replica of its own.
type ReplicaWrite struct {
	Key      []byte
	In       []object.Sibling
	HintFor  string
	HintOnly bool
}

// ReplicaOutcome is what the vnode does with a replica write.
type ReplicaOutcome struct {
	// Err refuses the write; Refused says it was data the node may not
	// take (a key of a strong or deleted table, or versions of a kind that
	// does not fit the key's table), which the node counts.
	Err     error
	Refused bool
	// Hold: something was staged, so the reply waits for the batch to be
	// durable; otherwise the reply goes at once.
	Hold bool
	// Observe is the highest stamp the write carries, which the node's
	// hybrid logical clock follows (zero: none, or the write was refused).
	Observe hlc.Timestamp
}

// Replicate decides a replica write and stages what it keeps. tables
// refuses the keys the node's catalog does not let the eventual path
// write (catalog.Catalog.CheckEventualWrite).
func (p *Partition) Replicate(w ReplicaWrite, tables func(key []byte) error) ReplicaOutcome {
	if len(w.Key) == 0 {
		return ReplicaOutcome{Err: object.ErrEmptyKey}
	}
	refusal := tables(w.Key)
	if refusal == nil {
		refusal = checkVersions(w.Key, w.In)
	}
	if refusal != nil {
		return ReplicaOutcome{Err: refusal, Refused: true}
	}
	out := ReplicaOutcome{Observe: object.MaxStamp(w.In)}
	if w.HintFor != "" {
		if err := membership.CheckID(w.HintFor); err != nil {
			return ReplicaOutcome{Err: fmt.Errorf("hint for %w", err)}
		}
	}
	if w.HintFor == "" || !w.HintOnly {
		changed, err := p.Merge(w.Key, w.In)
		if err != nil {
			return ReplicaOutcome{Err: err}
		}
		out.Hold = changed
	}
	if w.HintFor != "" {
		// Kept for its intended replica, in the same synced batch as the
		// ack.
		p.KeepHint(w.Key, w.In, w.HintFor)
		out.Hold = true
	}
	return out
}
