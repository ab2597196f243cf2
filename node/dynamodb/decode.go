package dynamodb

import (
	"encoding/json"
	"errors"
	"reflect"

	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
)

// decode reads a request body into the operation's request struct. Fields
// the struct does not name are ignored, as newer SDKs send members this
// endpoint does not know; the legacy parameters are the exception, since
// ignoring a condition or an update would silently change what a write
// does.
//
// A request the scanner reads (memberScanner) is scanned first, and
// decoded by encoding/json only when the scanner gives up.
func decode(body []byte, into any) error {
	if s, ok := into.(memberScanner); ok {
		if scanRequest(body, s) {
			return nil // it read no legacy parameter
		}
		s.reset()
	}
	if err := json.Unmarshal(body, into); err != nil {
		return decodeError(err)
	}
	if l, ok := into.(interface{ refuseLegacy() error }); ok {
		return l.refuseLegacy()
	}
	return nil
}

func decodeError(err error) error {
	var syntax *json.SyntaxError
	var wrongType *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return serializationf("The request body is not valid JSON: %v (at byte %d)", err, syntax.Offset)
	case errors.As(err, &wrongType):
		if wrongType.Field == "" {
			return serializationf("The request body must be a JSON object, not %s", wrongType.Value)
		}
		return serializationf("%.64s must be a JSON %s, not %s", wrongType.Field, jsonKind(wrongType.Type), wrongType.Value)
	}
	// The rest come from cluster/item's readers of attribute values
	// (ItemJSON, ValueJSON): each is a value DynamoDB refuses, told in
	// its words.
	return validationf("%v", err)
}

// jsonKind names what JSON value decodes into a Go type.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	}
	return "object"
}

// legacyParams are the parameters DynamoDB kept from before expressions.
// HarmoniaKV refuses them rather than ignore them; each item request
// struct embeds this to see them.
type legacyParams struct {
	Expected            json.RawMessage
	AttributesToGet     json.RawMessage
	KeyConditions       json.RawMessage
	QueryFilter         json.RawMessage
	ScanFilter          json.RawMessage
	ConditionalOperator json.RawMessage
	AttributeUpdates    json.RawMessage
}

func (p *legacyParams) refuseLegacy() error {
	for _, l := range []struct {
		name string
		raw  json.RawMessage
		use  string
	}{
		{"Expected", p.Expected, "ConditionExpression"},
		{"AttributesToGet", p.AttributesToGet, "ProjectionExpression"},
		{"KeyConditions", p.KeyConditions, "KeyConditionExpression"},
		{"QueryFilter", p.QueryFilter, "FilterExpression"},
		{"ScanFilter", p.ScanFilter, "FilterExpression"},
		{"ConditionalOperator", p.ConditionalOperator, "AND and OR in ConditionExpression or FilterExpression"},
		{"AttributeUpdates", p.AttributeUpdates, "UpdateExpression"},
	} {
		if present(l.raw) {
			return validationf("HarmoniaKV does not support the legacy parameter %s: use %s", l.name, l.use)
		}
	}
	return nil
}

// present reports whether a member was given a value (JSON null is none).
func present(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

// expressions are the ExpressionAttributeNames and
// ExpressionAttributeValues an item request may carry.
type expressions struct {
	ExpressionAttributeNames  map[string]string
	ExpressionAttributeValues map[string]item.ValueJSON
}

// api converts them, keeping an absent map nil and an empty one empty so
// that the service can tell them apart.
func (e expressions) api() (tableapi.Expressions, error) {
	out := tableapi.Expressions{Names: e.ExpressionAttributeNames}
	if e.ExpressionAttributeValues != nil {
		out.Values = make(map[string]item.Value, len(e.ExpressionAttributeValues))
	}
	for name, v := range e.ExpressionAttributeValues {
		if v.Value == nil {
			return tableapi.Expressions{}, validationf("ExpressionAttributeValues has no value for %.64q", name)
		}
		out.Values[name] = v.Value
	}
	return out, nil
}

// required refuses a request without a member DynamoDB requires, in
// DynamoDB's words; member is spelled as DynamoDB's messages spell it.
func required(member string, missing bool) error {
	if missing {
		return validationf("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
	}
	return nil
}

// positive refuses a Limit of less than one, which DynamoDB refuses (and
// which tableapi would read as no limit).
func positive(member string, limit *int) error {
	if limit != nil && *limit < 1 {
		return validationf("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value greater than or equal to 1", *limit, member)
	}
	return nil
}
