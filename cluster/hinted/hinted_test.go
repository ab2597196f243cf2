package hinted

import (
	"slices"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/ring"
)

// testPlacement is self's Placement over members (id -> liveness) whose
// ring statuses are statuses.
func testPlacement(t *testing.T, self string, statuses map[string]string, live map[string]membership.Status) Placement {
	t.Helper()
	tr, err := ring.NewTransition(statuses, 16, 3)
	if err != nil {
		t.Fatal(err)
	}
	return Placement{Self: self, Members: live, Transition: tr, N: 3}
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
		want     func(pl Placement) []string // nil: the hint waits
	}{
		{"a target that is up gets its own hints", normal,
			map[string]membership.Status{"n1": up, "n2": up, "n3": up, "n4": up}, "n3",
			func(Placement) []string { return []string{"n3"} }},
		{"a target that is down: the hint waits", normal,
			map[string]membership.Status{"n1": up, "n2": up, "n3": down, "n4": up}, "n3", nil},
		{"a removed target: the replicas the ring now names take its hints", removed,
			map[string]membership.Status{"n1": up, "n2": up, "n3": left, "n4": up}, "n3",
			func(pl Placement) []string {
				pref, extra := pl.Transition.WriteReplicas(p)
				return append(pref, extra...)
			}},
		{"a removed target while one of the new replicas is down: the hint waits", removed,
			map[string]membership.Status{"n1": up, "n2": down, "n3": left, "n4": down}, "n3", nil},
		{"a target never heard of counts as gone", removed,
			map[string]membership.Status{"n1": up, "n2": up, "n3": left, "n4": up}, "n9",
			func(pl Placement) []string {
				pref, extra := pl.Transition.WriteReplicas(p)
				return append(pref, extra...)
			}},
		{"this node leaving, target down and a replica of the next ring: its other replicas that are up", leaving,
			map[string]membership.Status{"n1": membership.Leaving, "n2": up, "n3": down, "n4": up}, "n3",
			func(pl Placement) []string {
				return slices.DeleteFunc(pl.Transition.Next.PreferenceListForPartition(p, pl.N), func(id string) bool { return id == "n3" || id == "n1" })
			}},
		{"this node leaving, no replica of the next ring up: the hint waits", leaving,
			map[string]membership.Status{"n1": membership.Leaving, "n2": down, "n3": down, "n4": down}, "n3", nil},
		{"this node leaving, target up: the target", leaving,
			map[string]membership.Status{"n1": membership.Leaving, "n2": up, "n3": up, "n4": up}, "n3",
			func(Placement) []string { return []string{"n3"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl := testPlacement(t, "n1", tc.statuses, tc.live)
			got, _, ok := pl.Destinations(tc.target, p)
			var want []string
			if tc.want != nil {
				want = tc.want(pl)
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
	pl := testPlacement(t, "n1", statuses, live)
	kept, handed := 0, 0
	for p := 0; p < 16; p++ {
		next := pl.Transition.Next.PreferenceListForPartition(p, 3)
		got, keeper, ok := pl.Destinations("n3", p)
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

func TestGoneAndReplayable(t *testing.T) {
	pl := testPlacement(t, "n1", map[string]string{"n1": ring.StatusNormal, "n2": ring.StatusNormal, "n3": ring.StatusLeft},
		map[string]membership.Status{"n1": membership.Up, "n2": membership.Down, "n3": membership.Left})
	for _, tc := range []struct {
		rule             string
		id               string
		gone, replayable bool
	}{
		{"a member that is up is neither gone nor unreachable", "n1", false, true},
		{"a down member's hints wait", "n2", false, false},
		{"a member that left is gone, its hints go to the ring's replicas", "n3", true, true},
		{"a node never heard of is gone", "n9", true, true},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			if pl.Gone(tc.id) != tc.gone || pl.Replayable(tc.id) != tc.replayable {
				t.Fatalf("gone %v, replayable %v", pl.Gone(tc.id), pl.Replayable(tc.id))
			}
		})
	}
	pl.Members = map[string]membership.Status{"n1": membership.Leaving, "n2": membership.Down}
	if !pl.Replayable("n2") {
		t.Fatal("a leaving node holds a down target's hints back")
	}
}
