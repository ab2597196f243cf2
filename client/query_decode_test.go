package client

import (
	"testing"

	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/messages/itempb"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// protobufPage is what readQueryPage must answer: protobuf's decoding of
// the whole response, and each item through item.ItemFromProto.
func protobufPage(b []byte) (*QueryPage, error) {
	var res kvpb.QueryResponse
	if err := proto.Unmarshal(b, &res); err != nil {
		return nil, err
	}
	return queryPageOf(&res)
}

func samePage(a, b *QueryPage) bool {
	if a.Count != b.Count || a.ScannedCount != b.ScannedCount || len(a.Items) != len(b.Items) || !item.EqualItems(a.LastEvaluatedKey, b.LastEvaluatedKey) ||
		(a.LastEvaluatedKey == nil) != (b.LastEvaluatedKey == nil) {
		return false
	}
	for i := range a.Items {
		if !item.EqualItems(a.Items[i], b.Items[i]) {
			return false
		}
	}
	return true
}

func TestReadQueryPage(t *testing.T) {
	enc := func(res *kvpb.QueryResponse) []byte {
		b, err := proto.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a := item.ItemToProto(item.Item{"pk": item.S("ann"), "sk": item.MustNumber("1"), "v": item.B("x")})
	b := item.ItemToProto(item.Item{"pk": item.S("ann"), "sk": item.MustNumber("2"), "l": item.L{item.SS{"y", "x"}}})
	key := item.ItemToProto(item.Item{"pk": item.S("ann"), "sk": item.MustNumber("2")})
	for _, tc := range []struct {
		rule string
		b    []byte
		err  bool
	}{
		{"a page of items and a last key", enc(&kvpb.QueryResponse{Items: []*itempb.Item{a, b}, Count: 2, ScannedCount: 3, LastEvaluatedKey: key}), false},
		{"the last page", enc(&kvpb.QueryResponse{Items: []*itempb.Item{a}, Count: 1, ScannedCount: 1}), false},
		{"a page of none", enc(&kvpb.QueryResponse{}), false},
		{"a count only", enc(&kvpb.QueryResponse{Count: 7, ScannedCount: 9}), false},
		{"a field this client does not know goes through protobuf", protowire.AppendVarint(protowire.AppendTag(enc(&kvpb.QueryResponse{Items: []*itempb.Item{a}, Count: 1}), 15, protowire.VarintType), 3), false},
		{"an item that is not one is the page's error", append(enc(&kvpb.QueryResponse{Count: 1}), 0x0a, 0x03, 0x0a, 0x01, 0x00), true},
		{"truncated bytes are the page's error", enc(&kvpb.QueryResponse{Items: []*itempb.Item{a}})[:5], true},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			got, err := readQueryPage(tc.b)
			want, werr := protobufPage(tc.b)
			if (err != nil) != tc.err || (werr != nil) != tc.err {
				t.Fatalf("errors %v and protobuf's %v, want an error: %v", err, werr, tc.err)
			}
			if err == nil && !samePage(got, want) {
				t.Fatalf("read %+v, protobuf %+v", got, want)
			}
		})
	}
	// The direct reading is the one taken for what the node sends.
	if _, ok, _ := readQueryFields(enc(&kvpb.QueryResponse{Items: []*itempb.Item{a, b}, Count: 2, LastEvaluatedKey: key})); !ok {
		t.Fatal("a node's answer was not read directly")
	}
}

// Whatever the bytes, readQueryPage answers as protobuf does (an error
// or the same page), and never panics.
func FuzzReadQueryPage(f *testing.F) {
	a := item.ItemToProto(item.Item{"pk": item.S("ann"), "sk": item.MustNumber("1")})
	for _, res := range []*kvpb.QueryResponse{{Items: []*itempb.Item{a, a}, Count: 2, ScannedCount: 2, LastEvaluatedKey: a}, {Count: 1}} {
		b, _ := proto.Marshal(res)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := readQueryPage(b)
		want, werr := protobufPage(b)
		if (err != nil) != (werr != nil) || (err == nil && !samePage(got, want)) {
			t.Fatalf("read %+v, %v; protobuf %+v, %v", got, err, want, werr)
		}
	})
}
