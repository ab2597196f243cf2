package dynamodb

import (
	"context"
	"encoding/json"

	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
)

// withExpressions is a request that carries ExpressionAttributeNames and
// ExpressionAttributeValues.
type withExpressions interface {
	api() (tableapi.Expressions, error)
}

// decodeWithExpressions decodes body into in, reads its substitutions and
// then checks it (its required members).
func decodeWithExpressions(body []byte, in withExpressions, check func() error) (tableapi.Expressions, error) {
	if err := decode(body, in); err != nil {
		return tableapi.Expressions{}, err
	}
	exprs, err := in.api()
	if err != nil {
		return tableapi.Expressions{}, err
	}
	return exprs, check()
}

// writeOutput is the answer of PutItem, DeleteItem and UpdateItem.
type writeOutput struct {
	Attributes item.ItemJSON `json:",omitempty"`
}

func (o writeOutput) appendJSON(dst []byte) ([]byte, bool) {
	return appendItemMember(dst, "Attributes", o.Attributes)
}

// getItemOutput is the answer of GetItem.
type getItemOutput struct {
	Item item.ItemJSON `json:",omitempty"`
}

func (o getItemOutput) appendJSON(dst []byte) ([]byte, bool) {
	return appendItemMember(dst, "Item", o.Item)
}

// appendItemMember appends an answer whose only member is an item,
// omitted when empty, as encoding/json writes it.
func appendItemMember(dst []byte, name string, it item.ItemJSON) ([]byte, bool) {
	if len(it) == 0 {
		return append(dst, "{}"...), true
	}
	dst = append(dst, `{"`...)
	dst = append(dst, name...)
	dst = append(dst, `":`...)
	dst, err := item.AppendJSONItem(dst, item.Item(it))
	if err != nil {
		return dst, false
	}
	return append(dst, '}'), true
}

type putItemInput struct {
	legacyParams
	expressions
	TableName           string
	Item                item.ItemJSON
	ConditionExpression string
	ReturnValues        string
}

func (h *handler) putItem(ctx context.Context, body []byte) (any, error) {
	var in putItemInput
	exprs, err := decodeWithExpressions(body, &in, func() error {
		return firstError(required("tableName", in.TableName == ""), required("item", in.Item == nil))
	})
	if err != nil {
		return nil, err
	}
	res, err := h.svc.PutItem(ctx, tableapi.PutItem{
		Table: in.TableName, Item: item.Item(in.Item), Condition: in.ConditionExpression,
		Expressions: exprs, Return: tableapi.ReturnValues(in.ReturnValues),
	})
	if err != nil {
		return nil, err
	}
	return writeOutput{Attributes: item.ItemJSON(res.Attributes)}, nil
}

type getItemInput struct {
	legacyParams
	expressions
	TableName            string
	Key                  item.ItemJSON
	ProjectionExpression string
	ConsistentRead       bool
}

func (h *handler) getItem(ctx context.Context, body []byte) (any, error) {
	var in getItemInput
	exprs, err := decodeWithExpressions(body, &in, func() error {
		return firstError(required("tableName", in.TableName == ""), required("key", in.Key == nil))
	})
	if err != nil {
		return nil, err
	}
	res, err := h.svc.GetItem(ctx, tableapi.GetItem{
		Table: in.TableName, Key: item.Item(in.Key), Projection: in.ProjectionExpression,
		Expressions: exprs, Consistent: in.ConsistentRead,
	})
	if err != nil {
		return nil, err
	}
	return getItemOutput{Item: item.ItemJSON(res.Item)}, nil
}

type deleteItemInput struct {
	legacyParams
	expressions
	TableName           string
	Key                 item.ItemJSON
	ConditionExpression string
	ReturnValues        string
}

func (h *handler) deleteItem(ctx context.Context, body []byte) (any, error) {
	var in deleteItemInput
	exprs, err := decodeWithExpressions(body, &in, func() error {
		return firstError(required("tableName", in.TableName == ""), required("key", in.Key == nil))
	})
	if err != nil {
		return nil, err
	}
	res, err := h.svc.DeleteItem(ctx, tableapi.DeleteItem{
		Table: in.TableName, Key: item.Item(in.Key), Condition: in.ConditionExpression,
		Expressions: exprs, Return: tableapi.ReturnValues(in.ReturnValues),
	})
	if err != nil {
		return nil, err
	}
	return writeOutput{Attributes: item.ItemJSON(res.Attributes)}, nil
}

type updateItemInput struct {
	legacyParams
	expressions
	TableName           string
	Key                 item.ItemJSON
	UpdateExpression    string
	ConditionExpression string
	ReturnValues        string
}

func (h *handler) updateItem(ctx context.Context, body []byte) (any, error) {
	var in updateItemInput
	exprs, err := decodeWithExpressions(body, &in, func() error {
		return firstError(required("tableName", in.TableName == ""), required("key", in.Key == nil))
	})
	if err != nil {
		return nil, err
	}
	res, err := h.svc.UpdateItem(ctx, tableapi.UpdateItem{
		Table: in.TableName, Key: item.Item(in.Key), Update: in.UpdateExpression,
		Condition: in.ConditionExpression, Expressions: exprs, Return: tableapi.ReturnValues(in.ReturnValues),
	})
	if err != nil {
		return nil, err
	}
	return writeOutput{Attributes: item.ItemJSON(res.Attributes)}, nil
}

type queryInput struct {
	legacyParams
	expressions
	TableName              string
	KeyConditionExpression string
	FilterExpression       string
	ProjectionExpression   string
	Limit                  *int
	ExclusiveStartKey      item.ItemJSON
	// ScanIndexForward is true when absent.
	ScanIndexForward *bool
	Select           string
	ConsistentRead   bool
	// IndexName is refused: there are no secondary indexes to query.
	IndexName json.RawMessage
}

type queryOutput struct {
	// Items is absent for Select COUNT and a list, maybe empty, otherwise.
	Items            []item.ItemJSON `json:",omitzero"`
	Count            int
	ScannedCount     int
	LastEvaluatedKey item.ItemJSON `json:",omitempty"`
}

func (h *handler) query(ctx context.Context, body []byte) (any, error) {
	var in queryInput
	exprs, err := decodeWithExpressions(body, &in, func() error {
		if present(in.IndexName) {
			return validationf("HarmoniaKV does not support secondary indexes: Query takes no IndexName")
		}
		return firstError(
			required("tableName", in.TableName == ""),
			required("keyConditionExpression", in.KeyConditionExpression == ""),
			positive("limit", in.Limit),
		)
	})
	if err != nil {
		return nil, err
	}
	req := tableapi.Query{
		Table: in.TableName, KeyCondition: in.KeyConditionExpression, Filter: in.FilterExpression,
		Projection: in.ProjectionExpression, Expressions: exprs, ExclusiveStartKey: item.Item(in.ExclusiveStartKey),
		Backward: in.ScanIndexForward != nil && !*in.ScanIndexForward,
		Select:   tableapi.Select(in.Select), Consistent: in.ConsistentRead,
	}
	if in.Limit != nil {
		req.Limit = *in.Limit
	}
	res, err := h.svc.Query(ctx, req)
	if err != nil {
		return nil, err
	}
	return pageOutput(res, req.Select), nil
}

// pageOutput is a Query's or Scan's page as DynamoDB answers it.
func pageOutput(res tableapi.QueryResult, sel tableapi.Select) queryOutput {
	out := queryOutput{Count: res.Count, ScannedCount: res.ScannedCount, LastEvaluatedKey: item.ItemJSON(res.LastEvaluatedKey)}
	if sel != tableapi.SelectCount {
		out.Items = itemsJSON(res.Items)
	}
	return out
}

// itemsJSON is items as a JSON list (empty, not null, when there are
// none).
func itemsJSON(items []item.Item) []item.ItemJSON {
	out := make([]item.ItemJSON, 0, len(items))
	for _, it := range items {
		out = append(out, item.ItemJSON(it))
	}
	return out
}

type scanInput struct {
	legacyParams
	expressions
	TableName            string
	FilterExpression     string
	ProjectionExpression string
	Limit                *int
	ExclusiveStartKey    item.ItemJSON
	Select               string
	ConsistentRead       bool
	// Segment and TotalSegments come together or not at all.
	Segment, TotalSegments *int
	// IndexName is refused: there are no secondary indexes to scan.
	IndexName json.RawMessage
}

func (h *handler) scan(ctx context.Context, body []byte) (any, error) {
	var in scanInput
	exprs, err := decodeWithExpressions(body, &in, func() error {
		switch {
		case present(in.IndexName):
			return validationf("HarmoniaKV does not support secondary indexes: Scan takes no IndexName")
		case in.Segment != nil && in.TotalSegments == nil:
			return validationf("The TotalSegments parameter is required but was not present in the request when parameter Segment is present")
		case in.Segment == nil && in.TotalSegments != nil:
			return validationf("The Segment parameter is required but was not present in the request when parameter TotalSegments is present")
		}
		return firstError(required("tableName", in.TableName == ""), positive("limit", in.Limit), positive("totalSegments", in.TotalSegments))
	})
	if err != nil {
		return nil, err
	}
	req := tableapi.Scan{
		Table: in.TableName, Filter: in.FilterExpression, Projection: in.ProjectionExpression, Expressions: exprs,
		ExclusiveStartKey: item.Item(in.ExclusiveStartKey), Select: tableapi.Select(in.Select), Consistent: in.ConsistentRead,
	}
	if in.Limit != nil {
		req.Limit = *in.Limit
	}
	if in.TotalSegments != nil {
		req.Segment, req.TotalSegments = *in.Segment, *in.TotalSegments
	}
	res, err := h.svc.Scan(ctx, req)
	if err != nil {
		return nil, err
	}
	return pageOutput(res, req.Select), nil
}

// firstError is the first of errs that is not nil.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
