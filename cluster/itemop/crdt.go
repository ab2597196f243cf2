package itemop

import (
	"errors"
	"fmt"
	"time"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/crdt"
	"github.com/harmoniakv/harmonia/cluster/crdtitem"
	"github.com/harmoniakv/harmonia/cluster/datatype"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
	"github.com/harmoniakv/harmonia/messages/datatypepb"
)

// Items of a table with conflict = crdt are CRDT maps (cluster/crdtitem):
// every write reads the item's state at a read quorum, computes the next
// item from it as on any table, and sends the operations that turn one
// into the other with the state's context, so a write replaces only what
// it observed and concurrent ADDs, set changes and writes of other
// attributes all merge. As on any eventual table, a condition is refused.

// CRDT reports whether the write is on a table of CRDT items.
func (w *Write) CRDT() bool { return w.table.Conflict == catalog.CRDT }

// CRDT reports whether the read is of a table of CRDT items.
func (g *Get) CRDT() bool { return g.table.Conflict == catalog.CRDT }

// NextOps are the operations that make the item whose state a read
// merged (st) the one the write makes of it: none when nothing changes.
// The write's answer (CRDTAnswer) is then of that change.
func (w *Write) NextOps(st crdt.State) ([]*datatypepb.DatatypeOp, error) {
	seen, key, observed, err := readCRDT(w.table, w.Key, st)
	if err != nil {
		return nil, err
	}
	old := live(w.table, observed, w.now)
	next, err := w.update(old)
	if err != nil {
		return nil, tableapi.Classify(err)
	}
	ops, err := seen.Ops(key, next, w.merges)
	if err != nil {
		return nil, counterError(err)
	}
	if len(ops) > datatype.MaxOps {
		return nil, tableapi.Errorf(tableapi.KindValidation, "the write changes %d attributes and set elements of an item of crdt table %q; one write changes at most %d", len(ops), w.table.Name, datatype.MaxOps)
	}
	w.crdtChange = change{old: old, new: next}
	return ops, nil
}

// BlindOps are the operations of a write that needs nothing of the item
// it changes, so it is sent without a read, as a counter's increment on a
// table of CRDT values: an UpdateItem of top-level ADDs alone, returning
// nothing, on a table without TTL (where an ADD to an expired item would
// start from its key). ok is false for any other write, which reads first
// (NextOps). Such a write is taken whichever replicas are up, but checks
// nothing against the item (crdtitem.Adds).
func (w *Write) BlindOps() (ops []*datatypepb.DatatypeOp, ok bool, err error) {
	if len(w.adds) == 0 || w.ret != tableapi.ReturnNone || w.table.TTLAttribute != "" {
		return nil, false, nil
	}
	ops, err = crdtitem.Adds(w.adds)
	return ops, true, counterError(err)
}

// counterError is the client's error for an ADD a counter cannot take.
func counterError(err error) error {
	if errors.Is(err, crdtitem.ErrNotACounter) {
		return tableapi.Errorf(tableapi.KindValidation, "%v", err)
	}
	return err
}

// CRDTAnswer is the answer of a write whose NextOps were applied.
func (w *Write) CRDTAnswer() tableapi.WriteResult { return w.answer(w.crdtChange) }

// keyItemOf is the key attributes of the item stored at key in table t.
func keyItemOf(t catalog.Table, key []byte) (item.Item, error) {
	info, err := catalog.ParseKey(key)
	if err != nil {
		return nil, err
	}
	k, err := t.Schema.ParseStorageKey(info.Key)
	if err != nil {
		return nil, fmt.Errorf("item key %.64q: %w", key, err)
	}
	return t.Schema.Item(k), nil
}

// CRDTResult is a GetItem's answer on a table of CRDT items from the
// state its read merged.
func (g *Get) CRDTResult(st crdt.State) (tableapi.GetResult, error) {
	_, _, it, err := readCRDT(g.table, g.Key, st)
	if err != nil {
		return tableapi.GetResult{}, err
	}
	return tableapi.GetResult{Item: project(g.proj, live(g.table, it, g.now))}, nil
}

// readCRDT reads st, the state of the item stored at key in table t:
// attribute by attribute, the item's key attributes, and the item (nil
// when none).
func readCRDT(t catalog.Table, key []byte, st crdt.State) (seen crdtitem.State, keyAttrs, it item.Item, err error) {
	if seen, err = crdtitem.Read(st); err != nil {
		return crdtitem.State{}, nil, nil, fmt.Errorf("stored item: %w", err)
	}
	if keyAttrs, err = keyItemOf(t, key); err != nil {
		return crdtitem.State{}, nil, nil, err
	}
	if it, err = seen.Item(keyAttrs); err != nil {
		return crdtitem.State{}, nil, nil, fmt.Errorf("stored item: %w", err)
	}
	return seen, keyAttrs, it, nil
}

// CRDTCurrent is, for table t of CRDT items, the item (as a register's
// value) that a key's merged versions hold: what a range read's merge
// (MergeEventualRange) answers for each key.
func CRDTCurrent(t catalog.Table) func(key []byte, versions []object.Sibling) (paxos.Value, error) {
	return func(key []byte, versions []object.Sibling) (paxos.Value, error) {
		st, err := object.State(versions)
		if err != nil {
			return paxos.Value{}, fmt.Errorf("stored item: %w", err)
		}
		_, _, it, err := readCRDT(t, key, st)
		if err != nil || it == nil {
			return paxos.Value{}, err
		}
		return paxos.Value{Exists: true, Data: Encode(it)}, nil
	}
}

// ExpiredCRDTItem is, for the versions a replica holds of key in table t
// of CRDT items, the deletion of the item when it is expired at now: the
// operations that remove every attribute the state holds, made with its
// state (the base and context of the write). ops is nil when the item is
// not expired, or absent. A write made since, that the state did not
// observe, survives the deletion.
func ExpiredCRDTItem(t catalog.Table, key []byte, versions []object.Sibling, now time.Time) (ops []*datatypepb.DatatypeOp, st crdt.State, err error) {
	if st, err = object.State(versions); err != nil {
		return nil, crdt.State{}, fmt.Errorf("stored item: %w", err)
	}
	seen, k, it, err := readCRDT(t, key, st)
	if err != nil || !Expired(t, it, now) {
		return nil, crdt.State{}, err
	}
	ops, err = seen.Ops(k, nil, nil)
	return ops, st, err
}
