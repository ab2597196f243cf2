// Package gossip runs membership gossip as an actor: the gossiper, which
// steps the pure core membership.Gossip with the messages of its peers and
// its ticks and carries out what the core decides; the Gossiper handle, its
// Go API; and NewMember, a gossip member without a node around it. It
// imports no storage: a node gives it a store for the membership and a
// callback for each view.
package gossip

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

// Name is the gossiper actor's name in a node's or a member's actor system;
// peers address it as PID{cluster address, Name}.
const Name = "node/gossiper"

// ActorConfig is what a gossiper actor runs with.
type ActorConfig struct {
	Config Config
	Self   string
	// App is the node's own control and user state at start; Generation
	// this start's, from the clock.
	App        map[string]string
	Generation int64
	// Params are what every member must share; gossip with others is
	// refused both ways. Params.Partitions 0: a member without a ring.
	Params membership.Params
	// Members keeps the membership across restarts.
	Members Store
	// Acceptors keeps what the node knows of its acceptor state of strong
	// keys (membership.AcceptorOrigin), which its entry into the cluster
	// decides; nil: a member without a ring.
	Acceptors AcceptorOrigins
	// HintCount says how many hints this node keeps (a leaving node waits
	// for them to be handed over); nil: none.
	HintCount func() int64
	// Publish receives each View the gossiper makes; Transition hears of
	// the ring transition under way and whether every live member has
	// seen it. Both run on the gossiper's goroutine; either may be nil.
	Publish    func(*membership.View)
	Transition func(t *ring.Transition, allSeen bool)
	Log        *slog.Logger
	// Ready is done once the first View is published.
	Ready *actorkit.ReadySignal
	// Fail ends the process with an error: this node was refused by the
	// cluster before it joined; nil: not ended.
	Fail func(error)
}

// Store keeps a gossiper's membership across restarts (a node's
// persistence.Store; memory for a member made by NewMember).
type Store interface {
	Members() (*internalpb.MembershipSnapshot, error)
	SaveMembers(*internalpb.MembershipSnapshot) error
}

// AcceptorOrigins is the store's record of the node's acceptor state.
type AcceptorOrigins interface {
	AcceptorOrigin() membership.AcceptorOrigin
	SetAcceptorOrigin(membership.AcceptorOrigin) error
}

// NewActor returns a gossiper actor; spawn it under Name with
// actorkit.Props, and reach it through Attach.
func NewActor(cfg ActorConfig) actor.Actor {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Ready == nil {
		cfg.Ready = actorkit.NewReadySignal()
	}
	return &gossiper{cfg: cfg}
}

// gossiper is the actor around the gossip core (membership.Gossip): it
// decodes gossip messages and ticks, steps the core, and carries out what
// the core decides (sends, saves, logs, publishes the View, tells the
// handoff about the ring transition, passes events to handlers, fences or
// fails). Rounds run with one random live peer (now and then a down member
// or a seed too).
type gossiper struct {
	cfg      ActorConfig
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
	snap, err := g.cfg.Members.Members()
	if err != nil {
		g.cfg.Log.Warn("load saved members", "err", err)
	}
	// A peer makes one heartbeat per round, so the detector's interval
	// settings follow the gossip interval.
	mcfg := g.cfg.Config.Membership
	mcfg.Failure = mcfg.Failure.ForHeartbeatInterval(g.cfg.Config.Interval)
	in := membership.GossipStart{Self: g.cfg.Self, Params: g.cfg.Params, Membership: mcfg, Generation: g.cfg.Generation,
		App: g.cfg.App, Seeds: g.cfg.Config.Seeds, Saved: statesFromProto(snap.GetStates()),
		Rand: rand.New(rand.NewPCG(uint64(now.UnixNano()), uint64(g.cfg.Generation))), Hints: g.cfg.HintCount}
	if g.cfg.Acceptors != nil {
		in.Origin = g.cfg.Acceptors.AcceptorOrigin()
	}
	var r membership.Ready
	g.core, r = membership.NewGossip(in, now)
	g.carryOut(ctx, now, r)
	g.cfg.Ready.Done()
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
		if err := g.cfg.Members.SaveMembers(&internalpb.MembershipSnapshot{States: statesToProto(r.Save)}); err != nil {
			g.cfg.Log.Warn("save members", "err", err)
		} else {
			g.core.Saved(r.SaveRevision)
		}
	}
	for _, l := range r.Logs {
		g.cfg.Log.Log(context.Background(), l.Level, l.Msg, l.Args...)
	}
	for _, o := range r.Send {
		to := ctx.Sender()
		if !o.ToSender {
			to = actor.NewPID(o.To, Name)
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
		if g.cfg.Publish != nil {
			g.cfg.Publish(g.last)
		}
		if r.Handoff && g.cfg.Transition != nil {
			g.cfg.Transition(g.last.Transition, r.AllSeen)
		}
	}
	for _, e := range r.Events {
		for _, h := range g.handlers {
			h.HandleEvent(e)
		}
	}
	if r.Fail != "" && g.cfg.Fail != nil {
		g.cfg.Fail(errors.New(r.Fail))
	}
}

// setAcceptorOrigin records what the node knows of its acceptor state. A
// record that fails leaves the node voting less, never more: Lost takes
// effect in any case, and an undecided node does not vote.
func (g *gossiper) setAcceptorOrigin(o membership.AcceptorOrigin, why string) {
	if g.cfg.Acceptors == nil || o == membership.AcceptorsUndecided {
		return
	}
	if err := g.cfg.Acceptors.SetAcceptorOrigin(o); err != nil {
		g.cfg.Log.Error("record the origin of the acceptor state", "origin", o.String(), "why", why, "err", err)
		return
	}
	g.cfg.Log.Info("acceptor state of strong keys", "origin", o.String(), "why", why)
}

func (g *gossiper) startTicker(ctx actor.Context) {
	if g.cancel != nil {
		return
	}
	rounds := actorkit.TickSelf(ctx, g.cfg.Config.Interval, gossipTick{})
	cancel := rounds
	if g.cfg.Config.CheckInterval > 0 {
		checks := actorkit.TickSelf(ctx, g.cfg.Config.CheckInterval, gossipCheck{})
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
