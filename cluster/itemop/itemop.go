// Package itemop owns what each item operation of the table service does
// on a strong table: it checks a request against the table's key schema
// and parses its expressions once, computes the register's next value
// from its current one (a paxos.Update, so a condition and the write it
// guards are one consensus step), and shapes the answer (ReturnValues,
// projections, a Query's page). It is pure: the node runs the consensus
// rounds and reads the replicas.
package itemop

import (
	"fmt"
	"time"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/expr"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
	"google.golang.org/protobuf/proto"
)

// Encode is an item as its register stores it (itempb.Item).
func Encode(it item.Item) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(item.ItemToProto(it))
	if err != nil {
		panic(fmt.Sprintf("marshal item: %v", err)) // cannot fail for a valid item
	}
	return b
}

// Decode reads a register's item.
func Decode(data []byte) (item.Item, error) {
	it, err := item.DecodeItem(data)
	if err != nil {
		return nil, fmt.Errorf("stored item: %w", err)
	}
	return it, nil
}

// current is the item a register holds (nil when none).
func current(v paxos.Value) (item.Item, error) {
	if !v.Exists {
		return nil, nil
	}
	return Decode(v.Data)
}

// KeyOf checks a request's Key (only the key attributes, of the schema's
// types) and returns where that item lives.
func KeyOf(t catalog.Table, key item.Item) ([]byte, error) {
	k, err := t.Schema.Key(key)
	if err != nil {
		return nil, err
	}
	want := 1
	if t.Schema.HasSort() {
		want = 2
	}
	if len(key) != want {
		return nil, tableapi.Errorf(tableapi.KindValidation, "The provided key element does not match the schema")
	}
	return catalog.ItemKey(t, k)
}

// attributes parses a request's substitutions.
func attributes(e tableapi.Expressions) (*expr.Attributes, error) {
	return expr.NewAttributes(e.Names, e.Values)
}

// condition parses a ConditionExpression ("" is none: nil).
func condition(s string, attrs *expr.Attributes) (*expr.Condition, error) {
	if s == "" {
		return nil, nil
	}
	return expr.ParseCondition(s, attrs)
}

// holds evaluates cond on it (an absent item is an empty one).
func holds(cond *expr.Condition, it item.Item) bool {
	return cond == nil || cond.Eval(it)
}

// errConditionFailed is DynamoDB's message for a failed condition.
var errConditionFailed = fmt.Errorf("The conditional request failed: %w", paxos.ErrConditionFailed)

// checkReturn refuses a ReturnValues the operation does not take.
func checkReturn(r tableapi.ReturnValues, allowed ...tableapi.ReturnValues) (tableapi.ReturnValues, error) {
	if r == "" {
		return tableapi.ReturnNone, nil
	}
	for _, a := range allowed {
		if r == a {
			return r, nil
		}
	}
	return "", tableapi.Errorf(tableapi.KindValidation, "ReturnValues %q is not valid here: use one of %v", r, allowed)
}

// Write is a planned PutItem, DeleteItem or UpdateItem: the register it
// changes, the update consensus runs on it, and what its answer returns.
// An item expired at now (Expired) is absent to it.
type Write struct {
	// Key is the item's register.
	Key    []byte
	table  catalog.Table
	now    time.Time
	ret    tableapi.ReturnValues
	update func(old item.Item) (item.Item, error) // nil result: delete
	cond   *expr.Condition
	// paths are an UpdateItem's top-level attributes (UPDATED_OLD and
	// UPDATED_NEW return those).
	paths []string
	// fromOld: the next item is computed from the old one (UpdateItem).
	fromOld bool
	// merges names the attributes an UpdateItem changes by ADD or DELETE
	// (expr.Update.Merges): on a table of CRDT items, those merge.
	merges map[string]bool
	// crdtChange is the change NextOps made, on a table of CRDT items.
	crdtChange change
	// adds are an UpdateItem's operands when it is made of top-level ADDs
	// alone (expr.Update.OnlyAdds): on a table of CRDT items it may then
	// write blind (BlindOps).
	adds map[string]item.Value
	// applied holds the item before and after each time consensus applied
	// the update, by the version of the value it applied it to: the
	// chosen value names its base (paxos.Value.Prev), which picks the
	// answer's items.
	applied map[paxos.Ballot]change
}

// change is one application of a write: the item before and after it.
type change struct{ old, new item.Item }

// Op is the consensus operation of the write.
func (w *Write) Op() paxos.Op {
	return paxos.Op{Kind: paxos.OpUpdate, Update: w.apply}
}

func (w *Write) apply(v paxos.Value) ([]byte, bool, error) {
	old, err := current(v)
	if err != nil {
		return nil, false, err
	}
	old = live(w.table, old, w.now)
	if !holds(w.cond, old) {
		return nil, false, errConditionFailed
	}
	next, err := w.update(old)
	if err != nil {
		return nil, false, err
	}
	if w.applied == nil {
		w.applied = map[paxos.Ballot]change{}
	}
	w.applied[v.Version] = change{old: old, new: next}
	if next == nil {
		return nil, false, nil
	}
	return Encode(next), true, nil
}

// Put plans a PutItem at now.
func Put(t catalog.Table, req tableapi.PutItem, now time.Time) (*Write, error) {
	if err := t.Schema.ValidateItem(req.Item); err != nil {
		return nil, err
	}
	k, err := t.Schema.Key(req.Item)
	if err != nil {
		return nil, err
	}
	key, err := catalog.ItemKey(t, k)
	if err != nil {
		return nil, err
	}
	if err := eventualCondition(t, req.Condition); err != nil {
		return nil, err
	}
	put := req.Item
	return conditionalWrite(&Write{Key: key, table: t, now: now}, req.Return, req.Condition, req.Expressions, func(item.Item) (item.Item, error) { return put, nil })
}

// Delete plans a DeleteItem at now.
func Delete(t catalog.Table, req tableapi.DeleteItem, now time.Time) (*Write, error) {
	key, err := KeyOf(t, req.Key)
	if err != nil {
		return nil, err
	}
	if err := eventualCondition(t, req.Condition); err != nil {
		return nil, err
	}
	return conditionalWrite(&Write{Key: key, table: t, now: now}, req.Return, req.Condition, req.Expressions, func(item.Item) (item.Item, error) { return nil, nil })
}

// conditionalWrite completes w, a PutItem's or DeleteItem's write: update
// under a condition that uses up the request's substitutions, returning
// nothing or the old item.
func conditionalWrite(w *Write, ret tableapi.ReturnValues, cond string, e tableapi.Expressions, update func(item.Item) (item.Item, error)) (*Write, error) {
	w.update = update
	var err error
	if w.ret, err = checkReturn(ret, tableapi.ReturnNone, tableapi.ReturnAllOld); err != nil {
		return nil, err
	}
	attrs, err := attributes(e)
	if err != nil {
		return nil, err
	}
	if w.cond, err = condition(cond, attrs); err != nil {
		return nil, err
	}
	if err := attrs.Unused(); err != nil {
		return nil, err
	}
	return w, nil
}

// Update plans an UpdateItem at now: the item is created from its key
// when absent (or expired), and its key attributes cannot be updated.
func Update(t catalog.Table, req tableapi.UpdateItem, now time.Time) (*Write, error) {
	key, err := KeyOf(t, req.Key)
	if err != nil {
		return nil, err
	}
	if err := eventualCondition(t, req.Condition); err != nil {
		return nil, err
	}
	w := &Write{Key: key, table: t, now: now, fromOld: true}
	if w.ret, err = checkReturn(req.Return, tableapi.ReturnNone, tableapi.ReturnAllOld, tableapi.ReturnUpdatedOld, tableapi.ReturnAllNew, tableapi.ReturnUpdatedNew); err != nil {
		return nil, err
	}
	attrs, err := attributes(req.Expressions)
	if err != nil {
		return nil, err
	}
	var upd *expr.Update
	if req.Update != "" {
		if upd, err = expr.ParseUpdate(req.Update, attrs); err != nil {
			return nil, err
		}
		w.merges = upd.Merges()
		w.adds, _ = upd.OnlyAdds()
		for _, p := range upd.Paths() {
			name := p[0].Name
			if name == t.Schema.Partition.Name || (t.Schema.HasSort() && name == t.Schema.Sort.Name) {
				return nil, tableapi.Errorf(tableapi.KindValidation, "One or more parameter values were invalid: Cannot update attribute %s. This attribute is part of the key", name)
			}
			if !contains(w.paths, name) {
				w.paths = append(w.paths, name)
			}
		}
	}
	if w.cond, err = condition(req.Condition, attrs); err != nil {
		return nil, err
	}
	if err := attrs.Unused(); err != nil {
		return nil, err
	}
	keyItem := req.Key
	w.update = func(old item.Item) (item.Item, error) {
		base := old
		if base == nil {
			base = keyItem
		}
		if upd == nil {
			return base, nil
		}
		next, err := upd.Apply(base)
		if err != nil {
			return nil, err
		}
		return next, t.Schema.ValidateItem(next)
	}
	return w, nil
}

func contains(s []string, x string) bool {
	for _, e := range s {
		if e == x {
			return true
		}
	}
	return false
}

// Result is the write's answer from how its consensus ended.
func (w *Write) Result(res paxos.Result) (tableapi.WriteResult, error) {
	if err := Failure(res); err != nil {
		return tableapi.WriteResult{}, err
	}
	if w.ret == tableapi.ReturnNone {
		return tableapi.WriteResult{}, nil
	}
	c, ok := w.applied[res.Value.Prev]
	if !ok || !res.Value.HasPrev {
		return tableapi.WriteResult{}, fmt.Errorf("the write's value (version %s over %s) is not one this write made", res.Value.Version, res.Value.Prev)
	}
	return w.answer(c), nil
}

// answer is what ReturnValues asks of change c.
func (w *Write) answer(c change) tableapi.WriteResult {
	switch w.ret {
	case tableapi.ReturnNone:
		return tableapi.WriteResult{}
	case tableapi.ReturnAllOld:
		return tableapi.WriteResult{Attributes: c.old}
	case tableapi.ReturnAllNew:
		return tableapi.WriteResult{Attributes: c.new}
	case tableapi.ReturnUpdatedOld:
		return tableapi.WriteResult{Attributes: only(c.old, w.paths)}
	}
	return tableapi.WriteResult{Attributes: only(c.new, w.paths)}
}

// only is the attributes of it named in names (nil when none).
func only(it item.Item, names []string) item.Item {
	var out item.Item
	for _, n := range names {
		if v, ok := it[n]; ok {
			if out == nil {
				out = item.Item{}
			}
			out[n] = v
		}
	}
	return out
}

// Failure is the table service's error for a consensus request that did
// not end OK (nil when it did).
func Failure(res paxos.Result) error {
	switch res.Outcome {
	case paxos.OutcomeOK:
		return nil
	case paxos.OutcomeConditionFailed:
		return tableapi.Errorf(tableapi.KindConditionFailed, "The conditional request failed")
	case paxos.OutcomeInvalid:
		if err := tableapi.Classify(res.Err); tableapi.KindOf(err) == tableapi.KindValidation {
			return err
		}
		return tableapi.Errorf(tableapi.KindInternal, "the item could not be written: %v", res.Err)
	}
	kind := tableapi.KindUnavailable
	if res.Outcome == paxos.OutcomeContention {
		kind = tableapi.KindContention
	}
	msg := res.Outcome.String()
	if res.Why != "" {
		msg += ": " + res.Why
	}
	if res.Accepted {
		msg += " (the write may still take effect)"
	}
	return &tableapi.Error{Kind: kind, Msg: msg, Open: res.Accepted}
}
