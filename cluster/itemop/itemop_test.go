package itemop

import (
	"errors"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
)

var orders = catalog.Table{Name: "orders", ID: 3, Consistency: catalog.Strong,
	Schema: item.KeySchema{Partition: item.KeyAttribute{Name: "cust", Type: item.TypeS}, Sort: item.KeyAttribute{Name: "n", Type: item.TypeN}}}

func key(cust, n string) item.Item { return item.Item{"cust": item.S(cust), "n": item.MustNumber(n)} }

func with(it item.Item, kv ...any) item.Item {
	out := item.Item{}
	for k, v := range it {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1].(item.Value)
	}
	return out
}

func stored(it item.Item) paxos.Value {
	if it == nil {
		return paxos.Value{}
	}
	return paxos.Value{Exists: true, Data: Encode(it), Version: paxos.Ballot{Round: 1, Node: "a", Incarnation: 1}}
}

// run applies w to the register holding cur as consensus would, and
// returns the answer.
func run(t *testing.T, w *Write, cur item.Item) (item.Item, tableapi.WriteResult, error) {
	t.Helper()
	data, exists, err := w.Op().Update(stored(cur))
	res := paxos.Result{Outcome: paxos.OutcomeOK}
	if err != nil {
		res = paxos.Result{Outcome: paxos.OutcomeInvalid, Err: err, Value: stored(cur)}
		if errors.Is(err, paxos.ErrConditionFailed) {
			res.Outcome = paxos.OutcomeConditionFailed
		}
		out, rerr := w.Result(res)
		return cur, out, rerr
	}
	res.Value = paxos.Value{Exists: exists, Data: data, Version: paxos.Ballot{Round: 2, Node: "b", Incarnation: 1}, Prev: stored(cur).Version, HasPrev: true}
	var next item.Item
	if exists {
		if next, err = Decode(data); err != nil {
			t.Fatal(err)
		}
	}
	out, err := w.Result(res)
	return next, out, err
}

func TestWrites(t *testing.T) {
	one := item.MustNumber("1")
	ann := with(key("ann", "1"), "amount", item.MustNumber("10"), "tags", item.SS{"a"})
	for _, tt := range []struct {
		name     string
		plan     func() (*Write, error)
		cur      item.Item
		want     item.Item // the register after
		wantRet  item.Item
		wantKind tableapi.Kind // of the answer's error, when it fails
		planErr  bool
	}{
		{"a put replaces the item", func() (*Write, error) {
			return Put(orders, tableapi.PutItem{Table: "orders", Item: with(key("ann", "1"), "amount", one), Return: tableapi.ReturnAllOld}, now)
		}, ann, with(key("ann", "1"), "amount", one), ann, 0, false},
		{"a put if absent fails on a present item and changes nothing", func() (*Write, error) {
			return Put(orders, tableapi.PutItem{Item: key("ann", "1"), Condition: "attribute_not_exists(cust)"}, now)
		}, ann, ann, nil, tableapi.KindConditionFailed, false},
		{"a put if absent writes an absent item", func() (*Write, error) {
			return Put(orders, tableapi.PutItem{Item: key("ann", "1"), Condition: "attribute_not_exists(cust)"}, now)
		}, nil, key("ann", "1"), nil, 0, false},
		{"an update creates the item from its key", func() (*Write, error) {
			return Update(orders, tableapi.UpdateItem{Key: key("bob", "2"), Update: "SET amount = if_not_exists(amount, :zero) + :one",
				Expressions: tableapi.Expressions{Values: map[string]item.Value{":zero": item.MustNumber("0"), ":one": one}}, Return: tableapi.ReturnAllNew}, now)
		}, nil, with(key("bob", "2"), "amount", one), with(key("bob", "2"), "amount", one), 0, false},
		{"an update returns the attributes it updated", func() (*Write, error) {
			return Update(orders, tableapi.UpdateItem{Key: key("ann", "1"), Update: "SET amount = amount + :one",
				Expressions: tableapi.Expressions{Values: map[string]item.Value{":one": one}}, Return: tableapi.ReturnUpdatedNew}, now)
		}, ann, with(ann, "amount", item.MustNumber("11")), item.Item{"amount": item.MustNumber("11")}, 0, false},
		{"an update whose condition fails changes nothing", func() (*Write, error) {
			return Update(orders, tableapi.UpdateItem{Key: key("ann", "1"), Update: "SET amount = :one", Condition: "amount > :big",
				Expressions: tableapi.Expressions{Values: map[string]item.Value{":one": one, ":big": item.MustNumber("100")}}}, now)
		}, ann, ann, nil, tableapi.KindConditionFailed, false},
		{"an update that cannot apply to the item is a validation error", func() (*Write, error) {
			return Update(orders, tableapi.UpdateItem{Key: key("ann", "1"), Update: "ADD tags :one",
				Expressions: tableapi.Expressions{Values: map[string]item.Value{":one": one}}}, now)
		}, ann, ann, nil, tableapi.KindValidation, false},
		{"an update of a key attribute is refused", func() (*Write, error) {
			return Update(orders, tableapi.UpdateItem{Key: key("ann", "1"), Update: "SET n = :one", Expressions: tableapi.Expressions{Values: map[string]item.Value{":one": one}}}, now)
		}, nil, nil, nil, 0, true},
		{"a delete returns the old item", func() (*Write, error) {
			return Delete(orders, tableapi.DeleteItem{Key: key("ann", "1"), Return: tableapi.ReturnAllOld}, now)
		}, ann, nil, ann, 0, false},
		{"a key with more than the key attributes is refused", func() (*Write, error) {
			return Delete(orders, tableapi.DeleteItem{Key: with(key("ann", "1"), "x", one)}, now)
		}, nil, nil, nil, 0, true},
		{"a key of the wrong type is refused", func() (*Write, error) {
			return Delete(orders, tableapi.DeleteItem{Key: item.Item{"cust": item.S("ann"), "n": item.S("1")}}, now)
		}, nil, nil, nil, 0, true},
		{"a substitution no expression uses is refused", func() (*Write, error) {
			return Put(orders, tableapi.PutItem{Item: key("ann", "1"), Expressions: tableapi.Expressions{Values: map[string]item.Value{":x": one}}}, now)
		}, nil, nil, nil, 0, true},
		{"a put may not return the new item", func() (*Write, error) {
			return Put(orders, tableapi.PutItem{Item: key("ann", "1"), Return: tableapi.ReturnAllNew}, now)
		}, nil, nil, nil, 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w, err := tt.plan()
			if tt.planErr {
				if tableapi.KindOf(tableapi.Classify(err)) != tableapi.KindValidation {
					t.Fatalf("plan: %v, want a validation error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			after, ret, err := run(t, w, tt.cur)
			if tt.wantKind != 0 {
				if tableapi.KindOf(err) != tt.wantKind {
					t.Fatalf("error %v (kind %d), want kind %d", err, tableapi.KindOf(err), tt.wantKind)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !item.EqualItems(after, tt.want) {
				t.Fatalf("register %v, want %v", after, tt.want)
			}
			if !item.EqualItems(ret.Attributes, tt.wantRet) {
				t.Fatalf("returned %v, want %v", ret.Attributes, tt.wantRet)
			}
		})
	}
}

func TestQueryPage(t *testing.T) {
	values := tableapi.Expressions{Values: map[string]item.Value{":c": item.S("ann"), ":lo": item.MustNumber("2"), ":t": item.MustNumber("5")}}
	regs := func(its ...item.Item) []Stored {
		var out []Stored
		for _, it := range its {
			k, err := KeyOf(orders, item.Item{"cust": it["cust"], "n": it["n"]})
			if err != nil {
				t.Fatal(err)
			}
			v := stored(it)
			if it["gone"] != nil {
				v = paxos.Value{Version: v.Version}
			}
			out = append(out, Stored{Key: k, Value: v})
		}
		return out
	}
	i2, i3, i4 := with(key("ann", "2"), "amount", item.MustNumber("9")), with(key("ann", "3"), "gone", item.Bool(true)), with(key("ann", "4"), "amount", item.MustNumber("1"))

	q, err := PlanQuery(orders, tableapi.Query{KeyCondition: "cust = :c AND n >= :lo", Filter: "amount > :t", Expressions: values, Limit: 3}, now)
	if err != nil {
		t.Fatal(err)
	}
	if q.MaxKeys != 3 {
		t.Fatalf("MaxKeys %d", q.MaxKeys)
	}
	page, err := q.Page(regs(i2, i3, i4), false)
	if err != nil {
		t.Fatal(err)
	}
	if page.ScannedCount != 2 || page.Count != 1 || len(page.Items) != 1 || !item.EqualItems(page.Items[0], i2) {
		t.Fatalf("tombstones are not skipped or the filter not applied: %+v", page)
	}
	if !item.EqualItems(page.LastEvaluatedKey, key("ann", "4")) {
		t.Fatalf("LastEvaluatedKey %v", page.LastEvaluatedKey)
	}
	if page, _ := q.Page(regs(i2), true); page.LastEvaluatedKey != nil {
		t.Fatalf("a complete page has a LastEvaluatedKey: %v", page.LastEvaluatedKey)
	}

	next, err := PlanQuery(orders, tableapi.Query{KeyCondition: "cust = :c", Expressions: tableapi.Expressions{Values: map[string]item.Value{":c": item.S("ann")}},
		ExclusiveStartKey: key("ann", "2"), Select: tableapi.SelectCount}, now)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := KeyOf(orders, key("ann", "2"))
	k3, _ := KeyOf(orders, key("ann", "3"))
	if next.Range.Contains(k2) || !next.Range.Contains(k3) {
		t.Fatal("the next page does not start after ExclusiveStartKey")
	}
	if page, _ := next.Page(regs(i4), true); page.Count != 1 || page.Items != nil {
		t.Fatalf("COUNT returned items: %+v", page)
	}
	back, err := PlanQuery(orders, tableapi.Query{KeyCondition: "cust = :c", Expressions: tableapi.Expressions{Values: map[string]item.Value{":c": item.S("ann")}},
		ExclusiveStartKey: key("ann", "3"), Backward: true}, now)
	if err != nil || back.Range.Contains(k3) || !back.Range.Contains(k2) {
		t.Fatalf("a reverse page does not continue below ExclusiveStartKey: %v", err)
	}

	for name, req := range map[string]tableapi.Query{
		"a start key of another partition key": {KeyCondition: "cust = :c", Expressions: tableapi.Expressions{Values: map[string]item.Value{":c": item.S("ann")}}, ExclusiveStartKey: key("bob", "1")},
		"a filter on a key attribute":          {KeyCondition: "cust = :c", Filter: "n > :c", Expressions: tableapi.Expressions{Values: map[string]item.Value{":c": item.S("ann")}}},
		"no key condition":                     {},
		"a projection with COUNT":              {KeyCondition: "cust = :c", Projection: "amount", Select: tableapi.SelectCount, Expressions: tableapi.Expressions{Values: map[string]item.Value{":c": item.S("ann")}}},
	} {
		if _, err := PlanQuery(orders, req, now); tableapi.KindOf(tableapi.Classify(err)) != tableapi.KindValidation {
			t.Errorf("%s: %v, want a validation error", name, err)
		}
	}
}

// now is the time the tests' requests are made at.
var now = time.Unix(1_700_000_000, 0)

// A write that reached a majority's accept round may still take effect:
// its failure says so (Open), which a write that never got there must not.
func TestFailureSaysWhetherTheWriteIsOpen(t *testing.T) {
	for _, tc := range []struct {
		rule string
		res  paxos.Result
		kind tableapi.Kind
		open bool
	}{
		{"contention before any accept round changed nothing", paxos.Result{Outcome: paxos.OutcomeContention}, tableapi.KindContention, false},
		{"contention after an accept round may still take effect", paxos.Result{Outcome: paxos.OutcomeContention, Accepted: true}, tableapi.KindContention, true},
		{"too few replicas before any accept round changed nothing", paxos.Result{Outcome: paxos.OutcomeUnavailable}, tableapi.KindUnavailable, false},
		{"too few replicas after an accept round may still take effect", paxos.Result{Outcome: paxos.OutcomeUnavailable, Accepted: true}, tableapi.KindUnavailable, true},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			var te *tableapi.Error
			if err := Failure(tc.res); !errors.As(err, &te) || te.Kind != tc.kind || te.Open != tc.open {
				t.Fatalf("got %#v", err)
			}
		})
	}
}

// A page asked for its items as stored answers them so only when nothing
// of it needs the item decoded; otherwise it answers decoded items, as
// a page not asked so.
func TestQueryPageAsStored(t *testing.T) {
	c := tableapi.Expressions{Values: map[string]item.Value{":c": item.S("ann")}}
	withTTL := orders
	withTTL.TTLAttribute = "exp"
	i1, i2 := with(key("ann", "1"), "amount", item.MustNumber("9")), with(key("ann", "2"), "amount", item.MustNumber("1"))
	var read []Stored
	for _, it := range []item.Item{i1, nil, i2} {
		k, _ := KeyOf(orders, key("ann", "1"))
		read = append(read, Stored{Key: k, Value: stored(it)})
	}
	for _, tc := range []struct {
		rule     string
		table    catalog.Table
		req      tableapi.Query
		asStored bool
	}{
		{"a page asked for stored items and reading whole ones answers them as stored", orders, tableapi.Query{KeyCondition: "cust = :c", Expressions: c, Encoded: true}, true},
		{"a page not asked so decodes its items", orders, tableapi.Query{KeyCondition: "cust = :c", Expressions: c}, false},
		{"a filter needs the items decoded", orders, tableapi.Query{KeyCondition: "cust = :c", Filter: "amount > :c", Expressions: c, Encoded: true}, false},
		{"a projection needs the items decoded", orders, tableapi.Query{KeyCondition: "cust = :c", Projection: "amount", Expressions: c, Encoded: true}, false},
		{"a table whose items expire needs them decoded", withTTL, tableapi.Query{KeyCondition: "cust = :c", Expressions: c, Encoded: true}, false},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			q, err := PlanQuery(tc.table, tc.req, now)
			if err != nil {
				t.Fatal(err)
			}
			page, err := q.Page(read, true)
			if err != nil {
				t.Fatal(err)
			}
			if page.ScannedCount != 2 {
				t.Fatalf("ScannedCount %d, want 2 (the deleted register is not an item)", page.ScannedCount)
			}
			got := page.Items
			if tc.asStored {
				if page.Items != nil || len(page.Encoded) != 2 || page.Count != 2 {
					t.Fatalf("not answered as stored: %+v", page)
				}
				got = nil
				for i, e := range page.Encoded {
					if string(e) != string(read[2*i].Value.Data) {
						t.Fatalf("item %d is not the stored bytes", i)
					}
					it, err := Decode(e)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, it)
				}
			} else if page.Encoded != nil {
				t.Fatalf("answered as stored: %+v", page)
			}
			if tc.req.Filter == "" && tc.req.Projection == "" && (len(got) != 2 || !item.EqualItems(got[0], i1) || !item.EqualItems(got[1], i2)) {
				t.Fatalf("items %v", got)
			}
		})
	}
	t.Run("a stored value that is not an encoded item is the page's error", func(t *testing.T) {
		q, err := PlanQuery(orders, tableapi.Query{KeyCondition: "cust = :c", Expressions: c, Encoded: true}, now)
		if err != nil {
			t.Fatal(err)
		}
		bad := []Stored{{Key: read[0].Key, Value: paxos.Value{Exists: true, Data: []byte{0x12, 0x01, 'x'}}}}
		if _, err := q.Page(bad, true); err == nil {
			t.Fatal("a value of another message's field was answered as an item")
		}
		bad[0].Value.Data = []byte{0x0a, 0x05, 'x'}
		if _, err := q.Page(bad, true); err == nil {
			t.Fatal("a truncated item was answered")
		}
	})
}
