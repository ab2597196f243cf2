package expr

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/item"
)

func jsonItem(t testing.TB, s string) item.Item {
	it, err := item.DecodeJSONItem([]byte(s))
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return it
}

func TestUpdate(t *testing.T) {
	tests := []struct {
		rule   string
		expr   string
		before string // the item, DynamoDB JSON
		after  string // the result, DynamoDB JSON; "" when refused
		err    string // part of the error when refused
	}{
		{"SET adds an attribute", "SET a = :n1", `{}`, `{"a":{"N":"1"}}`, ""},
		{"SET replaces an attribute of another type", "SET a = :s", `{"a":{"N":"1"}}`, `{"a":{"S":"abc"}}`, ""},
		{"SET copies another attribute", "SET a = b", `{"b":{"S":"x"}}`, `{"a":{"S":"x"},"b":{"S":"x"}}`, ""},
		{"SET from a missing attribute is refused", "SET a = b", `{}`, "", "does not exist"},
		{"operands read the item before the update: SET swaps", "SET a = b, b = a", `{"a":{"N":"1"},"b":{"N":"2"}}`, `{"a":{"N":"2"},"b":{"N":"1"}}`, ""},
		{"SET adds numbers exactly", "SET a = a + :n1", `{"a":{"N":"0.1"}}`, `{"a":{"N":"1.1"}}`, ""},
		{"SET subtracts numbers", "SET a = :n1 - a", `{"a":{"N":"2.5"}}`, `{"a":{"N":"-1.5"}}`, ""},
		{"chained arithmetic goes left to right", "SET a = :n10 - :n5 - :n1", `{}`, `{"a":{"N":"4"}}`, ""},
		{"arithmetic on a missing attribute is refused", "SET a = a + :n1", `{}`, "", "does not exist"},
		{"arithmetic on a string attribute is refused", "SET a = a + :n1", `{"a":{"S":"1"}}`, "", "incorrect data type"},
		{"arithmetic beyond DynamoDB's range is refused", "SET a = a + :big", `{"a":{"N":"9E+125"}}`, "", "overflow"},
		{"if_not_exists gives its default for a missing attribute", "SET a = if_not_exists(a, :n5)", `{}`, `{"a":{"N":"5"}}`, ""},
		{"if_not_exists keeps an existing attribute", "SET a = if_not_exists(a, :n5)", `{"a":{"N":"1"}}`, `{"a":{"N":"1"}}`, ""},
		{"a counter starting from nothing", "SET a = if_not_exists(a, :n1) + :n1", `{}`, `{"a":{"N":"2"}}`, ""},
		{"list_append appends", "SET l = list_append(l, :l)", `{"l":{"L":[{"N":"1"}]}}`, `{"l":{"L":[{"N":"1"},{"S":"x"}]}}`, ""},
		{"list_append prepends with its operands swapped", "SET l = list_append(:l, l)", `{"l":{"L":[{"N":"1"}]}}`, `{"l":{"L":[{"S":"x"},{"N":"1"}]}}`, ""},
		{"list_append onto a missing list with if_not_exists", "SET l = list_append(if_not_exists(l, :el), :l)", `{}`, `{"l":{"L":[{"S":"x"}]}}`, ""},
		{"list_append on a non-list is refused", "SET l = list_append(l, :l)", `{"l":{"S":"x"}}`, "", "list_append, operand type: S"},
		{"SET of a nested map key", "SET m.k = :s", `{"m":{"M":{}}}`, `{"m":{"M":{"k":{"S":"abc"}}}}`, ""},
		{"SET of a nested path whose parent is missing is refused", "SET m.k = :s", `{}`, "", "invalid for update"},
		{"SET of a map key in a list is refused", "SET l.k = :s", `{"l":{"L":[]}}`, "", "invalid for update"},
		{"SET of an index in a map is refused", "SET m[0] = :s", `{"m":{"M":{}}}`, "", "invalid for update"},
		{"SET of a list element replaces it", "SET l[0] = :s", `{"l":{"L":[{"N":"1"},{"N":"2"}]}}`, `{"l":{"L":[{"S":"abc"},{"N":"2"}]}}`, ""},
		{"SET past a list's end appends", "SET l[7] = :s", `{"l":{"L":[{"N":"1"}]}}`, `{"l":{"L":[{"N":"1"},{"S":"abc"}]}}`, ""},
		{"SETs past a list's end append in index order", "SET l[9] = :n5, l[8] = :n1", `{"l":{"L":[]}}`, `{"l":{"L":[{"N":"1"},{"N":"5"}]}}`, ""},
		{"REMOVE deletes an attribute", "REMOVE a", `{"a":{"N":"1"},"b":{"N":"2"}}`, `{"b":{"N":"2"}}`, ""},
		{"REMOVE of a missing attribute does nothing", "REMOVE a", `{"b":{"N":"2"}}`, `{"b":{"N":"2"}}`, ""},
		{"REMOVE of a nested key", "REMOVE m.k", `{"m":{"M":{"k":{"N":"1"},"j":{"N":"2"}}}}`, `{"m":{"M":{"j":{"N":"2"}}}}`, ""},
		{"REMOVE of list elements names the original indexes", "REMOVE l[0], l[2]", `{"l":{"L":[{"N":"0"},{"N":"1"},{"N":"2"},{"N":"3"}]}}`, `{"l":{"L":[{"N":"1"},{"N":"3"}]}}`, ""},
		{"REMOVE of an element and of a key in a later element names the original elements", "REMOVE l[0], l[1].x", `{"l":{"L":[{"N":"0"},{"M":{"x":{"N":"1"},"y":{"N":"2"}}},{"M":{"x":{"N":"3"}}}]}}`, `{"l":{"L":[{"M":{"y":{"N":"2"}}},{"M":{"x":{"N":"3"}}}]}}`, ""},
		{"REMOVE of nested list elements, in any order", "REMOVE l[0][1], l[1], l[0][0]", `{"l":{"L":[{"L":[{"N":"0"},{"N":"1"},{"N":"2"}]},{"N":"9"},{"N":"8"}]}}`, `{"l":{"L":[{"L":[{"N":"2"}]},{"N":"8"}]}}`, ""},
		{"a DELETE that empties a set in a list removes the element, after the other writes", "DELETE l[0] :ssc SET l[1].k = :n1", `{"l":{"L":[{"SS":["c"]},{"M":{}}]}}`, `{"l":{"L":[{"M":{"k":{"N":"1"}}}]}}`, ""},
		{"REMOVE past a list's end does nothing", "REMOVE l[5]", `{"l":{"L":[{"N":"0"}]}}`, `{"l":{"L":[{"N":"0"}]}}`, ""},
		{"REMOVE under a missing parent is refused", "REMOVE m.k", `{}`, "", "invalid for update"},
		{"ADD to a number", "ADD a :neg", `{"a":{"N":"1"}}`, `{"a":{"N":"-1.5"}}`, ""},
		{"ADD of a number to nothing sets it", "ADD a :n5", `{}`, `{"a":{"N":"5"}}`, ""},
		{"ADD to a set is a union", "ADD ss :ss", `{"ss":{"SS":["b","c"]}}`, `{"ss":{"SS":["a","b","c"]}}`, ""},
		{"ADD to a number set compares numerically", "ADD ns :ns", `{"ns":{"NS":["1.0","3"]}}`, `{"ns":{"NS":["1","2","3"]}}`, ""},
		{"ADD of a set to nothing sets it", "ADD bs :bs", `{}`, `{"bs":{"BS":["AQ=="]}}`, ""},
		{"ADD of a number to a string is refused", "ADD a :n1", `{"a":{"S":"x"}}`, "", "incorrect data type"},
		{"ADD of a string set to a number set is refused", "ADD ns :ss", `{"ns":{"NS":["1"]}}`, "", "incorrect data type"},
		{"ADD of a number to a list is refused", "ADD l :n1", `{"l":{"L":[]}}`, "", "incorrect data type"},
		{"ADD to a nested number", "ADD m.c :n1", `{"m":{"M":{"c":{"N":"1"}}}}`, `{"m":{"M":{"c":{"N":"2"}}}}`, ""},
		{"DELETE removes elements of a set", "DELETE ss :ss", `{"ss":{"SS":["a","c"]}}`, `{"ss":{"SS":["c"]}}`, ""},
		{"DELETE of every element removes the attribute", "DELETE ss :ss", `{"ss":{"SS":["a","b"]},"x":{"NULL":true}}`, `{"x":{"NULL":true}}`, ""},
		{"DELETE from a missing set does nothing", "DELETE ss :ss", `{}`, `{}`, ""},
		{"DELETE from a number set compares numerically", "DELETE ns :ns", `{"ns":{"NS":["1.00","7"]}}`, `{"ns":{"NS":["7"]}}`, ""},
		{"DELETE from a set of another type is refused", "DELETE ss :ns", `{"ss":{"SS":["a"]}}`, "", "incorrect data type"},
		{"DELETE from a string is refused", "DELETE s :ss", `{"s":{"S":"a"}}`, "", "incorrect data type"},
		{"all four clauses in one update", "SET a = :n1 REMOVE b ADD c :n5 DELETE d :ssc", `{"b":{"N":"0"},"c":{"N":"1"},"d":{"SS":["c","e"]}}`, `{"a":{"N":"1"},"c":{"N":"6"},"d":{"SS":["e"]}}`, ""},
		{"a result over 400 KB is refused", "SET a = list_append(a, a)", `{"a":{"L":[{"S":"` + strings.Repeat("x", item.MaxItemSize/2) + `"}]}}`, "", "maximum allowed size"},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			u, err := ParseUpdate(tt.expr, attrs(t))
			if err != nil {
				t.Fatalf("ParseUpdate(%q): %v", tt.expr, err)
			}
			before := jsonItem(t, tt.before)
			kept := jsonItem(t, tt.before)
			got, err := u.Apply(before)
			if !item.EqualItems(before, kept) {
				t.Fatalf("Apply modified its input: %v", before)
			}
			if tt.after == "" {
				if err == nil || !errors.Is(err, ErrUpdate) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Apply = %v, %v; want ErrUpdate with %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if want := jsonItem(t, tt.after); !item.EqualItems(got, want) {
				b, _ := item.EncodeJSONItem(got)
				t.Fatalf("Apply = %s; want %s", b, tt.after)
			}
		})
	}
}

func TestProjection(t *testing.T) {
	it := jsonItem(t, `{"a":{"S":"x"},"b":{"N":"1"},"m":{"M":{"k":{"S":"v"},"j":{"N":"2"},"n":{"M":{"z":{"BOOL":true}}}}},
		"l":{"L":[{"N":"0"},{"M":{"p":{"N":"1"},"q":{"N":"2"}}},{"N":"2"},{"N":"3"}]}}`)
	tests := []struct {
		rule string
		expr string
		want string
	}{
		{"top-level attributes", "a, b", `{"a":{"S":"x"},"b":{"N":"1"}}`},
		{"a missing attribute is left out", "a, absent", `{"a":{"S":"x"}}`},
		{"a nested key keeps its maps", "m.n.z", `{"m":{"M":{"n":{"M":{"z":{"BOOL":true}}}}}}`},
		{"keys of one map are gathered", "m.k, m.j", `{"m":{"M":{"k":{"S":"v"},"j":{"N":"2"}}}}`},
		{"list elements keep their order and close up", "l[3], l[0]", `{"l":{"L":[{"N":"0"},{"N":"3"}]}}`},
		{"a path into a list element", "l[1].q", `{"l":{"L":[{"M":{"q":{"N":"2"}}}]}}`},
		{"an index past the end is left out", "l[9]", `{}`},
		{"a path through a value of another type is left out", "a.k, b[0]", `{}`},
		{"a #name stands for an attribute name", "#s", `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			pr, err := ParseProjection(tt.expr, attrs(t))
			if err != nil {
				t.Fatal(err)
			}
			got := pr.Apply(it)
			if want := jsonItem(t, tt.want); !item.EqualItems(got, want) {
				b, _ := item.EncodeJSONItem(got)
				t.Fatalf("Apply = %s; want %s", b, tt.want)
			}
		})
	}
}

func TestKeyCondition(t *testing.T) {
	schema := item.KeySchema{Partition: item.KeyAttribute{Name: "pk", Type: item.TypeS}, Sort: item.KeyAttribute{Name: "sk", Type: item.TypeN}}
	sorts := []string{"-2.5", "0", "1", "3", "5", "10", "11"}
	tests := []struct {
		rule  string
		expr  string
		match []string // the sort keys of partition "abc" it selects
	}{
		{"the partition key alone selects the partition", "pk = :s", sorts},
		{"a #name for the partition key", "#pk = :s", sorts},
		{"sort key =", "pk = :s AND sk = :n5", []string{"5"}},
		{"sort key <", "pk = :s AND sk < :n1", []string{"-2.5", "0"}},
		{"sort key <=", "pk = :s AND sk <= :n1", []string{"-2.5", "0", "1"}},
		{"sort key >", "pk = :s AND sk > :n5", []string{"10", "11"}},
		{"sort key >=", "pk = :s AND #sk >= :n5", []string{"5", "10", "11"}},
		{"sort key BETWEEN is inclusive", "pk = :s AND sk BETWEEN :n1 AND :n10", []string{"1", "3", "5", "10"}},
		{"the sort-key condition may come first", "sk < :n1 AND pk = :s", []string{"-2.5", "0"}},
		{"parentheses are allowed", "(pk = :s) AND (sk = :n1)", []string{"1"}},
		{"keywords in any case", "pk = :s and sk between :neg and :n1", []string{"-2.5", "0", "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			kc, err := ParseKeyCondition(tt.expr, attrs(t), schema)
			if err != nil {
				t.Fatal(err)
			}
			if !item.Equal(kc.Partition, item.S("abc")) {
				t.Fatalf("partition %v", kc.Partition)
			}
			var got []string
			for _, s := range sorts {
				if kc.Match(item.Key{Partition: item.S("abc"), Sort: num(s)}) {
					got = append(got, s)
				}
				if kc.Match(item.Key{Partition: item.S("abd"), Sort: num(s)}) || kc.Match(item.Key{Partition: item.S("ab"), Sort: num(s)}) {
					t.Fatalf("matches sort key %s of another partition", s)
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.match, " ") {
				t.Fatalf("selects %v; want %v", got, tt.match)
			}
		})
	}

	strSchema := item.KeySchema{Partition: item.KeyAttribute{Name: "pk", Type: item.TypeN}, Sort: item.KeyAttribute{Name: "sk", Type: item.TypeS}}
	t.Run("begins_with selects a prefix of a string sort key", func(t *testing.T) {
		kc, err := ParseKeyCondition("pk = :n1 AND begins_with(sk, :ab)", attrs(t), strSchema)
		if err != nil {
			t.Fatal(err)
		}
		for s, want := range map[string]bool{"ab": true, "abc": true, "ab\x00": true, "a": false, "b": false, "aab": false, "ac": false} {
			if got := kc.Match(item.Key{Partition: num("1"), Sort: item.S(s)}); got != want {
				t.Errorf("begins_with(%q, ab) = %v", s, got)
			}
		}
	})

	errTests := []struct {
		rule   string
		expr   string
		schema item.KeySchema
		err    string
	}{
		{"the partition key is required", "sk = :n1", schema, "missed key schema element: pk"},
		{"the partition key needs =", "pk < :s", schema, "not supported"},
		{"a partition key value of another type is refused", "pk = :n1", schema, "does not match schema type"},
		{"a sort key value of another type is refused", "pk = :s AND sk = :s", schema, "does not match schema type"},
		{"an empty partition key value is refused", "pk = :empty", schema, "empty"},
		{"begins_with on a number sort key is refused", "pk = :s AND begins_with(sk, :n1)", schema, "begins_with"},
		{"a non-key attribute is refused", "pk = :s AND price = :n1", schema, "not supported"},
		{"two sort-key conditions are refused", "pk = :s AND sk > :n1 AND sk < :n5", schema, "AND"},
		{"OR is refused", "pk = :s OR sk = :n1", schema, "OR"},
		{"NOT is refused", "NOT pk = :s", schema, "NOT"},
		{"IN is refused", "pk IN (:s)", schema, "IN"},
		{"<> is refused", "pk = :s AND sk <> :n1", schema, "<>"},
		{"other functions are refused", "pk = :s AND attribute_exists(sk)", schema, "attribute_exists"},
		{"a sort-key condition on a table without one is refused", "pk = :s AND sk = :n1", item.KeySchema{Partition: schema.Partition}, "not supported"},
		{"a nested path is refused", "pk.x = :s", schema, "key attribute"},
		{"a value on the left is refused", ":s = pk", schema, "key attribute"},
		{"BETWEEN bounds out of order are refused", "pk = :s AND sk BETWEEN :n5 AND :n1", schema, "upper bound"},
	}
	for _, tt := range errTests {
		t.Run(tt.rule, func(t *testing.T) {
			kc, err := ParseKeyCondition(tt.expr, attrs(t), tt.schema)
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("ParseKeyCondition = %+v, %v; want ErrInvalid with %q", kc, err, tt.err)
			}
		})
	}
}

// TestSetAlgebra checks ADD's union and DELETE's difference on random sets
// against a map.
func TestSetAlgebra(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for range 2000 {
		a, b := randSet(r), randSet(r)
		inA, inB := map[string]bool{}, map[string]bool{}
		for _, s := range a {
			inA[s] = true
		}
		for _, s := range b {
			inB[s] = true
		}
		var wantU, wantM []string
		for s := range inA {
			wantU = append(wantU, s)
			if !inB[s] {
				wantM = append(wantM, s)
			}
		}
		for s := range inB {
			if !inA[s] {
				wantU = append(wantU, s)
			}
		}
		slices.Sort(wantU)
		slices.Sort(wantM)
		if got := union(a, b, strings.Compare); !slices.Equal(got, wantU) {
			t.Fatalf("union(%v, %v) = %v; want %v", a, b, got, wantU)
		}
		if got := minus(a, b, strings.Compare); !slices.Equal(got, wantM) {
			t.Fatalf("minus(%v, %v) = %v; want %v", a, b, got, wantM)
		}
	}
}

func randSet(r *rand.Rand) []string {
	seen := map[string]bool{}
	var out []string
	for range r.IntN(8) {
		s := string(rune('a' + r.IntN(10)))
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// TestKeyConditionAgreesWithCondition: a key condition's range selects
// exactly the items that the same text, evaluated as a condition, accepts.
func TestKeyConditionAgreesWithCondition(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	randVal := func(typ item.Type) item.Value {
		switch typ {
		case item.TypeN:
			return num([]string{"-10", "-1.5", "0", "0.001", "1", "1.5", "2", "10", "1E+20", "-1E-20"}[r.IntN(10)])
		case item.TypeB:
			b := make(item.B, 1+r.IntN(3))
			for i := range b {
				b[i] = []byte{0x00, 0x01, 0x7f, 0xff}[r.IntN(4)]
			}
			return b
		}
		s := make([]byte, 1+r.IntN(3))
		for i := range s {
			s[i] = "ab\x00"[r.IntN(3)]
		}
		return item.S(s)
	}
	exprs := []string{
		"pk = :p", "pk = :p AND sk = :v", "pk = :p AND sk < :v", "pk = :p AND sk <= :v",
		"pk = :p AND sk > :v", "pk = :p AND sk >= :v", "pk = :p AND sk BETWEEN :v AND :w",
		"sk < :v AND pk = :p", "pk = :p AND begins_with(sk, :v)",
	}
	for _, st := range []item.Type{item.TypeS, item.TypeN, item.TypeB} {
		schema := item.KeySchema{Partition: item.KeyAttribute{Name: "pk", Type: item.TypeS}, Sort: item.KeyAttribute{Name: "sk", Type: st}}
		for range 300 {
			e := exprs[r.IntN(len(exprs))]
			if st == item.TypeN && strings.Contains(e, "begins_with") {
				continue // refused by both; checked in TestKeyCondition
			}
			vals := map[string]item.Value{":p": randVal(item.TypeS), ":v": randVal(st), ":w": randVal(st)}
			use := func() *Attributes {
				used := map[string]item.Value{}
				for k, v := range vals {
					if strings.Contains(e, k) {
						used[k] = v
					}
				}
				a, err := NewAttributes(nil, used)
				if err != nil {
					t.Fatal(err)
				}
				return a
			}
			kc, kerr := ParseKeyCondition(e, use(), schema)
			c, cerr := ParseCondition(e, use())
			if (kerr == nil) != (cerr == nil) {
				t.Fatalf("%s with %v: key condition error %v, condition error %v", e, vals, kerr, cerr)
			}
			if kerr != nil {
				continue
			}
			for range 40 {
				pk := vals[":p"]
				if r.IntN(3) == 0 {
					pk = randVal(item.TypeS)
				}
				sk := randVal(st)
				if r.IntN(4) == 0 {
					sk = vals[":v"]
				}
				got := kc.Match(item.Key{Partition: pk, Sort: sk})
				if want := c.Eval(item.Item{"pk": pk, "sk": sk}); got != want {
					t.Fatalf("%s with %v on pk=%v sk=%v: range says %v, condition says %v", e, vals, pk, sk, got, want)
				}
			}
		}
	}
}
