package itemop

import (
	"bytes"
	"fmt"
	"time"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/expr"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
	"github.com/harmoniakv/harmonia/messages/itempb"
	"google.golang.org/protobuf/encoding/protowire"
)

// Get is a planned GetItem: the register to read and the projection. An
// item expired at now is not returned.
type Get struct {
	Key   []byte
	table catalog.Table
	now   time.Time
	proj  *expr.Projection
	// consistent: the request asked for a consistent read (which only an
	// eventual table's read depends on).
	consistent bool
}

// PlanGet checks a GetItem made at now.
func PlanGet(t catalog.Table, req tableapi.GetItem, now time.Time) (*Get, error) {
	key, err := KeyOf(t, req.Key)
	if err != nil {
		return nil, err
	}
	g := &Get{Key: key, table: t, now: now, consistent: req.Consistent}
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
	return tableapi.GetResult{Item: project(g.proj, live(g.table, it, g.now))}, nil
}

// DefaultPageKeys is how many items a Query or Scan page reads when the
// request sets no Limit (the page is also bounded by
// tableapi.MaxPageBytes).
const DefaultPageKeys = 1000

// A page's Limit counts items, as DynamoDB's: a register that holds none (a
// deleted item, or one expired at the page's time) takes no place in it,
// and the node reads on past it. The registers one page reads, items or
// not, are bounded too, so that a range of many deleted items answers in
// bounded time: with fewer items than its Limit, and a LastEvaluatedKey.
const (
	// MaxPageRegisters bounds the registers one page reads.
	MaxPageRegisters = 10_000
	// MinReadRegisters is the fewest registers a page asks of one range
	// read, however few items it still wants: deleted registers are then
	// skipped a batch at a time, not one per read.
	MinReadRegisters = 100
)

// ReadSize is how many registers a page that holds read registers and
// still wants want items asks of its next range read.
func ReadSize(want, read int) int {
	return max(min(max(want, MinReadRegisters), MaxPageRegisters-read), 0)
}

// pageKeys is how many registers a page reads for a request's Limit.
func pageKeys(limit int) (int, error) {
	switch {
	case limit < 0:
		return 0, tableapi.Errorf(tableapi.KindValidation, "Limit must be at least 1, not %d", limit)
	case limit == 0:
		return DefaultPageKeys, nil
	}
	return limit, nil
}

// reading is what a Query or Scan makes of the registers it read: which
// items pass its filter and what of them it returns. Items expired at now
// are skipped, as if absent: neither counted nor returned.
type reading struct {
	table  catalog.Table
	now    time.Time
	filter *expr.Condition
	proj   *expr.Projection
	count  bool
	// encoded: the caller takes items as stored (tableapi.Query.Encoded).
	encoded bool
}

// planReading parses a page's FilterExpression, ProjectionExpression and
// Select; keysInFilter says whether the filter may name key attributes
// (a Scan's may; a Query's may not, as DynamoDB).
func planReading(t catalog.Table, now time.Time, filter, projection string, sel tableapi.Select, attrs *expr.Attributes, keysInFilter bool) (reading, error) {
	r := reading{table: t, now: now}
	var err error
	if filter != "" {
		if r.filter, err = expr.ParseFilter(filter, attrs); err != nil {
			return reading{}, err
		}
		for _, n := range r.filter.Names() {
			if !keysInFilter && (n == t.Schema.Partition.Name || (t.Schema.HasSort() && n == t.Schema.Sort.Name)) {
				return reading{}, tableapi.Errorf(tableapi.KindValidation, "Filter Expression can only contain non-primary key attributes: Primary key attribute: %s", n)
			}
		}
	}
	if projection != "" {
		if r.proj, err = expr.ParseProjection(projection, attrs); err != nil {
			return reading{}, err
		}
	}
	switch sel {
	case "", tableapi.SelectAllAttributes, tableapi.SelectSpecificAttributes:
		if sel == tableapi.SelectAllAttributes && r.proj != nil {
			return reading{}, tableapi.Errorf(tableapi.KindValidation, "Cannot specify the AttributesToGet or ProjectionExpression when choosing to get ALL_ATTRIBUTES")
		}
	case tableapi.SelectCount:
		if r.proj != nil {
			return reading{}, tableapi.Errorf(tableapi.KindValidation, "Cannot specify the ProjectionExpression when choosing to get COUNT")
		}
		r.count = true
	default:
		return reading{}, tableapi.Errorf(tableapi.KindValidation, "Select %q is not one of ALL_ATTRIBUTES, SPECIFIC_ATTRIBUTES, COUNT", sel)
	}
	return r, nil
}

// Query is a planned Query: the range of registers to read, in which
// order, how many, and what to make of them.
type Query struct {
	Range item.Range
	// Reverse reads in descending sort key order.
	Reverse bool
	// MaxKeys is how many registers the page reads.
	MaxKeys int
	reading
}

// PlanQuery checks a Query made at now and finds its range.
func PlanQuery(t catalog.Table, req tableapi.Query, now time.Time) (*Query, error) {
	maxKeys, err := pageKeys(req.Limit)
	if err != nil {
		return nil, err
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
	q := &Query{Reverse: req.Backward, MaxKeys: maxKeys}
	if q.Range, err = catalog.ItemRange(t, kc.Partition, kc.Sort); err != nil {
		return nil, err
	}
	if q.reading, err = planReading(t, now, req.Filter, req.Projection, req.Select, attrs, false); err != nil {
		return nil, err
	}
	q.encoded = req.Encoded
	if err := attrs.Unused(); err != nil {
		return nil, err
	}
	if req.ExclusiveStartKey != nil {
		start, err := startKey(t, req.ExclusiveStartKey)
		if err != nil {
			return nil, err
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

// startKey is the register of a page's ExclusiveStartKey.
func startKey(t catalog.Table, key item.Item) ([]byte, error) {
	start, err := KeyOf(t, key)
	if err != nil {
		return nil, tableapi.Errorf(tableapi.KindValidation, "The provided starting key is invalid: %v", err)
	}
	return start, nil
}

// Stored is one register a Query or Scan page read, with its value
// (actors.System.ReadRange reads them: each value is what a linearizable
// read of the register alone would have answered).
type Stored struct {
	Key   []byte
	Value paxos.Value
}

// Page makes the Query's answer from the registers it read, in order;
// complete says none of the range remains past them.
func (q *Query) Page(read []Stored, complete bool) (tableapi.QueryResult, error) {
	return q.page(read, complete)
}

// Take keeps, of the registers one more range read of a page returned (in
// order), those up to and including the want-th that holds an item, and
// all of them when fewer do; items is how many of those kept hold one.
// The page is full when it keeps fewer than it read, or items == want.
func (r reading) Take(read []Stored, want int) (kept []Stored, items int) {
	for i, st := range read {
		if items == want {
			return read[:i], items
		}
		if r.holdsItem(st) {
			items++
		}
	}
	return read, items
}

// holdsItem reports whether a register holds an item at the page's time:
// a value that decodes (one that does not is the page's error, later)
// and has not expired. Without a TTL nothing expires, and the value is
// left to page to decode: decoding is most of a Query's cost.
func (r reading) holdsItem(st Stored) bool {
	if !st.Value.Exists {
		return false
	}
	if r.table.TTLAttribute == "" {
		return true
	}
	it, err := Decode(st.Value.Data)
	return err != nil || !Expired(r.table, it, r.now)
}

// asStored reports whether the page answers its items as stored: the
// caller asked so, and no item of it is filtered, projected, counted
// only, or may have expired (each would need the item decoded).
func (r reading) asStored() bool {
	return r.encoded && r.filter == nil && r.proj == nil && !r.count && r.table.TTLAttribute == ""
}

// wellFormedItem checks that a stored item's bytes are, at their top
// level, what an itempb.Item encodes to: attribute entries (field 1,
// length-delimited) and nothing else, so that they can be placed in an
// answer as they are without making the answer unreadable.
func wellFormedItem(data []byte) error {
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 || num != itemAttributesField || typ != protowire.BytesType {
			return fmt.Errorf("stored item: not an encoded item")
		}
		data = data[n:]
		if n = protowire.ConsumeFieldValue(num, typ, data); n < 0 {
			return fmt.Errorf("stored item: not an encoded item")
		}
		data = data[n:]
	}
	return nil
}

// itemAttributesField is itempb.Item's attributes field number.
var itemAttributesField = (*itempb.Item)(nil).ProtoReflect().Descriptor().Fields().ByName("attributes").Number()

// page is the answer of a page that read these registers, in order;
// complete says nothing remains past them. Otherwise the last register
// read, whether or not it holds an item, is where the next page resumes.
func (r reading) page(read []Stored, complete bool) (tableapi.QueryResult, error) {
	var out tableapi.QueryResult
	asStored := r.asStored()
	if asStored {
		out.Encoded = make([][]byte, 0, len(read))
	}
	for _, st := range read {
		if asStored {
			if !st.Value.Exists {
				continue
			}
			if err := wellFormedItem(st.Value.Data); err != nil {
				return tableapi.QueryResult{}, err
			}
			out.ScannedCount++
			out.Count++
			out.Encoded = append(out.Encoded, st.Value.Data)
			continue
		}
		if !st.Value.Exists {
			continue
		}
		it, err := Decode(st.Value.Data)
		if err != nil {
			return tableapi.QueryResult{}, err
		}
		if Expired(r.table, it, r.now) {
			continue
		}
		out.ScannedCount++
		if r.filter != nil && !r.filter.Eval(it) {
			continue
		}
		out.Count++
		if !r.count {
			out.Items = append(out.Items, project(r.proj, it))
		}
	}
	if !complete && len(read) > 0 {
		last := read[len(read)-1].Key
		info, err := catalog.ParseKey(last)
		if err != nil {
			return tableapi.QueryResult{}, fmt.Errorf("last key of the page: %w", err)
		}
		k, err := r.table.Schema.ParseStorageKey(info.Key)
		if err != nil {
			return tableapi.QueryResult{}, fmt.Errorf("last key of the page: %w", err)
		}
		out.LastEvaluatedKey = r.table.Schema.Item(k)
	}
	return out, nil
}
