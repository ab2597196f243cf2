package item

import (
	"encoding/base64"
	"encoding/json"
	"testing"
)

// TestAppendJSONString checks the string encoder against encoding/json,
// which wrote every string before it.
func TestAppendJSONString(t *testing.T) {
	for _, tt := range []struct {
		rule string
		in   string
	}{
		{"printable ASCII is written as it is", "item-000001 ~!#$%^*()_+={}[]|:;',.?/`"},
		{"DEL is written as it is", "a\x7fb"},
		{"the empty string", ""},
		{"a quote and a backslash are escaped", `a"b\c`},
		{"control characters are escaped", "a\n\t\x01"},
		{"HTML characters are escaped", "<a href='x'>&</a>"},
		{"UTF-8 is written as it is", "héllo, 世界"},
		{"U+2028 and U+2029 are escaped", "a\u2028b\u2029"},
		{"bytes that are not UTF-8 become U+FFFD", "a\xffb\xc0"},
	} {
		t.Run(tt.rule, func(t *testing.T) { checkAppendJSONString(t, tt.in) })
	}
}

func checkAppendJSONString(t *testing.T, s string) {
	t.Helper()
	want, _ := json.Marshal(s)
	prefix := "prefix"
	if got := appendJSONString([]byte(prefix), s); string(got) != prefix+string(want) {
		t.Fatalf("appendJSONString(%q) = %s; encoding/json writes %s", s, got[len(prefix):], want)
	}
}

// TestAppendJSONItem checks that an item appends as EncodeJSONItem
// encodes it, binaries as encoding/json writes their base64 strings.
func TestAppendJSONItem(t *testing.T) {
	it := Item{"id": S("item-1"), "v": B{0, 1, 0xfe, 0xff}, "s": BS{{1}, {2, 3}}, "m": M{"<": S("&")}}
	got, err := AppendJSONItem([]byte("x"), it)
	if err != nil {
		t.Fatal(err)
	}
	b64 := func(b []byte) string { s, _ := json.Marshal(base64.StdEncoding.EncodeToString(b)); return string(s) }
	want := `x{"id":{"S":"item-1"},"m":{"M":{"\u003c":{"S":"\u0026"}}},"s":{"BS":[` + b64([]byte{1}) + `,` + b64([]byte{2, 3}) +
		`]},"v":{"B":` + b64([]byte{0, 1, 0xfe, 0xff}) + `}}`
	if string(got) != want {
		t.Fatalf("AppendJSONItem = %s; want %s", got, want)
	}
	if _, err := AppendJSONItem(nil, Item{"": S("x")}); err == nil {
		t.Fatal("an item with an empty name appended")
	}
}

// FuzzAppendJSONString checks the string encoder against encoding/json
// on every string.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"a", `"\`, "<>&", "\u2028", "\xff", "é"} {
		f.Add(s)
	}
	f.Fuzz(checkAppendJSONString)
}
