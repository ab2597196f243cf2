package dynamodb

import (
	"context"
	"sync"

	"github.com/harmoniakv/harmonia/cluster/tableapi"
)

// fakeService is a tableapi.Service that records each request it gets and
// answers with what the test set: the answer of the request's type, or
// err for every request when err is set.
type fakeService struct {
	mu    sync.Mutex
	calls []any

	err        error
	table      tableapi.TableDescription
	names      []string
	lastName   string
	get        tableapi.GetResult
	write      tableapi.WriteResult
	query      tableapi.QueryResult
	batchGet   tableapi.BatchGetResult
	batchWrite tableapi.BatchWriteResult
	ttl        tableapi.TimeToLive
}

// The requests of the methods that take no request struct.
type (
	describeTableCall struct{ Name string }
	deleteTableCall   struct{ Name string }
	describeTTLCall   struct{ Name string }
	listTablesCall    struct {
		Start string
		Limit int
	}
)

func (f *fakeService) record(call any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	return f.err
}

// recorded returns the requests received so far.
func (f *fakeService) recorded() []any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]any(nil), f.calls...)
}

func (f *fakeService) CreateTable(_ context.Context, req tableapi.CreateTable) (tableapi.TableDescription, error) {
	return f.table, f.record(req)
}

func (f *fakeService) DescribeTable(_ context.Context, name string) (tableapi.TableDescription, error) {
	return f.table, f.record(describeTableCall{name})
}

func (f *fakeService) ListTables(_ context.Context, start string, limit int) ([]string, string, error) {
	return f.names, f.lastName, f.record(listTablesCall{start, limit})
}

func (f *fakeService) DeleteTable(_ context.Context, name string) (tableapi.TableDescription, error) {
	return f.table, f.record(deleteTableCall{name})
}

func (f *fakeService) PutItem(_ context.Context, req tableapi.PutItem) (tableapi.WriteResult, error) {
	return f.write, f.record(req)
}

func (f *fakeService) GetItem(_ context.Context, req tableapi.GetItem) (tableapi.GetResult, error) {
	return f.get, f.record(req)
}

func (f *fakeService) DeleteItem(_ context.Context, req tableapi.DeleteItem) (tableapi.WriteResult, error) {
	return f.write, f.record(req)
}

func (f *fakeService) UpdateItem(_ context.Context, req tableapi.UpdateItem) (tableapi.WriteResult, error) {
	return f.write, f.record(req)
}

func (f *fakeService) Query(_ context.Context, req tableapi.Query) (tableapi.QueryResult, error) {
	return f.query, f.record(req)
}

func (f *fakeService) Scan(_ context.Context, req tableapi.Scan) (tableapi.QueryResult, error) {
	return f.query, f.record(req)
}

func (f *fakeService) BatchGetItem(_ context.Context, req tableapi.BatchGetItem) (tableapi.BatchGetResult, error) {
	return f.batchGet, f.record(req)
}

func (f *fakeService) BatchWriteItem(_ context.Context, req tableapi.BatchWriteItem) (tableapi.BatchWriteResult, error) {
	return f.batchWrite, f.record(req)
}

func (f *fakeService) UpdateTimeToLive(_ context.Context, req tableapi.UpdateTimeToLive) (tableapi.TimeToLive, error) {
	return f.ttl, f.record(req)
}

func (f *fakeService) DescribeTimeToLive(_ context.Context, name string) (tableapi.TimeToLive, error) {
	return f.ttl, f.record(describeTTLCall{name})
}
