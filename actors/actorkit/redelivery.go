package actorkit

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// DefaultRedeliverAfter is Redelivery.After's default: long enough that a
// peer's missing actor is not asked in a tight loop, short against a
// request's timeout.
const DefaultRedeliverAfter = 100 * time.Millisecond

// Redelivery sends a request state machine's requests to peers, and sends
// one again when protoactor hands it back undelivered.
//
// protoactor's endpoint writer, started while its peer is down, tries to
// connect twice with a fixed two-second sleep after each try, and answers
// every request queued meanwhile with an actor.DeadLetterResponse naming
// the target: for up to four seconds after a peer restarts, what a node
// sends it is dropped although the peer is up and seen up. The request was
// not handled, so sending it again is safe; a state machine that ignored
// the response would wait for its deadline instead (a get at R=all timed
// out so after a replica restarted). A dead letter response naming no
// target (protoactor's dead letter process answers so when the actor is
// missing, here or on the peer) cannot be matched to a request and is
// only taken.
//
// One request per target is kept (the last sent to it): a state machine
// that sends a target several requests whose loss it cannot tell apart
// (consensus rounds) must not use it.
type Redelivery struct {
	// After is the wait before sending again (DefaultRedeliverAfter when
	// zero).
	After time.Duration
	last  map[string]redeliverable
}

type redeliverable struct {
	to  *actor.PID
	msg any
}

// redeliver is the timer message that sends the request to key again.
type redeliver struct{ key string }

func pidKey(p *actor.PID) string { return p.Address + "/" + p.Id }

// Request sends msg to the peer actor to, with the state machine as the
// sender, and keeps it to send again if it comes back undelivered.
func (r *Redelivery) Request(ctx actor.Context, to *actor.PID, msg any) {
	if r.last == nil {
		r.last = map[string]redeliverable{}
	}
	r.last[pidKey(to)] = redeliverable{to: to, msg: msg}
	ctx.Request(to, msg)
}

// Receive handles the messages Redelivery owns: a dead letter response
// for a request it sent (the request is sent again after After, through
// timers, which the state machine stops when it stops) and that timer.
// It reports whether the message was one of them.
func (r *Redelivery) Receive(ctx actor.Context, timers *SelfTimers) bool {
	switch m := ctx.Message().(type) {
	case *actor.DeadLetterResponse:
		if m.Target == nil {
			return true
		}
		key := pidKey(m.Target)
		if _, ok := r.last[key]; ok {
			after := r.After
			if after <= 0 {
				after = DefaultRedeliverAfter
			}
			timers.After(ctx, after, redeliver{key: key})
		}
		return true
	case redeliver:
		if p, ok := r.last[m.key]; ok {
			ctx.Request(p.to, p.msg)
		}
		return true
	}
	return false
}
