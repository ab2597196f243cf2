package hlc

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// t0 is a physical time in 2026.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano()

func TestCompare(t *testing.T) {
	tests := []struct {
		name string
		a, b Timestamp
		want int
	}{
		{"same stamp", Timestamp{t0, 2, "a"}, Timestamp{t0, 2, "a"}, 0},
		{"wall decides first", Timestamp{t0 + 1, 0, "a"}, Timestamp{t0, 9, "z"}, 1},
		{"logical decides at one wall", Timestamp{t0, 1, "z"}, Timestamp{t0, 2, "a"}, -1},
		{"node id decides at one hybrid time", Timestamp{t0, 2, "b"}, Timestamp{t0, 2, "a"}, 1},
		{"no stamp is below every stamp", Timestamp{}, Timestamp{0, 0, "a"}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Compare(tt.a, tt.b); got != tt.want {
				t.Fatalf("Compare(%v, %v) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := Compare(tt.b, tt.a); got != -tt.want {
				t.Fatalf("Compare(%v, %v) = %d, want %d", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	if got, want := (Timestamp{t0 + 500_000_000, 3, "n1"}).String(), "2026-03-01T12:00:00.5Z+3@n1"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
}

// randStamp returns a valid timestamp drawn from a small domain, so that
// random pairs often share a wall, a logical counter or a node.
func randStamp(r *rand.Rand) Timestamp {
	return Timestamp{Wall: t0 + r.Int64N(4), Logical: uint32(r.IntN(3)), Node: []string{"a", "b", "c"}[r.IntN(3)]}
}

func TestEncodingRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	edges := []Timestamp{
		{0, 0, "a"},
		{math.MaxInt64, math.MaxUint32, strings.Repeat("z", MaxNodeLen)},
	}
	for i := 0; i < 1000; i++ {
		ts := edges[i%len(edges)]
		if i >= len(edges) {
			ts = Timestamp{Wall: r.Int64(), Logical: r.Uint32(), Node: strings.Repeat("n", 1+r.IntN(MaxNodeLen))}
		}
		trailer := []byte("rest")
		b := append(Append([]byte("head"), ts), trailer...)
		got, rest, err := Decode(b[len("head"):])
		if err != nil || got != ts || !bytes.Equal(rest, trailer) {
			t.Fatalf("%#v decoded as %#v, rest %q, %v", ts, got, rest, err)
		}
		if len(b)-len("head")-len(trailer) > MaxEncodedLen {
			t.Fatalf("%#v encodes to more than MaxEncodedLen bytes", ts)
		}
	}
}

// Encoding order does not follow Compare (the node id has a length prefix),
// but it is deterministic: equal stamps encode alike, different ones not.
func TestEncodingIsDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 1000; i++ {
		a, b := randStamp(r), randStamp(r)
		if same := bytes.Equal(Append(nil, a), Append(nil, b)); same != (a == b) {
			t.Fatalf("%v and %v: same encoding %v", a, b, same)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	valid := Append(nil, Timestamp{t0, 1, "n1"})
	withNodeLen := func(n byte, node string) []byte {
		b := slices.Clone(valid[:headerLen])
		b[headerLen-1] = n
		return append(b, node...)
	}
	negative := slices.Clone(valid)
	negative[0] = 0x80
	tests := []struct {
		name string
		b    []byte
	}{
		{"no bytes", nil},
		{"header cut short", valid[:headerLen-1]},
		{"node id cut short", valid[:len(valid)-1]},
		{"empty node id", withNodeLen(0, "")},
		{"node id longer than the limit", withNodeLen(MaxNodeLen+1, strings.Repeat("n", MaxNodeLen+1))},
		{"wall before 1970", negative},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ts, _, err := Decode(tt.b); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode(%x) = %v, %v; want ErrInvalid", tt.b, ts, err)
			}
		})
	}
}

func TestAppendPanicsOnInvalid(t *testing.T) {
	for _, ts := range []Timestamp{{}, {t0, 0, strings.Repeat("n", MaxNodeLen+1)}, {-1, 0, "n"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("Append(%#v) did not panic", ts)
				}
			}()
			Append(nil, ts)
		}()
	}
}

// Timestamps come from peers and clients: Decode must never panic, and
// what it accepts must be the only encoding of a stamp that encodes and
// decodes back the same.
func FuzzDecode(f *testing.F) {
	f.Add(Append(nil, Timestamp{t0, 1, "n1"}))
	f.Add(Append([]byte{}, Timestamp{math.MaxInt64, math.MaxUint32, strings.Repeat("z", MaxNodeLen)}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, rest, err := Decode(b)
		if err != nil {
			return
		}
		if err := ts.Check(); err != nil {
			t.Fatalf("decoded an invalid stamp %#v: %v", ts, err)
		}
		enc := Append(nil, ts)
		if !bytes.Equal(append(slices.Clone(enc), rest...), b) {
			t.Fatalf("%x decoded as %#v, rest %x, which encodes to %x", b, ts, rest, enc)
		}
		again, rest, err := Decode(enc)
		if err != nil || again != ts || len(rest) != 0 {
			t.Fatalf("%#v encodes to %x, which decodes to %#v, rest %x (%v)", ts, enc, again, rest, err)
		}
	})
}
