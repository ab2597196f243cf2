package membership

import (
	"fmt"
	"slices"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/ring"
)

func TestStepTransition(t *testing.T) {
	type state map[string]map[string]string // member -> key -> value
	transition := func(statuses map[string]string) *ring.Transition {
		tr, err := ring.NewTransition(statuses, 16, 2)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	stable := transition(map[string]string{"a": RingNormal, "b": RingNormal, "c": RingNormal})
	join := transition(map[string]string{"a": RingNormal, "b": RingNormal, "c": RingJoining})
	leave := transition(map[string]string{"a": RingNormal, "b": RingNormal, "c": RingLeaving})
	k := join.Key
	lk := leave.Key
	tests := []struct {
		rule   string
		self   string
		t      *ring.Transition
		live   []string
		known  []string
		states state
		hints  int64
		want   TransitionStep
	}{
		{
			rule: "stable ring: a joining node turns normal once it has met another live member",
			self: "c", t: transition(map[string]string{"c": RingJoining, "d": RingJoining}), live: []string{"c", "d"},
			states: state{"c": {KeyStatus: RingJoining}},
			want:   TransitionStep{Set: []KeyValue{{KeyStatus, RingNormal}}},
		},
		{
			rule: "stable ring: a joining node that has met no one stays joining",
			self: "c", t: transition(map[string]string{"c": RingJoining}), live: []string{"c"},
			states: state{"c": {KeyStatus: RingJoining}},
			want:   TransitionStep{},
		},
		{
			rule: "stable ring: a normal node has nothing to do",
			self: "a", t: stable, live: []string{"a", "b", "c"},
			states: state{"a": {KeyStatus: RingNormal}},
			want:   TransitionStep{},
		},
		{
			rule: "a node announces once that it has seen the transition",
			self: "a", t: join, live: []string{"a", "b", "c"},
			states: state{"a": {KeyStatus: RingNormal}},
			want:   TransitionStep{Set: []KeyValue{{KeyTransitionSeen, k}}},
		},
		{
			rule: "transfers start only when every live member of either ring has seen it, the node's own announcement included",
			self: "a", t: join, live: []string{"a", "b", "c"},
			states: state{"a": {KeyStatus: RingNormal}, "b": {KeyTransitionSeen: k}, "c": {KeyStatus: RingJoining, KeyTransitionSeen: k}},
			want:   TransitionStep{Set: []KeyValue{{KeyTransitionSeen, k}}, AllSeen: true},
		},
		{
			rule: "a member seen for another transition has not seen this one",
			self: "a", t: join, live: []string{"a", "b", "c"},
			states: state{"a": {KeyTransitionSeen: k}, "b": {KeyTransitionSeen: "older"}, "c": {KeyTransitionSeen: k}},
			want:   TransitionStep{},
		},
		{
			rule: "a down member, and a member of neither ring, are not waited for",
			self: "a", t: join, live: []string{"a", "c", "x"},
			states: state{"a": {KeyTransitionSeen: k}, "c": {KeyTransitionSeen: k}},
			want:   TransitionStep{AllSeen: true},
		},
		{
			rule: "a joining node turns normal when every live member has seen the transition and is done",
			self: "c", t: join, live: []string{"a", "b", "c"},
			states: state{"a": {KeyTransitionSeen: k, KeyTransitionDone: k}, "b": {KeyTransitionSeen: k, KeyTransitionDone: k},
				"c": {KeyStatus: RingJoining, KeyTransitionSeen: k, KeyTransitionDone: k}},
			want: TransitionStep{Set: []KeyValue{{KeyStatus, RingNormal}}, AllSeen: true, Done: []string{"a", "b", "c"}},
		},
		{
			rule: "a joining node stays joining while a live member has not finished",
			self: "c", t: join, live: []string{"a", "b", "c"},
			states: state{"a": {KeyTransitionSeen: k, KeyTransitionDone: k}, "b": {KeyTransitionSeen: k},
				"c": {KeyStatus: RingJoining, KeyTransitionSeen: k, KeyTransitionDone: k}},
			want: TransitionStep{AllSeen: true, Done: []string{"a", "c"}},
		},
		{
			rule: "a leaving node turns left once all are done and it keeps no hints",
			self: "c", t: leave, live: []string{"a", "b", "c"},
			states: state{"a": {KeyTransitionSeen: lk, KeyTransitionDone: lk}, "b": {KeyTransitionSeen: lk, KeyTransitionDone: lk},
				"c": {KeyStatus: RingLeaving, KeyTransitionSeen: lk, KeyTransitionDone: lk}},
			want: TransitionStep{Set: []KeyValue{{KeyStatus, RingLeft}}, AllSeen: true, Done: []string{"a", "b", "c"}},
		},
		{
			rule: "a leaving node that keeps hints stays leaving: once it has left, replicas refuse its data",
			self: "c", t: leave, live: []string{"a", "b", "c"}, hints: 3,
			states: state{"a": {KeyTransitionSeen: lk, KeyTransitionDone: lk}, "b": {KeyTransitionSeen: lk, KeyTransitionDone: lk},
				"c": {KeyStatus: RingLeaving, KeyTransitionSeen: lk, KeyTransitionDone: lk}},
			want: TransitionStep{AllSeen: true, Done: []string{"a", "b", "c"}},
		},
		{
			rule: "dead members this node removed turn left when the transition is done, others are left alone",
			self: "a", t: leave, live: []string{"a", "b"}, known: []string{"a", "b", "c", "d"},
			states: state{"a": {KeyTransitionSeen: lk, KeyTransitionDone: lk, KeyRemovedPrefix + "c": RingLeaving, KeyRemovedPrefix + "d": RingLeft},
				"b": {KeyTransitionSeen: lk, KeyTransitionDone: lk, KeyRemovedPrefix + "x": RingLeaving}},
			want: TransitionStep{Set: []KeyValue{{KeyRemovedPrefix + "c", RingLeft}}, AllSeen: true, Done: []string{"a", "b"}},
		},
		{
			rule: "a removal is not ended before the transition is done",
			self: "a", t: leave, live: []string{"a", "b"}, known: []string{"a", "b", "c"},
			states: state{"a": {KeyTransitionSeen: lk, KeyTransitionDone: lk, KeyRemovedPrefix + "c": RingLeaving}, "b": {KeyTransitionSeen: lk}},
			want:   TransitionStep{AllSeen: true, Done: []string{"a"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			got := StepTransition(TransitionInput{
				Self: tt.self, Transition: tt.t, Live: tt.live, Known: tt.known, Hints: tt.hints,
				Value: func(id, key string) string { return tt.states[id][key] },
			})
			if fmt.Sprint(got.Set) != fmt.Sprint(tt.want.Set) || got.AllSeen != tt.want.AllSeen || !slices.Equal(got.Done, tt.want.Done) {
				t.Fatalf("\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
