package transfer

import (
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"
)

func TestPlanRebuilds(t *testing.T) {
	const delay = 15 * time.Second
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	later := started.Add(delay)
	in := func(ps ...int) func(int) bool { return func(p int) bool { return slices.Contains(ps, p) } }
	all := func(int) bool { return true }
	none := func(int) bool { return false }
	// due is the state of a node that lost its acceptor state, in the
	// transition "t2" of a ring of 8 partitions, voting on all of them.
	due := func(edit func(*RebuildState)) RebuildState {
		s := RebuildState{AcceptorsLost: true, Started: started, Delay: delay, Concurrency: 2,
			InTransition: true, Transition: "t2", Partitions: 8, IsVoter: all, Rebuilt: none}
		if edit != nil {
			edit(&s)
		}
		return s
	}
	for _, tc := range []struct {
		name  string
		state RebuildState
		now   time.Time
		want  RebuildPlan
	}{
		{"a node that did not lose its acceptor state rebuilds nothing",
			due(func(s *RebuildState) { s.AcceptorsLost = false; s.Running = map[int]string{0: "t1"} }), later, RebuildPlan{}},
		{"no rebuild starts before RebuildDelay has passed",
			due(nil), later.Add(-time.Nanosecond), RebuildPlan{}},
		{"no rebuild is stopped before RebuildDelay has passed",
			due(func(s *RebuildState) { s.Running = map[int]string{0: "t1"} }), later.Add(-time.Nanosecond), RebuildPlan{}},
		{"rebuilds start once RebuildDelay has passed, lowest partitions first, up to the concurrency limit",
			due(nil), later, RebuildPlan{Start: []int{0, 1}}},
		{"without a ring transition in view nothing starts or stops",
			due(func(s *RebuildState) {
				s.InTransition, s.Transition, s.Partitions, s.IsVoter, s.Rebuilt = false, "", 0, nil, nil
				s.Running = map[int]string{0: "t1"}
			}), later, RebuildPlan{}},
		{"a partition the node is not a voter of is not rebuilt",
			due(func(s *RebuildState) { s.IsVoter = in(2, 5, 7) }), later, RebuildPlan{Start: []int{2, 5}}},
		{"a partition already rebuilt is not rebuilt again",
			due(func(s *RebuildState) { s.Rebuilt = in(0, 1, 2) }), later, RebuildPlan{Start: []int{3, 4}}},
		{"a partition being rebuilt in the transition is not started again",
			due(func(s *RebuildState) { s.Concurrency = 3; s.Running = map[int]string{0: "t2"} }), later, RebuildPlan{Start: []int{1, 2}}},
		{"rebuilds running in the transition count against the concurrency limit",
			due(func(s *RebuildState) { s.Running = map[int]string{3: "t2", 5: "t2"} }), later, RebuildPlan{}},
		{"rebuilds of another transition are stopped, and their partitions started again in this one",
			due(func(s *RebuildState) { s.Running = map[int]string{0: "t1", 4: "t1"} }), later, RebuildPlan{Stop: []int{0, 4}, Start: []int{0, 1}}},
		{"rebuilds of another transition are stopped even when none is due",
			due(func(s *RebuildState) { s.Rebuilt = all; s.Running = map[int]string{6: "t1"} }), later, RebuildPlan{Stop: []int{6}}},
		{"every partition rebuilt: nothing to do",
			due(func(s *RebuildState) { s.Rebuilt = all }), later, RebuildPlan{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := PlanRebuilds(tc.state, tc.now)
			sort.Ints(got.Stop) // the order of stops does not matter
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("PlanRebuilds = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRebuildCounts(t *testing.T) {
	for _, tc := range []struct {
		name         string
		rebuiltIn    string
		current      string
		inTransition bool
		want         bool
	}{
		{"a partition is marked rebuilt only if the transition is unchanged", "t2", "t2", true, true},
		{"a rebuild read in another transition is not counted", "t1", "t2", true, false},
		{"a rebuild is not counted while the view has no transition", "t2", "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := RebuildCounts(tc.rebuiltIn, tc.current, tc.inTransition); got != tc.want {
				t.Fatalf("RebuildCounts(%q, %q, %v) = %v, want %v", tc.rebuiltIn, tc.current, tc.inTransition, got, tc.want)
			}
		})
	}
}

// handoffEvent is one thing a handoff sees: the transition (begin) or the
// end of a transfer (finished).
type handoffEvent struct {
	begin         bool
	ready, stable bool
	key           string
	partition     int
}

func begin(ready, stable bool) handoffEvent {
	return handoffEvent{begin: true, ready: ready, stable: stable}
}

func finished(key string, p int) handoffEvent {
	return handoffEvent{key: key, partition: p}
}

func TestHandoff(t *testing.T) {
	for _, tc := range []struct {
		name        string
		partitions  []int
		concurrency int
		events      []handoffEvent
		want        HandoffStep // of the last event
	}{
		{"handoff does not start before every member writes to both rings", []int{3, 5, 9}, 2,
			[]handoffEvent{begin(false, false)}, HandoffStep{}},
		{"handoff does not start in a stable ring", []int{3, 5, 9}, 2,
			[]handoffEvent{begin(true, true)}, HandoffStep{}},
		{"handoff starts when ready, up to the concurrency limit, in order", []int{3, 5, 9}, 2,
			[]handoffEvent{begin(false, false), begin(true, false)}, HandoffStep{Start: []int{0, 1}}},
		{"handoff starts only once", []int{3, 5, 9}, 2,
			[]handoffEvent{begin(true, false), begin(true, false)}, HandoffStep{}},
		{"a finished transfer frees its place for the next move", []int{3, 5, 9}, 2,
			[]handoffEvent{begin(true, false), finished("t", 5)}, HandoffStep{Start: []int{2}}},
		{"a transfer of another transition is ignored", []int{3, 5, 9}, 2,
			[]handoffEvent{begin(true, false), finished("old", 5)}, HandoffStep{}},
		{"done is not published while a move is unfinished", []int{3, 5, 9}, 2,
			[]handoffEvent{begin(true, false), finished("t", 3), finished("t", 5)}, HandoffStep{}},
		{"done is published once every move has finished", []int{3, 5, 9}, 2,
			[]handoffEvent{begin(true, false), finished("t", 3), finished("t", 5), finished("t", 9)}, HandoffStep{Done: true}},
		{"a node that receives nothing is done as soon as the handoff starts", nil, 2,
			[]handoffEvent{begin(true, false)}, HandoffStep{Done: true}},
		{"a node that receives nothing is not done in a stable ring", nil, 2,
			[]handoffEvent{begin(true, true)}, HandoffStep{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHandoff("t", tc.partitions, tc.concurrency)
			var got HandoffStep
			for _, e := range tc.events {
				if e.begin {
					got = h.Begin(e.ready, e.stable)
				} else {
					got = h.Finished(e.key, e.partition)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("last step = %+v, want %+v", got, tc.want)
			}
		})
	}
}
