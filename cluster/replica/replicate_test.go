package replica

import (
	"errors"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/hlc"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/vclock"
)

func TestReplicate(t *testing.T) {
	peer := vclock.Actor{Node: "n2", Incarnation: 1}
	v := object.Sibling{Value: []byte("v"), Dot: vclock.Dot{Actor: peer, Counter: 1}}
	stamp := hlc.Timestamp{Wall: 5, Node: "n2"}
	stamped := v
	stamped.Stamp = stamp
	lwwKey := catalog.Key(catalog.Table{ID: 3, Consistency: catalog.Eventual, Conflict: catalog.LWW}, []byte("k"))
	strongKey := catalog.Key(catalog.Table{ID: 4, Consistency: catalog.Strong}, []byte("k"))
	open := func([]byte) error { return nil }
	deleted := errors.New("table 5 was deleted")
	for _, tc := range []struct {
		rule    string
		stored  []object.Sibling // the key's object before the write
		w       ReplicaWrite
		tables  func([]byte) error
		refused bool // refused data, counted
		err     bool
		hold    bool
		hints   int
		observe hlc.Timestamp
		after   int // versions stored after the batch
	}{
		{rule: "an empty key is refused", w: ReplicaWrite{In: []object.Sibling{v}}, tables: open, err: true},
		{rule: "a key the catalog refuses (a strong or deleted table's) is refused and counted",
			w: ReplicaWrite{Key: []byte("k"), In: []object.Sibling{v}}, tables: func([]byte) error { return deleted }, refused: true, err: true},
		{rule: "a strong table's key is refused by its kind alone",
			w: ReplicaWrite{Key: strongKey, In: []object.Sibling{v}}, tables: catalog.Catalog{}.CheckEventualWrite, refused: true, err: true},
		{rule: "an unstamped version of a last-writer-wins key is refused and counted",
			w: ReplicaWrite{Key: lwwKey, In: []object.Sibling{v}}, tables: open, refused: true, err: true},
		{rule: "a stamped version of a key that keeps siblings is refused and counted",
			w: ReplicaWrite{Key: []byte("k"), In: []object.Sibling{stamped}}, tables: open, refused: true, err: true},
		{rule: "a stamped version of a last-writer-wins key is stored, and its stamp observed",
			w: ReplicaWrite{Key: lwwKey, In: []object.Sibling{stamped}}, tables: open, hold: true, observe: stamp, after: 1},
		{rule: "a write that changes the object waits for the batch",
			w: ReplicaWrite{Key: []byte("k"), In: []object.Sibling{v}}, tables: open, hold: true, after: 1},
		{rule: "a write the replica already holds is answered at once",
			stored: []object.Sibling{v}, w: ReplicaWrite{Key: []byte("k"), In: []object.Sibling{v}}, tables: open, after: 1},
		{rule: "a hinted write is stored and kept for its replica, and waits for the batch",
			stored: []object.Sibling{v}, w: ReplicaWrite{Key: []byte("k"), In: []object.Sibling{v}, HintFor: "n3"}, tables: open, hold: true, hints: 1, after: 1},
		{rule: "a hint-only write is kept for its replica but not stored",
			w: ReplicaWrite{Key: []byte("k"), In: []object.Sibling{v}, HintFor: "n3", HintOnly: true}, tables: open, hold: true, hints: 1},
		{rule: "a hint for an id no node may have is refused",
			w: ReplicaWrite{Key: []byte("k"), In: []object.Sibling{v}, HintFor: "n/3"}, tables: open, err: true},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			s := store{}
			if tc.stored != nil {
				s[string(tc.w.Key)] = encode(t, tc.stored...)
			}
			p := newPartition(t, s)
			out := p.Replicate(tc.w, tc.tables)
			if (out.Err != nil) != tc.err || out.Refused != tc.refused || out.Hold != tc.hold || out.Observe != tc.observe {
				t.Fatalf("outcome %+v; want err %v, refused %v, hold %v, observe %v", out, tc.err, tc.refused, tc.hold, tc.observe)
			}
			writes, hints := p.Batch()
			if len(hints) != tc.hints {
				t.Fatalf("%d hints kept, want %d", len(hints), tc.hints)
			}
			got := 0
			if set, err := p.Load(tc.w.Key); err == nil {
				got = len(set)
			}
			if got != tc.after {
				t.Fatalf("%d versions stored after the write (%d writes staged), want %d", got, len(writes), tc.after)
			}
		})
	}
}
