package itemop

import (
	"errors"
	"fmt"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
)

// expiring is orders with TTL on the attribute "exp"; now is 1700000000.
var expiring = func() (t catalog.Table) { t = orders; t.TTLAttribute = "exp"; return t }()

// past and future are items of expiring that expired a second ago and
// expire in a second.
var (
	past   = with(key("ann", "1"), "exp", item.MustNumber("1699999999"), "amount", item.MustNumber("5"))
	future = with(key("ann", "2"), "exp", item.MustNumber("1700000001"))
)

func TestExpired(t *testing.T) {
	for _, tt := range []struct {
		rule    string
		ttlAttr string
		exp     item.Value // nil: no such attribute
		want    bool
	}{
		{"a number of seconds before now is expired", "exp", item.MustNumber("1699999999"), true},
		{"a number of seconds equal to now is expired", "exp", item.MustNumber("1700000000"), true},
		{"a fraction of a second before now is expired", "exp", item.MustNumber("1699999999.999"), true},
		{"a fraction of a second after now is not", "exp", item.MustNumber("1700000000.001"), false},
		{"a number after now is not", "exp", item.MustNumber("1700000001"), false},
		{"a negative number is long expired", "exp", item.MustNumber("-5"), true},
		{"a string is never expired", "exp", item.S("1"), false},
		{"a set of numbers is never expired", "exp", item.NS{item.MustNumber("1")}, false},
		{"an absent attribute is never expired", "exp", nil, false},
		{"a table without TTL expires nothing", "", item.MustNumber("1"), false},
	} {
		t.Run(tt.rule, func(t *testing.T) {
			tb := orders
			tb.TTLAttribute = tt.ttlAttr
			it := key("ann", "1")
			if tt.exp != nil {
				it = with(it, "exp", tt.exp)
			}
			if got := Expired(tb, it, now); got != tt.want {
				t.Fatalf("Expired %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWritesSeeExpiredItemsAsAbsent(t *testing.T) {
	one := item.MustNumber("1")
	for _, tt := range []struct {
		rule     string
		plan     func() (*Write, error)
		want     item.Item // the register after
		wantRet  item.Item
		wantKind tableapi.Kind
	}{
		{"a put if absent writes over an expired item", func() (*Write, error) {
			return Put(expiring, tableapi.PutItem{Item: key("ann", "1"), Condition: "attribute_not_exists(cust)", Return: tableapi.ReturnAllOld}, now)
		}, key("ann", "1"), nil, 0},
		{"a condition on an expired item's attribute fails", func() (*Write, error) {
			return Put(expiring, tableapi.PutItem{Item: key("ann", "1"), Condition: "attribute_exists(amount)"}, now)
		}, past, nil, tableapi.KindConditionFailed},
		{"an update creates a fresh item from the key", func() (*Write, error) {
			return Update(expiring, tableapi.UpdateItem{Key: key("ann", "1"), Update: "SET n2 = :one",
				Expressions: tableapi.Expressions{Values: map[string]item.Value{":one": one}}, Return: tableapi.ReturnAllOld}, now)
		}, with(key("ann", "1"), "n2", one), nil, 0},
		{"a delete returns nothing of an expired item", func() (*Write, error) {
			return Delete(expiring, tableapi.DeleteItem{Key: key("ann", "1"), Return: tableapi.ReturnAllOld}, now)
		}, nil, nil, 0},
	} {
		t.Run(tt.rule, func(t *testing.T) {
			w, err := tt.plan()
			if err != nil {
				t.Fatal(err)
			}
			got, ret, err := run(t, w, past)
			if tt.wantKind != 0 {
				if tableapi.KindOf(err) != tt.wantKind {
					t.Fatalf("err %v, want kind %v", err, tt.wantKind)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !item.EqualItems(got, tt.want) || !item.EqualItems(ret.Attributes, tt.wantRet) {
				t.Fatalf("register %v returned %v; want %v and %v", got, ret.Attributes, tt.want, tt.wantRet)
			}
		})
	}
	w, err := Put(expiring, tableapi.PutItem{Item: key("ann", "2"), Condition: "attribute_not_exists(cust)"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, w, future); tableapi.KindOf(err) != tableapi.KindConditionFailed {
		t.Fatalf("a put if absent over an item not yet expired: %v", err)
	}
}

func TestReadsSkipExpiredItems(t *testing.T) {
	for _, tt := range []struct {
		rule string
		key  item.Item
		cur  item.Item
		want item.Item
	}{
		{"an expired item is not returned", key("ann", "1"), past, nil},
		{"an item not yet expired is returned", key("ann", "2"), future, future},
	} {
		t.Run("get: "+tt.rule, func(t *testing.T) {
			g, err := PlanGet(expiring, tableapi.GetItem{Key: tt.key}, now)
			if err != nil {
				t.Fatal(err)
			}
			got, err := g.Result(paxos.Result{Outcome: paxos.OutcomeOK, Value: stored(tt.cur)})
			if err != nil || !item.EqualItems(got.Item, tt.want) {
				t.Fatalf("got %v %v, want %v", got.Item, err, tt.want)
			}
		})
	}
	regs := []Stored{}
	for i, it := range []item.Item{past, future} {
		k, err := KeyOf(expiring, key("ann", []string{"1", "2"}[i]))
		if err != nil {
			t.Fatal(err)
		}
		regs = append(regs, Stored{Key: k, Value: stored(it)})
	}
	q, err := PlanQuery(expiring, tableapi.Query{KeyCondition: "cust = :c", Expressions: tableapi.Expressions{Values: map[string]item.Value{":c": item.S("ann")}}}, now)
	if err != nil {
		t.Fatal(err)
	}
	page, err := q.Page(regs, true)
	if err != nil || page.Count != 1 || page.ScannedCount != 1 || !item.EqualItems(page.Items[0], future) {
		t.Fatalf("query: %+v %v; want the unexpired item alone, the expired one not counted", page, err)
	}
	s, err := PlanScan(expiring, tableapi.Scan{Select: tableapi.SelectCount}, scanPartitions, now)
	if err != nil {
		t.Fatal(err)
	}
	if page, err := s.Page(regs, true); err != nil || page.Count != 1 || page.ScannedCount != 1 {
		t.Fatalf("scan: %+v %v; want the expired item not counted", page, err)
	}
	b, err := PlanBatchGet(tableapi.BatchGetItem{Tables: map[string]tableapi.KeysAndAttributes{"orders": {Keys: []item.Item{key("ann", "1"), key("ann", "2")}}}},
		func(string) (catalog.Table, error) { return expiring, nil }, now)
	if err != nil {
		t.Fatal(err)
	}
	var items []item.Item
	for i, cur := range []item.Item{past, future} {
		got, err := b.Reads[i].Result(paxos.Result{Outcome: paxos.OutcomeOK, Value: stored(cur)})
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, got.Item)
	}
	out, err := b.Result(items, make([]error, len(items)))
	if err != nil || len(out.Responses["orders"]) != 1 || !item.EqualItems(out.Responses["orders"][0], future) {
		t.Fatalf("batch get: %+v %v; want the unexpired item alone", out, err)
	}
}

func TestExpiryDeleteDeletesOnlyWhatIsStillExpired(t *testing.T) {
	for _, tt := range []struct {
		rule    string
		cur     item.Item
		deletes bool
	}{
		{"an item still expired is deleted", past, true},
		{"an item written again since is kept", future, false},
		{"an absent item is not written", nil, false},
	} {
		t.Run(tt.rule, func(t *testing.T) {
			data, exists, err := ExpiryDelete(expiring, now).Update(stored(tt.cur))
			if tt.deletes {
				if err != nil || exists || data != nil {
					t.Fatalf("%v %v %v; want a delete", data, exists, err)
				}
				return
			}
			if !errors.Is(err, paxos.ErrConditionFailed) {
				t.Fatalf("err %v, want a failed condition", err)
			}
		})
	}
}

func TestExpiredRegister(t *testing.T) {
	b1, b2 := paxos.Ballot{Round: 1, Node: "a", Incarnation: 1}, paxos.Ballot{Round: 2, Node: "a", Incarnation: 1}
	for _, tt := range []struct {
		rule string
		st   paxos.State
		want bool
	}{
		{"a committed expired item is to delete", paxos.State{Promised: b1, Accepted: b1, Committed: b1, Value: stored(past)}, true},
		{"a committed item not yet expired is not", paxos.State{Promised: b1, Accepted: b1, Committed: b1, Value: stored(future)}, false},
		{"an expired item with a write in flight is left alone", paxos.State{Promised: b2, Accepted: b2, Committed: b1, Value: stored(past)}, false},
		{"a tombstone is not", paxos.State{Promised: b1, Accepted: b1, Committed: b1, Value: paxos.Value{Version: b1}}, false},
	} {
		t.Run(tt.rule, func(t *testing.T) {
			if got, err := ExpiredRegister(expiring, tt.st, now); err != nil || got != tt.want {
				t.Fatalf("%v %v, want %v", got, err, tt.want)
			}
		})
	}
}

// A page's Limit counts items: deleted and expired registers take no
// place, and a read keeps registers up to the Limit-th item.
func TestTakeCountsItemsNotRegisters(t *testing.T) {
	q, err := PlanQuery(expiring, tableapi.Query{KeyCondition: "cust = :c", Expressions: tableapi.Expressions{Values: map[string]item.Value{":c": item.S("ann")}}}, now)
	if err != nil {
		t.Fatal(err)
	}
	reg := func(kind string, n int) Stored {
		k, err := KeyOf(expiring, key("ann", fmt.Sprint(n)))
		if err != nil {
			t.Fatal(err)
		}
		switch kind {
		case "item":
			return Stored{Key: k, Value: stored(future)}
		case "expired":
			return Stored{Key: k, Value: stored(past)}
		}
		return Stored{Key: k} // deleted
	}
	read := []Stored{reg("deleted", 1), reg("item", 2), reg("expired", 3), reg("deleted", 4), reg("item", 5), reg("item", 6)}
	for _, tc := range []struct {
		rule      string
		want      int
		kept, got int
	}{
		{"one item wanted: the registers up to the first item", 1, 2, 1},
		{"two wanted: deleted and expired ones before the second are kept, not counted", 2, 5, 2},
		{"as many wanted as there are items: all, the page is full", 3, 6, 3},
		{"more wanted than there are: all, the page reads on", 5, 6, 3},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			kept, items := q.Take(read, tc.want)
			if len(kept) != tc.kept || items != tc.got {
				t.Fatalf("kept %d registers holding %d items, want %d holding %d", len(kept), items, tc.kept, tc.got)
			}
		})
	}
	for _, tc := range []struct {
		rule             string
		want, read, size int
	}{
		{"few items wanted: a batch of registers, to skip deleted ones", 1, 0, MinReadRegisters},
		{"many wanted: as many registers", 500, 0, 500},
		{"near the page's register bound: what is left of it", 500, MaxPageRegisters - 10, 10},
		{"at the bound: none", 500, MaxPageRegisters, 0},
	} {
		if got := ReadSize(tc.want, tc.read); got != tc.size {
			t.Errorf("%s: ReadSize(%d, %d) = %d, want %d", tc.rule, tc.want, tc.read, got, tc.size)
		}
	}
}
