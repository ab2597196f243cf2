package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/actors/actorkit"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

// The gossiper's rounds: whom it gossips with and when.

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

func (g *gossiper) syn(ctx actor.Context, addr string) {
	ctx.Request(actor.NewPID(addr, gossiperName), &internalpb.GossipSyn{From: g.self, Digests: digestsToProto(g.state.Digests()), Params: g.paramsProto(), SenderNew: g.newcomer != nil})
}

func (g *gossiper) paramsProto() *internalpb.ClusterParams {
	return &internalpb.ClusterParams{Partitions: uint32(g.params.Partitions), Replicas: uint32(g.params.Replicas), SecretFingerprints: g.params.SecretFingerprints}
}

// round is one gossip round: save the membership if it changed, beat,
// evaluate the failure detector, and open exchanges with the round's
// targets (membership.State.RoundTargets).
func (g *gossiper) round(ctx actor.Context, now time.Time) {
	// A restarted node needs its own ring status and its peers' addresses.
	// Saved (unsynced) only when they changed: a write to the store can
	// wait behind other vnodes' fsyncs, and a gossiper that stalls takes
	// heartbeats in bursts, which widens every peer's failure detector.
	if rev := g.state.Revision(); rev != g.savedRevision {
		if err := g.members.SaveMembers(&internalpb.MembershipSnapshot{States: statesToProto(g.state.Snapshot())}); err != nil {
			g.log.Warn("save members", "err", err)
		} else {
			g.savedRevision = rev
		}
	}
	g.state.Tick()
	events := g.state.Evaluate(now)
	for _, addr := range g.state.RoundTargets(now, g.seeds, g.rng) {
		g.syn(ctx, addr)
	}
	g.publish(now, events)
}

// pushToRandomPeer opens an exchange with one random live peer.
func (g *gossiper) pushToRandomPeer(now time.Time) {
	if addr, ok := g.state.LiveTarget(now, g.rng); ok {
		g.syn(g.ctx, addr)
	}
}
