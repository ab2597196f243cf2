package item

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/harmoniakv/harmonia/messages/itempb"
	"google.golang.org/protobuf/proto"
)

// randValue is a random valid value of any type, nested up to depth.
func randValue(r *rand.Rand, depth int) Value {
	n := 10
	if depth <= 0 {
		n = 5 // scalars only
	}
	switch []Type{TypeS, TypeN, TypeB, TypeBOOL, TypeNULL, TypeSS, TypeNS, TypeBS, TypeL, TypeM}[r.IntN(n)] {
	case TypeS:
		return S(randBytes(r)).validUTF8()
	case TypeN:
		return randNumber(r)
	case TypeB:
		return B(randBytes(r))
	case TypeBOOL:
		return Bool(r.IntN(2) == 0)
	case TypeNULL:
		return Null{}
	case TypeSS:
		return SS{"x", string(S(randBytes(r)).validUTF8()) + "y"}
	case TypeNS:
		a := randNumber(r)
		b, err := a.Add(MustNumber("1"))
		if err != nil {
			return NS{a}
		}
		return NS{b, a}
	case TypeBS:
		return BS{randBytes(r), append(randBytes(r), 0xFE, 0xFE, 0xFE, 0xFE, 0xFE, 0xFE)}
	case TypeL:
		l := L{}
		for range r.IntN(4) {
			l = append(l, randValue(r, depth-1))
		}
		return l
	}
	m := M{}
	for range r.IntN(4) {
		m[string(S(randBytes(r)).validUTF8())+"k"] = randValue(r, depth-1)
	}
	return m
}

func (s S) validUTF8() S { return S(strings.ToValidUTF8(string(s), "?")) }

func TestJSONRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for range 3000 {
		v := randValue(r, 4)
		b, err := EncodeJSON(v)
		if err != nil {
			t.Fatalf("EncodeJSON(%#v): %v", v, err)
		}
		back, err := DecodeJSON(b)
		if err != nil || !Equal(back, v) {
			t.Fatalf("DecodeJSON(%s) = %#v, %v; want %#v", b, back, err, v)
		}
	}
}

func TestProtoRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for range 3000 {
		it := Item{"a": randValue(r, 4), "b": randValue(r, 2)}
		b, err := proto.Marshal(ItemToProto(it))
		if err != nil {
			t.Fatal(err)
		}
		var pb itempb.Item
		if err := proto.Unmarshal(b, &pb); err != nil {
			t.Fatal(err)
		}
		back, err := ItemFromProto(&pb)
		if err != nil || !EqualItems(back, it) {
			t.Fatalf("ItemFromProto = %#v, %v; want %#v", back, err, it)
		}
	}
}

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		rule string
		in   string
		want Value  // when valid
		err  string // part of the error when refused
	}{
		{"a string", `{"S":"héllo"}`, S("héllo"), ""},
		{"a number keeps its value", `{"N":"-1.50"}`, MustNumber("-1.5"), ""},
		{"a binary is base64", `{"B":"AAEC"}`, B{0, 1, 2}, ""},
		{"BOOL", `{"BOOL":false}`, Bool(false), ""},
		{"NULL true", `{"NULL":true}`, Null{}, ""},
		{"a list of mixed types", `{"L":[{"S":"a"},{"N":"1"},{"L":[]}]}`, L{S("a"), MustNumber("1"), L{}}, ""},
		{"a map", `{"M":{"a":{"BOOL":true},"b":{"M":{}}}}`, M{"a": Bool(true), "b": M{}}, ""},
		{"a string set", `{"SS":["b","a"]}`, SS{"a", "b"}, ""},
		{"a number set", `{"NS":["10","9.5"]}`, NS{MustNumber("9.5"), MustNumber("10")}, ""},
		{"a binary set", `{"BS":["AQ==","Ag=="]}`, BS{{1}, {2}}, ""},
		{"an empty object has no type", `{}`, nil, "empty"},
		{"two type keys are refused", `{"S":"a","N":"1"}`, nil, "more than one"},
		{"the same type key twice is refused", `{"S":"a","S":"b"}`, nil, "more than one"},
		{"an unknown type key is refused", `{"X":"a"}`, nil, "unknown type"},
		{"a lower-case type key is refused", `{"s":"a"}`, nil, "unknown type"},
		{"a number given as a JSON number is refused", `{"N":1}`, nil, "string"},
		{"a number with 39 digits is refused", `{"N":"` + strings.Repeat("1", 39) + `"}`, nil, "38"},
		{"a number that is not a number is refused", `{"N":"1x"}`, nil, "cannot be converted into a number"},
		{"NULL false is refused", `{"NULL":false}`, nil, "true"},
		{"BOOL as a string is refused", `{"BOOL":"true"}`, nil, "boolean"},
		{"invalid base64 is refused", `{"B":"!!"}`, nil, "base64"},
		{"an empty string set is refused", `{"SS":[]}`, nil, "empty"},
		{"a string set with duplicates is refused", `{"SS":["a","a"]}`, nil, "duplicates"},
		{"a number set with numerically equal elements is refused", `{"NS":["1","1.0"]}`, nil, "duplicates"},
		{"a set of non-strings is refused", `{"SS":[1]}`, nil, "string"},
		{"a map with a duplicate name is refused", `{"M":{"a":{"NULL":true},"a":{"NULL":true}}}`, nil, "twice"},
		{"a list element that is not an AttributeValue is refused", `{"L":["a"]}`, nil, "object"},
		{"data after the value is refused", `{"S":"a"} {"S":"b"}`, nil, "after"},
		{"truncated JSON is refused", `{"S":"a"`, nil, "end"},
		{"a bare string is refused", `"a"`, nil, "object"},
		{"a value 33 levels deep is refused", strings.Repeat(`{"L":[`, MaxDepth) + `{"NULL":true}` + strings.Repeat(`]}`, MaxDepth), nil, "nesting"},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			v, err := DecodeJSON([]byte(tt.in))
			if tt.err == "" {
				if err != nil || !Equal(v, tt.want) {
					t.Fatalf("DecodeJSON = %#v, %v; want %#v", v, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), tt.err) {
				t.Fatalf("DecodeJSON = %#v, %v; want an error with %q", v, err, tt.err)
			}
		})
	}
	t.Run("a value 32 levels deep is accepted", func(t *testing.T) {
		in := strings.Repeat(`{"L":[`, MaxDepth-1) + `{"NULL":true}` + strings.Repeat(`]}`, MaxDepth-1)
		if _, err := DecodeJSON([]byte(in)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDecodeJSONItem(t *testing.T) {
	it, err := DecodeJSONItem([]byte(`{"Id":{"N":"789"},"Tags":{"SS":["x"]}}`))
	if err != nil || !EqualItems(it, Item{"Id": MustNumber("789"), "Tags": SS{"x"}}) {
		t.Fatalf("got %v, %v", it, err)
	}
	for rule, in := range map[string]string{
		"a duplicate attribute is refused":    `{"a":{"NULL":true},"a":{"NULL":true}}`,
		"an empty attribute name is refused":  `{"":{"NULL":true}}`,
		"an item that is an array is refused": `[]`,
		"a bad value names its attribute":     `{"price":{"N":"x"}}`,
	} {
		if _, err := DecodeJSONItem([]byte(in)); err == nil {
			t.Errorf("%s: %s decoded", rule, in)
		}
	}
	if _, err := DecodeJSONItem([]byte(`{"price":{"N":"x"}}`)); err == nil || !strings.Contains(err.Error(), "price") {
		t.Errorf("error %v does not name the attribute", err)
	}
}

func TestFromProtoRefusesMalformed(t *testing.T) {
	deep := ToProto(nest(Null{}, MaxDepth))
	tests := []struct {
		rule string
		pb   *itempb.AttributeValue
	}{
		{"no type set", &itempb.AttributeValue{}},
		{"a nil message", nil},
		{"NULL false", &itempb.AttributeValue{Value: &itempb.AttributeValue_Null{Null: false}}},
		{"a malformed number", &itempb.AttributeValue{Value: &itempb.AttributeValue_N{N: "1..2"}}},
		{"a number out of range", &itempb.AttributeValue{Value: &itempb.AttributeValue_N{N: "1E+200"}}},
		{"an empty string set", &itempb.AttributeValue{Value: &itempb.AttributeValue_Ss{Ss: &itempb.StringSet{}}}},
		{"a nil number set", &itempb.AttributeValue{Value: &itempb.AttributeValue_Ns{}}},
		{"a number set with equal numbers", &itempb.AttributeValue{Value: &itempb.AttributeValue_Ns{Ns: &itempb.NumberSet{Values: []string{"2", "2.00"}}}}},
		{"a binary set with duplicates", &itempb.AttributeValue{Value: &itempb.AttributeValue_Bs{Bs: &itempb.BinarySet{Values: [][]byte{{1}, {1}}}}}},
		{"a list with an unset element", &itempb.AttributeValue{Value: &itempb.AttributeValue_L{L: &itempb.ListValue{Values: []*itempb.AttributeValue{{}}}}}},
		{"a map with an empty name", &itempb.AttributeValue{Value: &itempb.AttributeValue_M{M: &itempb.MapValue{Values: map[string]*itempb.AttributeValue{"": ToProto(Null{})}}}}},
		{"a value 33 levels deep", deep},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			if v, err := FromProto(tt.pb); err == nil {
				t.Fatalf("FromProto = %#v; want an error", v)
			}
		})
	}
	if _, err := FromProto(ToProto(nest(Null{}, MaxDepth-1))); err != nil {
		t.Fatalf("a value 32 levels deep refused: %v", err)
	}
	if _, err := ItemFromProto(&itempb.Item{Attributes: map[string]*itempb.AttributeValue{"a": {}}}); !errors.Is(err, ErrProto) {
		t.Fatalf("an item with an unset value: %v", err)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"S":"x"}`, `{"N":"-1.5e10"}`, `{"B":"AAE="}`, `{"BOOL":true}`, `{"NULL":true}`,
		`{"L":[{"S":"a"},{"M":{"k":{"NS":["1","2"]}}}]}`, `{"SS":["a","b"]}`, `{"BS":["AA=="]}`,
		`{"M":{"a":{"L":[]}}}`, `{"S":"a","N":"1"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := DecodeJSON(data)
		if err != nil {
			return
		}
		// What decodes encodes, and decodes again to an equal value.
		b, err := EncodeJSON(v)
		if err != nil {
			t.Fatalf("EncodeJSON(%#v): %v", v, err)
		}
		back, err := DecodeJSON(b)
		if err != nil || !Equal(back, v) {
			t.Fatalf("%s decoded to %#v, encoded to %s, decoded again to %#v, %v", data, v, b, back, err)
		}
		// The protobuf form carries it too.
		if pv, err := FromProto(ToProto(v)); err != nil || !Equal(pv, v) {
			t.Fatalf("proto round trip of %#v: %#v, %v", v, pv, err)
		}
	})
}

func FuzzFromProto(f *testing.F) {
	for _, v := range []Value{S("x"), MustNumber("3.25"), L{M{"a": NS{MustNumber("1")}}}, BS{{1}}, Null{}} {
		b, _ := proto.Marshal(ToProto(v))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var pb itempb.AttributeValue
		if proto.Unmarshal(data, &pb) != nil {
			return
		}
		v, err := FromProto(&pb)
		if err != nil {
			return
		}
		if err := Validate(v); err != nil {
			t.Fatalf("FromProto accepted an invalid value %#v: %v", v, err)
		}
		back, err := FromProto(ToProto(v))
		if err != nil || !Equal(back, v) {
			t.Fatalf("round trip of %#v: %#v, %v", v, back, err)
		}
	})
}

func TestJSONInStructs(t *testing.T) {
	type request struct {
		Item   ItemJSON             `json:"Item"`
		Values map[string]ValueJSON `json:"ExpressionAttributeValues"`
		Start  ItemJSON             `json:"ExclusiveStartKey"`
	}
	var r request
	in := `{"Item":{"pk":{"S":"a"},"n":{"N":"01.50"}},"ExpressionAttributeValues":{":v":{"SS":["y","x"]}},"ExclusiveStartKey":null}`
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	if !EqualItems(Item(r.Item), Item{"pk": S("a"), "n": MustNumber("1.5")}) || !Equal(r.Values[":v"].Value, SS{"x", "y"}) || r.Start != nil {
		t.Fatalf("decoded %#v", r)
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Item":{"n":{"N":"1.5"},"pk":{"S":"a"}},"ExpressionAttributeValues":{":v":{"SS":["x","y"]}},"ExclusiveStartKey":{}}`
	if string(out) != want {
		t.Fatalf("encoded %s; want %s", out, want)
	}
	t.Run("an invalid value inside a struct is an error", func(t *testing.T) {
		err := json.Unmarshal([]byte(`{"Item":{"pk":{"N":"x"}}}`), &r)
		if !errors.Is(err, ErrNumber) {
			t.Fatalf("got %v; want ErrNumber", err)
		}
	})
}
