package item

import (
	"bytes"
	"slices"
	"testing"

	"github.com/harmoniakv/harmonia/messages/itempb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// slowDecode is what DecodeItem must answer: protobuf's decoding and
// ItemFromProto.
func slowDecode(b []byte) (Item, error) {
	var pb itempb.Item
	if err := proto.Unmarshal(b, &pb); err != nil {
		return nil, err
	}
	return ItemFromProto(&pb)
}

func TestDecodeItemReadsWhatProtobufReads(t *testing.T) {
	enc := func(it Item) []byte {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(ItemToProto(it))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	every := Item{"s": S("x"), "empty": S(""), "n": MustNumber("-12.5e3"), "b": B{0, 1}, "nob": B{}, "t": Bool(true), "f": Bool(false), "null": Null{},
		"l": L{S("a"), L{}, M{"k": NS{MustNumber("2"), MustNumber("1")}}}, "m": M{"inner": M{}, "x": BS{{2}, {1}}}, "ss": SS{"b", "a"}}
	deep := Value(S("bottom"))
	for range MaxDepth - 1 {
		deep = L{deep}
	}
	tooDeep := L{deep}
	for _, tc := range []struct {
		rule   string
		b      []byte
		direct bool // read without protobuf's decoding
	}{
		{"every type is read directly", enc(every), true},
		{"an empty item is read directly", enc(Item{}), true},
		{"values nested to the deepest level are read directly", enc(Item{"d": deep}), true},
		{"values nested too deep are refused, as ItemFromProto refuses them", enc(Item{"d": tooDeep}), false},
		{"a key given twice is left to protobuf (the last one wins there)", append(enc(Item{"a": S("1")}), enc(Item{"a": S("2")})...), false},
		{"an unknown field is left to protobuf", protowire.AppendVarint(protowire.AppendTag(enc(Item{"a": S("1")}), 9, protowire.VarintType), 1), false},
		{"NULL false is refused", []byte{0x0a, 0x07, 0x0a, 0x01, 'a', 0x12, 0x02, 0x28, 0x00}, false},
		{"a value with no type is refused", []byte{0x0a, 0x05, 0x0a, 0x01, 'a', 0x12, 0x00}, false},
		{"a malformed number is refused", []byte{0x0a, 0x08, 0x0a, 0x01, 'a', 0x12, 0x03, 0x12, 0x01, 'x'}, false},
		{"truncated bytes are refused", enc(every)[:10], false},
		{"a string that is not UTF-8 is refused", []byte{0x0a, 0x08, 0x0a, 0x01, 'a', 0x12, 0x03, 0x0a, 0x01, 0xff}, false},
		{"a set with duplicates inside a map is refused", enc(Item{"m": M{"x": SS{"a", "a"}}}), false},
		{"an empty set inside a list is refused", enc(Item{"l": L{NS{}}}), false},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			direct, ok := new(Decoder).readItem(tc.b)
			if ok != tc.direct {
				t.Fatalf("read directly: %v, want %v", ok, tc.direct)
			}
			got, err := DecodeItem(tc.b)
			want, werr := slowDecode(tc.b)
			if (err == nil) != (werr == nil) || (err == nil && !EqualItems(got, want)) {
				t.Fatalf("DecodeItem = %v, %v; protobuf and ItemFromProto: %v, %v", got, err, want, werr)
			}
			if ok && !EqualItems(direct, want) {
				t.Fatalf("read directly %v, protobuf %v", direct, want)
			}
		})
	}
}

// Whatever the bytes, DecodeItem answers as protobuf and ItemFromProto
// do, and never panics.
func FuzzDecodeItem(f *testing.F) {
	for _, it := range []Item{{"a": S("x")}, {"n": MustNumber("3.25"), "l": L{M{"a": NS{MustNumber("1")}}}, "bs": BS{{1}}, "z": Null{}, "t": Bool(true)}} {
		b, _ := proto.Marshal(ItemToProto(it))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := DecodeItem(b)
		want, werr := slowDecode(b)
		if (err == nil) != (werr == nil) || (err == nil && !EqualItems(got, want)) {
			t.Fatalf("DecodeItem = %v, %v; protobuf and ItemFromProto: %v, %v", got, err, want, werr)
		}
		// A Decoder that has seen the item's names answers the same, and
		// so does one sharing the bytes.
		d := &Decoder{}
		for range 2 {
			if got, err = d.DecodeItem(b); (err == nil) != (werr == nil) || (err == nil && !EqualItems(got, want)) {
				t.Fatalf("Decoder.DecodeItem = %v, %v; protobuf and ItemFromProto: %v, %v", got, err, want, werr)
			}
		}
		shared := slices.Clone(b)
		d.Share(shared)
		if got, err = d.DecodeItem(shared); (err == nil) != (werr == nil) || (err == nil && !EqualItems(got, want)) {
			t.Fatalf("Decoder.DecodeItem sharing = %v, %v; protobuf and ItemFromProto: %v, %v", got, err, want, werr)
		}
	})
}

// A Decoder sharing a page's bytes answers the items as copying does;
// its strings do not change when the bytes do, and appending to one of
// its binaries writes over nothing else.
func TestDecoderShare(t *testing.T) {
	it := Item{"s": S("text"), "n": MustNumber("1700"), "b": B("bytes"), "after": S("next"),
		"ss": SS{"x", "y"}, "bs": BS{{1}, {2}}, "l": L{S("in a list"), B("bin")}, "m": M{"k": NS{MustNumber("-0.5"), MustNumber("12")}}}
	enc, err := proto.Marshal(ItemToProto(it))
	if err != nil {
		t.Fatal(err)
	}
	buf := slices.Clone(enc)
	var d Decoder
	d.Share(buf)
	got, err := d.DecodeItem(buf)
	if err != nil || !EqualItems(got, it) {
		t.Fatalf("shared decode: %v, %v; want %v", got, err, it)
	}
	_ = append(got["b"].(B), "more"...)
	_ = append(got["bs"].(BS)[0], 9, 9, 9)
	if !bytes.Equal(buf, enc) {
		t.Fatal("appending to a shared binary wrote over the page")
	}
	clear(buf)
	if got["s"] != S("text") || got["after"] != S("next") || got["ss"].(SS)[1] != "y" || !Equal(got["n"], MustNumber("1700")) {
		t.Fatalf("strings changed with the page: %v", got)
	}
	// Bytes that are not the shared ones are copied.
	other := slices.Clone(enc)
	d.Share(buf)
	got, err = d.DecodeItem(other)
	if err != nil || !EqualItems(got, it) {
		t.Fatalf("decode of other bytes: %v, %v", got, err)
	}
	clear(other)
	if !EqualItems(got, it) {
		t.Fatalf("the items of bytes not shared changed with them: %v", got)
	}
}

func BenchmarkDecodeItem(b *testing.B) {
	it := Item{"user": S("user-00000042"), "at": MustNumber("17"), "v": B(make([]byte, 100))}
	enc, _ := proto.Marshal(ItemToProto(it))
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			if _, err := DecodeItem(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decoder", func(b *testing.B) {
		var d Decoder
		for b.Loop() {
			if _, err := d.DecodeItem(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("shared", func(b *testing.B) {
		var d Decoder
		for b.Loop() {
			d.Share(enc)
			if _, err := d.DecodeItem(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protobuf", func(b *testing.B) {
		for b.Loop() {
			if _, err := slowDecode(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
