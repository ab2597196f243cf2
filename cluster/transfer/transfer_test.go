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
	done := func(s string) Pass { return Pass{Source: s, Done: true, Keys: 3, Batches: 1} }
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
		{name: "the missing sources are down", saved: []Pass{done("b")}, up: []string{"b"}, want: Step{Complete: true}},
		{name: "the missing sources are down, even the one read", saved: []Pass{done("b")}, up: nil, want: Step{Complete: true}},
		{name: "a source that comes back up before the end is read", saved: []Pass{done("a"), done("b")}, up: abc, want: Step{Fetch: true, Source: "c"}},
		{name: "passes of nodes that are not sources are dropped", saved: []Pass{done("x")}, up: nil, want: Step{Wait: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := New(abc, tc.saved).Next(upSet(tc.up...))
			if got.Fetch != tc.want.Fetch || got.Source != tc.want.Source || string(got.AfterKey) != string(tc.want.AfterKey) ||
				got.Complete != tc.want.Complete || got.Wait != tc.want.Wait {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// A whole run: every up source is read to its end, batch by batch, and the
// transfer completes only then.
func TestEverySourceIsReadWhole(t *testing.T) {
	data := map[string][]string{"a": {"k1", "k2", "k4"}, "b": {"k1", "k2", "k3", "k4"}, "c": {}}
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
		var batch []string
		for _, k := range data[s.Source] {
			if k > string(s.AfterKey) && len(batch) < 2 {
				batch = append(batch, k)
			}
		}
		last := len(batch) == 0 || batch[len(batch)-1] == data[s.Source][len(data[s.Source])-1]
		var lastKey []byte
		if len(batch) > 0 {
			lastKey = []byte(batch[len(batch)-1])
			if !tr.Expects(s.Source, []byte(batch[0])) {
				t.Fatalf("the answer to %+v is refused", s)
			}
		}
		for _, k := range batch {
			got[k] = true
		}
		tr.Applied(s.Source, lastKey, len(batch), last)
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
	tr := New([]string{"a", "b"}, []Pass{{Source: "a", AfterKey: []byte("k5")}, {Source: "b", Done: true}})
	for _, tc := range []struct {
		source string
		first  string
		want   bool
	}{
		{"a", "k6", true},
		{"a", "k5", false}, // already applied: a late answer
		{"a", "k1", false},
		{"a", "", true}, // an empty batch: nothing after the place
		{"b", "k9", false},
		{"x", "k9", false},
	} {
		var first []byte
		if tc.first != "" {
			first = []byte(tc.first)
		}
		if got := tr.Expects(tc.source, first); got != tc.want {
			t.Errorf("Expects(%s, %q) = %v, want %v", tc.source, tc.first, got, tc.want)
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
	p := tr.Passes()
	if len(p) != 1 || string(p[0].AfterKey) != "k1" || !p[0].Done || p[0].Keys != 0 || p[0].Batches != 1 {
		t.Fatalf("passes %+v", p)
	}
}
