package ring

import (
	"fmt"
	"slices"
	"testing"
)

func TestTransitionStable(t *testing.T) {
	tr, err := NewTransition(map[string]string{"a": StatusNormal, "b": StatusNormal, "c": StatusNormal, "x": StatusLeft}, 8, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Stable() || len(tr.Moves) != 0 || tr.Current.Contains("x") {
		t.Fatalf("stable cluster: %+v", tr)
	}
	_, extra := tr.WriteReplicas(3)
	if len(extra) != 0 {
		t.Fatal("extra write replicas in a stable ring")
	}
}

func TestTransitionJoinAndLeave(t *testing.T) {
	tests := []struct {
		name     string
		statuses map[string]string
		cur      []string
		next     []string
	}{
		{"join", map[string]string{"a": StatusNormal, "b": StatusNormal, "c": StatusNormal, "d": StatusJoining}, []string{"a", "b", "c"}, []string{"a", "b", "c", "d"}},
		{"leave", map[string]string{"a": StatusNormal, "b": StatusLeaving, "c": StatusNormal, "d": StatusNormal}, []string{"a", "b", "c", "d"}, []string{"a", "c", "d"}},
		{"bootstrap: everyone joining", map[string]string{"a": StatusJoining, "b": StatusJoining}, []string{"a", "b"}, []string{"a", "b"}},
		{"join and leave at once", map[string]string{"a": StatusNormal, "b": StatusLeaving, "c": StatusJoining}, []string{"a", "b"}, []string{"a", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := NewTransition(tt.statuses, 16, 2)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(tr.Current.Members(), tt.cur) || !slices.Equal(tr.Next.Members(), tt.next) {
				t.Fatalf("current %v next %v", tr.Current.Members(), tr.Next.Members())
			}
			// Every replica of the next ring either already holds the
			// partition or has a move bringing it there; writes reach both.
			for p := 0; p < 16; p++ {
				counted, extra := tr.WriteReplicas(p)
				all := append(slices.Clone(counted), extra...)
				for _, id := range tr.Next.PreferenceListForPartition(p, 2) {
					if !slices.Contains(all, id) {
						t.Fatalf("partition %d: writes miss next replica %s", p, id)
					}
					has := slices.Contains(tr.Current.PreferenceListForPartition(p, 2), id)
					moved := slices.ContainsFunc(tr.MovesTo(id), func(m Move) bool { return m.Partition == p })
					if has == moved {
						t.Fatalf("partition %d, %s: holds=%v moved=%v", p, id, has, moved)
					}
				}
			}
			same, _ := NewTransition(tt.statuses, 16, 2)
			if same.Key != tr.Key {
				t.Fatal("key is not deterministic")
			}
		})
	}
}

func TestTransitionErrors(t *testing.T) {
	if _, err := NewTransition(map[string]string{"a": StatusLeaving}, 8, 3); err == nil {
		t.Fatal("a cluster whose every member leaves has no next ring")
	}
	if _, err := NewTransition(map[string]string{"a": "weird"}, 8, 3); err == nil {
		t.Fatal("unknown status accepted")
	}
}

func ExampleNewTransition() {
	tr, _ := NewTransition(map[string]string{"n1": StatusNormal, "n2": StatusNormal, "n3": StatusNormal, "n4": StatusJoining}, 8, 3)
	fmt.Println(tr.Key)
	fmt.Println(len(tr.Moves), "replicas move")
	// Output:
	// current=n1,n2,n3 next=n1,n2,n3,n4
	// 6 replicas move
}

func TestFallbacks(t *testing.T) {
	r, _ := New([]string{"a", "b", "c", "d", "e"}, 10)
	for p := 0; p < 10; p++ {
		pref := r.PreferenceListForPartition(p, 3)
		fb := r.Fallbacks(p, 3)
		if len(fb) != 2 {
			t.Fatalf("partition %d: fallbacks %v", p, fb)
		}
		for _, id := range fb {
			if slices.Contains(pref, id) {
				t.Fatalf("fallback %s is a primary", id)
			}
		}
		// Clockwise from p, the distinct owners met after the primaries.
		var walk []string
		for q := p; len(walk) < 5; q = (q + 1) % 10 {
			if o := r.PreferenceListForPartition(q, 1)[0]; !slices.Contains(walk, o) {
				walk = append(walk, o)
			}
		}
		if !slices.Equal(fb, walk[3:]) {
			t.Fatalf("partition %d: fallbacks %v, want the ring order %v", p, fb, walk[3:])
		}
	}
	small, _ := New([]string{"a", "b", "c"}, 8)
	if fb := small.Fallbacks(0, 3); len(fb) != 0 {
		t.Fatalf("3 nodes, N=3: no fallback, got %v", fb)
	}
}

// The voters of a strong key's partition are its primaries, and while its
// replicas change, the next ring's as well; a fallback never votes.
func TestTransitionVoters(t *testing.T) {
	tests := []struct {
		name     string
		statuses map[string]string
		groups   int // for a partition whose replicas change
	}{
		{"stable ring: the N primaries", map[string]string{"a": StatusNormal, "b": StatusNormal, "c": StatusNormal, "d": StatusNormal}, 1},
		{"a joining node: current and next replicas", map[string]string{"a": StatusNormal, "b": StatusNormal, "c": StatusNormal, "d": StatusJoining}, 2},
		{"a leaving node: current and next replicas", map[string]string{"a": StatusNormal, "b": StatusLeaving, "c": StatusNormal, "d": StatusNormal}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := NewTransition(tt.statuses, 8, 2)
			if err != nil {
				t.Fatal(err)
			}
			changing := false
			for p := 0; p < 8; p++ {
				v := tr.Voters(p)
				cur, next := tr.Current.PreferenceListForPartition(p, 2), tr.Next.PreferenceListForPartition(p, 2)
				if !slices.Equal(v[0], cur) {
					t.Fatalf("partition %d: first group %v, want the current replicas %v", p, v[0], cur)
				}
				if slices.Equal(cur, next) != (len(v) == 1) || (len(v) == 2 && !slices.Equal(v[1], next)) {
					t.Fatalf("partition %d: groups %v, current %v, next %v", p, v, cur, next)
				}
				changing = changing || len(v) == 2
				for _, id := range []string{"a", "b", "c", "d"} {
					// A new voter receives the partition's transfer: in
					// the next replicas, not the current ones.
					want := !slices.Contains(cur, id) && slices.Contains(next, id)
					if got := tr.NewVoter(p, id); got != want {
						t.Fatalf("partition %d: NewVoter(%s) = %v, current %v, next %v", p, id, got, cur, next)
					}
					if want && !slices.ContainsFunc(tr.MovesTo(id), func(m Move) bool { return m.Partition == p }) {
						t.Fatalf("partition %d: %s is a new voter but receives no move", p, id)
					}
				}
				v[0][0] = "mutated" // a copy: the next call is unchanged
				if tr.Voters(p)[0][0] == "mutated" {
					t.Fatalf("partition %d: modifying Voters' result changed the transition", p)
				}
				if allocs := testing.AllocsPerRun(10, func() { tr.IsVoter(p, "a") }); allocs != 0 {
					t.Fatalf("partition %d: IsVoter allocates %v times per call", p, allocs)
				}
				for _, id := range []string{"a", "b", "c", "d"} {
					if tr.IsVoter(p, id) != (slices.Contains(cur, id) || slices.Contains(next, id)) {
						t.Fatalf("partition %d: IsVoter(%s) = %v", p, id, tr.IsVoter(p, id))
					}
				}
				for _, fb := range tr.Current.Fallbacks(p, 2) {
					if !slices.Contains(next, fb) && tr.IsVoter(p, fb) {
						t.Fatalf("partition %d: fallback %s votes", p, fb)
					}
				}
			}
			if changing != (tt.groups == 2) {
				t.Fatalf("some partition had two groups: %v, want %v", changing, tt.groups == 2)
			}
		})
	}
}

// The fingerprint names the transition: the same statuses give the same
// one on every node, another phase of a ring change another, and it is
// never 0 (a message without one).
func TestTransitionFingerprint(t *testing.T) {
	phases := []struct {
		name     string
		statuses map[string]string
	}{
		{"before a join: stable", map[string]string{"a": StatusNormal, "b": StatusNormal, "c": StatusNormal}},
		{"during the join", map[string]string{"a": StatusNormal, "b": StatusNormal, "c": StatusNormal, "d": StatusJoining}},
		{"after the join: stable", map[string]string{"a": StatusNormal, "b": StatusNormal, "c": StatusNormal, "d": StatusNormal}},
		{"during a leave", map[string]string{"a": StatusNormal, "b": StatusNormal, "c": StatusLeaving, "d": StatusNormal}},
	}
	seen := map[uint64]string{}
	for _, ph := range phases {
		tr, err := NewTransition(ph.statuses, 8, 3)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := NewTransition(ph.statuses, 8, 3)
		if tr.Fingerprint == 0 || tr.Fingerprint != again.Fingerprint || tr.Fingerprint != Fingerprint(tr.Key) {
			t.Fatalf("%s: fingerprint %x, again %x, of the key %x", ph.name, tr.Fingerprint, again.Fingerprint, Fingerprint(tr.Key))
		}
		if other, ok := seen[tr.Fingerprint]; ok {
			t.Fatalf("%s and %s share fingerprint %x", ph.name, other, tr.Fingerprint)
		}
		seen[tr.Fingerprint] = ph.name
	}
}

// A node entering a transition drops what it holds of a partition only
// when it is new there and what it holds may be left from an earlier time
// it was a replica. The rings are those of a 5-node strong nemesis run
// (seed 504526349) where n8's join and n3's leave overlapped: some views
// saw the leave while the join was not complete (current ring without n8),
// others after; in partition 12 n6 and n7 were replicas throughout, new in
// the second view's transition only by the order of the changes.
func TestResetOnEntry(t *testing.T) {
	mk := func(st map[string]string) *Transition {
		t.Helper()
		tr, err := NewTransition(st, 64, 3)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	const p = 12
	joining := mk(map[string]string{"n2": StatusNormal, "n3": StatusNormal, "n4": StatusNormal, "n6": StatusNormal, "n7": StatusNormal, "n8": StatusJoining})
	bothBeforeJoin := mk(map[string]string{"n2": StatusNormal, "n3": StatusLeaving, "n4": StatusNormal, "n6": StatusNormal, "n7": StatusNormal, "n8": StatusJoining})
	stableAfter := mk(map[string]string{"n2": StatusNormal, "n4": StatusNormal, "n6": StatusNormal, "n7": StatusNormal, "n8": StatusNormal})
	leaveAfterJoin := mk(map[string]string{"n2": StatusNormal, "n3": StatusLeaving, "n4": StatusNormal, "n6": StatusNormal, "n7": StatusNormal, "n8": StatusNormal})
	if g := leaveAfterJoin.Voters(p); !slices.Equal(g[0], []string{"n2", "n3", "n4"}) || !slices.Equal(g[1], []string{"n6", "n7", "n8"}) {
		t.Fatalf("partition %d's groups are %v; the rows below assume the run's", p, g)
	}
	if bothBeforeJoin.NextFingerprint != leaveAfterJoin.NextFingerprint || bothBeforeJoin.Fingerprint == leaveAfterJoin.Fingerprint {
		t.Fatal("the two orders' transitions must differ and head for one ring")
	}
	for _, tt := range []struct {
		rule  string
		t     *Transition
		node  string
		last  Entry
		reset bool
	}{
		{"a new voter that last voted as a next replica heading for the same ring keeps what it accepted",
			leaveAfterJoin, "n6", bothBeforeJoin.EntryOf(p, "n6"), false},
		{"a new voter that last voted as a replica leaving the partition drops its leftovers",
			leaveAfterJoin, "n6", joining.EntryOf(p, "n6"), true},
		{"a new voter that last headed for another ring drops its leftovers",
			bothBeforeJoin, "n8", Entry{Transition: 7, Heading: true, Next: joining.NextFingerprint}, true},
		{"a new voter whose last step was in the stable ring it returns to drops its leftovers (a leave, then a join back)",
			leaveAfterJoin, "n6", stableAfter.EntryOf(p, "n6"), true},
		{"a new voter with nothing recorded drops what it holds",
			leaveAfterJoin, "n8", Entry{}, true},
		{"a new voter drops once per transition",
			leaveAfterJoin, "n7", leaveAfterJoin.EntryOf(p, "n7"), false},
		{"a current replica never drops",
			leaveAfterJoin, "n2", Entry{}, false},
	} {
		if got := tt.t.ResetOnEntry(p, tt.node, tt.last); got != tt.reset {
			t.Errorf("%s: ResetOnEntry = %v", tt.rule, got)
		}
	}
	if e := bothBeforeJoin.EntryOf(p, "n4"); e.Heading {
		t.Errorf("n4, a current replica leaving partition %d, heads for it: %+v", p, e)
	}
	if e := stableAfter.EntryOf(p, "n6"); e.Heading || e.Next != leaveAfterJoin.NextFingerprint {
		t.Errorf("an entry in a stable ring heads: %+v", e)
	}
	if e := joining.EntryOf(p, "n2"); !e.Heading || e.Transition != joining.Fingerprint || e.Next != joining.NextFingerprint {
		t.Errorf("n2's entry as a next replica: %+v", e)
	}
}
