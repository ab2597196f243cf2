package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/harmoniakv/harmonia/actors"
	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/crdt"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/itemop"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/quorum"
	"github.com/harmoniakv/harmonia/cluster/request"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
	"github.com/harmoniakv/harmonia/internal/wallclock"
	"github.com/harmoniakv/harmonia/messages/datatypepb"
	"google.golang.org/protobuf/proto"
)

// tableService is the node's table service (tableapi.Service), which both
// front doors call: the catalog's tables of items, and their items on
// the strong path (cluster/itemop plans each operation; consensus runs it).
// Each operation is planned at the node's wall clock, which decides which
// items have expired (itemop.Expired).
type tableService struct {
	sys *actors.System
}

var _ tableapi.Service = (*tableService)(nil)

// serviceError gives the catalog's and the node's errors a kind.
func serviceError(err error) error {
	var se *actors.StrongError
	var qe *request.QuorumError
	switch {
	case err == nil:
		return nil
	case tableapi.KindOf(err) != tableapi.KindInternal:
		return err
	case errors.Is(err, catalog.ErrNotFound):
		return &tableapi.Error{Kind: tableapi.KindTableNotFound, Msg: "Requested resource not found: " + err.Error(), Err: err}
	case errors.Is(err, catalog.ErrExists):
		return &tableapi.Error{Kind: tableapi.KindTableExists, Msg: "Table already exists: " + err.Error(), Err: err}
	case errors.Is(err, catalog.ErrTooMany):
		return &tableapi.Error{Kind: tableapi.KindLimitExceeded, Msg: err.Error(), Err: err}
	case errors.Is(err, catalog.ErrBadName), errors.Is(err, catalog.ErrBadSchema), errors.Is(err, catalog.ErrBadTTL), errors.Is(err, catalog.ErrBadConflict):
		return &tableapi.Error{Kind: tableapi.KindValidation, Msg: err.Error(), Err: err}
	case errors.As(err, &se):
		if f := itemop.Failure(se.Result); f != nil {
			return f
		}
	case errors.As(err, &qe), errors.Is(err, request.ErrNoReplica), errors.Is(err, actors.ErrOverloaded),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &tableapi.Error{Kind: tableapi.KindUnavailable, Msg: err.Error(), Err: err}
	}
	return tableapi.Classify(err)
}

func itemTableDescription(t catalog.Table, status string) tableapi.TableDescription {
	return tableapi.TableDescription{Name: t.Name, ID: t.ID, Schema: t.Schema, Consistency: t.Consistency, Conflict: t.Conflict, CreatedUnixNanos: t.CreatedUnixNanos, Status: status,
		TTLAttribute: t.TTLAttribute}
}

// itemTable finds a table of items by name.
func (s *tableService) itemTable(ctx context.Context, name string) (catalog.Table, error) {
	if err := catalog.CheckName(name); err != nil {
		return catalog.Table{}, serviceError(err)
	}
	t, err := s.sys.Tables().Lookup(ctx, name)
	if err != nil {
		return catalog.Table{}, serviceError(err)
	}
	if !t.HasItems() {
		return catalog.Table{}, tableapi.Errorf(tableapi.KindValidation, "table %q holds opaque keys and values (the KV API's `harmonia put --table`), not items", name)
	}
	return t, nil
}

func (s *tableService) CreateTable(ctx context.Context, req tableapi.CreateTable) (tableapi.TableDescription, error) {
	cons := req.Consistency
	switch {
	case cons == "" && req.Conflict != "":
		cons = catalog.Eventual // a conflict type is an eventual table's
	case cons == "":
		cons = catalog.Strong
	}
	if req.Schema.Partition.Name == "" {
		return tableapi.TableDescription{}, tableapi.Errorf(tableapi.KindValidation, "table %q: a table of items needs a partition key", req.Name)
	}
	t, err := s.sys.Tables().Create(ctx, catalog.Spec{Name: req.Name, Consistency: cons, Conflict: req.Conflict, Schema: req.Schema})
	if err != nil {
		return tableapi.TableDescription{}, serviceError(err)
	}
	return itemTableDescription(t, "ACTIVE"), nil
}

func (s *tableService) DescribeTable(ctx context.Context, name string) (tableapi.TableDescription, error) {
	t, err := s.itemTable(ctx, name)
	if err != nil {
		return tableapi.TableDescription{}, err
	}
	return itemTableDescription(t, "ACTIVE"), nil
}

func (s *tableService) ListTables(ctx context.Context, start string, limit int) ([]string, string, error) {
	if limit < 0 {
		return nil, "", tableapi.Errorf(tableapi.KindValidation, "Limit must be at least 1, not %d", limit)
	}
	tables, err := s.sys.Tables().List(ctx)
	if err != nil {
		return nil, "", serviceError(err)
	}
	var names []string
	for _, t := range tables {
		if t.HasItems() && t.Name > start {
			names = append(names, t.Name)
		}
	}
	slices.Sort(names)
	if limit > 0 && len(names) > limit {
		return names[:limit], names[limit-1], nil
	}
	return names, "", nil
}

func (s *tableService) DeleteTable(ctx context.Context, name string) (tableapi.TableDescription, error) {
	if _, err := s.itemTable(ctx, name); err != nil {
		return tableapi.TableDescription{}, err
	}
	t, err := s.sys.Tables().Delete(ctx, name)
	if err != nil {
		return tableapi.TableDescription{}, serviceError(err)
	}
	return itemTableDescription(t, "DELETING"), nil
}

func (s *tableService) UpdateTimeToLive(ctx context.Context, req tableapi.UpdateTimeToLive) (tableapi.TimeToLive, error) {
	if _, err := s.itemTable(ctx, req.Table); err != nil {
		return tableapi.TimeToLive{}, err
	}
	if _, err := s.sys.Tables().ChangeTTL(ctx, req.Table, req.Attribute, req.Enabled); err != nil {
		return tableapi.TimeToLive{}, serviceError(err)
	}
	return tableapi.TimeToLive{Enabled: req.Enabled, Attribute: req.Attribute}, nil
}

func (s *tableService) DescribeTimeToLive(ctx context.Context, name string) (tableapi.TimeToLive, error) {
	t, err := s.itemTable(ctx, name)
	if err != nil {
		return tableapi.TimeToLive{}, err
	}
	return tableapi.TimeToLive{Enabled: t.TTLAttribute != "", Attribute: t.TTLAttribute}, nil
}

// write runs a planned write through consensus.
func (s *tableService) write(ctx context.Context, table string, plan func(catalog.Table) (*itemop.Write, error)) (tableapi.WriteResult, error) {
	t, err := s.itemTable(ctx, table)
	if err != nil {
		return tableapi.WriteResult{}, err
	}
	w, err := plan(t)
	if err != nil {
		return tableapi.WriteResult{}, serviceError(err)
	}
	if t.Consistency != catalog.Strong {
		return s.eventualWrite(ctx, w)
	}
	res, err := s.sys.Strong(ctx, w.Key, w.Op())
	if err != nil {
		return tableapi.WriteResult{}, serviceError(fmt.Errorf("write the item: %w", err))
	}
	out, err := w.Result(res)
	return out, serviceError(err)
}

func (s *tableService) PutItem(ctx context.Context, req tableapi.PutItem) (tableapi.WriteResult, error) {
	return s.write(ctx, req.Table, func(t catalog.Table) (*itemop.Write, error) { return itemop.Put(t, req, wallclock.Now()) })
}

func (s *tableService) DeleteItem(ctx context.Context, req tableapi.DeleteItem) (tableapi.WriteResult, error) {
	return s.write(ctx, req.Table, func(t catalog.Table) (*itemop.Write, error) { return itemop.Delete(t, req, wallclock.Now()) })
}

func (s *tableService) UpdateItem(ctx context.Context, req tableapi.UpdateItem) (tableapi.WriteResult, error) {
	return s.write(ctx, req.Table, func(t catalog.Table) (*itemop.Write, error) { return itemop.Update(t, req, wallclock.Now()) })
}

// GetItem reads the item linearizably whether or not the request asks for
// a consistent read: a strong table has no cheaper read to offer.
func (s *tableService) GetItem(ctx context.Context, req tableapi.GetItem) (tableapi.GetResult, error) {
	t, err := s.itemTable(ctx, req.Table)
	if err != nil {
		return tableapi.GetResult{}, err
	}
	g, err := itemop.PlanGet(t, req, wallclock.Now())
	if err != nil {
		return tableapi.GetResult{}, serviceError(err)
	}
	if t.Consistency != catalog.Strong {
		return s.eventualGet(ctx, g)
	}
	res, err := s.sys.Strong(ctx, g.Key, paxos.Op{Kind: paxos.OpGet})
	if err != nil {
		return tableapi.GetResult{}, serviceError(fmt.Errorf("read the item: %w", err))
	}
	out, err := g.Result(res)
	return out, serviceError(err)
}

// Query reads one page: of a strong table linearizably
// (actors.System.ReadRange), whether or not the request asks for a
// consistent read; of an eventual one at its read quorum
// (actors.System.ReadEventualRange).
func (s *tableService) Query(ctx context.Context, req tableapi.Query) (tableapi.QueryResult, error) {
	t, err := s.itemTable(ctx, req.Table)
	if err != nil {
		return tableapi.QueryResult{}, err
	}
	q, err := itemop.PlanQuery(t, req, wallclock.Now())
	if err != nil {
		return tableapi.QueryResult{}, serviceError(err)
	}
	read := s.rangeReader(t, req.Consistent)
	// Range reads until the page holds Limit items (deleted ones take no
	// place: itemop.Take), the range ends, or a page bound is reached.
	var pg pageReads
	r := q.Range
	complete := r.Empty()
	for !complete && !pg.bounded(q.MaxKeys) {
		entries, done, err := read(ctx, actors.RangeRead{Lower: r.Lower, Upper: r.Upper, Reverse: q.Reverse,
			MaxKeys: itemop.ReadSize(q.MaxKeys-pg.items, len(pg.read)), MaxBytes: tableapi.MaxPageBytes - pg.size})
		if err != nil {
			return tableapi.QueryResult{}, serviceError(fmt.Errorf("read the items: %w", err))
		}
		if !pg.take(q.Take, entries, q.MaxKeys) {
			break // full within this read: more remains
		}
		if complete = done; complete || len(entries) == 0 {
			break
		}
		if last := entries[len(entries)-1].Key; q.Reverse {
			r = r.Before(last)
		} else {
			r = r.After(last)
		}
	}
	out, err := q.Page(pg.read, complete)
	return out, serviceError(err)
}

// rangeReader is how a Query or Scan of table t reads one page of a range:
// linearizably on a strong table, at the read quorum of an eventual one
// (a majority when consistent), merging its replicas item by item.
func (s *tableService) rangeReader(t catalog.Table, consistent bool) func(context.Context, actors.RangeRead) ([]itemop.Stored, bool, error) {
	if t.Consistency == catalog.Strong {
		return s.sys.ReadRange
	}
	rq := s.readQuorum(consistent)
	var current func([]byte, []object.Sibling) (paxos.Value, error)
	if t.Conflict == catalog.CRDT {
		current = itemop.CRDTCurrent(t)
	}
	return func(ctx context.Context, r actors.RangeRead) ([]itemop.Stored, bool, error) {
		r.Current = current
		return s.sys.ReadEventualRange(ctx, r, rq)
	}
}

// pageReads are the registers a Query or Scan page has read so far.
type pageReads struct {
	read  []itemop.Stored
	items int // of read, those that hold an item
	size  int // bytes of read
}

// take adds what a page keeps of one more range read (keep: itemop's
// Take), and reports whether it kept every register read.
func (pg *pageReads) take(keep func([]itemop.Stored, int) ([]itemop.Stored, int), entries []itemop.Stored, maxItems int) bool {
	kept, n := keep(entries, maxItems-pg.items)
	if pg.read == nil {
		pg.read = kept // most pages take one read: no copy
	} else {
		pg.read = append(pg.read, kept...)
	}
	pg.items += n
	for _, e := range kept {
		pg.size += len(e.Key) + len(e.Value.Data)
	}
	return len(kept) == len(entries)
}

// bounded reports whether the page may read no more: it holds maxItems
// items, tableapi.MaxPageBytes, or itemop.MaxPageRegisters registers.
func (pg *pageReads) bounded(maxItems int) bool {
	return pg.items >= maxItems || pg.size >= tableapi.MaxPageBytes || len(pg.read) >= itemop.MaxPageRegisters
}

// Scan reads one page of a table's items linearizably (as Query),
// walking the ring partitions of its segment in order: in each, the
// table's registers there in key order (actors.System.ReadRange of a part
// of the table), until the page holds MaxKeys items or reaches a page
// bound (pageReads.bounded).
func (s *tableService) Scan(ctx context.Context, req tableapi.Scan) (tableapi.QueryResult, error) {
	t, err := s.itemTable(ctx, req.Table)
	if err != nil {
		return tableapi.QueryResult{}, err
	}
	view := s.sys.View()
	if view == nil || view.Ring == nil {
		return tableapi.QueryResult{}, tableapi.Errorf(tableapi.KindUnavailable, "this node has no ring yet")
	}
	plan, err := itemop.PlanScan(t, req, view.Ring.Partitions(), wallclock.Now())
	if err != nil {
		return tableapi.QueryResult{}, serviceError(err)
	}
	read := s.rangeReader(t, req.Consistent)
	var pg pageReads
	complete := true
partitions:
	for p := plan.From; p < plan.To; p++ {
		for r := plan.Range(p); !r.Empty(); {
			if pg.bounded(plan.MaxKeys) {
				complete = false // the next page starts after the last register read
				break partitions
			}
			entries, done, err := read(ctx, actors.RangeRead{Lower: r.Lower, Upper: r.Upper, OfTable: true, Partition: p,
				MaxKeys: itemop.ReadSize(plan.MaxKeys-pg.items, len(pg.read)), MaxBytes: tableapi.MaxPageBytes - pg.size})
			if err != nil {
				return tableapi.QueryResult{}, serviceError(fmt.Errorf("read the items of partition %d: %w", p, err))
			}
			if !pg.take(plan.Take, entries, plan.MaxKeys) {
				complete = false // full within this read
				break partitions
			}
			if done {
				break // on to the next partition
			}
			if len(entries) == 0 {
				complete = false
				break partitions
			}
			r = r.After(entries[len(entries)-1].Key)
		}
	}
	out, err := plan.Page(pg.read, complete)
	return out, serviceError(err)
}

// BatchGetItem reads each key linearizably (as GetItem), all at once.
func (s *tableService) BatchGetItem(ctx context.Context, req tableapi.BatchGetItem) (tableapi.BatchGetResult, error) {
	plan, err := itemop.PlanBatchGet(req, func(name string) (catalog.Table, error) { return s.itemTable(ctx, name) }, wallclock.Now())
	if err != nil {
		return tableapi.BatchGetResult{}, serviceError(err)
	}
	items := make([]item.Item, len(plan.Reads))
	errs := make([]error, len(plan.Reads))
	var wg sync.WaitGroup
	for i, r := range plan.Reads {
		wg.Go(func() {
			if r.Get.Eventual() {
				got, err := s.eventualGet(ctx, r.Get)
				items[i], errs[i] = got.Item, err
				return
			}
			res, err := s.sys.Strong(ctx, r.Get.Key, paxos.Op{Kind: paxos.OpGet})
			if err != nil {
				errs[i] = serviceError(fmt.Errorf("read the item: %w", err))
				return
			}
			got, err := r.Result(res)
			items[i], errs[i] = got.Item, serviceError(err)
		})
	}
	wg.Wait()
	out, err := plan.Result(items, errs)
	return out, serviceError(err)
}

// BatchWriteItem makes each write as its own consensus step, all at once.
func (s *tableService) BatchWriteItem(ctx context.Context, req tableapi.BatchWriteItem) (tableapi.BatchWriteResult, error) {
	plan, err := itemop.PlanBatchWrite(req, func(name string) (catalog.Table, error) { return s.itemTable(ctx, name) }, wallclock.Now())
	if err != nil {
		return tableapi.BatchWriteResult{}, serviceError(err)
	}
	errs := make([]error, len(plan.Writes))
	var wg sync.WaitGroup
	for i, w := range plan.Writes {
		wg.Go(func() {
			if w.Eventual() {
				_, errs[i] = s.eventualWrite(ctx, w.Write)
				return
			}
			res, err := s.sys.Strong(ctx, w.Key, w.Op())
			if err != nil {
				errs[i] = serviceError(fmt.Errorf("write the item: %w", err))
				return
			}
			_, err = w.Result(res)
			errs[i] = serviceError(err)
		})
	}
	wg.Wait()
	out, err := plan.Result(errs)
	return out, serviceError(err)
}

// The eventual path (itemop/eventual.go): a table of items whose last
// writer wins. A read asks the node's read quorum R, or a majority when it
// asks for a consistent read (with writes at a majority, a read then
// overlaps every acknowledged write unless fallbacks took it); a write
// goes at the node's write quorum W.

// readQuorum is the R of an eventual table's item read.
func (s *tableService) readQuorum(consistent bool) int {
	cfg := s.sys.Config()
	if consistent {
		return max(cfg.R, quorum.Majority(cfg.N))
	}
	return cfg.R
}

func (s *tableService) eventualGet(ctx context.Context, g *itemop.Get) (tableapi.GetResult, error) {
	res, err := s.sys.Get(ctx, actors.GetRequest{Key: g.Key, R: s.readQuorum(g.Consistent())})
	if err != nil {
		return tableapi.GetResult{}, serviceError(fmt.Errorf("read the item: %w", err))
	}
	if g.CRDT() {
		st, err := object.State(res.Siblings)
		if err != nil {
			return tableapi.GetResult{}, serviceError(fmt.Errorf("read the item: %w", err))
		}
		out, err := g.CRDTResult(st)
		return out, serviceError(err)
	}
	out, err := g.EventualResult(res.Siblings)
	return out, serviceError(err)
}

// crdtWrite writes w's item of a table of CRDT items: it reads the item's
// state at a majority, and the replica that coordinates the write applies
// the operations that turn it into w's item with that state as its base
// and context, so only what the read observed is replaced or removed.
func (s *tableService) crdtWrite(ctx context.Context, w *itemop.Write) (tableapi.WriteResult, error) {
	if ops, blind, err := w.BlindOps(); blind {
		if err != nil {
			return tableapi.WriteResult{}, serviceError(err)
		}
		return tableapi.WriteResult{}, s.applyCRDT(ctx, w.Key, ops, nil)
	}
	res, err := s.sys.Get(ctx, actors.GetRequest{Key: w.Key, R: s.readQuorum(true)})
	if err != nil {
		return tableapi.WriteResult{}, serviceError(fmt.Errorf("read the item to write: %w", err))
	}
	st, err := object.State(res.Siblings)
	if err != nil {
		return tableapi.WriteResult{}, serviceError(fmt.Errorf("read the item to write: %w", err))
	}
	ops, err := w.NextOps(st)
	if err != nil {
		return tableapi.WriteResult{}, serviceError(err)
	}
	if len(ops) > 0 {
		if err := s.applyCRDT(ctx, w.Key, ops, &st); err != nil {
			return tableapi.WriteResult{}, err
		}
	}
	return w.CRDTAnswer(), nil
}

// applyCRDT has the replica that coordinates a write of the CRDT item at
// key apply ops, with read (the state the write read; nil for a blind
// write) as their base and context: they then remove only what it
// observed.
func (s *tableService) applyCRDT(ctx context.Context, key []byte, ops []*datatypepb.DatatypeOp, read *crdt.State) error {
	enc, err := proto.Marshal(&datatypepb.DatatypeOps{Ops: ops})
	if err != nil {
		return serviceError(fmt.Errorf("the write's operations: %w", err))
	}
	if err := s.sys.CheckValue(enc); err != nil {
		return tableapi.Errorf(tableapi.KindValidation, "%v", err)
	}
	put := actors.PutRequest{Key: key, DatatypeOps: enc, DatatypeContext: crdt.EncodeContext(crdt.Context{})}
	if read != nil {
		put.DatatypeContext, put.DatatypeBase = crdt.EncodeContext(read.Context()), crdt.Encode(*read)
	}
	if _, err := s.sys.Put(ctx, put); err != nil {
		return crdtWriteError(err)
	}
	return nil
}

// crdtWriteError is the table service's error for a write of a CRDT item
// that its coordinating replica refused (nothing applied), or that failed
// otherwise (open when unavailable: some replicas may hold it).
func crdtWriteError(err error) error {
	var de *actors.DatatypeError
	if !errors.As(err, &de) {
		return openWrite(serviceError(fmt.Errorf("write the item: %w", err)))
	}
	switch de.Kind {
	case actors.DatatypeLimit, actors.DatatypeInvalid:
		return tableapi.Errorf(tableapi.KindValidation, "the item's new state: %v", err)
	}
	// The replica that was to apply it has not seen all that the write's
	// read did, or a concurrent write took what it meant to remove: it
	// applied nothing, and a retry reads again.
	return tableapi.Errorf(tableapi.KindUnavailable, "the write was not applied (%v); retry it", err)
}

// openWrite marks an unavailable write's error open: some replicas may
// hold it, and a read tells.
func openWrite(err error) error {
	var te *tableapi.Error
	if errors.As(err, &te) && te.Kind == tableapi.KindUnavailable {
		te.Open = true
	}
	return err
}

// eventualWrite writes w's item (or its tombstone) at W, first reading
// the item when w needs it; the write then carries the read's context, so
// it is stamped above the version it read.
func (s *tableService) eventualWrite(ctx context.Context, w *itemop.Write) (tableapi.WriteResult, error) {
	if w.CRDT() {
		return s.crdtWrite(ctx, w)
	}
	put := actors.PutRequest{Key: w.Key}
	var cur paxos.Value
	if w.ReadsCurrent() {
		res, err := s.sys.Get(ctx, actors.GetRequest{Key: w.Key, R: s.readQuorum(true)})
		if err != nil {
			return tableapi.WriteResult{}, serviceError(fmt.Errorf("read the item to update: %w", err))
		}
		if cur, err = itemop.Current(res.Siblings); err != nil {
			return tableapi.WriteResult{}, serviceError(err)
		}
		put.Context, put.After = object.Context(res.Siblings), object.MaxStamp(res.Siblings)
	}
	data, exists, err := w.Next(cur)
	if err != nil {
		return tableapi.WriteResult{}, serviceError(err)
	}
	put.Value, put.Deleted = data, !exists
	if err := s.sys.CheckValue(data); err != nil {
		return tableapi.WriteResult{}, tableapi.Errorf(tableapi.KindValidation, "%v", err)
	}
	if _, err := s.sys.Put(ctx, put); err != nil {
		return tableapi.WriteResult{}, openWrite(serviceError(fmt.Errorf("write the item: %w", err)))
	}
	out, err := w.Answer(cur)
	return out, serviceError(err)
}
