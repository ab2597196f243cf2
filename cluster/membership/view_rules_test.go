package membership

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/cluster/ring"
)

// ruleView is the View of self over members (id -> status, all of
// incarnation 7) whose ring statuses are statuses.
func ruleView(t *testing.T, self string, statuses map[string]string, members map[string]Status) *View {
	t.Helper()
	tr, err := ring.NewTransition(statuses, 16, 3)
	if err != nil {
		t.Fatal(err)
	}
	v := &View{Self: self, Ring: tr.Current, Transition: tr, RingStatuses: statuses, N: 3, Members: map[string]Member{}}
	for id, st := range members {
		v.Members[id] = Member{ID: id, Status: st, Incarnation: 7}
	}
	return v
}

func TestViewStandIns(t *testing.T) {
	ids := []string{"n1", "n2", "n3", "n4", "n5", "n6"}
	for _, tc := range []struct {
		rule string
		// replicas and fallbacks set the status of members by their place
		// in the partition's preference list and fallbacks; the others are
		// up. A leaving member leaves the ring too.
		replicas, fallbacks map[int]Status
		// want pairs replicas with fallbacks, by place; nil: StandIns is nil.
		want map[int]int
	}{
		{"with every replica up there are none", nil, nil, nil},
		{"a leaving replica still takes requests: it needs none", map[int]Status{0: Leaving}, nil, nil},
		{"a down replica gets the first fallback", map[int]Status{1: Down}, nil, map[int]int{1: 0}},
		{"a suspect replica is skipped like a down one", map[int]Status{0: Suspect}, nil, map[int]int{0: 0}},
		{"down replicas take fallbacks in preference order", map[int]Status{0: Down, 2: Down}, nil, map[int]int{0: 0, 2: 1}},
		{"a fallback that is down or suspect is passed over", map[int]Status{0: Down}, map[int]Status{0: Down, 1: Suspect}, map[int]int{0: 2}},
		{"a leaving fallback is passed over: it could never hand its hints over and leave", map[int]Status{0: Down}, map[int]Status{0: Leaving}, map[int]int{0: 1}},
		{"a down replica left over when the fallbacks run out has none", map[int]Status{0: Down, 1: Down}, map[int]Status{0: Down, 1: Left}, map[int]int{0: 2}},
		{"with no fallback up, down replicas have none", map[int]Status{0: Down}, map[int]Status{0: Down, 1: Down, 2: Down}, map[int]int{}},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			statuses, members := map[string]string{}, map[string]Status{}
			for _, id := range ids {
				statuses[id], members[id] = ring.StatusNormal, Up
			}
			base := ruleView(t, "n1", statuses, members)
			for p := range 16 {
				pref := base.Ring.PreferenceListForPartition(p, 3)
				fallbacks := base.Ring.Fallbacks(p, 3)
				st, ms := maps.Clone(statuses), maps.Clone(members)
				for places, list := range map[*map[int]Status][]string{&tc.replicas: pref, &tc.fallbacks: fallbacks} {
					for i, s := range *places {
						ms[list[i]] = s
						if s == Leaving {
							st[list[i]] = ring.StatusLeaving
						}
					}
				}
				v := ruleView(t, "n1", st, ms)
				// The current ring still holds a leaving member, in the same place.
				if got := v.Ring.Fallbacks(p, 3); !slices.Equal(got, fallbacks) {
					t.Fatalf("partition %d: fallbacks %v, then %v", p, fallbacks, got)
				}
				var want map[string]string
				if tc.want != nil {
					want = map[string]string{}
					for r, f := range tc.want {
						want[pref[r]] = fallbacks[f]
					}
				}
				got := v.StandIns(p, pref)
				if (got == nil) != (want == nil) || !maps.Equal(got, want) {
					t.Fatalf("partition %d (replicas %v, fallbacks %v): StandIns = %v, want %v", p, pref, fallbacks, got, want)
				}
			}
		})
	}
}

func TestViewAdmits(t *testing.T) {
	v := ruleView(t, "n1", map[string]string{"n1": ring.StatusNormal, "n2": ring.StatusNormal, "n3": ring.StatusLeft, "n4": ring.StatusLeaving},
		map[string]Status{"n1": Up, "n2": Down, "n3": Left, "n4": Leaving})
	for _, tc := range []struct {
		rule        string
		node        string
		incarnation uint64
		err         string // "": admitted
	}{
		{"this node itself, whatever the incarnation", "n1", 99, ""},
		{"a member, even one that looks down, of the incarnation known", "n2", 7, ""},
		{"a leaving member of the incarnation known", "n4", 7, ""},
		{"another incarnation of a member (wiped, or another cluster's) is refused", "n2", 8, "refused data from n2: incarnation 8, but the member is incarnation 7"},
		{"a node that left or was removed is refused", "n3", 7, "refused data from n3: it left the cluster or was removed"},
		{"a node never heard of is refused", "n9", 7, "refused data from n9: not a member of this cluster"},
		{"an unnamed sender is refused", "", 0, "refused data from an unnamed sender"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			got := ""
			if err := v.Admits(tc.node, tc.incarnation); err != nil {
				got = err.Error()
			}
			if got != tc.err {
				t.Fatalf("Admits(%q, %d) = %q, want %q", tc.node, tc.incarnation, got, tc.err)
			}
		})
	}
}

func TestViewAlone(t *testing.T) {
	const never = -1
	own := []string{"10.0.0.1:7000", "0.0.0.0:7000"}
	for _, tc := range []struct {
		rule    string
		members map[string]Member // besides self, heard from just now
		seeds   []string
		alone   bool
	}{
		{"a node that knows no one and has no seeds serves", nil, nil, false},
		{"a node whose seeds are only its own addresses serves", nil, own, false},
		{"a node given another seed waits until it hears from someone", nil, []string{"10.0.0.2:7000"}, true},
		{"a node that knows a member it has not heard from waits", map[string]Member{"n2": {Status: Down, HeartbeatAge: never}}, nil, true},
		{"a node that heard from another member serves, seeds or not", map[string]Member{"n2": {Status: Down, HeartbeatAge: never}, "n3": {Status: Up, HeartbeatAge: time.Second}}, []string{"10.0.0.2:7000"}, false},
		{"a member that left is not waited for", map[string]Member{"n2": {Status: Left, HeartbeatAge: never}}, nil, false},
		{"a member that left does not count as the cluster's word", map[string]Member{"n2": {Status: Left, HeartbeatAge: time.Second}}, []string{"10.0.0.2:7000"}, true},
		{"hearing from itself does not count", nil, append([]string{"10.0.0.2:7000"}, own...), true},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			v := &View{Self: "n1", Members: map[string]Member{"n1": {ID: "n1", Status: Up, HeartbeatAge: 0}}}
			for id, m := range tc.members {
				m.ID = id
				v.Members[id] = m
			}
			if got := v.Alone(tc.seeds, own...); got != tc.alone {
				t.Fatalf("Alone(%v, %v) = %v, want %v", tc.seeds, own, got, tc.alone)
			}
		})
	}
}
