package replica

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/datatype"
	"github.com/harmoniakv/harmonia/cluster/hlc"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/messages/datatypepb"
	"google.golang.org/protobuf/proto"
)

func TestPlanStamp(t *testing.T) {
	siblings := catalog.Key(catalog.Table{ID: 3, Consistency: catalog.Eventual, Conflict: catalog.Siblings}, []byte("k"))
	lww := catalog.Key(catalog.Table{ID: 4, Consistency: catalog.Eventual, Conflict: catalog.LWW}, []byte("k"))
	crdtKey := catalog.Key(catalog.Table{ID: 5, Consistency: catalog.Eventual, Conflict: catalog.CRDT}, []byte("k"))
	ctx := hlc.Timestamp{Wall: 5, Logical: 2, Node: "n2"}
	ctxStamp := object.StampToProto(ctx)
	bad := []byte{0xff}
	for _, tc := range []struct {
		rule       string
		key, after []byte
		justAfter  bool
		want       StampPlan
		err        string // the exact refusal; "" for none
		is         error  // what the refusal wraps, if anything
	}{
		{rule: "a key of the default table keeps siblings and takes no stamp", key: []byte("k"), want: StampPlan{Stamping: NoStamp}},
		{rule: "a key of a table that keeps siblings takes no stamp", key: siblings, want: StampPlan{Stamping: NoStamp}},
		{rule: "a key that keeps siblings ignores a request for a stamp just after", key: siblings, justAfter: true, want: StampPlan{Stamping: NoStamp}},
		{rule: "a key that keeps siblings refuses a stamped write", key: siblings, after: ctxStamp,
			err: `key "k" keeps siblings: a write with a last-writer-wins stamp is refused`},
		{rule: "a CRDT key refuses a value write", key: crdtKey,
			err: `key "k" is of crdt table 5: a value write is refused; CRDT values change by operations (Update)`},
		{rule: "a CRDT key's refusal comes before its context's stamp is read", key: crdtKey, after: bad,
			err: `key "k" is of crdt table 5: a value write is refused; CRDT values change by operations (Update)`},
		{rule: "a last-writer-wins write is stamped after its context's stamp", key: lww, after: ctxStamp, want: StampPlan{Stamping: StampAfter, After: ctx}},
		{rule: "a blind last-writer-wins write is stamped after none", key: lww, want: StampPlan{Stamping: StampAfter}},
		{rule: "a last-writer-wins write just after its context is stamped just above it", key: lww, after: ctxStamp, justAfter: true,
			want: StampPlan{Stamping: StampJustAfter, After: ctx}},
		{rule: "a last-writer-wins write just after its context needs a context with a stamp", key: lww, justAfter: true,
			err: `key "k": a write stamped just after its context needs a context with a stamp`},
		{rule: "a context's stamp that does not decode is refused", key: lww, after: bad,
			err: "the context's stamp: decode timestamp: invalid hybrid logical timestamp: 1 bytes, the header alone is 13", is: hlc.ErrInvalid},
		{rule: "a context's stamp that does not decode is refused for a key that keeps siblings too", key: siblings, after: bad, is: hlc.ErrInvalid},
		{rule: "a key that does not parse is refused", key: []byte{catalog.Reserved}, is: catalog.ErrBadKey},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			got, err := PlanStamp(tc.key, tc.after, tc.justAfter)
			refused := tc.err != "" || tc.is != nil
			switch {
			case !refused && err != nil:
				t.Fatalf("refused: %v", err)
			case refused && err == nil:
				t.Fatalf("planned %+v, want a refusal", got)
			case tc.err != "" && err.Error() != tc.err:
				t.Fatalf("refusal %q, want %q", err, tc.err)
			case tc.is != nil && !errors.Is(err, tc.is):
				t.Fatalf("refusal %v does not wrap %v", err, tc.is)
			case !refused && got != tc.want:
				t.Fatalf("planned %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDatatypeOps(t *testing.T) {
	crdtKey := catalog.Key(catalog.Table{ID: 5, Consistency: catalog.Eventual, Conflict: catalog.CRDT}, []byte("k"))
	lww := catalog.Key(catalog.Table{ID: 4, Consistency: catalog.Eventual, Conflict: catalog.LWW}, []byte("k"))
	itemKey, err := catalog.ItemKey(catalog.Table{ID: 6, Consistency: catalog.Eventual, Conflict: catalog.CRDT,
		Schema: item.KeySchema{Partition: item.KeyAttribute{Name: "user", Type: item.TypeS}}}, item.Key{Partition: item.S("ann")})
	if err != nil {
		t.Fatal(err)
	}
	encode := func(ops ...*datatypepb.DatatypeOp) []byte {
		b, err := proto.Marshal(&datatypepb.DatatypeOps{Ops: ops})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	addBytes := func(n int) []byte {
		return encode(&datatypepb.DatatypeOp{Path: datatype.Path("set", "s"), Op: &datatypepb.DatatypeOp_AddBytes{AddBytes: make([]byte, n)}})
	}
	increment := encode(&datatypepb.DatatypeOp{Path: datatype.Path("counter", "c"), Op: &datatypepb.DatatypeOp_Increment{Increment: 1}})
	notCRDT := func(key []byte) string {
		return fmt.Sprintf("key %q is not of a crdt table: CRDT operations are refused", key)
	}
	for _, tc := range []struct {
		rule     string
		key, ops []byte
		n        int    // operations decoded
		err      string // the exact refusal; "" for none
		prefix   string // how the refusal begins, if that is all it says for sure
		is       error  // what the refusal wraps, if anything
	}{
		{rule: "a CRDT key's operations decode", key: crdtKey, ops: increment, n: 1},
		{rule: "a key of the default table refuses CRDT operations", key: []byte("k"), ops: increment, err: notCRDT([]byte("k"))},
		{rule: "a last-writer-wins key refuses CRDT operations", key: lww, ops: increment, err: notCRDT(lww)},
		{rule: "a key that does not parse refuses CRDT operations", key: []byte{catalog.Reserved}, ops: increment, err: notCRDT([]byte{catalog.Reserved})},
		{rule: "operations that do not unmarshal are refused", key: crdtKey, ops: []byte{0xff}, prefix: "CRDT operations: "},
		{rule: "a CRDT key's operations decode as a client's value: elements of bytes are refused", key: crdtKey, ops: addBytes(2), is: datatype.ErrInvalid},
		{rule: "an item key's operations decode as an item's: elements of bytes are taken", key: itemKey, ops: addBytes(2), n: 1},
		{rule: "an item key's elements are bounded by an item's size", key: itemKey, ops: addBytes(item.MaxItemSize + 1), is: datatype.ErrInvalid},
		{rule: "no operation is refused", key: crdtKey, ops: encode(), is: datatype.ErrInvalid},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			got, err := DatatypeOps(tc.key, tc.ops)
			refused := tc.err != "" || tc.prefix != "" || tc.is != nil
			switch {
			case !refused && err != nil:
				t.Fatalf("refused: %v", err)
			case refused && err == nil:
				t.Fatalf("decoded %d operations, want a refusal", len(got))
			case tc.err != "" && err.Error() != tc.err:
				t.Fatalf("refusal %q, want %q", err, tc.err)
			case tc.prefix != "" && (!strings.HasPrefix(err.Error(), tc.prefix) || errors.Unwrap(err) == nil):
				t.Fatalf("refusal %v does not wrap an error after %q", err, tc.prefix)
			case tc.is != nil && !errors.Is(err, tc.is):
				t.Fatalf("refusal %v does not wrap %v", err, tc.is)
			case !refused && len(got) != tc.n:
				t.Fatalf("%d operations decoded, want %d", len(got), tc.n)
			}
		})
	}
}
