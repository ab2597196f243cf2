package expr

import (
	"errors"
	"strings"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/item"
)

func num(s string) item.Number { return item.MustNumber(s) }

// values are the ExpressionAttributeValues every test row may use.
var values = map[string]item.Value{
	":s":     item.S("abc"),
	":ab":    item.S("ab"),
	":z":     item.S("zzz"),
	":empty": item.S(""),
	":n1":    num("1"),
	":n3":    num("3"),
	":a":     item.S("a"),
	":b1":    item.B{1},
	":n5":    num("5"),
	":n10":   num("10"),
	":neg":   num("-2.5"),
	":b":     item.B{1, 2},
	":t":     item.Bool(true),
	":null":  item.Null{},
	":l":     item.L{item.S("x")},
	":el":    item.L{},
	":m":     item.M{"k": item.S("v")},
	":ss":    item.SS{"a", "b"},
	":ssc":   item.SS{"c"},
	":ns":    item.NS{num("1"), num("2")},
	":bs":    item.BS{{1}},
	":tS":    item.S("S"),
	":tN":    item.S("N"),
	":tSS":   item.S("SS"),
	":tX":    item.S("X"),
	":big":   num("9.9999999999999999999999999999999999999E+125"),
}

var names = map[string]string{
	"#c":    "Comment",
	"#dot":  "a.b",
	"#n":    "n",
	"#s":    "s",
	"#pk":   "pk",
	"#sk":   "sk",
	"#size": "size",
}

func attrs(t testing.TB) *Attributes {
	a, err := NewAttributes(names, values)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// doc is the item the condition and projection rows read.
var doc = item.Item{
	"s":       item.S("abc"),
	"n":       num("5"),
	"b":       item.B{1, 2, 3},
	"t":       item.Bool(true),
	"nul":     item.Null{},
	"l":       item.L{item.S("x"), num("1"), item.M{"deep": item.S("y")}},
	"m":       item.M{"k": item.S("v"), "nested": item.M{"x": num("3")}},
	"ss":      item.SS{"a", "b"},
	"ns":      item.NS{num("1"), num("2")},
	"bs":      item.BS{{1}, {2}},
	"a.b":     item.S("dotted"),
	"Comment": item.S("hi"),
	"u":       item.S("é𝄞"), // one UTF-16 code unit, then two (a surrogate pair); 6 UTF-8 bytes
}

func TestCondition(t *testing.T) {
	tests := []struct {
		rule string
		expr string
		want bool
	}{
		{"= compares strings", "s = :s", true},
		{"= compares numbers by value", "n = :n5", true},
		{"= between types is false", "s = :n5", false},
		{"= with a absent attribute is false", "absent = :s", false},
		{"<> with a absent attribute is true (the negation of =)", "absent <> :s", true},
		{"<> of equal values is false", "n <> :n5", false},
		{"< on numbers", "n < :n10", true},
		{"numbers compare by value, not text", ":n5 < :n10", true},
		{"< on strings is by bytes", "s < :z", true},
		{"< with a absent attribute is false", "absent < :n10", false},
		{"< between a number and a string is false, not an error", "s < :n10", false},
		{"NOT of a false comparison of mismatched types is true", "NOT s < :n10", true},
		{"<= holds for equal values", "n <= :n5", true},
		{">= on binaries", "b >= :b", true},
		{"> fails on equal values", "n > :n5", false},
		{"BETWEEN is inclusive", "n BETWEEN :n1 AND :n5", true},
		{"BETWEEN outside the bounds is false", "n BETWEEN :n1 AND :n1", false},
		{"BETWEEN with a mismatched type is false", "s BETWEEN :n1 AND :n10", false},
		{"IN finds a member", "n IN (:n1, :n5)", true},
		{"IN compares by type", "n IN (:s, :n10)", false},
		{"IN compares sets regardless of order", "ss IN (:ss)", true},
		{"AND of true and false is false", "n = :n5 AND s = :z", false},
		{"OR of false and true is true", "n = :n1 OR s = :s", true},
		{"AND binds tighter than OR", "s = :s OR n = :n1 AND s = :z", true},
		{"parentheses override precedence", "(s = :s OR n = :n1) AND s = :z", false},
		{"NOT binds tighter than AND", "NOT n = :n1 AND s = :s", true},
		{"keywords are case-insensitive", "n = :n1 or s = :s and not n = :n10", true},
		{"attribute_exists on a present attribute", "attribute_exists(s)", true},
		{"attribute_exists on a absent attribute", "attribute_exists(absent)", false},
		{"attribute_exists on a nested path", "attribute_exists(m.nested.x)", true},
		{"attribute_exists on a list element", "attribute_exists(l[2].deep)", true},
		{"attribute_exists past a list's end", "attribute_exists(l[3])", false},
		{"attribute_not_exists on a absent attribute", "attribute_not_exists(absent)", true},
		{"attribute_not_exists on a NULL attribute is false", "attribute_not_exists(nul)", false},
		{"attribute_type matches", "attribute_type(s, :tS)", true},
		{"attribute_type of a set", "attribute_type(ss, :tSS)", true},
		{"attribute_type mismatches", "attribute_type(s, :tN)", false},
		{"begins_with on a string", "begins_with(s, :ab)", true},
		{"begins_with with the empty prefix", "begins_with(s, :empty)", true},
		{"begins_with on a binary", "begins_with(b, :b)", true},
		{"begins_with on a number is false", "begins_with(n, :ab)", false},
		{"contains a substring", "contains(s, :ab)", true},
		{"contains an element of a string set", "contains(ss, :a)", true},
		{"contains is not a substring test on a string set", "contains(ss, :ab)", false},
		{"contains a number in a number set", "contains(ns, :n1)", true},
		{"contains in a list compares elements", "contains(l, :n1)", true},
		{"contains a binary subsequence", "contains(b, :b)", true},
		{"contains a binary set element", "contains(bs, :b1)", true},
		{"contains a binary that is not a set element", "contains(bs, :b)", false},
		{"size of a string is its length", "size(s) = :n3", true},
		{"size of a string counts UTF-16 code units, not bytes or characters", "size(u) = :n3", true},
		{"size of a set is its elements", "size(bs) < :n3", true},
		{"size of a list", "size(l) < :n5", true},
		{"size of a map", "size(m) BETWEEN :n1 AND :n5", true},
		{"size of a number has no value", "size(n) >= :n1", false},
		{"size of a absent attribute has no value", "size(absent) < :n10", false},
		{"a path with a #name", "#c = :s", false},
		{"a #name with a dot is one attribute", "#dot = :s", false},
		{"a #name with a dot reads that attribute", "begins_with(#dot, :empty)", true},
		{"nested map path", "m.k = :s", false},
		{"list index path", "l[0] <> :s", true},
		{"a reserved word by #name", "#size = :s", false},
		{"map equality", "m.nested = m.nested", true},
		{"a NULL equals NULL", "nul = :null", true},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			c, err := ParseCondition(tt.expr, attrs(t))
			if err != nil {
				t.Fatalf("ParseCondition(%q): %v", tt.expr, err)
			}
			if got := c.Eval(doc); got != tt.want {
				t.Fatalf("%s = %v; want %v", tt.expr, got, tt.want)
			}
		})
	}
}

func TestConditionOnAbsentItem(t *testing.T) {
	// PutItem's condition on an item that does not exist.
	for expr, want := range map[string]bool{
		"attribute_not_exists(pk)": true,
		"attribute_exists(pk)":     false,
		"n = :n5":                  false,
		"NOT n = :n5":              true,
	} {
		c, err := ParseCondition(expr, attrs(t))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Eval(nil); got != want {
			t.Errorf("%s on no item = %v; want %v", expr, got, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	long := strings.Repeat("a", MaxExpressionLength-len(" = :s")) + " = :s"
	ors := func(n int) string { // n comparisons joined by OR: 2n-1 operators
		return strings.TrimSuffix(strings.Repeat("n = :n1 OR ", n), " OR ")
	}
	ins := func(n int) string {
		return "n IN (" + strings.TrimSuffix(strings.Repeat(":n1, ", n), ", ") + ")"
	}
	deep := func(n int) string { return "a" + strings.Repeat(".b", n-1) + " = :s" }
	tests := []struct {
		rule string
		kind Kind
		expr string
		err  string // "" when it parses
	}{
		{"an empty expression is refused", KindCondition, "  ", "empty"},
		{"a bare operand is not a condition", KindCondition, "n", "Syntax error"},
		{"a comparison needs a right side", KindCondition, "n =", "Syntax error"},
		{"an unclosed parenthesis is refused", KindCondition, "(n = :n1", "Syntax error"},
		{"a stray token is refused", KindCondition, "n = :n1 :n5", "Syntax error"},
		{"an unknown character is refused", KindCondition, "n ! :n1", "Syntax error"},
		{"a bare reserved word is refused", KindCondition, "Comment = :s", "reserved keyword"},
		{"reserved words are refused in any case", KindCondition, "status = :s", "reserved keyword"},
		{"a reserved word inside a path is refused", KindCondition, "m.name = :s", "reserved keyword"},
		{"an undefined value is refused", KindCondition, "n = :nope", "attribute value used in expression is not defined"},
		{"an undefined name is refused", KindCondition, "#nope = :s", "attribute name used in the document path is not defined"},
		{"an unknown function is refused", KindCondition, "foo(n)", "Invalid function name"},
		{"function names are case-sensitive", KindCondition, "Attribute_Exists(n)", "Invalid function name"},
		{"an update function is refused in a condition", KindCondition, "if_not_exists(n, :n1) = :n1", "not allowed"},
		{"size is not a condition", KindCondition, "size(s)", "Syntax error"},
		{"< with a BOOL constant is refused", KindCondition, "n < :t", "operand type: BOOL"},
		{"BETWEEN with a list constant is refused", KindCondition, "n BETWEEN :l AND :n5", "operand type: L"},
		{"BETWEEN with bounds out of order is refused", KindCondition, "n BETWEEN :n5 AND :n1", "upper bound"},
		{"BETWEEN with bounds of two types is refused", KindCondition, "n BETWEEN :n1 AND :s", "upper bound"},
		{"attribute_type with an unknown type is refused", KindCondition, "attribute_type(n, :tX)", "Invalid type"},
		{"attribute_type with a non-string type is refused", KindCondition, "attribute_type(n, :n1)", "operand type"},
		{"attribute_type with a path for the type is refused", KindCondition, "attribute_type(n, s)", "Syntax error"},
		{"begins_with with a number prefix is refused", KindCondition, "begins_with(s, :n1)", "operand type: N"},
		{"contains of a path with itself is refused", KindCondition, "contains(s, s)", "distinct"},
		{"a function with too few arguments is refused", KindCondition, "begins_with(s)", "number of operands"},
		{"a function with too many arguments is refused", KindCondition, "attribute_exists(s, n)", "number of operands"},
		{"a name must start with a letter", KindCondition, "_x = :s", "Syntax error"},
		{"a list index must be a number", KindCondition, "l[x] = :s", "Syntax error"},
		{"a path cannot start with an index", KindCondition, "[1] = :s", "Syntax error"},
		{"4 KB is the longest expression", KindCondition, long, ""},
		{"one byte over 4 KB is refused", KindCondition, "(" + long + ")", "maximum allowed size"},
		{"300 operators are allowed", KindCondition, "NOT (" + ors(150) + ")", ""},
		{"301 operators are refused", KindCondition, ors(151), "more than 300"},
		{"IN with 100 operands is allowed", KindCondition, ins(MaxInOperands), ""},
		{"IN with 101 operands is refused", KindCondition, ins(MaxInOperands + 1), "too many operands"},
		{"a path of 32 elements is allowed", KindCondition, deep(MaxPathDepth), ""},
		{"a path of 33 elements is refused", KindCondition, deep(MaxPathDepth + 1), "Nesting Levels"},
		{"a projection of one path", KindProjection, "s", ""},
		{"a projection of paths", KindProjection, "s, m.k, l[1], #c", ""},
		{"a projection of one path twice is refused", KindProjection, "s, s", "conflict"},
		{"a projection of overlapping paths is refused", KindProjection, "m, m.k", "overlap"},
		{"a projection of overlapping list paths is refused", KindProjection, "l[1].x, l[1]", "overlap"},
		{"a projection with a trailing comma is refused", KindProjection, "s,", "Syntax error"},
		{"a projection with a condition is refused", KindProjection, "s = :s", "Syntax error"},
		{"a projection with a reserved word is refused", KindProjection, "name", "reserved keyword"},
		{"every update clause", KindUpdate, "SET a = :n1 REMOVE b ADD c :n1 DELETE d :ss", ""},
		{"update clauses in any order and case", KindUpdate, "remove b set a = :n1", ""},
		{"a clause twice is refused", KindUpdate, "SET a = :n1 SET b = :n1", "only be used once"},
		{"two actions on one path are refused", KindUpdate, "SET a = :n1 REMOVE a", "conflict"},
		{"actions on overlapping paths are refused", KindUpdate, "SET a.b = :n1, a = :m", "overlap"},
		{"actions on a list and its element are refused", KindUpdate, "SET l[1] = :n1 REMOVE l", "overlap"},
		{"actions on two elements of one list are allowed", KindUpdate, "SET l[1] = :n1 REMOVE l[0]", ""},
		{"ADD of a string is refused", KindUpdate, "ADD a :s", "operator: ADD, operand type: S"},
		{"DELETE of a number is refused", KindUpdate, "DELETE a :n1", "operator: DELETE, operand type: N"},
		{"ADD of a path is refused", KindUpdate, "ADD a b", "Syntax error"},
		{"arithmetic on a string constant is refused", KindUpdate, "SET a = b + :s", "operand type: S"},
		{"list_append of a non-list constant is refused", KindUpdate, "SET a = list_append(a, :s)", "list_append, operand type: S"},
		{"a condition function is refused in SET", KindUpdate, "SET a = size(b)", "not allowed"},
		{"an update without clauses is refused", KindUpdate, "a = :n1", "Syntax error"},
		{"a clause without actions is refused", KindUpdate, "SET", "Syntax error"},
		{"an unknown clause is refused", KindUpdate, "PUT a = :n1", "Syntax error"},
		{"a SET without = is refused", KindUpdate, "SET a :n1", "Syntax error"},
		{"chained arithmetic is allowed", KindUpdate, "SET a = a + :n1 - :n5", ""},
		{"if_not_exists needs a path first", KindUpdate, "SET a = if_not_exists(:n1, :n1)", "Syntax error"},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			var err error
			switch tt.kind {
			case KindCondition:
				_, err = ParseCondition(tt.expr, attrs(t))
			case KindProjection:
				_, err = ParseProjection(tt.expr, attrs(t))
			case KindUpdate:
				_, err = ParseUpdate(tt.expr, attrs(t))
			}
			if tt.err == "" {
				if err != nil {
					t.Fatalf("%.80q: %v", tt.expr, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("%.80q: got %v; want ErrInvalid with %q", tt.expr, err, tt.err)
			}
		})
	}
}

func TestAttributes(t *testing.T) {
	t.Run("placeholders used by any expression of the request count", func(t *testing.T) {
		a, err := NewAttributes(map[string]string{"#a": "a", "#b": "b"}, map[string]item.Value{":v": num("1")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseCondition("#a = :v", a); err != nil {
			t.Fatal(err)
		}
		if err := a.Unused(); err == nil || !strings.Contains(err.Error(), "#b") {
			t.Fatalf("Unused = %v; want #b reported", err)
		}
		if _, err := ParseProjection("#b", a); err != nil {
			t.Fatal(err)
		}
		if err := a.Unused(); err != nil {
			t.Fatalf("Unused = %v", err)
		}
	})
	t.Run("an unused value is refused", func(t *testing.T) {
		a, _ := NewAttributes(nil, map[string]item.Value{":v": num("1"), ":w": num("2")})
		if _, err := ParseCondition("x = :v", a); err != nil {
			t.Fatal(err)
		}
		if err := a.Unused(); err == nil || !strings.Contains(err.Error(), ":w") {
			t.Fatalf("Unused = %v; want :w reported", err)
		}
	})
	tests := []struct {
		rule   string
		names  map[string]string
		values map[string]item.Value
	}{
		{"a name placeholder without # is refused", map[string]string{"n": "x"}, nil},
		{"a name placeholder of # alone is refused", map[string]string{"#": "x"}, nil},
		{"a name placeholder with a dash is refused", map[string]string{"#a-b": "x"}, nil},
		{"an empty name is refused", map[string]string{"#a": ""}, nil},
		{"a placeholder over 255 bytes is refused", map[string]string{"#" + strings.Repeat("a", MaxPlaceholderLength): "x"}, nil},
		{"a value placeholder without : is refused", nil, map[string]item.Value{"v": num("1")}},
		{"an invalid value is refused", nil, map[string]item.Value{":v": item.SS{}}},
		{"substitutions over 2 MB are refused", nil, map[string]item.Value{":a": item.S(strings.Repeat("a", MaxSubstitutionSize))}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			if _, err := NewAttributes(tt.names, tt.values); !errors.Is(err, ErrInvalid) {
				t.Fatalf("NewAttributes = %v; want ErrInvalid", err)
			}
		})
	}
	if _, err := NewAttributes(map[string]string{"#" + strings.Repeat("a", MaxPlaceholderLength-1): "x"}, nil); err != nil {
		t.Fatalf("a 255-byte placeholder: %v", err)
	}
}

func TestReservedWords(t *testing.T) {
	for _, w := range []string{"Comment", "NAME", "status", "size", "Year", "ttl"} {
		if !IsReserved(w) {
			t.Errorf("%s is reserved in DynamoDB", w)
		}
	}
	for _, w := range []string{"Price", "Id", "title", "colour"} {
		if IsReserved(w) {
			t.Errorf("%s is not reserved in DynamoDB", w)
		}
	}
}
