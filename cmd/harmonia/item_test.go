package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/cluster/item"
)

func TestCreateTableRequest(t *testing.T) {
	for _, tc := range []struct {
		rule                      string
		consistency               string
		consistencySet            bool
		partitionKey, sortKey     string
		wantUsage                 bool
		wantConsistency, wantKeys string
	}{
		{"no key: a table of keys and values, eventual by default", "eventual", false, "", "", false, "eventual", ""},
		{"no key, strong asked", "strong", true, "", "", false, "strong", ""},
		{"a partition key: a table of items, the server's default consistency (strong)", "eventual", false, "id:S", "", false, "", "id:S"},
		{"a sort key too", "eventual", false, "pk:S", "sk:N", false, "", "pk:S sk:N"},
		{"an eventual table of items is asked for as such (the server refuses it)", "eventual", true, "id:S", "", false, "eventual", "id:S"},
		{"a name may hold colons: the last one splits", "eventual", false, "a:b:B", "", false, "", "a:b:B"},
		{"a key without a type is a usage error", "eventual", false, "id", "", true, "", ""},
		{"a key without a name is a usage error", "eventual", false, ":S", "", true, "", ""},
		{"a key with an empty type is a usage error", "eventual", false, "id:", "", true, "", ""},
		{"a sort key without a partition key is a usage error", "eventual", false, "", "sk:N", true, "", ""},
		{"an unknown consistency is a usage error", "linear", true, "", "", true, "", ""},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			req, err := createTableRequest("t1", tc.consistency, tc.consistencySet, "", tc.partitionKey, tc.sortKey, time.Second)
			if tc.wantUsage {
				if !isUsage(err) {
					t.Fatalf("got %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			keys := ""
			if p := req.PartitionKey; p != nil {
				keys = p.Name + ":" + p.Type
			}
			if s := req.SortKey; s != nil {
				keys += " " + s.Name + ":" + s.Type
			}
			if req.Consistency != tc.wantConsistency || keys != tc.wantKeys || req.TimeoutMs != 1000 {
				t.Fatalf("got consistency %q keys %q timeout %d", req.Consistency, keys, req.TimeoutMs)
			}
		})
	}
}

func TestItemArgumentsRefuseBadJSONAsUsage(t *testing.T) {
	for _, tc := range []struct {
		rule string
		run  func() error
	}{
		{"an item that is not JSON", func() error { _, err := parseItem("ITEM_JSON", `{"id": `); return err }},
		{"an item in plain JSON, not DynamoDB JSON", func() error { _, err := parseItem("ITEM_JSON", `{"id": "a1"}`); return err }},
		{"a number DynamoDB refuses", func() error { _, err := parseItem("KEY_JSON", `{"n": {"N": "1e999"}}`); return err }},
		{"names that are not strings", func() error {
			_, err := (&exprFlags{names: `{"#n": 1}`}).options(&requestFlags{})
			return err
		}},
		{"values in plain JSON", func() error {
			_, err := (&exprFlags{values: `{":v": 1}`}).options(&requestFlags{})
			return err
		}},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			if err := tc.run(); !isUsage(err) {
				t.Fatalf("got %v, want a usage error", err)
			}
		})
	}
	o, err := (&exprFlags{condition: "attribute_exists(#n)", names: `{"#n": "name"}`, values: `{":v": {"N": "1.50"}}`}).options(&requestFlags{timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if o.Names["#n"] != "name" || o.Values[":v"] != item.MustNumber("1.5") || o.Condition != "attribute_exists(#n)" || o.Timeout != time.Second {
		t.Fatalf("options: %+v", o)
	}
}

// What query --json prints is taken back: its last_evaluated_key by
// --start, its items by put, whatever their types.
func TestQueryJSONRoundTrips(t *testing.T) {
	items := []string{
		`{"pk":{"S":"p"},"sk":{"N":"-12.5"}}`,
		`{"b":{"B":"AP8="},"bs":{"BS":["AA==","AQ=="]},"l":{"L":[{"NULL":true},{"BOOL":false}]},"m":{"M":{"x":{"SS":["a","b"]}}},"ns":{"NS":["1","2"]},"pk":{"S":"p\"q"},"sk":{"N":"0"}}`,
	}
	page := &client.QueryPage{Count: 2, ScannedCount: 3}
	for _, s := range items {
		it, err := parseItem("ITEM_JSON", s)
		if err != nil {
			t.Fatal(err)
		}
		page.Items = append(page.Items, it)
	}
	page.LastEvaluatedKey = item.Item{"pk": item.S("p"), "sk": item.MustNumber("0")}

	b, err := json.Marshal(newQueryOutput(page))
	if err != nil {
		t.Fatal(err)
	}
	var printed struct {
		Items            []json.RawMessage `json:"items"`
		Count            int               `json:"count"`
		ScannedCount     int               `json:"scanned_count"`
		LastEvaluatedKey json.RawMessage   `json:"last_evaluated_key"`
	}
	if err := json.Unmarshal(b, &printed); err != nil {
		t.Fatal(err)
	}
	start, err := parseItem("--start", string(printed.LastEvaluatedKey))
	if err != nil || itemLine(start) != itemLine(page.LastEvaluatedKey) {
		t.Fatalf("--start took %s as %v, %v", printed.LastEvaluatedKey, start, err)
	}
	for i, raw := range printed.Items {
		it, err := parseItem("ITEM_JSON", string(raw))
		if err != nil || itemLine(it) != items[i] {
			t.Fatalf("item %d printed as %s, read back as %s, %v", i, raw, itemLine(it), err)
		}
	}
	if printed.Count != 2 || printed.ScannedCount != 3 {
		t.Fatalf("counts %d %d", printed.Count, printed.ScannedCount)
	}

	last, err := json.Marshal(newQueryOutput(&client.QueryPage{}))
	if err != nil || string(last) != `{"items":[],"count":0,"scanned_count":0}` {
		t.Fatalf("the last page prints %s, %v", last, err)
	}
}
