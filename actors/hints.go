package actors

import (
	"maps"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/actors/actorkit"
	"github.com/harmoniakv/harmonia/cluster/hinted"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/pace"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"github.com/harmoniakv/harmonia/persistence"
	"google.golang.org/protobuf/proto"
)

// HintConfig tunes hint replay.
type HintConfig struct {
	// Enabled turns replay on. Default true; tests of other repair paths
	// turn it off.
	Enabled bool
	// CheckInterval is how often the hints actor looks for targets that are
	// up and have hints (up events also trigger a check). Default 1 s.
	CheckInterval time.Duration
	// BatchSize is how many hints one replay round sends before waiting for
	// their acks. Default 100.
	BatchSize int
	// MaxPerSecond bounds replay to one target, so foreground requests keep
	// their latency (0: unbounded). Default 2,000.
	MaxPerSecond int
	// AckTimeout: a batch not fully acked by then is abandoned and sent again
	// at the next check. Default 5 s.
	AckTimeout time.Duration
}

// DefaultHintConfig returns the documented defaults.
func DefaultHintConfig() HintConfig {
	return HintConfig{Enabled: true, CheckInterval: time.Second, BatchSize: 100, MaxPerSecond: 2000, AckTimeout: 5 * time.Second}
}

// hintCounters are the replay numbers the status API shows.
type hintCounters struct {
	mu       sync.Mutex
	replayed map[string]int64
}

func (c *hintCounters) add(target string, n int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.replayed[target] += n
	return c.replayed[target]
}

// Replayed returns the hints delivered per target by this process.
func (c *hintCounters) Replayed() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.replayed)
}

type hintCheck struct{}

// hints supervises one replay-<target> worker per target that has hints and
// is up. It checks on a timer and when told a member came up.
type hints struct {
	faults   Faults // injected to test recovery (Config.Faults); never nil
	cfg      HintConfig
	store    *persistence.Store
	view     *viewHolder
	catalog  *catalogHolder
	counters *hintCounters
	cancel   func()
}

func (h *hints) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		h.cancel = actorkit.TickSelf(ctx, h.cfg.CheckInterval, hintCheck{})
	case *actor.Stopping:
		h.cancel()
	case hintCheck:
		h.check(ctx)
	}
}

func (h *hints) check(ctx actor.Context) {
	pl := placement(h.view.Load())
	running := map[string]bool{}
	for _, c := range ctx.Children() {
		running[c.Id] = true
	}
	if pl.Gone(pl.Self) {
		return // a node that left must not write its hints into the cluster
	}
	for target, st := range h.store.HintStats() {
		name := ctx.Self().Id + "/replay-" + target
		if st.Count == 0 || running[name] || !pl.Replayable(target) {
			continue
		}
		props := actorkit.Props(func() actor.Actor {
			return &replay{cfg: h.cfg, target: target, store: h.store, view: h.view, catalog: h.catalog, counters: h.counters, faults: h.faults}
		})
		if _, err := ctx.SpawnNamed(props, "replay-"+target); err != nil {
			continue // a stopping worker of the same name; the next check retries
		}
	}
}

type replayTimeout struct{ round int }
type replayNext struct{}

// placement is what the hints' destinations depend on in view v.
func placement(v *View) hinted.Placement {
	members := make(map[string]membership.Status, len(v.Members))
	for id, m := range v.Members {
		members[id] = m.Status
	}
	return hinted.Placement{Self: v.Self, Members: members, Transition: v.Transition, N: v.N}
}

// replay delivers one target's hints in batches: each hint goes as a
// ReplicaPut (merged idempotently there) to its destinations (see
// hinted.Placement.Destinations) and is deleted here only after every one acked. A
// restarted worker reads the durable queue again, so nothing is lost; a
// hint delivered twice is harmless.
type replay struct {
	faults   Faults // injected to test recovery (Config.Faults); never nil
	cfg      HintConfig
	target   string
	store    *persistence.Store
	view     *viewHolder
	catalog  *catalogHolder
	counters *hintCounters

	round int
	timer actorkit.SelfTimer // the round's ack deadline, or the pacing wait
	// batch is the round's hints and the acks each still waits for.
	batch hinted.Batch
	// pacer keeps replay to MaxPerSecond hints a second, a batch at a time.
	pacer *pace.Pacer
}

func (r *replay) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Stopping:
		r.timer.Stop()
	case *actor.Started:
		r.pacer = pace.New(r.cfg.MaxPerSecond)
		r.pace(ctx)
	case replayNext:
		r.send(ctx)
	case *internalpb.ReplicaPutReply:
		if !r.batch.Acked(m.RequestId, m.Error == "") {
			return // an error leaves the hint; the batch times out and starts over
		}
		if err := r.store.DeleteHint(r.target, m.RequestId); err != nil {
			ctx.Stop(ctx.Self())
			return
		}
		total := r.counters.add(r.target, 1)
		r.faults.HintDelivered(r.target, total)
		if !r.batch.Pending() {
			r.pace(ctx)
		}
	case replayTimeout:
		if m.round == r.round && r.batch.Pending() {
			ctx.Stop(ctx.Self()) // the next check starts over from the queue
		}
	}
}

// send delivers the next batch, or stops when the queue is empty or a hint
// has nowhere to go now (the next check starts over); hinted.NewBatch
// decides which.
func (r *replay) send(ctx actor.Context) {
	v := r.view.Load()
	pl := placement(v)
	if pl.Gone(v.Self) {
		ctx.Stop(ctx.Self())
		return
	}
	queued, err := r.store.Hints(r.target, r.cfg.BatchSize)
	if err != nil || len(queued) == 0 {
		ctx.Stop(ctx.Self())
		return
	}
	hints := make([]hinted.Hint, len(queued))
	for i, h := range queued {
		hints[i] = hinted.Hint{Seq: h.Seq, Partition: int(h.Hint.Partition), Key: h.Hint.Key}
	}
	checkWrite := func(key []byte) error { return r.catalog.Load().CheckEventualWrite(key) }
	batch, drop, stop := hinted.NewBatch(pl, r.target, hints, checkWrite)
	if drop != nil {
		if err := r.store.DropHint(r.target, drop.Seq, drop.Why); err != nil {
			ctx.Stop(ctx.Self())
			return
		}
		ctx.Send(ctx.Self(), replayNext{}) // read the batch again, through the mailbox
		return
	}
	if stop {
		ctx.Stop(ctx.Self())
		return
	}
	r.round++
	r.batch = batch
	for i, h := range queued {
		s := batch.Sends[i]
		put := &internalpb.ReplicaPut{Partition: h.Hint.Partition, Key: h.Hint.Key, Object: h.Hint.Object, RequestId: h.Seq, Sender: v.sender()}
		for _, id := range s.Dests {
			m := put
			if id == s.Keeper {
				// Merged there and kept as a hint for the target.
				m = proto.Clone(put).(*internalpb.ReplicaPut)
				m.HintFor = r.target
			}
			ctx.Request(v.vnodePID(id, int(h.Hint.Partition)), m)
		}
	}
	r.timer.After(ctx, r.cfg.AckTimeout, replayTimeout{round: r.round})
}

// pace waits as long as the rate bound asks before the next batch.
func (r *replay) pace(ctx actor.Context) {
	if wait := r.pacer.Take(time.Now(), r.cfg.BatchSize); wait > 0 {
		r.timer.After(ctx, wait, replayNext{})
		return
	}
	r.send(ctx)
}
