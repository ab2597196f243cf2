package actors

import (
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

// A strong get whose read round settles it (a majority of the key's
// voters agree on a committed value and nothing newer is in flight:
// paxos.Proposer's read) needs no ballot, no turn in its key's queue and
// no state machine of its own. System.Strong runs that round from the
// caller's goroutine with the same pure proposer, the voters answering to
// one long-lived actor of the node (strongReadsName) that hands each
// reply to the read waiting for it. A read the round does not settle (the
// replicas disagree, a write is in flight, too many refuse) goes to the
// coordinator as any strong request, from its start, with the time it has
// left: a read round changes no acceptor, so dropping one is safe, and the
// queued request completes what is in flight before it answers.

// strongReadsName is the actor the voters of fast reads answer.
const strongReadsName = nodeName + "/strong-reads"

// strongReads hands the voters' replies to the fast reads in flight, by
// request id.
type strongReads struct {
	waiting sync.Map // uint64 -> chan *internalpb.PaxosReply
}

// strongReadsActor is the actor the voters answer; it keeps no state, so a
// restart loses nothing.
type strongReadsActor struct{ reads *strongReads }

func (a strongReadsActor) Receive(ctx actor.Context) {
	m, ok := ctx.Message().(*internalpb.PaxosReply)
	if !ok {
		return
	}
	if ch, ok := a.reads.waiting.Load(m.RequestId); ok {
		select {
		case ch.(chan *internalpb.PaxosReply) <- m:
		default: // more replies than the read asked for: none it needs
		}
	}
}

// strongRead runs a strong get's read round from the caller (above).
// settled is false when the round did not settle the get: nothing was
// answered, and the request is the coordinator's to run.
func (s *System) strongRead(key []byte, op paxos.Op, timeout time.Duration) (res StrongResult, settled bool) {
	view := s.view.Load()
	cfg := s.cfg.Coordinator.Strong
	plan, err := planStrong(view, key, cfg, s.store)
	if err != nil {
		return StrongResult{}, false // the coordinator answers why
	}
	p, eff, err := paxos.NewProposer(plan.cfg, op, 0)
	if err != nil {
		return StrongResult{}, false
	}
	id := rand.Uint64()
	voters := 0
	for _, g := range plan.cfg.Voters {
		voters += len(g)
	}
	replies := make(chan *internalpb.PaxosReply, voters)
	s.strongReads.waiting.Store(id, replies)
	defer s.strongReads.waiting.Delete(id)
	sink := actor.NewPID(s.actors.Address(), strongReadsName)
	sender := view.sender()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	// Only a round's start holds voters back (Effects.HeldBack), and a
	// read has one round here: one hedge at most.
	var hedged <-chan time.Time
	if eff.HeldBack > 0 && cfg.Hedge > 0 {
		hedge := time.NewTimer(cfg.Hedge)
		defer hedge.Stop()
		hedged = hedge.C
	}
	var lastErr string
	for {
		for _, msg := range eff.Send {
			if msg.Kind != paxos.MsgRead {
				return StrongResult{}, false // not a read's round any more
			}
			if msg.To != view.Self && !view.Up(msg.To) {
				continue // it cannot answer; the remote layer would retry it for seconds
			}
			s.actors.Root.RequestWithCustomSender(view.vnodePID(msg.To, plan.partition), paxosRequestOf(plan.partition, key, plan.transition, id, sender, msg), sink)
		}
		switch {
		case eff.Done:
			out := withLastRefusal(eff.Result, lastErr)
			s.requests.strong[out.Outcome].Add(1)
			s.requests.strongReadRounds.Add(1)
			return StrongResult{Result: out}, true
		case eff.NeedBallot:
			return StrongResult{}, false
		}
		select {
		case m := <-replies:
			eff = stepReply(p, m, &lastErr)
		case <-hedged:
			hedged = nil
			eff = p.Hedge()
			s.requests.strongHedges.Add(uint64(len(eff.Send)))
		case <-deadline.C:
			eff = p.Deadline()
		case <-s.stopped:
			return StrongResult{Err: errors.New("the node is stopping")}, true
		}
	}
}
