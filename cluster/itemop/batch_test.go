package itemop

import (
	"fmt"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
)

var users = catalog.Table{Name: "users", ID: 4, Consistency: catalog.Strong,
	Schema: item.KeySchema{Partition: item.KeyAttribute{Name: "id", Type: item.TypeS}}}

// tables finds orders and users.
func tables(name string) (catalog.Table, error) {
	for _, t := range []catalog.Table{orders, users} {
		if t.Name == name {
			return t, nil
		}
	}
	return catalog.Table{}, tableapi.Errorf(tableapi.KindTableNotFound, "Requested resource not found: %s", name)
}

// keys are n keys of orders.
func keys(n int) []item.Item {
	var out []item.Item
	for i := range n {
		out = append(out, key("ann", fmt.Sprint(i)))
	}
	return out
}

func TestPlanBatchGetRefusesWhatDynamoDBRefuses(t *testing.T) {
	cases := []struct {
		rule string
		req  map[string]tableapi.KeysAndAttributes
		want tableapi.Kind
	}{
		{"no tables", nil, tableapi.KindValidation},
		{"a table without keys", map[string]tableapi.KeysAndAttributes{"orders": {}}, tableapi.KindValidation},
		{"more than 100 keys", map[string]tableapi.KeysAndAttributes{"orders": {Keys: keys(tableapi.MaxBatchGetKeys + 1)}}, tableapi.KindValidation},
		{"more than 100 keys over two tables", map[string]tableapi.KeysAndAttributes{"orders": {Keys: keys(tableapi.MaxBatchGetKeys)}, "users": {Keys: []item.Item{{"id": item.S("u")}}}}, tableapi.KindValidation},
		{"one key twice", map[string]tableapi.KeysAndAttributes{"orders": {Keys: []item.Item{key("ann", "1"), key("ann", "1")}}}, tableapi.KindValidation},
		{"a key of the wrong schema", map[string]tableapi.KeysAndAttributes{"users": {Keys: []item.Item{key("ann", "1")}}}, tableapi.KindValidation},
		{"an unused substitution", map[string]tableapi.KeysAndAttributes{"orders": {Keys: keys(1), Expressions: tableapi.Expressions{Names: map[string]string{"#a": "a"}}}}, tableapi.KindValidation},
		{"a table that does not exist", map[string]tableapi.KeysAndAttributes{"nope": {Keys: keys(1)}}, tableapi.KindTableNotFound},
	}
	for _, c := range cases {
		if _, err := PlanBatchGet(tableapi.BatchGetItem{Tables: c.req}, tables, now); tableapi.KindOf(tableapi.Classify(err)) != c.want {
			t.Errorf("%s: %v, want kind %v", c.rule, err, c.want)
		}
	}
	b, err := PlanBatchGet(tableapi.BatchGetItem{Tables: map[string]tableapi.KeysAndAttributes{
		"orders": {Keys: keys(tableapi.MaxBatchGetKeys - 1)}, "users": {Keys: []item.Item{{"id": item.S("ann")}}},
	}}, tables, now)
	if err != nil || len(b.Reads) != tableapi.MaxBatchGetKeys {
		t.Fatalf("100 keys over two tables (one partition key value in both): %v", err)
	}
}

// A read that failed for a reason worth retrying returns its key
// unprocessed, with its table's projection; any other failure fails the
// batch; items that do not exist are simply absent.
func TestBatchGetResultReturnsRetriableKeysUnprocessed(t *testing.T) {
	req := tableapi.BatchGetItem{Tables: map[string]tableapi.KeysAndAttributes{
		"orders": {Keys: keys(3), Projection: "n", Consistent: true},
		"users":  {Keys: []item.Item{{"id": item.S("u")}}},
	}}
	b, err := PlanBatchGet(req, tables, now)
	if err != nil {
		t.Fatal(err)
	}
	unavailable := tableapi.Errorf(tableapi.KindUnavailable, "too few replicas")
	contention := tableapi.Errorf(tableapi.KindContention, "contention")
	items := make([]item.Item, len(b.Reads))
	errs := make([]error, len(b.Reads))
	for i, r := range b.Reads {
		switch {
		case r.Table == "users":
		case item.EqualItems(r.Key, key("ann", "0")):
			items[i] = key("ann", "0")
		case item.EqualItems(r.Key, key("ann", "1")):
			errs[i] = unavailable
		default:
			errs[i] = contention
		}
	}
	out, err := b.Result(items, errs)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Responses["orders"]) != 1 || out.Responses["users"] == nil || len(out.Responses["users"]) != 0 {
		t.Errorf("responses %v, want one order and no user", out.Responses)
	}
	un := out.Unprocessed["orders"]
	if len(out.Unprocessed) != 1 || len(un.Keys) != 2 || un.Projection != "n" || !un.Consistent {
		t.Errorf("unprocessed %+v, want two orders keys with their projection", out.Unprocessed)
	}
	errs[0] = tableapi.Errorf(tableapi.KindInternal, "a disk failed")
	if _, err := b.Result(items, errs); tableapi.KindOf(err) != tableapi.KindInternal {
		t.Errorf("a failed disk: %v, want the batch to fail", err)
	}
}

func TestPlanBatchWriteRefusesWhatDynamoDBRefuses(t *testing.T) {
	puts := func(n int) []tableapi.WriteRequest {
		var out []tableapi.WriteRequest
		for _, k := range keys(n) {
			out = append(out, tableapi.WriteRequest{Put: k})
		}
		return out
	}
	cases := []struct {
		rule string
		req  map[string][]tableapi.WriteRequest
		want tableapi.Kind
	}{
		{"no tables", nil, tableapi.KindValidation},
		{"a table without writes", map[string][]tableapi.WriteRequest{"orders": {}}, tableapi.KindValidation},
		{"more than 25 writes", map[string][]tableapi.WriteRequest{"orders": puts(tableapi.MaxBatchWrites + 1)}, tableapi.KindValidation},
		{"more than 25 writes over two tables", map[string][]tableapi.WriteRequest{"orders": puts(tableapi.MaxBatchWrites), "users": {{Delete: item.Item{"id": item.S("u")}}}}, tableapi.KindValidation},
		{"a put and a delete of one item", map[string][]tableapi.WriteRequest{"orders": {{Put: key("ann", "1")}, {Delete: key("ann", "1")}}}, tableapi.KindValidation},
		{"one item put twice", map[string][]tableapi.WriteRequest{"orders": {{Put: with(key("ann", "1"), "a", item.S("x"))}, {Put: key("ann", "1")}}}, tableapi.KindValidation},
		{"a request of neither put nor delete", map[string][]tableapi.WriteRequest{"orders": {{}}}, tableapi.KindValidation},
		{"a request of both put and delete", map[string][]tableapi.WriteRequest{"orders": {{Put: key("ann", "1"), Delete: key("ann", "2")}}}, tableapi.KindValidation},
		{"a put without its sort key", map[string][]tableapi.WriteRequest{"orders": {{Put: item.Item{"cust": item.S("ann")}}}}, tableapi.KindValidation},
		{"a delete with more than the key", map[string][]tableapi.WriteRequest{"orders": {{Delete: with(key("ann", "1"), "a", item.S("x"))}}}, tableapi.KindValidation},
		{"a table that does not exist", map[string][]tableapi.WriteRequest{"nope": puts(1)}, tableapi.KindTableNotFound},
	}
	for _, c := range cases {
		if _, err := PlanBatchWrite(tableapi.BatchWriteItem{Tables: c.req}, tables, now); tableapi.KindOf(tableapi.Classify(err)) != c.want {
			t.Errorf("%s: %v, want kind %v", c.rule, err, c.want)
		}
	}
	b, err := PlanBatchWrite(tableapi.BatchWriteItem{Tables: map[string][]tableapi.WriteRequest{"orders": puts(tableapi.MaxBatchWrites)}}, tables, now)
	if err != nil || len(b.Writes) != tableapi.MaxBatchWrites {
		t.Fatalf("25 puts: %v", err)
	}
}

func TestBatchWriteResultReturnsRetriableWritesUnprocessed(t *testing.T) {
	del := tableapi.WriteRequest{Delete: item.Item{"id": item.S("u")}}
	b, err := PlanBatchWrite(tableapi.BatchWriteItem{Tables: map[string][]tableapi.WriteRequest{
		"orders": {{Put: key("ann", "1")}, {Put: key("ann", "2")}}, "users": {del},
	}}, tables, now)
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, len(b.Writes))
	for i, w := range b.Writes {
		if w.Table == "users" {
			errs[i] = tableapi.Errorf(tableapi.KindUnavailable, "too few replicas")
		}
	}
	out, err := b.Result(errs)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Unprocessed) != 1 || len(out.Unprocessed["users"]) != 1 || !item.EqualItems(out.Unprocessed["users"][0].Delete, del.Delete) {
		t.Errorf("unprocessed %+v, want the users delete", out.Unprocessed)
	}
	errs[0] = tableapi.Errorf(tableapi.KindValidation, "the item is too large")
	if _, err := b.Result(errs); tableapi.KindOf(err) != tableapi.KindValidation {
		t.Errorf("an item that cannot be written: %v, want the batch to fail", err)
	}
}
