package request

import (
	"testing"

	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/reap"
)

// The cores' own cost per request, every replica up: go test -bench . -benchmem ./cluster/request
func BenchmarkGet(b *testing.B) {
	v1 := version("v1", "a", 1)
	set := [][]object.Sibling{{v1}, {v1}, {v1}}
	pl := Placement{Self: "a", Replicas: abc}
	b.ReportAllocs()
	for b.Loop() {
		g, _ := NewGet(pl, 2, false, reap.Config{}, now)
		for i, id := range abc {
			g.Replied(id, set[i], nil)
		}
	}
}

func BenchmarkPut(b *testing.B) {
	pl := Placement{Self: "a", Replicas: abc}
	b.ReportAllocs()
	for b.Loop() {
		p, _ := NewPut(pl, 2, 0)
		p.Coordinated("a", nil)
		p.Replied(ToPrimary, "b", "", nil)
		p.Replied(ToPrimary, "c", "", nil)
	}
}
