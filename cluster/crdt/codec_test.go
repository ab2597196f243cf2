package crdt

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

func TestEncodeRoundTrip(t *testing.T) {
	for _, k := range allKinds {
		for _, s := range pool(t, 5, k) {
			b := Encode(s)
			got, err := Decode(b, DefaultLimits)
			if err != nil {
				t.Fatalf("%s: decode %x: %v", k, b, err)
			}
			if !same(got, s) || !Leq(got, s) || !Leq(s, got) {
				t.Fatalf("%s: round trip changed the state", k)
			}
			cb := EncodeContext(s.Context())
			c, err := DecodeContext(cb, DefaultLimits)
			if err != nil {
				t.Fatalf("%s: decode context %x: %v", k, cb, err)
			}
			if !c.Descends(s.Context()) || !s.Context().Descends(c) {
				t.Fatalf("%s: context round trip changed %v to %v", k, s.Context(), c)
			}
		}
	}
}

// enc builds encodings by hand. Its methods return a new slice, so a prefix
// can be extended in two ways.
type enc []byte

// u appends uvarints.
func (e enc) u(ns ...uint64) enc {
	e = slices.Clip(e)
	for _, n := range ns {
		e = binary.AppendUvarint(e, n)
	}
	return e
}

// s appends a length-prefixed string.
func (e enc) s(str string) enc { return append(e.u(uint64(len(str))), str...) }

// raw appends bytes.
func (e enc) raw(bs ...byte) enc { return append(slices.Clip(e), bs...) }

// head is a state header with actors a/1 and b/1.
func head() enc { return enc{stateTag, formatVersion}.u(2).s("a").u(1).s("b").u(1) }

func TestDecodeRefuses(t *testing.T) {
	// A valid set {x} whose one add is a/1:1.
	setOnlyA := enc{stateTag, formatVersion}.u(1).s("a").u(1).u(1, 0, 1, 0).raw(byte(KindSet)).u(1).s("x").u(1, 0, 1)
	noActors := enc{stateTag, formatVersion}.u(0, 0, 0)
	tight := Limits{MaxDepth: 1, MaxElements: 1, MaxBytes: 64, Headroom: 1}
	tests := []struct {
		rule string
		b    []byte
		lim  Limits
		want error
	}{
		{"empty input", nil, DefaultLimits, ErrMalformed},
		{"a context where a state is expected", enc{contextTag, formatVersion}.u(0, 0, 0), DefaultLimits, ErrMalformed},
		{"an unknown format version", enc{stateTag, formatVersion + 1}.u(0, 0, 0, 0), DefaultLimits, ErrMalformed},
		{"a trailing byte", append(setOnlyA.raw(), 0), DefaultLimits, ErrMalformed},
		{"an unused actor", head().u(1, 0, 1, 0).raw(byte(KindSet)).u(1).s("x").u(1, 0, 1), DefaultLimits, ErrMalformed},
		{"actors out of order", enc{stateTag, formatVersion}.u(2).s("b").u(1).s("a").u(1).u(0, 0, 0), DefaultLimits, ErrMalformed},
		{"an actor index out of range", head().u(1, 2, 1), DefaultLimits, ErrMalformed},
		{"a dot with counter 0", head().u(1, 0, 0), DefaultLimits, ErrMalformed},
		{"clock entries out of order", head().u(2, 1, 1, 0, 1, 0, 0), DefaultLimits, ErrMalformed},
		{"a cloud dot right after the clock", head().u(1, 0, 1, 2, 0, 2, 1, 1), DefaultLimits, ErrMalformed},
		{"a cloud dot the clock covers", head().u(1, 0, 2, 2, 0, 1, 1, 1), DefaultLimits, ErrMalformed},
		{"a dot outside the context", enc{stateTag, formatVersion}.u(1).s("a").u(1).u(1, 0, 1, 0).raw(byte(KindSet)).u(1).s("x").u(1, 0, 2), DefaultLimits, ErrMalformed},
		{"an overlong varint", append(enc{stateTag, formatVersion, 0x81, 0x00}.s("a").u(1, 0, 0), 0), DefaultLimits, ErrMalformed},
		{"set elements out of order", setElems2("y", "x"), DefaultLimits, ErrMalformed},
		{"a duplicate set element", setElems2("x", "x"), DefaultLimits, ErrMalformed},
		{"a set element without a dot", setOnlyA.raw()[:len(setOnlyA)-3].u(0), DefaultLimits, ErrMalformed},
		{"an empty map field", head().u(0, 0).raw(byte(KindMap)).u(1).s("f").raw(byte(KindFlag)).u(0), DefaultLimits, ErrMalformed},
		{"a map field of unknown kind", head().u(0, 0).raw(byte(KindMap)).u(1).s("f").raw(0).u(0), DefaultLimits, ErrMalformed},
		{"an unknown kind", head().u(0, 0).raw(9), DefaultLimits, ErrMalformed},
		{"a count beyond the bytes left", head().u(0, 0).raw(byte(KindSet)).u(100), DefaultLimits, ErrMalformed},
		{"a string beyond the bytes left", head().u(0, 0).raw(byte(KindSet)).u(1, 50), DefaultLimits, ErrMalformed},
		{"maps nested past MaxDepth", noActors.raw(byte(KindMap)).u(1).s("m").raw(byte(KindMap)).u(0), tight, ErrLimit},
		{"more entries than MaxElements", head(), tight, ErrLimit},
		{"more bytes than MaxBytes", append(setOnlyA, make([]byte, 64)...), tight, ErrLimit},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			if _, err := Decode(tt.b, tt.lim); !errors.Is(err, tt.want) {
				t.Fatalf("Decode(%x) = %v, want %v", tt.b, err, tt.want)
			}
		})
	}
	if _, err := Decode(setOnlyA, DefaultLimits); err != nil {
		t.Fatalf("the valid base of the rows does not decode: %v", err)
	}
	for i := range len(setOnlyA) {
		if _, err := Decode(setOnlyA[:i], DefaultLimits); !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix of %d bytes: %v", i, err)
		}
	}
}

// setElems2 is a set of two elements, each added by a/1 (dots 1 and 2).
func setElems2(x, y string) enc {
	return enc{stateTag, formatVersion}.u(1).s("a").u(1).u(1, 0, 2, 0).raw(byte(KindSet)).u(2).s(x).u(1, 0, 1).s(y).u(1, 0, 2)
}

func TestDecodeContextRefuses(t *testing.T) {
	for _, tt := range []struct {
		rule string
		b    []byte
	}{
		{"a state where a context is expected", enc{stateTag, formatVersion}.u(0, 0, 0, 0)},
		{"a trailing byte", enc{contextTag, formatVersion}.u(0, 0, 0, 0)},
		{"cloud dots out of order", enc{contextTag, formatVersion}.u(1).s("a").u(1).u(0, 2, 0, 5, 0, 3)},
	} {
		t.Run(tt.rule, func(t *testing.T) {
			if _, err := DecodeContext(tt.b, DefaultLimits); !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeContext(%x) = %v, want ErrMalformed", tt.b, err)
			}
		})
	}
}
