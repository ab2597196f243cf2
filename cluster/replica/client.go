package replica

import (
	"fmt"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/crdt"
	"github.com/harmoniakv/harmonia/cluster/datatype"
	"github.com/harmoniakv/harmonia/cluster/hlc"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/messages/datatypepb"
	"google.golang.org/protobuf/proto"
)

// Stamping says which stamp of the node's hybrid logical clock a client's
// value write takes. The clock is shared by the node's vnodes and reads the
// time, so the vnode asks it; this package only decides what to ask.
type Stamping int

const (
	// NoStamp: the key keeps siblings, and its versions carry no stamp.
	NoStamp Stamping = iota
	// StampAfter: the key's last writer wins, and the write is stamped
	// above the stamp its client's context carried (hlc.Clock.After; a
	// zero stamp: a blind write).
	StampAfter
	// StampJustAfter: the key's last writer wins, and the write is stamped
	// just above the stamp its client's context carried
	// (hlc.Clock.JustAfter).
	StampJustAfter
)

// StampPlan is how a client's value write is stamped.
type StampPlan struct {
	Stamping Stamping
	// After is the stamp the client's context carried (zero: none).
	After hlc.Timestamp
}

// PlanStamp decides how a client's value write to key is stamped, given
// the stamp its context carried (afterStamp, in its wire form; empty:
// none) and whether the client asked for a stamp just after it.
//
// A CRDT key refuses a value write altogether: its versions are states,
// changed by operations (DatatypeOps), and a plain version would not merge
// with them. A key that keeps siblings refuses a write with a stamp, and a
// write stamped just after its context needs a context with a stamp.
func PlanStamp(key, afterStamp []byte, justAfter bool) (StampPlan, error) {
	info, err := catalog.ParseKey(key)
	if err != nil {
		return StampPlan{}, err
	}
	if info.Conflict == catalog.CRDT {
		return StampPlan{}, fmt.Errorf("key %.64q is of crdt table %d: a value write is refused; CRDT values change by operations (Update)", info.Key, info.ID)
	}
	after, err := object.StampFromProto(afterStamp)
	if err != nil {
		return StampPlan{}, fmt.Errorf("the context's stamp: %w", err)
	}
	if info.Conflict != catalog.LWW {
		if !after.IsZero() {
			return StampPlan{}, fmt.Errorf("key %.64q keeps siblings: a write with a last-writer-wins stamp is refused", info.Key)
		}
		return StampPlan{Stamping: NoStamp}, nil
	}
	if justAfter {
		if after.IsZero() {
			return StampPlan{}, fmt.Errorf("key %.64q: a write stamped just after its context needs a context with a stamp", info.Key)
		}
		return StampPlan{Stamping: StampJustAfter, After: after}, nil
	}
	return StampPlan{Stamping: StampAfter, After: after}, nil
}

// DatatypeOps decodes a client's operations on the CRDT value of key
// (encoded: a datatypepb.DatatypeOps). A key of any but a crdt table
// refuses them. An item's fields hold encoded attribute values
// (cluster/crdtitem), so an item key's operations decode by the rules of
// an item (datatype.ItemOps, each element up to item.MaxItemSize), any
// other key's by those of a client's value (datatype.Ops). The errors of
// package datatype are kept (wrapped), which the API classifies.
func DatatypeOps(key, encoded []byte) ([]crdt.Op, error) {
	if info, err := catalog.ParseKey(key); err != nil || info.Conflict != catalog.CRDT {
		return nil, fmt.Errorf("key %q is not of a crdt table: CRDT operations are refused", key)
	}
	var pb datatypepb.DatatypeOps
	if err := proto.Unmarshal(encoded, &pb); err != nil {
		return nil, fmt.Errorf("CRDT operations: %w", err)
	}
	if catalog.IsItemKey(key) {
		return datatype.ItemOps(pb.Ops, item.MaxItemSize)
	}
	return datatype.Ops(pb.Ops)
}
