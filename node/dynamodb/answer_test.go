package dynamodb

import (
	"encoding/json"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/item"
)

// TestAnswersAppendAsEncodingJSONWrites checks each answer that appends
// its own JSON against encoding/json's bytes for it.
func TestAnswersAppendAsEncodingJSONWrites(t *testing.T) {
	full := item.ItemJSON{"id": item.S("item-000001"), "v": item.B(make([]byte, 100)),
		"html": item.S("<a>&</a>"), "n": item.MustNumber("-1.5"), "l": item.L{item.Null{}, item.Bool(true)}}
	for _, tt := range []struct {
		rule   string
		answer jsonAppender
	}{
		{"GetItem of nothing is an empty object", getItemOutput{}},
		{"GetItem of an empty item omits it", getItemOutput{Item: item.ItemJSON{}}},
		{"GetItem of an item", getItemOutput{Item: full}},
		{"a write without attributes is an empty object", writeOutput{}},
		{"a write with attributes", writeOutput{Attributes: full}},
	} {
		t.Run(tt.rule, func(t *testing.T) {
			want, err := json.Marshal(tt.answer)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := tt.answer.appendJSON([]byte("x"))
			if !ok || string(got) != "x"+string(want) {
				t.Fatalf("appendJSON = %s, %v; encoding/json writes %s", got, ok, want)
			}
		})
	}
	t.Run("an item that does not validate is left to encoding/json", func(t *testing.T) {
		if got, ok := (getItemOutput{Item: item.ItemJSON{"": item.S("x")}}).appendJSON(nil); ok {
			t.Fatalf("appendJSON = %s; want it left to encoding/json", got)
		}
	})
}
