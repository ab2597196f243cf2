package node

import (
	"context"
	"errors"

	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
	"github.com/harmoniakv/harmonia/messages/itempb"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

// The Table service's item calls: each translates its request to the
// table service's (tableapi), calls the same service the DynamoDB
// endpoint calls, and translates the answer and the error kind back.

// kindCodes are the gRPC codes of the table service's error kinds.
var kindCodes = map[tableapi.Kind]codes.Code{
	tableapi.KindValidation:      codes.InvalidArgument,
	tableapi.KindConditionFailed: codes.FailedPrecondition,
	tableapi.KindTableNotFound:   codes.NotFound,
	tableapi.KindTableExists:     codes.AlreadyExists,
	tableapi.KindLimitExceeded:   codes.ResourceExhausted,
	tableapi.KindContention:      codes.Aborted,
	tableapi.KindUnavailable:     codes.Unavailable,
	tableapi.KindInternal:        codes.Internal,
}

// itemStatus is the status of a failed table service call. A failed
// condition carries ItemConditionFailed, which tells it from the node's
// own FailedPrecondition (it has left the cluster); a write that may still
// take effect carries Indeterminate (with no versions: items have none to
// show), as the KV calls' do, which tells it from one that certainly
// changed nothing under the same code.
func itemStatus(err error) error {
	kind := tableapi.KindOf(err)
	code, ok := kindCodes[kind]
	if !ok {
		code = codes.Internal // a kind added later, until it has its code
	}
	st := status.New(code, err.Error())
	var te *tableapi.Error
	switch {
	case kind == tableapi.KindConditionFailed:
		if withDetail, err := st.WithDetails(&kvpb.ItemConditionFailed{}); err == nil {
			st = withDetail
		}
	case errors.As(err, &te) && te.Open:
		if withDetail, err := st.WithDetails(&kvpb.Indeterminate{}); err == nil {
			st = withDetail
		}
	}
	return st.Err()
}

// itemFromProto reads an item of a request; what is malformed is the
// caller's error.
func itemFromProto(what string, pb *itempb.Item) (item.Item, error) {
	if pb == nil {
		return nil, nil
	}
	it, err := item.ItemFromProto(pb)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%s: %v", what, err)
	}
	return it, nil
}

// expressions reads a request's expression attribute names and values.
func expressions(names map[string]string, values map[string]*itempb.AttributeValue) (tableapi.Expressions, error) {
	e := tableapi.Expressions{Names: names}
	if len(values) > 0 {
		e.Values = make(map[string]item.Value, len(values))
	}
	for k, pb := range values {
		v, err := item.FromProto(pb)
		if err != nil {
			return tableapi.Expressions{}, status.Errorf(codes.InvalidArgument, "expression attribute value %.64q: %v", k, err)
		}
		e.Values[k] = v
	}
	return e, nil
}

// itemToProto is an answer's item, nil (absent) for none.
func itemToProto(it item.Item) *itempb.Item {
	if it == nil {
		return nil
	}
	return item.ItemToProto(it)
}

// itemAndExpressions reads a write's item (or key) and its substitutions.
func itemAndExpressions(what string, pb *itempb.Item, names map[string]string, values map[string]*itempb.AttributeValue) (item.Item, tableapi.Expressions, error) {
	it, err := itemFromProto(what, pb)
	if err != nil {
		return nil, tableapi.Expressions{}, err
	}
	e, err := expressions(names, values)
	return it, e, err
}

// itemCall runs one item call: the node must serve keys, and the call is
// bounded by its timeout (0: the node's request timeout).
func itemCall[Res any](a *api, ctx context.Context, timeoutMs uint32, do func(context.Context) (Res, error)) (Res, error) {
	var zero Res
	if err := a.joined(); err != nil {
		return zero, err
	}
	ctx, cancel := a.tableCtx(ctx, timeoutMs)
	defer cancel()
	return do(ctx)
}

func (a *api) PutItem(ctx context.Context, req *kvpb.PutItemRequest) (*kvpb.PutItemResponse, error) {
	return itemCall(a, ctx, req.TimeoutMs, func(ctx context.Context) (*kvpb.PutItemResponse, error) {
		it, e, err := itemAndExpressions("item", req.Item, req.ExpressionAttributeNames, req.ExpressionAttributeValues)
		if err != nil {
			return nil, err
		}
		res, err := a.items.PutItem(ctx, tableapi.PutItem{Table: req.Table, Item: it, Condition: req.ConditionExpression, Expressions: e,
			Return: tableapi.ReturnValues(req.ReturnValues)})
		if err != nil {
			return nil, itemStatus(err)
		}
		return &kvpb.PutItemResponse{Attributes: itemToProto(res.Attributes)}, nil
	})
}

func (a *api) GetItem(ctx context.Context, req *kvpb.GetItemRequest) (*kvpb.GetItemResponse, error) {
	return itemCall(a, ctx, req.TimeoutMs, func(ctx context.Context) (*kvpb.GetItemResponse, error) {
		key, err := itemFromProto("key", req.Key)
		if err != nil {
			return nil, err
		}
		res, err := a.items.GetItem(ctx, tableapi.GetItem{Table: req.Table, Key: key, Projection: req.ProjectionExpression,
			Expressions: tableapi.Expressions{Names: req.ExpressionAttributeNames}, Consistent: req.Consistent})
		if err != nil {
			return nil, itemStatus(err)
		}
		return &kvpb.GetItemResponse{Item: itemToProto(res.Item)}, nil
	})
}

func (a *api) DeleteItem(ctx context.Context, req *kvpb.DeleteItemRequest) (*kvpb.DeleteItemResponse, error) {
	return itemCall(a, ctx, req.TimeoutMs, func(ctx context.Context) (*kvpb.DeleteItemResponse, error) {
		key, e, err := itemAndExpressions("key", req.Key, req.ExpressionAttributeNames, req.ExpressionAttributeValues)
		if err != nil {
			return nil, err
		}
		res, err := a.items.DeleteItem(ctx, tableapi.DeleteItem{Table: req.Table, Key: key, Condition: req.ConditionExpression, Expressions: e,
			Return: tableapi.ReturnValues(req.ReturnValues)})
		if err != nil {
			return nil, itemStatus(err)
		}
		return &kvpb.DeleteItemResponse{Attributes: itemToProto(res.Attributes)}, nil
	})
}

func (a *api) UpdateItem(ctx context.Context, req *kvpb.UpdateItemRequest) (*kvpb.UpdateItemResponse, error) {
	return itemCall(a, ctx, req.TimeoutMs, func(ctx context.Context) (*kvpb.UpdateItemResponse, error) {
		key, e, err := itemAndExpressions("key", req.Key, req.ExpressionAttributeNames, req.ExpressionAttributeValues)
		if err != nil {
			return nil, err
		}
		res, err := a.items.UpdateItem(ctx, tableapi.UpdateItem{Table: req.Table, Key: key, Update: req.UpdateExpression,
			Condition: req.ConditionExpression, Expressions: e, Return: tableapi.ReturnValues(req.ReturnValues)})
		if err != nil {
			return nil, itemStatus(err)
		}
		return &kvpb.UpdateItemResponse{Attributes: itemToProto(res.Attributes)}, nil
	})
}

func (a *api) Query(ctx context.Context, req *kvpb.QueryRequest) (*kvpb.QueryResponse, error) {
	return itemCall(a, ctx, req.TimeoutMs, func(ctx context.Context) (*kvpb.QueryResponse, error) {
		start, err := itemFromProto("exclusive_start_key", req.ExclusiveStartKey)
		if err != nil {
			return nil, err
		}
		e, err := expressions(req.ExpressionAttributeNames, req.ExpressionAttributeValues)
		if err != nil {
			return nil, err
		}
		res, err := a.items.Query(ctx, tableapi.Query{Table: req.Table, KeyCondition: req.KeyConditionExpression, Filter: req.FilterExpression,
			Projection: req.ProjectionExpression, Expressions: e, Limit: int(req.Limit), ExclusiveStartKey: start, Backward: req.Backward,
			Select: tableapi.Select(req.Select), Consistent: req.Consistent, Encoded: true})
		if err != nil {
			return nil, itemStatus(err)
		}
		out := &kvpb.QueryResponse{Count: uint32(res.Count), ScannedCount: uint32(res.ScannedCount), LastEvaluatedKey: itemToProto(res.LastEvaluatedKey)}
		for _, it := range res.Items {
			out.Items = append(out.Items, item.ItemToProto(it))
		}
		setEncodedItems(out, res.Encoded)
		return out, nil
	})
}

// keySchema reads a CreateTable's key schema; ok is false when it gives
// none (a table of keys and values). The table service and the catalog
// check it.
func keySchema(req *kvpb.CreateTableRequest) (schema item.KeySchema, ok bool) {
	if req.PartitionKey == nil && req.SortKey == nil {
		return item.KeySchema{}, false
	}
	if p := req.PartitionKey; p != nil {
		schema.Partition = item.KeyAttribute{Name: p.Name, Type: item.Type(p.Type)}
	}
	if s := req.SortKey; s != nil {
		schema.Sort = item.KeyAttribute{Name: s.Name, Type: item.Type(s.Type)}
	}
	return schema, true
}

// keyAttributes are a key schema as a TableDescription shows it (nil for
// an attribute the schema does not have).
func keyAttributes(s item.KeySchema) (partition, sort *kvpb.KeyAttribute) {
	if s.Partition.Name != "" {
		partition = &kvpb.KeyAttribute{Name: s.Partition.Name, Type: string(s.Partition.Type)}
	}
	if s.HasSort() {
		sort = &kvpb.KeyAttribute{Name: s.Sort.Name, Type: string(s.Sort.Type)}
	}
	return partition, sort
}

func (a *api) UpdateTimeToLive(ctx context.Context, req *kvpb.UpdateTimeToLiveRequest) (*kvpb.UpdateTimeToLiveResponse, error) {
	return itemCall(a, ctx, req.TimeoutMs, func(ctx context.Context) (*kvpb.UpdateTimeToLiveResponse, error) {
		res, err := a.items.UpdateTimeToLive(ctx, tableapi.UpdateTimeToLive{Table: req.Table, Attribute: req.Attribute, Enabled: req.Enabled})
		if err != nil {
			return nil, itemStatus(err)
		}
		return &kvpb.UpdateTimeToLiveResponse{Enabled: res.Enabled, Attribute: res.Attribute}, nil
	})
}

// queryItemsField is QueryResponse's items field number.
var queryItemsField = (*kvpb.QueryResponse)(nil).ProtoReflect().Descriptor().Fields().ByName("items").Number()

// setEncodedItems places items already encoded (itempb.Item, as stored)
// in a Query's answer as its items field, in order: as bytes the
// answer's encoding carries unchanged, which a reader of the answer
// parses as the items field (a repeated field's entries may come
// anywhere in a message). Decoding each item to encode it again was most
// of a Query's cost.
func setEncodedItems(out *kvpb.QueryResponse, encoded [][]byte) {
	if len(encoded) == 0 {
		return
	}
	n := 0
	for _, e := range encoded {
		n += protowire.SizeTag(queryItemsField) + protowire.SizeBytes(len(e))
	}
	b := make([]byte, 0, n)
	for _, e := range encoded {
		b = protowire.AppendTag(b, queryItemsField, protowire.BytesType)
		b = protowire.AppendBytes(b, e)
	}
	out.ProtoReflect().SetUnknown(b)
}
