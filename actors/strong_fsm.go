package actors

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/actors/actorkit"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxospb"
	"github.com/harmoniakv/harmonia/internal/wallclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"github.com/harmoniakv/harmonia/persistence"
)

// StrongConfig tunes the proposers of strong keys.
type StrongConfig struct {
	// Backoff is the base of the randomized exponential backoff after a
	// lost round, MaxBackoff its bound (paxos.Config). Defaults:
	// paxos.DefaultBackoff (2 ms) and paxos.DefaultMaxBackoff (100 ms).
	Backoff, MaxBackoff time.Duration
	// MaxQueuedPerKey bounds the requests for one key that wait on a node
	// behind the key's running proposer (a node runs one per key, so its
	// own requests never duel); past it a request is refused at once
	// (ErrOverloaded). Default 1024.
	MaxQueuedPerKey int
	// HeldBallots bounds the registers whose held ballot (paxos.Held: the
	// promise a write's accept carried for the node's next write) a node
	// keeps, so that its next write of one of them takes one round trip
	// instead of two. 0 keeps none, the default: when writers on several
	// nodes share keys, a held ballot is mostly stale, its accept is
	// refused, and the write's outcome may end unknown (in the strong
	// nemesis, 6.4% of writes instead of 0.7%). For one writer per key
	// (one client's get/put-if-version loop: update p50 2.6 ms -> 1.4 ms).
	HeldBallots int
	// Hedge: each round of a strong get, put, delete or update asks a
	// majority of the key's voters first (this node and the live ones
	// first; paxos.Config.First) and the others only when one of those
	// refuses or has not answered after Hedge, so a round whose majority
	// answers costs two replicas' messages and writes, not three; commits
	// still go to every voter. 0 asks every voter at once. The default,
	// DefaultStrongHedge, since the two holes narrow rounds exposed after
	// ring changes were closed and 5-node membership-heavy nemesis runs
	// with them on passed (docs/reliability.md, "Rounds that ask a
	// majority first").
	Hedge time.Duration
}

// DefaultStrongHedge is StrongConfig.Hedge's default: as the eventual
// gets' speculative retry, well above a round trip on a LAN and well
// below a request's timeout.
const DefaultStrongHedge = 50 * time.Millisecond

// DefaultStrongConfig returns the documented defaults.
func DefaultStrongConfig() StrongConfig {
	return StrongConfig{Backoff: paxos.DefaultBackoff, MaxBackoff: paxos.DefaultMaxBackoff, MaxQueuedPerKey: 1024, Hedge: DefaultStrongHedge}
}

// heldBallots keeps, by register, the ballot this node's last write of it
// holds (paxos.Held), for the node's next write; a write takes it (a held
// ballot serves one write: its successor is the next one's), and one of
// another ring transition is dropped. Its state machines share it, one per
// key at a time (the coordinator's queue).
type heldBallots struct {
	max int
	mu  sync.Mutex
	m   map[string]heldBallot
}

type heldBallot struct {
	held       *paxos.Held
	transition uint64
}

func (h *heldBallots) take(key []byte, transition uint64) *paxos.Held {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.m[string(key)]
	if !ok {
		return nil
	}
	delete(h.m, string(key))
	if e.transition != transition {
		return nil
	}
	return e.held
}

func (h *heldBallots) put(key []byte, held *paxos.Held, transition uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil || len(h.m) >= h.max {
		h.m = make(map[string]heldBallot) // full: start over (a lost held ballot costs a prepare)
	}
	h.m[string(key)] = heldBallot{held: held, transition: transition}
}

// StrongRequest runs Op on the consensus register of Key.
type StrongRequest struct {
	Key     []byte
	Op      paxos.Op
	Timeout time.Duration
}

// StrongResult is how a StrongRequest ended: Result, unless Err says the
// request could not run at all (then it took no effect) or its state
// machine crashed (then it may or may not have).
type StrongResult struct {
	paxos.Result
	Err error
}

// strongHedge: the majority a round asked first has been slow to answer.
type strongHedge struct{}

// strongRetry: the backoff after a lost round is over.
type strongRetry struct{}

// strongFSM drives one paxos.Proposer: it takes ballot numbers from the
// node's durable counter, sends the proposer's messages to the voters'
// vnodes, feeds it their replies and its timers, and answers its Result.
type strongFSM struct {
	timers actorkit.SelfTimers
	hedge  actorkit.SelfTimer // the current round's (strongHedge)
	cfg    StrongConfig
	view   *View
	// views is the node's current view: a round lost while the ring
	// changed retries with the voters of the new view.
	views     *viewHolder
	store     *persistence.Store
	req       *StrongRequest
	client    *client
	partition int
	// id matches replies to this instance: a reply meant for an earlier
	// request whose state machine had the same name (before a restart of
	// the node, say) carries another id.
	id uint64
	// transition is the fingerprint of the ring transition whose voters
	// the proposer asks; every request names it, and acceptors of another
	// view refuse it.
	transition uint64
	p          *paxos.Proposer
	lastErr    string // the last refusal a voter answered, for the result's Why
	counters   *requestCounters
	held       *heldBallots // nil: none kept (StrongConfig.HeldBallots 0)
}

func (f *strongFSM) Receive(ctx actor.Context) {
	var eff paxos.Effects
	switch m := ctx.Message().(type) {
	case *actor.Stopping:
		f.timers.Stop()
		f.hedge.Stop()
		return
	case *actor.Started:
		var err error
		if eff, err = f.start(); err != nil {
			f.client.answer(&StrongResult{Err: err})
			ctx.Stop(ctx.Self())
			return
		}
		f.timers.After(ctx, f.req.Timeout, deadline{})
	case strongHedge:
		eff = f.p.Hedge()
		f.counters.strongHedges.Add(uint64(len(eff.Send)))
	case *internalpb.PaxosReply:
		eff = f.replied(m)
	case strongRetry:
		seq, err := f.store.NextCounter()
		if err != nil {
			// No ballot can be issued; end as at the deadline (a write
			// that reached the accept round keeps its versions).
			f.lastErr = fmt.Sprintf("take a ballot: %v", err)
			eff = f.p.Deadline()
			break
		}
		f.regroup()
		eff = f.p.Retry(seq)
	case deadline:
		eff = f.p.Deadline()
	default:
		return
	}
	f.execute(ctx, eff)
}

// start makes the proposer: its voters from the view, a first ballot from
// the durable counter (a read needs none until it must complete a
// proposal).
func (f *strongFSM) start() (paxos.Effects, error) {
	plan, err := planStrong(f.view, f.req.Key, f.cfg, f.store)
	if err != nil {
		return paxos.Effects{}, err
	}
	f.partition, f.transition, f.id = plan.partition, plan.transition, rand.Uint64()
	cfg := plan.cfg
	if f.held != nil && (f.req.Op.Kind == paxos.OpPut || f.req.Op.Kind == paxos.OpDelete || f.req.Op.Kind == paxos.OpUpdate) {
		cfg.Held, cfg.Hold = f.held.take(f.req.Key, f.transition), true
	}
	var seq uint64
	if f.req.Op.Kind != paxos.OpGet {
		var err error
		if seq, err = f.store.NextCounter(); err != nil {
			return paxos.Effects{}, fmt.Errorf("take a ballot: %w", err)
		}
	}
	p, eff, err := paxos.NewProposer(cfg, f.req.Op, seq)
	if err != nil {
		return paxos.Effects{}, fmt.Errorf("partition %d: %w", f.partition, err)
	}
	f.p = p
	return eff, nil
}

// strongPlan is what a proposer of a key takes from the node's view: the
// key's partition, the fingerprint of the ring transition whose voters it
// asks, and its paxos.Config.
type strongPlan struct {
	partition  int
	transition uint64
	cfg        paxos.Config
}

// planStrong plans a proposer of key: ballots of this node's identity,
// voters of view's transition, asked this node and the live ones first
// when cfg hedges.
func planStrong(view *View, key []byte, cfg StrongConfig, store *persistence.Store) (strongPlan, error) {
	if view == nil || view.Transition == nil || view.Ring == nil {
		return strongPlan{}, errors.New("the node has no ring yet")
	}
	p := view.Ring.PartitionForKey(key)
	id := store.Identity()
	pc := paxos.Config{Node: id.NodeID, Incarnation: id.Incarnation, Voters: view.Transition.Voters(p),
		Backoff: cfg.Backoff, MaxBackoff: cfg.MaxBackoff, Rand: rand.Float64, FirstRound: uint64(wallclock.Now().UnixMicro())}
	if cfg.Hedge > 0 {
		pc.First = firstOrder(view, pc.Voters)
	}
	return strongPlan{partition: p, transition: view.Transition.Fingerprint, cfg: pc}, nil
}

// firstOrder is the order in which a round asks the voters first: this
// node (its step costs no message), then the live ones; the proposer
// takes the others after them (paxos.Config.First).
func firstOrder(view *View, groups [][]string) []string {
	order := []string{view.Self}
	for _, g := range groups {
		for _, n := range g {
			if n != view.Self && view.Up(n) {
				order = append(order, n)
			}
		}
	}
	return order
}

// regroup moves the proposer, between two rounds, to the voters of the
// node's current view when the ring transition changed since it started
// (the number of partitions never changes, so neither does the key's).
func (f *strongFSM) regroup() {
	if f.views == nil {
		return
	}
	v := f.views.Load()
	if v == nil || v.Transition == nil || v.Transition.Fingerprint == f.transition {
		return
	}
	if err := f.p.Regroup(v.Transition.Voters(f.partition)); err != nil {
		f.lastErr = fmt.Sprintf("move to the voters of transition %s: %v", v.Transition.Key, err)
		return
	}
	f.view, f.transition = v, v.Transition.Fingerprint
}

// replied feeds a voter's reply to the proposer, unless it is a reply of
// another request.
func (f *strongFSM) replied(m *internalpb.PaxosReply) paxos.Effects {
	if m.RequestId != f.id || f.p == nil {
		return paxos.Effects{}
	}
	return stepReply(f.p, m, &f.lastErr)
}

// stepReply feeds a voter's reply to p. A reply that does not decode is
// not a vote; a refusal (an error reply) is not either, but the proposer
// counts it to know when its round cannot be won. lastErr keeps the last
// refusal or malformed reply, for the result's Why.
func stepReply(p *paxos.Proposer, m *internalpb.PaxosReply, lastErr *string) paxos.Effects {
	if m.Error != "" {
		*lastErr = fmt.Sprintf("%s: %s", m.Node, m.Error)
		kind, ok := kindToPaxos[m.Kind]
		b, err := paxospb.BallotFromProto(m.Ballot)
		if !ok || err != nil {
			return paxos.Effects{}
		}
		return p.Refused(m.Node, kind, b, m.Error)
	}
	r, err := decodeReply(m)
	if err != nil {
		*lastErr = fmt.Sprintf("%s: malformed reply: %v", m.Node, err)
		return paxos.Effects{}
	}
	switch r.kind {
	case paxos.MsgRead:
		return p.ReadReply(m.Node, paxos.Reading{Accepted: r.accepted, Value: r.value, Committed: r.committed})
	case paxos.MsgPrepare:
		return p.PrepareReply(m.Node, r.ballot, paxos.Promise{OK: m.Ok, Promised: r.promised, Accepted: r.accepted, Value: r.value, Committed: r.committed})
	case paxos.MsgAccept:
		return p.AcceptReply(m.Node, r.ballot, paxos.Acceptance{OK: m.Ok, Promised: r.promised})
	}
	return paxos.Effects{} // a commit's answer: nothing waits for it
}

// paxosReply is a decoded PaxosReply.
type paxosReply struct {
	kind                                  paxos.MsgKind
	ballot, promised, accepted, committed paxos.Ballot
	value                                 paxos.Value
}

// decodeReply checks a reply's ballots and value (no size limit: a value
// stored under an earlier, larger limit is still the register's).
func decodeReply(m *internalpb.PaxosReply) (r paxosReply, err error) {
	kind, ok := kindToPaxos[m.Kind]
	if !ok {
		return r, fmt.Errorf("unknown paxos step %d", m.Kind)
	}
	r.kind = kind
	for _, b := range []struct {
		to *paxos.Ballot
		pb *internalpb.PaxosBallot
	}{{&r.ballot, m.Ballot}, {&r.promised, m.Promised}, {&r.accepted, m.Accepted}, {&r.committed, m.Committed}} {
		if *b.to, err = paxospb.BallotFromProto(b.pb); err != nil {
			return r, err
		}
	}
	r.value, err = paxospb.ValueFromProto(m.Value)
	return r, err
}

// paxosRequestOf is the request that carries a proposer's message to a
// voter of key in partition, for the transition's voters.
func paxosRequestOf(partition int, key []byte, transition, id uint64, sender *internalpb.Sender, msg paxos.Message) *internalpb.PaxosRequest {
	req := &internalpb.PaxosRequest{Partition: uint32(partition), Key: key, Kind: kindToProto[msg.Kind],
		Ballot: paxospb.BallotToProto(msg.Ballot), RequestId: id, Sender: sender, Transition: transition}
	if msg.Kind == paxos.MsgAccept || msg.Kind == paxos.MsgCommit {
		req.Value = paxospb.ValueToProto(msg.Value)
	}
	if !msg.Next.IsZero() {
		req.Next = paxospb.BallotToProto(msg.Next)
	}
	return req
}

// withLastRefusal adds to a request that could not run its course the
// last refusal a voter answered (stepReply's lastErr), if any.
func withLastRefusal(res paxos.Result, lastErr string) paxos.Result {
	if lastErr != "" && res.Outcome != paxos.OutcomeOK && res.Outcome != paxos.OutcomeConditionFailed {
		res.Why += "; last refusal: " + lastErr
	}
	return res
}

func (f *strongFSM) execute(ctx actor.Context, eff paxos.Effects) {
	sender := f.view.sender()
	for _, msg := range eff.Send {
		if msg.To != f.view.Self && !f.view.Up(msg.To) {
			continue // it cannot answer; the remote layer would retry it for seconds
		}
		req := paxosRequestOf(f.partition, f.req.Key, f.transition, f.id, sender, msg)
		if msg.Kind == paxos.MsgCommit {
			ctx.Send(f.view.vnodePID(msg.To, f.partition), req) // fire and forget: no answer is awaited
			continue
		}
		ctx.Request(f.view.vnodePID(msg.To, f.partition), req)
	}
	if eff.HeldBack > 0 {
		f.hedge.After(ctx, f.cfg.Hedge, strongHedge{}) // replaces the last round's
	}
	switch {
	case eff.Done:
		res := withLastRefusal(eff.Result, f.lastErr)
		if res.Held != nil && f.held != nil {
			f.held.put(f.req.Key, res.Held, f.transition)
		}
		f.client.answer(&StrongResult{Result: res})
		f.counters.strong[res.Outcome].Add(1)
		ctx.Stop(ctx.Self())
	case eff.NeedBallot:
		f.counters.strongRounds.Add(1)
		f.timers.After(ctx, eff.Wait, strongRetry{})
	}
}
