package dynamodb

import (
	"encoding/json"
	"reflect"
	"testing"
)

// requestScannerCases are GetItem and PutItem bodies, each with whether
// the scanner reads it (true) or leaves it to encoding/json (false); what
// it reads is checked against encoding/json's decoding.
var requestScannerCases = []struct {
	rule string
	body string
	fast bool
}{
	{"the SDK's GetItem", `{"Key":{"id":{"S":"item-000001"}},"TableName":"bench"}`, true},
	{"the SDK's PutItem", `{"Item":{"id":{"S":"item-000001"},"v":{"B":"AAAA"}},"TableName":"bench"}`, true},
	{"every GetItem member the scanner knows", `{"TableName":"t","Key":{"a":{"N":"1"}},"ProjectionExpression":"a, b","ConsistentRead":true}`, true},
	{"every PutItem member the scanner knows", `{"TableName":"t","Item":{"a":{"N":"1"}},"ConditionExpression":"attribute_not_exists(a)","ReturnValues":"ALL_OLD"}`, true},
	{"whitespace between tokens", " {\n\t\"TableName\" : \"t\" ,\r\"ConsistentRead\":false } ", true},
	{"an empty object", `{}`, true},
	{"a string with an escape is unquoted by encoding/json", `{"TableName":"a\u0062\"c"}`, true},
	{"a string with bytes that are not UTF-8 is unquoted by encoding/json", "{\"TableName\":\"a\xffb\"}", true},

	{"a member it does not know is left to encoding/json", `{"TableName":"t","ReturnConsumedCapacity":"NONE"}`, false},
	{"a member in another case is left to encoding/json", `{"tablename":"t"}`, false},
	{"a member name with an escape is left to encoding/json", `{"Table\u004eame":"t"}`, false},
	{"a repeated member is left to encoding/json", `{"TableName":"a","TableName":"b"}`, false},
	{"a legacy parameter is left to encoding/json", `{"TableName":"t","Expected":{}}`, false},
	{"expression substitutions are left to encoding/json", `{"TableName":"t","ExpressionAttributeNames":{"#a":"a"}}`, false},
	{"JSON null is left to encoding/json", `{"TableName":null}`, false},
	{"a value of another type is left to encoding/json", `{"ConsistentRead":"true"}`, false},
	{"an item the item scanner gives up on is left to encoding/json", `{"Key":{"id":{"X":"a"}}}`, false},
	{"a body that is not an object is left to encoding/json", `[]`, false},
	{"data after the object is left to encoding/json", `{} {}`, false},
	{"a trailing comma is left to encoding/json", `{"TableName":"t",}`, false},
	{"truncated JSON is left to encoding/json", `{"TableName":"t"`, false},
	{"an invalid escape is left to encoding/json", `{"TableName":"\x"}`, false},
	{"a control character in a string is left to encoding/json", "{\"TableName\":\"a\x01\"}", false},
}

func TestRequestScanner(t *testing.T) {
	for _, tt := range requestScannerCases {
		t.Run(tt.rule, func(t *testing.T) {
			get := checkRequestScannerAgrees(t, []byte(tt.body), &getItemInput{}, &getItemInput{})
			put := checkRequestScannerAgrees(t, []byte(tt.body), &putItemInput{}, &putItemInput{})
			if get != tt.fast && put != tt.fast {
				t.Fatalf("scanned as GetItem %v, as PutItem %v; want %v", get, put, tt.fast)
			}
		})
	}
}

// checkRequestScannerAgrees decodes body into fast by decode (the
// scanner first) and into slow by encoding/json and the legacy check
// alone, and fails unless the two agree, on the request and on the
// error. It reports whether the scanner read body.
func checkRequestScannerAgrees[T any, P interface {
	*T
	memberScanner
}](t *testing.T, body []byte, fast, slow P) bool {
	t.Helper()
	var scanned T
	ok := scanRequest(body, P(&scanned))
	fastErr := decode(body, fast)
	slowErr := json.Unmarshal(body, slow)
	if slowErr != nil {
		slowErr = decodeError(slowErr)
	} else if l, isLegacy := any(slow).(interface{ refuseLegacy() error }); isLegacy {
		slowErr = l.refuseLegacy()
	}
	if ok && (slowErr != nil || !reflect.DeepEqual(&scanned, (*T)(slow))) {
		t.Fatalf("%q: scanned to %#v; encoding/json decodes %#v, %v", body, &scanned, slow, slowErr)
	}
	if (fastErr == nil) != (slowErr == nil) || (fastErr != nil && fastErr.Error() != slowErr.Error()) {
		t.Fatalf("%q: decode says %v; encoding/json %v", body, fastErr, slowErr)
	}
	if fastErr == nil && !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%q: decode gives %#v; encoding/json %#v", body, fast, slow)
	}
	return ok
}

// FuzzRequestScanner checks the request scanner against encoding/json on
// every body: what it reads, encoding/json decodes to the same request,
// and decode answers as encoding/json does, errors included.
func FuzzRequestScanner(f *testing.F) {
	for _, tt := range requestScannerCases {
		f.Add(tt.body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		checkRequestScannerAgrees(t, []byte(body), &getItemInput{}, &getItemInput{})
		checkRequestScannerAgrees(t, []byte(body), &putItemInput{}, &putItemInput{})
	})
}
