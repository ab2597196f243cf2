package membership

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/harmoniakv/harmonia/cluster/ring"
)

// Gossip is the gossiper's decisions as a step core, in the shape of etcd
// raft's Step and Ready: the gossiper actor decodes a message, steps the
// core with it and the time, and carries out the Ready it gets back (sends,
// saves, publishes, logs, fences). The core holds the membership State, the
// newcomer's decision, the ring transition computed from the members' ring
// statuses, and what is still to spread or to save; it starts no goroutine
// and reads no clock.
type Gossip struct {
	self   string
	params Params
	state  *State
	rng    Rand
	hints  func() int64
	seeds  []string
	// newcomer: started with seeds on a new data directory and not yet
	// decided whether it takes a place back; nil after.
	newcomer *Newcomer
	// fenced says why this process stopped taking part; "" while it does.
	fenced string
	// changed: own state changed since the last exchange; spreading it at
	// once instead of at the next round speeds ring transitions up.
	changed       bool
	savedRevision uint64
	downs         map[string]int
	transition    *ring.Transition
	statuses      map[string]string
	// done are the members done with the transition under way, as of the
	// last step.
	done []string
}

// GossipStart is what a gossiper knows when its process starts.
type GossipStart struct {
	Self string
	// Params are what every member must share; Params.Partitions 0: a
	// member without a ring (gossip only), Params.Replicas its N.
	Params Params
	// Membership tunes the failure detector (its intervals already set
	// for the gossip interval).
	Membership Config
	// Generation is this start's, from the clock; App the node's control
	// and user state; Seeds the addresses it joins through.
	Generation int64
	App        map[string]string
	Seeds      []string
	// Saved is the membership the last process saved; Origin the store's
	// record of the node's acceptor state.
	Saved  []NodeState
	Origin AcceptorOrigin
	// Rand draws the peers of each round.
	Rand Rand
	// Hints counts the hints this node keeps (a leaving node waits for
	// them to be handed over); nil: none.
	Hints func() int64
}

// The messages a gossiper steps its core with. Addr is the cluster address
// of the sender's gossiper, "" when the message came without one.
type (
	// GossipSyn opens an exchange: the sender's digests.
	GossipSyn struct {
		From, Addr string
		Params     Params
		Digests    []Digest
		// SenderNew: the sender is an undecided newcomer.
		SenderNew bool
	}
	// GossipAck answers a SYN (SynAnswer).
	GossipAck struct {
		From, Addr string
		Params     Params
		States     []NodeState
		Requests   []Digest
		SenderWas  string
		SenderNew  bool
	}
	// GossipAck2 answers an ACK's requests.
	GossipAck2 struct {
		From, Addr string
		Params     Params
		States     []NodeState
	}
	// GossipRefused says a peer refused this node's gossip: Node is the
	// refused id, Reason why; Identity marks a refusal of a second process
	// claiming Node, with Holder the state of the member that holds it.
	GossipRefused struct {
		From, Node, Reason string
		Identity           bool
		Holder             *NodeState
	}
	// GossipRound is a round's tick; GossipCheck a liveness check's.
	GossipRound struct{}
	GossipCheck struct{}
	// GossipJoin adds seeds and opens exchanges with them at once.
	GossipJoin struct{ Seeds []string }
	// GossipUpdate sets a key of this node's own state.
	GossipUpdate struct{ Key, Value string }
	// GossipLost: the transport lost its connection to the node at Addr.
	GossipLost struct{ Addr string }
)

// Ready is what the gossiper does after a step, in this order: record the
// acceptor origin, save, log, send, publish the view, notify the handoff,
// pass the events to handlers, fence or fail.
type Ready struct {
	// Origin is what to record of the node's acceptor state, with Why,
	// when Why is not "".
	Origin AcceptorOrigin
	Why    string
	// Save is the membership to keep across restarts, when it changed
	// since the last save; the gossiper calls Saved(SaveRevision) once it
	// is kept.
	Save         []NodeState
	SaveRevision uint64
	Logs         []Log
	Send         []Outbound
	// Publish: the view may have changed; the gossiper builds it from the
	// core (View) and publishes it, then passes Events to its handlers.
	Publish bool
	Events  []Event
	// Handoff: the ring transition is under way; AllSeen says every live
	// member has seen it.
	Handoff bool
	AllSeen bool
	// Answered is the cluster address of a peer that answered this
	// node's SYN (a Join waits for its seeds).
	Answered string
	// Fence says why this process stops taking part (another process
	// holds its id); Fail ends the process (refused by the cluster before
	// it joined). "" when neither.
	Fence, Fail string
}

// Outbound is a gossip message to send: to the gossiper at cluster address
// To, or back to the sender of the message stepped when ToSender.
type Outbound struct {
	To       string
	ToSender bool
	Msg      any // GossipSyn, GossipAck, GossipAck2 or GossipRefused
}

// Log is a record for the gossiper's logger.
type Log struct {
	Level slog.Level
	Msg   string
	Args  []any
}

// NewGossip starts the core of a gossiper at time now (StartOf decides
// how) and returns what to do at once: record the acceptor origin, log,
// publish.
func NewGossip(in GossipStart, now time.Time) (*Gossip, Ready) {
	g := &Gossip{self: in.Self, params: in.Params, rng: in.Rand, hints: in.Hints, seeds: slices.Clone(in.Seeds), downs: map[string]int{}}
	var r Ready
	start := StartOf(StartInput{Self: in.Self, Addr: in.App[KeyClusterAddr], Seeds: in.Seeds,
		Ring: g.ring(), Generation: in.Generation, Saved: in.Saved, Origin: in.Origin})
	if start.RaisedFrom != 0 {
		r.log(slog.LevelWarn, "the clock is behind this node's last start; its generation follows the last one instead", "last", start.RaisedFrom, "clock", in.Generation)
	}
	g.newcomer = start.Newcomer
	app := maps.Clone(in.App)
	app[KeyStatus] = start.Status
	r.Origin, r.Why = start.Origin, start.Why
	g.state = New(in.Membership, in.Self, start.Generation, app)
	g.state.Load(in.Saved)
	g.publishAt(&r, now, nil)
	return g, r
}

// ring reports whether the member takes part in the ring (a node).
func (g *Gossip) ring() bool { return g.params.Partitions > 0 }

// State is the membership the core holds; read it, do not change it.
func (g *Gossip) State() *State { return g.state }

// Fenced says why this process stopped taking part; "" while it does.
func (g *Gossip) Fenced() string { return g.fenced }

// Newcomer reports whether the node has yet to decide how it enters.
func (g *Gossip) Newcomer() bool { return g.newcomer != nil }

// Transition is the ring transition computed from the members' ring
// statuses, and RingStatuses those statuses; nil for a member without a
// ring.
func (g *Gossip) Transition() *ring.Transition { return g.transition }

// RingStatuses are the statuses Transition was computed from. Shared: do
// not modify.
func (g *Gossip) RingStatuses() map[string]string { return g.statuses }

// TimesDown counts the down events of member id since this process began.
func (g *Gossip) TimesDown(id string) int { return g.downs[id] }

// Saved records that the membership at revision was kept.
func (g *Gossip) Saved(revision uint64) { g.savedRevision = revision }

// Syn is the SYN this node opens an exchange with.
func (g *Gossip) Syn() GossipSyn {
	return GossipSyn{From: g.self, Params: g.params, Digests: g.state.Digests(), SenderNew: g.newcomer != nil}
}

// Step takes one message at time now and returns what to do. A fenced
// process says nothing and hears nothing: no gossip, rounds or joins.
func (g *Gossip) Step(msg any, now time.Time) Ready {
	var r Ready
	if g.fenced != "" {
		switch msg.(type) {
		case GossipSyn, GossipAck, GossipAck2, GossipRefused, GossipRound, GossipCheck, GossipJoin:
			return r
		}
	}
	switch m := msg.(type) {
	case GossipRound:
		g.round(&r, now)
	case GossipCheck:
		if events := g.state.Evaluate(now); len(events) > 0 {
			g.publishAt(&r, now, events)
		}
	case GossipJoin:
		for _, seed := range m.Seeds {
			if !slices.Contains(g.seeds, seed) {
				g.seeds = append(g.seeds, seed)
			}
			r.Send = append(r.Send, Outbound{To: seed, Msg: g.Syn()})
		}
		if g.newcomer != nil {
			g.newcomer.AddSeeds(m.Seeds)
		}
	case GossipUpdate:
		g.state.Set(m.Key, m.Value)
		g.changed = true
		g.publishAt(&r, now, []Event{{Kind: EventStateChanged, Node: g.self, Key: m.Key, Value: m.Value}})
	case GossipLost:
		g.state.TransportLost(m.Addr)
		g.publishAt(&r, now, nil)
	case GossipSyn:
		g.syn(&r, m, now)
	case GossipAck:
		g.ack(&r, m, now)
	case GossipAck2:
		if g.refuseParams(&r, m.From, m.Addr, m.Params) {
			break
		}
		g.publishAt(&r, now, g.identity(&r, g.state.Apply(m.States, now)))
	case GossipRefused:
		g.refused(&r, m, now)
	}
	return r
}

// round is one gossip round: save the membership if it changed, beat,
// evaluate the failure detector, and open exchanges with the round's
// targets (State.RoundTargets).
func (g *Gossip) round(r *Ready, now time.Time) {
	// A restarted node needs its own ring status and its peers' addresses.
	// Saved (unsynced) only when they changed: a write to the store can
	// wait behind other vnodes' fsyncs, and a gossiper that stalls takes
	// heartbeats in bursts, which widens every peer's failure detector.
	if rev := g.state.Revision(); rev != g.savedRevision {
		r.Save, r.SaveRevision = g.state.Snapshot(), rev
	}
	g.state.Tick()
	events := g.state.Evaluate(now)
	for _, addr := range g.state.RoundTargets(now, g.seeds, g.rng) {
		r.Send = append(r.Send, Outbound{To: addr, Msg: g.Syn()})
	}
	g.publishAt(r, now, events)
}

func (g *Gossip) syn(r *Ready, m GossipSyn, now time.Time) {
	if g.refuseParams(r, m.From, m.Addr, m.Params) || m.Addr == "" {
		return
	}
	if g.newcomer != nil {
		// Another newcomer's gossip counts toward the majority that makes
		// the cluster new. A member's is asked back: its answer carries
		// its record of this node's id. (Asking every peer back made two
		// newcomers ask each other for ever.)
		if !m.SenderNew {
			r.Send = append(r.Send, Outbound{To: m.Addr, Msg: g.Syn()})
		} else if g.newcomer.Heard(m.Addr, true, "") != NewcomerUndecided {
			g.publishAt(r, now, g.entered(r, m.Addr))
		}
	}
	ans := g.state.AnswerSyn(m.From, m.Digests, g.newcomer != nil)
	r.Send = append(r.Send, Outbound{ToSender: true, Msg: GossipAck{From: g.self, Params: g.params, States: ans.Send,
		Requests: ans.Requests, SenderWas: ans.SenderWas, SenderNew: ans.SenderNew}})
}

func (g *Gossip) ack(r *Ready, m GossipAck, now time.Time) {
	if g.refuseParams(r, m.From, m.Addr, m.Params) {
		return
	}
	r.Answered = m.Addr
	if g.newcomer != nil && (m.Addr == "" || g.newcomer.Heard(m.Addr, m.SenderNew, m.SenderWas) == NewcomerUndecided) {
		return // nothing is taken or sent before the node knows; an answer from nowhere decides nothing
	}
	events := g.state.Apply(m.States, now)
	events = append(events, g.entered(r, m.Addr)...)
	if delta := g.state.Delta(m.Requests); len(delta) > 0 && m.Addr != "" {
		r.Send = append(r.Send, Outbound{ToSender: true, Msg: GossipAck2{From: g.self, Params: g.params, States: delta}})
	}
	g.publishAt(r, now, g.identity(r, events))
}

// refuseParams refuses a gossip message whose sender's cluster parameters
// differ from this node's, and tells the sender why when it can.
func (g *Gossip) refuseParams(r *Ready, from, addr string, theirs Params) bool {
	reason := g.params.Mismatch(g.self, theirs, from)
	if reason == "" {
		return false
	}
	r.log(slog.LevelError, "refused gossip from a node with other cluster parameters", "from", from, "sender", addr, "reason", reason)
	if addr != "" {
		r.Send = append(r.Send, Outbound{ToSender: true, Msg: GossipRefused{From: g.self, Node: from, Reason: reason}})
	}
	return true
}

// entered acts on a newcomer's decision, taken on the answer of the node
// at addr; the node's state reaches the cluster from then on: as a member
// that takes its place in the ring back, or as a joining node. Taking its
// place back, rather than joining anew, keeps the current ring: joining,
// the node would leave it, and the claim then reshuffles it so that
// replicas that hold nothing of a partition would serve it, and transfers
// would fetch from them. Its data comes back by anti-entropy
// (EventPlaceTakenBack).
func (g *Gossip) entered(r *Ready, addr string) []Event {
	if g.newcomer == nil || g.newcomer.Decided == NewcomerUndecided {
		return nil
	}
	decision := g.newcomer.Decided
	g.newcomer = nil
	g.changed = true
	// Before the node's state changes: a node that takes its place back
	// votes on no strong key until it has rebuilt the partition's
	// acceptor state (the vnodes check it at every step).
	r.Origin, r.Why = AcceptorOriginDecided(decision), "decided on the answer of "+addr
	if own, _ := g.state.Get(g.self, KeyStatus); own != RingJoining || decision != NewcomerTakeBack {
		r.log(slog.LevelInfo, "new data directory: joins as a new member", "decided on the answer of", addr)
		return nil
	}
	g.state.Set(KeyStatus, RingNormal)
	r.log(slog.LevelWarn, "this node was a member and came back with an empty data directory: it takes its place back and copies its replicas from the others")
	return []Event{{Kind: EventPlaceTakenBack, Node: g.self}}
}

// identity acts on the events about two processes claiming one node id and
// returns the other events.
func (g *Gossip) identity(r *Ready, events []Event) []Event {
	var out []Event
	for _, e := range events {
		switch e.Kind {
		case EventRefused:
			r.log(slog.LevelError, "refused a second process claiming a member's id", "member", e.Node, "claimant", e.Key, "reason", e.Value)
			if e.Key == "" {
				continue // a claimant without an address cannot be told
			}
			holder, _ := g.state.Node(e.Node)
			r.Send = append(r.Send, Outbound{To: e.Key, Msg: GossipRefused{From: g.self, Node: e.Node, Reason: e.Value, Identity: true, Holder: &holder}})
		case EventIgnored:
			r.log(slog.LevelWarn, "ignored a gossiped member with an invalid id", "id", e.Node, "reason", e.Value)
		case EventIdentityLost:
			g.fence(r, e.Value)
		case EventGenerationRaised:
			r.log(slog.LevelWarn, "an earlier process of this node had a generation not below this one's (the clock was stepped back); raised it", "earlier", e.Value, "generation", g.state.Generation())
			g.changed = true
		case EventReclaimed:
			r.log(slog.LevelError, "another process claimed this node's id; took it back", "other", e.Value, "generation", g.state.Generation())
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
func (g *Gossip) refused(r *Ready, m GossipRefused, now time.Time) {
	r.log(slog.LevelError, "gossip refused by a peer", "by", m.From, "node", m.Node, "reason", m.Reason)
	if m.Node != g.self {
		return
	}
	if m.Identity {
		if m.Holder == nil {
			return
		}
		if e, ok := g.state.Refused(*m.Holder); ok {
			g.publishAt(r, now, g.identity(r, []Event{e}))
		}
		return
	}
	if len(g.state.IDs()) == 1 {
		r.Fail = fmt.Sprintf("refused by the cluster at %s: %s", m.From, m.Reason)
	}
}

// fence stops this process from taking part: no gossip, and the view tells
// the API to refuse requests with the reason.
func (g *Gossip) fence(r *Ready, reason string) {
	if g.fenced != "" {
		return
	}
	g.fenced = reason
	r.Fence = reason
	r.log(slog.LevelError, "this process stops serving: another process holds its node id; stop it", "reason", reason)
}

func (g *Gossip) publishAt(r *Ready, now time.Time, events []Event) {
	g.publish(r, events)
	g.stepTransition(r, now)
	g.push(r, now)
}

// publish counts and logs events, recomputes the ring transition when a
// member's ring status changed, and marks the view for publishing with
// the events; a ring that cannot be computed publishes nothing.
func (g *Gossip) publish(r *Ready, events []Event) {
	for _, e := range events {
		if e.Kind == EventDown {
			g.downs[e.Node]++
		}
		if e.Kind != EventStateChanged {
			r.log(slog.LevelInfo, "membership", "event", e.Kind, "member", e.Node)
		}
	}
	if g.ring() {
		var ok bool
		if events, ok = g.computeRing(r, events); !ok {
			return
		}
	}
	r.Publish = true
	r.Events = append(r.Events, events...)
}

// stepTransition steps this node through the ring transition
// (StepTransition) once the view is to be published: it applies the state
// changes the step decides and says whether every live member has seen the
// transition.
func (g *Gossip) stepTransition(r *Ready, now time.Time) {
	if !r.Publish || !g.ring() {
		return
	}
	in := TransitionInput{Self: g.self, Transition: g.transition, Known: g.state.IDs(),
		Value: func(id, key string) string { v, _ := g.state.Get(id, key); return v }}
	for _, id := range in.Known {
		if g.state.Status(id, now).Live() {
			in.Live = append(in.Live, id)
		}
	}
	if own, _ := g.state.Get(g.self, KeyStatus); own == RingLeaving && g.hints != nil {
		in.Hints = g.hints()
	}
	step := StepTransition(in)
	for _, kv := range step.Set {
		g.state.Set(kv.Key, kv.Value)
		g.changed = true
	}
	r.Handoff, r.AllSeen = !g.transition.Stable(), step.AllSeen
	g.done = step.Done
}

// push opens an exchange with a random live peer when this node's own
// state changed, rather than waiting for the next round.
func (g *Gossip) push(r *Ready, now time.Time) {
	if !r.Publish || !g.changed {
		return
	}
	g.changed = false
	if addr, ok := g.state.LiveTarget(now, g.rng); ok {
		r.Send = append(r.Send, Outbound{To: addr, Msg: g.Syn()})
	}
}

// computeRing recomputes the ring transition when a member's ring status
// changed, and adds the ring-changed event; false if it cannot be computed.
func (g *Gossip) computeRing(r *Ready, events []Event) ([]Event, bool) {
	statuses := map[string]string{}
	for _, id := range g.state.IDs() {
		statuses[id] = g.state.RingStatus(id)
	}
	if g.transition != nil && maps.Equal(statuses, g.statuses) {
		return events, true
	}
	t, err := ring.NewTransition(statuses, g.params.Partitions, g.params.Replicas)
	if err != nil {
		r.log(slog.LevelError, "compute ring", "err", err)
		return events, false
	}
	if g.transition != nil && t.Key != g.transition.Key {
		events = append(events, Event{Kind: EventRingChanged, Node: g.self})
		r.log(slog.LevelInfo, "ring changed", "transition", t.Key, "moves", len(t.Moves))
	}
	g.transition, g.statuses = t, statuses
	return events, true
}

func (r *Ready) log(level slog.Level, msg string, args ...any) {
	r.Logs = append(r.Logs, Log{Level: level, Msg: msg, Args: args})
}

// Member is one member as this node sees it.
type Member struct {
	ID           string
	ClusterAddr  string
	ClientAddr   string
	Incarnation  uint64
	Generation   int64
	Status       Status
	Phi          float64
	HeartbeatAge time.Duration // -1: never heard
	Protocol     int
	TimesDown    int // down events for this member since this process started
	// HintsPending is how many hints the member last said it keeps.
	HintsPending int64
}

// View is an immutable snapshot of membership and ring, which the
// gossiper publishes after a step and the rest of a node reads.
type View struct {
	Self string
	// Fenced says why this process stopped serving (another process holds
	// its node id); "" while it serves.
	Fenced string
	// Ring is the current ring: reads and counted writes use it; nil for a
	// member without a ring.
	Ring *ring.Ring
	// Transition holds Ring and, while members join or leave, the next ring
	// that writes also go to.
	Transition *ring.Transition
	// RingStatuses is each member's place in the ring (ring.Status*), from
	// which Transition was computed. Shared: do not modify.
	RingStatuses map[string]string
	N            int
	Members      map[string]Member
	// ChangedAt is when the transition or any member's presence, state or
	// generation last changed, as this node saw it.
	ChangedAt time.Time
	// TransitionDone lists the members that finished their transfers for
	// the transition under way.
	TransitionDone []string
}

// View is the view at time now; prev is the one published before (nil at
// start), whose ChangedAt it keeps when nothing that it dates changed.
func (g *Gossip) View(now time.Time, prev *View) *View {
	v := &View{Self: g.self, Fenced: g.fenced, N: g.params.Replicas, Members: map[string]Member{}}
	if g.ring() && g.transition != nil {
		v.Ring, v.Transition, v.RingStatuses, v.TransitionDone = g.transition.Current, g.transition, g.statuses, g.done
	}
	for _, id := range g.state.IDs() {
		st, _ := g.state.Node(id)
		m := Member{ID: id, Status: g.state.Status(id, now), Generation: st.Generation,
			Phi: g.state.Phi(id, now), HeartbeatAge: g.state.HeartbeatAge(id, now), Protocol: g.state.Protocol(id),
			TimesDown: g.downs[id]}
		m.ClusterAddr, _ = g.state.Get(id, KeyClusterAddr)
		m.ClientAddr, _ = g.state.Get(id, KeyClientAddr)
		inc, _ := g.state.Get(id, KeyIncarnation)
		m.Incarnation, _ = strconv.ParseUint(inc, 10, 64)
		hints, _ := g.state.Get(id, KeyHintsPending)
		m.HintsPending, _ = strconv.ParseInt(hints, 10, 64)
		v.Members[id] = m
	}
	v.ChangedAt = now
	if prev != nil && !prev.changedFrom(v) {
		v.ChangedAt = prev.ChangedAt
	}
	return v
}

// changedFrom reports whether b differs from a in its ring transition or
// in any member's presence, state or generation.
func (a *View) changedFrom(b *View) bool {
	if a.transitionKey() != b.transitionKey() || len(a.Members) != len(b.Members) {
		return true
	}
	for id, m := range b.Members {
		if o, ok := a.Members[id]; !ok || o.Status != m.Status || o.Generation != m.Generation {
			return true
		}
	}
	return false
}

// transitionKey is v's ring transition key; "" for a member without a ring.
func (v *View) transitionKey() string {
	if v.Transition == nil {
		return ""
	}
	return v.Transition.Key
}
