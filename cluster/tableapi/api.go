// Package tableapi owns the contract of the node's table service: the
// requests and answers of every table and item operation, and the kinds of
// error they end with. Both front doors speak it (the gRPC Table service
// and the DynamoDB-compatible HTTP endpoint); each translates its wire
// form to these types and the error kinds back to its own codes, so that
// neither re-implements a rule. The package is pure; the node implements
// Service.
package tableapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/expr"
	"github.com/harmoniakv/harmonia/cluster/item"
)

// Service is the node's table service.
type Service interface {
	CreateTable(ctx context.Context, req CreateTable) (TableDescription, error)
	DescribeTable(ctx context.Context, name string) (TableDescription, error)
	// ListTables returns up to limit names (all when limit is 0) after
	// start (from the first when ""), in name order, and the last name
	// returned when more follow ("" when none do).
	ListTables(ctx context.Context, start string, limit int) (names []string, last string, err error)
	DeleteTable(ctx context.Context, name string) (TableDescription, error)
	// UpdateTimeToLive enables or disables a table's TTL and returns what
	// it asked; DescribeTimeToLive shows it.
	UpdateTimeToLive(ctx context.Context, req UpdateTimeToLive) (TimeToLive, error)
	DescribeTimeToLive(ctx context.Context, name string) (TimeToLive, error)

	PutItem(ctx context.Context, req PutItem) (WriteResult, error)
	GetItem(ctx context.Context, req GetItem) (GetResult, error)
	DeleteItem(ctx context.Context, req DeleteItem) (WriteResult, error)
	UpdateItem(ctx context.Context, req UpdateItem) (WriteResult, error)
	Query(ctx context.Context, req Query) (QueryResult, error)
	// Scan reads one page of a table's items (of one segment), answered
	// as a Query's page.
	Scan(ctx context.Context, req Scan) (QueryResult, error)
	BatchGetItem(ctx context.Context, req BatchGetItem) (BatchGetResult, error)
	BatchWriteItem(ctx context.Context, req BatchWriteItem) (BatchWriteResult, error)
}

// CreateTable creates a table of items.
type CreateTable struct {
	Name   string
	Schema item.KeySchema
	// Consistency: catalog.Strong or catalog.Eventual ("" is Strong, as
	// DynamoDB users expect conditions to be atomic, or Eventual when a
	// Conflict is given).
	Consistency catalog.Consistency
	// Conflict: for an eventual table, catalog.LWW ("" is LWW too) or
	// catalog.CRDT (items as CRDT maps, cluster/crdtitem).
	Conflict catalog.Conflict
}

// TableDescription is a table as DescribeTable shows it.
type TableDescription struct {
	Name        string
	ID          uint32
	Schema      item.KeySchema
	Consistency catalog.Consistency
	// Conflict is how an eventual table settles concurrent writes (LWW).
	Conflict catalog.Conflict
	// CreatedUnixNanos is when it was created, by the creating node's
	// clock.
	CreatedUnixNanos int64
	// Status is "ACTIVE", or "DELETING" in DeleteTable's answer.
	Status string
	// TTLAttribute is the attribute that expires items ("" when TTL is
	// disabled).
	TTLAttribute string
}

// UpdateTimeToLive enables a table's TTL on an attribute, or disables it
// (Attribute is then the one enabled), as DynamoDB: enabling where it is
// enabled and disabling where it is not are refused (KindValidation).
// From the moment an item's attribute of that name is a number of Unix
// seconds at or before the node's clock, the item is expired: no read
// returns it, conditions and updates see it as absent, and the node
// deletes it in the background.
type UpdateTimeToLive struct {
	Table     string
	Attribute string
	Enabled   bool
}

// TimeToLive is a table's TTL: whether it is enabled, and on which
// attribute.
type TimeToLive struct {
	Enabled   bool
	Attribute string
}

// Expressions are a request's ExpressionAttributeNames and
// ExpressionAttributeValues, shared by all its expressions.
type Expressions struct {
	Names  map[string]string
	Values map[string]item.Value
}

// ReturnValues is what a write returns of the item (DynamoDB's
// ReturnValues).
type ReturnValues string

// The ReturnValues a write may ask for ("" is None).
const (
	ReturnNone       ReturnValues = "NONE"
	ReturnAllOld     ReturnValues = "ALL_OLD"
	ReturnUpdatedOld ReturnValues = "UPDATED_OLD"
	ReturnAllNew     ReturnValues = "ALL_NEW"
	ReturnUpdatedNew ReturnValues = "UPDATED_NEW"
)

// PutItem writes a whole item, replacing any item of its key.
type PutItem struct {
	Table string
	Item  item.Item
	// Condition is a ConditionExpression ("" for none).
	Condition string
	Expressions
	// Return: None or AllOld.
	Return ReturnValues
}

// GetItem reads one item by its key.
type GetItem struct {
	Table string
	// Key holds the key attributes only.
	Key item.Item
	// Projection is a ProjectionExpression ("" for the whole item).
	Projection string
	Expressions
	// Consistent asks for a read that reflects every write acknowledged
	// before it began.
	Consistent bool
}

// GetResult is GetItem's answer: Item is nil when there is none.
type GetResult struct {
	Item item.Item
}

// DeleteItem removes one item by its key.
type DeleteItem struct {
	Table     string
	Key       item.Item
	Condition string
	Expressions
	// Return: None or AllOld.
	Return ReturnValues
}

// UpdateItem changes one item's attributes (creating it if absent).
type UpdateItem struct {
	Table string
	Key   item.Item
	// Update is an UpdateExpression ("" changes nothing but still creates
	// the item from its key).
	Update    string
	Condition string
	Expressions
	Return ReturnValues
}

// WriteResult is a write's answer: Attributes as its ReturnValues asked
// (nil for None, or when there was no such item).
type WriteResult struct {
	Attributes item.Item
}

// Select is what a Query or Scan returns of each item.
type Select string

// The selects a Query may ask for ("" is AllAttributes, or
// SpecificAttributes with a projection).
const (
	SelectAllAttributes      Select = "ALL_ATTRIBUTES"
	SelectSpecificAttributes Select = "SPECIFIC_ATTRIBUTES"
	SelectCount              Select = "COUNT"
)

// Query reads the items of one partition key in sort key order.
type Query struct {
	Table string
	// KeyCondition is a KeyConditionExpression: the partition key's
	// equality, and optionally one condition on the sort key.
	KeyCondition string
	// Filter is a FilterExpression, applied after Limit counts items read.
	Filter     string
	Projection string
	Expressions
	// Limit is the most items to read (0: no limit but the page size).
	Limit int
	// ExclusiveStartKey is the LastEvaluatedKey of the page before (nil for
	// the first page).
	ExclusiveStartKey item.Item
	// Backward reads in descending sort key order (ScanIndexForward false).
	Backward   bool
	Select     Select
	Consistent bool
	// Encoded asks for the page's items as stored (QueryResult.Encoded)
	// when it neither filters nor projects them and nothing of the table
	// expires: a caller whose answer carries that encoding (the gRPC
	// door) is spared a decode and an encode of every item.
	Encoded bool
}

// QueryResult is one page of a Query.
type QueryResult struct {
	// Items are the items that passed the filter (none for SelectCount).
	Items []item.Item
	// Encoded are, instead of Items when the request asked so
	// (Query.Encoded) and the page may, the items as stored: each the
	// protobuf encoding of an itempb.Item, checked only to be well formed
	// at its top level (the item within was checked when written).
	Encoded [][]byte
	// Count is how many passed the filter; ScannedCount how many were
	// read.
	Count, ScannedCount int
	// LastEvaluatedKey is where the next page starts (nil when this page
	// is the last).
	LastEvaluatedKey item.Item
}

// MaxPageBytes bounds one Query or Scan page: 1 MB of items read, as
// DynamoDB.
const MaxPageBytes = 1 << 20

// Scan reads every item of a table, a page at a time: the table's items
// in an order of the node's (partition by partition), or those of one
// segment of it.
type Scan struct {
	Table string
	// Filter is a FilterExpression, applied after Limit counts items read.
	Filter     string
	Projection string
	Expressions
	// Limit is the most items to read (0: no limit but the page size).
	Limit int
	// ExclusiveStartKey is the LastEvaluatedKey of the page before (nil for
	// the first page).
	ExclusiveStartKey item.Item
	Select            Select
	Consistent        bool
	// Segment and TotalSegments split the table for parallel scans:
	// TotalSegments 0 reads the whole table; otherwise this request reads
	// segment Segment of TotalSegments disjoint ones that together hold
	// every item.
	Segment, TotalSegments int
}

// MaxTotalSegments is the most segments a Scan may split a table into,
// as DynamoDB.
const MaxTotalSegments = 1_000_000

// MaxBatchGetKeys is the most keys one BatchGetItem reads, over all its
// tables, as DynamoDB.
const MaxBatchGetKeys = 100

// MaxBatchWrites is the most puts and deletes one BatchWriteItem makes,
// over all its tables, as DynamoDB.
const MaxBatchWrites = 25

// BatchGetItem reads items of one or more tables by key.
type BatchGetItem struct {
	// Tables are the keys to read, by table name.
	Tables map[string]KeysAndAttributes
}

// KeysAndAttributes are the keys a BatchGetItem reads of one table and
// what it returns of each item.
type KeysAndAttributes struct {
	Keys       []item.Item
	Projection string
	// Expressions: only Names (a projection takes no values).
	Expressions
	Consistent bool
}

// BatchGetResult is BatchGetItem's answer: the items found, by table (in
// no particular order), and the keys not read because too few replicas
// answered or other writes kept winning, to ask for again.
type BatchGetResult struct {
	Responses   map[string][]item.Item
	Unprocessed map[string]KeysAndAttributes
}

// BatchWriteItem puts and deletes items of one or more tables, each
// write on its own (no conditions, no atomicity across items).
type BatchWriteItem struct {
	// Tables are the writes, by table name.
	Tables map[string][]WriteRequest
}

// WriteRequest is one write of a BatchWriteItem: exactly one of Put (a
// whole item) and Delete (a key) is set.
type WriteRequest struct {
	Put    item.Item
	Delete item.Item
}

// BatchWriteResult is BatchWriteItem's answer: the writes not made
// because too few replicas answered or other writes kept winning (each
// may still take effect), to send again.
type BatchWriteResult struct {
	Unprocessed map[string][]WriteRequest
}

// Kind is the class of a failed request, which each front door maps to its
// own code.
type Kind int

const (
	// KindInternal: a fault of the node (a bug, a failed disk).
	KindInternal Kind = iota
	// KindValidation: the request is malformed or cannot apply
	// (ValidationException, gRPC InvalidArgument).
	KindValidation
	// KindConditionFailed: a ConditionExpression did not hold
	// (ConditionalCheckFailedException, FailedPrecondition).
	KindConditionFailed
	// KindTableNotFound: the table does not exist
	// (ResourceNotFoundException, NotFound).
	KindTableNotFound
	// KindTableExists: CreateTable of a name in use (ResourceInUseException,
	// AlreadyExists).
	KindTableExists
	// KindLimitExceeded: too many tables (LimitExceededException,
	// ResourceExhausted).
	KindLimitExceeded
	// KindContention: other writes of the item kept winning until the
	// deadline; a write may still take effect
	// (TransactionConflictException, Aborted).
	KindContention
	// KindUnavailable: too few replicas answered before the deadline; a
	// write may still take effect (ServiceUnavailable, Unavailable).
	KindUnavailable
)

// Error is a request's failure: its kind and the message a client is
// told. errors.Is matches the error it wraps.
type Error struct {
	Kind Kind
	Msg  string
	Err  error
	// Open: the write reached a majority's accept round and may still
	// take effect (a front door that can say so, as gRPC's Indeterminate
	// detail does, tells it from a write that certainly changed nothing).
	Open bool
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// Errorf is an error of kind k with the message format makes (%w wraps).
func Errorf(k Kind, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: k, Msg: err.Error(), Err: errors.Unwrap(err)}
}

// KindOf is the kind of err: an *Error's own, else KindInternal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// Classify gives err a kind when it has none: the errors of cluster/item
// and cluster/expr (a value, item, key or expression DynamoDB would
// refuse, an update that cannot apply) are KindValidation, with their
// text; anything else is returned as it is.
func Classify(err error) error {
	var e *Error
	if err == nil || errors.As(err, &e) {
		return err
	}
	for _, kind := range []error{item.ErrInvalid, item.ErrTooDeep, item.ErrKey, item.ErrJSON, item.ErrNumber, item.ErrProto, expr.ErrInvalid, expr.ErrUpdate} {
		if errors.Is(err, kind) {
			return &Error{Kind: KindValidation, Msg: err.Error(), Err: err}
		}
	}
	return err
}
