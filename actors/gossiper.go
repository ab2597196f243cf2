package actors

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/actors/actorkit"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/ring"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

// gossiper is the actor around the gossip core (membership.Gossip): it
// decodes gossip messages and ticks, steps the core, and carries out what
// the core decides (sends, saves, logs, publishes the View, tells the
// handoff actor about the ring transition, passes events to handlers,
// fences or fails). Rounds run with one random live peer (now and then a
// down member or a seed too).
type gossiper struct {
	cfg        GossipConfig
	self       string
	app        map[string]string
	generation int64
	// params are what every member must share; Params.Partitions 0: a
	// member without a ring (a gossip-only member, NewMember).
	params membership.Params
	// members keeps the membership across restarts; hintCount says how
	// many hints this node keeps (a leaving node waits for them); nil: none.
	members memberStore
	// acceptors keeps what the node knows of its acceptor state of strong
	// keys (membership.AcceptorOrigin), which its entry into the cluster
	// decides; nil: a member without a ring.
	acceptors acceptorOrigins
	hintCount func() int64
	// publish receives each View the gossiper makes; transition hears of
	// the ring transition under way and whether every live member has seen
	// it. Either may be nil.
	publish    func(*membership.View)
	transition func(t *ring.Transition, allSeen bool)
	log        *slog.Logger
	ready      *actorkit.ReadySignal // done once the first View is published
	// fail ends the process with an error: this node was refused by the
	// cluster before it joined.
	fail func(error)

	core     *membership.Gossip
	last     *membership.View
	joins    map[string][]chan string // seed address -> Join calls waiting for its answer
	handlers map[uint64]EventHandler  // by registration id
	cancel   func()
}

func (g *gossiper) Receive(ctx actor.Context) {
	now := time.Now()
	switch m := ctx.Message().(type) {
	case *actor.Started:
		g.start(ctx, now)
	case *actor.Stopping:
		g.stopTicker()
	case gossipStart:
		if g.core.Fenced() == "" {
			g.startTicker(ctx)
			g.step(ctx, now, membership.GossipRound{})
		}
	case gossipTick:
		g.step(ctx, now, membership.GossipRound{})
	case gossipCheck:
		g.step(ctx, now, membership.GossipCheck{})
	case gossipJoin:
		if g.core.Fenced() != "" {
			return // never answered: the caller's context ends the join
		}
		if g.joins == nil {
			g.joins = map[string][]chan string{}
		}
		for _, seed := range m.seeds {
			g.joins[seed] = append(g.joins[seed], m.answered)
		}
		g.step(ctx, now, membership.GossipJoin{Seeds: m.seeds})
	case gossipJoinDone:
		for seed, waiting := range g.joins {
			g.joins[seed] = slices.DeleteFunc(waiting, func(c chan string) bool { return c == m.answered })
			if len(g.joins[seed]) == 0 {
				delete(g.joins, seed)
			}
		}
	case gossipUpdate:
		g.step(ctx, now, membership.GossipUpdate{Key: m.key, Value: m.value})
	case gossipGet:
		out := map[string]string{}
		st := g.core.State()
		for _, id := range st.IDs() {
			if v, ok := st.Get(id, m.key); ok {
				out[id] = v
			}
		}
		ctx.Respond(out)
	case gossipSubscribe:
		if g.handlers == nil {
			g.handlers = map[uint64]EventHandler{}
		}
		g.handlers[m.id] = m.handler
	case gossipUnsubscribe:
		delete(g.handlers, m.id)
	case endpointLost:
		g.step(ctx, now, membership.GossipLost{Addr: m.addr})
	case *internalpb.GossipSyn, *internalpb.GossipAck, *internalpb.GossipAck2, *internalpb.GossipRefused:
		g.step(ctx, now, gossipFromProto(m, ctx.Sender().GetAddress()))
	}
}

func (g *gossiper) start(ctx actor.Context, now time.Time) {
	snap, err := g.members.Members()
	if err != nil {
		g.log.Warn("load saved members", "err", err)
	}
	// A peer makes one heartbeat per round, so the detector's interval
	// settings follow the gossip interval.
	mcfg := g.cfg.Membership
	mcfg.Failure = mcfg.Failure.ForHeartbeatInterval(g.cfg.Interval)
	in := membership.GossipStart{Self: g.self, Params: g.params, Membership: mcfg, Generation: g.generation,
		App: g.app, Seeds: g.cfg.Seeds, Saved: statesFromProto(snap.GetStates()),
		Rand: rand.New(rand.NewPCG(uint64(now.UnixNano()), uint64(g.generation))), Hints: g.hintCount}
	if g.acceptors != nil {
		in.Origin = g.acceptors.AcceptorOrigin()
	}
	var r membership.Ready
	g.core, r = membership.NewGossip(in, now)
	g.carryOut(ctx, now, r)
	g.ready.Done()
}

func (g *gossiper) step(ctx actor.Context, now time.Time, msg any) {
	g.carryOut(ctx, now, g.core.Step(msg, now))
}

// carryOut does what a step of the core decided, in the order Ready
// gives.
func (g *gossiper) carryOut(ctx actor.Context, now time.Time, r membership.Ready) {
	if r.Why != "" {
		g.setAcceptorOrigin(r.Origin, r.Why)
	}
	if r.Save != nil {
		if err := g.members.SaveMembers(&internalpb.MembershipSnapshot{States: statesToProto(r.Save)}); err != nil {
			g.log.Warn("save members", "err", err)
		} else {
			g.core.Saved(r.SaveRevision)
		}
	}
	for _, l := range r.Logs {
		g.log.Log(context.Background(), l.Level, l.Msg, l.Args...)
	}
	for _, o := range r.Send {
		to := ctx.Sender()
		if !o.ToSender {
			to = actor.NewPID(o.To, gossiperName)
		}
		if to != nil {
			// Request, not Send, so the peer knows where to answer.
			ctx.Request(to, gossipToProto(o.Msg))
		}
	}
	if r.Answered != "" {
		for _, c := range g.joins[r.Answered] {
			c <- r.Answered // buffered for every seed of its join
		}
		delete(g.joins, r.Answered)
	}
	if r.Fence != "" {
		g.stopTicker()
	}
	if r.Publish || r.Fence != "" {
		g.last = g.core.View(now, g.last)
		if g.publish != nil {
			g.publish(g.last)
		}
		if r.Handoff && g.transition != nil {
			g.transition(g.last.Transition, r.AllSeen)
		}
	}
	for _, e := range r.Events {
		for _, h := range g.handlers {
			h.HandleEvent(e)
		}
	}
	if r.Fail != "" && g.fail != nil {
		g.fail(errors.New(r.Fail))
	}
}

// acceptorOrigins is the store's record of the node's acceptor state.
type acceptorOrigins interface {
	AcceptorOrigin() membership.AcceptorOrigin
	SetAcceptorOrigin(membership.AcceptorOrigin) error
}

// setAcceptorOrigin records what the node knows of its acceptor state. A
// record that fails leaves the node voting less, never more: Lost takes
// effect in any case, and an undecided node does not vote.
func (g *gossiper) setAcceptorOrigin(o membership.AcceptorOrigin, why string) {
	if g.acceptors == nil || o == membership.AcceptorsUndecided {
		return
	}
	if err := g.acceptors.SetAcceptorOrigin(o); err != nil {
		g.log.Error("record the origin of the acceptor state", "origin", o.String(), "why", why, "err", err)
		return
	}
	g.log.Info("acceptor state of strong keys", "origin", o.String(), "why", why)
}

func (g *gossiper) startTicker(ctx actor.Context) {
	if g.cancel != nil {
		return
	}
	rounds := actorkit.TickSelf(ctx, g.cfg.Interval, gossipTick{})
	cancel := rounds
	if g.cfg.CheckInterval > 0 {
		checks := actorkit.TickSelf(ctx, g.cfg.CheckInterval, gossipCheck{})
		cancel = func() { rounds(); checks() }
	}
	g.cancel = cancel
}

func (g *gossiper) stopTicker() {
	if g.cancel != nil {
		g.cancel()
		g.cancel = nil
	}
}
