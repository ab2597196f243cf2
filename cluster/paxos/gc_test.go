package paxos

import (
	"testing"
	"time"
)

func TestDroppingAcceptorState(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	grace := time.Hour
	old := Ballot{Round: uint64(now.Add(-2 * time.Hour).UnixMicro()), Node: "a", Incarnation: 1, Seq: 1}
	recent := Ballot{Round: uint64(now.Add(-time.Minute).UnixMicro()), Node: "a", Incarnation: 1, Seq: 2}
	newer := Ballot{Round: old.Round + 1, Node: "b", Incarnation: 1, Seq: 1}
	tomb := func(b Ballot) State {
		return State{Promised: b, Accepted: b, Value: Value{Version: b}, Committed: b}
	}
	erased := func(b Ballot) State { return State{Promised: b, Accepted: b, Committed: b} }
	tests := []struct {
		rule        string
		st          State
		erase, drop bool
	}{
		{"a settled tombstone older than the grace is erased first, not dropped", tomb(old), true, false},
		{"a tombstone younger than the grace is kept", tomb(recent), false, false},
		{"a live value is the key's data and is never erased or dropped", State{Promised: old, Accepted: old, Value: Value{Exists: true, Data: []byte("v"), Version: old}, Committed: old}, false, false},
		{"a tombstone with a newer proposal accepted is kept", State{Promised: newer, Accepted: newer, Value: Value{Exists: true, Version: newer}, Committed: old}, false, false},
		{"a tombstone accepted but not known committed is kept", State{Promised: old, Accepted: old, Value: Value{Version: old}}, false, false},
		{"a state with only a promise is kept (nothing committed to drop)", State{Promised: old}, false, false},
		{"a settled erased value may be dropped at once: it reads as nothing", erased(recent), false, true},
		{"an erased value accepted but not known committed is kept", State{Promised: recent, Accepted: recent}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			if got := Erasable(tt.st, now, grace); got != tt.erase {
				t.Fatalf("Erasable = %v", got)
			}
			if got := Droppable(tt.st); got != tt.drop {
				t.Fatalf("Droppable = %v", got)
			}
		})
	}

	t.Run("a voter agrees to a drop only holding the very erased state, or nothing under a floor raised above it", func(t *testing.T) {
		e := Ballot{Round: old.Round + 10, Node: "c", Incarnation: 1, Seq: 1}
		later := Ballot{Round: e.Round + 5, Node: "b", Incarnation: 1, Seq: 1}
		high := Ballot{Round: e.Round + 100}
		for _, tt := range []struct {
			rule   string
			st     State
			floor  Ballot
			agree  bool
			raised Ballot
		}{
			{"a voter holding the erased state of that ballot agrees, its floor unchanged", erased(e), Ballot{}, true, Ballot{}},
			{"a voter holding the erased state of another ballot does not agree", erased(later), Ballot{}, false, Ballot{}},
			{"a voter holding the tombstone before the erase does not agree", tomb(old), Ballot{}, false, Ballot{}},
			{"a voter holding a live value does not agree", State{Promised: e, Accepted: e, Value: Value{Exists: true, Version: e}, Committed: e}, Ballot{}, false, Ballot{}},
			{"a voter with the erase accepted but not known committed does not agree", State{Promised: e, Accepted: e}, Ballot{}, false, Ballot{}},
			{"a voter holding nothing agrees, with its floor raised above the erase", EmptyAt(Ballot{}), Ballot{}, true, Ballot{Round: e.Round + 1}},
			{"a voter holding nothing under a floor already above the erase agrees, its floor unchanged", EmptyAt(high), high, true, high},
			{"a voter holding only a promise counts as holding nothing", State{Promised: later}, old, true, Ballot{Round: e.Round + 1}},
		} {
			agree, raised := AgreeToDrop(tt.st, tt.floor, e)
			if agree != tt.agree || raised != tt.raised {
				t.Errorf("%s: agree %v, floor %v; want %v, %v", tt.rule, agree, raised, tt.agree, tt.raised)
			}
			if agree && tt.st.HoldsNothing() {
				// Nothing of the register's history up to the erase is
				// taken from then on.
				held := EmptyAt(raised)
				if _, a := held.Accept(tomb(old).Accepted, Value{Version: old}); a.OK {
					t.Errorf("%s: a delayed accept of the tombstone is taken after agreeing", tt.rule)
				}
				if got := held.Learn(e, Value{}); !got.Equal(held) {
					t.Errorf("%s: a delayed commit of the erase is learned after agreeing: %+v", tt.rule, got)
				}
			}
		}
		if agree, _ := AgreeToDrop(EmptyAt(Ballot{}), Ballot{}, Ballot{}); agree {
			t.Error("a voter agreed to a drop that names no erase")
		}
	})

	t.Run("after a drop, no ballot at or below the dropped promise is promised or accepted", func(t *testing.T) {
		st := tomb(old)
		st.Promised = newer // a later prepare that did not go on, or a held ballot
		floor := RaiseFloor(Ballot{}, st)
		if !newer.Less(floor) {
			t.Fatalf("floor %v is not above the dropped promise %v", floor, newer)
		}
		if RaiseFloor(floor, tomb(old)) != floor {
			t.Fatal("a lower promise lowered the floor")
		}
		empty := EmptyAt(floor)
		if _, p := empty.Prepare(old); p.OK {
			t.Fatalf("a prepare below the floor was promised: %+v", p)
		}
		if _, a := empty.Accept(old, Value{Exists: true, Data: []byte("ghost"), Version: old}); a.OK {
			t.Fatal("a delayed accept below the floor was accepted")
		}
		if _, a := empty.Accept(newer, Value{Version: newer}); a.OK {
			t.Fatal("an accept at the dropped promise itself (a held ballot) was accepted")
		}
		above := Ballot{Round: newer.Round + 1, Node: "c", Incarnation: 1, Seq: 1}
		if _, p := empty.Prepare(above); !p.OK || !p.Accepted.IsZero() {
			t.Fatalf("a prepare above the floor: %+v", p)
		}
	})
}
