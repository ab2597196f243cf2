package actors

import (
	"context"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/crdt"
	"github.com/harmoniakv/harmonia/cluster/datatype"
	"github.com/harmoniakv/harmonia/messages/datatypepb"
	"google.golang.org/protobuf/proto"
)

// The coordinating replica takes only the write a key's table takes: a
// CRDT key operations, any other key values, whatever the peer that asked
// sends.
func TestCoordinatorTakesOnlyTheWritesAKeysTableTakes(t *testing.T) {
	sys, stop := startOn(t, vfs.NewMem())
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	crdtKey := catalog.Key(catalog.Table{ID: 1, Consistency: catalog.Eventual, Conflict: catalog.CRDT}, []byte("k"))
	ops, err := proto.Marshal(&datatypepb.DatatypeOps{Ops: []*datatypepb.DatatypeOp{datatype.Increment(1, "n")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rule string
		req  PutRequest
		ok   bool
	}{
		{"a value write to a CRDT key is refused", PutRequest{Key: crdtKey, Value: []byte("v")}, false},
		{"operations on a key that keeps siblings are refused", PutRequest{Key: []byte("plain"), DatatypeOps: ops}, false},
		{"operations on a CRDT key apply", PutRequest{Key: crdtKey, DatatypeOps: ops, DatatypeContext: crdt.EncodeContext(crdt.Context{})}, true},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			_, err := sys.Put(ctx, tc.req)
			if (err == nil) != tc.ok {
				t.Fatalf("put: %v, want ok %v", err, tc.ok)
			}
		})
	}
}
