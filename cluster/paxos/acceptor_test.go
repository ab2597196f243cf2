package paxos

import "testing"

func ballot(round uint64, node string) Ballot {
	return Ballot{Round: round, Node: node, Incarnation: 1, Seq: round}
}

func value(data string, at Ballot) Value { return Value{Exists: true, Data: []byte(data), Version: at} }

func TestAcceptor(t *testing.T) {
	b1, b2, b3 := ballot(1, "a"), ballot(2, "a"), ballot(3, "b")
	v1, v2 := value("one", b1), value("two", b2)
	type step func(State) (State, any)
	prepare := func(b Ballot) step { return func(s State) (State, any) { return s.Prepare(b) } }
	accept := func(b Ballot, v Value) step { return func(s State) (State, any) { return s.Accept(b, v) } }
	commit := func(b Ballot, v Value) step { return func(s State) (State, any) { return s.Commit(b, v), nil } }
	learn := func(b Ballot, v Value) step { return func(s State) (State, any) { return s.Learn(b, v), nil } }
	acceptNext := func(b Ballot, v Value, next Ballot) step {
		return func(s State) (State, any) { return s.AcceptNext(b, v, next) }
	}
	tests := []struct {
		rule      string
		state     State
		step      step
		wantState State
		wantReply any
	}{
		{rule: "a prepare above the promise is promised and reports the accepted value",
			state: State{Promised: b1, Accepted: b1, Value: v1, Committed: b1}, step: prepare(b2),
			wantState: State{Promised: b2, Accepted: b1, Value: v1, Committed: b1},
			wantReply: Promise{OK: true, Promised: b2, Accepted: b1, Value: v1, Committed: b1}},
		{rule: "a promise below the highest seen ballot is refused, naming it",
			state: State{Promised: b2}, step: prepare(b1),
			wantState: State{Promised: b2},
			wantReply: Promise{Promised: b2}},
		{rule: "a duplicate prepare of the promised ballot is promised again",
			state: State{Promised: b2}, step: prepare(b2),
			wantState: State{Promised: b2},
			wantReply: Promise{OK: true, Promised: b2}},
		{rule: "an accept that carries the proposer's next ballot promises it once taken",
			state: State{Promised: b1, Accepted: b1, Value: v1, Committed: b1}, step: acceptNext(b2, v2, b3),
			wantState: State{Promised: b3, Accepted: b2, Value: v2, Committed: b1},
			wantReply: Acceptance{OK: true, Promised: b3}},
		{rule: "an accept below the promise promises nothing, next ballot or not",
			state: State{Promised: b2}, step: acceptNext(b1, v1, b3),
			wantState: State{Promised: b2},
			wantReply: Acceptance{Promised: b2}},
		{rule: "a next ballot not above the accepted one is no promise",
			state: State{Promised: b1}, step: acceptNext(b2, v2, b1),
			wantState: State{Promised: b2, Accepted: b2, Value: v2},
			wantReply: Acceptance{OK: true, Promised: b2}},
		{rule: "an accept at the promised ballot is taken",
			state: State{Promised: b2, Accepted: b1, Value: v1, Committed: b1}, step: accept(b2, v2),
			wantState: State{Promised: b2, Accepted: b2, Value: v2, Committed: b1},
			wantReply: Acceptance{OK: true, Promised: b2}},
		{rule: "an accept above the promise is taken and raises the promise",
			state: State{Promised: b1}, step: accept(b2, v2),
			wantState: State{Promised: b2, Accepted: b2, Value: v2},
			wantReply: Acceptance{OK: true, Promised: b2}},
		{rule: "an accept below the promise is refused, naming it",
			state: State{Promised: b3}, step: accept(b2, v2),
			wantState: State{Promised: b3},
			wantReply: Acceptance{Promised: b3}},
		{rule: "a commit of the accepted ballot settles it",
			state: State{Promised: b2, Accepted: b2, Value: v2, Committed: b1}, step: commit(b2, v2),
			wantState: State{Promised: b2, Accepted: b2, Value: v2, Committed: b2}},
		{rule: "a commit teaches a replica that missed the accept the value, and raises its promise",
			state: State{Promised: b1, Accepted: b1, Value: v1, Committed: b1}, step: commit(b2, v2),
			wantState: State{Promised: b2, Accepted: b2, Value: v2, Committed: b2}},
		{rule: "a commit older than the accepted value leaves the newer value in flight",
			state: State{Promised: b3, Accepted: b3, Value: value("three", b3), Committed: b1}, step: commit(b2, v2),
			wantState: State{Promised: b3, Accepted: b3, Value: value("three", b3), Committed: b2}},
		{rule: "a commit older than what is committed changes nothing",
			state: State{Promised: b2, Accepted: b2, Value: v2, Committed: b2}, step: commit(b1, v1),
			wantState: State{Promised: b2, Accepted: b2, Value: v2, Committed: b2}},
		{rule: "a told commit teaches an acceptor that holds nothing under a lower promise",
			state: State{Promised: b1}, step: learn(b2, v2),
			wantState: State{Promised: b2, Accepted: b2, Value: v2, Committed: b2}},
		{rule: "a told commit at or below the promise of an acceptor that holds nothing is ignored (its floor: the register may have been dropped there)",
			state: EmptyAt(b3), step: learn(b2, v2),
			wantState: EmptyAt(b3)},
		{rule: "a told tombstone under the floor of an acceptor that holds nothing is ignored",
			state: EmptyAt(b3), step: learn(b2, Value{Version: b2}),
			wantState: EmptyAt(b3)},
		{rule: "a told commit at the promise of an acceptor that holds nothing is ignored too (its accept was lost)",
			state: State{Promised: b2}, step: learn(b2, v2),
			wantState: State{Promised: b2}},
		{rule: "a told commit below the promise of an acceptor that accepted a value is learned as Commit",
			state: State{Promised: b3, Accepted: b1, Value: v1, Committed: b1}, step: learn(b2, v2),
			wantState: State{Promised: b3, Accepted: b2, Value: v2, Committed: b2}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			got, reply := tt.step(tt.state)
			if !got.Equal(tt.wantState) {
				t.Errorf("state %+v, want %+v", got, tt.wantState)
			}
			if tt.wantReply != nil && !repliesEqual(reply, tt.wantReply) {
				t.Errorf("reply %+v, want %+v", reply, tt.wantReply)
			}
			if got.Promised.Less(got.Accepted) || got.Accepted.Less(got.Committed) {
				t.Errorf("invariant committed <= accepted <= promised broken: %+v", got)
			}
		})
	}
}

func repliesEqual(a, b any) bool {
	switch x := a.(type) {
	case Promise:
		y, ok := b.(Promise)
		return ok && x.OK == y.OK && x.Promised == y.Promised && x.Accepted == y.Accepted && x.Committed == y.Committed && x.Value.Equal(y.Value)
	case Acceptance:
		y, ok := b.(Acceptance)
		return ok && x == y
	}
	return false
}

func TestBallotOrder(t *testing.T) {
	order := []Ballot{
		{},
		{Round: 1, Node: "a", Incarnation: 1, Seq: 9},
		{Round: 1, Node: "a", Incarnation: 2, Seq: 1},
		{Round: 1, Node: "b", Incarnation: 1, Seq: 1},
		{Round: 2, Node: "a", Incarnation: 1, Seq: 1},
	}
	for i := range order {
		for j := range order {
			if got, want := order[i].Less(order[j]), i < j; got != want {
				t.Errorf("%v < %v: %v, want %v", order[i], order[j], got, want)
			}
		}
	}
}

func TestCoveringReads(t *testing.T) {
	for _, tc := range []struct{ n, majority, covering int }{{1, 1, 1}, {2, 2, 1}, {3, 2, 2}, {4, 3, 2}, {5, 3, 3}, {7, 4, 4}} {
		if m, c := Majority(tc.n), CoveringReads(tc.n); m != tc.majority || c != tc.covering {
			t.Errorf("n=%d: majority %d, covering %d; want %d, %d", tc.n, m, c, tc.majority, tc.covering)
		}
		// Every quorum (every set of a majority) meets every set of
		// covering reads: together they are more than the group.
		if Majority(tc.n)+CoveringReads(tc.n) <= tc.n {
			t.Errorf("n=%d: a quorum and the covering reads can be disjoint", tc.n)
		}
	}
}

func TestCarryOf(t *testing.T) {
	b1 := Ballot{Round: 1, Node: "a", Incarnation: 1, Seq: 1}
	b2 := Ballot{Round: 2, Node: "b", Incarnation: 1, Seq: 2}
	b3 := Ballot{Round: 3, Node: "c", Incarnation: 1, Seq: 3}
	v1 := Value{Exists: true, Data: []byte("v1"), Version: b1}
	v2 := Value{Exists: true, Data: []byte("v2"), Version: b2}
	tomb := Value{Version: b2}
	for _, tc := range []struct {
		name string
		peer State
		want Carry
	}{
		{"nothing promised: nothing to carry", State{}, Carry{}},
		{"a promise alone carries no value, only the promise", State{Promised: b2}, Carry{Promised: b2}},
		{"a settled value is carried as a commit of its ballot", State{Promised: b3, Accepted: b1, Value: v1, Committed: b1},
			Carry{Commit: true, Ballot: b1, Value: v1, Promised: b3}},
		{"a settled value completed again keeps its version, carried at the committing ballot", State{Promised: b2, Accepted: b2, Value: v1, Committed: b2},
			Carry{Commit: true, Ballot: b2, Value: v1, Promised: b2}},
		{"a committed tombstone is carried like a value", State{Promised: b2, Accepted: b2, Value: tomb, Committed: b2},
			Carry{Commit: true, Ballot: b2, Value: tomb, Promised: b2}},
		{"accepted above committed: completed, not carried (the committed value is not held)", State{Promised: b2, Accepted: b2, Value: v2, Committed: b1},
			Carry{Complete: true, Promised: b2}},
		{"accepted and nothing committed: completed", State{Promised: b1, Accepted: b1, Value: v1},
			Carry{Complete: true, Promised: b1}},
		{"committed above accepted (never written so): completed, not trusted", State{Promised: b2, Accepted: b1, Value: v1, Committed: b2},
			Carry{Complete: true, Promised: b2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := CarryOf(tc.peer)
			if got.Commit != tc.want.Commit || got.Ballot != tc.want.Ballot || !got.Value.Equal(tc.want.Value) ||
				got.Complete != tc.want.Complete || got.Promised != tc.want.Promised {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRaise(t *testing.T) {
	lo, hi := Ballot{Round: 1, Node: "a"}, Ballot{Round: 2, Node: "a"}
	s := State{Promised: lo}.Raise(hi)
	if s.Promised != hi {
		t.Fatalf("raised to %s, want %s", s.Promised, hi)
	}
	if s = s.Raise(lo); s.Promised != hi {
		t.Fatal("a raise lowered the promise")
	}
	if _, pr := s.Prepare(lo); pr.OK {
		t.Fatal("a raised acceptor promised a lower ballot")
	}
}

func TestCovers(t *testing.T) {
	abc, bcd := []string{"a", "b", "c"}, []string{"b", "c", "d"}
	for _, tc := range []struct {
		name   string
		groups [][]string
		self   string
		read   []string
		want   bool
	}{
		{"a new replica reads 2 of the 3 current ones", [][]string{abc}, "x", []string{"a", "c"}, true},
		{"one of 3 misses a quorum", [][]string{abc}, "x", []string{"b"}, false},
		{"a rebuilt acceptor reads both others of 3", [][]string{abc}, "a", []string{"b", "c"}, true},
		{"a rebuilt acceptor's own state does not count", [][]string{abc}, "a", []string{"a", "b"}, false},
		{"joint groups: each group is covered", [][]string{abc, bcd}, "a", []string{"b", "c"}, true},
		{"joint groups: one group short", [][]string{abc, bcd}, "d", []string{"a", "b"}, false},
		{"reads of nodes outside the groups do not count", [][]string{abc}, "x", []string{"a", "y", "z"}, false},
		{"a rebuilt acceptor alone in its group has no one to read", [][]string{{"a"}}, "a", nil, true},
		{"a rebuilt acceptor of two reads the other", [][]string{{"a", "b"}}, "a", nil, false},
	} {
		if got := Covers(tc.groups, tc.self, tc.read); got != tc.want {
			t.Errorf("%s: Covers(%v, %s, %v) = %v", tc.name, tc.groups, tc.self, tc.read, got)
		}
	}
}
