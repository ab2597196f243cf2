package actors

import (
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

// gossiper runs Scuttlebutt gossip rounds with one random live peer (now and
// then a down member or a seed too), feeds heartbeats to the failure
// detector, and publishes a new View when anything changes.
type gossiper struct {
	cfg        GossipConfig
	self       string
	app        map[string]string
	generation int64
	// partitions and n shape the ring the gossiper computes from the
	// members' ring statuses; partitions 0: a member without a ring (a
	// gossip-only member, NewMember).
	partitions int
	n          int
	// members keeps the membership across restarts; hintCount says how
	// many hints this node keeps (a leaving node waits for them); nil: none.
	members memberStore
	// acceptors keeps what the node knows of its acceptor state of strong
	// keys (membership.AcceptorOrigin), which its entry into the cluster
	// decides; nil: a member without a ring.
	acceptors acceptorOrigins
	hintCount func() int64
	view      *viewHolder
	log       *slog.Logger
	ready     *actorkit.ReadySignal // done once the first View is published

	// params are what every member must share; gossip with others is
	// refused both ways.
	params membership.Params
	// fail ends the process with an error: this node was refused by the
	// cluster before it joined.
	fail func(error)
	// fenced says why this process stopped taking part (another process
	// holds its id); "" while it takes part.
	fenced string

	state      *membership.State
	transition *ring.Transition
	statuses   map[string]string
	handoff    *actor.PID
	ctx        actor.Context
	// changed: own state changed since the last exchange; spreading it at
	// once instead of at the next round speeds ring transitions up.
	changed bool
	// savedRevision is the membership revision last saved to the store.
	savedRevision uint64
	seeds         []string
	joins         map[string][]chan string // seed address -> Join calls waiting for its answer
	// newcomer: started with seeds on a new data directory, and not yet
	// decided whether it takes a place back (enter); nil after.
	newcomer *membership.Newcomer
	handlers map[uint64]EventHandler // by registration id
	downs    map[string]int
	rng      *rand.Rand
	cancel   func()
}

func (g *gossiper) Receive(ctx actor.Context) {
	now := time.Now()
	g.ctx = ctx
	if g.fenced != "" {
		switch ctx.Message().(type) {
		case *internalpb.GossipSyn, *internalpb.GossipAck, *internalpb.GossipAck2, *internalpb.GossipRefused, gossipTick, gossipCheck, gossipStart:
			return // a fenced process says nothing and hears nothing
		}
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		g.downs = map[string]int{}
		g.rng = rand.New(rand.NewPCG(uint64(now.UnixNano()), uint64(g.generation)))
		g.seeds = slices.Clone(g.cfg.Seeds)
		snap, err := g.members.Members()
		if err != nil {
			g.log.Warn("load saved members", "err", err)
		}
		saved := statesFromProto(snap.GetStates())
		in := membership.StartInput{Self: g.self, Addr: g.app[membership.KeyClusterAddr], Seeds: g.cfg.Seeds,
			Ring: g.partitions > 0, Generation: g.generation, Saved: saved}
		if g.acceptors != nil {
			in.Origin = g.acceptors.AcceptorOrigin()
		}
		start := membership.StartOf(in)
		if start.RaisedFrom != 0 {
			g.log.Warn("the clock is behind this node's last start; its generation follows the last one instead", "last", start.RaisedFrom, "clock", g.generation)
		}
		g.generation, g.newcomer = start.Generation, start.Newcomer
		g.app[membership.KeyStatus] = start.Status
		if start.Why != "" {
			g.setAcceptorOrigin(start.Origin, start.Why)
		}
		// A peer makes one heartbeat per round, so the detector's
		// interval settings follow the gossip interval.
		mcfg := g.cfg.Membership
		mcfg.Failure = mcfg.Failure.ForHeartbeatInterval(g.cfg.Interval)
		g.state = membership.New(mcfg, g.self, g.generation, g.app)
		g.state.Load(saved)
		g.publish(now, nil)
		g.ready.Done()
	case *actor.Stopping:
		g.stopTicker()
	case gossipStart:
		g.startTicker(ctx)
		g.round(ctx, now)
	case gossipTick:
		g.round(ctx, now)
	case gossipCheck:
		if events := g.state.Evaluate(now); len(events) > 0 {
			g.publish(now, events)
		}
	case gossipJoin:
		if g.fenced != "" {
			return // never answered: the caller's context ends the join
		}
		for _, seed := range m.seeds {
			if !slices.Contains(g.seeds, seed) {
				g.seeds = append(g.seeds, seed)
			}
			if g.joins == nil {
				g.joins = map[string][]chan string{}
			}
			g.joins[seed] = append(g.joins[seed], m.answered)
			g.syn(ctx, seed)
		}
		if g.newcomer != nil {
			g.newcomer.AddSeeds(m.seeds)
		}
	case gossipJoinDone:
		for seed, waiting := range g.joins {
			g.joins[seed] = slices.DeleteFunc(waiting, func(c chan string) bool { return c == m.answered })
			if len(g.joins[seed]) == 0 {
				delete(g.joins, seed)
			}
		}
	case gossipUpdate:
		g.state.Set(m.key, m.value)
		g.changed = true
		g.publish(now, []membership.Event{{Kind: membership.EventStateChanged, Node: g.self, Key: m.key, Value: m.value}})
	case gossipGet:
		out := map[string]string{}
		for _, id := range g.state.IDs() {
			if v, ok := g.state.Get(id, m.key); ok {
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
	case *internalpb.GossipSyn:
		if g.refuseParams(ctx, m.From, m.Params) || ctx.Sender() == nil {
			return
		}
		if g.newcomer != nil {
			g.newcomerSyn(ctx, now, m.SenderNew)
		}
		ans := g.state.AnswerSyn(m.From, digestsFromProto(m.Digests), g.newcomer != nil)
		ack := &internalpb.GossipAck{From: g.self, Params: g.paramsProto(), States: statesToProto(ans.Send), SenderWas: ans.SenderWas, SenderNew: ans.SenderNew}
		if len(ans.Requests) > 0 {
			ack.Requests = digestsToProto(ans.Requests)
		}
		// Request, not Respond, so the peer knows where to send its ACK2.
		ctx.Request(ctx.Sender(), ack)
	case *internalpb.GossipAck:
		if g.refuseParams(ctx, m.From, m.Params) {
			return
		}
		if from := ctx.Sender(); from != nil {
			for _, c := range g.joins[from.Address] {
				c <- from.Address // buffered for every seed of its join
			}
			delete(g.joins, from.Address)
		}
		if g.newcomer != nil && (ctx.Sender() == nil || g.newcomer.Heard(ctx.Sender().Address, m.SenderNew, m.SenderWas) == membership.NewcomerUndecided) {
			return // nothing is taken or sent before the node knows; an answer from nowhere decides nothing
		}
		events := g.state.Apply(statesFromProto(m.States), now)
		events = append(events, g.entered(ctx.Sender().GetAddress())...)
		if delta := g.state.Delta(digestsFromProto(m.Requests)); len(delta) > 0 && ctx.Sender() != nil {
			ctx.Respond(&internalpb.GossipAck2{From: g.self, States: statesToProto(delta), Params: g.paramsProto()})
		}
		g.publish(now, g.identity(ctx, events))
	case *internalpb.GossipAck2:
		if g.refuseParams(ctx, m.From, m.Params) {
			return
		}
		g.publish(now, g.identity(ctx, g.state.Apply(statesFromProto(m.States), now)))
	case *internalpb.GossipRefused:
		g.refused(ctx, now, m)
	case endpointLost:
		g.state.TransportLost(m.addr)
		g.publish(now, nil)
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

// newcomerSyn is a newcomer's part of a peer's gossip. Another newcomer's
// gossip counts toward the majority that makes the cluster new. A member's
// is asked back: its answer carries its record of this node's id. (Asking
// every peer back made two newcomers ask each other for ever.)
func (g *gossiper) newcomerSyn(ctx actor.Context, now time.Time, senderNew bool) {
	addr := ctx.Sender().Address
	if !senderNew {
		g.syn(ctx, addr)
		return
	}
	if g.newcomer.Heard(addr, true, "") != membership.NewcomerUndecided {
		g.publish(now, g.entered(addr))
	}
}

// entered acts on a newcomer's decision (membership.Newcomer), taken on the
// answer of the node at addr; the node's state reaches the cluster from
// then on: as a member that takes its place in the ring back, or as a
// joining node. Taking its place back, rather than joining anew, keeps the
// current ring: joining, the node would leave it, and the claim then
// reshuffles it so that replicas that hold nothing of a partition would
// serve it, and transfers would fetch from them. Its data comes back by
// anti-entropy (EventPlaceTakenBack).
func (g *gossiper) entered(addr string) []membership.Event {
	if g.newcomer == nil || g.newcomer.Decided == membership.NewcomerUndecided {
		return nil
	}
	decision := g.newcomer.Decided
	g.newcomer = nil
	g.changed = true
	// Before the node's state changes: a node that takes its place back
	// votes on no strong key until it has rebuilt the partition's
	// acceptor state (the vnodes check it at every step).
	g.setAcceptorOrigin(membership.AcceptorOriginDecided(decision), "decided on the answer of "+addr)
	if own, _ := g.state.Get(g.self, membership.KeyStatus); own != membership.RingJoining || decision != membership.NewcomerTakeBack {
		g.log.Info("new data directory: joins as a new member", "decided on the answer of", addr)
		return nil
	}
	g.state.Set(membership.KeyStatus, membership.RingNormal)
	g.log.Warn("this node was a member and came back with an empty data directory: it takes its place back and copies its replicas from the others")
	return []membership.Event{{Kind: membership.EventPlaceTakenBack, Node: g.self}}
}
