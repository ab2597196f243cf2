package membership

import "testing"

func TestNewcomer(t *testing.T) {
	type answer struct {
		addr    string
		peerNew bool
		was     string
	}
	three := []string{"a:1", "b:1", "c:1"}
	five := []string{"a:1", "b:1", "c:1", "d:1", "e:1"}
	tests := []struct {
		rule    string
		own     string
		seeds   []string
		added   []string // seeds added by a later Join, before the answers
		answers []answer
		want    NewcomerDecision
	}{
		{rule: "no answer yet: undecided", own: "a:1", seeds: three, want: NewcomerUndecided},
		{rule: "a seed list of only itself: nobody to ask, it joins", own: "a:1", seeds: []string{"a:1"}, want: NewcomerJoin},
		{rule: "a member that does not know this id: join", own: "a:1", seeds: three,
			answers: []answer{{"b:1", false, ""}}, want: NewcomerJoin},
		{rule: "a member that knew this id as normal: take the place back", own: "a:1", seeds: three,
			answers: []answer{{"b:1", false, RingNormal}}, want: NewcomerTakeBack},
		{rule: "a member that knew this id as leaving: it was on its way out, so join", own: "a:1", seeds: three,
			answers: []answer{{"b:1", false, RingLeaving}}, want: NewcomerJoin},
		{rule: "a member that knew this id as joining: join again", own: "a:1", seeds: three,
			answers: []answer{{"b:1", false, RingJoining}}, want: NewcomerJoin},
		{rule: "three seeds: one other newcomer makes a majority, the cluster is new", own: "a:1", seeds: three,
			answers: []answer{{"b:1", true, ""}}, want: NewcomerJoin},
		{rule: "five seeds: one other newcomer is no majority", own: "a:1", seeds: five,
			answers: []answer{{"b:1", true, ""}}, want: NewcomerUndecided},
		{rule: "five seeds: two other newcomers and itself are a majority", own: "a:1", seeds: five,
			answers: []answer{{"b:1", true, ""}, {"c:1", true, ""}}, want: NewcomerJoin},
		{rule: "the same newcomer answering twice counts once", own: "a:1", seeds: five,
			answers: []answer{{"b:1", true, ""}, {"b:1", true, ""}}, want: NewcomerUndecided},
		{rule: "a newcomer outside the seed list does not count", own: "a:1", seeds: five,
			answers: []answer{{"b:1", true, ""}, {"z:1", true, ""}}, want: NewcomerUndecided},
		{rule: "its own address answering (listed under another name) does not count twice", own: "a:1", seeds: five,
			answers: []answer{{"b:1", true, ""}, {"a:1", true, ""}}, want: NewcomerUndecided},
		{rule: "a seed list without itself: one other newcomer of two seeds is a majority", own: "a:1", seeds: []string{"b:1", "c:1"},
			answers: []answer{{"c:1", true, ""}}, want: NewcomerJoin},
		{rule: "a member answering after newcomers still decides from its record", own: "a:1", seeds: five,
			answers: []answer{{"b:1", true, ""}, {"c:1", false, RingNormal}}, want: NewcomerTakeBack},
		{rule: "the decision stays: a later member's record does not change a join", own: "a:1", seeds: three,
			answers: []answer{{"b:1", true, ""}, {"c:1", false, RingNormal}}, want: NewcomerJoin},
		{rule: "seeds a Join adds raise the majority", own: "a:1", seeds: three, added: []string{"d:1", "e:1"},
			answers: []answer{{"b:1", true, ""}}, want: NewcomerUndecided},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			n := NewNewcomer(tt.own, tt.seeds)
			n.AddSeeds(tt.added)
			for _, a := range tt.answers {
				n.Heard(a.addr, a.peerNew, a.was)
			}
			if n.Decided != tt.want {
				t.Errorf("decided %v, want %v", n.Decided, tt.want)
			}
		})
	}
}

func TestAcceptorOrigin(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		origin                  AcceptorOrigin
		newcomer, seeded, saved bool
		want                    AcceptorOrigin
	}{
		{"a directory that kept its state keeps it", AcceptorsKept, false, true, true, AcceptorsKept},
		{"a lost state stays lost until its partitions are rebuilt", AcceptorsLost, false, true, true, AcceptorsLost},
		{"a newcomer stays undecided until it decides", AcceptorsUndecided, true, true, false, AcceptorsUndecided},
		{"a new node without seeds starts its own cluster: nothing lost", AcceptorsUndecided, false, false, false, AcceptorsKept},
		{"an undecided start with saved members stopped mid-entry: counted lost", AcceptorsUndecided, false, true, true, AcceptorsLost},
		{"an undecided start without seeds but with saved members: counted lost", AcceptorsUndecided, false, false, true, AcceptorsLost},
	} {
		if got := AcceptorOriginAtStart(tc.origin, tc.newcomer, tc.seeded, tc.saved); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	for d, want := range map[NewcomerDecision]AcceptorOrigin{
		NewcomerTakeBack:  AcceptorsLost,      // a member back with an empty disk lost its promises
		NewcomerJoin:      AcceptorsKept,      // a new member had none
		NewcomerUndecided: AcceptorsUndecided, // nothing known yet
	} {
		if got := AcceptorOriginDecided(d); got != want {
			t.Errorf("decision %v: %v, want %v", d, got, want)
		}
	}
}
