package dynamodb

import (
	"context"

	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
)

// keysAndAttributes is one table's part of a BatchGetItem's RequestItems.
type keysAndAttributes struct {
	legacyParams
	Keys                     []item.ItemJSON
	ProjectionExpression     string
	ExpressionAttributeNames map[string]string
	ConsistentRead           bool
}

// unprocessedKeys is one table's part of a BatchGetItem's
// UnprocessedKeys: what the request asked of it, for the keys not read.
type unprocessedKeys struct {
	Keys                     []item.ItemJSON
	ProjectionExpression     string            `json:",omitempty"`
	ExpressionAttributeNames map[string]string `json:",omitempty"`
	ConsistentRead           bool
}

type batchGetItemInput struct {
	RequestItems map[string]keysAndAttributes
}

type batchGetItemOutput struct {
	Responses       map[string][]item.ItemJSON
	UnprocessedKeys map[string]unprocessedKeys
}

func (h *handler) batchGetItem(ctx context.Context, body []byte) (any, error) {
	var in batchGetItemInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("requestItems", in.RequestItems == nil); err != nil {
		return nil, err
	}
	req := tableapi.BatchGetItem{Tables: map[string]tableapi.KeysAndAttributes{}}
	for name, ka := range in.RequestItems {
		if err := ka.refuseLegacy(); err != nil {
			return nil, err
		}
		keys := make([]item.Item, len(ka.Keys))
		for i, k := range ka.Keys {
			if k == nil {
				return nil, validationf("RequestItems %.64q holds a null key", name)
			}
			keys[i] = item.Item(k)
		}
		req.Tables[name] = tableapi.KeysAndAttributes{Keys: keys, Projection: ka.ProjectionExpression,
			Expressions: tableapi.Expressions{Names: ka.ExpressionAttributeNames}, Consistent: ka.ConsistentRead}
	}
	res, err := h.svc.BatchGetItem(ctx, req)
	if err != nil {
		return nil, err
	}
	out := batchGetItemOutput{Responses: map[string][]item.ItemJSON{}, UnprocessedKeys: map[string]unprocessedKeys{}}
	for name, items := range res.Responses {
		out.Responses[name] = itemsJSON(items)
	}
	for name, ka := range res.Unprocessed {
		out.UnprocessedKeys[name] = unprocessedKeys{Keys: itemsJSON(ka.Keys), ProjectionExpression: ka.Projection,
			ExpressionAttributeNames: ka.Names, ConsistentRead: ka.Consistent}
	}
	return out, nil
}

// writeRequest is one write of a BatchWriteItem's RequestItems or
// UnprocessedItems.
type writeRequest struct {
	PutRequest    *putRequest    `json:",omitempty"`
	DeleteRequest *deleteRequest `json:",omitempty"`
}

type putRequest struct{ Item item.ItemJSON }

type deleteRequest struct{ Key item.ItemJSON }

type batchWriteItemInput struct {
	RequestItems map[string][]writeRequest
}

type batchWriteItemOutput struct {
	UnprocessedItems map[string][]writeRequest
}

func (h *handler) batchWriteItem(ctx context.Context, body []byte) (any, error) {
	var in batchWriteItemInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("requestItems", in.RequestItems == nil); err != nil {
		return nil, err
	}
	req := tableapi.BatchWriteItem{Tables: map[string][]tableapi.WriteRequest{}}
	for name, ws := range in.RequestItems {
		writes := make([]tableapi.WriteRequest, 0, len(ws))
		for _, w := range ws {
			var r tableapi.WriteRequest
			if w.PutRequest != nil {
				if r.Put = item.Item(w.PutRequest.Item); r.Put == nil {
					return nil, required("putRequest.item", true)
				}
			}
			if w.DeleteRequest != nil {
				if r.Delete = item.Item(w.DeleteRequest.Key); r.Delete == nil {
					return nil, required("deleteRequest.key", true)
				}
			}
			writes = append(writes, r)
		}
		req.Tables[name] = writes
	}
	res, err := h.svc.BatchWriteItem(ctx, req)
	if err != nil {
		return nil, err
	}
	out := batchWriteItemOutput{UnprocessedItems: map[string][]writeRequest{}}
	for name, ws := range res.Unprocessed {
		for _, w := range ws {
			var r writeRequest
			if w.Put != nil {
				r.PutRequest = &putRequest{Item: item.ItemJSON(w.Put)}
			} else {
				r.DeleteRequest = &deleteRequest{Key: item.ItemJSON(w.Delete)}
			}
			out.UnprocessedItems[name] = append(out.UnprocessedItems[name], r)
		}
	}
	return out, nil
}
