package reconcile

import (
	"fmt"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/object/objecttest"
	"github.com/harmoniakv/harmonia/cluster/reap"
)

var now = time.Unix(1_000_000, 0)

// show names a repair by its key, merged values and sides.
func show(rs []Repair) string {
	out := ""
	for _, r := range rs {
		var vals []string
		for _, s := range r.Merged {
			if s.Deleted {
				vals = append(vals, "(deleted)")
			} else {
				vals = append(vals, string(s.Value))
			}
		}
		out += fmt.Sprintf("%s=%v local=%v remote=%v; ", r.Key, vals, r.Local, r.Remote)
	}
	return out
}

func TestReplicas(t *testing.T) {
	v1 := version("v1", "a", 1)
	v2 := version("v2", "a", 2, v1)
	w := version("w", "b", 1, v1)
	old := deleted("a", 3, now.Add(-2*time.Hour), v2)
	recent := deleted("a", 3, now.Add(-time.Minute), v2)
	type sides = map[string][]object.Sibling
	tests := []struct {
		rule          string
		local, remote sides
		want          string
	}{
		{"the same versions on both sides: nothing to send",
			sides{"k": {v2}}, sides{"k": {v2}}, ""},
		{"a key only one side holds goes to the other",
			sides{"k": {v1}}, sides{}, "k=[v1] local=false remote=true; "},
		{"a newer version replaces the older on the side that holds the older",
			sides{"k": {v1}}, sides{"k": {v2}}, "k=[v2] local=true remote=false; "},
		{"concurrent versions merge into siblings, sent to both",
			sides{"k": {v2}}, sides{"k": {w}}, "k=[v2 w] local=true remote=true; "},
		{"a tombstone past grace is not copied to a side that holds nothing",
			sides{"k": {old}}, sides{}, ""},
		{"a tombstone past grace does replace a value the other side holds",
			sides{"k": {old}}, sides{"k": {v2}}, "k=[(deleted)] local=false remote=true; "},
		{"a tombstone within grace is copied to a side that holds nothing",
			sides{}, sides{"k": {recent}}, "k=[(deleted)] local=true remote=false; "},
		{"keys are repaired in key order",
			sides{"b": {v1}, "a": {v1}}, sides{"c": {w}}, "a=[v1] local=false remote=true; b=[v1] local=false remote=true; c=[w] local=true remote=false; "},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			if got := show(Replicas(tt.local, tt.remote, reap.Config{Grace: time.Hour}, now)); got != tt.want {
				t.Fatalf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// version and deleted fix the write time of versions to a minute before now.
func version(value, node string, n uint64, prior ...object.Sibling) object.Sibling {
	return objecttest.Version(value, node, n, now.Add(-time.Minute), prior...)
}

var deleted = objecttest.Tombstone
