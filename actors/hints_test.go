package actors

import (
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
		{"this node leaving, target down and a replica of the next ring: the hint waits", leaving,
			map[string]membership.Status{"n1": membership.Leaving, "n2": up, "n3": down, "n4": up}, "n3", nil},
		{"this node leaving, target up: the target", leaving,
			map[string]membership.Status{"n1": membership.Leaving, "n2": up, "n3": up, "n4": up}, "n3",
			func(*View) []string { return []string{"n3"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := testView(t, "n1", tc.statuses, tc.live)
			got, ok := hintDestinations(v, tc.target, p)
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
// replicas, so that leaving neither waits for the target nor takes the
// writes away.
func TestLeavingNodeHandsHintsToNextReplicas(t *testing.T) {
	statuses := map[string]string{"n1": ring.StatusLeaving}
	live := map[string]membership.Status{"n1": membership.Leaving}
	for _, id := range []string{"n2", "n3", "n4", "n5", "n6"} {
		statuses[id], live[id] = ring.StatusNormal, membership.Up
	}
	live["n3"] = membership.Down
	v := testView(t, "n1", statuses, live)
	tried := 0
	for p := 0; p < 16; p++ {
		next := v.Transition.Next.PreferenceListForPartition(p, 3)
		got, ok := hintDestinations(v, "n3", p)
		if slices.Contains(next, "n3") {
			if ok {
				t.Fatalf("partition %d: the down target is a next replica, yet the hint goes to %v", p, got)
			}
			continue
		}
		tried++
		if !ok || !slices.Equal(got, next) || slices.Contains(got, "n1") {
			t.Fatalf("partition %d: got %v (ok %v), want the next replicas %v", p, got, ok, next)
		}
	}
	if tried == 0 {
		t.Fatal("no partition without n3 among its next replicas")
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
