package causal

import (
	"testing"

	"github.com/harmoniakv/harmonia/cluster/hlc"
)

// The seal is on every get's answer and the open on every write with a
// context: their cost is part of the hot path's.

func BenchmarkSealStamped(b *testing.B) {
	s := sealer(b, secretA)
	key := []byte("user:000000012345")
	c := realClock()
	b.ReportAllocs()
	for b.Loop() {
		s.SealStamped(key, c, hlc.Timestamp{})
	}
}

func BenchmarkOpenStamped(b *testing.B) {
	s := sealer(b, secretA, secretB)
	key := []byte("user:000000012345")
	sealed := s.SealStamped(key, realClock(), hlc.Timestamp{})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.OpenStamped(key, sealed); err != nil {
			b.Fatal(err)
		}
	}
}
