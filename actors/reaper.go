package actors

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/actors/actorkit"
	"github.com/harmoniakv/harmonia/actors/gossip"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxospb"
	"github.com/harmoniakv/harmonia/cluster/reap"
	"github.com/harmoniakv/harmonia/internal/wallclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"github.com/harmoniakv/harmonia/persistence"
)

// reaperPublishInterval is how often a node publishes its hint count;
// reaping needs it fresh.
const reaperPublishInterval = time.Second

// reapRoundLimit bounds one round over this node's partitions; a round
// cut short leaves every tombstone as it was and the next round goes on.
const reapRoundLimit = time.Minute

// reapTable is what the status API shows of reaping.
type reapTable struct {
	mu      sync.Mutex
	blocked string
}

func (t *reapTable) setBlocked(reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.blocked = reason
}

func (t *reapTable) get() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.blocked
}

type (
	reaperPublish struct{}
	reaperTick    struct{}
)

// reaper deletes tombstones once package reap allows it, and drops the
// copies this node keeps of partitions it holds no replica of (writes it
// took as a fallback, or partitions it handed off) once no hint needs them.
// It publishes this node's hint count so that every reaper sees it.
type reaper struct {
	cfg     reap.Config
	view    *viewHolder
	store   *persistence.Store
	control gossip.Control
	table   *reapTable

	cancels   []func()
	published int64
	round     *actor.PID // the reap round running, if any
}

func (r *reaper) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		// The first publish waits for the ticker, when the gossiper (spawned
		// after this actor) surely exists.
		r.published = -1
		r.cancels = append(r.cancels, actorkit.TickSelf(ctx, reaperPublishInterval, reaperPublish{}))
		if r.cfg.Grace > 0 {
			r.cancels = append(r.cancels, actorkit.TickSelf(ctx, r.cfg.Interval, reaperTick{}))
			r.table.setBlocked(fmt.Sprintf("no round yet (one every %v)", r.cfg.Interval))
		} else {
			r.table.setBlocked(r.cfg.Blocked(reap.Cluster{}))
		}
	case *actor.Stopping:
		for _, c := range r.cancels {
			c()
		}
	case reaperPublish:
		r.publish()
	case reaperTick:
		r.tick(ctx)
	case *actor.Terminated:
		// A round stops itself when done; a crashed one is stopped by the
		// supervisor, and the next tick starts over.
		if r.round != nil && m.Who.Id == r.round.Id {
			r.round = nil
		}
	}
}

// publish gossips this node's hint count when it changed.
func (r *reaper) publish() {
	if n := r.store.HintCount(); n != r.published {
		r.control.Set(membership.KeyHintsPending, strconv.FormatInt(n, 10))
		r.published = n
	}
}

// tick carries out reap.Config.Plan: it drops the partitions this node is
// no replica of and starts a reap round over the ones it holds, unless one
// still runs.
func (r *reaper) tick(ctx actor.Context) {
	v := r.view.Load()
	if v == nil {
		return
	}
	cl := reap.Cluster{Members: reap.MembersOf(v.Self, r.store.HintCount(), v.Members), Transition: !v.Transition.Stable(), Unchanged: time.Since(v.ChangedAt)}
	blocked, held, drop := r.cfg.Plan(cl, v.Ring, v.N, v.Self)
	r.table.setBlocked(blocked)
	if blocked != "" {
		return
	}
	for _, p := range drop {
		ctx.Send(v.localVnodePID(p), dropPartition{})
	}
	if r.round != nil || len(held) == 0 {
		return
	}
	r.round = ctx.Spawn(actorkit.Props(func() actor.Actor {
		return &reapRound{cfg: r.cfg, view: v, partitions: held}
	}))
}

type reapRoundTimeout struct{}

// reapRound runs one reap.Round over the partitions this node holds: it
// asks its vnodes and the replicas what the round decides, and feeds it
// their answers and the ends of its erases.
type reapRound struct {
	cfg        reap.Config
	view       *View
	partitions []reap.HeldPartition
	core       *reap.Round
	timer      actorkit.SelfTimer // the round's time limit
}

// eraseTimeout bounds one erase; one that does not finish leaves the
// tombstone as it was, for the next round.
const eraseTimeout = 5 * time.Second

func (r *reapRound) Receive(ctx actor.Context) {
	var step reap.RoundStep
	switch m := ctx.Message().(type) {
	case *actor.Started:
		r.timer.After(ctx, reapRoundLimit, reapRoundTimeout{})
		r.core, step = reap.NewRound(r.partitions)
	case *actor.Stopping:
		r.timer.Stop()
		return
	case []*internalpb.ReapEntry:
		step = r.core.Scanned(reapEntries(m))
	case acceptorScan:
		erase := make([]reap.Erasable, len(m.erase))
		for i, c := range m.erase {
			erase[i] = reap.Erasable{Key: c.key, Version: c.version}
		}
		step = r.core.ScannedAcceptors(erase, reapEntries(m.drop))
	case strongAnswered: // an erase ended: erased, or not (its outcome is the next round's to find)
		step = r.core.Erased(m.attempt)
	case *internalpb.ReapReply:
		step = r.core.Replied(m.Node, m.Holds, m.Error != "")
	case reapRoundTimeout:
		ctx.Stop(ctx.Self())
		return
	default:
		return
	}
	r.execute(ctx, step)
}

// erasedProto is an entry's erased ballot on the wire: none for an
// object's tombstone.
func erasedProto(b paxos.Ballot) *internalpb.PaxosBallot {
	if b.IsZero() {
		return nil
	}
	return paxospb.BallotToProto(b)
}

func reapEntries(in []*internalpb.ReapEntry) []reap.Entry {
	out := make([]reap.Entry, len(in))
	for i, e := range in {
		erased, _ := paxospb.BallotFromProto(e.Erased) // a vnode's own scan: well formed
		out[i] = reap.Entry{Key: e.Key, Digest: e.Digest, Erased: erased}
	}
	return out
}

func (r *reapRound) execute(ctx actor.Context, step reap.RoundStep) {
	switch {
	case step.Done:
		ctx.Stop(ctx.Self())
	case step.Scan != nil:
		ctx.Request(r.view.localVnodePID(step.Scan.Partition), reapScan{rule: r.cfg, now: wallclock.Now(), max: r.cfg.MaxPerRound, acceptors: step.Scan.Acceptors})
	case step.Erase != nil:
		askStrong(ctx, &StrongRequest{Key: step.Erase.Key, Op: paxos.Op{Kind: paxos.OpErase, Cond: paxos.CondVersion, Version: step.Erase.Version}, Timeout: eraseTimeout}, step.Attempt)
	case step.Ask != nil:
		a := step.Ask
		req := &internalpb.Reap{Partition: uint32(a.Partition), Commit: a.Commit, Sender: r.view.sender(), Acceptors: a.Acceptors}
		if a.Acceptors {
			req.Transition = r.view.Transition.Fingerprint // the tick ran only in a stable one
		}
		for _, e := range a.Entries {
			req.Entries = append(req.Entries, &internalpb.ReapEntry{Key: e.Key, Digest: e.Digest, Erased: erasedProto(e.Erased)})
		}
		for _, id := range a.Replicas {
			ctx.Request(r.view.vnodePID(id, a.Partition), req)
		}
	}
}

// ReapStats is what a node shows of reaping.
type ReapStats struct {
	TombstonesHeld    int64  // tombstones this node's vnodes hold
	Reaped            uint64 // tombstones deleted since this process started
	PartitionsDropped uint64 // non-replica partitions dropped since then
	Blocked           string // why reaping waits; "" when it does not
	// AcceptorStatesDropped counts strong tombstones whose acceptor state
	// was dropped since this process started.
	AcceptorStatesDropped uint64
}

// ReplicaDataRefused counts the replica data this node's vnodes refused
// from senders that are not members in good standing (View.Admits).
func (s *System) ReplicaDataRefused() uint64 { return s.counters.refused.count.Load() }

// Reaping returns this node's reaping figures.
func (s *System) Reaping() ReapStats {
	return ReapStats{TombstonesHeld: s.counters.tombstonesHeld.Load(), Reaped: s.counters.reaped.Load(),
		PartitionsDropped: s.counters.dropped.Load(), Blocked: s.reaps.get(), AcceptorStatesDropped: s.counters.acceptorsDropped.Load()}
}
