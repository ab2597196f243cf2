package actors

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

// The gossiper's checks of who it gossips with: cluster parameters every
// member must share, and one process per node id (a later claimant is
// refused and fenced; a frozen holder takes its id back).

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
		case membership.EventIgnored:
			g.log.Warn("ignored a gossiped member with an invalid id", "id", e.Node, "reason", e.Value)
		case membership.EventIdentityLost:
			g.fence(e.Value)
		case membership.EventGenerationRaised:
			g.log.Warn("an earlier process of this node had a generation not below this one's (the clock was stepped back); raised it", "earlier", e.Value, "generation", g.state.Generation())
			g.changed = true
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
