package itemop

import (
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/hlc"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
)

var events = catalog.Table{Name: "events", ID: 4, Consistency: catalog.Eventual, Conflict: catalog.LWW, TTLAttribute: "exp",
	Schema: item.KeySchema{Partition: item.KeyAttribute{Name: "cust", Type: item.TypeS}, Sort: item.KeyAttribute{Name: "n", Type: item.TypeN}}}

// The rules of writes on an eventual table: no condition (nothing makes
// it atomic); a put or delete writes blind unless it returns the old
// item; an update always reads, and starts from the key when the item is
// absent or expired.
func TestEventualWrites(t *testing.T) {
	now := time.Unix(1000, 0)
	old := with(key("ann", "1"), "v", item.S("old"))
	expired := with(key("ann", "1"), "v", item.S("old"), "exp", item.MustNumber("999"))
	values := map[string]item.Value{":one": item.MustNumber("1")}
	tests := []struct {
		rule    string
		plan    func(catalog.Table) (*Write, error)
		refused bool // on an eventual table, not on a strong one
		reads   bool
		cur     item.Item
		want    item.Item // nil: a tombstone
		answer  item.Item
	}{
		{"a put without ReturnValues writes blind", func(t catalog.Table) (*Write, error) {
			return Put(t, tableapi.PutItem{Item: with(key("ann", "1"), "v", item.S("new"))}, now)
		}, false, false, nil, with(key("ann", "1"), "v", item.S("new")), nil},
		{"a put that returns the old item reads it", func(t catalog.Table) (*Write, error) {
			return Put(t, tableapi.PutItem{Item: key("ann", "1"), Return: tableapi.ReturnAllOld}, now)
		}, false, true, old, key("ann", "1"), old},
		{"a put with a condition is refused", func(t catalog.Table) (*Write, error) {
			return Put(t, tableapi.PutItem{Item: key("ann", "1"), Condition: "attribute_not_exists(v)"}, now)
		}, true, false, nil, nil, nil},
		{"a delete writes a tombstone blind", func(t catalog.Table) (*Write, error) {
			return Delete(t, tableapi.DeleteItem{Key: key("ann", "1")}, now)
		}, false, false, nil, nil, nil},
		{"a delete with a condition is refused", func(t catalog.Table) (*Write, error) {
			return Delete(t, tableapi.DeleteItem{Key: key("ann", "1"), Condition: "v = :one", Expressions: tableapi.Expressions{Values: values}}, now)
		}, true, false, nil, nil, nil},
		{"an update reads and starts from the item", func(t catalog.Table) (*Write, error) {
			return Update(t, tableapi.UpdateItem{Key: key("ann", "1"), Update: "SET c = :one", Expressions: tableapi.Expressions{Values: values}, Return: tableapi.ReturnAllNew}, now)
		}, false, true, old, with(old, "c", item.MustNumber("1")), with(old, "c", item.MustNumber("1"))},
		{"an update of an expired item starts from the key", func(t catalog.Table) (*Write, error) {
			return Update(t, tableapi.UpdateItem{Key: key("ann", "1"), Update: "SET c = :one", Expressions: tableapi.Expressions{Values: values}, Return: tableapi.ReturnAllOld}, now)
		}, false, true, expired, with(key("ann", "1"), "c", item.MustNumber("1")), nil},
		{"an update with a condition is refused", func(t catalog.Table) (*Write, error) {
			return Update(t, tableapi.UpdateItem{Key: key("ann", "1"), Update: "SET c = :one", Condition: "attribute_exists(v)", Expressions: tableapi.Expressions{Values: values}}, now)
		}, true, true, nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			strong := events
			strong.Consistency, strong.Conflict = catalog.Strong, ""
			if _, err := tt.plan(strong); err != nil {
				t.Fatalf("a strong table refused it: %v", err)
			}
			w, err := tt.plan(events)
			if tt.refused {
				if tableapi.KindOf(err) != tableapi.KindValidation {
					t.Fatalf("planned with %v, want a ValidationException", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w.ReadsCurrent() != tt.reads {
				t.Fatalf("reads the item first: %v, want %v", w.ReadsCurrent(), tt.reads)
			}
			cur := stored(tt.cur)
			data, exists, err := w.Next(cur)
			if err != nil {
				t.Fatal(err)
			}
			var got item.Item
			if exists {
				if got, err = Decode(data); err != nil {
					t.Fatal(err)
				}
			}
			if !item.EqualItems(got, tt.want) {
				t.Fatalf("writes %v, want %v", got, tt.want)
			}
			ans, err := w.Answer(cur)
			if err != nil {
				t.Fatal(err)
			}
			if !item.EqualItems(ans.Attributes, tt.answer) {
				t.Fatalf("answers %v, want %v", ans.Attributes, tt.answer)
			}
		})
	}
}

// A read of an eventual table's item sees the live version its replicas
// merged to: none when the last writer deleted it, and never one picked
// among several (a last-writer-wins key merges to one).
func TestEventualCurrent(t *testing.T) {
	it := key("ann", "1")
	live := object.Sibling{Value: Encode(it), Stamp: hlc.Timestamp{Wall: 5}}
	tomb := object.Sibling{Deleted: true, Stamp: hlc.Timestamp{Wall: 6}}
	g, err := PlanGet(events, tableapi.GetItem{Key: key("ann", "1")}, time.Unix(1000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := g.EventualResult([]object.Sibling{live}); err != nil || !item.EqualItems(res.Item, it) {
		t.Fatalf("one live version: %v, %v", res.Item, err)
	}
	if res, err := g.EventualResult([]object.Sibling{tomb}); err != nil || res.Item != nil {
		t.Fatalf("a tombstone: %v, %v; want no item", res.Item, err)
	}
	if res, err := g.EventualResult(nil); err != nil || res.Item != nil {
		t.Fatalf("no version: %v, %v; want no item", res.Item, err)
	}
	if _, err := Current([]object.Sibling{live, live}); err == nil {
		t.Fatal("two live versions were taken")
	}
	var none paxos.Value
	if v, _ := Current(nil); v.Exists != none.Exists {
		t.Fatal("no version is an item")
	}
}
