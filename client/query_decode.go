package client

import (
	"fmt"

	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// A Query's answer is read from its bytes (readQueryPage): a page of
// items through protobuf's generic decoding of each item's map of oneofs
// cost a client more CPU than the node spent answering it.

// rawAnswers is a gRPC codec that encodes requests as protobuf and keeps
// the bytes of an answer decoded into a *rawAnswer as they came.
type rawAnswers struct{}

// rawAnswer is an answer's bytes.
type rawAnswer struct{ b []byte }

func (rawAnswers) Marshal(v any) (mem.BufferSlice, error) {
	return encoding.GetCodecV2(grpcproto.Name).Marshal(v)
}

func (rawAnswers) Unmarshal(data mem.BufferSlice, v any) error {
	r, ok := v.(*rawAnswer)
	if !ok {
		return encoding.GetCodecV2(grpcproto.Name).Unmarshal(data, v)
	}
	r.b = data.Materialize()
	return nil
}

// Name is protobuf's: the bytes on the wire are protobuf's.
func (rawAnswers) Name() string { return grpcproto.Name }

// readQueryPage reads a QueryResponse's bytes into a page. A response in
// the form protobuf encoders write (each item through item.Decoder)
// is read field by field; any other form goes through protobuf.
func readQueryPage(b []byte) (*QueryPage, error) {
	if page, ok, err := readQueryFields(b); ok {
		return page, err
	}
	var res kvpb.QueryResponse
	if err := proto.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("the node's answer: %w", err)
	}
	return queryPageOf(&res)
}

// readQueryFields reads b's fields directly; ok is false when b holds a
// field it does not know or one of another wire type.
func readQueryFields(b []byte) (page *QueryPage, ok bool, err error) {
	page = &QueryPage{}
	var lastKey []byte
	// The page's items share their names, and the answer's memory: b is
	// this page's alone (rawAnswers' Unmarshal made it), never written
	// again.
	var items item.Decoder
	items.Share(b)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false, nil
		}
		b = b[n:]
		switch {
		case (num == queryItems || num == queryLastKey) && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, false, nil
			}
			b = b[m:]
			if num == queryLastKey {
				if lastKey != nil {
					return nil, false, nil // protobuf merges the two
				}
				lastKey = v
				continue
			}
			it, err := items.DecodeItem(v)
			if err != nil {
				return nil, true, fmt.Errorf("the node's answer: %w", err)
			}
			page.Items = append(page.Items, it)
		case (num == queryCount || num == queryScanned) && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return nil, false, nil
			}
			b = b[m:]
			if num == queryCount {
				page.Count = int(uint32(v))
			} else {
				page.ScannedCount = int(uint32(v))
			}
		default:
			return nil, false, nil
		}
	}
	if lastKey != nil {
		if page.LastEvaluatedKey, err = items.DecodeItem(lastKey); err != nil {
			return nil, true, fmt.Errorf("the node's answer: %w", err)
		}
	}
	return page, true, nil
}

// queryPageOf is a decoded QueryResponse as a page.
func queryPageOf(res *kvpb.QueryResponse) (*QueryPage, error) {
	page := &QueryPage{Count: int(res.Count), ScannedCount: int(res.ScannedCount)}
	for _, pb := range res.Items {
		it, err := itemFromProto(pb)
		if err != nil {
			return nil, err
		}
		page.Items = append(page.Items, it)
	}
	var err error
	if page.LastEvaluatedKey, err = itemFromProto(res.LastEvaluatedKey); err != nil {
		return nil, err
	}
	return page, nil
}

// QueryResponse's field numbers, from its descriptor.
var (
	queryItems   = queryField("items")
	queryCount   = queryField("count")
	queryScanned = queryField("scanned_count")
	queryLastKey = queryField("last_evaluated_key")
)

func queryField(name protoreflect.Name) protowire.Number {
	return (*kvpb.QueryResponse)(nil).ProtoReflect().Descriptor().Fields().ByName(name).Number()
}
