package paxos

import (
	"testing"
	"time"
)

func TestReapScanChoosesWhatToEraseAndDrop(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	grace := time.Hour
	old := Ballot{Round: uint64(now.Add(-2 * time.Hour).UnixMicro()), Node: "a", Incarnation: 1, Seq: 1}
	recent := Ballot{Round: uint64(now.Add(-time.Minute).UnixMicro()), Node: "a", Incarnation: 1, Seq: 2}
	tomb := State{Promised: old, Accepted: old, Value: Value{Version: old}, Committed: old}
	young := State{Promised: recent, Accepted: recent, Value: Value{Version: recent}, Committed: recent}
	erased := State{Promised: recent, Accepted: recent, Committed: recent}
	live := State{Promised: old, Accepted: old, Value: Value{Exists: true, Data: []byte("v"), Version: old}, Committed: old}
	type scanned struct {
		st           State
		staged, live bool
	}
	tests := []struct {
		rule string
		max  int
		in   []scanned
		want []ReapChoice
		full bool
	}{
		{"a droppable state is listed to drop", 2,
			[]scanned{{erased, false, true}}, []ReapChoice{ReapDrop}, false},
		{"a droppable state of a deleted table is still listed to drop", 2,
			[]scanned{{erased, false, false}}, []ReapChoice{ReapDrop}, false},
		{"an erasable tombstone of a live table is listed to erase", 2,
			[]scanned{{tomb, false, true}}, []ReapChoice{ReapErase}, false},
		{"an erasable tombstone of a deleted table is left to its purge", 2,
			[]scanned{{tomb, false, false}}, []ReapChoice{ReapSkip}, false},
		{"a staged state is skipped: it is changing in this batch", 2,
			[]scanned{{erased, true, true}, {tomb, true, true}}, []ReapChoice{ReapSkip, ReapSkip}, false},
		{"a tombstone younger than the grace is left", 2,
			[]scanned{{young, false, true}}, []ReapChoice{ReapSkip}, false},
		{"a live value is never listed", 2,
			[]scanned{{live, false, true}}, []ReapChoice{ReapSkip}, false},
		{"drops beyond max are left, erases still listed", 1,
			[]scanned{{erased, false, true}, {erased, false, true}, {tomb, false, true}}, []ReapChoice{ReapDrop, ReapSkip, ReapErase}, true},
		{"erases beyond max are left, drops still listed", 1,
			[]scanned{{tomb, false, true}, {tomb, false, true}, {erased, false, true}}, []ReapChoice{ReapErase, ReapSkip, ReapDrop}, true},
		{"a skipped or left state counts toward neither list", 1,
			[]scanned{{tomb, false, false}, {erased, true, true}, {young, false, true}, {tomb, false, true}}, []ReapChoice{ReapSkip, ReapSkip, ReapSkip, ReapErase}, false},
		{"the scan is full only once both lists hold max", 2,
			[]scanned{{erased, false, true}, {erased, false, true}, {tomb, false, true}}, []ReapChoice{ReapDrop, ReapDrop, ReapErase}, false},
		{"a scan of max zero is full at once", 0,
			nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			scan := NewReapScan(now, grace, tt.max)
			for i, s := range tt.in {
				if got := scan.Choose(s.st, s.staged, s.live); got != tt.want[i] {
					t.Fatalf("state %d: Choose = %v, want %v", i, got, tt.want[i])
				}
			}
			if got := scan.Full(); got != tt.full {
				t.Fatalf("Full = %v, want %v", got, tt.full)
			}
		})
	}
}

func TestAnEraseBallotFarAheadIsIgnored(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	limit := time.Hour
	at := uint64(now.Add(limit).UnixMicro())
	tests := []struct {
		rule string
		b    Ballot
		want bool
	}{
		{"a ballot of a past round is within reach", Ballot{Round: uint64(now.Add(-time.Minute).UnixMicro()), Node: "a"}, false},
		{"a ballot ahead by less than the limit is within reach", Ballot{Round: at - 1, Node: "a"}, false},
		{"a ballot of the limit's own round orders past it (every proposer's names a node)", Ballot{Round: at, Node: "a"}, true},
		{"a ballot ahead by more than the limit is ignored", Ballot{Round: at + 1}, true},
		{"no erase named is never ahead", Ballot{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			if got := TooFarAhead(tt.b, now, limit); got != tt.want {
				t.Fatalf("TooFarAhead = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVoteToReap(t *testing.T) {
	b := func(round uint64) Ballot { return Ballot{Round: round, Node: "a", Incarnation: 1, Seq: round} }
	erase := b(100)
	erasedAt := func(e Ballot) State { return State{Promised: e, Accepted: e, Committed: e} }
	floorBelow := Ballot{Round: 50}
	aboveErase := Ballot{Round: erase.Round + 1}
	tests := []struct {
		rule          string
		st            State
		floor, erased Ballot
		commit        bool
		want          ReapVote
	}{
		{"asked, a voter holding the erased state agrees and drops nothing yet",
			erasedAt(erase), floorBelow, erase, false, ReapVote{Holds: true, Floor: floorBelow}},
		{"on a commit, a voter holding the erased state drops it and raises its floor above its promise",
			erasedAt(erase), floorBelow, erase, true, ReapVote{Holds: true, Drop: true, Floor: aboveErase}},
		{"on a commit, the floor rises above a dropped state's promise higher than the erase",
			State{Promised: b(300), Accepted: erase, Committed: erase}, floorBelow, erase, true, ReapVote{Holds: true, Drop: true, Floor: Ballot{Round: 301}}},
		{"on a commit, a floor already above the dropped state's promise is kept",
			erasedAt(erase), Ballot{Round: 500}, erase, true, ReapVote{Holds: true, Drop: true, Floor: Ballot{Round: 500}}},
		{"asked, a voter holding nothing agrees with its floor raised above the erase",
			EmptyAt(floorBelow), floorBelow, erase, false, ReapVote{Holds: true, Floor: aboveErase}},
		{"on a commit, a voter holding nothing agrees but has nothing to drop",
			EmptyAt(floorBelow), floorBelow, erase, true, ReapVote{Holds: true, Floor: aboveErase}},
		{"a voter holding the erased value at another ballot refuses and keeps it",
			erasedAt(b(200)), floorBelow, erase, true, ReapVote{Floor: floorBelow}},
		{"a voter holding a live value refuses and keeps it",
			State{Promised: erase, Accepted: erase, Value: Value{Exists: true, Version: erase}, Committed: erase}, floorBelow, erase, true, ReapVote{Floor: floorBelow}},
		{"no erase named: nothing is agreed, dropped or raised",
			EmptyAt(floorBelow), floorBelow, Ballot{}, true, ReapVote{Floor: floorBelow}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			if got := VoteToReap(tt.st, tt.floor, tt.erased, tt.commit); got != tt.want {
				t.Fatalf("VoteToReap = %+v, want %+v", got, tt.want)
			}
		})
	}
}
