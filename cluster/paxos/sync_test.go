package paxos

import "testing"

func TestSyncOf(t *testing.T) {
	b1 := Ballot{Round: 100, Node: "a", Incarnation: 1, Seq: 1}
	b2 := Ballot{Round: 200, Node: "b", Incarnation: 1, Seq: 1}
	b3 := Ballot{Round: 300, Node: "c", Incarnation: 1, Seq: 1}
	live := func(b Ballot, data string) Value { return Value{Exists: true, Data: []byte(data), Version: b} }
	settled := func(b Ballot, v Value) State { return State{Promised: b, Accepted: b, Value: v, Committed: b} }
	accepted := func(b Ballot, v Value, committed Ballot) State {
		return State{Promised: b, Accepted: b, Value: v, Committed: committed}
	}
	const stale = 250 // proposals of rounds below 250 are no longer in flight

	tests := []struct {
		rule     string
		a, b     State
		toA, toB bool
		complete bool
	}{
		{"two acceptors settled on the same value exchange nothing",
			settled(b2, live(b1, "x")), settled(b2, live(b1, "x")), false, false, false},
		{"an acceptor that holds nothing learns the other's settled value",
			settled(b1, live(b1, "x")), State{}, false, true, false},
		{"an acceptor behind learns the newer settled value",
			settled(b1, live(b1, "x")), settled(b2, live(b2, "y")), true, false, false},
		{"an acceptor that accepted the value but missed its commit learns it is committed",
			accepted(b2, live(b2, "y"), b1), settled(b2, live(b2, "y")), true, false, false},
		{"a settled value is taught to an acceptor with a newer proposal unsettled, which keeps its own",
			accepted(b3, live(b3, "z"), Ballot{}), settled(b2, live(b2, "y")), true, false, false},
		{"an unsettled proposal older than the stale round is completed",
			accepted(b2, live(b2, "y"), b1), settled(b1, live(b1, "x")), false, false, true},
		{"an unsettled proposal that may still be in flight is left to its proposer",
			accepted(b3, live(b3, "z"), b1), settled(b1, live(b1, "x")), false, false, false},
		{"a proposal known committed by the other side needs no completing",
			accepted(b2, live(b2, "y"), b1), settled(b2, live(b2, "y")), true, false, false},
		{"a promise alone teaches nothing and completes nothing",
			State{Promised: b3}, State{}, false, false, false},
		{"a tombstone is taught to an acceptor that holds nothing above it",
			settled(b2, Value{Version: b2}), EmptyAt(b1), false, true, false},
		{"a tombstone is not taught where the other holds nothing under a floor at or above it: it is completed",
			settled(b2, Value{Version: b2}), EmptyAt(b2), false, false, true},
		{"a live value is not taught under the other's floor (it may be a dropped register's past): it is completed",
			settled(b1, live(b1, "x")), EmptyAt(b2), false, false, true},
		{"a live value is not taught under a promise of an acceptor that holds nothing: it is completed",
			settled(b1, live(b1, "x")), State{Promised: b2}, false, false, true},
		{"the erased value is taught to an acceptor that holds nothing below it",
			settled(b2, Value{}), EmptyAt(b1), false, true, false},
		{"the erased value is neither taught nor completed where the other holds nothing above it: it was dropped there",
			settled(b2, Value{}), EmptyAt(b3), false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			s := SyncOf(tt.a, tt.b, stale)
			if s.ToA.Commit != tt.toA || s.ToB.Commit != tt.toB || s.Complete != tt.complete {
				t.Fatalf("SyncOf = toA %v, toB %v, complete %v; want %v, %v, %v", s.ToA.Commit, s.ToB.Commit, s.Complete, tt.toA, tt.toB, tt.complete)
			}
			// What is taught is the teacher's settled value, and applying
			// it never lowers what the learner holds.
			for _, c := range []struct {
				carry    Carry
				from, to State
			}{{s.ToA, tt.b, tt.a}, {s.ToB, tt.a, tt.b}} {
				if !c.carry.Commit {
					continue
				}
				if c.carry.Ballot != c.from.Committed || !c.carry.Value.Equal(c.from.Value) {
					t.Fatalf("taught %v %v, not the teacher's settled state %+v", c.carry.Ballot, c.carry.Value, c.from)
				}
				after := c.to.Learn(c.carry.Ballot, c.carry.Value)
				if after.Promised.Less(c.to.Promised) || after.Accepted.Less(c.to.Accepted) || after.Committed.Less(c.to.Committed) {
					t.Fatalf("commit lowered %+v to %+v", c.to, after)
				}
				if after.Committed != c.from.Committed {
					t.Fatalf("the learner does not know %v committed: %+v", c.from.Committed, after)
				}
			}
		})
	}

	t.Run("two acceptors that exchanged once have nothing left to exchange", func(t *testing.T) {
		pairs := [][2]State{
			{settled(b1, live(b1, "x")), State{}},
			{accepted(b2, live(b2, "y"), b1), settled(b2, live(b2, "y"))},
			{settled(b1, live(b1, "x")), settled(b2, live(b2, "y"))},
		}
		for _, p := range pairs {
			a, b := p[0], p[1]
			s := SyncOf(a, b, stale)
			if s.ToA.Commit {
				a = a.Commit(s.ToA.Ballot, s.ToA.Value)
			}
			if s.ToB.Commit {
				b = b.Commit(s.ToB.Ballot, s.ToB.Value)
			}
			if again := SyncOf(a, b, stale); again.ToA.Commit || again.ToB.Commit {
				t.Fatalf("%+v / %+v: a second exchange still teaches %+v", a, b, again)
			}
		}
	})
}
