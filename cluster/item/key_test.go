package item

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// randBytes favours the bytes the escaping treats specially (0x00, 0x01,
// 0xFF) and short values, so that prefixes and escapes are common.
func randBytes(r *rand.Rand) []byte {
	n := r.IntN(6)
	if r.IntN(10) == 0 {
		n = r.IntN(64)
	}
	b := make([]byte, n)
	for i := range b {
		switch r.IntN(4) {
		case 0:
			b[i] = []byte{0x00, 0x01, 0xFF}[r.IntN(3)]
		default:
			b[i] = byte('a' + r.IntN(3))
		}
	}
	return b
}

func randKeyValue(r *rand.Rand, t Type) Value {
	switch t {
	case TypeS:
		return S(randBytes(r))
	case TypeB:
		return B(randBytes(r))
	}
	return randNumber(r)
}

func mustKey(t testing.TB, v Value) []byte {
	b, err := AppendKey(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKeyEncodingOrderAndRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, typ := range []Type{TypeS, TypeB, TypeN} {
		t.Run(string(typ), func(t *testing.T) {
			for range 20000 {
				a, b := randKeyValue(r, typ), randKeyValue(r, typ)
				ea, eb := mustKey(t, a), mustKey(t, b)
				// The encodings order as the values do.
				want, _ := Compare(a, b)
				if typ == TypeN {
					want = apdOf(t, a.(Number)).Cmp(apdOf(t, b.(Number)))
				}
				if got := bytes.Compare(ea, eb); got != want {
					t.Fatalf("encodings of %v and %v compare %d; the values compare %d", a, b, got, want)
				}
				// Decoding gives the value back and consumes exactly
				// its encoding.
				tail := []byte{0x00, 0xFF, 0x01}
				got, rest, err := DecodeKey(typ, append(bytes.Clone(ea), tail...))
				if err != nil || !Equal(got, a) || !bytes.Equal(rest, tail) {
					t.Fatalf("DecodeKey(encode(%v)) = %v, %x, %v", a, got, rest, err)
				}
			}
		})
	}
}

func TestKeyEncodingIsRefusedForOtherTypes(t *testing.T) {
	for _, v := range []Value{Bool(true), Null{}, L{}, M{}, SS{"a"}, nil} {
		if _, err := AppendKey(nil, v); err == nil {
			t.Errorf("AppendKey(%#v) encoded a value that is not S, N or B", v)
		}
	}
}

func TestDecodeKeyRefusesMalformed(t *testing.T) {
	tests := []struct {
		rule string
		typ  Type
		b    []byte
	}{
		{"a string without a terminator", TypeS, []byte("abc")},
		{"a string ending in a lone 0x00", TypeS, []byte("ab\x00")},
		{"0x00 followed by a byte that is neither escape nor terminator", TypeB, []byte("a\x00\x02\x00\x01")},
		{"an empty number", TypeN, nil},
		{"an unknown number tag", TypeN, []byte{0x09}},
		{"a number without digits", TypeN, []byte{numPositive, 0x80, numEndPos}},
		{"a number with a leading zero digit", TypeN, []byte{numPositive, 0x80, 1, 2, numEndPos}},
		{"a number with a trailing zero digit", TypeN, []byte{numPositive, 0x80, 2, 1, numEndPos}},
		{"a number with a digit byte above 9", TypeN, []byte{numPositive, 0x80, 12, numEndPos}},
		{"a number without its end", TypeN, []byte{numPositive, 0x80, 2}},
		{"a negative number with a positive end", TypeN, []byte{numNegative, 0x80, ^byte(2), numEndPos}},
		{"a key type that is not S, N or B", TypeBOOL, []byte{1}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			if v, _, err := DecodeKey(tt.typ, tt.b); !errors.Is(err, ErrKey) {
				t.Fatalf("DecodeKey(%x) = %v, %v; want ErrKey", tt.b, v, err)
			}
		})
	}
}

var schemas = []KeySchema{
	{Partition: KeyAttribute{"pk", TypeS}, Sort: KeyAttribute{"sk", TypeN}},
	{Partition: KeyAttribute{"pk", TypeB}, Sort: KeyAttribute{"sk", TypeS}},
	{Partition: KeyAttribute{"pk", TypeN}, Sort: KeyAttribute{"sk", TypeB}},
	{Partition: KeyAttribute{"pk", TypeS}},
}

func storageKey(t testing.TB, s KeySchema, pk, sk Value) []byte {
	it := Item{s.Partition.Name: pk}
	if s.HasSort() {
		it[s.Sort.Name] = sk
	}
	k, err := AppendStorageKey(nil, Key{Partition: pk, Sort: sk})
	if err != nil {
		t.Fatal(err)
	}
	back, err := s.ParseStorageKey(k)
	if err != nil || !EqualItems(s.Item(back), it) {
		t.Fatalf("ParseStorageKey(%x) = %v, %v; want %v", k, back, err, it)
	}
	return k
}

func TestPartitionRangeHoldsItsItemsOnly(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range schemas {
		for range 3000 {
			pk, other := randKeyValue(r, s.Partition.Type), randKeyValue(r, s.Partition.Type)
			var sk, osk Value
			if s.HasSort() {
				sk, osk = randKeyValue(r, s.Sort.Type), randKeyValue(r, s.Sort.Type)
			}
			rg, err := PartitionRange(pk)
			if err != nil {
				t.Fatal(err)
			}
			if k := storageKey(t, s, pk, sk); !rg.Contains(k) {
				t.Fatalf("%v: the range of %v does not hold its item %x", s, pk, k)
			}
			if k := storageKey(t, s, other, osk); rg.Contains(k) != Equal(pk, other) {
				t.Fatalf("%v: the range %x..%x of %v holds %x, an item of %v", s, rg.Lower, rg.Upper, pk, k, other)
			}
		}
	}
}

// TestSortRangeMatchesTheCondition checks every sort-key condition against
// a brute-force evaluation: the range holds exactly the items of the
// partition key whose sort key meets the condition.
func TestSortRangeMatchesTheCondition(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, s := range schemas[:3] {
		for range 300 {
			pk := randKeyValue(r, s.Partition.Type)
			var sks []Value
			for range 30 {
				sks = append(sks, randKeyValue(r, s.Sort.Type))
			}
			ops := []SortOp{SortAny, SortEQ, SortLT, SortLE, SortGT, SortGE, SortBetween}
			if s.Sort.Type != TypeN {
				ops = append(ops, SortBeginsWith)
			}
			for _, op := range ops {
				c := SortCondition{Op: op, Value: sks[r.IntN(len(sks))], Upper: sks[r.IntN(len(sks))]}
				if op == SortBeginsWith && r.IntN(2) == 0 {
					c.Value = randKeyValue(r, s.Sort.Type) // a prefix that may match none
				}
				if op == SortBetween {
					if cmp, _ := Compare(c.Value, c.Upper); cmp > 0 {
						c.Value, c.Upper = c.Upper, c.Value
					}
				}
				rg, err := SortRange(pk, c)
				if err != nil {
					t.Fatalf("SortRange(%v, %+v): %v", pk, c, err)
				}
				for _, sk := range sks {
					k := storageKey(t, s, pk, sk)
					if got, want := rg.Contains(k), meets(sk, c); got != want {
						t.Fatalf("%v %+v: range holds %v: %v, condition says %v", pk, c, sk, got, want)
					}
				}
			}
		}
	}
}

func meets(v Value, c SortCondition) bool {
	cmp, _ := Compare(v, c.Value)
	switch c.Op {
	case SortAny:
		return true
	case SortEQ:
		return cmp == 0
	case SortLT:
		return cmp < 0
	case SortLE:
		return cmp <= 0
	case SortGT:
		return cmp > 0
	case SortGE:
		return cmp >= 0
	case SortBetween:
		hi, _ := Compare(v, c.Upper)
		return cmp >= 0 && hi <= 0
	case SortBeginsWith:
		switch p := c.Value.(type) {
		case S:
			return bytes.HasPrefix([]byte(v.(S)), []byte(p))
		case B:
			return bytes.HasPrefix(v.(B), p)
		}
	}
	panic("unknown op")
}

func TestSortRangeRefusals(t *testing.T) {
	pk := S("p")
	tests := []struct {
		rule string
		c    SortCondition
	}{
		{"BETWEEN with the lower bound above the upper", SortCondition{Op: SortBetween, Value: MustNumber("5"), Upper: MustNumber("1")}},
		{"BETWEEN with bounds of two types", SortCondition{Op: SortBetween, Value: S("a"), Upper: MustNumber("1")}},
		{"begins_with on a number", SortCondition{Op: SortBeginsWith, Value: MustNumber("1")}},
		{"a comparison with a value that is not a key type", SortCondition{Op: SortLT, Value: Bool(true)}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			if rg, err := SortRange(pk, tt.c); err == nil {
				t.Fatalf("SortRange = %+v; want an error", rg)
			}
		})
	}
}

func TestRangeWithPrefix(t *testing.T) {
	rg, _ := PartitionRange(S("a"))
	p := []byte{0x00, 's', 0, 0, 0, 7}
	pr := rg.WithPrefix(p)
	k := append(slices.Clone(p), storageKey(t, schemas[0], S("a"), MustNumber("3"))...)
	if !pr.Contains(k) || rg.Contains(k) {
		t.Fatalf("prefixed range %x..%x and key %x", pr.Lower, pr.Upper, k)
	}
}

func FuzzDecodeKey(f *testing.F) {
	f.Add(byte(0), []byte("ab\x00\xffc\x00\x01"))
	f.Add(byte(2), mustKey(f, MustNumber("-12.5")))
	f.Add(byte(2), mustKey(f, MustNumber("1E+125")))
	f.Fuzz(func(t *testing.T, typ byte, b []byte) {
		ty := []Type{TypeS, TypeB, TypeN}[int(typ)%3]
		v, rest, err := DecodeKey(ty, b)
		if err != nil {
			return
		}
		// What decodes re-encodes to exactly the bytes consumed.
		enc := mustKey(t, v)
		if !bytes.Equal(enc, b[:len(b)-len(rest)]) {
			t.Fatalf("DecodeKey(%x) = %v; re-encoded %x", b, v, enc)
		}
	})
}

func TestRangeResumes(t *testing.T) {
	s := schemas[0]
	rg, err := SortRange(S("p"), SortCondition{Op: SortBetween, Value: MustNumber("2"), Upper: MustNumber("8")})
	if err != nil {
		t.Fatal(err)
	}
	key := func(n string) []byte { return storageKey(t, s, S("p"), MustNumber(n)) }
	tests := []struct {
		rule string
		r    Range
		in   []string
		out  []string
	}{
		{"After leaves out the key and everything below it", rg.After(key("5")), []string{"5.0001", "8"}, []string{"2", "5", "4.9"}},
		{"After a key below the range keeps the range", rg.After(key("1")), []string{"2", "8"}, []string{"1", "8.5"}},
		{"After the range's last key leaves it empty", rg.After(key("8")), nil, []string{"2", "8"}},
		{"Before leaves out the key and everything above it", rg.Before(key("5")), []string{"2", "4.9999"}, []string{"5", "8"}},
		{"Before a key above the range keeps the range", rg.Before(key("9")), []string{"2", "8"}, []string{"9"}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			for _, n := range tt.in {
				if !tt.r.Contains(key(n)) {
					t.Errorf("%s is not in the range", n)
				}
			}
			for _, n := range tt.out {
				if tt.r.Contains(key(n)) {
					t.Errorf("%s is in the range", n)
				}
			}
		})
	}
	if !rg.After(key("8")).Empty() {
		t.Error("a range resumed after its last key is not empty")
	}
}
