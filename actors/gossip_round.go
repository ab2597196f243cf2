package actors

import (
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

// The gossiper's rounds: whom it gossips with and when.

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
	ctx.Request(actor.NewPID(addr, gossiperName), &internalpb.GossipSyn{From: g.self, Digests: digestsToProto(g.state.Digests()), Params: g.paramsProto(), SenderNew: g.newcomer != nil})
}

func (g *gossiper) paramsProto() *internalpb.ClusterParams {
	return &internalpb.ClusterParams{Partitions: uint32(g.params.Partitions), Replicas: uint32(g.params.Replicas), SecretFingerprints: g.params.SecretFingerprints}
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
		if err := g.members.SaveMembers(&internalpb.MembershipSnapshot{States: statesToProto(g.state.Snapshot())}); err != nil {
			g.log.Warn("save members", "err", err)
		} else {
			g.savedRevision = rev
		}
	}
	g.state.Tick()
	events := g.state.Evaluate(now)
	// The round's peers: any not down or gone, suspects included (gossip
	// is how a suspect member clears), and now and then a down one.
	var reachable, down []string
	for _, id := range g.state.IDs() {
		if id == g.self {
			continue
		}
		switch g.state.Status(id, now) {
		case membership.Down:
			down = append(down, id)
		case membership.Left:
		default:
			reachable = append(reachable, id)
		}
	}
	addr := func(id string) string { v, _ := g.state.Get(id, membership.KeyClusterAddr); return v }
	if len(reachable) > 0 {
		g.syn(ctx, addr(reachable[g.rng.IntN(len(reachable))]))
	}
	if len(down) > 0 && g.rng.Float64() < float64(len(down))/float64(len(reachable)+1) {
		g.syn(ctx, addr(down[g.rng.IntN(len(down))]))
	}
	own, _ := g.state.Get(g.self, membership.KeyClusterAddr)
	seeds := slices.DeleteFunc(slices.Clone(g.seeds), func(s string) bool { return s == own })
	if len(seeds) > 0 && (len(reachable) == 0 || g.rng.Float64() < 1/float64(len(reachable)+1)) {
		g.syn(ctx, seeds[g.rng.IntN(len(seeds))])
	}
	g.publish(now, events)
}

// pushToRandomPeer opens an exchange with one random live peer.
func (g *gossiper) pushToRandomPeer(now time.Time) {
	var live []string
	for _, id := range g.state.IDs() {
		if id != g.self && g.state.Status(id, now).Live() {
			live = append(live, id)
		}
	}
	if len(live) > 0 {
		addr, _ := g.state.Get(live[g.rng.IntN(len(live))], membership.KeyClusterAddr)
		g.syn(g.ctx, addr)
	}
}
