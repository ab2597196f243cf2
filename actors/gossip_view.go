package actors

import (
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/ring"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

// What the gossiper makes of the membership: the ring transition step and
// the View every other actor reads; and the wire form of gossip state.

// advanceTransition steps this node through the ring transition
// (membership.StepTransition): it applies the state changes the step
// decides and tells the handoff actor whether every live member has seen
// the transition. It returns the members done with the transition.
func (g *gossiper) advanceTransition(now time.Time) []string {
	in := membership.TransitionInput{Self: g.self, Transition: g.transition, Known: g.state.IDs(),
		Value: func(id, key string) string { v, _ := g.state.Get(id, key); return v }}
	for _, id := range in.Known {
		if g.state.Status(id, now).Live() {
			in.Live = append(in.Live, id)
		}
	}
	if own, _ := g.state.Get(g.self, membership.KeyStatus); own == membership.RingLeaving && g.hintCount != nil {
		in.Hints = g.hintCount()
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
	v := &View{Self: g.self, Fenced: g.fenced, N: g.n, Members: map[string]MemberView{}}
	if g.partitions > 0 {
		var ok bool
		if events, ok = g.computeRing(events); !ok {
			return
		}
		v.Ring, v.Transition, v.RingStatuses = g.transition.Current, g.transition, g.statuses
		v.TransitionDone = g.advanceTransition(now)
	}
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
			h.HandleEvent(e)
		}
	}
}

// computeRing recomputes the ring transition when a member's ring status
// changed, and adds the ring-changed event; false if it cannot be computed.
func (g *gossiper) computeRing(events []membership.Event) ([]membership.Event, bool) {
	statuses := map[string]string{}
	for _, id := range g.state.IDs() {
		statuses[id] = g.state.RingStatus(id)
	}
	if g.transition != nil && maps.Equal(statuses, g.statuses) {
		return events, true
	}
	t, err := ring.NewTransition(statuses, g.partitions, g.n)
	if err != nil {
		g.log.Error("compute ring", "err", err)
		return events, false
	}
	if g.transition != nil && t.Key != g.transition.Key {
		events = append(events, membership.Event{Kind: membership.EventRingChanged, Node: g.self})
		g.log.Info("ring changed", "transition", t.Key, "moves", len(t.Moves))
	}
	g.transition, g.statuses = t, statuses
	return events, true
}

// membersChanged reports whether b differs from a in its ring transition or
// in any member's presence, state or generation.
func membersChanged(a, b *View) bool {
	if transitionKey(a) != transitionKey(b) || len(a.Members) != len(b.Members) {
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
func transitionKey(v *View) string {
	if v.Transition == nil {
		return ""
	}
	return v.Transition.Key
}

func statesToProto(states []membership.NodeState) []*internalpb.NodeState {
	out := make([]*internalpb.NodeState, len(states))
	for i, s := range states {
		p := &internalpb.NodeState{Id: s.ID, Generation: s.Generation, Heartbeat: s.Heartbeat, Since: s.Since}
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
		s := membership.NodeState{ID: p.Id, Generation: p.Generation, Heartbeat: p.Heartbeat, Since: p.Since, App: map[string]membership.Versioned{}}
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
