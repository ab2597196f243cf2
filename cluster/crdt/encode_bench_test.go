package crdt

import (
	"testing"

	"github.com/harmoniakv/harmonia/cluster/vclock"
)

// BenchmarkEncodeSmallState encodes the state of an item a few replicas
// increment: a counter and a register, three actors. Each write encodes
// states like it at every replica.
func BenchmarkEncodeSmallState(b *testing.B) {
	var s State
	for i, node := range []string{"n1~1", "n2~1", "n3~1"} {
		ops := []Op{UpdateField{Field: Field{Name: "n", Kind: KindCounter}, Op: Increment{By: int64(i + 1)}}}
		if i == 0 {
			ops = append(ops, UpdateField{Field: Field{Name: "id", Kind: KindMVRegister}, Op: Assign{Value: "cart-00000001"}})
		}
		var err error
		if s, _, err = Apply(s, Update{Actor: vclock.Actor{Node: node, Incarnation: 7}, Ops: ops}, DefaultLimits); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		Encode(s)
	}
}
