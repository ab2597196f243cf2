package causal

import (
	"bytes"
	"errors"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/vclock"
)

func TestVersions(t *testing.T) {
	s, err := NewSealer([][]byte{[]byte(DefaultSecret)})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewSealer([][]byte{[]byte("another secret of sixteen bytes or more")})
	b := paxos.Ballot{Round: 7, Node: "n1", Incarnation: 3, Seq: 9}
	sealed := s.SealVersion([]byte("k"), b)
	if got, err := s.OpenVersion([]byte("k"), sealed); err != nil || got != b {
		t.Fatalf("round trip: %v %v", got, err)
	}
	if s.SealVersion([]byte("k"), paxos.Ballot{}) != nil {
		t.Fatal("the zero version sealed to bytes")
	}
	flipped := append([]byte(nil), sealed...)
	flipped[3] ^= 1
	ctx := s.Seal([]byte("k"), vclock.Clock{{Actor: vclock.Actor{Node: "n1", Incarnation: 1}, Counter: 1}})
	tests := []struct {
		rule string
		key  []byte
		b    []byte
		want error
	}{
		{"a version of another key is refused", []byte("k2"), sealed, ErrNotIssued},
		{"a flipped bit is refused", []byte("k"), flipped, ErrNotIssued},
		{"another cluster's version is refused", []byte("k"), other.SealVersion([]byte("k"), b), ErrNotIssued},
		{"a causal context of the eventual path is not a version", []byte("k"), ctx, ErrMalformed},
		{"empty bytes are not a version", []byte("k"), nil, ErrMalformed},
		{"a truncated version is refused", []byte("k"), sealed[:5], ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			if _, err := s.OpenVersion(tt.key, tt.b); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := s.Open([]byte("k"), sealed); err == nil {
		t.Fatal("a version opened as a causal context")
	}
}

// Versions come from clients (if_version): OpenVersion must never panic,
// and what it accepts must be exactly what SealVersion produces for that
// key and no other.
func FuzzOpenVersion(f *testing.F) {
	s, err := NewSealer([][]byte{[]byte(DefaultSecret)})
	if err != nil {
		f.Fatal(err)
	}
	b := paxos.Ballot{Round: 1_800_000_000_000_000, Node: "n1", Incarnation: 7, Seq: 3}
	for _, k := range []string{"k", "\x00s\x00\x00\x00\x01order", ""} {
		f.Add([]byte(k), s.SealVersion([]byte(k), b))
	}
	f.Add([]byte("k"), s.Seal([]byte("k"), vclock.Clock{{Actor: vclock.Actor{Node: "n1", Incarnation: 1}, Counter: 1}}))
	f.Fuzz(func(t *testing.T, key, raw []byte) {
		v, err := s.OpenVersion(key, raw)
		if err != nil {
			return
		}
		if again := s.SealVersion(key, v); !bytes.Equal(again, raw) {
			t.Fatalf("accepted %x as %v, which seals to %x", raw, v, again)
		}
		if _, err := s.OpenVersion(append(bytes.Clone(key), 0), raw); err == nil {
			t.Fatalf("version of key %x also opens for key %x00", key, key)
		}
	})
}
