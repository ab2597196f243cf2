package node

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// strongTable is the strong table FuzzStrongRequests creates.
const strongTable = "orders"

// validStrong is whether a strong table's request passes the checks a node
// makes before consensus: a key and value within the limits, no option of
// the eventual path (r, w, pw, a causal context), at most one condition,
// and a version issued for this very key of this table.
func (h *fuzzAPI) validStrong(t catalog.Table, key, value, rawContext, ifVersion []byte, ifAbsent bool, quorums ...string) bool {
	if len(key) == 0 || len(key) > h.limits.MaxKeySize || len(value) > h.limits.MaxValueSize || len(rawContext) > 0 {
		return false
	}
	for _, q := range quorums {
		if strings.TrimSpace(q) != "" {
			return false
		}
	}
	if len(ifVersion) > 0 {
		if ifAbsent {
			return false
		}
		if _, err := h.sealer.OpenVersion(catalog.Key(t, key), ifVersion); err != nil {
			return false
		}
	}
	return true
}

// FuzzStrongRequests covers the KV requests of a strong table as a node
// decodes them from outside: whatever the bytes, no handler panics; a
// request is refused with InvalidArgument exactly when it fails the
// checks of validStrong; a valid write either takes effect (a get reads
// it back at the version it answered) or fails its condition with the
// key's current version; nothing else.
func FuzzStrongRequests(f *testing.F) {
	h := startFuzzAPI(f)
	ctx := context.Background()
	created, err := h.a.CreateTable(ctx, &kvpb.CreateTableRequest{Name: strongTable, Consistency: string(catalog.Strong)})
	if err != nil {
		f.Fatal(err)
	}
	table := catalog.Table{Name: strongTable, ID: created.Table.Id, Consistency: catalog.Strong}
	key := []byte("order-1")
	w, err := h.a.Put(ctx, &kvpb.PutRequest{Table: strongTable, Key: key, Value: []byte("new"), IfAbsent: true})
	if err != nil {
		f.Fatal(err)
	}
	eventual, err := h.a.Put(ctx, &kvpb.PutRequest{Key: key, Value: []byte("x")})
	if err != nil {
		f.Fatal(err)
	}
	seeds := []proto.Message{
		&kvpb.GetRequest{Table: strongTable, Key: key},
		&kvpb.PutRequest{Table: strongTable, Key: key, Value: []byte("paid"), IfVersion: w.Context},
		&kvpb.PutRequest{Table: strongTable, Key: []byte("order-2"), Value: []byte("new"), IfAbsent: true},
		&kvpb.PutRequest{Table: strongTable, Key: key, Value: []byte("x"), Context: eventual.Context, W: "1"},
		&kvpb.DeleteRequest{Table: strongTable, Key: key, IfVersion: w.Context},
		&kvpb.DeleteRequest{Table: strongTable, Key: key, IfVersion: eventual.Context},
	}
	for i, r := range seeds {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(i), b)
		f.Add(byte(i), append(b, 0x42, 0x01, 0x01)) // if_absent on top
	}
	f.Fuzz(func(t *testing.T, kind byte, body []byte) {
		m := seeds[int(kind)%len(seeds)].ProtoReflect().New().Interface()
		if err := proto.Unmarshal(body, m); err != nil {
			return
		}
		switch req := m.(type) {
		case *kvpb.GetRequest:
			req.Table = strongTable
			res, err := h.a.Get(ctx, req)
			checkCode(t, req, h.validStrong(table, req.Key, nil, nil, nil, false, req.R), err)
			if err == nil {
				if res.Consistency != string(catalog.Strong) || res.Found != (len(res.Siblings) == 1) {
					t.Fatalf("strong get answered %v", res)
				}
				if len(res.Context) > 0 {
					if _, err := h.sealer.OpenVersion(catalog.Key(table, req.Key), res.Context); err != nil {
						t.Fatalf("version returned for %q does not open: %v", req.Key, err)
					}
				}
			}
		case *kvpb.PutRequest:
			req.Table = strongTable
			res, err := h.a.Put(ctx, req)
			valid := h.validStrong(table, req.Key, req.Value, req.Context, req.IfVersion, req.IfAbsent, req.W, req.Pw)
			if conditionFailed(t, req, valid, err) {
				return
			}
			checkCode(t, req, valid, err)
			if err == nil {
				got := h.strongGet(t, req.Key)
				if !got.Found || !bytes.Equal(got.Siblings[0].Value, req.Value) || !bytes.Equal(got.Context, res.Context) {
					t.Fatalf("put of %q to %q acknowledged at version %x, read back %v", req.Value, req.Key, res.Context, got)
				}
			}
		case *kvpb.DeleteRequest:
			req.Table = strongTable
			_, err := h.a.Delete(ctx, req)
			valid := h.validStrong(table, req.Key, nil, req.Context, req.IfVersion, false, req.W, req.Pw)
			if conditionFailed(t, req, valid, err) {
				return
			}
			checkCode(t, req, valid, err)
			if err == nil && h.strongGet(t, req.Key).Found {
				t.Fatalf("delete of %q acknowledged, read back", req.Key)
			}
		}
	})
}

// conditionFailed checks a failed condition: only a valid request may end
// so, with the key's current version as its detail.
func conditionFailed(t *testing.T, req proto.Message, valid bool, err error) bool {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.FailedPrecondition {
		return false
	}
	if !valid {
		t.Fatalf("invalid request %v failed its condition: %v", req, err)
	}
	if len(st.Details()) != 1 {
		t.Fatalf("failed condition without its detail: %v", err)
	}
	return true
}

func (h *fuzzAPI) strongGet(t *testing.T, key []byte) *kvpb.GetResponse {
	t.Helper()
	res, err := h.a.Get(context.Background(), &kvpb.GetRequest{Table: strongTable, Key: key})
	if err != nil {
		t.Fatalf("strong get %q: %v", key, err)
	}
	return res
}
