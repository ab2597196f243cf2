package request

import (
	"slices"
	"testing"
)

func TestRangeAsks(t *testing.T) {
	for _, tc := range []struct {
		rule   string
		pl     Placement
		r      int
		askAll bool
		first  []string
		then   []string
	}{
		{"R replicas are asked first, this node's own first", Placement{Self: "c", Replicas: []string{"a", "b", "c"}}, 2, false, []string{"c", "a"}, []string{"b"}},
		{"a coordinator that is no replica asks in preference-list order", Placement{Self: "x", Replicas: []string{"a", "b", "c"}}, 2, false, []string{"a", "b"}, []string{"c"}},
		{"askAll asks every up replica at once", Placement{Self: "b", Replicas: []string{"a", "b", "c"}}, 1, true, []string{"b", "a", "c"}, nil},
		{"a down replica is never asked", Placement{Self: "a", Replicas: []string{"a", "b", "c"}, Down: map[string]bool{"b": true}}, 2, false, []string{"a", "c"}, nil},
		{"R beyond the up replicas asks those there are", Placement{Self: "a", Replicas: []string{"a", "b", "c"}, Down: map[string]bool{"a": true, "c": true}}, 3, false, []string{"b"}, nil},
		{"R below one asks one", Placement{Self: "a", Replicas: []string{"a", "b"}}, 0, false, []string{"a"}, []string{"b"}},
		{"no up replica asks none", Placement{Self: "a", Replicas: []string{"b"}, Down: map[string]bool{"b": true}}, 1, false, nil, nil},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			a, first := NewRangeAsks(tc.pl, tc.r, tc.askAll)
			if !slices.Equal(first, tc.first) {
				t.Fatalf("first asks %v, want %v", first, tc.first)
			}
			var then []string
			for a.Left() {
				id, ok := a.Next()
				if !ok {
					t.Fatal("Left but no Next")
				}
				then = append(then, id)
			}
			if !slices.Equal(then, tc.then) {
				t.Fatalf("then asks %v, want %v", then, tc.then)
			}
			if _, ok := a.Next(); ok {
				t.Fatal("Next after the last")
			}
		})
	}
}
