package actors

import (
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"github.com/harmoniakv/harmonia/persistence"
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
	// their latency. Default 2,000.
	MaxPerSecond int
	// AckTimeout: a batch not fully acked by then is abandoned and sent again
	// at the next check. Default 5 s.
	AckTimeout time.Duration
	// PanicAfter makes a replay worker panic once after that many hints are
	// delivered, to test supervision (0: never). Test-only.
	PanicAfter int64
}

// DefaultHintConfig returns the documented defaults.
func DefaultHintConfig() HintConfig {
	return HintConfig{Enabled: true, CheckInterval: time.Second, BatchSize: 100, MaxPerSecond: 2000, AckTimeout: 5 * time.Second}
}

// hintCounters are the replay numbers the status API shows.
type hintCounters struct {
	mu       sync.Mutex
	replayed map[string]int64
	panicked atomic.Bool
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
	cfg      HintConfig
	store    *persistence.Store
	view     *viewHolder
	counters *hintCounters
	cancel   func()
}

func (h *hints) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		h.cancel = tickSelf(ctx, h.cfg.CheckInterval, hintCheck{})
	case *actor.Stopping:
		h.cancel()
	case hintCheck:
		h.check(ctx)
	}
}

func (h *hints) check(ctx actor.Context) {
	v := h.view.Load()
	running := map[string]bool{}
	for _, c := range ctx.Children() {
		running[c.Id] = true
	}
	for target, st := range h.store.HintStats() {
		name := ctx.Self().Id + "/replay-" + target
		if st.Count == 0 || !v.Up(target) || running[name] {
			continue
		}
		props := actor.PropsFromProducer(func() actor.Actor {
			return &replay{cfg: h.cfg, target: target, store: h.store, view: h.view, counters: h.counters}
		})
		if _, err := ctx.SpawnNamed(props, "replay-"+target); err != nil {
			continue // a stopping worker of the same name; the next check retries
		}
	}
}

type replayTimeout struct{ round int }
type replayNext struct{}

// replay delivers one target's hints in batches: each hint goes to the
// target's vnode as a ReplicaPut (merged idempotently there) and is deleted
// here only after its ack. A restarted worker reads the durable queue again,
// so nothing is lost; a hint delivered twice is harmless.
type replay struct {
	cfg      HintConfig
	target   string
	store    *persistence.Store
	view     *viewHolder
	counters *hintCounters

	round       int
	outstanding map[uint64]bool
	started     time.Time
}

func (r *replay) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started, replayNext:
		r.send(ctx)
	case *internalpb.ReplicaPutReply:
		if !r.outstanding[m.RequestId] || m.Error != "" {
			return
		}
		delete(r.outstanding, m.RequestId)
		if err := r.store.DeleteHint(r.target, m.RequestId); err != nil {
			ctx.Stop(ctx.Self())
			return
		}
		total := r.counters.add(r.target, 1)
		if r.cfg.PanicAfter > 0 && total >= r.cfg.PanicAfter && r.counters.panicked.CompareAndSwap(false, true) {
			panic(fmt.Sprintf("replay to %s: fault injected after %d hints", r.target, total))
		}
		if len(r.outstanding) == 0 {
			r.pace(ctx)
		}
	case replayTimeout:
		if m.round == r.round && len(r.outstanding) > 0 {
			ctx.Stop(ctx.Self()) // the next check starts over from the queue
		}
	}
}

// send delivers the next batch, or stops when the queue is empty or the
// target is no longer up.
func (r *replay) send(ctx actor.Context) {
	v := r.view.Load()
	if !v.Up(r.target) {
		ctx.Stop(ctx.Self())
		return
	}
	batch, err := r.store.Hints(r.target, r.cfg.BatchSize)
	if err != nil || len(batch) == 0 {
		ctx.Stop(ctx.Self())
		return
	}
	r.round++
	r.started = time.Now()
	r.outstanding = map[uint64]bool{}
	for _, h := range batch {
		r.outstanding[h.Seq] = true
		ctx.Request(v.vnodePID(r.target, int(h.Hint.Partition)), &internalpb.ReplicaPut{
			Partition: h.Hint.Partition, Key: h.Hint.Key, Object: h.Hint.Object, RequestId: h.Seq,
		})
	}
	sendSelfAfter(ctx, r.cfg.AckTimeout, replayTimeout{round: r.round})
}

// pace waits as long as the rate bound asks before the next batch.
func (r *replay) pace(ctx actor.Context) {
	minGap := time.Duration(r.cfg.BatchSize) * time.Second / time.Duration(max(r.cfg.MaxPerSecond, 1))
	wait := minGap - time.Since(r.started)
	if wait <= 0 {
		r.send(ctx)
		return
	}
	sendSelfAfter(ctx, wait, replayNext{})
}
