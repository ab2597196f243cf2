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
// (consensus rounds) must not use it. A request state machine asks a few
// replicas, so they are kept in a slice and found by comparing PIDs: no
// map or key string on every request for what is a rare event.
type Redelivery struct {
	// After is the wait before sending again (DefaultRedeliverAfter when
	// zero).
	After time.Duration
	sent  []redeliverable
}

type redeliverable struct {
	to  *actor.PID
	msg any
	// scheduled: a resend is waiting on its timer, so further responses
	// for the target (a peer may send any number) add no timer.
	scheduled bool
}

// redeliver is the timer message that sends the request to sent[i] again.
type redeliver struct{ i int }

// find is the index of the request kept for target, or -1.
func (r *Redelivery) find(target *actor.PID) int {
	for i := range r.sent {
		if r.sent[i].to.Id == target.Id && r.sent[i].to.Address == target.Address {
			return i
		}
	}
	return -1
}

// Request sends msg to the peer actor to, with the state machine as the
// sender, and keeps it to send again if it comes back undelivered.
func (r *Redelivery) Request(ctx actor.Context, to *actor.PID, msg any) {
	if i := r.find(to); i >= 0 {
		r.sent[i].msg = msg
	} else {
		r.sent = append(r.sent, redeliverable{to: to, msg: msg})
	}
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
		if i := r.find(m.Target); i >= 0 && !r.sent[i].scheduled {
			r.sent[i].scheduled = true
			after := r.After
			if after <= 0 {
				after = DefaultRedeliverAfter
			}
			timers.After(ctx, after, redeliver{i: i})
		}
		return true
	case redeliver:
		if m.i < len(r.sent) {
			p := &r.sent[m.i]
			p.scheduled = false
			ctx.Request(p.to, p.msg)
		}
		return true
	}
	return false
}
