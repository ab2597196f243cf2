package actors

import (
	"maps"
	"slices"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/ring"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

// testView builds the View of self over members (id -> liveness) whose
// ring statuses are statuses.
func testView(t *testing.T, self string, statuses map[string]string, live map[string]membership.Status) *View {
	t.Helper()
	tr, err := ring.NewTransition(statuses, 16, 3)
	if err != nil {
		t.Fatal(err)
	}
	v := &View{membership.View{Self: self, Ring: tr.Current, Transition: tr, RingStatuses: statuses, N: 3, Members: map[string]membership.Member{}}}
	for id, st := range live {
		v.Members[id] = membership.Member{ID: id, Status: st, Incarnation: 7}
	}
	return v
}

func TestAdmits(t *testing.T) {
	v := testView(t, "n1", map[string]string{"n1": ring.StatusNormal, "n2": ring.StatusNormal, "n3": ring.StatusLeft},
		map[string]membership.Status{"n1": membership.Up, "n2": membership.Down, "n3": membership.Left})
	for _, tc := range []struct {
		name   string
		sender *internalpb.Sender
		ok     bool
	}{
		{"this node itself", &internalpb.Sender{Node: "n1"}, true},
		{"a member, even one that looks down, of the incarnation known", &internalpb.Sender{Node: "n2", Incarnation: 7}, true},
		{"another incarnation of a member (wiped, or another cluster's)", &internalpb.Sender{Node: "n2", Incarnation: 8}, false},
		{"a node that left or was removed", &internalpb.Sender{Node: "n3", Incarnation: 7}, false},
		{"a node never heard of", &internalpb.Sender{Node: "n9", Incarnation: 7}, false},
		{"no sender at all", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := v.Admits(tc.sender); (err == nil) != tc.ok {
				t.Fatalf("Admits = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestStandInsSkipLeavingMembers(t *testing.T) {
	statuses := map[string]string{}
	live := map[string]membership.Status{}
	for _, id := range []string{"n1", "n2", "n3", "n4", "n5", "n6"} {
		statuses[id], live[id] = ring.StatusNormal, membership.Up
	}
	for p := 0; p < 16; p++ {
		v := testView(t, "n1", statuses, live)
		pref := v.Ring.PreferenceListForPartition(p, 3)
		fallbacks := v.Ring.Fallbacks(p, 3)
		// The replica down, and the first fallback leaving.
		st, lv := maps.Clone(statuses), maps.Clone(live)
		lv[pref[0]] = membership.Down
		st[fallbacks[0]], lv[fallbacks[0]] = ring.StatusLeaving, membership.Leaving
		v = testView(t, "n1", st, lv)
		// The current ring still holds the leaving member, in the same place.
		if got := v.Ring.Fallbacks(p, 3); !slices.Equal(got, fallbacks) {
			t.Fatalf("partition %d: fallbacks %v, then %v", p, fallbacks, got)
		}
		if got := v.standIns(p, pref)[pref[0]]; got != fallbacks[1] {
			t.Fatalf("partition %d: %s stands in for %s, want %s (the first fallback, %s, is leaving)", p, got, pref[0], fallbacks[1], fallbacks[0])
		}
	}
}
