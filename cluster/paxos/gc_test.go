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
	tests := []struct {
		rule string
		st   State
		drop bool
	}{
		{"a settled tombstone older than the grace may be dropped", tomb(old), true},
		{"a tombstone younger than the grace is kept", tomb(recent), false},
		{"a live value is the key's data and is never dropped", State{Promised: old, Accepted: old, Value: Value{Exists: true, Data: []byte("v"), Version: old}, Committed: old}, false},
		{"a tombstone with a newer proposal accepted is kept", State{Promised: newer, Accepted: newer, Value: Value{Exists: true, Version: newer}, Committed: old}, false},
		{"a tombstone accepted but not known committed is kept", State{Promised: old, Accepted: old, Value: Value{Version: old}}, false},
		{"a state with only a promise is kept (nothing committed to drop)", State{Promised: old}, false},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			if got := Droppable(tt.st, now, grace); got != tt.drop {
				t.Fatalf("Droppable = %v", got)
			}
		})
	}

	t.Run("voters agree only on the same settled tombstone", func(t *testing.T) {
		if !SameTombstone(tomb(old), tomb(old)) {
			t.Fatal("equal tombstones disagree")
		}
		if SameTombstone(tomb(old), tomb(newer)) {
			t.Fatal("tombstones of two deletes agree")
		}
		live := State{Promised: old, Accepted: old, Value: Value{Exists: true, Version: old}, Committed: old}
		if SameTombstone(tomb(old), live) {
			t.Fatal("a tombstone agrees with a live value")
		}
	})

	t.Run("after a drop, no ballot below the floor is promised or accepted", func(t *testing.T) {
		st := tomb(old)
		st.Promised = newer // a later prepare that did not go on
		floor := RaiseFloor(Ballot{}, st)
		if floor != newer {
			t.Fatalf("floor %v, want the dropped promise %v", floor, newer)
		}
		if RaiseFloor(floor, tomb(old)) != newer {
			t.Fatal("a lower promise lowered the floor")
		}
		empty := EmptyAt(floor)
		if _, p := empty.Prepare(old); p.OK || p.Promised != newer {
			t.Fatalf("a prepare below the floor was promised: %+v", p)
		}
		if _, a := empty.Accept(old, Value{Exists: true, Data: []byte("ghost"), Version: old}); a.OK {
			t.Fatal("a delayed accept below the floor was accepted")
		}
		above := Ballot{Round: newer.Round + 1, Node: "c", Incarnation: 1, Seq: 1}
		if _, p := empty.Prepare(above); !p.OK || !p.Accepted.IsZero() {
			t.Fatalf("a prepare above the floor: %+v", p)
		}
	})
}
