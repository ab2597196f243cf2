package actors

import (
	"log/slog"
	"slices"
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
	Interval   time.Duration
	Membership membership.Config
	// Seeds are cluster addresses to gossip with until their nodes are known.
	Seeds []string
}

type (
	gossipTick   struct{}
	endpointLost struct{ addr string }
)

// gossiper spreads membership: every round it advances its heartbeat and
// sends its member list to every known member and seed, merges what it hears,
// and publishes a new View for the request state machines.
type gossiper struct {
	cfg        GossipConfig
	self       membership.Member
	partitions int
	store      *persistence.Store
	view       *viewHolder
	log        *slog.Logger
	state      *membership.State
	ring       *ring.Ring
	cancel     func()
	ready      *readySignal // done once the first View is published
}

func (g *gossiper) Receive(ctx actor.Context) {
	now := time.Now()
	switch m := ctx.Message().(type) {
	case *actor.Started:
		g.state = membership.New(g.cfg.Membership, g.self, now)
		if saved, err := g.store.Members(); err != nil {
			g.log.Warn("load saved members", "err", err)
		} else {
			g.state.Seen(membersFromProto(saved), now)
		}
		g.publish(now)
		g.ready.done()
		self, sys := ctx.Self(), ctx.ActorSystem()
		t := time.NewTicker(g.cfg.Interval)
		done := make(chan struct{})
		go func() {
			for {
				select {
				case <-t.C:
					sys.Root.Send(self, gossipTick{})
				case <-done:
					t.Stop()
					return
				}
			}
		}()
		g.cancel = func() { close(done) }
		g.round(ctx, now)
	case *actor.Stopping:
		if g.cancel != nil {
			g.cancel()
		}
	case gossipTick:
		g.round(ctx, now)
	case *internalpb.Gossip:
		if g.state.Merge(membersFromProto(m.Members), now) {
			g.log.Info("member joined", "members", g.state.IDs())
			if err := g.store.SaveMembers(membersToProto(g.state.Members())); err != nil {
				g.log.Warn("save members", "err", err)
			}
		}
		g.publish(now)
	case endpointLost:
		g.state.MarkUnreachable(m.addr)
		g.publish(now)
	}
}

func (g *gossiper) round(ctx actor.Context, now time.Time) {
	g.state.Tick(now)
	msg := &internalpb.Gossip{From: g.self.ID, Members: membersToProto(g.state.Members())}
	sent := map[string]bool{g.self.ClusterAddr: true}
	for _, m := range g.state.Members() {
		if !sent[m.ClusterAddr] {
			sent[m.ClusterAddr] = true
			ctx.Send(actor.NewPID(m.ClusterAddr, gossiperName), msg)
		}
	}
	for _, addr := range g.cfg.Seeds {
		if !sent[addr] {
			sent[addr] = true
			ctx.Send(actor.NewPID(addr, gossiperName), msg)
		}
	}
	g.publish(now)
}

// publish recomputes the ring when the member set changed and stores a new View.
func (g *gossiper) publish(now time.Time) {
	ids := g.state.IDs()
	if g.ring == nil || !slices.Equal(g.ring.Members(), ids) {
		r, err := ring.New(ids, g.partitions)
		if err != nil {
			g.log.Error("compute ring", "err", err)
			return
		}
		g.ring = r
	}
	v := &View{Self: g.self.ID, Ring: g.ring, Members: map[string]MemberView{}}
	for _, m := range g.state.Members() {
		v.Members[m.ID] = MemberView{
			ID: m.ID, ClusterAddr: m.ClusterAddr, ClientAddr: m.ClientAddr, Incarnation: m.Incarnation,
			Up: g.state.Up(m.ID, now), HeartbeatAge: g.state.HeartbeatAge(m.ID, now),
		}
	}
	g.view.Store(v)
}

func membersToProto(ms []membership.Member) []*internalpb.Member {
	out := make([]*internalpb.Member, len(ms))
	for i, m := range ms {
		out[i] = &internalpb.Member{Id: m.ID, ClusterAddr: m.ClusterAddr, ClientAddr: m.ClientAddr,
			Incarnation: m.Incarnation, Heartbeat: m.Heartbeat, Protocol: m.Protocol, Generation: m.Generation}
	}
	return out
}

func membersFromProto(ms []*internalpb.Member) []membership.Member {
	out := make([]membership.Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, membership.Member{ID: m.Id, ClusterAddr: m.ClusterAddr, ClientAddr: m.ClientAddr,
			Incarnation: m.Incarnation, Heartbeat: m.Heartbeat, Protocol: m.Protocol, Generation: m.Generation})
	}
	return out
}
