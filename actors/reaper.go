package actors

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/paxos"
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
	cfg    reap.Config
	view   *viewHolder
	store  *persistence.Store
	gossip *Gossiper
	table  *reapTable

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
		r.cancels = append(r.cancels, tickSelf(ctx, reaperPublishInterval, reaperPublish{}))
		if r.cfg.Grace > 0 {
			r.cancels = append(r.cancels, tickSelf(ctx, r.cfg.Interval, reaperTick{}))
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
		r.gossip.setControl(membership.KeyHintsPending, strconv.FormatInt(n, 10))
		r.published = n
	}
}

func (r *reaper) tick(ctx actor.Context) {
	v := r.view.Load()
	if v == nil {
		return
	}
	local := r.store.HintCount()
	cl := reap.Cluster{Transition: !v.Transition.Stable(), Unchanged: time.Since(v.ChangedAt)}
	for id, m := range v.Members {
		if m.Status == membership.Left {
			continue
		}
		rm := reap.Member{ID: id, Up: m.Status == membership.Up, HintsPending: m.HintsPending}
		if id == v.Self {
			rm.Up, rm.HintsPending = true, local
		}
		cl.Members = append(cl.Members, rm)
	}
	blocked := r.cfg.Blocked(cl)
	r.table.setBlocked(blocked)
	if blocked != "" {
		return
	}
	var held []heldPartition
	for p := 0; p < v.Ring.Partitions(); p++ {
		if pref := v.Ring.PreferenceListForPartition(p, v.N); slices.Contains(pref, v.Self) {
			held = append(held, heldPartition{p, pref})
		} else {
			ctx.Send(v.localVnodePID(p), dropPartition{})
		}
	}
	if r.round != nil || len(held) == 0 {
		return
	}
	r.round = ctx.Spawn(propsOf(func() actor.Actor {
		return &reapRound{cfg: r.cfg, view: v, partitions: held}
	}))
}

type reapRoundTimeout struct{}

// heldPartition is a partition this node is a replica of, with its
// preference list.
type heldPartition struct {
	p    int
	pref []string
}

// reapRound goes through the partitions this node holds: it asks the local
// vnode for tombstones past grace, asks every replica whether it holds each
// at the same version (or nothing), and has them all delete the ones every
// replica agrees on. Every replica runs rounds, so a tombstone is reaped
// even when the replica that lacks it would be the one to look. Each
// partition is gone through twice: its objects' tombstones, then its
// strong keys' (acceptor state of deleted registers, paxos.Droppable).
type reapRound struct {
	cfg        reap.Config
	view       *View
	partitions []heldPartition

	i         int
	acceptors bool // the second pass over partition i
	entries   []*internalpb.ReapEntry
	commit    bool
	replies   map[string]*internalpb.ReapReply
	// The strong tombstones of partition i past grace still to erase
	// before its erased registers are asked about (drop), and the attempt
	// of the erase in flight.
	erase    []eraseCandidate
	drop     []*internalpb.ReapEntry
	erasing  int
	attempts int
}

// eraseTimeout bounds one erase; one that does not finish leaves the
// tombstone as it was, for the next round.
const eraseTimeout = 5 * time.Second

func (r *reapRound) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		sendSelfAfter(ctx, reapRoundLimit, reapRoundTimeout{})
		r.scan(ctx)
	case []*internalpb.ReapEntry:
		r.askAbout(ctx, m)
	case acceptorScan:
		r.erase, r.drop = m.erase, m.drop
		r.eraseNext(ctx)
	case strongAnswered: // an erase ended
		if m.attempt != r.erasing {
			return
		}
		r.erasing = 0
		r.erase = r.erase[1:] // erased, or not (its outcome is the next round's to find)
		r.eraseNext(ctx)
	case *internalpb.ReapReply:
		r.replies[m.Node] = m
		if len(r.replies) < len(r.partitions[r.i].pref) {
			return
		}
		if r.commit {
			r.next(ctx)
			return
		}
		agreed := r.agreed()
		if len(agreed) == 0 {
			r.next(ctx)
			return
		}
		r.commit = true
		r.ask(ctx, agreed)
	case reapRoundTimeout:
		ctx.Stop(ctx.Self())
	}
}

// askAbout asks every replica about entries, or goes on when there are none.
func (r *reapRound) askAbout(ctx actor.Context, entries []*internalpb.ReapEntry) {
	if len(entries) == 0 {
		r.next(ctx)
		return
	}
	r.commit = false
	r.ask(ctx, entries)
}

// eraseNext erases the next strong tombstone past grace through this
// node's proposer (OpErase: the tombstone, if still the register's value,
// becomes the erased value, which the next rounds drop), then asks about
// the erased registers the scan found.
func (r *reapRound) eraseNext(ctx actor.Context) {
	if len(r.erase) == 0 {
		r.askAbout(ctx, r.drop)
		return
	}
	r.attempts++
	r.erasing = r.attempts
	c := r.erase[0]
	askStrong(ctx, &StrongRequest{Key: c.key, Op: paxos.Op{Kind: paxos.OpErase, Cond: paxos.CondVersion, Version: c.version}, Timeout: eraseTimeout}, r.attempts)
}

func (r *reapRound) scan(ctx actor.Context) {
	if r.i >= len(r.partitions) {
		ctx.Stop(ctx.Self())
		return
	}
	ctx.Request(r.view.localVnodePID(r.partitions[r.i].p), reapScan{rule: r.cfg, now: wallclock.Now(), max: r.cfg.MaxPerRound, acceptors: r.acceptors})
}

// next goes on to the partition's strong keys, or to the next partition.
func (r *reapRound) next(ctx actor.Context) {
	if r.acceptors = !r.acceptors; !r.acceptors {
		r.i++
	}
	r.scan(ctx)
}

// ask sends entries to every replica of the partition: a question, or with
// commit set the order to delete.
func (r *reapRound) ask(ctx actor.Context, entries []*internalpb.ReapEntry) {
	r.entries = entries
	r.replies = map[string]*internalpb.ReapReply{}
	hp := r.partitions[r.i]
	req := &internalpb.Reap{Partition: uint32(hp.p), Entries: entries, Commit: r.commit, Sender: r.view.sender(), Acceptors: r.acceptors}
	for _, id := range hp.pref {
		ctx.Request(r.view.vnodePID(id, hp.p), req)
	}
}

// agreed returns the entries every replica holds at the asked version.
func (r *reapRound) agreed() []*internalpb.ReapEntry {
	var out []*internalpb.ReapEntry
	for j, e := range r.entries {
		holds := map[string]bool{}
		for id, rep := range r.replies {
			holds[id] = rep.Error == "" && j < len(rep.Holds) && rep.Holds[j]
		}
		if reap.Agreed(r.partitions[r.i].pref, holds) {
			out = append(out, e)
		}
	}
	return out
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
