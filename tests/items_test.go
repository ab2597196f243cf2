package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/cluster/item"
)

// queryPage is what `harmonia item query --json` prints.
type queryPage struct {
	Items            []json.RawMessage `json:"items"`
	Count            int               `json:"count"`
	ScannedCount     int               `json:"scanned_count"`
	LastEvaluatedKey json.RawMessage   `json:"last_evaluated_key"`
}

// oneLine fails the test unless s is one line holding want.
func oneLine(t *testing.T, what, s, want string) {
	t.Helper()
	if strings.Count(strings.TrimSuffix(s, "\n"), "\n") != 0 || !strings.Contains(s, want) {
		t.Fatalf("%s: %q, want one line with %q", what, s, want)
	}
}

// decodeItem reads an item the CLI printed in DynamoDB JSON.
func decodeItem(t *testing.T, b []byte) item.Item {
	t.Helper()
	it, err := item.DecodeJSONItem(b)
	if err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return it
}

// Items end to end through the Table service's item calls: a table of
// items created with the CLI, its items written and read through
// different nodes, the exit codes of a failed condition, bad JSON, a
// missing item and a missing table, a query paged with --limit and the
// --start that the page before printed with --json, and an item written
// by the CLI read back identical through the Go client.
func TestItemsThroughCLI(t *testing.T) {
	c := startCluster(t, 3)
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	on := func(nd *node) string { return "--addr=" + nd.clientAddr }

	mustCLI(t, 0, "table", "create", "orders", "--partition-key", "customer:S", "--sort-key", "seq:N", on(n1))

	t.Run("describe shows the key schema; a table of items is strong", func(t *testing.T) {
		out, _ := mustCLI(t, 0, "table", "describe", "orders", "--json", on(n2))
		var d struct {
			Table struct {
				Consistency           string
				PartitionKey, SortKey struct{ Name, Type string }
			}
		}
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(d.Table); got != "{strong {customer S} {seq N}}" {
			t.Fatalf("describe: %s", got)
		}
		out, _ = mustCLI(t, 0, "table", "list", on(n3))
		if !strings.Contains(out, "key customer:S seq:N") {
			t.Fatalf("list: %s", out)
		}
	})

	const first = `{"amount":{"N":"10"},"customer":{"S":"c1"},"seq":{"N":"1"}}`
	const firstKey = `{"customer":{"S":"c1"},"seq":{"N":"1"}}`
	t.Run("an item put on one node is read on another", func(t *testing.T) {
		mustCLI(t, 0, "item", "put", "orders", first, "--condition", "attribute_not_exists(customer)", on(n1))
		out, _ := mustCLI(t, 0, "item", "get", "orders", firstKey, on(n2))
		if out != first+"\n" {
			t.Fatalf("get on n2: %q", out)
		}
	})

	t.Run("a failed condition exits 4 with one line and writes nothing", func(t *testing.T) {
		again := `{"amount":{"N":"99"},"customer":{"S":"c1"},"seq":{"N":"1"}}`
		_, errOut := mustCLI(t, exitCodeConditionFailed, "item", "put", "orders", again, "--condition", "attribute_not_exists(customer)", on(n3))
		oneLine(t, "put's failed condition", errOut, "conditional request failed")
		_, errOut = mustCLI(t, exitCodeConditionFailed, "item", "update", "orders", firstKey, "--update", "SET amount = :big",
			"--condition", "amount > :big", "--values", `{":big":{"N":"50"}}`, on(n2))
		oneLine(t, "update's failed condition", errOut, "conditional request failed")
		_, errOut = mustCLI(t, exitCodeConditionFailed, "item", "delete", "orders", firstKey, "--condition", "attribute_not_exists(amount)", on(n1))
		oneLine(t, "delete's failed condition", errOut, "conditional request failed")
		out, _ := mustCLI(t, 0, "item", "get", "orders", firstKey, on(n3))
		if out != first+"\n" {
			t.Fatalf("after failed conditions: %q", out)
		}
	})

	t.Run("update returns what --return asks for, in DynamoDB JSON", func(t *testing.T) {
		out, _ := mustCLI(t, 0, "item", "update", "orders", firstKey, "--update", "SET amount = amount + :d, #n = :note",
			"--names", `{"#n":"note"}`, "--values", `{":d":{"N":"5"},":note":{"S":"rush"}}`, "--return", "UPDATED_NEW", "--json", on(n2))
		var res struct{ Attributes json.RawMessage }
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		if got, _ := item.EncodeJSONItem(decodeItem(t, res.Attributes)); string(got) != `{"amount":{"N":"15"},"note":{"S":"rush"}}` {
			t.Fatalf("UPDATED_NEW: %s", out)
		}
		out, _ = mustCLI(t, 0, "item", "get", "orders", firstKey, "--projection", "amount", on(n1))
		if out != `{"amount":{"N":"15"}}`+"\n" {
			t.Fatalf("projected get: %q", out)
		}
	})

	t.Run("bad input is a usage error in one line; a missing item exits 3, a missing table 1", func(t *testing.T) {
		for _, args := range [][]string{
			{"item", "put", "orders", `{"customer": "c1"}`},
			{"item", "get", "orders", `{"customer":`},
			{"item", "update", "orders", firstKey, "--update", "SET a = :v", "--values", `{":v": 1}`},
			{"item", "query", "orders", "--key-condition", "customer = :c", "--start", "nope"},
		} {
			_, errOut := mustCLI(t, exitCodeUsage, append(args, on(n1))...)
			oneLine(t, strings.Join(args, " "), errOut, "DynamoDB JSON")
		}
		mustCLI(t, exitCodeNotFound, "item", "get", "orders", `{"customer":{"S":"nobody"},"seq":{"N":"1"}}`, on(n2))
		_, errOut := mustCLI(t, exitCodeError, "item", "put", "nosuchtable", first, on(n3))
		oneLine(t, "put to a missing table", errOut, "NotFound")
		_, errOut = mustCLI(t, exitCodeError, "item", "query", "nosuchtable", "--key-condition", "customer = :c", "--values", `{":c":{"S":"c1"}}`, on(n1))
		oneLine(t, "query of a missing table", errOut, "NotFound")
		_, errOut = mustCLI(t, exitCodeError, "item", "put", "orders", `{"customer":{"S":"c1"}}`, on(n2))
		oneLine(t, "an item without its sort key", errOut, "InvalidArgument")
	})

	t.Run("table ttl expires items at once; describe shows it; a second enable is refused; --disable turns it off", func(t *testing.T) {
		gone := `{"customer":{"S":"c9"},"seq":{"N":"1"},"expires":{"N":"1000"}}`
		goneKey := `{"customer":{"S":"c9"},"seq":{"N":"1"}}`
		mustCLI(t, 0, "item", "put", "orders", gone, on(n1))
		out, _ := mustCLI(t, 0, "table", "ttl", "orders", "expires", "--json", on(n2))
		var res struct {
			Enabled   bool
			Attribute string
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil || !res.Enabled || res.Attribute != "expires" {
			t.Fatalf("ttl --json: %q (%v)", out, err)
		}
		// The other nodes learn the catalog's change through gossip.
		c.eventually(10*time.Second, "the item expired on n3", func() error {
			if _, _, code := cli(t, "item", "get", "orders", goneKey, on(n3)); code != exitCodeNotFound {
				return fmt.Errorf("get exits %d", code)
			}
			return nil
		})
		c.eventually(10*time.Second, "describe on n1 shows the ttl", func() error {
			if out, _, _ := cli(t, "table", "describe", "orders", on(n1)); !strings.Contains(out, "ttl expires") {
				return fmt.Errorf("describe: %s", out)
			}
			return nil
		})
		_, errOut := mustCLI(t, exitCodeError, "table", "ttl", "orders", "other", on(n3))
		oneLine(t, "a second enable", errOut, "InvalidArgument")
		out, _ = mustCLI(t, 0, "table", "ttl", "orders", "expires", "--disable", on(n2))
		if !strings.Contains(out, "disabled on expires") {
			t.Fatalf("ttl --disable: %s", out)
		}
		c.eventually(10*time.Second, "describe on n2 shows no ttl", func() error {
			if out, _, _ := cli(t, "table", "describe", "orders", on(n2)); strings.Contains(out, "ttl") {
				return fmt.Errorf("describe after --disable: %s", out)
			}
			return nil
		})
		// Without the TTL, an item whose attribute is in the past is an
		// item like any other.
		old := `{"customer":{"S":"c9"},"expires":{"N":"1000"},"seq":{"N":"2"}}`
		mustCLI(t, 0, "item", "put", "orders", old, on(n2))
		if out, _ = mustCLI(t, 0, "item", "get", "orders", `{"customer":{"S":"c9"},"seq":{"N":"2"}}`, on(n2)); out != old+"\n" {
			t.Fatalf("get after --disable: %q", out)
		}
	})

	t.Run("a query pages with --limit and the --start its --json printed", func(t *testing.T) {
		nodes := []*node{n1, n2, n3}
		const items = 7
		for i := 1; i <= items; i++ {
			it := fmt.Sprintf(`{"customer":{"S":"c2"},"seq":{"N":"%d"},"odd":{"BOOL":%v}}`, i, i%2 == 1)
			mustCLI(t, 0, "item", "put", "orders", it, on(nodes[i%3]))
		}
		query := []string{"item", "query", "orders", "--key-condition", "customer = :c AND seq > :s",
			"--values", `{":c":{"S":"c2"},":s":{"N":"0"}}`, "--limit", "3", "--json"}
		var seqs []string
		start := ""
		for page := 0; ; page++ {
			if page > items {
				t.Fatalf("no last page after %d pages: %v", page, seqs)
			}
			args := append([]string{}, query...)
			if start != "" {
				args = append(args, "--start", start)
			}
			out, _ := mustCLI(t, 0, append(args, on(nodes[page%3]))...)
			var p queryPage
			if err := json.Unmarshal([]byte(out), &p); err != nil {
				t.Fatalf("page %d: %v in %s", page, err, out)
			}
			if len(p.Items) > 3 || p.Count != len(p.Items) {
				t.Fatalf("page %d of limit 3: %s", page, out)
			}
			for _, raw := range p.Items {
				seqs = append(seqs, decodeItem(t, raw)["seq"].(item.Number).String())
			}
			if len(p.LastEvaluatedKey) == 0 {
				break
			}
			start = string(p.LastEvaluatedKey)
		}
		if got := strings.Join(seqs, ","); got != "1,2,3,4,5,6,7" {
			t.Fatalf("pages read %s", got)
		}

		out, _ := mustCLI(t, 0, "item", "query", "orders", "--key-condition", "customer = :c", "--filter", "odd = :t",
			"--values", `{":c":{"S":"c2"},":t":{"BOOL":true}}`, "--backward", "--count", "--json", on(n2))
		var p queryPage
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatal(err)
		}
		if p.Count != 4 || p.ScannedCount != items || len(p.Items) != 0 {
			t.Fatalf("filtered count: %s", out)
		}
	})

	t.Run("--limit counts items: deleted ones take no place in a page", func(t *testing.T) {
		for i := 1; i <= 6; i++ {
			mustCLI(t, 0, "item", "put", "orders", fmt.Sprintf(`{"customer":{"S":"c5"},"seq":{"N":"%d"}}`, i), on(n1))
		}
		for _, i := range []int{1, 2, 4} {
			mustCLI(t, 0, "item", "delete", "orders", fmt.Sprintf(`{"customer":{"S":"c5"},"seq":{"N":"%d"}}`, i), on(n2))
		}
		out, _ := mustCLI(t, 0, "item", "query", "orders", "--key-condition", "customer = :c", "--values", `{":c":{"S":"c5"}}`,
			"--limit", "2", "--json", on(n3))
		var p queryPage
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatal(err)
		}
		var seqs []string
		for _, raw := range p.Items {
			seqs = append(seqs, decodeItem(t, raw)["seq"].(item.Number).String())
		}
		if got := strings.Join(seqs, ","); got != "3,5" || len(p.LastEvaluatedKey) == 0 {
			t.Fatalf("first page of limit 2 over items 3, 5 and 6 (1, 2 and 4 deleted): %s", out)
		}
	})

	t.Run("an item written through the CLI reads back identical through the Go client", func(t *testing.T) {
		const written = `{"b":{"B":"AP8="},"bs":{"BS":["AA==","AQ=="]},"customer":{"S":"c3 \"quoted\""},"l":{"L":[{"NULL":true},{"BOOL":false},{"N":"-0.5"}]},` +
			`"m":{"M":{"x":{"SS":["a","b"]}}},"ns":{"NS":["1","2.5"]},"seq":{"N":"12345678901234567890"}}`
		mustCLI(t, 0, "item", "put", "orders", written, on(n1))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		key := item.Item{"customer": item.S(`c3 "quoted"`), "seq": item.MustNumber("12345678901234567890")}
		got, err := n3.client.GetItem(ctx, "orders", key, client.ItemOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := item.EncodeJSONItem(got)
		if err != nil || string(b) != written {
			t.Fatalf("read through the Go client:\n%s, %v\nwant\n%s", b, err, written)
		}

		// And the other way: the client's write, the CLI's read.
		if _, err := n2.client.PutItem(ctx, "orders", item.Item{"customer": item.S("c4"), "seq": item.MustNumber("1"), "ok": item.Bool(true)},
			client.ItemOptions{Condition: "attribute_not_exists(customer)"}); err != nil {
			t.Fatal(err)
		}
		_, err = n1.client.PutItem(ctx, "orders", item.Item{"customer": item.S("c4"), "seq": item.MustNumber("1")},
			client.ItemOptions{Condition: "attribute_not_exists(customer)"})
		if !client.ItemConditionFailed(err) {
			t.Fatalf("second conditional put: %v", err)
		}
		out, _ := mustCLI(t, 0, "item", "get", "orders", `{"customer":{"S":"c4"},"seq":{"N":"1"}}`, on(n1))
		if out != `{"customer":{"S":"c4"},"ok":{"BOOL":true},"seq":{"N":"1"}}`+"\n" {
			t.Fatalf("CLI read of the client's write: %q", out)
		}
	})

	t.Run("delete returns the old item; then get exits 3", func(t *testing.T) {
		out, _ := mustCLI(t, 0, "item", "delete", "orders", firstKey, "--return", "ALL_OLD", "--json", on(n3))
		var res struct{ Attributes json.RawMessage }
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		if got := decodeItem(t, res.Attributes); got["amount"] != item.MustNumber("15") {
			t.Fatalf("ALL_OLD: %s", out)
		}
		mustCLI(t, exitCodeNotFound, "item", "get", "orders", firstKey, on(n1))
	})

	t.Run("an eventual table of items: describe says lww; put, update and get through different nodes; a condition is refused in one line", func(t *testing.T) {
		mustCLI(t, 0, "table", "create", "feed", "--consistency", "eventual", "--partition-key", "user:S", on(n1))
		out, _ := mustCLI(t, 0, "table", "describe", "feed", "--json", on(n2))
		var d struct {
			Table struct{ Consistency, Conflict string }
		}
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatal(err)
		}
		if d.Table.Consistency != "eventual" || d.Table.Conflict != "lww" {
			t.Fatalf("describe: %s", out)
		}
		_, errOut := mustCLI(t, exitCodeError, "table", "create", "feed2", "--consistency", "eventual", "--conflict", "siblings", "--partition-key", "user:S", on(n1))
		oneLine(t, "a table of items with siblings", errOut, "not offered for items")
		ann := `{"user":{"S":"ann"}}`
		mustCLI(t, 0, "item", "put", "feed", `{"user":{"S":"ann"},"n":{"N":"1"}}`, on(n2))
		mustCLI(t, 0, "item", "update", "feed", ann, "--update", "ADD n :d", "--values", `{":d":{"N":"2"}}`, on(n3))
		out, _ = mustCLI(t, 0, "item", "get", "feed", ann, "--consistent", on(n1))
		if out != `{"n":{"N":"3"},"user":{"S":"ann"}}`+"\n" {
			t.Fatalf("get after put and update: %q", out)
		}
		_, errOut = mustCLI(t, exitCodeError, "item", "put", "feed", ann, "--condition", "attribute_not_exists(n)", on(n1))
		oneLine(t, "a condition on an eventual table", errOut, "eventual")
	})

	t.Run("a table of CRDT items: --conflict crdt alone makes it eventual; ADDs through two nodes count; a decimal ADD is refused in one line", func(t *testing.T) {
		mustCLI(t, 0, "table", "create", "carts", "--conflict", "crdt", "--partition-key", "user:S", on(n1))
		out, _ := mustCLI(t, 0, "table", "describe", "carts", "--json", on(n3))
		var d struct {
			Table struct{ Consistency, Conflict string }
		}
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatal(err)
		}
		if d.Table.Consistency != "eventual" || d.Table.Conflict != "crdt" {
			t.Fatalf("describe: %s", out)
		}
		ann := `{"user":{"S":"ann"}}`
		mustCLI(t, 0, "item", "put", "carts", `{"user":{"S":"ann"},"basket":{"SS":["tea"]}}`, on(n2))
		mustCLI(t, 0, "item", "update", "carts", ann, "--update", "ADD n :d, basket :i", "--values", `{":d":{"N":"2"},":i":{"SS":["milk"]}}`, on(n3))
		mustCLI(t, 0, "item", "update", "carts", ann, "--update", "ADD n :d", "--values", `{":d":{"N":"3"}}`, on(n1))
		out, _ = mustCLI(t, 0, "item", "get", "carts", ann, "--consistent", on(n2))
		if out != `{"basket":{"SS":["milk","tea"]},"n":{"N":"5"},"user":{"S":"ann"}}`+"\n" {
			t.Fatalf("get after a put and two updates: %q", out)
		}
		_, errOut := mustCLI(t, exitCodeError, "item", "update", "carts", ann, "--update", "ADD n :d", "--values", `{":d":{"N":"0.5"}}`, on(n1))
		oneLine(t, "a decimal ADD on a crdt table", errOut, "integer")
	})
}
