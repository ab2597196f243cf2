package actorkit

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// SendSelfAfter sends msg to the actor once, after d (timeouts and pacing).
func SendSelfAfter(ctx actor.Context, d time.Duration, msg any) *time.Timer {
	self, sys := ctx.Self(), ctx.ActorSystem()
	return time.AfterFunc(d, func() { sys.Root.Send(self, msg) })
}

// SelfTimers are a short-lived actor's pending SendSelfAfter timers. A
// request state machine stops them when it stops, so a finished request
// leaves no timer to fire into a dead mailbox (a dead letter per request,
// seconds later).
type SelfTimers []*time.Timer

// After sends msg to the actor after d, keeping the timer with the others.
func (t *SelfTimers) After(ctx actor.Context, d time.Duration, msg any) {
	*t = append(*t, SendSelfAfter(ctx, d, msg))
}

// Stop stops every pending timer and forgets them.
func (t *SelfTimers) Stop() {
	for _, tm := range *t {
		tm.Stop()
	}
	*t = nil
}

// SelfTimer is an actor's one pending SendSelfAfter timer, which the next
// replaces (an attempt's deadline, a pacing wait): a worker stops it when
// it stops, so that it fires into no dead mailbox, nor into a later actor
// of the same name.
type SelfTimer struct{ t *time.Timer }

// After sends msg to the actor after d, stopping the timer set before.
func (s *SelfTimer) After(ctx actor.Context, d time.Duration, msg any) {
	s.Stop()
	s.t = SendSelfAfter(ctx, d, msg)
}

// Stop stops the pending timer, if any.
func (s *SelfTimer) Stop() {
	if s.t != nil {
		s.t.Stop()
		s.t = nil
	}
}

// TickSelf sends msg to the actor every interval until the returned cancel
// is called (actors call it when stopping).
func TickSelf(ctx actor.Context, interval time.Duration, msg any) (cancel func()) {
	self, sys := ctx.Self(), ctx.ActorSystem()
	t := time.NewTicker(interval)
	done := make(chan struct{})
	go func() {
		defer t.Stop()
		for {
			select {
			case <-t.C:
				sys.Root.Send(self, msg)
			case <-done:
				return
			}
		}
	}()
	return func() { close(done) }
}
