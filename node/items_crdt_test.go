package node

import (
	"testing"

	"github.com/harmoniakv/harmonia/actors"
	"github.com/harmoniakv/harmonia/cluster/request"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
)

// What a client hears of a write of a CRDT item that did not happen.
func TestCRDTWriteErrors(t *testing.T) {
	for _, tc := range []struct {
		rule string
		err  error
		kind tableapi.Kind
		open bool
	}{
		{"a counter that would overflow is the client's error", &actors.DatatypeError{Kind: actors.DatatypeLimit, Msg: "counter out of range"}, tableapi.KindValidation, false},
		{"a replica behind the write's read applied nothing: retry", &actors.DatatypeError{Kind: actors.DatatypeUnseenContext, Msg: "context has updates this replica has not seen"}, tableapi.KindUnavailable, false},
		{"a removal a concurrent write took first applied nothing: retry", &actors.DatatypeError{Kind: actors.DatatypeNotObserved, Msg: "not present"}, tableapi.KindUnavailable, false},
		{"a write short of its quorum may have taken effect", &request.QuorumError{Op: "put", Summary: "1 of 2 acknowledged"}, tableapi.KindUnavailable, true},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			err := crdtWriteError(tc.err)
			te, ok := err.(*tableapi.Error)
			if !ok || te.Kind != tc.kind || te.Open != tc.open {
				t.Fatalf("got %#v, want kind %v open %v", err, tc.kind, tc.open)
			}
		})
	}
}
