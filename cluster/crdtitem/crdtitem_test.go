package crdtitem

import (
	"errors"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/crdt"
	"github.com/harmoniakv/harmonia/cluster/datatype"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/vclock"
	"github.com/harmoniakv/harmonia/messages/datatypepb"
)

var key = item.Item{"id": item.S("cart-1")}

// replica is one replica's state of the item, applying writes as its
// coordinator would: as actor, with the context of what the client read.
type replica struct {
	actor vclock.Actor
	st    crdt.State
}

func newReplicas(n int) []*replica {
	out := make([]*replica, n)
	for i := range out {
		out[i] = &replica{actor: vclock.Actor{Node: "n" + string(rune('1'+i)), Incarnation: 1}}
	}
	return out
}

// write reads the item on r, computes next from it and applies the
// operations that make it so; merges names ADD/DELETE attributes.
func (r *replica) write(t *testing.T, next func(item.Item) item.Item, merges ...string) error {
	t.Helper()
	seen, err := Read(r.st)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := seen.Item(key)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, n := range merges {
		m[n] = true
	}
	ops, err := seen.Ops(key, next(cur), m)
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return nil
	}
	converted, err := datatype.ItemOps(ops, item.MaxItemSize)
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := crdt.Apply(r.st, crdt.Update{Actor: r.actor, Context: r.st.Context(), Ops: converted}, crdt.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	r.st = st
	return nil
}

// sync merges every replica's state into every other's.
func sync(t *testing.T, rs []*replica) {
	t.Helper()
	var all crdt.State
	for _, r := range rs {
		var err error
		if all, err = crdt.Merge(all, r.st); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range rs {
		r.st = all
	}
}

func (r *replica) item(t *testing.T) item.Item {
	t.Helper()
	s, err := Read(r.st)
	if err != nil {
		t.Fatal(err)
	}
	it, err := s.Item(key)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// with returns a function setting the attributes of kv over the item (nil
// values remove).
func with(kv map[string]item.Value) func(item.Item) item.Item {
	return func(cur item.Item) item.Item {
		out := item.Item{}
		for k, v := range key {
			out[k] = v
		}
		for k, v := range cur {
			out[k] = v
		}
		for k, v := range kv {
			if v == nil {
				delete(out, k)
			} else {
				out[k] = v
			}
		}
		return out
	}
}

// add is ADD name by as UpdateItem computes it from the item read.
func add(t *testing.T, name string, by string) func(item.Item) item.Item {
	return func(cur item.Item) item.Item {
		n := item.MustNumber("0")
		if v, ok := cur[name].(item.Number); ok {
			n = v
		}
		sum, err := n.Add(item.MustNumber(by))
		if err != nil {
			t.Fatal(err)
		}
		return with(map[string]item.Value{name: sum})(cur)
	}
}

func remove(item.Item) item.Item { return nil }

func num(s string) item.Value { return item.MustNumber(s) }

func TestItemsOfCRDTStates(t *testing.T) {
	for _, tc := range []struct {
		rule string
		run  func(t *testing.T, rs []*replica)
		want item.Item // every replica's item after a sync; nil: none
	}{
		{"a put writes each attribute and reads back as the item", func(t *testing.T, rs []*replica) {
			rs[0].write(t, with(map[string]item.Value{"owner": item.S("ann"), "total": num("12.5"), "tags": item.SS{"a", "b"}}))
		}, item.Item{"id": item.S("cart-1"), "owner": item.S("ann"), "total": num("12.5"), "tags": item.SS{"a", "b"}}},
		{"concurrent ADDs of a number on two replicas both count", func(t *testing.T, rs []*replica) {
			rs[0].write(t, add(t, "n", "2"), "n")
			rs[1].write(t, add(t, "n", "3"), "n")
		}, item.Item{"id": item.S("cart-1"), "n": num("5")}},
		{"ADD to a number a put wrote makes a counter of the sum, and later ADDs merge", func(t *testing.T, rs []*replica) {
			rs[0].write(t, with(map[string]item.Value{"n": num("10")}))
			sync(t, rs)
			rs[0].write(t, add(t, "n", "1"), "n")
			rs[1].write(t, add(t, "n", "-4"), "n")
		}, item.Item{"id": item.S("cart-1"), "n": num("7")}},
		{"a SET of a counter replaces what it observed", func(t *testing.T, rs []*replica) {
			rs[0].write(t, add(t, "n", "3"), "n")
			sync(t, rs)
			rs[1].write(t, with(map[string]item.Value{"n": item.S("reset")}))
		}, item.Item{"id": item.S("cart-1"), "n": item.S("reset")}},
		{"an ADD concurrent with a SET counts on top of it", func(t *testing.T, rs []*replica) {
			rs[0].write(t, with(map[string]item.Value{"n": num("100")}))
			rs[1].write(t, add(t, "n", "1"), "n")
		}, item.Item{"id": item.S("cart-1"), "n": num("101")}},
		{"a SET that observed ADDs takes them away; an ADD it did not see stays", func(t *testing.T, rs []*replica) {
			rs[0].write(t, add(t, "n", "5"), "n")
			rs[1].write(t, add(t, "n", "7"), "n")
			sync(t, rs)
			rs[0].write(t, with(map[string]item.Value{"n": num("1")}))
			rs[2].write(t, add(t, "n", "2"), "n")
		}, item.Item{"id": item.S("cart-1"), "n": num("3")}},
		{"ADD of an integer to a decimal a put wrote keeps the decimal", func(t *testing.T, rs []*replica) {
			rs[0].write(t, with(map[string]item.Value{"n": num("2.5")}))
			sync(t, rs)
			rs[1].write(t, add(t, "n", "1"), "n")
		}, item.Item{"id": item.S("cart-1"), "n": num("3.5")}},
		{"concurrent puts of a set keep the elements of both", func(t *testing.T, rs []*replica) {
			rs[0].write(t, with(map[string]item.Value{"tags": item.SS{"a"}}))
			rs[1].write(t, with(map[string]item.Value{"tags": item.SS{"b"}}))
		}, item.Item{"id": item.S("cart-1"), "tags": item.SS{"a", "b"}}},
		{"concurrent set ADDs keep every element", func(t *testing.T, rs []*replica) {
			rs[0].write(t, with(map[string]item.Value{"tags": item.SS{"a"}}), "tags")
			rs[1].write(t, with(map[string]item.Value{"tags": item.SS{"b"}}), "tags")
			rs[2].write(t, with(map[string]item.Value{"tags": item.SS{"c"}}), "tags")
		}, item.Item{"id": item.S("cart-1"), "tags": item.SS{"a", "b", "c"}}},
		{"a DELETE of set elements removes only what it observed; a concurrent add of one stays", func(t *testing.T, rs []*replica) {
			rs[0].write(t, with(map[string]item.Value{"tags": item.SS{"a", "b"}}), "tags")
			sync(t, rs)
			rs[0].write(t, with(map[string]item.Value{"tags": item.SS{"b"}}), "tags") // DELETE tags {a}
			rs[1].write(t, with(map[string]item.Value{"tags": item.SS{"a", "b", "c"}}), "tags")
		}, item.Item{"id": item.S("cart-1"), "tags": item.SS{"b", "c"}}},
		{"a number set keeps numbers: 1.0 and 1 are one element", func(t *testing.T, rs []*replica) {
			rs[0].write(t, with(map[string]item.Value{"ns": item.NS{item.MustNumber("1.0")}}), "ns")
			rs[1].write(t, with(map[string]item.Value{"ns": item.NS{item.MustNumber("1"), item.MustNumber("2")}}), "ns")
		}, item.Item{"id": item.S("cart-1"), "ns": item.NS{item.MustNumber("1"), item.MustNumber("2")}}},
		{"ADD to a set a put wrote takes the put's elements into the set", func(t *testing.T, rs []*replica) {
			rs[0].write(t, with(map[string]item.Value{"tags": item.SS{"a"}}))
			sync(t, rs)
			rs[0].write(t, with(map[string]item.Value{"tags": item.SS{"a", "b"}}), "tags")
			rs[1].write(t, with(map[string]item.Value{"tags": item.SS{"a", "c"}}), "tags")
		}, item.Item{"id": item.S("cart-1"), "tags": item.SS{"a", "b", "c"}}},
		{"REMOVE takes what it observed; an ADD it did not see stays", func(t *testing.T, rs []*replica) {
			rs[0].write(t, with(map[string]item.Value{"tags": item.SS{"a"}, "note": item.S("x")}), "tags")
			sync(t, rs)
			rs[0].write(t, with(map[string]item.Value{"tags": nil, "note": nil}))
			rs[1].write(t, with(map[string]item.Value{"tags": item.SS{"a", "z"}}), "tags")
		}, item.Item{"id": item.S("cart-1"), "tags": item.SS{"z"}}},
		{"a delete removes the item", func(t *testing.T, rs []*replica) {
			rs[0].write(t, with(map[string]item.Value{"note": item.S("x")}))
			sync(t, rs)
			rs[1].write(t, remove)
		}, nil},
		{"an update concurrent with a delete survives it, with the item's key", func(t *testing.T, rs []*replica) {
			rs[0].write(t, with(map[string]item.Value{"note": item.S("x")}))
			sync(t, rs)
			rs[0].write(t, remove)
			rs[1].write(t, add(t, "n", "1"), "n")
		}, item.Item{"id": item.S("cart-1"), "n": num("1")}},
		{"concurrent SETs of one attribute read the same on every replica", func(t *testing.T, rs []*replica) {
			rs[0].write(t, with(map[string]item.Value{"note": item.S("from n1")}))
			rs[1].write(t, with(map[string]item.Value{"note": item.S("from n2")}))
		}, item.Item{"id": item.S("cart-1"), "note": item.S("from n2")}},
		{"the next SET that observed concurrent values replaces them all", func(t *testing.T, rs []*replica) {
			rs[0].write(t, with(map[string]item.Value{"note": item.S("from n1")}))
			rs[1].write(t, with(map[string]item.Value{"note": item.S("from n2")}))
			sync(t, rs)
			rs[0].write(t, with(map[string]item.Value{"note": item.S("from n1")}))
			if s, _ := Read(rs[0].st); len(s.attrs["note"].register) != 1 {
				t.Errorf("the register holds %q after a write that observed both", s.attrs["note"].register)
			}
		}, item.Item{"id": item.S("cart-1"), "note": item.S("from n1")}},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			rs := newReplicas(3)
			tc.run(t, rs)
			sync(t, rs)
			for i, r := range rs {
				if got := r.item(t); !item.EqualItems(got, tc.want) {
					t.Fatalf("replica %d reads %v, want %v", i+1, got, tc.want)
				}
			}
		})
	}
}

func TestOpsChangeOnlyWhatChanged(t *testing.T) {
	r := newReplicas(1)[0]
	r.write(t, with(map[string]item.Value{"a": item.S("x"), "n": num("1")}))
	s, _ := Read(r.st)
	cur, _ := s.Item(key)
	if ops, err := s.Ops(key, cur, nil); err != nil || len(ops) != 0 {
		t.Fatalf("writing the item it holds: %d operations, %v", len(ops), err)
	}
	ops, err := s.Ops(key, with(map[string]item.Value{"a": item.S("y")})(cur), nil)
	if err != nil || len(ops) != 1 || ops[0].GetPath()[0].GetName() != "a" {
		t.Fatalf("changing one attribute: %v, %v", ops, err)
	}
}

func TestCountersHoldIntegers(t *testing.T) {
	for _, tc := range []struct {
		rule string
		from string
		by   string
	}{
		{"a decimal ADD is refused", "0", "1.5"},
		{"ADD of a decimal to a decimal is refused", "2.5", "0.25"},
		{"a counter beyond int64 is refused", "0", "9223372036854775808"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			r := newReplicas(1)[0]
			r.write(t, with(map[string]item.Value{"n": num(tc.from)}))
			before := r.item(t)
			if err := r.write(t, add(t, "n", tc.by), "n"); !errors.Is(err, ErrNotACounter) {
				t.Fatalf("got %v, want ErrNotACounter", err)
			}
			if !item.EqualItems(r.item(t), before) {
				t.Fatal("a refused ADD changed the item")
			}
		})
	}
}

func TestReadRefusesStatesNoItemHolds(t *testing.T) {
	conv, err := datatype.Ops([]*datatypepb.DatatypeOp{datatype.Enable(true, "f")})
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := crdt.Apply(crdt.State{}, crdt.Update{Actor: vclock.Actor{Node: "n1"}, Ops: conv}, crdt.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Read(st); err == nil {
		t.Fatal("a state holding a flag was read as an item")
	}
}

func TestACounterRefusesToLeaveInt64(t *testing.T) {
	r := newReplicas(1)[0]
	if err := r.write(t, add(t, "n", "9223372036854775807"), "n"); err != nil {
		t.Fatal(err)
	}
	if err := r.write(t, add(t, "n", "1"), "n"); !errors.Is(err, ErrNotACounter) {
		t.Fatalf("got %v, want ErrNotACounter", err)
	}
	if got := r.item(t)["n"]; !item.Equal(got, num("9223372036854775807")) {
		t.Fatalf("the counter reads %v after a refused ADD", got)
	}
}

// A blind ADD checks nothing: on an attribute that holds a string, the
// counter it makes stays hidden behind the string until a write of the
// attribute removes both.
func TestBlindAddsBehindAString(t *testing.T) {
	r := newReplicas(1)[0]
	r.write(t, with(map[string]item.Value{"n": item.S("text")}))
	ops, err := Adds(map[string]item.Value{"n": num("3"), "tags": item.SS{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	conv, err := datatype.ItemOps(ops, item.MaxItemSize)
	if err != nil {
		t.Fatal(err)
	}
	if r.st, _, err = crdt.Apply(r.st, crdt.Update{Actor: r.actor, Ops: conv}, crdt.DefaultLimits); err != nil {
		t.Fatal(err)
	}
	if got := r.item(t); !item.EqualItems(got, item.Item{"id": item.S("cart-1"), "n": item.S("text"), "tags": item.SS{"a"}}) {
		t.Fatalf("after blind ADDs: %v", got)
	}
	r.write(t, with(map[string]item.Value{"n": num("1")}))
	if got := r.item(t)["n"]; !item.Equal(got, num("1")) {
		t.Fatalf("a SET after the hidden counter reads %v, want 1 (the counter removed with the string)", got)
	}
	if _, err := Adds(map[string]item.Value{"n": num("1.5")}); !errors.Is(err, ErrNotACounter) {
		t.Fatalf("a decimal ADD: %v", err)
	}
}
