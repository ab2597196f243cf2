package node

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/harmoniakv/harmonia/actors"
	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The table service (harmonia.v1.Table) and the KV API's requests for
// created tables: which table a request names, and the strong path's
// requests and answers.

// target resolves a request's table and checks its key: the table (the
// default one for an empty name) and the key as stored.
func (a *api) target(ctx context.Context, table string, key []byte) (catalog.Table, []byte, error) {
	if err := a.sys.CheckClientKey(key); err != nil {
		return catalog.Table{}, nil, toStatus(err)
	}
	if table == "" || table == catalog.DefaultTable {
		stored, err := catalog.DefaultKey(key)
		if err != nil {
			return catalog.Table{}, nil, status.Error(codes.InvalidArgument, err.Error())
		}
		return catalog.Table{Name: catalog.DefaultTable, Consistency: catalog.Eventual}, stored, nil
	}
	t, err := a.lookup(ctx, table)
	if err != nil {
		return catalog.Table{}, nil, err
	}
	if t.HasItems() {
		return catalog.Table{}, nil, status.Errorf(codes.InvalidArgument, "table %q holds items under a key schema; read and write them with the Table service's item calls (harmonia item) or the DynamoDB endpoint, not the KV API", t.Name)
	}
	return t, catalog.Key(t, key), nil
}

// checkTableName refuses a name no created table can have.
func checkTableName(name string) error {
	if name == catalog.DefaultTable {
		return status.Errorf(codes.InvalidArgument, "table %q is the built-in table of the KV API; it is not created, described or deleted", name)
	}
	if err := catalog.CheckName(name); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return nil
}

// lookup finds a created table by name.
func (a *api) lookup(ctx context.Context, name string) (catalog.Table, error) {
	if err := checkTableName(name); err != nil {
		return catalog.Table{}, err
	}
	t, err := a.sys.Tables().Lookup(ctx, name)
	if err != nil {
		return catalog.Table{}, tableStatus(err)
	}
	return t, nil
}

// tableStatus maps the catalog's errors to statuses.
func tableStatus(err error) error {
	var se *actors.StrongError
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, catalog.ErrExists):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, catalog.ErrTooMany):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, catalog.ErrBadName), errors.Is(err, catalog.ErrBadConflict):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.As(err, &se):
		return status.Error(outcomeCode(se.Outcome), err.Error())
	}
	return toStatus(err)
}

// outcomeCode is the status of a strong request that did not end OK.
func outcomeCode(o paxos.Outcome) codes.Code {
	switch o {
	case paxos.OutcomeConditionFailed:
		return codes.FailedPrecondition
	case paxos.OutcomeContention:
		return codes.Aborted
	case paxos.OutcomeInvalid:
		return codes.InvalidArgument
	}
	return codes.Unavailable
}

// eventualCondition refuses a condition on an eventual table: on the
// eventual path no write is atomic with what it checked.
func eventualCondition(t catalog.Table) error {
	return status.Errorf(codes.InvalidArgument, "table %q is eventual: conditions (if_absent, if_version) need a strong table, where the check and the write are one atomic step", t.Name)
}

// strongOptions refuses the eventual path's options on a strong table.
func strongOptions(t catalog.Table, context []byte, quorums ...string) error {
	for _, q := range quorums {
		if strings.TrimSpace(q) != "" {
			return status.Errorf(codes.InvalidArgument, "table %q is strong: a majority of each key's primary replicas decides every request; r, w and pw do not apply", t.Name)
		}
	}
	if len(context) > 0 {
		return status.Errorf(codes.InvalidArgument, "table %q is strong: it has no siblings and takes no causal context; pass the context a get returned as if_version", t.Name)
	}
	return nil
}

// strong runs op on the register of key, within the request's timeout.
func (a *api) strong(ctx context.Context, key []byte, op paxos.Op, timeoutMs uint32) (paxos.Result, error) {
	if timeoutMs > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeoutOf(timeoutMs))
		defer cancel()
	}
	res, err := a.sys.Strong(ctx, key, op)
	if err != nil {
		return res, toStatus(err)
	}
	switch res.Outcome {
	case paxos.OutcomeOK:
		return res, nil
	case paxos.OutcomeConditionFailed:
		return res, a.conditionFailed(key, op.Cond, res.Value)
	}
	st := status.New(outcomeCode(res.Outcome), (&actors.StrongError{Result: res}).Error())
	if res.Accepted && op.Kind != paxos.OpGet {
		detail := &kvpb.Indeterminate{}
		for _, v := range res.Versions {
			detail.Contexts = append(detail.Contexts, a.sealer.SealVersion(key, v))
		}
		if withDetail, err := st.WithDetails(detail); err == nil {
			st = withDetail
		}
	}
	return res, st.Err()
}

// conditionFailed is the status of a write whose condition did not hold,
// with the key's current value and version as its detail.
func (a *api) conditionFailed(key []byte, cond paxos.CondKind, v paxos.Value) error {
	what := "has a value (if_absent)"
	if cond == paxos.CondVersion {
		what = "is at another version than if_version"
		if !v.Exists {
			what += " (it has no value now)"
		}
	}
	st := status.Newf(codes.FailedPrecondition, "condition failed: key %s %s", quoteKey(key), what)
	if withDetail, err := st.WithDetails(&kvpb.ConditionFailed{Exists: v.Exists, Value: v.Data, Context: a.sealer.SealVersion(key, v.Version)}); err == nil {
		st = withDetail
	}
	return st.Err()
}

// condition reads a strong write's condition.
func (a *api) condition(key []byte, ifAbsent bool, ifVersion []byte) (paxos.CondKind, paxos.Ballot, error) {
	switch {
	case ifAbsent && len(ifVersion) > 0:
		return 0, paxos.Ballot{}, status.Error(codes.InvalidArgument, "if_absent and if_version exclude each other")
	case ifAbsent:
		return paxos.CondAbsent, paxos.Ballot{}, nil
	case len(ifVersion) > 0:
		v, err := a.sealer.OpenVersion(key, ifVersion)
		if err != nil {
			return 0, paxos.Ballot{}, status.Errorf(codes.InvalidArgument, "if_version of key %s: %v; pass the context a get of this key in this table returned", quoteKey(key), err)
		}
		return paxos.CondVersion, v, nil
	}
	return paxos.CondNone, paxos.Ballot{}, nil
}

func (a *api) strongGet(ctx context.Context, t catalog.Table, key []byte, req *kvpb.GetRequest) (*kvpb.GetResponse, error) {
	if err := strongOptions(t, nil, req.R); err != nil {
		return nil, err
	}
	res, err := a.strong(ctx, key, paxos.Op{Kind: paxos.OpGet}, req.TimeoutMs)
	if err != nil {
		return nil, err
	}
	out := &kvpb.GetResponse{Found: res.Value.Exists, Context: a.sealer.SealVersion(key, res.Value.Version), Consistency: string(catalog.Strong)}
	if res.Value.Exists {
		out.Siblings = []*kvpb.Sibling{{Value: res.Value.Data}}
	}
	return out, nil
}

func (a *api) strongPut(ctx context.Context, t catalog.Table, key []byte, req *kvpb.PutRequest) (*kvpb.PutResponse, error) {
	if err := strongOptions(t, req.Context, req.W, req.Pw); err != nil {
		return nil, err
	}
	cond, version, err := a.condition(key, req.IfAbsent, req.IfVersion)
	if err != nil {
		return nil, err
	}
	res, err := a.strong(ctx, key, paxos.Op{Kind: paxos.OpPut, Data: req.Value, Cond: cond, Version: version}, req.TimeoutMs)
	if err != nil {
		return nil, err
	}
	return &kvpb.PutResponse{Context: a.sealer.SealVersion(key, res.Value.Version), Consistency: string(catalog.Strong)}, nil
}

func (a *api) strongDelete(ctx context.Context, t catalog.Table, key []byte, req *kvpb.DeleteRequest) (*kvpb.DeleteResponse, error) {
	if err := strongOptions(t, req.Context, req.W, req.Pw); err != nil {
		return nil, err
	}
	cond, version, err := a.condition(key, false, req.IfVersion)
	if err != nil {
		return nil, err
	}
	res, err := a.strong(ctx, key, paxos.Op{Kind: paxos.OpDelete, Cond: cond, Version: version}, req.TimeoutMs)
	if err != nil {
		return nil, err
	}
	return &kvpb.DeleteResponse{Consistency: string(catalog.Strong), Context: a.sealer.SealVersion(key, res.Value.Version)}, nil
}

// tableCtx bounds a table call by its timeout (0: the node's request
// timeout).
func (a *api) tableCtx(ctx context.Context, timeoutMs uint32) (context.Context, context.CancelFunc) {
	d := timeoutOf(timeoutMs)
	if d <= 0 {
		d = a.sys.Config().RequestTimeout
	}
	return context.WithTimeout(ctx, d)
}

func describe(t catalog.Table) *kvpb.TableDescription {
	d := &kvpb.TableDescription{Name: t.Name, Consistency: string(t.Consistency), Id: t.ID, CreatedUnixNanos: t.CreatedUnixNanos,
		TtlAttribute: t.TTLAttribute, Conflict: string(t.Conflict)}
	d.PartitionKey, d.SortKey = keyAttributes(t.Schema)
	return d
}

// createItemTable creates a table of items in the table service, as the
// DynamoDB endpoint's CreateTable does.
func (a *api) createItemTable(ctx context.Context, req *kvpb.CreateTableRequest, schema item.KeySchema) (*kvpb.CreateTableResponse, error) {
	spec := tableapi.CreateTable{Name: req.Name, Schema: schema, Conflict: catalog.Conflict(req.Conflict)}
	if req.Consistency != "" {
		var err error
		if spec.Consistency, err = catalog.ParseConsistency(req.Consistency); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	if err := checkTableName(req.Name); err != nil {
		return nil, err
	}
	ctx, cancel := a.tableCtx(ctx, req.TimeoutMs)
	defer cancel()
	d, err := a.items.CreateTable(ctx, spec)
	if err != nil {
		return nil, itemStatus(err)
	}
	out := &kvpb.TableDescription{Name: d.Name, Consistency: string(d.Consistency), Conflict: string(d.Conflict), Id: d.ID, CreatedUnixNanos: d.CreatedUnixNanos}
	out.PartitionKey, out.SortKey = keyAttributes(d.Schema)
	return &kvpb.CreateTableResponse{Table: out}, nil
}

func (a *api) CreateTable(ctx context.Context, req *kvpb.CreateTableRequest) (*kvpb.CreateTableResponse, error) {
	if err := a.joined(); err != nil {
		return nil, err
	}
	if schema, ok := keySchema(req); ok {
		return a.createItemTable(ctx, req, schema)
	}
	cons := catalog.Eventual
	if req.Consistency != "" {
		var err error
		if cons, err = catalog.ParseConsistency(req.Consistency); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	if err := checkTableName(req.Name); err != nil {
		return nil, err
	}
	ctx, cancel := a.tableCtx(ctx, req.TimeoutMs)
	defer cancel()
	t, err := a.sys.Tables().Create(ctx, catalog.Spec{Name: req.Name, Consistency: cons, Conflict: catalog.Conflict(req.Conflict)})
	if err != nil {
		return nil, tableStatus(fmt.Errorf("create table: %w", err))
	}
	return &kvpb.CreateTableResponse{Table: describe(t)}, nil
}

func (a *api) DescribeTable(ctx context.Context, req *kvpb.DescribeTableRequest) (*kvpb.DescribeTableResponse, error) {
	if err := a.joined(); err != nil {
		return nil, err
	}
	ctx, cancel := a.tableCtx(ctx, req.TimeoutMs)
	defer cancel()
	t, err := a.lookup(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	return &kvpb.DescribeTableResponse{Table: describe(t)}, nil
}

func (a *api) ListTables(ctx context.Context, req *kvpb.ListTablesRequest) (*kvpb.ListTablesResponse, error) {
	if err := a.joined(); err != nil {
		return nil, err
	}
	ctx, cancel := a.tableCtx(ctx, req.TimeoutMs)
	defer cancel()
	tables, err := a.sys.Tables().List(ctx)
	if err != nil {
		return nil, tableStatus(fmt.Errorf("list tables: %w", err))
	}
	out := &kvpb.ListTablesResponse{}
	for _, t := range tables {
		out.Tables = append(out.Tables, describe(t))
	}
	return out, nil
}

func (a *api) DeleteTable(ctx context.Context, req *kvpb.DeleteTableRequest) (*kvpb.DeleteTableResponse, error) {
	if err := a.joined(); err != nil {
		return nil, err
	}
	if err := checkTableName(req.Name); err != nil {
		return nil, err
	}
	ctx, cancel := a.tableCtx(ctx, req.TimeoutMs)
	defer cancel()
	t, err := a.sys.Tables().Delete(ctx, req.Name)
	if err != nil {
		return nil, tableStatus(fmt.Errorf("delete table: %w", err))
	}
	return &kvpb.DeleteTableResponse{Table: describe(t)}, nil
}
