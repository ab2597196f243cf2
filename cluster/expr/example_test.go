package expr_test

import (
	"fmt"

	"github.com/harmoniakv/harmonia/cluster/expr"
	"github.com/harmoniakv/harmonia/cluster/item"
)

// An UpdateItem request: a condition and an update share one set of
// substitutions, checked for unused entries after both are parsed; the
// condition is evaluated on the stored item, then the update applied.
func Example() {
	values := map[string]item.Value{
		":one":    item.MustNumber("1"),
		":closed": item.S("closed"),
		":tag":    item.SS{"urgent"},
	}
	names := map[string]string{"#st": "status"} // STATUS is a reserved word
	attrs, err := expr.NewAttributes(names, values)
	if err != nil {
		panic(err)
	}
	cond, err := expr.ParseCondition("attribute_exists(id) AND #st <> :closed", attrs)
	if err != nil {
		panic(err)
	}
	upd, err := expr.ParseUpdate("SET visits = if_not_exists(visits, :one) + :one ADD tags :tag", attrs)
	if err != nil {
		panic(err)
	}
	if err := attrs.Unused(); err != nil {
		panic(err)
	}

	stored, _ := item.DecodeJSONItem([]byte(`{"id":{"S":"t-1"},"status":{"S":"open"}}`))
	if !cond.Eval(stored) {
		fmt.Println("ConditionalCheckFailedException")
		return
	}
	updated, err := upd.Apply(stored)
	if err != nil {
		panic(err)
	}
	out, _ := item.EncodeJSONItem(updated)
	fmt.Println(string(out))
	// Output: {"id":{"S":"t-1"},"status":{"S":"open"},"tags":{"SS":["urgent"]},"visits":{"N":"2"}}
}

// A Query: the key condition gives the partition key and the range of
// stored keys to iterate. The lower bound is "go" escaped and terminated
// (676f 0001), then 1700000000 = 0.17 × 10^10: tag 03 (positive), exponent
// 10+129 = 0x8b, digits 1 and 7 as 02 08, end 00. The upper bound is the
// end of partition "go".
func ExampleParseKeyCondition() {
	schema := item.KeySchema{
		Partition: item.KeyAttribute{Name: "forum", Type: item.TypeS},
		Sort:      item.KeyAttribute{Name: "posted", Type: item.TypeN},
	}
	attrs, _ := expr.NewAttributes(nil, map[string]item.Value{
		":f":    item.S("go"),
		":from": item.MustNumber("1700000000"),
	})
	kc, err := expr.ParseKeyCondition("forum = :f AND posted >= :from", attrs, schema)
	if err != nil {
		panic(err)
	}
	r := kc.Range()
	fmt.Println(kc.Partition, kc.Sort.Op == item.SortGE)
	fmt.Printf("lower %x\nupper %x\n", r.Lower, r.Upper)
	// Output:
	// go true
	// lower 676f0001038b020800
	// upper 676f0002
}
