package actors

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/ring"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"github.com/harmoniakv/harmonia/persistence"
)

// gossiper runs Scuttlebutt gossip rounds with one random live peer (now and
// then a down member or a seed too), feeds heartbeats to the failure
// detector, and publishes a new View when anything changes.
type gossiper struct {
	cfg        GossipConfig
	self       string
	app        map[string]string
	generation int64
	partitions int
	n          int
	store      *persistence.Store
	view       *viewHolder
	log        *slog.Logger
	ready      *readySignal // done once the first View is published

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
	// fresh: started with seeds on a new data directory, and no peer has
	// answered yet (takePlaceBack).
	fresh    bool
	handlers map[uint64]func(membership.Event) // by registration id
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
		snap, err := g.store.Members()
		if err != nil {
			g.log.Warn("load saved members", "err", err)
		}
		saved := statesFromProto(snap.GetStates())
		// A node keeps its ring status across restarts; a new node joins
		// through its seeds, or starts a cluster of its own without any.
		status := membership.RingNormal
		if len(g.cfg.Seeds) > 0 {
			status = membership.RingJoining
			// A new data directory: the first answer of a seed says
			// whether this id was a member, whose place it takes back.
			g.fresh = len(saved) == 0
		}
		for _, st := range saved {
			if st.ID == g.self && st.App[membership.KeyStatus].Value != "" {
				status = st.App[membership.KeyStatus].Value
			}
		}
		g.app[membership.KeyStatus] = status
		// A peer makes one heartbeat per round, so the detector's
		// interval settings follow the gossip interval.
		mcfg := g.cfg.Membership
		mcfg.Failure = mcfg.Failure.ForHeartbeatInterval(g.cfg.Interval)
		g.state = membership.New(mcfg, g.self, g.generation, g.app)
		g.state.Load(saved)
		g.publish(now, nil)
		g.ready.done()
	case *actor.Stopping:
		g.stopTicker()
	case gossipStart:
		g.startTicker(ctx)
		g.round(ctx, now)
	case gossipStop:
		g.stopTicker()
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
			g.handlers = map[uint64]func(membership.Event){}
		}
		g.handlers[m.id] = m.handler
	case gossipUnsubscribe:
		delete(g.handlers, m.id)
	case *internalpb.GossipSyn:
		if g.refuseParams(ctx, m.From, m.Params) || ctx.Sender() == nil {
			return
		}
		if g.fresh {
			// Not before this node knows whether it takes a place back:
			// its answer would spread its state as a joining node. It asks
			// the peer instead, whose answer tells (its seeds may be down).
			g.syn(ctx, ctx.Sender().Address)
			return
		}
		send, request := g.state.Syn(digestsFromProto(m.Digests))
		ack := &internalpb.GossipAck{From: g.self, States: statesToProto(send), Requests: digestsToProto(request), Params: g.paramsProto()}
		for _, d := range m.Digests {
			if d.Id == m.From {
				ack.SenderWas = g.state.RingStatusBefore(m.From, d.Generation)
			}
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
		events := g.state.Apply(statesFromProto(m.States), now)
		events = append(events, g.takePlaceBack(m.SenderWas)...)
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

// takePlaceBack is a new data directory's first answer from the cluster:
// if this id was a normal member (was, the peer's ring status of its older
// generation), the node takes its place in the ring back instead of joining
// anew. Joining, it would leave the current ring, which the claim then
// reshuffles: replicas that hold nothing of a partition would serve it,
// and transfers would fetch from them. Its data comes back by anti-entropy
// (EventPlaceTakenBack). It decides once, before the node's state reaches
// the cluster in the same exchange.
func (g *gossiper) takePlaceBack(was string) []membership.Event {
	if !g.fresh {
		return nil
	}
	g.fresh = false
	if own, _ := g.state.Get(g.self, membership.KeyStatus); own != membership.RingJoining || was != membership.RingNormal {
		return nil
	}
	g.state.Set(membership.KeyStatus, membership.RingNormal)
	g.changed = true
	g.log.Warn("this node was a member and came back with an empty data directory: it takes its place back and copies its replicas from the others")
	return []membership.Event{{Kind: membership.EventPlaceTakenBack, Node: g.self}}
}

func (g *gossiper) startTicker(ctx actor.Context) {
	if g.cancel != nil {
		return
	}
	rounds := tickSelf(ctx, g.cfg.Interval, gossipTick{})
	cancel := rounds
	if g.cfg.CheckInterval > 0 {
		checks := tickSelf(ctx, g.cfg.CheckInterval, gossipCheck{})
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

func (g *gossiper) syn(ctx actor.Context, addr string) {
	ctx.Request(actor.NewPID(addr, gossiperName), &internalpb.GossipSyn{From: g.self, Digests: digestsToProto(g.state.Digests()), Params: g.paramsProto()})
}

func (g *gossiper) paramsProto() *internalpb.ClusterParams {
	return &internalpb.ClusterParams{Partitions: uint32(g.params.Partitions), Replicas: uint32(g.params.Replicas), SecretFingerprints: g.params.SecretFingerprints}
}

// refuseParams refuses a gossip message whose sender's cluster parameters
// differ from this node's, and tells the sender why when it can.
func (g *gossiper) refuseParams(ctx actor.Context, from string, p *internalpb.ClusterParams) bool {
	theirs := membership.Params{Partitions: int(p.GetPartitions()), Replicas: int(p.GetReplicas()), SecretFingerprints: p.GetSecretFingerprints()}
	reason := g.params.Mismatch(g.self, theirs, from)
	if reason == "" {
		return false
	}
	g.log.Error("refused gossip from a node with other cluster parameters", "from", from, "sender", ctx.Sender().GetAddress(), "reason", reason)
	if ctx.Sender() != nil {
		ctx.Send(ctx.Sender(), &internalpb.GossipRefused{From: g.self, Node: from, Reason: reason})
	}
	return true
}

// identity acts on the events about two processes claiming one node id and
// returns the other events.
func (g *gossiper) identity(ctx actor.Context, events []membership.Event) []membership.Event {
	var out []membership.Event
	for _, e := range events {
		switch e.Kind {
		case membership.EventRefused:
			g.log.Error("refused a second process claiming a member's id", "member", e.Node, "claimant", e.Key, "reason", e.Value)
			if e.Key == "" {
				continue // a claimant without an address cannot be told
			}
			holder, _ := g.state.Node(e.Node)
			ctx.Send(actor.NewPID(e.Key, gossiperName), &internalpb.GossipRefused{From: g.self, Node: e.Node, Reason: e.Value,
				Identity: true, Holder: statesToProto([]membership.NodeState{holder})[0]})
		case membership.EventIdentityLost:
			g.fence(e.Value)
		case membership.EventReclaimed:
			g.log.Error("another process claimed this node's id; took it back", "other", e.Value, "generation", g.state.Generation())
			g.changed = true
		default:
			out = append(out, e)
		}
	}
	return out
}

// refused handles a peer's refusal of this node's gossip. An identity
// refusal is checked against the holder's state by this node's own rule; a
// parameter refusal ends the process if this node has not joined yet (it
// cannot), and is only logged otherwise: a peer's word alone must not stop
// a member.
func (g *gossiper) refused(ctx actor.Context, now time.Time, m *internalpb.GossipRefused) {
	g.log.Error("gossip refused by a peer", "by", m.From, "node", m.Node, "reason", m.Reason)
	if m.Node != g.self {
		return
	}
	if m.Identity {
		if m.Holder == nil {
			return
		}
		if e, ok := g.state.Refused(statesFromProto([]*internalpb.NodeState{m.Holder})[0]); ok {
			g.publish(now, g.identity(ctx, []membership.Event{e}))
		}
		return
	}
	if len(g.state.IDs()) == 1 && g.fail != nil {
		g.fail(fmt.Errorf("refused by the cluster at %s: %s", m.From, m.Reason))
	}
}

// fence stops this process from taking part: no gossip, and the View tells
// the API to refuse requests with the reason.
func (g *gossiper) fence(reason string) {
	if g.fenced != "" {
		return
	}
	g.fenced = reason
	g.stopTicker()
	g.log.Error("this process stops serving: another process holds its node id; stop it", "reason", reason)
	g.publish(time.Now(), nil)
}

// round is one gossip round, as Cassandra's: a random live peer; with
// probability down/(live+1) a random down member, so a recovered node is
// found; a seed when nothing is live, or with probability 1/(live+1).
func (g *gossiper) round(ctx actor.Context, now time.Time) {
	// A restarted node needs its own ring status and its peers' addresses.
	// Saved (unsynced) only when they changed: a write to the store can
	// wait behind other vnodes' fsyncs, and a gossiper that stalls takes
	// heartbeats in bursts, which widens every peer's failure detector.
	if rev := g.state.Revision(); rev != g.savedRevision {
		if err := g.store.SaveMembers(&internalpb.MembershipSnapshot{States: statesToProto(g.state.Snapshot())}); err != nil {
			g.log.Warn("save members", "err", err)
		} else {
			g.savedRevision = rev
		}
	}
	g.state.Tick()
	events := g.state.Evaluate(now)
	var live, down []string
	for _, id := range g.state.IDs() {
		if id == g.self {
			continue
		}
		switch g.state.Status(id, now) {
		case membership.Down:
			down = append(down, id)
		case membership.Left:
		default:
			live = append(live, id)
		}
	}
	addr := func(id string) string { v, _ := g.state.Get(id, membership.KeyClusterAddr); return v }
	if len(live) > 0 {
		g.syn(ctx, addr(live[g.rng.IntN(len(live))]))
	}
	if len(down) > 0 && g.rng.Float64() < float64(len(down))/float64(len(live)+1) {
		g.syn(ctx, addr(down[g.rng.IntN(len(down))]))
	}
	own, _ := g.state.Get(g.self, membership.KeyClusterAddr)
	seeds := slices.DeleteFunc(slices.Clone(g.seeds), func(s string) bool { return s == own })
	if len(seeds) > 0 && (len(live) == 0 || g.rng.Float64() < 1/float64(len(live)+1)) {
		g.syn(ctx, seeds[g.rng.IntN(len(seeds))])
	}
	g.publish(now, events)
}

// pushToRandomPeer opens an exchange with one random live peer.
func (g *gossiper) pushToRandomPeer(now time.Time) {
	var live []string
	for _, id := range g.state.IDs() {
		switch g.state.Status(id, now) {
		case membership.Up, membership.Joining, membership.Leaving:
			if id != g.self {
				live = append(live, id)
			}
		}
	}
	if len(live) > 0 {
		addr, _ := g.state.Get(live[g.rng.IntN(len(live))], membership.KeyClusterAddr)
		g.syn(g.ctx, addr)
	}
}
