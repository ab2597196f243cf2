package itemop

import (
	"maps"
	"slices"
	"time"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
)

// errDuplicateKeys is DynamoDB's refusal of a batch that names one item
// twice.
func errDuplicateKeys() error {
	return tableapi.Errorf(tableapi.KindValidation, "Provided list of item keys contains duplicates")
}

// unprocessed reports whether a batch's read or write of one item failed
// in a way the client should retry (too few replicas, or contention), so
// that it is returned unprocessed rather than failing the whole batch.
func unprocessed(err error) bool {
	k := tableapi.KindOf(err)
	return k == tableapi.KindUnavailable || k == tableapi.KindContention
}

// BatchGet is a planned BatchGetItem: one GetItem's read per key.
type BatchGet struct {
	Reads []BatchRead
	req   tableapi.BatchGetItem
}

// BatchRead is one key's read: its table and key as the request named
// them, and the planned read.
type BatchRead struct {
	Table string
	Key   item.Item
	*Get
}

// PlanBatchGet checks a BatchGetItem made at now, finding each table with
// table, and plans each key's read.
func PlanBatchGet(req tableapi.BatchGetItem, table func(name string) (catalog.Table, error), now time.Time) (*BatchGet, error) {
	n := 0
	for _, ka := range req.Tables {
		if len(ka.Keys) == 0 {
			return nil, tableapi.Errorf(tableapi.KindValidation, "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Member must have at least 1 key")
		}
		n += len(ka.Keys)
	}
	if n == 0 {
		return nil, tableapi.Errorf(tableapi.KindValidation, "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if n > tableapi.MaxBatchGetKeys {
		return nil, tableapi.Errorf(tableapi.KindValidation, "Too many items requested for the BatchGetItem call: %d, at most %d", n, tableapi.MaxBatchGetKeys)
	}
	b := &BatchGet{req: req}
	seen := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(req.Tables)) {
		t, err := table(name)
		if err != nil {
			return nil, err
		}
		ka := req.Tables[name]
		for _, key := range ka.Keys {
			g, err := PlanGet(t, tableapi.GetItem{Table: name, Key: key, Projection: ka.Projection, Expressions: ka.Expressions, Consistent: ka.Consistent}, now)
			if err != nil {
				return nil, err
			}
			if seen[string(g.Key)] {
				return nil, errDuplicateKeys()
			}
			seen[string(g.Key)] = true
			b.Reads = append(b.Reads, BatchRead{Table: name, Key: key, Get: g})
		}
	}
	return b, nil
}

// Result is the BatchGetItem's answer from each read's item (nil when
// there is none) or error (of the table service's kinds), in Reads'
// order. A key whose read a client should retry is returned unprocessed;
// any other failure fails the batch.
func (b *BatchGet) Result(items []item.Item, errs []error) (tableapi.BatchGetResult, error) {
	out := tableapi.BatchGetResult{Responses: map[string][]item.Item{}, Unprocessed: map[string]tableapi.KeysAndAttributes{}}
	for name := range b.req.Tables {
		out.Responses[name] = []item.Item{}
	}
	for i, r := range b.Reads {
		switch err := errs[i]; {
		case err == nil && items[i] != nil:
			out.Responses[r.Table] = append(out.Responses[r.Table], items[i])
		case err == nil:
		case unprocessed(err):
			ka, ok := out.Unprocessed[r.Table]
			if !ok {
				ka = b.req.Tables[r.Table]
				ka.Keys = nil
			}
			ka.Keys = append(ka.Keys, r.Key)
			out.Unprocessed[r.Table] = ka
		default:
			return tableapi.BatchGetResult{}, err
		}
	}
	return out, nil
}

// BatchWrite is a planned BatchWriteItem: one unconditional write per
// request, each its own consensus step.
type BatchWrite struct {
	Writes []BatchWriteOp
}

// BatchWriteOp is one request's write: its table and request as the
// batch named them, and the planned write.
type BatchWriteOp struct {
	Table   string
	Request tableapi.WriteRequest
	*Write
}

// PlanBatchWrite checks a BatchWriteItem made at now, finding each table
// with table, and plans each write.
func PlanBatchWrite(req tableapi.BatchWriteItem, table func(name string) (catalog.Table, error), now time.Time) (*BatchWrite, error) {
	n := 0
	for _, ws := range req.Tables {
		if len(ws) == 0 {
			return nil, tableapi.Errorf(tableapi.KindValidation, "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length greater than or equal to 1]")
		}
		n += len(ws)
	}
	if n == 0 {
		return nil, tableapi.Errorf(tableapi.KindValidation, "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if n > tableapi.MaxBatchWrites {
		return nil, tableapi.Errorf(tableapi.KindValidation, "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to %d]", tableapi.MaxBatchWrites)
	}
	b := &BatchWrite{}
	seen := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(req.Tables)) {
		t, err := table(name)
		if err != nil {
			return nil, err
		}
		for _, r := range req.Tables[name] {
			var w *Write
			switch {
			case (r.Put == nil) == (r.Delete == nil):
				return nil, tableapi.Errorf(tableapi.KindValidation, "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes: each WriteRequest holds exactly one of PutRequest and DeleteRequest")
			case r.Put != nil:
				w, err = Put(t, tableapi.PutItem{Table: name, Item: r.Put}, now)
			default:
				w, err = Delete(t, tableapi.DeleteItem{Table: name, Key: r.Delete}, now)
			}
			if err != nil {
				return nil, err
			}
			if seen[string(w.Key)] {
				return nil, errDuplicateKeys()
			}
			seen[string(w.Key)] = true
			b.Writes = append(b.Writes, BatchWriteOp{Table: name, Request: r, Write: w})
		}
	}
	return b, nil
}

// Result is the BatchWriteItem's answer from each write's error (nil when
// it was made; of the table service's kinds otherwise), in Writes' order.
// A write a client should retry is returned unprocessed; any other
// failure fails the batch.
func (b *BatchWrite) Result(errs []error) (tableapi.BatchWriteResult, error) {
	out := tableapi.BatchWriteResult{Unprocessed: map[string][]tableapi.WriteRequest{}}
	for i, w := range b.Writes {
		switch err := errs[i]; {
		case err == nil:
		case unprocessed(err):
			out.Unprocessed[w.Table] = append(out.Unprocessed[w.Table], w.Request)
		default:
			return tableapi.BatchWriteResult{}, err
		}
	}
	return out, nil
}
