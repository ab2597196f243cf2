package actors

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/actors/actorkit"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/ring"
	xfer "github.com/harmoniakv/harmonia/cluster/transfer"
	"github.com/harmoniakv/harmonia/persistence"
)

// The rebuild of the acceptor state of strong keys on a node that came
// back with an empty data directory.
//
// Such a node took its place in the ring back (membership.Newcomer) under
// a new incarnation, but the promises and acceptances its lost incarnation
// answered are gone, and proposers counted them: a quorum that counts the
// node with an empty state may miss a value chosen with its old vote. So
// the node (membership.AcceptorsLost, recorded before it takes its place
// back) refuses every step on a partition's keys, reads too, until it has
// rebuilt that partition's acceptor state:
//
//   - It reads the acceptor states of the other voters of the partition,
//     enough of them to meet every quorum that could have counted it
//     (paxos.Covers: both others of three), each of them in its own view
//     of the ring transition.
//   - For each register a peer holds, it raises its promise to the peer's
//     (State.Raise). A proposer that counted the lost incarnation's promise
//     of ballot c counted a promise of c from another voter of that quorum
//     too, one of those read: the rebuilt node refuses what is below c, as
//     its lost incarnation would have.
//   - A peer's settled value (known chosen) is applied as a commit, safe at
//     any acceptor (paxos.Carry).
//   - A peer's value accepted but not known chosen is not taken as accepted:
//     the lost incarnation may never have accepted it, and a vote for it
//     where no proposer asked could make a lost value chosen. It is
//     completed instead: a strong read through this node's proposer, which
//     this node's vnode refuses (it is rebuilding), so the quorum is of the
//     others; the read finishes the newest proposal at a majority of them.
//     A value chosen with the lost incarnation's vote was accepted by a
//     quorum containing it and so by one of the peers read: completed, it
//     is then held by a majority of the others, which meets every quorum
//     that counts the rebuilt node.
//   - Once a partition is read whole from enough peers and its completions
//     are done, the node marks it rebuilt, durably (a restart neither
//     rebuilds it again nor forgets it), and votes on its keys from then on.
//
// One assumption remains: a proposer that counted the lost incarnation's
// vote must have had its other votes of that round (from the peers) cast
// before the rebuild reads the peers; a vote cast at a peer after the read
// is not seen. The rebuild therefore starts HandoffConfig.RebuildDelay
// after the node started (15 s by default), longer than a proposer lives
// (its request timeout), and the old incarnation stopped before the node
// started. Crash-consistent quorums (proposers that drop a vote of an
// incarnation that a later answer shows replaced: Michael et al., 2017)
// would remove the timing from the argument; they are not done.

type rebuildTick struct{}

// acceptorRebuild runs the rebuilds: at most HandoffConfig.Concurrency at
// a time, one child per partition this node is a voter of and has not
// rebuilt, once RebuildDelay has passed since the node started. A child
// whose ring transition is no longer the view's is stopped and started
// again in the new view (its voters may have changed).
type acceptorRebuild struct {
	cfg    HandoffConfig
	self   string
	store  *persistence.Store
	view   *viewHolder
	tables *catalogHolder
	log    *slog.Logger

	started  time.Time
	cancel   func()
	running  map[int]rebuildChild
	children map[string]int // child id -> partition
}

type rebuildChild struct {
	pid *actor.PID
	key string // the ring transition it rebuilds in
}

func (r *acceptorRebuild) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		r.started = time.Now()
		r.running, r.children = map[int]rebuildChild{}, map[string]int{}
		r.cancel = actorkit.TickSelf(ctx, r.cfg.RetryDelay, rebuildTick{})
	case *actor.Stopping:
		if r.cancel != nil {
			r.cancel()
		}
	case rebuildTick:
		r.fill(ctx)
	case transferDone:
		// A child's Terminated may arrive before its last message (a
		// system message overtakes it): the rebuild is done whether or
		// not the child is still listed.
		if c, ok := r.running[m.partition]; ok && c.key == m.key {
			delete(r.running, m.partition)
			delete(r.children, c.pid.Id)
		}
		if !r.counts(m.key) {
			return // rebuilt for voters that changed since: again, at the next tick
		}
		if err := r.store.MarkAcceptorsRebuilt(m.partition); err != nil {
			r.log.Error("mark the acceptor state rebuilt", "partition", m.partition, "err", err)
			return
		}
		r.log.Info("acceptor state rebuilt from the peers; the node votes on the partition's strong keys again", "partition", m.partition)
		r.fill(ctx)
	case *actor.Terminated:
		if p, ok := r.children[m.Who.Id]; ok {
			delete(r.children, m.Who.Id)
			if r.running[p].pid.Equal(m.Who) {
				delete(r.running, p) // crashed or stopped: started again at the next tick
			}
		}
	}
}

// counts reports whether a rebuild read in the transition key makes its
// partition rebuilt (xfer.RebuildCounts).
func (r *acceptorRebuild) counts(key string) bool {
	v := r.view.Load()
	if v == nil || v.Transition == nil {
		return xfer.RebuildCounts(key, "", false)
	}
	return xfer.RebuildCounts(key, v.Transition.Key, true)
}

// fill stops rebuilds of another transition and starts those due, as
// xfer.PlanRebuilds decides.
func (r *acceptorRebuild) fill(ctx actor.Context) {
	s := xfer.RebuildState{AcceptorsLost: r.store.AcceptorOrigin() == membership.AcceptorsLost, Started: r.started,
		Delay: r.cfg.RebuildDelay, Concurrency: r.cfg.Concurrency, Running: make(map[int]string, len(r.running))}
	for p, c := range r.running {
		s.Running[p] = c.key
	}
	v := r.view.Load()
	if v != nil && v.Transition != nil && v.Ring != nil {
		s.InTransition, s.Transition, s.Partitions = true, v.Transition.Key, v.Ring.Partitions()
		s.IsVoter = func(p int) bool { return v.Transition.IsVoter(p, r.self) }
		s.Rebuilt = r.store.AcceptorsRebuilt
	}
	plan := xfer.PlanRebuilds(s, time.Now())
	for _, p := range plan.Stop {
		ctx.Stop(r.running[p].pid)
		delete(r.running, p)
	}
	for _, p := range plan.Start {
		key, groups := v.Transition.Key, v.Transition.Voters(p)
		props := actorkit.Props(func() actor.Actor {
			return &transfer{cfg: r.cfg, key: key, move: ring.Move{Partition: p}, store: r.store, view: r.view, tables: r.tables, log: r.log,
				rebuild: true, groups: groups, self: r.self}
		})
		pid, err := ctx.SpawnNamed(props, fmt.Sprintf("rebuild-%d-%d", p, time.Now().UnixNano()))
		if err != nil {
			r.log.Error("start the rebuild of an acceptor state", "partition", p, "err", err)
			return
		}
		r.running[p] = rebuildChild{pid: pid, key: key}
		r.children[pid.Id] = p
	}
}
