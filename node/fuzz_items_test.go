package node

import (
	"context"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/messages/itempb"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// itemTableName is the strong table of items FuzzItemRequests creates,
// eventualItemTable the eventual one (last writer wins), crdtItemTable
// the one of CRDT items.
const itemTableName, eventualItemTable, crdtItemTable = "events", "feed", "carts"

// FuzzItemRequests covers the Table service's item calls as a node
// decodes them from outside: whatever the bytes, no handler panics, no
// request ends Internal (every refusal is the client's, a failed
// condition, or a missing table), and an acknowledged PutItem reads back
// as the item it wrote.
func FuzzItemRequests(f *testing.F) {
	h := startFuzzAPI(f)
	ctx := context.Background()
	if _, err := h.a.CreateTable(ctx, &kvpb.CreateTableRequest{Name: itemTableName,
		PartitionKey: &kvpb.KeyAttribute{Name: "user", Type: "S"}, SortKey: &kvpb.KeyAttribute{Name: "at", Type: "N"}}); err != nil {
		f.Fatal(err)
	}
	if _, err := h.a.CreateTable(ctx, &kvpb.CreateTableRequest{Name: eventualItemTable, Consistency: "eventual",
		PartitionKey: &kvpb.KeyAttribute{Name: "user", Type: "S"}, SortKey: &kvpb.KeyAttribute{Name: "at", Type: "N"}}); err != nil {
		f.Fatal(err)
	}
	if _, err := h.a.CreateTable(ctx, &kvpb.CreateTableRequest{Name: crdtItemTable, Consistency: "eventual", Conflict: "crdt",
		PartitionKey: &kvpb.KeyAttribute{Name: "user", Type: "S"}, SortKey: &kvpb.KeyAttribute{Name: "at", Type: "N"}}); err != nil {
		f.Fatal(err)
	}
	tables := []string{itemTableName, eventualItemTable, crdtItemTable}
	key := item.ItemToProto(item.Item{"user": item.S("ann"), "at": item.MustNumber("1")})
	full := item.ItemToProto(item.Item{"user": item.S("ann"), "at": item.MustNumber("1"), "n": item.MustNumber("5"), "tags": item.SS{"a", "b"}})
	one := map[string]*itempb.AttributeValue{":one": item.ToProto(item.MustNumber("1")), ":u": item.ToProto(item.S("ann"))}
	seeds := []proto.Message{
		&kvpb.PutItemRequest{Table: itemTableName, Item: full, ConditionExpression: "attribute_not_exists(#u)", ExpressionAttributeNames: map[string]string{"#u": "user"}},
		&kvpb.GetItemRequest{Table: itemTableName, Key: key, ProjectionExpression: "tags, n"},
		&kvpb.UpdateItemRequest{Table: itemTableName, Key: key, UpdateExpression: "ADD n :one", ExpressionAttributeValues: map[string]*itempb.AttributeValue{":one": one[":one"]}, ReturnValues: "ALL_NEW"},
		&kvpb.DeleteItemRequest{Table: itemTableName, Key: key, ConditionExpression: "n > :one", ExpressionAttributeValues: map[string]*itempb.AttributeValue{":one": one[":one"]}},
		&kvpb.QueryRequest{Table: itemTableName, KeyConditionExpression: "#u = :u", ExpressionAttributeNames: map[string]string{"#u": "user"},
			ExpressionAttributeValues: map[string]*itempb.AttributeValue{":u": one[":u"]}, Limit: 2},
	}
	for i, r := range seeds {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		for j := range tables { // the same on each table
			f.Add(byte(i+j*len(seeds)), b)
		}
	}
	f.Fuzz(func(t *testing.T, kind byte, body []byte) {
		m := seeds[int(kind)%len(seeds)].ProtoReflect().New().Interface()
		table := tables[int(kind)/len(seeds)%len(tables)]
		if err := proto.Unmarshal(body, m); err != nil {
			return
		}
		var err error
		switch req := m.(type) {
		case *kvpb.PutItemRequest:
			req.Table = table
			if _, err = h.a.PutItem(ctx, req); err == nil {
				want, _ := item.ItemFromProto(req.Item)
				k := item.Item{"user": want["user"], "at": want["at"]}
				got, gerr := h.a.GetItem(ctx, &kvpb.GetItemRequest{Table: table, Key: item.ItemToProto(k)})
				if gerr != nil {
					t.Fatalf("get after put: %v", gerr)
				}
				if back, _ := item.ItemFromProto(got.Item); !item.EqualItems(back, want) {
					t.Fatalf("put %v acknowledged, read back %v", want, back)
				}
			}
		case *kvpb.GetItemRequest:
			req.Table = table
			_, err = h.a.GetItem(ctx, req)
		case *kvpb.UpdateItemRequest:
			req.Table = table
			_, err = h.a.UpdateItem(ctx, req)
		case *kvpb.DeleteItemRequest:
			req.Table = table
			_, err = h.a.DeleteItem(ctx, req)
		case *kvpb.QueryRequest:
			req.Table = table
			_, err = h.a.Query(ctx, req)
		}
		switch status.Code(err) {
		case codes.OK, codes.InvalidArgument, codes.FailedPrecondition:
		default:
			t.Fatalf("%T %v: %v", m, m, err)
		}
	})
}
