package causal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/hlc"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/vclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/proto"
)

var (
	secretA = []byte("0123456789abcdef-secret-A")
	secretB = []byte("fedcba9876543210-secret-B")
	na      = vclock.Actor{Node: "n1", Incarnation: 0x1234}
	nb      = vclock.Actor{Node: "n2", Incarnation: 0x5678}
)

func sealer(t testing.TB, secrets ...[]byte) *Sealer {
	t.Helper()
	s, err := NewSealer(secrets)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// realClock is a context as a get of a key written through two nodes returns it.
func realClock() vclock.Clock {
	return vclock.New(
		vclock.Entry{Actor: na, Counter: 17, Timestamp: 1_700_000_000_000_000_000},
		vclock.Entry{Actor: nb, Counter: 3, Timestamp: 1_700_000_001_000_000_000},
	)
}

func TestNewSealerRefusesBadSecrets(t *testing.T) {
	for _, tc := range []struct {
		name    string
		secrets [][]byte
		want    string
	}{
		{"no secrets", nil, "none given"},
		{"empty list", [][]byte{}, "none given"},
		{"empty secret", [][]byte{{}}, "secret 1 of 1: 0 bytes, at least 16"},
		{"short second secret", [][]byte{secretA, []byte("fifteen bytes!!")}, "secret 2 of 2: 15 bytes, at least 16"},
	} {
		if _, err := NewSealer(tc.secrets); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := NewSealer([][]byte{[]byte(strings.Repeat("x", MinSecretLen))}); err != nil {
		t.Errorf("secret of exactly %d bytes: %v", MinSecretLen, err)
	}
	if _, err := NewSealer([][]byte{[]byte(DefaultSecret)}); err != nil {
		t.Errorf("default secret: %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	s := sealer(t, secretA)
	for _, tc := range []struct {
		name  string
		key   []byte
		clock vclock.Clock
	}{
		{"one entry", []byte("k"), vclock.New(vclock.Entry{Actor: na, Counter: 1})},
		{"two entries with timestamps", []byte("cart"), realClock()},
		{"binary key", []byte{0, 0xff, 0}, realClock()},
		{"large counter the cluster issued", []byte("k"), vclock.New(vclock.Entry{Actor: na, Counter: 1 << 40})},
	} {
		b := s.Seal(tc.key, tc.clock)
		got, err := s.Open(tc.key, b)
		if err != nil || vclock.Compare(got, tc.clock) != vclock.Equal {
			t.Errorf("%s: Open(Seal) = %v, %v; want %v", tc.name, got, err, tc.clock)
		}
		if !bytes.Equal(s.Seal(tc.key, tc.clock), b) {
			t.Errorf("%s: sealing twice gave different bytes", tc.name)
		}
	}
}

func TestEmptyContext(t *testing.T) {
	s := sealer(t, secretA)
	if b := s.Seal([]byte("k"), nil); b != nil {
		t.Errorf("Seal of the empty clock = %x, want nil", b)
	}
	for _, b := range [][]byte{nil, {}} {
		if c, err := s.Open([]byte("k"), b); c != nil || err != nil {
			t.Errorf("Open(%x) = %v, %v; want no context", b, c, err)
		}
	}
}

// The report: 76 of 100 single-bit flips were accepted. Now none is.
func TestEveryBitFlipIsRefused(t *testing.T) {
	s := sealer(t, secretA)
	key := []byte("cart")
	b := s.Seal(key, realClock())
	for i := range len(b) * 8 {
		flipped := bytes.Clone(b)
		flipped[i/8] ^= 1 << (i % 8)
		if c, err := s.Open(key, flipped); err == nil {
			t.Errorf("bit %d flipped: accepted as %v", i, c)
		}
	}
}

func TestRefused(t *testing.T) {
	a := sealer(t, secretA)
	real := a.Seal([]byte("a"), realClock())
	rawForged, err := proto.Marshal(object.ClockToProto(vclock.New(vclock.Entry{Actor: na, Counter: 1 << 40})))
	if err != nil {
		t.Fatal(err)
	}
	// A forger who knows the format but not the secret.
	framedForged := append(append([]byte{version}, rawForged...), make([]byte, tagLen)...)
	for _, tc := range []struct {
		name string
		key  []byte
		b    []byte
		want error
	}{
		{"context of key a used for key b", []byte("b"), real, ErrNotIssued},
		{"context of key a used for a longer key", []byte("aa"), real, ErrNotIssued},
		{"context of key a used for the empty key", nil, real, ErrNotIssued},
		{"sealed with another secret", []byte("a"), sealer(t, secretB).Seal([]byte("a"), realClock()), ErrNotIssued},
		{"raw clock proto with counter 2^40", []byte("a"), rawForged, ErrMalformed},
		{"framed clock proto with counter 2^40 and a zero tag", []byte("a"), framedForged, ErrNotIssued},
		{"tag alone", []byte("a"), real[len(real)-tagLen:], ErrMalformed},
		{"version byte alone", []byte("a"), real[:1], ErrMalformed},
		{"unknown version", []byte("a"), append([]byte{version + 1}, real[1:]...), ErrMalformed},
		{"one byte more", []byte("a"), append(bytes.Clone(real), 0), ErrNotIssued},
	} {
		c, err := a.Open(tc.key, tc.b)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Open = %v, %v; want %v", tc.name, c, err, tc.want)
		}
	}
	for n := 1; n < len(real); n++ {
		if c, err := a.Open([]byte("a"), real[:n]); err == nil {
			t.Errorf("truncated to %d of %d bytes: accepted as %v", n, len(real), c)
		}
	}
}

func TestRotation(t *testing.T) {
	key := []byte("k")
	old := sealer(t, secretA).Seal(key, realClock())
	rotating := sealer(t, secretB, secretA)
	if c, err := rotating.Open(key, old); err != nil || vclock.Compare(c, realClock()) != vclock.Equal {
		t.Fatalf("[new, old] opening a context sealed with old: %v, %v", c, err)
	}
	fresh := rotating.Seal(key, realClock())
	if _, err := sealer(t, secretB).Open(key, fresh); err != nil {
		t.Errorf("[new, old] seals with new, but [new] refuses it: %v", err)
	}
	if _, err := sealer(t, secretB).Open(key, old); !errors.Is(err, ErrNotIssued) {
		t.Errorf("[new] alone opening a context sealed with old: %v, want ErrNotIssued", err)
	}
}

func TestSealerKeepsItsOwnCopyOfTheSecrets(t *testing.T) {
	secret := bytes.Clone(secretA)
	s := sealer(t, secret)
	b := s.Seal([]byte("k"), realClock())
	secret[0] ^= 1
	if _, err := s.Open([]byte("k"), b); err != nil {
		t.Errorf("changing the caller's slice changed the sealer: %v", err)
	}
}

func TestFingerprints(t *testing.T) {
	fa := sealer(t, secretA).Fingerprints()[0]
	if _, err := hex.DecodeString(fa); err != nil || len(fa) != 2*fingerprintLen {
		t.Errorf("fingerprint %q is not %d hex digits", fa, 2*fingerprintLen)
	}
	fb := sealer(t, secretB).Fingerprints()[0]
	if fa == fb {
		t.Errorf("two secrets share fingerprint %s", fa)
	}
	if got := sealer(t, secretA, secretB).Fingerprints(); !slices.Equal(got, []string{fa, fb}) {
		t.Errorf("fingerprints of [A, B] are %v, want %v: one per secret, the sealing one first", got, []string{fa, fb})
	}
	if strings.Contains(fa, hex.EncodeToString(secretA[:4])) {
		t.Errorf("fingerprint %s shows the secret", fa)
	}
}

// Contexts come from clients: Open must never panic, and what it accepts
// must be exactly what Seal produces for that key and no other.
func FuzzOpen(f *testing.F) {
	s := sealer(f, secretA)
	for _, k := range []string{"k", "cart", ""} {
		f.Add([]byte(k), s.Seal([]byte(k), realClock()))
	}
	f.Add([]byte("k"), s.Seal([]byte("k"), vclock.New(vclock.Entry{Actor: na, Counter: 1})))
	raw, _ := proto.Marshal(&internalpb.VClock{Entries: []*internalpb.ClockEntry{{Node: "n1", Counter: 1 << 40}}})
	f.Add([]byte("k"), raw)
	f.Fuzz(func(t *testing.T, key, b []byte) {
		c, err := s.Open(key, b)
		if err != nil || len(b) == 0 {
			return
		}
		if again := s.Seal(key, c); !bytes.Equal(again, b) {
			t.Fatalf("accepted %x as %v, which seals to %x", b, c, again)
		}
		if _, err := s.Open(append(bytes.Clone(key), 0), b); err == nil {
			t.Fatalf("context of key %x also opens for key %x00", key, key)
		}
	})
}

// A context of a last-writer-wins key carries the highest stamp its client
// saw; one sealed before stamps existed opens with none.
func TestStampedContexts(t *testing.T) {
	s := sealer(t, secretA)
	key := []byte("k")
	stamp := hlc.Timestamp{Wall: 1_700_000_000_000_000_000, Logical: 3, Node: "n2"}
	for _, tt := range []struct {
		rule  string
		clock vclock.Clock
		stamp hlc.Timestamp
	}{
		{"a clock and a stamp", realClock(), stamp},
		{"a stamp without a clock (a blind write's)", nil, stamp},
		{"a clock without a stamp (a table that keeps siblings)", realClock(), hlc.Timestamp{}},
	} {
		t.Run(tt.rule, func(t *testing.T) {
			b := s.SealStamped(key, tt.clock, tt.stamp)
			c, got, err := s.OpenStamped(key, b)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.stamp || !slices.Equal(c, tt.clock) {
				t.Fatalf("opened (%v, %v), sealed (%v, %v)", c, got, tt.clock, tt.stamp)
			}
			if _, _, err := s.OpenStamped([]byte("other"), b); !errors.Is(err, ErrNotIssued) {
				t.Fatalf("a context of k opened for another key: %v", err)
			}
		})
	}
	if b := s.SealStamped(key, nil, hlc.Timestamp{}); b != nil {
		t.Fatalf("an empty context sealed to %x", b)
	}
	// The layout before stamps: the payload was a VClock.
	old := s.seal(contextLabel, version, key, object.ClockToProto(realClock()))
	c, got, err := s.OpenStamped(key, old)
	if err != nil || !got.IsZero() || !slices.Equal(c, realClock()) {
		t.Fatalf("an old context opened to (%v, %v, %v)", c, got, err)
	}
}

// The seal encodes SealedContext by hand; it must be exactly what
// deterministic protobuf marshalling gives, or contexts sealed by nodes of
// different versions would differ for one clock.
func TestSealedContextEncoding(t *testing.T) {
	stamp := hlc.Timestamp{Wall: 1_700_000_000_000_000_000, Logical: 3, Node: "n2"}
	for _, tt := range []struct {
		rule  string
		clock vclock.Clock
		stamp hlc.Timestamp
	}{
		{"a clock of two entries", realClock(), hlc.Timestamp{}},
		{"a clock and a stamp", realClock(), stamp},
		{"a stamp alone", nil, stamp},
		{"zero fields of an entry are left out", vclock.Clock{{Actor: vclock.Actor{Node: "n1"}}}, hlc.Timestamp{}},
		{"an entry with every field zero is still written", vclock.Clock{{}}, hlc.Timestamp{}},
		{"a negative timestamp is a ten-byte varint", vclock.Clock{{Actor: na, Counter: 1, Timestamp: -1}}, hlc.Timestamp{}},
		{"large counters", vclock.Clock{{Actor: vclock.Actor{Node: strings.Repeat("x", 200), Incarnation: 1 << 63}, Counter: 1<<64 - 1}}, stamp},
	} {
		t.Run(tt.rule, func(t *testing.T) {
			want, err := proto.MarshalOptions{Deterministic: true}.Marshal(&internalpb.SealedContext{Entries: object.ClockToProto(tt.clock).GetEntries(), Stamp: object.StampToProto(tt.stamp)})
			if err != nil {
				t.Fatal(err)
			}
			got := appendSealedContext(nil, tt.clock, tt.stamp)
			if !bytes.Equal(got, want) {
				t.Fatalf("encoded %x, protobuf gives %x", got, want)
			}
			if n := sealedContextSize(tt.clock, tt.stamp); n != len(want) {
				t.Fatalf("size %d, encoding is %d bytes", n, len(want))
			}
		})
	}
}
