package itemop

import (
	"strings"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/crdt"
	"github.com/harmoniakv/harmonia/cluster/datatype"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
	"github.com/harmoniakv/harmonia/cluster/vclock"
)

var carts = catalog.Table{Name: "carts", ID: 5, Consistency: catalog.Eventual, Conflict: catalog.CRDT, TTLAttribute: "exp",
	Schema: item.KeySchema{Partition: item.KeyAttribute{Name: "cust", Type: item.TypeS}, Sort: item.KeyAttribute{Name: "n", Type: item.TypeN}}}

// written is the state after w, planned on carts, was applied to st as
// its coordinator would: the operations NextOps made, with st's context.
func written(t *testing.T, st crdt.State, w *Write) crdt.State {
	t.Helper()
	ops, err := w.NextOps(st)
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) == 0 {
		return st
	}
	conv, err := datatype.ItemOps(ops, item.MaxItemSize)
	if err != nil {
		t.Fatal(err)
	}
	next, _, err := crdt.Apply(st, crdt.Update{Actor: vclock.Actor{Node: "n1~1", Incarnation: 1}, Context: st.Context(), Ops: conv}, crdt.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	return next
}

// planned fails t on a plan's error: planned(t)(Put(...)).
func planned(t *testing.T) func(*Write, error) *Write {
	return func(w *Write, err error) *Write {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
}

// shownItem is the item a read of st shows at now.
func shownItem(t *testing.T, st crdt.State, now time.Time) item.Item {
	t.Helper()
	g, err := PlanGet(carts, tableapi.GetItem{Key: key("ann", "1")}, now)
	if err != nil {
		t.Fatal(err)
	}
	res, err := g.CRDTResult(st)
	if err != nil {
		t.Fatal(err)
	}
	return res.Item
}

// The rules of writes on a table of CRDT items, one write after another
// (cluster/crdtitem has the concurrent ones): each computes the next item
// as on any table and turns it into operations on what it read.
func TestCRDTWrites(t *testing.T) {
	now := time.Unix(1000, 0)
	values := map[string]item.Value{":one": item.MustNumber("1"), ":tag": item.SS{"x"}}
	put := func(it item.Item) *Write {
		return planned(t)(Put(carts, tableapi.PutItem{Item: it, Return: tableapi.ReturnAllOld}, now))
	}
	update := func(expr string) *Write {
		return planned(t)(Update(carts, tableapi.UpdateItem{Key: key("ann", "1"), Update: expr, Expressions: tableapi.Expressions{Values: values}, Return: tableapi.ReturnAllNew}, now))
	}
	del := planned(t)(Delete(carts, tableapi.DeleteItem{Key: key("ann", "1"), Return: tableapi.ReturnAllOld}, now))

	var st crdt.State
	st = written(t, st, put(with(key("ann", "1"), "v", item.S("a"), "c", item.MustNumber("2"))))
	if got := shownItem(t, st, now); !item.EqualItems(got, with(key("ann", "1"), "v", item.S("a"), "c", item.MustNumber("2"))) {
		t.Fatalf("a put reads back as %v", got)
	}
	w := update("ADD c :one, tags :tag")
	st = written(t, st, w)
	want := with(key("ann", "1"), "v", item.S("a"), "c", item.MustNumber("3"), "tags", item.SS{"x"})
	if got := shownItem(t, st, now); !item.EqualItems(got, want) || !item.EqualItems(w.CRDTAnswer().Attributes, want) {
		t.Fatalf("after an ADD: %v, answered %v; want %v", got, w.CRDTAnswer().Attributes, want)
	}
	w = put(key("ann", "1"))
	st = written(t, st, w)
	if got := shownItem(t, st, now); !item.EqualItems(got, key("ann", "1")) || !item.EqualItems(w.CRDTAnswer().Attributes, want) {
		t.Fatalf("a put of the key alone: %v, answered the old item %v", got, w.CRDTAnswer().Attributes)
	}
	st = written(t, st, del)
	if got := shownItem(t, st, now); got != nil {
		t.Fatalf("a deleted item reads %v", got)
	}
	if ops, err := del.NextOps(st); err != nil || len(ops) != 0 {
		t.Fatalf("a delete of an absent item: %d operations, %v", len(ops), err)
	}
	st = written(t, st, planned(t)(Update(carts, tableapi.UpdateItem{Key: key("ann", "1")}, now)))
	if got := shownItem(t, st, now); !item.EqualItems(got, key("ann", "1")) {
		t.Fatalf("an update without an expression creates the item from its key: %v", got)
	}
}

func TestCRDTWriteOfAnExpiredItemStartsFromItsKey(t *testing.T) {
	now := time.Unix(1000, 0)
	var st crdt.State
	st = written(t, st, planned(t)(Put(carts, tableapi.PutItem{Item: with(key("ann", "1"), "v", item.S("a"), "exp", item.MustNumber("999"))}, now)))
	if got := shownItem(t, st, now); got != nil {
		t.Fatalf("an expired item reads %v", got)
	}
	w := planned(t)(Update(carts, tableapi.UpdateItem{Key: key("ann", "1"), Update: "ADD c :one",
		Expressions: tableapi.Expressions{Values: map[string]item.Value{":one": item.MustNumber("1")}}, Return: tableapi.ReturnAllOld}, now))
	st = written(t, st, w)
	if got := shownItem(t, st, now); !item.EqualItems(got, with(key("ann", "1"), "c", item.MustNumber("1"))) || w.CRDTAnswer().Attributes != nil {
		t.Fatalf("an update of an expired item: %v, answered %v; want the key and c alone, no old item", got, w.CRDTAnswer().Attributes)
	}
}

func TestCRDTWritesRefused(t *testing.T) {
	now := time.Unix(1000, 0)
	var st crdt.State
	half := map[string]item.Value{":h": item.MustNumber("0.5")}
	w := planned(t)(Update(carts, tableapi.UpdateItem{Key: key("ann", "1"), Update: "ADD c :h", Expressions: tableapi.Expressions{Values: half}}, now))
	if _, err := w.NextOps(st); tableapi.KindOf(err) != tableapi.KindValidation || !strings.Contains(err.Error(), "integer") {
		t.Errorf("a decimal ADD: %v, want a validation error naming integers", err)
	}
	big := item.SS{}
	for i := range datatype.MaxOps + 1 {
		big = append(big, strings.Repeat("e", 1+i%7)+string(rune('a'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676)))
	}
	w = planned(t)(Put(carts, tableapi.PutItem{Item: with(key("ann", "1"), "tags", big)}, now))
	if _, err := w.NextOps(st); tableapi.KindOf(err) != tableapi.KindValidation || !strings.Contains(err.Error(), "at most") {
		t.Errorf("a write of %d set elements: %v, want a validation error naming the bound", len(big), err)
	}
	if _, err := Put(carts, tableapi.PutItem{Item: key("ann", "1"), Condition: "attribute_not_exists(v)"}, now); tableapi.KindOf(err) != tableapi.KindValidation {
		t.Errorf("a condition: %v, want refused", err)
	}
}

func TestCRDTRangeAndExpiry(t *testing.T) {
	now := time.Unix(1000, 0)
	var st crdt.State
	st = written(t, st, planned(t)(Put(carts, tableapi.PutItem{Item: with(key("ann", "1"), "exp", item.MustNumber("1500"))}, now)))
	sib := object.Sibling{Value: crdt.Encode(st), Dot: vclock.Dot{Actor: vclock.Actor{Node: "n1~1", Incarnation: 1}, Counter: 1}, Datatype: true}
	k, err := KeyOf(carts, key("ann", "1"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := CRDTCurrent(carts)(k, []object.Sibling{sib})
	if err != nil || !v.Exists {
		t.Fatalf("a range read's value: %+v %v", v, err)
	}
	if it, err := Decode(v.Data); err != nil || !item.EqualItems(it, with(key("ann", "1"), "exp", item.MustNumber("1500"))) {
		t.Fatalf("a range read's item: %v %v", it, err)
	}
	if ops, _, err := ExpiredCRDTItem(carts, k, []object.Sibling{sib}, now); err != nil || ops != nil {
		t.Fatalf("an item not yet expired: %d operations, %v", len(ops), err)
	}
	ops, base, err := ExpiredCRDTItem(carts, k, []object.Sibling{sib}, time.Unix(2000, 0))
	if err != nil || len(ops) != 3 || !base.Context().Descends(st.Context()) || !st.Context().Descends(base.Context()) {
		t.Fatalf("an expired item's deletion: %d operations (want one removal per attribute, the key's included), %v", len(ops), err)
	}
}

// Which writes of CRDT items go without a read.
func TestCRDTBlindWrites(t *testing.T) {
	now := time.Unix(1000, 0)
	noTTL := carts
	noTTL.TTLAttribute = ""
	values := map[string]item.Value{":one": item.MustNumber("1"), ":tag": item.SS{"x"}, ":v": item.S("v")}
	update := func(tb catalog.Table, expr string, ret tableapi.ReturnValues) *Write {
		used := map[string]item.Value{}
		for k, v := range values {
			if strings.Contains(expr, k) {
				used[k] = v
			}
		}
		return planned(t)(Update(tb, tableapi.UpdateItem{Key: key("ann", "1"), Update: expr, Expressions: tableapi.Expressions{Values: used}, Return: ret}, now))
	}
	for _, tc := range []struct {
		rule  string
		w     *Write
		blind bool
		ops   int
	}{
		{"ADDs alone, returning nothing, go blind", update(noTTL, "ADD c :one, tags :tag", tableapi.ReturnNone), true, 2},
		{"with ReturnValues the write reads", update(noTTL, "ADD c :one", tableapi.ReturnAllNew), false, 0},
		{"with a SET too it reads", update(noTTL, "ADD c :one SET v = :v", tableapi.ReturnNone), false, 0},
		{"a DELETE of elements reads (it removes what it observed)", update(noTTL, "DELETE tags :tag", tableapi.ReturnNone), false, 0},
		{"on a table with TTL it reads (an expired item starts from its key)", update(carts, "ADD c :one", tableapi.ReturnNone), false, 0},
		{"a put reads", planned(t)(Put(noTTL, tableapi.PutItem{Item: key("ann", "1")}, now)), false, 0},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			ops, blind, err := tc.w.BlindOps()
			if err != nil || blind != tc.blind || len(ops) != tc.ops {
				t.Fatalf("blind %v with %d operations (%v), want blind %v with %d", blind, len(ops), err, tc.blind, tc.ops)
			}
		})
	}
	half := planned(t)(Update(noTTL, tableapi.UpdateItem{Key: key("ann", "1"), Update: "ADD c :h", Expressions: tableapi.Expressions{Values: map[string]item.Value{":h": item.MustNumber("0.5")}}}, now))
	if _, blind, err := half.BlindOps(); !blind || tableapi.KindOf(err) != tableapi.KindValidation {
		t.Fatalf("a blind decimal ADD: blind %v, %v; want a validation error", blind, err)
	}
	// A blind ADD applied to what a put wrote adds to it.
	var st crdt.State
	st = written(t, st, planned(t)(Put(noTTL, tableapi.PutItem{Item: with(key("ann", "1"), "c", item.MustNumber("2.5"))}, now)))
	ops, _, _ := update(noTTL, "ADD c :one", tableapi.ReturnNone).BlindOps()
	conv, err := datatype.ItemOps(ops, item.MaxItemSize)
	if err != nil {
		t.Fatal(err)
	}
	if st, _, err = crdt.Apply(st, crdt.Update{Actor: vclock.Actor{Node: "n2~1", Incarnation: 1}, Ops: conv}, crdt.DefaultLimits); err != nil {
		t.Fatal(err)
	}
	if got := shownItem(t, st, now)["c"]; !item.Equal(got, item.MustNumber("3.5")) {
		t.Fatalf("a blind ADD of 1 to 2.5 reads %v", got)
	}
}
