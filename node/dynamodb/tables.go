package dynamodb

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
)

// The parts of a table's ARN that HarmoniaKV has no counterpart for: a
// fixed region and account, so that tools expecting an ARN can parse one.
const (
	arnRegion  = "harmonia"
	arnAccount = "000000000000"
)

// The key types of a KeySchema element.
const (
	keyTypeHash  = "HASH"
	keyTypeRange = "RANGE"
)

// billingModePayPerRequest is the billing mode every table reports: there
// is no provisioned capacity to describe.
const billingModePayPerRequest = "PAY_PER_REQUEST"

// maxListTablesLimit is DynamoDB's largest ListTables Limit, and the
// number of names a ListTables without Limit returns.
const maxListTablesLimit = 100

type attributeDefinition struct {
	AttributeName string
	AttributeType string
}

type keySchemaElement struct {
	AttributeName string
	KeyType       string
}

// tableDescription is DynamoDB's TableDescription.
type tableDescription struct {
	TableName            string
	TableStatus          string
	TableArn             string
	KeySchema            []keySchemaElement
	AttributeDefinitions []attributeDefinition
	// CreationDateTime is in seconds since the epoch, as the protocol
	// writes timestamps.
	CreationDateTime float64
	// ItemCount and TableSizeBytes are zero: they are not tracked.
	ItemCount             int64
	TableSizeBytes        int64
	BillingModeSummary    billingModeSummary
	ProvisionedThroughput provisionedThroughput
}

type billingModeSummary struct {
	BillingMode string
}

// provisionedThroughput is all zeros, as DynamoDB shows it for an
// on-demand table.
type provisionedThroughput struct {
	NumberOfDecreasesToday int64
	ReadCapacityUnits      int64
	WriteCapacityUnits     int64
}

func describe(d tableapi.TableDescription) tableDescription {
	keys := []item.KeyAttribute{d.Schema.Partition}
	if d.Schema.HasSort() {
		keys = append(keys, d.Schema.Sort)
	}
	out := tableDescription{
		TableName:          d.Name,
		TableStatus:        d.Status,
		TableArn:           fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", arnRegion, arnAccount, d.Name),
		CreationDateTime:   float64(d.CreatedUnixNanos) / float64(time.Second),
		BillingModeSummary: billingModeSummary{BillingMode: billingModePayPerRequest},
	}
	for i, k := range keys {
		keyType := keyTypeHash
		if i > 0 {
			keyType = keyTypeRange
		}
		out.KeySchema = append(out.KeySchema, keySchemaElement{AttributeName: k.Name, KeyType: keyType})
		out.AttributeDefinitions = append(out.AttributeDefinitions, attributeDefinition{AttributeName: k.Name, AttributeType: string(k.Type)})
	}
	return out
}

type createTableInput struct {
	TableName            string
	AttributeDefinitions []attributeDefinition
	KeySchema            []keySchemaElement
	// Secondary indexes are refused rather than ignored: a Query of an
	// index that was silently not made would fail later, further from
	// its cause. BillingMode, ProvisionedThroughput and the rest are
	// ignored.
	GlobalSecondaryIndexes json.RawMessage
	LocalSecondaryIndexes  json.RawMessage
	// Tags: the tags ConsistencyTag and ConflictTag choose the table's
	// consistency and conflict type; others are ignored.
	Tags []tag
}

type tag struct{ Key, Value string }

// ConsistencyTag is the tag whose value ("strong" or "eventual") says
// how consistent a table made through the endpoint is: strong without it,
// as DynamoDB users expect conditions to be atomic.
const ConsistencyTag = "harmonia:consistency"

// ConflictTag is the tag whose value ("lww" or "crdt") says how an
// eventual table made through the endpoint settles concurrent writes of
// an item: the last writer wins without it; crdt merges them (an ADD
// counts, set elements add and remove, cluster/crdtitem).
const ConflictTag = "harmonia:conflict"

// consistencyOf reads the consistency and conflict type a CreateTable's
// tags ask for ("" for the service's defaults: strong, and lww for an
// eventual table).
func consistencyOf(tags []tag) (catalog.Consistency, catalog.Conflict, error) {
	var consistency catalog.Consistency
	var conflict catalog.Conflict
	for _, t := range tags {
		switch t.Key {
		case ConsistencyTag:
			c, err := catalog.ParseConsistency(t.Value)
			if err != nil {
				return "", "", validationf("tag %s: %v", ConsistencyTag, err)
			}
			consistency = c
		case ConflictTag:
			c, err := catalog.ParseConflict(t.Value)
			if err != nil {
				return "", "", validationf("tag %s: %v", ConflictTag, err)
			}
			conflict = c
		}
	}
	return consistency, conflict, nil
}

type tableDescriptionOutput struct {
	TableDescription tableDescription
}

func (h *handler) createTable(ctx context.Context, body []byte) (any, error) {
	var in createTableInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if present(in.GlobalSecondaryIndexes) || present(in.LocalSecondaryIndexes) {
		return nil, validationf("HarmoniaKV does not support secondary indexes")
	}
	if err := firstError(
		required("tableName", in.TableName == ""),
		required("attributeDefinitions", in.AttributeDefinitions == nil),
		required("keySchema", in.KeySchema == nil),
	); err != nil {
		return nil, err
	}
	schema, err := keySchema(in.AttributeDefinitions, in.KeySchema)
	if err != nil {
		return nil, err
	}
	consistency, conflict, err := consistencyOf(in.Tags)
	if err != nil {
		return nil, err
	}
	desc, err := h.svc.CreateTable(ctx, tableapi.CreateTable{Name: in.TableName, Schema: schema, Consistency: consistency, Conflict: conflict})
	if err != nil {
		return nil, err
	}
	return tableDescriptionOutput{TableDescription: describe(desc)}, nil
}

// keySchema reads a CreateTable's key: a HASH element and optionally a
// RANGE one, each with its type among the definitions, and no definition
// of anything else (there are no indexes to use one).
func keySchema(defs []attributeDefinition, elems []keySchemaElement) (item.KeySchema, error) {
	types := make(map[string]item.Type, len(defs))
	for _, d := range defs {
		if _, dup := types[d.AttributeName]; dup {
			return item.KeySchema{}, validationf("AttributeDefinitions defines %.64q twice", d.AttributeName)
		}
		types[d.AttributeName] = item.Type(d.AttributeType)
	}
	if len(elems) < 1 || len(elems) > 2 {
		return item.KeySchema{}, validationf("KeySchema has %d elements: it has one HASH element and at most one RANGE element", len(elems))
	}
	var schema item.KeySchema
	for i, e := range elems {
		t, ok := types[e.AttributeName]
		if !ok {
			return item.KeySchema{}, validationf("One or more parameter values were invalid: the key attribute %.64q is not in AttributeDefinitions", e.AttributeName)
		}
		attr := item.KeyAttribute{Name: e.AttributeName, Type: t}
		switch {
		case i == 0 && e.KeyType == keyTypeHash:
			schema.Partition = attr
		case i == 1 && e.KeyType == keyTypeRange:
			schema.Sort = attr
		default:
			return item.KeySchema{}, validationf("Invalid KeySchema: the first element has KeyType HASH and the second, if any, RANGE; element %d has %.16q", i+1, e.KeyType)
		}
	}
	if len(defs) != len(elems) {
		return item.KeySchema{}, validationf("One or more parameter values were invalid: AttributeDefinitions defines %d attributes and KeySchema uses %d; without indexes they are the same", len(defs), len(elems))
	}
	return schema, nil
}

type tableNameInput struct {
	TableName string
}

func (h *handler) describeTable(ctx context.Context, body []byte) (any, error) {
	var in tableNameInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("tableName", in.TableName == ""); err != nil {
		return nil, err
	}
	desc, err := h.svc.DescribeTable(ctx, in.TableName)
	if err != nil {
		return nil, err
	}
	return struct{ Table tableDescription }{describe(desc)}, nil
}

func (h *handler) deleteTable(ctx context.Context, body []byte) (any, error) {
	var in tableNameInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("tableName", in.TableName == ""); err != nil {
		return nil, err
	}
	desc, err := h.svc.DeleteTable(ctx, in.TableName)
	if err != nil {
		return nil, err
	}
	return tableDescriptionOutput{TableDescription: describe(desc)}, nil
}

type listTablesInput struct {
	ExclusiveStartTableName string
	Limit                   *int
}

type listTablesOutput struct {
	TableNames             []string
	LastEvaluatedTableName string `json:",omitempty"`
}

func (h *handler) listTables(ctx context.Context, body []byte) (any, error) {
	var in listTablesInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := positive("limit", in.Limit); err != nil {
		return nil, err
	}
	limit := maxListTablesLimit
	if in.Limit != nil {
		if *in.Limit > maxListTablesLimit {
			return nil, validationf("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value less than or equal to %d", *in.Limit, maxListTablesLimit)
		}
		limit = *in.Limit
	}
	names, last, err := h.svc.ListTables(ctx, in.ExclusiveStartTableName, limit)
	if err != nil {
		return nil, err
	}
	if names == nil {
		names = []string{} // DynamoDB writes an empty list, not none
	}
	return listTablesOutput{TableNames: names, LastEvaluatedTableName: last}, nil
}

type updateTableInput struct {
	TableName string
	// Billing and capacity settings have no meaning here: taken and
	// ignored, as CreateTable's.
	BillingMode           json.RawMessage
	ProvisionedThroughput json.RawMessage
	// What would change the table is refused rather than ignored.
	AttributeDefinitions        json.RawMessage
	GlobalSecondaryIndexUpdates json.RawMessage
	StreamSpecification         json.RawMessage
	ReplicaUpdates              json.RawMessage
	SSESpecification            json.RawMessage
	TableClass                  json.RawMessage
	DeletionProtectionEnabled   json.RawMessage
}

// updateTable is UpdateTable where it applies: billing and capacity
// settings, which a HarmoniaKV table has none of, are taken and change
// nothing; indexes, streams, replicas, encryption, table classes and
// deletion protection are refused.
func (h *handler) updateTable(ctx context.Context, body []byte) (any, error) {
	var in updateTableInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("tableName", in.TableName == ""); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"AttributeDefinitions", in.AttributeDefinitions}, {"GlobalSecondaryIndexUpdates", in.GlobalSecondaryIndexUpdates},
		{"StreamSpecification", in.StreamSpecification}, {"ReplicaUpdates", in.ReplicaUpdates}, {"SSESpecification", in.SSESpecification},
		{"TableClass", in.TableClass}, {"DeletionProtectionEnabled", in.DeletionProtectionEnabled}} {
		if present(f.raw) {
			return nil, validationf("HarmoniaKV does not support %s in UpdateTable: a table's key schema and properties are set when it is created", f.name)
		}
	}
	if !present(in.BillingMode) && !present(in.ProvisionedThroughput) {
		return nil, validationf("At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required")
	}
	desc, err := h.svc.DescribeTable(ctx, in.TableName)
	if err != nil {
		return nil, err
	}
	return tableDescriptionOutput{TableDescription: describe(desc)}, nil
}
