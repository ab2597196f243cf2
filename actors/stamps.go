package actors

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/harmoniakv/harmonia/cluster/hlc"
	"github.com/harmoniakv/harmonia/internal/wallclock"
)

// stampClock is the node's hybrid logical clock (cluster/hlc), shared by
// its vnodes, which stamp the writes they coordinate to last-writer-wins
// tables and observe the stamps of the writes they store.
type stampClock struct {
	mu    sync.Mutex
	clock *hlc.Clock
	// refused counts stamps observed too far ahead of this node's clock,
	// which the clock did not follow.
	refused atomic.Uint64
}

func newStampClock(node string, cfg hlc.Config) (*stampClock, error) {
	c, err := hlc.NewClock(node, cfg)
	if err != nil {
		return nil, err
	}
	return &stampClock{clock: c}, nil
}

// after stamps a write that follows the stamp its client's context
// carried (zero: a blind write); an error refuses the write.
func (s *stampClock) after(ctx hlc.Timestamp) (hlc.Timestamp, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.clock.After(ctx, wallclock.Now().UnixNano())
	if err != nil {
		return hlc.Timestamp{}, fmt.Errorf("the context's stamp: %w; write without the context, or fix the clocks", err)
	}
	return t, nil
}

// justAfter stamps a write just above ctx (hlc.Clock.JustAfter).
func (s *stampClock) justAfter(ctx hlc.Timestamp) (hlc.Timestamp, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.clock.JustAfter(ctx, wallclock.Now().UnixNano())
	if err != nil {
		return hlc.Timestamp{}, fmt.Errorf("the context's stamp: %w", err)
	}
	return t, nil
}

// observe advances the clock to a stamp a stored write carries. One too
// far ahead is not followed (so that one node's wrong clock does not pin
// every other's), but the write is still stored: replicas must converge
// on what its coordinator accepted.
func (s *stampClock) observe(t hlc.Timestamp) {
	if t.IsZero() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clock.Observe(t, wallclock.Now().UnixNano()) != nil {
		s.refused.Add(1)
	}
}

// notFollowed counts the stamps observe did not follow.
func (s *stampClock) notFollowed() uint64 { return s.refused.Load() }
