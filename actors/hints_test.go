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
	v := &View{Self: self, Ring: tr.Current, Transition: tr, RingStatuses: statuses, N: 3, Members: map[string]MemberView{}}
	for id, st := range live {
		v.Members[id] = MemberView{ID: id, Status: st, Incarnation: 7}
	}
	return v
}

func TestHintDestinations(t *testing.T) {
	normal := map[string]string{"n1": ring.StatusNormal, "n2": ring.StatusNormal, "n3": ring.StatusNormal, "n4": ring.StatusNormal}
	removed := map[string]string{"n1": ring.StatusNormal, "n2": ring.StatusNormal, "n3": ring.StatusLeft, "n4": ring.StatusNormal}
	leaving := map[string]string{"n1": ring.StatusLeaving, "n2": ring.StatusNormal, "n3": ring.StatusNormal, "n4": ring.StatusNormal}
	up, down, left := membership.Up, membership.Down, membership.Left
	const p = 5
	for _, tc := range []struct {
		name     string
		statuses map[string]string
		live     map[string]membership.Status
		target   string
		want     func(v *View) []string // nil: the hint waits
	}{
		{"a target that is up gets its own hints", normal,
			map[string]membership.Status{"n1": up, "n2": up, "n3": up, "n4": up}, "n3",
			func(*View) []string { return []string{"n3"} }},
		{"a target that is down: the hint waits", normal,
			map[string]membership.Status{"n1": up, "n2": up, "n3": down, "n4": up}, "n3", nil},
		{"a removed target: the replicas the ring now names take its hints", removed,
			map[string]membership.Status{"n1": up, "n2": up, "n3": left, "n4": up}, "n3",
			func(v *View) []string { pref, extra := v.Transition.WriteReplicas(p); return append(pref, extra...) }},
		{"a removed target while one of the new replicas is down: the hint waits", removed,
			map[string]membership.Status{"n1": up, "n2": down, "n3": left, "n4": down}, "n3", nil},
		{"a target never heard of counts as gone", removed,
			map[string]membership.Status{"n1": up, "n2": up, "n3": left, "n4": up}, "n9",
			func(v *View) []string { pref, extra := v.Transition.WriteReplicas(p); return append(pref, extra...) }},
		{"this node leaving, target down and a replica of the next ring: its other replicas that are up", leaving,
			map[string]membership.Status{"n1": membership.Leaving, "n2": up, "n3": down, "n4": up}, "n3",
			func(v *View) []string {
				return slices.DeleteFunc(v.Transition.Next.PreferenceListForPartition(p, v.N), func(id string) bool { return id == "n3" || id == "n1" })
			}},
		{"this node leaving, no replica of the next ring up: the hint waits", leaving,
			map[string]membership.Status{"n1": membership.Leaving, "n2": down, "n3": down, "n4": down}, "n3", nil},
		{"this node leaving, target up: the target", leaving,
			map[string]membership.Status{"n1": membership.Leaving, "n2": up, "n3": up, "n4": up}, "n3",
			func(*View) []string { return []string{"n3"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := testView(t, "n1", tc.statuses, tc.live)
			got, _, ok := hintDestinations(v, tc.target, p)
			var want []string
			if tc.want != nil {
				want = tc.want(v)
			}
			if ok != (want != nil) || !slices.Equal(got, want) {
				t.Fatalf("got %v (ok %v), want %v", got, ok, want)
			}
		})
	}
}

// A leaving node hands the hints of a down target to the next ring's
// replicas that are up, so that leaving neither waits for the target nor
// takes the writes away; when the target is one of those replicas, the
// first of the others keeps the hint for it.
func TestLeavingNodeHandsHintsToNextReplicas(t *testing.T) {
	statuses := map[string]string{"n1": ring.StatusLeaving}
	live := map[string]membership.Status{"n1": membership.Leaving}
	for _, id := range []string{"n2", "n3", "n4", "n5", "n6"} {
		statuses[id], live[id] = ring.StatusNormal, membership.Up
	}
	live["n3"] = membership.Down
	v := testView(t, "n1", statuses, live)
	kept, handed := 0, 0
	for p := 0; p < 16; p++ {
		next := v.Transition.Next.PreferenceListForPartition(p, 3)
		got, keeper, ok := hintDestinations(v, "n3", p)
		want := slices.DeleteFunc(slices.Clone(next), func(id string) bool { return id == "n3" })
		if !ok || !slices.Equal(got, want) || slices.Contains(got, "n1") {
			t.Fatalf("partition %d: got %v (ok %v), want the next replicas that are up %v", p, got, ok, want)
		}
		switch {
		case slices.Contains(next, "n3"):
			kept++
			if keeper != want[0] {
				t.Fatalf("partition %d: the hint is kept for n3 by %q, want %s", p, keeper, want[0])
			}
		case keeper != "":
			t.Fatalf("partition %d: n3 is no next replica, yet %s keeps the hint for it", p, keeper)
		default:
			handed++
		}
	}
	if kept == 0 || handed == 0 {
		t.Fatalf("%d partitions had n3 among their next replicas, %d did not: the test covers only one case", kept, handed)
	}
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
