package expr

import (
	"errors"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/item"
)

// fuzzItems are the fixed items every parsed expression is evaluated on.
var fuzzItems = []item.Item{nil, {}, doc, {
	"pk": item.S("abc"), "sk": num("5"),
	"l": item.L{item.L{item.M{"a": item.SS{"x"}}}, item.NS{num("1")}},
	"m": item.M{"m": item.M{"m": item.Null{}}},
}}

var fuzzSchema = item.KeySchema{Partition: item.KeyAttribute{Name: "pk", Type: item.TypeS}, Sort: item.KeyAttribute{Name: "sk", Type: item.TypeN}}

// FuzzParse: no expression makes a parser panic, and whatever parses
// evaluates on the fixed items without panicking; updates give valid items
// or ErrUpdate, and never modify their input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"s = :s AND (n BETWEEN :n1 AND :n10 OR NOT attribute_exists(m.k))",
		"size(l) > :n1 AND contains(ss, :a) AND begins_with(#dot, :ab)",
		"n IN (:n1, :n5, :s)", "attribute_type(l[2].deep, :tS)",
		"pk = :s AND sk BETWEEN :n1 AND :n5", "pk = :s AND begins_with(sk, :ab)",
		"a, m.k, l[1].x, #c", "SET a = if_not_exists(a, :n1) + :n1, l = list_append(l, :l) REMOVE b ADD ss :ss DELETE ns :ns",
		"SET m.k[3] = :m, #n = #n - :neg",
	} {
		for k := range byte(5) {
			f.Add(k, s)
		}
	}
	f.Fuzz(func(t *testing.T, kind byte, s string) {
		switch kind % 5 {
		case 0:
			c, err := ParseCondition(s, attrs(t))
			if err != nil {
				checkInvalid(t, err)
				return
			}
			for _, it := range fuzzItems {
				c.Eval(it)
			}
		case 1:
			kc, err := ParseKeyCondition(s, attrs(t), fuzzSchema)
			if err != nil {
				checkInvalid(t, err)
				return
			}
			for _, it := range fuzzItems {
				if k, err := fuzzSchema.Key(it); err == nil {
					kc.Match(k)
				}
			}
			if r := kc.Range(); len(r.Lower) == 0 || len(r.Upper) == 0 {
				t.Fatalf("%q: unbounded range %+v", s, r)
			}
		case 2:
			pr, err := ParseProjection(s, attrs(t))
			if err != nil {
				checkInvalid(t, err)
				return
			}
			for _, it := range fuzzItems {
				if err := item.ValidateItem(pr.Apply(it)); err != nil {
					t.Fatalf("%q: projection is not a valid item: %v", s, err)
				}
			}
		default:
			u, err := ParseUpdate(s, attrs(t))
			if err != nil {
				checkInvalid(t, err)
				return
			}
			for _, it := range fuzzItems {
				checkUpdate(t, u, it)
			}
		}
	})
}

func checkInvalid(t *testing.T, err error) {
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("parse error %v is not ErrInvalid", err)
	}
}

// checkUpdate applies u to it: the result validates as an item, or the
// error is ErrUpdate; it is never modified.
func checkUpdate(t *testing.T, u *Update, it item.Item) {
	before, err := item.EncodeJSONItem(it)
	if err != nil {
		t.Fatal(err)
	}
	out, err := u.Apply(it)
	if after, _ := item.EncodeJSONItem(it); string(after) != string(before) {
		t.Fatalf("Apply modified its input: %s became %s", before, after)
	}
	if err != nil {
		if !errors.Is(err, ErrUpdate) {
			t.Fatalf("update error %v is not ErrUpdate", err)
		}
		return
	}
	if err := item.ValidateItem(out); err != nil {
		t.Fatalf("update result is not a valid item: %v", err)
	}
}

// FuzzUpdate: a parsed update applied to any item that decodes from
// DynamoDB JSON gives a valid item or ErrUpdate.
func FuzzUpdate(f *testing.F) {
	f.Add("SET a = a + :n1, l[2] = :m REMOVE b ADD ss :ss", `{"a":{"N":"1"},"l":{"L":[{"S":"x"}]},"ss":{"SS":["z"]}}`)
	f.Add("DELETE ns :ns ADD n :neg", `{"ns":{"NS":["1","2"]},"n":{"N":"9E+125"}}`)
	f.Add("SET m.k = list_append(if_not_exists(m.k, :el), :l)", `{"m":{"M":{}}}`)
	f.Add("REMOVE l[0], l[1].x SET l[5] = :s", `{"l":{"L":[{"N":"0"},{"M":{"x":{"NULL":true}}}]}}`)
	f.Fuzz(func(t *testing.T, expr, itemJSON string) {
		u, err := ParseUpdate(expr, attrs(t))
		if err != nil {
			return
		}
		it, err := item.DecodeJSONItem([]byte(itemJSON))
		if err != nil || item.ValidateItem(it) != nil {
			return
		}
		checkUpdate(t, u, it)
	})
}
