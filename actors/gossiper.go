package actors

import (
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/ring"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"github.com/harmoniakv/harmonia/persistence"
)

// GossipConfig tunes membership gossip.
type GossipConfig struct {
	// Interval between gossip rounds. Default 1 s.
	Interval time.Duration
	// CheckInterval is how often liveness is evaluated besides every round,
	// so that a member is marked down when its phi crosses the threshold,
	// not up to a round later. Default 250 ms.
	CheckInterval time.Duration
	Membership    membership.Config
	// Seeds are cluster addresses to gossip with when no member is live,
	// and now and then anyway (so that split groups find each other).
	Seeds []string
}

// Messages from the Gossiper handle and the transport to the actor
// (in-process only).
type (
	gossipTick      struct{}
	gossipCheck     struct{}
	endpointLost    struct{ addr string }
	gossipStart     struct{}
	gossipStop      struct{}
	gossipJoin      struct{ seed string }
	gossipUpdate    struct{ key, value string }
	gossipGet       struct{ key string }
	gossipSubscribe struct {
		id      uint64
		handler func(membership.Event)
	}
	gossipUnsubscribe struct{ id uint64 }
)

// Gossiper is the Go face of the gossiper actor: the seed design's API.
// Every method only sends a message; none blocks on the network.
type Gossiper struct {
	root     *actor.RootContext
	pid      *actor.PID
	handlers atomic.Uint64 // the last handler id given out
}

// Start begins periodic gossip rounds (a node's System starts them).
func (g *Gossiper) Start() { g.root.Send(g.pid, gossipStart{}) }

// Stop pauses gossip rounds; the node then looks dead to its peers.
func (g *Gossiper) Stop() { g.root.Send(g.pid, gossipStop{}) }

// Join adds a seed's cluster address and gossips with it at once.
func (g *Gossiper) Join(seed string) { g.root.Send(g.pid, gossipJoin{seed: seed}) }

// UpdateState publishes a value of this node's user state to the cluster.
// User keys live in a namespace of their own (membership.UserKeyPrefix):
// no key given here can change what the node itself publishes, such as its
// place in the ring.
func (g *Gossiper) UpdateState(key, value string) {
	g.setControl(membership.UserKeyPrefix+key, value)
}

// setControl publishes a control key of this node (membership.Key*).
func (g *Gossiper) setControl(key, value string) {
	g.root.Send(g.pid, gossipUpdate{key: key, value: value})
}

// GetState returns every known node's value for user key, by node id.
func (g *Gossiper) GetState(key string) (map[string]string, error) {
	res, err := g.root.RequestFuture(g.pid, gossipGet{key: membership.UserKeyPrefix + key}, 5*time.Second).Result()
	if err != nil {
		return nil, fmt.Errorf("gossiper: %w", err)
	}
	return res.(map[string]string), nil
}

// RegisterEventHandler calls handler for every membership event: joined,
// up, suspect, down, left, restarted, ring-changed, and state-changed (Key
// is a control key, or a user key with membership.UserKeyPrefix). Handlers
// run on the gossiper's goroutine and must not block. The returned function
// removes the handler: events the gossiper handles after the removal do not
// reach it.
func (g *Gossiper) RegisterEventHandler(handler func(membership.Event)) (remove func()) {
	id := g.handlers.Add(1)
	g.root.Send(g.pid, gossipSubscribe{id: id, handler: handler})
	return func() { g.root.Send(g.pid, gossipUnsubscribe{id: id}) }
}

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
	handlers      map[uint64]func(membership.Event) // by registration id
	downs         map[string]int
	rng           *rand.Rand
	cancel        func()
}

func (g *gossiper) Receive(ctx actor.Context) {
	now := time.Now()
	g.ctx = ctx
	if g.fenced != "" {
		switch ctx.Message().(type) {
		case *internalpb.GossipSyn, *internalpb.GossipAck, *internalpb.GossipAck2, *internalpb.GossipRefused, gossipTick, gossipCheck, gossipStart, gossipJoin:
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
		if !slices.Contains(g.seeds, m.seed) {
			g.seeds = append(g.seeds, m.seed)
		}
		g.syn(ctx, m.seed)
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
		send, request := g.state.Syn(digestsFromProto(m.Digests))
		// Request, not Respond, so the peer knows where to send its ACK2.
		ctx.Request(ctx.Sender(), &internalpb.GossipAck{From: g.self, States: statesToProto(send), Requests: digestsToProto(request), Params: g.paramsProto()})
	case *internalpb.GossipAck:
		if g.refuseParams(ctx, m.From, m.Params) {
			return
		}
		events := g.state.Apply(statesFromProto(m.States), now)
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

// advanceTransition steps this node through the ring transition
// (membership.StepTransition): it applies the state changes the step
// decides and tells the handoff actor whether every live member has seen
// the transition. It returns the members done with the transition.
func (g *gossiper) advanceTransition(now time.Time) []string {
	in := membership.TransitionInput{Self: g.self, Transition: g.transition, Known: g.state.IDs(),
		Value: func(id, key string) string { v, _ := g.state.Get(id, key); return v }}
	for _, id := range in.Known {
		switch g.state.Status(id, now) {
		case membership.Up, membership.Joining, membership.Leaving:
			in.Live = append(in.Live, id)
		}
	}
	if own, _ := g.state.Get(g.self, membership.KeyStatus); own == membership.RingLeaving {
		in.Hints = g.store.HintCount()
	}
	step := membership.StepTransition(in)
	for _, kv := range step.Set {
		g.state.Set(kv.Key, kv.Value)
		g.changed = true
	}
	if !g.transition.Stable() && g.handoff != nil {
		g.ctx.Send(g.handoff, transitionUpdate{t: g.transition, ready: step.AllSeen})
	}
	return step.Done
}

func (g *gossiper) publish(now time.Time, events []membership.Event) {
	for _, e := range events {
		if e.Kind == membership.EventDown {
			g.downs[e.Node]++
		}
		if e.Kind != membership.EventStateChanged {
			g.log.Info("membership", "event", e.Kind, "member", e.Node)
		}
	}
	statuses := map[string]string{}
	for _, id := range g.state.IDs() {
		statuses[id] = g.state.RingStatus(id)
	}
	if g.transition == nil || !maps.Equal(statuses, g.statuses) {
		t, err := ring.NewTransition(statuses, g.partitions, g.n)
		if err != nil {
			g.log.Error("compute ring", "err", err)
			return
		}
		if g.transition != nil && t.Key != g.transition.Key {
			events = append(events, membership.Event{Kind: membership.EventRingChanged, Node: g.self})
			g.log.Info("ring changed", "transition", t.Key, "moves", len(t.Moves))
		}
		g.transition, g.statuses = t, statuses
	}
	done := g.advanceTransition(now)
	v := &View{Self: g.self, Fenced: g.fenced, Ring: g.transition.Current, Transition: g.transition, RingStatuses: g.statuses, N: g.n, Members: map[string]MemberView{}, TransitionDone: done}
	for _, id := range g.state.IDs() {
		st, _ := g.state.Node(id)
		mv := MemberView{
			ID: id, Status: g.state.Status(id, now), Generation: st.Generation,
			Phi: g.state.Phi(id, now), HeartbeatAge: g.state.HeartbeatAge(id, now), Protocol: g.state.Protocol(id),
			TimesDown: g.downs[id],
		}
		mv.ClusterAddr, _ = g.state.Get(id, membership.KeyClusterAddr)
		mv.ClientAddr, _ = g.state.Get(id, membership.KeyClientAddr)
		inc, _ := g.state.Get(id, membership.KeyIncarnation)
		mv.Incarnation, _ = strconv.ParseUint(inc, 10, 64)
		hints, _ := g.state.Get(id, membership.KeyHintsPending)
		mv.HintsPending, _ = strconv.ParseInt(hints, 10, 64)
		v.Members[id] = mv
	}
	v.ChangedAt = now
	if old := g.view.Load(); old != nil && !membersChanged(old, v) {
		v.ChangedAt = old.ChangedAt
	}
	g.view.Store(v)
	if g.changed {
		g.changed = false
		g.pushToRandomPeer(now)
	}
	for _, e := range events {
		for _, h := range g.handlers {
			h(e)
		}
	}
}

// membersChanged reports whether b differs from a in its ring transition or
// in any member's presence, state or generation.
func membersChanged(a, b *View) bool {
	if a.Transition.Key != b.Transition.Key || len(a.Members) != len(b.Members) {
		return true
	}
	for id, m := range b.Members {
		if o, ok := a.Members[id]; !ok || o.Status != m.Status || o.Generation != m.Generation {
			return true
		}
	}
	return false
}

func statesToProto(states []membership.NodeState) []*internalpb.NodeState {
	out := make([]*internalpb.NodeState, len(states))
	for i, s := range states {
		p := &internalpb.NodeState{Id: s.ID, Generation: s.Generation, Heartbeat: s.Heartbeat}
		for _, k := range slices.Sorted(maps.Keys(s.App)) {
			p.App = append(p.App, &internalpb.AppEntry{Key: k, Value: s.App[k].Value, Version: s.App[k].Version})
		}
		out[i] = p
	}
	return out
}

func statesFromProto(states []*internalpb.NodeState) []membership.NodeState {
	out := make([]membership.NodeState, 0, len(states))
	for _, p := range states {
		s := membership.NodeState{ID: p.Id, Generation: p.Generation, Heartbeat: p.Heartbeat, App: map[string]membership.Versioned{}}
		for _, a := range p.App {
			s.App[a.Key] = membership.Versioned{Value: a.Value, Version: a.Version}
		}
		out = append(out, s)
	}
	return out
}

func digestsToProto(ds []membership.Digest) []*internalpb.GossipDigest {
	out := make([]*internalpb.GossipDigest, len(ds))
	for i, d := range ds {
		out[i] = &internalpb.GossipDigest{Id: d.ID, Generation: d.Generation, MaxVersion: d.MaxVersion}
	}
	return out
}

func digestsFromProto(ds []*internalpb.GossipDigest) []membership.Digest {
	out := make([]membership.Digest, len(ds))
	for i, d := range ds {
		out[i] = membership.Digest{ID: d.Id, Generation: d.Generation, MaxVersion: d.MaxVersion}
	}
	return out
}
