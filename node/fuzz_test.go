package node

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/harmoniakv/harmonia/actors"
	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/causal"
	"github.com/harmoniakv/harmonia/cluster/datatype"
	"github.com/harmoniakv/harmonia/cluster/quorum"
	"github.com/harmoniakv/harmonia/internal/testport"
	"github.com/harmoniakv/harmonia/messages/datatypepb"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"github.com/harmoniakv/harmonia/persistence"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// fuzzAPI is the client API of a one-node cluster (N = R = W = 1) that
// takes the test-only writes, started once per fuzz target: requests run
// the handlers a node runs, on its actors and store.
type fuzzAPI struct {
	a, safe *api // safe refuses the test-only calls, as a default server does
	sealer  *causal.Sealer
	cfg     actors.Config
	limits  persistence.Options
	// crdt is the table of CRDT values fuzzRequests creates.
	crdt catalog.Table
}

func startFuzzAPI(f *testing.F) *fuzzAPI {
	opts := persistence.DefaultOptions()
	opts.Sync = false
	store, err := persistence.Open(f.TempDir(), "n1", opts)
	if err != nil {
		f.Fatal(err)
	}
	addr, err := testport.Addr()
	if err != nil {
		f.Fatal(err)
	}
	cfg := actors.DefaultConfig()
	cfg.NodeID, cfg.ClusterAddr, cfg.ClientAddr = "n1", addr, "127.0.0.1:0"
	cfg.Partitions, cfg.N, cfg.R, cfg.W = 8, 1, 1, 1
	sealer, err := causal.NewSealer([][]byte{[]byte(causal.DefaultSecret)})
	if err != nil {
		f.Fatal(err)
	}
	cfg.SecretFingerprints = sealer.Fingerprints()
	sys, err := actors.Start(cfg, store)
	if err != nil {
		store.Close()
		f.Fatal(err)
	}
	f.Cleanup(func() {
		sys.Stop()
		store.Close()
	})
	items := &tableService{sys: sys}
	return &fuzzAPI{a: &api{sys: sys, sealer: sealer, unsafeTestWrites: true, items: items}, safe: &api{sys: sys, sealer: sealer, items: items},
		sealer: sealer, cfg: cfg, limits: opts}
}

// valid says whether a client's key, value and context pass the limits
// and the seal, and its quorum specs parse against N.
func (h *fuzzAPI) valid(key, value, rawContext []byte, specs ...string) bool {
	if len(key) == 0 || len(key) > h.limits.MaxKeySize || len(value) > h.limits.MaxValueSize || key[0] == catalog.Reserved {
		return false
	}
	if _, err := h.sealer.Open(key, rawContext); err != nil {
		return false
	}
	for _, spec := range specs {
		if _, err := quorum.Parse(spec, h.cfg.N, 1); err != nil {
			return false
		}
	}
	return true
}

// otherTable checks the answer to a request naming a created table (this
// node has none): InvalidArgument for a bad key or table name, else
// NotFound. It reports whether the request named one.
func (h *fuzzAPI) otherTable(t *testing.T, req proto.Message, table string, key []byte, err error) bool {
	t.Helper()
	if table == "" || table == catalog.DefaultTable {
		return false
	}
	want := codes.NotFound
	if len(key) == 0 || len(key) > h.limits.MaxKeySize || catalog.CheckName(table) != nil {
		want = codes.InvalidArgument
	}
	if status.Code(err) != want {
		t.Fatalf("request %v for a table that does not exist: %v, want %v", req, err, want)
	}
	return true
}

// checkCode fails unless err is nil (or, for a request with a timeout of
// its own, DeadlineExceeded) when the request is valid, and an
// InvalidArgument status when it is not.
func checkCode(t *testing.T, req proto.Message, valid bool, err error) {
	t.Helper()
	code := status.Code(err)
	switch {
	case !valid && code != codes.InvalidArgument:
		t.Fatalf("invalid request %v answered %v, want InvalidArgument", req, err)
	case valid && err != nil && code != codes.DeadlineExceeded:
		t.Fatalf("valid request %v failed: %v", req, err)
	}
}

// checkContext fails unless a context handed back opens for key.
func (h *fuzzAPI) checkContext(t *testing.T, key, ctx []byte) {
	t.Helper()
	if _, err := h.sealer.Open(key, ctx); err != nil {
		t.Fatalf("context returned for key %q does not open: %v", key, err)
	}
}

// get reads key as a client that gives the node time.
func (h *fuzzAPI) get(t *testing.T, key []byte) *kvpb.GetResponse {
	t.Helper()
	res, err := h.a.Get(context.Background(), &kvpb.GetRequest{Key: key, TimeoutMs: 5000})
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	return res
}

// fuzzRequests are the client requests a node decodes, one realistic
// instance each; its encoding seeds the corpus.
func fuzzRequests(f *testing.F, h *fuzzAPI) []proto.Message {
	key := []byte("cart")
	w, err := h.a.Put(context.Background(), &kvpb.PutRequest{Key: key, Value: []byte("apple")})
	if err != nil {
		f.Fatal(err)
	}
	created, err := h.a.CreateTable(context.Background(), &kvpb.CreateTableRequest{Name: fuzzCRDTTable, Conflict: "crdt"})
	if err != nil {
		f.Fatal(err)
	}
	h.crdt = catalog.Table{Name: fuzzCRDTTable, ID: created.Table.Id, Consistency: catalog.Eventual, Conflict: catalog.CRDT}
	dt, err := h.a.Update(context.Background(), &kvpb.UpdateRequest{Table: fuzzCRDTTable, Key: key, Ops: []*datatypepb.DatatypeOp{datatype.Add("a", "s"), datatype.Enable(true, "f")}})
	if err != nil {
		f.Fatal(err)
	}
	return []proto.Message{
		&kvpb.GetRequest{Key: key, R: "one", TimeoutMs: 2000},
		&kvpb.PutRequest{Key: key, Value: []byte("pear"), Context: w.Context, W: "quorum", Pw: "1"},
		&kvpb.DeleteRequest{Key: key, Context: w.Context, W: "all"},
		&kvpb.ReplicasRequest{Key: key},
		&kvpb.WriteReplicaRequest{Key: key, Value: []byte("plum"), Context: w.Context},
		&kvpb.PlanRequest{Join: []string{"n2", "n3"}, Leave: []string{"n1"}},
		&kvpb.RemoveRequest{Node: "n2"},
		&kvpb.RepairRequest{Partition: -1, Peer: "n2"},
		&kvpb.StatusRequest{},
		&kvpb.LeaveRequest{},
		&kvpb.CrashVnodeRequest{Partition: 3},
		&kvpb.FetchRequest{Table: fuzzCRDTTable, Key: key, R: "one"},
		&kvpb.UpdateRequest{Table: fuzzCRDTTable, Key: key, Context: dt.Context, W: "one",
			Ops: []*datatypepb.DatatypeOp{datatype.Increment(2, "n"), datatype.Add("x", "m", "s"), datatype.Remove("a", "s"), datatype.RemoveField("flag", "f")}},
	}
}

// fuzzCRDTTable is the fuzz cluster's table of CRDT values.
const fuzzCRDTTable = "fuzz-crdt"

// checkDatatype fails unless a Fetch or an Update ended well (a context
// that opens for the key) or with a status a client can act on.
func (h *fuzzAPI) checkDatatype(t *testing.T, req proto.Message, key, ctx []byte, err error) {
	t.Helper()
	switch status.Code(err) {
	case codes.OK:
		if _, err := h.sealer.OpenDatatype(catalog.Key(h.crdt, key), ctx); err != nil {
			t.Fatalf("%v: the context handed back does not open: %v", req, err)
		}
	case codes.InvalidArgument, codes.FailedPrecondition, codes.DeadlineExceeded, codes.Unavailable:
	default:
		t.Fatalf("%v: %v, want OK or a status a client can act on", req, err)
	}
}

// FuzzRequests covers the client requests a node decodes from outside (the
// gRPC codec's proto.Unmarshal of kvpb requests) and the handlers that
// take them, on a running one-node cluster. Whatever the bytes, no handler
// panics; a request is refused with InvalidArgument exactly when its key,
// value, causal context or quorum specs are not acceptable; what is taken
// is done: contexts handed back open for their key, a written value is
// read back, and a plan keeps the joining nodes and drops the leaving ones.
func FuzzRequests(f *testing.F) {
	h := startFuzzAPI(f)
	reqs := fuzzRequests(f, h)
	for i, r := range reqs {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(i), b)
		f.Add(byte(i), []byte{})
		f.Add(byte(i), []byte{0x0a, 0x05, 0xff, 0x00, 0x22, 0x01, 0x7f})
	}
	f.Fuzz(func(t *testing.T, kind byte, body []byte) {
		m := reqs[int(kind)%len(reqs)].ProtoReflect().New().Interface()
		if err := proto.Unmarshal(body, m); err != nil {
			return
		}
		ctx := context.Background()
		switch req := m.(type) {
		case *kvpb.FetchRequest:
			res, err := h.a.Fetch(ctx, req)
			if req.Table != fuzzCRDTTable {
				if !h.otherTable(t, req, req.Table, req.Key, err) && status.Code(err) != codes.InvalidArgument {
					t.Fatalf("fetch %v of a table without CRDT values: %v, want InvalidArgument", req, err)
				}
				return
			}
			h.checkDatatype(t, req, req.Key, res.GetContext(), err)
		case *kvpb.UpdateRequest:
			res, err := h.a.Update(ctx, req)
			if req.Table != fuzzCRDTTable {
				if !h.otherTable(t, req, req.Table, req.Key, err) && status.Code(err) != codes.InvalidArgument {
					t.Fatalf("update %v of a table without CRDT values: %v, want InvalidArgument", req, err)
				}
				return
			}
			h.checkDatatype(t, req, req.Key, res.GetContext(), err)
		case *kvpb.GetRequest:
			res, err := h.a.Get(ctx, req)
			if h.otherTable(t, req, req.Table, req.Key, err) {
				return
			}
			checkCode(t, req, h.valid(req.Key, nil, nil, req.R), err)
			if err == nil {
				h.checkContext(t, req.Key, res.Context)
				if res.Found != (len(res.Siblings) > 0) {
					t.Fatalf("found=%v with %d siblings", res.Found, len(res.Siblings))
				}
			}
		case *kvpb.PutRequest:
			res, err := h.a.Put(ctx, req)
			if h.otherTable(t, req, req.Table, req.Key, err) {
				return
			}
			// The default table is eventual: it takes no condition.
			checkCode(t, req, h.valid(req.Key, req.Value, req.Context, req.W, req.Pw) && !req.IfAbsent && len(req.IfVersion) == 0, err)
			if err == nil {
				h.checkContext(t, req.Key, res.Context)
				if !slices.ContainsFunc(h.get(t, req.Key).Siblings, func(s *kvpb.Sibling) bool { return bytes.Equal(s.Value, req.Value) }) {
					t.Fatalf("put of %q to %q acknowledged, not read back", req.Value, req.Key)
				}
			}
		case *kvpb.DeleteRequest:
			_, err := h.a.Delete(ctx, req)
			if h.otherTable(t, req, req.Table, req.Key, err) {
				return
			}
			checkCode(t, req, h.valid(req.Key, nil, req.Context, req.W, req.Pw) && len(req.IfVersion) == 0, err)
		case *kvpb.WriteReplicaRequest:
			res, err := h.a.WriteReplica(ctx, req)
			checkCode(t, req, h.valid(req.Key, req.Value, req.Context), err)
			if err == nil {
				h.checkContext(t, req.Key, res.Context)
			}
		case *kvpb.ReplicasRequest:
			res, err := h.a.Replicas(ctx, req)
			if req.Table == fuzzCRDTTable {
				return // a table of its own, checked by Fetch and Update
			}
			if h.otherTable(t, req, req.Table, req.Key, err) {
				return
			}
			checkCode(t, req, h.valid(req.Key, nil, nil), err)
			if err == nil && (len(res.Replicas) != 1 || res.Replicas[0].Node != "n1" || int(res.Partition) >= h.cfg.Partitions) {
				t.Fatalf("replicas of %q on a one-node cluster: %v", req.Key, res)
			}
		case *kvpb.PlanRequest:
			res, err := h.a.Plan(ctx, req)
			if err != nil {
				if status.Code(err) != codes.InvalidArgument {
					t.Fatalf("plan %v: %v, want InvalidArgument", req, err)
				}
				return
			}
			owned := 0
			for _, n := range res.OwnedAfter {
				owned += int(n)
			}
			for _, id := range req.Join {
				if !slices.Contains(res.Next, id) {
					t.Fatalf("plan %v: joining %q is not in the next ring %v", req, id, res.Next)
				}
			}
			for _, id := range req.Leave {
				if slices.Contains(res.Next, id) {
					t.Fatalf("plan %v: leaving %q stays in the next ring %v", req, id, res.Next)
				}
			}
			if owned != h.cfg.Partitions {
				t.Fatalf("plan %v: owners of %d partitions, want %d", req, owned, h.cfg.Partitions)
			}
		case *kvpb.RemoveRequest:
			// The only member is this node, which cannot remove itself.
			if _, err := h.a.Remove(ctx, req); status.Code(err) != codes.InvalidArgument {
				t.Fatalf("remove %q: %v, want InvalidArgument", req.Node, err)
			}
		case *kvpb.RepairRequest:
			res, err := h.a.Repair(ctx, req)
			inRange := req.Partition >= -1 && req.Partition < int32(h.cfg.Partitions)
			checkCode(t, req, inRange, err)
			if err == nil && len(res.Exchanges) != 0 {
				t.Fatalf("repair on a one-node cluster ran %v", res.Exchanges)
			}
		case *kvpb.StatusRequest:
			if res, err := h.a.Status(ctx, req); err != nil || res.Node != "n1" {
				t.Fatalf("status: %v, %v", res, err)
			}
		case *kvpb.LeaveRequest:
			// The last normal member has nowhere to hand its data.
			if _, err := h.a.Leave(ctx, req); status.Code(err) != codes.FailedPrecondition {
				t.Fatalf("leave of the only member: %v", err)
			}
		case *kvpb.CrashVnodeRequest:
			if _, err := h.safe.CrashVnode(ctx, req); status.Code(err) != codes.FailedPrecondition {
				t.Fatalf("crash vnode without test writes allowed: %v", err)
			}
		default:
			t.Fatalf("no handler for %T", m)
		}
	})
}
