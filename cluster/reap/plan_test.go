package reap

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/ring"
)

func TestMembersOf(t *testing.T) {
	member := func(st membership.Status, hints int64) membership.Member {
		return membership.Member{Status: st, HintsPending: hints}
	}
	for _, tc := range []struct {
		name      string
		selfHints int64
		members   map[string]membership.Member
		want      []Member // in ID order
	}{
		{"a member that is up counts as up", 0,
			map[string]membership.Member{"a": member(membership.Up, 0), "b": member(membership.Up, 2)},
			[]Member{{ID: "a", Up: true}, {ID: "b", Up: true, HintsPending: 2}}},
		{"a left member is excluded", 0,
			map[string]membership.Member{"a": member(membership.Up, 0), "b": member(membership.Left, 5)},
			[]Member{{ID: "a", Up: true}}},
		{"a suspect member is not up", 0,
			map[string]membership.Member{"a": member(membership.Up, 0), "b": member(membership.Suspect, 0)},
			[]Member{{ID: "a", Up: true}, {ID: "b"}}},
		{"a down member is not up", 0,
			map[string]membership.Member{"a": member(membership.Up, 0), "b": member(membership.Down, 0)},
			[]Member{{ID: "a", Up: true}, {ID: "b"}}},
		{"a joining or leaving member is not up", 0,
			map[string]membership.Member{"a": member(membership.Up, 0), "b": member(membership.Joining, 0), "c": member(membership.Leaving, 0)},
			[]Member{{ID: "a", Up: true}, {ID: "b"}, {ID: "c"}}},
		{"this node is up whatever status it is seen with", 0,
			map[string]membership.Member{"a": member(membership.Suspect, 0)},
			[]Member{{ID: "a", Up: true}}},
		{"this node uses its own hint count, not the gossiped one", 7,
			map[string]membership.Member{"a": member(membership.Up, 0), "b": member(membership.Up, 3)},
			[]Member{{ID: "a", Up: true, HintsPending: 7}, {ID: "b", Up: true, HintsPending: 3}}},
		{"this node, once left, is excluded too", 7,
			map[string]membership.Member{"a": member(membership.Left, 0), "b": member(membership.Up, 0)},
			[]Member{{ID: "b", Up: true}}},
	} {
		got := MembersOf("a", tc.selfHints, tc.members)
		slices.SortFunc(got, func(x, y Member) int { return strings.Compare(x.ID, y.ID) })
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: MembersOf = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestPlan(t *testing.T) {
	cfg := Config{Grace: time.Hour, Settle: time.Minute}
	// Q=4 over a, b, c, d with N=2: partition p's preference list is
	// owners p and p+1, so a holds 0 (a, b) and 3 (d, a).
	r, err := ring.New([]string{"a", "b", "c", "d"}, 4)
	if err != nil {
		t.Fatal(err)
	}
	const n = 2
	seen := func(st map[string]membership.Status) Cluster {
		ms := map[string]membership.Member{}
		for id, s := range st {
			ms[id] = membership.Member{Status: s}
		}
		return Cluster{Members: MembersOf("a", 0, ms), Unchanged: time.Hour}
	}
	allUp := seen(map[string]membership.Status{"a": membership.Up, "b": membership.Up, "c": membership.Up, "d": membership.Up})
	held := []HeldPartition{{Partition: 0, Replicas: []string{"a", "b"}}, {Partition: 3, Replicas: []string{"d", "a"}}}
	withHints := func(cl Cluster, id string, hints int64) Cluster {
		cl.Members = slices.Clone(cl.Members)
		for i := range cl.Members {
			if cl.Members[i].ID == id {
				cl.Members[i].HintsPending = hints
			}
		}
		return cl
	}
	for _, tc := range []struct {
		name        string
		cfg         Config
		cl          Cluster
		self        string
		wantBlocked string // substring; "" means not blocked
		wantHeld    []HeldPartition
		wantDrop    []int
	}{
		{"a partition whose preference list holds this node is kept, with its replicas", cfg, allUp, "a", "", held, []int{1, 2}},
		{"a partition whose preference list lacks this node is dropped", cfg, allUp, "e", "", nil, []int{0, 1, 2, 3}},
		{"a suspect member blocks every drop", cfg,
			seen(map[string]membership.Status{"a": membership.Up, "b": membership.Up, "c": membership.Suspect, "d": membership.Up}), "a", "not up: c", nil, nil},
		{"a down member blocks every drop", cfg,
			seen(map[string]membership.Status{"a": membership.Up, "b": membership.Down, "c": membership.Up, "d": membership.Up}), "a", "not up: b", nil, nil},
		{"a left member does not block", cfg,
			seen(map[string]membership.Status{"a": membership.Up, "b": membership.Up, "c": membership.Up, "d": membership.Up, "e": membership.Left}), "a", "", held, []int{1, 2}},
		{"this node's own hints block every drop though it gossiped none", cfg,
			Cluster{Members: MembersOf("a", 2, map[string]membership.Member{"a": {Status: membership.Up}, "b": {Status: membership.Up}}), Unchanged: time.Hour},
			"a", "hints pending on a (2)", nil, nil},
		{"a hint pending anywhere blocks every drop", cfg, withHints(allUp, "d", 1), "a", "hints pending on d (1)", nil, nil},
		{"a ring transition blocks every drop", cfg, Cluster{Members: allUp.Members, Transition: true, Unchanged: time.Hour}, "a", "transition", nil, nil},
		{"a membership not yet settled blocks every drop", cfg, Cluster{Members: allUp.Members, Unchanged: time.Second}, "a", "settling", nil, nil},
		{"reaping disabled blocks every drop", Config{}, allUp, "a", "disabled", nil, nil},
	} {
		blocked, gotHeld, gotDrop := tc.cfg.Plan(tc.cl, r, n, tc.self)
		if (tc.wantBlocked == "") != (blocked == "") || !strings.Contains(blocked, tc.wantBlocked) {
			t.Errorf("%s: blocked = %q, want %q", tc.name, blocked, tc.wantBlocked)
		}
		if !slices.EqualFunc(gotHeld, tc.wantHeld, func(x, y HeldPartition) bool {
			return x.Partition == y.Partition && slices.Equal(x.Replicas, y.Replicas)
		}) {
			t.Errorf("%s: held = %+v, want %+v", tc.name, gotHeld, tc.wantHeld)
		}
		if !slices.Equal(gotDrop, tc.wantDrop) {
			t.Errorf("%s: drop = %v, want %v", tc.name, gotDrop, tc.wantDrop)
		}
	}
}
