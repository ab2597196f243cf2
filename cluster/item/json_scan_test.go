package item

import (
	"reflect"
	"strings"
	"testing"
)

// scannerCases are inputs each with whether the fast scanner decodes it
// (true) or leaves it to the token decoder (false); the decoded values
// are checked against the token decoder's.
var scannerCases = []struct {
	rule string
	in   string
	item bool // an item rather than one value
	fast bool
}{
	{"a string", `{"S":"x"}`, false, true},
	{"a string with UTF-8", `{"S":"héllo"}`, false, true},
	{"a string with an escape is unquoted by encoding/json", `{"S":"a\"b\u00e9"}`, false, true},
	{"a string with bytes that are not UTF-8 is unquoted by encoding/json", "{\"S\":\"a\xffb\"}", false, true},
	{"a number", `{"N":"-1.50e3"}`, false, true},
	{"a binary", `{"B":"AAEC"}`, false, true},
	{"a binary with an escape", `{"B":"AA\u0045C"}`, false, true},
	{"an empty binary", `{"B":""}`, false, true},
	{"BOOL", `{"BOOL":false}`, false, true},
	{"NULL", `{"NULL":true}`, false, true},
	{"whitespace between tokens", " {\t\"L\" :\n[ {\"S\":\"a\"} ,{\"N\":\"1\"}, {\"L\":[ ]} ] }\r\n", false, true},
	{"a map", `{"M":{"a":{"BOOL":true},"b":{"M":{}}}}`, false, true},
	{"sets are sorted", `{"L":[{"SS":["b","a"]},{"NS":["10","9.5"]},{"BS":["Ag==","AQ=="]}]}`, false, true},
	{"a value 32 levels deep", strings.Repeat(`{"L":[`, MaxDepth-1) + `{"NULL":true}` + strings.Repeat(`]}`, MaxDepth-1), false, true},
	{"an item", `{"id":{"S":"item-000001"},"v":{"B":"AAAA"}}`, true, true},
	{"an empty item", `{}`, true, true},
	{"an item's name with an escape", `{"a\nb":{"NULL":true}}`, true, true},

	{"an empty AttributeValue is left to the tokens", `{}`, false, false},
	{"two type keys are left to the tokens", `{"S":"a","N":"1"}`, false, false},
	{"an unknown type key is left to the tokens", `{"X":"a"}`, false, false},
	{"a JSON number is left to the tokens", `{"N":1}`, false, false},
	{"a number that is not one is left to the tokens", `{"N":"1x"}`, false, false},
	{"NULL false is left to the tokens", `{"NULL":false}`, false, false},
	{"a literal with trailing letters is left to the tokens", `{"BOOL":truex}`, false, false},
	{"JSON null is left to the tokens", `{"S":null}`, false, false},
	{"invalid base64 is left to the tokens", `{"B":"!!"}`, false, false},
	{"an empty set nested in a list is left to the tokens", `{"L":[{"SS":[]}]}`, false, false},
	{"a set with duplicates is left to the tokens", `{"NS":["1","1.0"]}`, false, false},
	{"a duplicate name is left to the tokens", `{"M":{"a":{"NULL":true},"a":{"NULL":true}}}`, false, false},
	{"an empty name is left to the tokens", `{"":{"NULL":true}}`, true, false},
	{"a value 33 levels deep is left to the tokens", strings.Repeat(`{"L":[`, MaxDepth) + `{"NULL":true}` + strings.Repeat(`]}`, MaxDepth), false, false},
	{"a control character in a string is left to the tokens", "{\"S\":\"a\x01\"}", false, false},
	{"an invalid escape is left to the tokens", `{"S":"\x"}`, false, false},
	{"a trailing comma is left to the tokens", `{"L":[{"NULL":true},]}`, false, false},
	{"a missing colon is left to the tokens", `{"S" "a"}`, false, false},
	{"data after the value is left to the tokens", `{"S":"a"} x`, false, false},
	{"truncated JSON is left to the tokens", `{"S":"a`, false, false},
	{"a backslash at the end is left to the tokens", `{"S":"\`, false, false},
}

func TestJSONScanner(t *testing.T) {
	for _, tt := range scannerCases {
		t.Run(tt.rule, func(t *testing.T) {
			fast := checkScannerAgrees(t, []byte(tt.in), tt.item)
			if fast != tt.fast {
				t.Fatalf("the scanner decoded %q: %v; want %v", tt.in, fast, tt.fast)
			}
		})
	}
}

// checkScannerAgrees decodes data as a value or an item with the scanner
// and with the token decoder and fails unless the scanner's answer, when
// it gives one, is the token decoder's, and the public decoder's answer
// (value and error) is always the token decoder's. It reports whether the
// scanner decoded data.
func checkScannerAgrees(t *testing.T, data []byte, asItem bool) bool {
	t.Helper()
	var fast, tokens, public any
	var ok bool
	var tokenErr, publicErr error
	if asItem {
		sc := NewJSONScanner(data)
		if it, ok := sc.Item(); ok {
			n := sc.s.pos
			if tokens, err := decodeJSONItemTokens(data[:n]); err != nil || !reflect.DeepEqual(it, tokens) {
				t.Fatalf("%q: JSONScanner.Item read %q as %#v; the token decoder %#v, %v", data, data[:n], it, tokens, err)
			}
		}
		fast, ok = scanJSONItem(data)
		tokens, tokenErr = decodeJSONItemTokens(data)
		public, publicErr = DecodeJSONItem(data)
	} else {
		fast, ok = scanJSON(data)
		tokens, tokenErr = decodeJSONTokens(data)
		public, publicErr = DecodeJSON(data)
	}
	if ok && (tokenErr != nil || !reflect.DeepEqual(fast, tokens)) {
		t.Fatalf("%q: the scanner decoded %#v; the token decoder %#v, %v", data, fast, tokens, tokenErr)
	}
	if (publicErr == nil) != (tokenErr == nil) || (tokenErr != nil && publicErr.Error() != tokenErr.Error()) ||
		!reflect.DeepEqual(public, tokens) {
		t.Fatalf("%q: decoded to %#v, %v; the token decoder %#v, %v", data, public, publicErr, tokens, tokenErr)
	}
	return ok
}

// FuzzJSONScanner checks that the fast scanner and the token decoder
// agree on every input: whatever the scanner decodes, the token decoder
// decodes to the same value, and DecodeJSON and DecodeJSONItem answer as
// the token decoder does, errors included.
func FuzzJSONScanner(f *testing.F) {
	for _, tt := range scannerCases {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkScannerAgrees(t, data, false)
		checkScannerAgrees(t, data, true)
	})
}
