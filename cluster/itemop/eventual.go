package itemop

import (
	"fmt"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
)

// Items of an eventual table (conflict = lww) take the Dynamo path: an
// item is one stamped version of its key, a read merges R replicas (the
// highest stamp wins), and a write is a put or a tombstone at W. No
// consensus makes a read and the write after it one step, so a condition
// is refused; an UpdateItem (and ReturnValues) reads the item, computes
// the next one and writes it with the read's context, which stamps it
// above the version it read (a later blind write from a clock behind
// still cannot overwrite it).

// eventualCondition refuses a condition on an eventual table.
func eventualCondition(t catalog.Table, cond string) error {
	if cond == "" || t.Consistency == catalog.Strong {
		return nil
	}
	return tableapi.Errorf(tableapi.KindValidation,
		"ConditionExpression needs a strong table: table %q is eventual (the last writer wins), where a condition could not be checked and the write made as one step", t.Name)
}

// ReadsCurrent reports whether the write on an eventual table must read
// the item first: an UpdateItem starts from it, and ReturnValues other
// than NONE return from it. A PutItem or DeleteItem without them writes
// blind.
func (w *Write) ReadsCurrent() bool {
	return w.fromOld || w.ret != tableapi.ReturnNone
}

// Next is the write on an eventual table applied to cur, the item read
// (none when the write reads nothing): the value to write, or a
// tombstone when exists is false.
func (w *Write) Next(cur paxos.Value) (data []byte, exists bool, err error) {
	data, exists, err = w.apply(cur)
	return data, exists, tableapi.Classify(err)
}

// Answer is the answer of a write on an eventual table that Next applied
// to cur and that was then written.
func (w *Write) Answer(cur paxos.Value) (tableapi.WriteResult, error) {
	if w.ret == tableapi.ReturnNone {
		return tableapi.WriteResult{}, nil
	}
	c, ok := w.applied[cur.Version]
	if !ok {
		return tableapi.WriteResult{}, fmt.Errorf("the write was not applied to the item it read")
	}
	return w.answer(c), nil
}

// Current is the item (as a register's value) of an eventual table's key
// whose merged versions a read returned: the live one, or none when the
// last writer deleted it. A key of a last-writer-wins table merges to one
// version; more than one live is refused rather than one picked.
func Current(versions []object.Sibling) (paxos.Value, error) {
	// Counted in place: a Query takes the current value of every item it
	// reads.
	n, last := 0, -1
	for i, s := range versions {
		if !s.Deleted {
			n, last = n+1, i
		}
	}
	switch n {
	case 0:
		return paxos.Value{}, nil
	case 1:
		return paxos.Value{Exists: true, Data: versions[last].Value}, nil
	}
	return paxos.Value{}, fmt.Errorf("the item's key holds %d live versions; a last-writer-wins key holds one", n)
}

// EventualResult is a GetItem's answer on an eventual table from the
// versions its read merged.
func (g *Get) EventualResult(versions []object.Sibling) (tableapi.GetResult, error) {
	v, err := Current(versions)
	if err != nil {
		return tableapi.GetResult{}, err
	}
	return g.Result(paxos.Result{Outcome: paxos.OutcomeOK, Value: v})
}

// Eventual reports whether the write is on an eventual table.
func (w *Write) Eventual() bool { return w.table.Consistency != catalog.Strong }

// Eventual reports whether the read is of an eventual table.
func (g *Get) Eventual() bool { return g.table.Consistency != catalog.Strong }

// Consistent reports whether the read asked for a consistent read.
func (g *Get) Consistent() bool { return g.consistent }
