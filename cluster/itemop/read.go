package itemop

import (
	"bytes"
	"fmt"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/expr"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
)

// Get is a planned GetItem: the register to read and the projection.
type Get struct {
	Key  []byte
	proj *expr.Projection
}

// PlanGet checks a GetItem.
func PlanGet(t catalog.Table, req tableapi.GetItem) (*Get, error) {
	key, err := KeyOf(t, req.Key)
	if err != nil {
		return nil, err
	}
	g := &Get{Key: key}
	if g.proj, err = projection(req.Projection, req.Expressions); err != nil {
		return nil, err
	}
	return g, nil
}

// projection parses a read's ProjectionExpression ("" is the whole item:
// nil) with its substitutions, which it must use up.
func projection(s string, e tableapi.Expressions) (*expr.Projection, error) {
	attrs, err := attributes(e)
	if err != nil {
		return nil, err
	}
	var proj *expr.Projection
	if s != "" {
		if proj, err = expr.ParseProjection(s, attrs); err != nil {
			return nil, err
		}
	}
	return proj, attrs.Unused()
}

func project(p *expr.Projection, it item.Item) item.Item {
	if p == nil || it == nil {
		return it
	}
	return p.Apply(it)
}

// Result is the GetItem's answer from its read.
func (g *Get) Result(res paxos.Result) (tableapi.GetResult, error) {
	if err := Failure(res); err != nil {
		return tableapi.GetResult{}, err
	}
	it, err := current(res.Value)
	if err != nil {
		return tableapi.GetResult{}, err
	}
	return tableapi.GetResult{Item: project(g.proj, it)}, nil
}

// DefaultPageKeys is how many registers a Query page reads when the
// request sets no Limit (the page is also bounded by
// tableapi.MaxPageBytes).
const DefaultPageKeys = 1000

// Query is a planned Query: the range of registers to read, in which
// order, how many, and what to make of them.
type Query struct {
	Range item.Range
	// Reverse reads in descending sort key order.
	Reverse bool
	// MaxKeys is how many registers the page reads.
	MaxKeys int
	table   catalog.Table
	filter  *expr.Condition
	proj    *expr.Projection
	count   bool
}

// PlanQuery checks a Query and finds its range.
func PlanQuery(t catalog.Table, req tableapi.Query) (*Query, error) {
	if req.Limit < 0 {
		return nil, tableapi.Errorf(tableapi.KindValidation, "Limit must be at least 1, not %d", req.Limit)
	}
	attrs, err := attributes(req.Expressions)
	if err != nil {
		return nil, err
	}
	if req.KeyCondition == "" {
		return nil, tableapi.Errorf(tableapi.KindValidation, "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request")
	}
	kc, err := expr.ParseKeyCondition(req.KeyCondition, attrs, t.Schema)
	if err != nil {
		return nil, err
	}
	if kc.Partition == nil {
		return nil, tableapi.Errorf(tableapi.KindValidation, "Query condition missed key schema element: %s", t.Schema.Partition.Name)
	}
	q := &Query{Reverse: req.Backward, MaxKeys: DefaultPageKeys, table: t}
	if req.Limit > 0 {
		q.MaxKeys = req.Limit
	}
	if q.Range, err = catalog.ItemRange(t, kc.Partition, kc.Sort); err != nil {
		return nil, err
	}
	if req.Filter != "" {
		if q.filter, err = expr.ParseFilter(req.Filter, attrs); err != nil {
			return nil, err
		}
		for _, n := range q.filter.Names() {
			if n == t.Schema.Partition.Name || (t.Schema.HasSort() && n == t.Schema.Sort.Name) {
				return nil, tableapi.Errorf(tableapi.KindValidation, "Filter Expression can only contain non-primary key attributes: Primary key attribute: %s", n)
			}
		}
	}
	if req.Projection != "" {
		if q.proj, err = expr.ParseProjection(req.Projection, attrs); err != nil {
			return nil, err
		}
	}
	switch req.Select {
	case "", tableapi.SelectAllAttributes, tableapi.SelectSpecificAttributes:
		if req.Select == tableapi.SelectAllAttributes && q.proj != nil {
			return nil, tableapi.Errorf(tableapi.KindValidation, "Cannot specify the AttributesToGet or ProjectionExpression when choosing to get ALL_ATTRIBUTES")
		}
	case tableapi.SelectCount:
		if q.proj != nil {
			return nil, tableapi.Errorf(tableapi.KindValidation, "Cannot specify the ProjectionExpression when choosing to get COUNT")
		}
		q.count = true
	default:
		return nil, tableapi.Errorf(tableapi.KindValidation, "Select %q is not one of ALL_ATTRIBUTES, SPECIFIC_ATTRIBUTES, COUNT", req.Select)
	}
	if err := attrs.Unused(); err != nil {
		return nil, err
	}
	if req.ExclusiveStartKey != nil {
		start, err := KeyOf(t, req.ExclusiveStartKey)
		if err != nil {
			return nil, tableapi.Errorf(tableapi.KindValidation, "The provided starting key is invalid: %v", err)
		}
		pk, err := item.AppendKey(nil, kc.Partition)
		if err != nil {
			return nil, err
		}
		if !bytes.HasPrefix(start, catalog.PartitionPrefix(t, pk)) {
			return nil, tableapi.Errorf(tableapi.KindValidation, "The provided starting key is not of the partition key the query reads")
		}
		if q.Reverse {
			q.Range = q.Range.Before(start)
		} else {
			q.Range = q.Range.After(start)
		}
	}
	return q, nil
}

// Stored is one register a Query page read, with its value.
type Stored struct {
	Key   []byte
	Value paxos.Value
}

// Page makes the Query's answer from the registers it read, in order;
// complete says none of the range remains past them.
func (q *Query) Page(read []Stored, complete bool) (tableapi.QueryResult, error) {
	var out tableapi.QueryResult
	for _, r := range read {
		if !r.Value.Exists {
			continue
		}
		it, err := Decode(r.Value.Data)
		if err != nil {
			return tableapi.QueryResult{}, err
		}
		out.ScannedCount++
		if q.filter != nil && !q.filter.Eval(it) {
			continue
		}
		out.Count++
		if !q.count {
			out.Items = append(out.Items, project(q.proj, it))
		}
	}
	if !complete && len(read) > 0 {
		last := read[len(read)-1].Key
		info, err := catalog.ParseKey(last)
		if err != nil {
			return tableapi.QueryResult{}, fmt.Errorf("last key of the page: %w", err)
		}
		k, err := q.table.Schema.ParseStorageKey(info.Key)
		if err != nil {
			return tableapi.QueryResult{}, fmt.Errorf("last key of the page: %w", err)
		}
		out.LastEvaluatedKey = q.table.Schema.Item(k)
	}
	return out, nil
}
