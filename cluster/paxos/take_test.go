package paxos

import "testing"

func TestTakingCarriedStates(t *testing.T) {
	low := Ballot{Round: 100, Node: "a", Incarnation: 1, Seq: 1}
	mid := Ballot{Round: 200, Node: "b", Incarnation: 1, Seq: 1}
	high := Ballot{Round: 300, Node: "c", Incarnation: 1, Seq: 1}
	v := Value{Exists: true, Data: []byte("v"), Version: mid}
	newer := Value{Exists: true, Data: []byte("newer"), Version: high}
	commit := func(b Ballot, val Value, promised Ballot) Carry {
		return Carry{Commit: true, Ballot: b, Value: val, Promised: promised}
	}
	settled := func(b Ballot, val Value) State { return State{Promised: b, Accepted: b, Value: val, Committed: b} }
	tests := []struct {
		rule string
		st   State
		c    Carry
		kind PageKind
		want State
	}{
		{"a transfer's commit is taken whole by a voter holding nothing",
			State{}, commit(mid, v, high), TransferPage, settled(mid, v)},
		{"a transfer's commit is taken whole even by a voter holding nothing under a promise above it",
			EmptyAt(high), commit(mid, v, high), TransferPage, State{Promised: high, Accepted: mid, Value: v, Committed: mid}},
		{"a transfer does not raise the promise to the peer's",
			State{}, Carry{Promised: high}, TransferPage, State{}},
		{"a rebuild raises the promise to the peer's",
			EmptyAt(low), Carry{Promised: high}, RebuildPage, EmptyAt(high)},
		{"a rebuild never lowers a higher promise",
			EmptyAt(high), Carry{Promised: low}, RebuildPage, EmptyAt(high)},
		{"a rebuild's commit is taken whole, under the raised promise",
			EmptyAt(low), commit(mid, v, high), RebuildPage, State{Promised: high, Accepted: mid, Value: v, Committed: mid}},
		{"a rebuild's commit is taken whole even by a voter holding nothing under a promise above it",
			EmptyAt(high), commit(mid, v, mid), RebuildPage, State{Promised: high, Accepted: mid, Value: v, Committed: mid}},
		{"an exchange's commit is ignored by a voter holding nothing under a promise above it",
			EmptyAt(high), commit(mid, v, mid), ExchangePage, EmptyAt(high)},
		{"an exchange's commit is ignored by a voter holding nothing under a promise at it",
			EmptyAt(mid), commit(mid, v, mid), ExchangePage, EmptyAt(mid)},
		{"an exchange's commit above the promise of a voter holding nothing is taken",
			EmptyAt(low), commit(mid, v, mid), ExchangePage, settled(mid, v)},
		{"an exchange's commit is taken by a voter holding something, whatever its promise",
			State{Promised: high, Accepted: low, Value: Value{Version: low}, Committed: low}, commit(mid, v, mid), ExchangePage,
			State{Promised: high, Accepted: mid, Value: v, Committed: mid}},
		{"an exchange does not raise the promise to the peer's",
			EmptyAt(low), Carry{Promised: high}, ExchangePage, EmptyAt(low)},
		{"a commit below a newer accepted value leaves that value",
			State{Promised: high, Accepted: high, Value: newer}, commit(mid, v, mid), TransferPage,
			State{Promised: high, Accepted: high, Value: newer, Committed: mid}},
		{"a voter holding nothing under a floor raised to the source's ignores an exchange's commit from before it",
			EmptyAt(TakeFloor(low, high)), commit(mid, v, mid), ExchangePage, EmptyAt(high)},
		{"a register to complete carries no value to take",
			EmptyAt(low), Carry{Complete: true, Promised: high}, TransferPage, EmptyAt(low)},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			if got := tt.st.Take(tt.c, tt.kind); !got.Equal(tt.want) {
				t.Fatalf("Take = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestTakingTheSourcesFloor(t *testing.T) {
	low := Ballot{Round: 100}
	high := Ballot{Round: 900}
	sameRound := Ballot{Round: 900, Node: "n", Incarnation: 1, Seq: 1}
	tests := []struct {
		rule          string
		floor, source Ballot
		want          Ballot
	}{
		{"a source's higher floor is taken", low, high, high},
		{"a source's lower floor never lowers this one", high, low, high},
		{"a source's equal floor changes nothing", high, high, high},
		{"a source with no floor changes nothing", high, Ballot{}, high},
		{"a floor is raised to a source's ballot of its round that orders above it", high, sameRound, sameRound},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			if got := TakeFloor(tt.floor, tt.source); got != tt.want {
				t.Fatalf("TakeFloor = %v, want %v", got, tt.want)
			}
		})
	}
}
