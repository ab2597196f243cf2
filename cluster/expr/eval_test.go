package expr

import (
	"errors"
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
