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
