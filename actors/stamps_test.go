package actors

import (
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/cluster/hlc"
	"github.com/harmoniakv/harmonia/internal/wallclock"
)

// The node's clock follows the stamps of the writes it stores, except one
// too far ahead, which it counts; a write whose context carries such a
// stamp is refused rather than stamped below it.
func TestStampClock(t *testing.T) {
	s, err := newStampClock("n1", hlc.Config{MaxForwardDrift: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	now := wallclock.Now().UnixNano()
	near := hlc.Timestamp{Wall: now + int64(30*time.Second), Node: "n2"}
	s.observe(near)
	if got, err := s.after(hlc.Timestamp{}); err != nil || hlc.Compare(got, near) <= 0 {
		t.Fatalf("a blind write after observing %v got %v, %v: want a stamp above it", near, got, err)
	}
	far := hlc.Timestamp{Wall: now + int64(time.Hour), Node: "n3"}
	s.observe(far)
	if s.notFollowed() != 1 {
		t.Fatalf("notFollowed = %d after a stamp an hour ahead, want 1", s.notFollowed())
	}
	if got, _ := s.after(hlc.Timestamp{}); hlc.Compare(got, far) >= 0 {
		t.Fatalf("the clock followed a stamp an hour ahead: %v", got)
	}
	if _, err := s.after(far); err == nil {
		t.Fatal("a write whose context carries a stamp an hour ahead was stamped")
	}
	s.observe(hlc.Timestamp{}) // a version without a stamp: nothing to follow
	if s.notFollowed() != 1 {
		t.Fatalf("notFollowed = %d, want 1", s.notFollowed())
	}
}
