package item

import (
	"errors"
	"strings"
	"testing"
)

// nest wraps v in depth lists, alternating with maps.
func nest(v Value, depth int) Value {
	for i := range depth {
		if i%2 == 0 {
			v = L{v}
		} else {
			v = M{"m": v}
		}
	}
	return v
}

func TestValidate(t *testing.T) {
	tests := []struct {
		rule string
		v    Value
		ok   bool
	}{
		{"an empty string is allowed outside keys", S(""), true},
		{"an empty binary is allowed outside keys", B{}, true},
		{"an empty list is allowed", L{}, true},
		{"an empty map is allowed", M{}, true},
		{"an empty string set is refused", SS{}, false},
		{"an empty number set is refused", NS{}, false},
		{"an empty binary set is refused", BS{}, false},
		{"a string set with a duplicate is refused", SS{"a", "b", "a"}, false},
		{"a number set with numerically equal elements is refused", NS{MustNumber("1.5"), MustNumber("1.50")}, false},
		{"a number set of distinct numbers is allowed", NS{MustNumber("1.5"), MustNumber("15")}, true},
		{"a binary set with a duplicate is refused", BS{{1}, {1}}, false},
		{"a string that is not UTF-8 is refused", S("\xff"), false},
		{"a string set element that is not UTF-8 is refused", SS{"\xff"}, false},
		{"a map with an empty key is refused", M{"": S("x")}, false},
		{"a map key of 65535 bytes is allowed", M{strings.Repeat("k", MaxAttributeNameSize): S("x")}, true},
		{"a map key of 65536 bytes is refused", M{strings.Repeat("k", MaxAttributeNameSize+1): S("x")}, false},
		{"an empty string in a string set is allowed", SS{"", "a"}, true},
		{"an empty binary in a binary set is allowed", BS{{}, {1}}, true},
		{"an empty string and a list of empty values are allowed", L{S(""), B{}, M{}}, true},
		{"a nil element is refused", L{nil}, false},
		{"a scalar in 31 nested lists and maps is 32 levels deep: allowed", nest(S("x"), MaxDepth-1), true},
		{"an empty map in 31 nested lists and maps is 32 levels deep: allowed", nest(M{}, MaxDepth-1), true},
		{"a scalar in 32 nested lists and maps is 33 levels deep: refused", nest(S("x"), MaxDepth), false},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			if err := Validate(tt.v); (err == nil) != tt.ok {
				t.Fatalf("Validate(%#v) = %v", tt.v, err)
			}
		})
	}
}

func TestSize(t *testing.T) {
	tests := []struct {
		rule string
		it   Item
		want int
	}{
		// The developer guide's example ("Constraints", item size).
		{"names and string values count their UTF-8 bytes", Item{"shirt-color": S("R"), "shirt-size": S("M")}, 23},
		{"a multi-byte character counts its bytes", Item{"é": S("日本")}, 2 + 6},
		{"a number is one byte per two significant digits plus one", Item{"n": MustNumber("12345")}, 1 + 3 + 1},
		{"leading and trailing zeros of a number are not counted", Item{"n": MustNumber("0012300")}, 1 + 2 + 1},
		{"a binary counts its raw bytes", Item{"b": B{1, 2, 3}}, 1 + 3},
		{"BOOL and NULL are one byte", Item{"t": Bool(true), "z": Null{}}, 2 + 2},
		{"an empty list is 3 bytes", Item{"l": L{}}, 1 + 3},
		{"a list element costs 1 byte plus its size", Item{"l": L{S("ab"), Bool(false)}}, 1 + 3 + (1 + 2) + (1 + 1)},
		{"a map element costs 1 byte plus its name and size", Item{"m": M{"k": S("v")}}, 1 + 3 + (1 + 1 + 1)},
		{"a set is the sum of its elements", Item{"s": SS{"a", "bc"}, "n": NS{MustNumber("1"), MustNumber("123")}}, (1 + 3) + (1 + 2 + 3)},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			if got := Size(tt.it); got != tt.want {
				t.Fatalf("Size = %d; want %d", got, tt.want)
			}
		})
	}
}

func TestValidateItem(t *testing.T) {
	s := KeySchema{Partition: KeyAttribute{"pk", TypeS}, Sort: KeyAttribute{"sk", TypeN}}
	one := MustNumber("1")
	// big has exactly MaxItemSize bytes: names "pk", "sk", "x" and the values.
	bigPad := MaxItemSize - (2 + 1) - (2 + one.size()) - 1
	tests := []struct {
		rule string
		it   Item
		want string // part of the error; "" when valid
	}{
		{"an item with both keys is valid", Item{"pk": S("a"), "sk": one, "x": S("y")}, ""},
		{"a missing partition key is refused", Item{"sk": one}, "Missing the key"},
		{"a missing sort key is refused", Item{"pk": S("a")}, "Missing the key"},
		{"a key of another type is refused", Item{"pk": MustNumber("1"), "sk": one}, "Type mismatch"},
		{"an empty string key is refused", Item{"pk": S(""), "sk": one}, "empty"},
		{"a partition key of 2048 bytes is allowed", Item{"pk": S(strings.Repeat("a", MaxPartitionKeySize)), "sk": one}, ""},
		{"a partition key of 2049 bytes is refused", Item{"pk": S(strings.Repeat("a", MaxPartitionKeySize+1)), "sk": one}, "2048"},
		{"an item of exactly 400 KB is allowed", Item{"pk": S("a"), "sk": one, "x": S(strings.Repeat("a", bigPad))}, ""},
		{"an item one byte over 400 KB is refused", Item{"pk": S("a"), "sk": one, "x": S(strings.Repeat("a", bigPad+1))}, "maximum allowed size"},
		{"an invalid value is refused", Item{"pk": S("a"), "sk": one, "x": SS{}}, "may not be empty"},
		{"an empty attribute name is refused", Item{"pk": S("a"), "sk": one, "": S("y")}, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			err := s.ValidateItem(tt.it)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("ValidateItem = %v; want %q", err, tt.want)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("%v is not ErrInvalid", err)
			}
		})
	}
	sortSchema := KeySchema{Partition: KeyAttribute{"pk", TypeS}, Sort: KeyAttribute{"sk", TypeB}}
	t.Run("a sort key of 1024 bytes is allowed, 1025 refused", func(t *testing.T) {
		if err := sortSchema.ValidateItem(Item{"pk": S("a"), "sk": B(make([]byte, MaxSortKeySize))}); err != nil {
			t.Fatal(err)
		}
		if err := sortSchema.ValidateItem(Item{"pk": S("a"), "sk": B(make([]byte, MaxSortKeySize+1))}); err == nil || !strings.Contains(err.Error(), "1024") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestKeySchemaCheck(t *testing.T) {
	tests := []struct {
		rule string
		s    KeySchema
		ok   bool
	}{
		{"a partition key alone is valid", KeySchema{Partition: KeyAttribute{"id", TypeN}}, true},
		{"partition and sort keys are valid", KeySchema{Partition: KeyAttribute{"id", TypeB}, Sort: KeyAttribute{"ts", TypeS}}, true},
		{"a key of type BOOL is refused", KeySchema{Partition: KeyAttribute{"id", TypeBOOL}}, false},
		{"an unnamed partition key is refused", KeySchema{Partition: KeyAttribute{"", TypeS}}, false},
		{"two keys of one name are refused", KeySchema{Partition: KeyAttribute{"id", TypeS}, Sort: KeyAttribute{"id", TypeS}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			if err := tt.s.Check(); (err == nil) != tt.ok {
				t.Fatalf("Check = %v", err)
			}
		})
	}
}

func TestEqualAndCompare(t *testing.T) {
	tests := []struct {
		rule  string
		a, b  Value
		equal bool
		cmp   int
		cmpOK bool
	}{
		{"strings compare by bytes", S("a"), S("b"), false, -1, true},
		{"upper case sorts before lower case (UTF-8 bytes)", S("Z"), S("a"), false, -1, true},
		{"numbers compare by value", MustNumber("10"), MustNumber("9"), false, 1, true},
		{"equal numbers in different forms are equal", MustNumber("1.0"), MustNumber("1"), true, 0, true},
		{"binaries compare by bytes", B{0xFF}, B{0x00, 0x01}, false, 1, true},
		{"a string and a number do not compare", S("1"), MustNumber("1"), false, 0, false},
		{"BOOLs are equal but not ordered", Bool(true), Bool(true), true, 0, false},
		{"NULLs are equal", Null{}, Null{}, true, 0, false},
		{"sets are equal regardless of order", SS{"a", "b"}, SS{"b", "a"}, true, 0, false},
		{"number sets compare numerically", NS{MustNumber("1"), MustNumber("2.0")}, NS{MustNumber("2"), MustNumber("1.00")}, true, 0, false},
		{"binary sets are equal regardless of order", BS{{1}, {2}}, BS{{2}, {1}}, true, 0, false},
		{"lists are ordered", L{S("a"), S("b")}, L{S("b"), S("a")}, false, 0, false},
		{"maps are equal by their entries", M{"a": L{Null{}}, "b": S("x")}, M{"b": S("x"), "a": L{Null{}}}, true, 0, false},
		{"maps with different entries differ", M{"a": S("x")}, M{"a": S("y")}, false, 0, false},
		{"a missing value is not equal to anything", nil, nil, false, 0, false},
		{"a list and a set differ", L{S("a")}, SS{"a"}, false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			if got := Equal(tt.a, tt.b); got != tt.equal {
				t.Errorf("Equal = %v", got)
			}
			if got := Equal(tt.b, tt.a); got != tt.equal {
				t.Errorf("Equal (swapped) = %v", got)
			}
			c, ok := Compare(tt.a, tt.b)
			if ok != tt.cmpOK || c != tt.cmp {
				t.Errorf("Compare = %d, %v; want %d, %v", c, ok, tt.cmp, tt.cmpOK)
			}
		})
	}
}
