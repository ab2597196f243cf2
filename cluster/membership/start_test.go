package membership

import (
	"math"
	"testing"
)

func TestStartOf(t *testing.T) {
	saved := func(status string, generation int64) []NodeState {
		return []NodeState{
			{ID: "n1", Generation: generation, App: map[string]Versioned{KeyStatus: {Value: status, Version: 3}}},
			{ID: "n2", Generation: 5, App: map[string]Versioned{KeyStatus: {Value: RingNormal, Version: 1}}},
		}
	}
	seeds := []string{"a:1", "b:1", "c:1"}
	tests := []struct {
		rule string
		in   StartInput
		want Start
		// newcomer: a decision is left to take on the seeds' answers.
		newcomer bool
	}{
		{rule: "without seeds or saved members a node starts a cluster of its own, normal, and kept its acceptor state (it had none)",
			in:   StartInput{Self: "n1", Addr: "a:1", Ring: true, Generation: 100, Origin: AcceptorsUndecided},
			want: Start{Status: RingNormal, Generation: 100, Origin: AcceptorsKept, Why: "start"}},
		{rule: "with seeds on a new data directory a node joins, and waits for the seeds' answers before it decides its acceptor state",
			in:   StartInput{Self: "n1", Addr: "a:1", Seeds: seeds, Ring: true, Generation: 100, Origin: AcceptorsUndecided},
			want: Start{Status: RingJoining, Generation: 100, Origin: AcceptorsUndecided}, newcomer: true},
		{rule: "a seed list of only itself decides at once: it joins as a new member, its acceptor state kept",
			in:   StartInput{Self: "n1", Addr: "a:1", Seeds: []string{"a:1"}, Ring: true, Generation: 100, Origin: AcceptorsUndecided},
			want: Start{Status: RingJoining, Generation: 100, Origin: AcceptorsKept, Why: "a seed list of only this node"}},
		{rule: "a restarted node keeps its saved ring status, seeds or not, and is no newcomer",
			in:   StartInput{Self: "n1", Addr: "a:1", Seeds: seeds, Ring: true, Generation: 100, Saved: saved(RingLeaving, 50), Origin: AcceptorsKept},
			want: Start{Status: RingLeaving, Generation: 100, Origin: AcceptorsKept}},
		{rule: "a restarted node still undecided (it stopped mid-entry) counts its acceptor state lost",
			in:   StartInput{Self: "n1", Addr: "a:1", Seeds: seeds, Ring: true, Generation: 100, Saved: saved(RingJoining, 50), Origin: AcceptorsUndecided},
			want: Start{Status: RingJoining, Generation: 100, Origin: AcceptorsLost, Why: "start"}},
		{rule: "a clock stepped back below the last start's generation: the generation follows the last one",
			in:   StartInput{Self: "n1", Addr: "a:1", Ring: true, Generation: 100, Saved: saved(RingNormal, 120), Origin: AcceptorsKept},
			want: Start{Status: RingNormal, Generation: 121, RaisedFrom: 120, Origin: AcceptorsKept}},
		{rule: "a saved generation equal to the clock's is raised past it",
			in:   StartInput{Self: "n1", Addr: "a:1", Ring: true, Generation: 100, Saved: saved(RingNormal, 100), Origin: AcceptorsKept},
			want: Start{Status: RingNormal, Generation: 101, RaisedFrom: 100, Origin: AcceptorsKept}},
		{rule: "a saved generation at the largest value cannot be raised past: the clock's is kept",
			in:   StartInput{Self: "n1", Addr: "a:1", Ring: true, Generation: 100, Saved: saved(RingNormal, math.MaxInt64), Origin: AcceptorsKept},
			want: Start{Status: RingNormal, Generation: 100, Origin: AcceptorsKept}},
		{rule: "a saved state that is not a ring status is not taken",
			in:   StartInput{Self: "n1", Addr: "a:1", Ring: true, Generation: 100, Saved: saved("", 50), Origin: AcceptorsKept},
			want: Start{Status: RingNormal, Generation: 100, Origin: AcceptorsKept}},
		{rule: "a gossip-only member has no newcomer decision and records no acceptor state",
			in:   StartInput{Self: "n1", Addr: "a:1", Seeds: seeds, Generation: 100, Origin: AcceptorsUndecided},
			want: Start{Status: RingNormal, Generation: 100, Origin: AcceptorsUndecided}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			got := StartOf(tt.in)
			if (got.Newcomer != nil) != tt.newcomer {
				t.Fatalf("newcomer %v, want %v", got.Newcomer != nil, tt.newcomer)
			}
			got.Newcomer = nil
			if got != tt.want {
				t.Fatalf("%+v, want %+v", got, tt.want)
			}
		})
	}
}
