package node

import (
	"context"
	"errors"
	"strings"

	"github.com/harmoniakv/harmonia/actors"
	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/crdt"
	"github.com/harmoniakv/harmonia/cluster/datatype"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/messages/datatypepb"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// The CRDT values of tables with conflict = crdt: Fetch and Update. Their
// keys take no Get, Put or Delete, and other tables' keys no Fetch or
// Update.

// datatypeTarget resolves a Fetch's or an Update's table and key; the
// table must hold CRDT values.
func (a *api) datatypeTarget(ctx context.Context, table string, key []byte) ([]byte, error) {
	t, stored, err := a.target(ctx, table, key)
	if err != nil {
		return nil, err
	}
	if t.Conflict != catalog.CRDT {
		conflict := string(t.Conflict)
		if t.Consistency == catalog.Strong {
			conflict = "none (it is strong)"
		}
		return nil, status.Errorf(codes.InvalidArgument, "table %q does not hold CRDT values (its conflict type is %s): Fetch and Update need a table created with --conflict crdt; use get, put and delete", t.Name, conflict)
	}
	return stored, nil
}

// notDatatype refuses Get, Put and Delete on a table of CRDT values.
func notDatatype(t catalog.Table) error {
	if t.Conflict != catalog.CRDT {
		return nil
	}
	return status.Errorf(codes.InvalidArgument, "table %q holds CRDT values: read them with Fetch and change them with Update (harmonia counter, set, map), not get, put and delete", t.Name)
}

func (a *api) Fetch(ctx context.Context, req *kvpb.FetchRequest) (*kvpb.FetchResponse, error) {
	if err := a.joined(); err != nil {
		return nil, err
	}
	key, err := a.datatypeTarget(ctx, req.Table, req.Key)
	if err != nil {
		return nil, err
	}
	r, err := a.sys.Quorum(req.R, a.sys.Config().R)
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := a.sys.Get(ctx, actors.GetRequest{Key: key, R: r, Timeout: timeoutOf(req.TimeoutMs)})
	if err != nil {
		return nil, toStatus(err)
	}
	st, err := object.State(res.Siblings)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "key %s: stored CRDT state: %v", quoteKey(key), err)
	}
	v := datatype.View(st)
	return &kvpb.FetchResponse{Found: len(v.GetMap().GetEntries()) > 0, Value: v, Context: a.sealer.SealDatatype(key, st.Context()), Replied: uint32(res.Replied)}, nil
}

func (a *api) Update(ctx context.Context, req *kvpb.UpdateRequest) (*kvpb.UpdateResponse, error) {
	if err := a.joined(); err != nil {
		return nil, err
	}
	key, err := a.datatypeTarget(ctx, req.Table, req.Key)
	if err != nil {
		return nil, err
	}
	// Checked here for a clear answer before any replica is asked; the
	// coordinating replica checks again.
	if _, err := datatype.Ops(req.Ops); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "key %s: %v", quoteKey(key), err)
	}
	seen, err := a.sealer.OpenDatatype(key, req.Context)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "key %s: %v; pass the context a fetch or an update of this key returned, or none", quoteKey(key), err)
	}
	ops, err := proto.Marshal(&datatypepb.DatatypeOps{Ops: req.Ops})
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "key %s: operations: %v", quoteKey(key), err)
	}
	if err := a.sys.CheckValue(ops); err != nil {
		return nil, toStatus(err)
	}
	wq, err := a.sys.Quorum(req.W, a.sys.Config().W)
	if err != nil {
		return nil, toStatus(err)
	}
	pwq := 0
	if strings.TrimSpace(req.Pw) != "" {
		if pwq, err = a.sys.Quorum(req.Pw, 0); err != nil {
			return nil, toStatus(err)
		}
	}
	put := actors.PutRequest{Key: key, DatatypeOps: ops, DatatypeContext: crdt.EncodeContext(seen), W: max(wq, pwq), PW: pwq, Timeout: timeoutOf(req.TimeoutMs)}
	if !seen.IsEmpty() {
		// A removal takes only what the context saw, and the replica that
		// applies it must have seen all of that: it gets the state of a
		// read quorum to merge first. Without one, it refuses a removal
		// it cannot judge, and the client retries.
		got, err := a.sys.Get(ctx, actors.GetRequest{Key: key, R: a.sys.Config().R, Timeout: timeoutOf(req.TimeoutMs)})
		if err == nil {
			if st, err := object.State(got.Siblings); err == nil {
				put.DatatypeBase = crdt.Encode(st)
			}
		}
	}
	res, err := a.sys.Put(ctx, put)
	if err != nil {
		return nil, datatypeStatus(key, err)
	}
	st, err := crdt.Decode(res.Datatype, object.DatatypeLimits)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "key %s: the coordinating replica's state: %v", quoteKey(key), err)
	}
	return &kvpb.UpdateResponse{Acks: uint32(res.Acks), Hinted: uint32(res.Hinted), Value: datatype.View(st), Context: a.sealer.SealDatatype(key, st.Context())}, nil
}

// datatypeStatus is the status of an update its coordinating replica
// refused, or of any other failure.
func datatypeStatus(key []byte, err error) error {
	var de *actors.DatatypeError
	if !errors.As(err, &de) {
		return toStatus(err)
	}
	switch de.Kind {
	case actors.DatatypeInvalid:
		return status.Errorf(codes.InvalidArgument, "key %s: %v", quoteKey(key), err)
	case actors.DatatypeNotObserved:
		return status.Errorf(codes.FailedPrecondition, "key %s: %v; fetch the key and update with the context it returns", quoteKey(key), err)
	case actors.DatatypeUnseenContext:
		return status.Errorf(codes.Unavailable, "key %s: %v; the replica that applied it has not caught up with your context yet: retry", quoteKey(key), err)
	case actors.DatatypeLimit:
		return status.Errorf(codes.InvalidArgument, "key %s: %v", quoteKey(key), err)
	}
	return toStatus(err)
}
