package crdt

import (
	"math"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/vclock"
)

func TestStamp(t *testing.T) {
	reg := Field{Name: "r", Kind: KindLWWRegister}
	at := func(ts int64) Op { return UpdateField{Field: reg, Op: AssignAt{Value: "v", Timestamp: ts}} }
	holding := func(ts int64) State {
		s, _, err := Apply(State{}, Update{Actor: vclock.Actor{Node: "n1"}, Ops: []Op{at(ts)}}, DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	stamped := func(op Op) int64 { return op.(UpdateField).Op.(AssignAt).Timestamp }
	for _, tc := range []struct {
		rule string
		s    State
		op   Op
		now  int64
		want int64
	}{
		{"an assignment to an absent register takes now", State{}, at(0), 100, 100},
		{"and to a register whose winner is older", holding(50), at(0), 100, 100},
		{"one past a winner stamped at or after now (a clock behind)", holding(500), at(0), 100, 501},
		{"a timestamp the caller gave stays", holding(500), at(7), 100, 7},
		{"a winner at the largest timestamp cannot be passed: now", holding(math.MaxInt64), at(0), 100, 100},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			if got := stamped(Stamp(tc.s, []Op{tc.op}, tc.now)[0]); got != tc.want {
				t.Fatalf("stamped %d, want %d", got, tc.want)
			}
		})
	}
	// Nothing to stamp: the operations themselves, not a copy; something
	// to stamp: a copy, the caller's operations unchanged.
	incr := []Op{UpdateField{Field: Field{Name: "n", Kind: KindCounter}, Op: Increment{By: 1}}}
	if got := Stamp(holding(5), incr, 100); &got[0] != &incr[0] {
		t.Error("operations without an assignment were copied")
	}
	mixed := []Op{incr[0], at(0)}
	if got := Stamp(holding(5), mixed, 100); stamped(got[1]) != 100 || stamped(mixed[1]) != 0 {
		t.Errorf("stamped %d, and the caller's assignment now %d", stamped(got[1]), stamped(mixed[1]))
	}
	// The rule that matters: applied to what the client read, the new
	// assignment wins.
	s := holding(500)
	next, _, err := Apply(s, Update{Actor: vclock.Actor{Node: "n2"}, Context: s.Context(), Ops: Stamp(s, []Op{UpdateField{Field: reg, Op: AssignAt{Value: "later"}}}, 100)}, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := next.Value().(Map).Get(reg)
	if v, _, _ := r.(LWWRegister).Value(); v != "later" {
		t.Fatalf("a causally later assignment from a clock behind reads %q", v)
	}
}
