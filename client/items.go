package client

import (
	"context"
	"fmt"
	"time"

	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/messages/itempb"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The items of tables with a key schema, with DynamoDB's operations and
// expressions. Every read of a table of items is linearizable.
//
//	_, err := c.PutItem(ctx, "orders", item.Item{"id": item.S("o1"), "total": item.MustNumber("12.5")},
//		client.ItemOptions{Condition: "attribute_not_exists(id)"})
//	it, err := c.GetItem(ctx, "orders", item.Item{"id": item.S("o1")}, client.ItemOptions{})

// ItemOptions are an item call's expressions and settings; each call uses
// those it has (GetItem: Projection and Names).
type ItemOptions struct {
	// Condition is a ConditionExpression: the write happens only if it
	// holds of the item as it is (ItemConditionFailed reports when not).
	Condition string
	// Projection is a ProjectionExpression: the attributes to return.
	Projection string
	// Names and Values are the ExpressionAttributeNames ("#n") and
	// ExpressionAttributeValues (":v") of the call's expressions.
	Names  map[string]string
	Values map[string]item.Value
	// Return is a write's ReturnValues: "" (none), "ALL_OLD", or for
	// UpdateItem also "UPDATED_OLD", "ALL_NEW" and "UPDATED_NEW".
	Return string
	// Consistent asks GetItem for a consistent read (on an eventual
	// table, a majority of the replicas; a strong table's reads are).
	Consistent bool
	Timeout    time.Duration
}

func timeoutMs(d time.Duration) uint32 { return uint32(d / time.Millisecond) }

func valuesToProto(values map[string]item.Value) map[string]*itempb.AttributeValue {
	if len(values) == 0 {
		return nil
	}
	out := make(map[string]*itempb.AttributeValue, len(values))
	for k, v := range values {
		out[k] = item.ToProto(v)
	}
	return out
}

// itemToProto is nil for a nil item, which the request leaves absent.
func itemToProto(it item.Item) *itempb.Item {
	if it == nil {
		return nil
	}
	return item.ItemToProto(it)
}

// itemFromProto reads an answer's item (nil when absent).
func itemFromProto(pb *itempb.Item) (item.Item, error) {
	if pb == nil {
		return nil, nil
	}
	it, err := item.ItemFromProto(pb)
	if err != nil {
		return nil, fmt.Errorf("the node's answer: %w", err)
	}
	return it, nil
}

// PutItem writes a whole item, replacing any item of its key. It returns
// the old item when o.Return is "ALL_OLD" and there was one.
func (c *Client) PutItem(ctx context.Context, table string, it item.Item, o ItemOptions) (item.Item, error) {
	res, err := c.tables.PutItem(ctx, &kvpb.PutItemRequest{Table: table, Item: itemToProto(it), ConditionExpression: o.Condition,
		ExpressionAttributeNames: o.Names, ExpressionAttributeValues: valuesToProto(o.Values), ReturnValues: o.Return, TimeoutMs: timeoutMs(o.Timeout)})
	if err != nil {
		return nil, err
	}
	return itemFromProto(res.Attributes)
}

// GetItem reads the item of key (its key attributes only); nil when there
// is none.
func (c *Client) GetItem(ctx context.Context, table string, key item.Item, o ItemOptions) (item.Item, error) {
	res, err := c.tables.GetItem(ctx, &kvpb.GetItemRequest{Table: table, Key: itemToProto(key), ProjectionExpression: o.Projection,
		ExpressionAttributeNames: o.Names, Consistent: o.Consistent, TimeoutMs: timeoutMs(o.Timeout)})
	if err != nil {
		return nil, err
	}
	return itemFromProto(res.Item)
}

// DeleteItem removes the item of key. It returns the old item when
// o.Return is "ALL_OLD" and there was one.
func (c *Client) DeleteItem(ctx context.Context, table string, key item.Item, o ItemOptions) (item.Item, error) {
	res, err := c.tables.DeleteItem(ctx, &kvpb.DeleteItemRequest{Table: table, Key: itemToProto(key), ConditionExpression: o.Condition,
		ExpressionAttributeNames: o.Names, ExpressionAttributeValues: valuesToProto(o.Values), ReturnValues: o.Return, TimeoutMs: timeoutMs(o.Timeout)})
	if err != nil {
		return nil, err
	}
	return itemFromProto(res.Attributes)
}

// UpdateItem applies an UpdateExpression to the item of key, creating it
// if absent. It returns the attributes o.Return asks for.
func (c *Client) UpdateItem(ctx context.Context, table string, key item.Item, update string, o ItemOptions) (item.Item, error) {
	res, err := c.tables.UpdateItem(ctx, &kvpb.UpdateItemRequest{Table: table, Key: itemToProto(key), UpdateExpression: update,
		ConditionExpression: o.Condition, ExpressionAttributeNames: o.Names, ExpressionAttributeValues: valuesToProto(o.Values),
		ReturnValues: o.Return, TimeoutMs: timeoutMs(o.Timeout)})
	if err != nil {
		return nil, err
	}
	return itemFromProto(res.Attributes)
}

// Query is one page's request of the items of one partition key.
type Query struct {
	// KeyCondition is a KeyConditionExpression: the partition key's
	// equality, and optionally one condition on the sort key.
	KeyCondition string
	// Filter is a FilterExpression, applied after Limit counts the items
	// read.
	Filter     string
	Projection string
	Names      map[string]string
	Values     map[string]item.Value
	// Limit is the most items to read (0: a page of up to 1 MB).
	Limit int
	// Start is the LastEvaluatedKey of the page before (nil: the first).
	Start item.Item
	// Backward reads in descending sort key order.
	Backward bool
	// Select: "" (the items, or the projection's attributes), or "COUNT"
	// for the counts only.
	Select string
	// Consistent asks for a consistent read (on an eventual table, a
	// majority of the replicas; a strong table's reads are).
	Consistent bool
	Timeout    time.Duration
}

// QueryPage is one page of a Query.
type QueryPage struct {
	Items []item.Item
	// Count is how many items passed the filter; ScannedCount how many
	// were read.
	Count, ScannedCount int
	// LastEvaluatedKey is the next page's Query.Start; nil on the last.
	LastEvaluatedKey item.Item
}

// Query reads one page of the items of one partition key in sort key
// order.
func (c *Client) Query(ctx context.Context, table string, q Query) (*QueryPage, error) {
	if q.Limit < 0 {
		return nil, fmt.Errorf("query limit %d: at least 0", q.Limit)
	}
	req := &kvpb.QueryRequest{Table: table, KeyConditionExpression: q.KeyCondition, FilterExpression: q.Filter,
		ProjectionExpression: q.Projection, ExpressionAttributeNames: q.Names, ExpressionAttributeValues: valuesToProto(q.Values),
		Limit: uint32(q.Limit), ExclusiveStartKey: itemToProto(q.Start), Backward: q.Backward, Select: q.Select, Consistent: q.Consistent, TimeoutMs: timeoutMs(q.Timeout)}
	var res rawAnswer
	if err := c.conn.Invoke(ctx, kvpb.Table_Query_FullMethodName, req, &res, grpc.ForceCodecV2(rawAnswers{})); err != nil {
		return nil, err
	}
	return readQueryPage(res.b)
}

// ItemConditionFailed reports whether err is an item write whose
// condition did not hold (nothing was written).
func ItemConditionFailed(err error) bool {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.FailedPrecondition {
		return false
	}
	for _, d := range st.Details() {
		if _, ok := d.(*kvpb.ItemConditionFailed); ok {
			return true
		}
	}
	return false
}
