package transfer

import (
	"slices"
	"testing"
)

func upSet(ids ...string) func(string) bool {
	return func(id string) bool { return slices.Contains(ids, id) }
}

func TestNext(t *testing.T) {
	abc := []string{"a", "b", "c"}
	done := func(s string) Pass {
		return Pass{Source: s, Done: true, Keys: 3, Batches: 1, AcceptorsDone: true, AcceptorStates: 1}
	}
	objectsDone := func(s string) Pass { return Pass{Source: s, Done: true, Keys: 3, Batches: 1} }
	for _, tc := range []struct {
		name  string
		saved []Pass
		up    []string
		want  Step
	}{
		{name: "a fresh transfer reads the first source", up: abc, want: Step{Fetch: true, Source: "a"}},
		{name: "a down source is skipped", up: []string{"b", "c"}, want: Step{Fetch: true, Source: "b"}},
		{name: "no source up and nothing read: wait", up: nil, want: Step{Wait: true}},
		{name: "one pass is not enough while others are up", saved: []Pass{done("a")}, up: abc, want: Step{Fetch: true, Source: "b"}},
		{name: "a pass resumes from its place", saved: []Pass{done("a"), {Source: "b", AfterKey: []byte("k7"), Keys: 7}}, up: abc,
			want: Step{Fetch: true, Source: "b", AfterKey: []byte("k7")}},
		{name: "every pass complete", saved: []Pass{done("a"), done("b"), done("c")}, up: abc, want: Step{Complete: true}},
		{name: "the missing sources are down", saved: []Pass{done("a"), done("b")}, up: []string{"b"}, want: Step{Complete: true}},
		{name: "the missing sources are down, even those read", saved: []Pass{done("a"), done("b")}, up: nil, want: Step{Complete: true}},
		{name: "a source that comes back up before the end is read", saved: []Pass{done("a"), done("b")}, up: abc, want: Step{Fetch: true, Source: "c"}},
		{name: "passes of nodes that are not sources are dropped", saved: []Pass{done("x")}, up: nil, want: Step{Wait: true}},
		{name: "a source's acceptor states follow its objects", saved: []Pass{objectsDone("a")}, up: abc, want: Step{Fetch: true, Source: "a", Acceptors: true}},
		{name: "an acceptor pass resumes from its place", saved: []Pass{{Source: "a", Done: true, AcceptorsAfter: []byte("r3")}}, up: abc,
			want: Step{Fetch: true, Source: "a", AfterKey: []byte("r3"), Acceptors: true}},
		{name: "objects from one source but acceptor states from a minority: wait for a covering read", saved: []Pass{done("b")}, up: []string{"b"}, want: Step{Wait: true}},
		{name: "acceptor states from 2 of 3 cover every majority, the third down", saved: []Pass{done("a"), done("c")}, up: []string{"a", "c"}, want: Step{Complete: true}},
		{name: "objects alone from every source are not enough", saved: []Pass{objectsDone("a"), objectsDone("b"), objectsDone("c")}, up: nil, want: Step{Wait: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := New(abc, tc.saved).Next(upSet(tc.up...))
			if got.Fetch != tc.want.Fetch || got.Source != tc.want.Source || string(got.AfterKey) != string(tc.want.AfterKey) ||
				got.Acceptors != tc.want.Acceptors || got.Complete != tc.want.Complete || got.Wait != tc.want.Wait {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// A whole run: every up source is read to its end, objects then acceptor
// states, batch by batch, and the transfer completes only then.
func TestEverySourceIsReadWhole(t *testing.T) {
	data := map[string][]string{"a": {"k1", "k2", "k4"}, "b": {"k1", "k2", "k3", "k4"}, "c": {}}
	registers := map[string][]string{"a": {"r1"}, "b": {}, "c": {"r1", "r2", "r3"}}
	gotRegisters := map[string]bool{}
	tr := New([]string{"a", "b", "c"}, nil)
	up := upSet("a", "b", "c")
	got := map[string]bool{}
	for steps := 0; ; steps++ {
		if steps > 20 {
			t.Fatal("no end")
		}
		s := tr.Next(up)
		if s.Complete {
			break
		}
		if !s.Fetch {
			t.Fatalf("step %+v", s)
		}
		// A source answers two keys at most, after the place asked.
		src := data
		if s.Acceptors {
			src = registers
		}
		var batch []string
		for _, k := range src[s.Source] {
			if k > string(s.AfterKey) && len(batch) < 2 {
				batch = append(batch, k)
			}
		}
		last := len(batch) == 0 || batch[len(batch)-1] == src[s.Source][len(src[s.Source])-1]
		var lastKey []byte
		if len(batch) > 0 {
			lastKey = []byte(batch[len(batch)-1])
			if !tr.Expects(s.Source, s.Acceptors, []byte(batch[0])) || tr.Expects(s.Source, !s.Acceptors, []byte(batch[0])) {
				t.Fatalf("the answer to %+v is refused, or taken as the other half's", s)
			}
		}
		for _, k := range batch {
			if s.Acceptors {
				gotRegisters[k] = true
			} else {
				got[k] = true
			}
		}
		if s.Acceptors {
			tr.AppliedAcceptors(s.Source, lastKey, len(batch), last)
		} else {
			tr.Applied(s.Source, lastKey, len(batch), last)
		}
	}
	if len(gotRegisters) != 3 || tr.AcceptorStates() != 4 {
		t.Fatalf("registers carried %v (%d states read), want r1..r3 (4)", gotRegisters, tr.AcceptorStates())
	}
	for _, k := range []string{"k1", "k2", "k3", "k4"} {
		if !got[k] {
			t.Errorf("%s, held only by b, was not transferred", k)
		}
	}
	keys, batches, done := tr.Totals()
	if keys != 7 || batches != 5 || !slices.Equal(done, []string{"a", "b", "c"}) {
		t.Fatalf("totals: %d keys, %d batches, done %v; want 7, 5, [a b c]", keys, batches, done)
	}
}

func TestFailedMovesToTheNextSource(t *testing.T) {
	tr := New([]string{"a", "b", "c"}, nil)
	up := upSet("a", "b", "c")
	tr.Failed("a")
	if s := tr.Next(up); s.Source != "b" {
		t.Fatalf("after a failed: %+v, want b", s)
	}
	tr.Failed("c")
	if s := tr.Next(up); s.Source != "a" {
		t.Fatalf("after c failed: %+v, want a (rotation wraps)", s)
	}
	// A failure keeps the pass's place.
	tr.Applied("a", []byte("k5"), 5, false)
	tr.Failed("a")
	tr.Failed("c")
	if s := tr.Next(up); s.Source != "a" || string(s.AfterKey) != "k5" {
		t.Fatalf("after a failed mid-pass: %+v, want a after k5", s)
	}
}

func TestExpects(t *testing.T) {
	tr := New([]string{"a", "b", "c"}, []Pass{{Source: "a", AfterKey: []byte("k5")}, {Source: "b", Done: true, AcceptorsAfter: []byte("r2")},
		{Source: "c", Done: true, AcceptorsDone: true}})
	for _, tc := range []struct {
		name      string
		source    string
		acceptors bool
		first     string
		want      bool
	}{
		{"objects after the place", "a", false, "k6", true},
		{"objects already applied: a late answer", "a", false, "k5", false},
		{"objects before the place", "a", false, "k1", false},
		{"an empty batch: nothing after the place", "a", false, "", true},
		{"acceptor states before the objects are done", "a", true, "r1", false},
		{"objects of a source whose objects are done", "b", false, "k9", false},
		{"acceptor states after their place", "b", true, "r3", true},
		{"acceptor states already applied", "b", true, "r2", false},
		{"acceptor states of a source read whole", "c", true, "r9", false},
		{"a node that is not a source", "x", false, "k9", false},
	} {
		var first []byte
		if tc.first != "" {
			first = []byte(tc.first)
		}
		if got := tr.Expects(tc.source, tc.acceptors, first); got != tc.want {
			t.Errorf("%s: Expects(%s, %v, %q) = %v, want %v", tc.name, tc.source, tc.acceptors, tc.first, got, tc.want)
		}
	}
}

// Applied after the pass is complete, or for a node that is not a source,
// changes nothing; saved passes are copies.
func TestAppliedIgnoresWhatItCannotPlace(t *testing.T) {
	saved := []Pass{{Source: "a", AfterKey: []byte("k1")}}
	tr := New([]string{"a"}, saved)
	saved[0].AfterKey[1] = '9'
	tr.Applied("a", nil, 0, true)
	tr.Applied("a", []byte("k8"), 3, false)
	tr.Applied("x", []byte("k8"), 3, false)
	tr.AppliedAcceptors("a", []byte("r1"), 1, true)
	tr.AppliedAcceptors("a", []byte("r2"), 1, false)
	p := tr.Passes()
	if len(p) != 1 || string(p[0].AfterKey) != "k1" || !p[0].Done || p[0].Keys != 0 || p[0].Batches != 1 ||
		string(p[0].AcceptorsAfter) != "r1" || !p[0].AcceptorsDone || p[0].AcceptorStates != 1 {
		t.Fatalf("passes %+v", p)
	}
	// Acceptor states are read only once the objects are.
	tr = New([]string{"a"}, nil)
	tr.AppliedAcceptors("a", []byte("r1"), 1, true)
	if p := tr.Passes(); p[0].AcceptorsDone || p[0].AcceptorStates != 0 {
		t.Fatalf("acceptor states applied before the objects: %+v", p)
	}
}

// A rebuild reads only acceptor states, of the other members of the
// rebuilt node's groups, and completes once they cover every quorum that
// could have counted it: both others of three.
func TestRebuildReadsTheOtherVoters(t *testing.T) {
	tr := NewRebuild([][]string{{"a", "b", "c"}, {"b", "c", "d"}}, "a")
	if s := tr.Next(upSet("a", "b", "c", "d")); !s.Fetch || !s.Acceptors || s.Source != "b" {
		t.Fatalf("first step %+v, want acceptor states of b", s)
	}
	tr.AppliedAcceptors("b", nil, 0, true)
	if s := tr.Next(upSet("b", "d")); !s.Wait {
		t.Fatalf("with c down: %+v, want to wait (b alone misses the quorum {a, c})", s)
	}
	if s := tr.Next(upSet("b", "c")); !s.Fetch || s.Source != "c" {
		t.Fatalf("c up: %+v, want c", s)
	}
	tr.AppliedAcceptors("c", []byte("r1"), 1, true)
	if s := tr.Next(upSet("b", "c")); !s.Complete {
		t.Fatalf("both others read: %+v, want complete (d is in no group of a)", s)
	}
	if keys, _, done := tr.Totals(); keys != 0 || !slices.Equal(done, []string{"b", "c"}) {
		t.Fatalf("totals: %d keys, done %v", keys, done)
	}
}

// A rebuild of a partition whose only voter is the rebuilt node reads
// nothing and is complete at once.
func TestRebuildAloneIsComplete(t *testing.T) {
	if s := NewRebuild([][]string{{"a"}}, "a").Next(upSet("a")); !s.Complete {
		t.Fatalf("%+v, want complete", s)
	}
}
