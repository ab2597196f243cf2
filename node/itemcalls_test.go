package node

import (
	"errors"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/tableapi"
	"github.com/harmoniakv/harmonia/messages/itempb"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func TestItemStatus(t *testing.T) {
	for _, tc := range []struct {
		rule string
		err  error
		want codes.Code
	}{
		{"a request DynamoDB would refuse is InvalidArgument", tableapi.Errorf(tableapi.KindValidation, "bad"), codes.InvalidArgument},
		{"a failed condition is FailedPrecondition", tableapi.Errorf(tableapi.KindConditionFailed, "The conditional request failed"), codes.FailedPrecondition},
		{"a missing table is NotFound", tableapi.Errorf(tableapi.KindTableNotFound, "no table"), codes.NotFound},
		{"a name in use is AlreadyExists", tableapi.Errorf(tableapi.KindTableExists, "exists"), codes.AlreadyExists},
		{"too many tables is ResourceExhausted", tableapi.Errorf(tableapi.KindLimitExceeded, "too many"), codes.ResourceExhausted},
		{"contention is Aborted", tableapi.Errorf(tableapi.KindContention, "lost"), codes.Aborted},
		{"contention of a write that may still take effect is Aborted and Indeterminate", &tableapi.Error{Kind: tableapi.KindContention, Msg: "lost", Open: true}, codes.Aborted},
		{"too few replicas is Unavailable", tableapi.Errorf(tableapi.KindUnavailable, "few"), codes.Unavailable},
		{"too few replicas for a write that may still take effect is Unavailable and Indeterminate", &tableapi.Error{Kind: tableapi.KindUnavailable, Msg: "few", Open: true}, codes.Unavailable},
		{"an error without a kind is Internal", errors.New("disk"), codes.Internal},
		{"a kind without a code is Internal, never OK", &tableapi.Error{Kind: tableapi.Kind(1000), Msg: "new"}, codes.Internal},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			st := status.Convert(itemStatus(tc.err))
			if st.Code() != tc.want || st.Message() != tc.err.Error() {
				t.Fatalf("got %v %q, want %v %q", st.Code(), st.Message(), tc.want, tc.err.Error())
			}
			condition, open := false, false
			for _, d := range st.Details() {
				switch d.(type) {
				case *kvpb.ItemConditionFailed:
					condition = true
				case *kvpb.Indeterminate:
					open = true
				}
			}
			if condition != (tc.want == codes.FailedPrecondition) {
				t.Fatalf("ItemConditionFailed detail: %v", condition)
			}
			var te *tableapi.Error
			if open != (errors.As(tc.err, &te) && te.Open) {
				t.Fatalf("Indeterminate detail: %v", open)
			}
		})
	}
}

func TestItemRequestValues(t *testing.T) {
	t.Run("a malformed item is InvalidArgument", func(t *testing.T) {
		_, err := itemFromProto("item", &itempb.Item{Attributes: map[string]*itempb.AttributeValue{"a": {}}})
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a malformed expression value is InvalidArgument", func(t *testing.T) {
		_, err := expressions(nil, map[string]*itempb.AttributeValue{":v": {Value: &itempb.AttributeValue_Null{Null: false}}})
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("no item is none", func(t *testing.T) {
		it, err := itemFromProto("exclusive_start_key", nil)
		if it != nil || err != nil {
			t.Fatalf("got %v, %v", it, err)
		}
	})
}

func TestKeySchema(t *testing.T) {
	for _, tc := range []struct {
		rule   string
		req    *kvpb.CreateTableRequest
		items  bool
		schema string
	}{
		{"no key attributes: a table of keys and values", &kvpb.CreateTableRequest{Name: "kv"}, false, ""},
		{"a partition key: a table of items", &kvpb.CreateTableRequest{PartitionKey: &kvpb.KeyAttribute{Name: "pk", Type: "S"}}, true, "pk:S"},
		{"a sort key too", &kvpb.CreateTableRequest{PartitionKey: &kvpb.KeyAttribute{Name: "pk", Type: "S"}, SortKey: &kvpb.KeyAttribute{Name: "sk", Type: "N"}}, true, "pk:S sk:N"},
		{"a sort key alone is a schema the service refuses, not a table of keys and values", &kvpb.CreateTableRequest{SortKey: &kvpb.KeyAttribute{Name: "sk", Type: "N"}}, true, ": sk:N"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			s, ok := keySchema(tc.req)
			if ok != tc.items {
				t.Fatalf("items %v", ok)
			}
			if !ok {
				return
			}
			got := s.Partition.Name + ":" + string(s.Partition.Type)
			if s.HasSort() {
				got += " " + s.Sort.Name + ":" + string(s.Sort.Type)
			}
			if got != tc.schema {
				t.Fatalf("schema %q, want %q", got, tc.schema)
			}
			p, sk := keyAttributes(s)
			if (p != nil) != (s.Partition.Name != "") || (sk != nil) != s.HasSort() {
				t.Fatalf("described as %v %v", p, sk)
			}
		})
	}
}

// A Query answer carrying items as stored reads back, through the wire,
// as the same items in the same order beside the answer's other fields.
func TestEncodedItemsReadBackAsTheQueryAnswersItems(t *testing.T) {
	var items []*itempb.Item
	var encoded [][]byte
	for _, s := range []string{"a", "b", "c"} {
		it := &itempb.Item{Attributes: map[string]*itempb.AttributeValue{"k": {Value: &itempb.AttributeValue_S{S: s}}, "v": {Value: &itempb.AttributeValue_N{N: "1"}}}}
		b, err := proto.Marshal(it)
		if err != nil {
			t.Fatal(err)
		}
		items, encoded = append(items, it), append(encoded, b)
	}
	last := &itempb.Item{Attributes: map[string]*itempb.AttributeValue{"k": {Value: &itempb.AttributeValue_S{S: "c"}}}}
	out := &kvpb.QueryResponse{Count: 3, ScannedCount: 4, LastEvaluatedKey: last}
	setEncodedItems(out, encoded)
	wire, err := proto.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	var got kvpb.QueryResponse
	if err := proto.Unmarshal(wire, &got); err != nil {
		t.Fatal(err)
	}
	want := &kvpb.QueryResponse{Items: items, Count: 3, ScannedCount: 4, LastEvaluatedKey: last}
	if !proto.Equal(&got, want) {
		t.Fatalf("read back %v, want %v", &got, want)
	}
}
