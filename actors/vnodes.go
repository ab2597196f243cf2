package actors

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/actors/actorkit"
	"github.com/harmoniakv/harmonia/persistence"
)

// vnodeCounters are totals over a node's vnodes that the status API shows.
type vnodeCounters struct {
	tombstonesHeld atomic.Int64
	reaped         atomic.Uint64
	dropped        atomic.Uint64
	// acceptorsDropped counts strong tombstones whose acceptor state was
	// dropped (reapAcceptors).
	acceptorsDropped atomic.Uint64
	refused          refusals
}

// refusals counts replica data (writes, hints, repairs, reaps) that vnodes
// refused from senders that are not members in good standing
// (View.Admits), and logs each distinct reason once: a removed node that
// replays a queue of hints would otherwise log every one of them. Reasons
// name the sender, which a peer chooses: after maxLoggedRefusals distinct
// ones, new reasons are counted but neither logged nor kept.
type refusals struct {
	log    *slog.Logger
	count  atomic.Uint64
	mu     sync.Mutex
	logged map[string]bool
}

// maxLoggedRefusals bounds the distinct refusal reasons a node logs.
const maxLoggedRefusals = 1000

func (r *refusals) add(err error) {
	r.count.Add(1)
	reason := err.Error()
	r.mu.Lock()
	fresh := !r.logged[reason] && len(r.logged) < maxLoggedRefusals
	if fresh {
		if r.logged == nil {
			r.logged = map[string]bool{}
		}
		r.logged[reason] = true
	}
	r.mu.Unlock()
	if fresh && r.log != nil {
		r.log.Warn("replica data refused", "reason", reason)
	}
}

// vnodes supervises one vnode per partition. Every node runs a vnode for
// every partition so that any node can serve as a replica of any partition
// (ownership changes and fallbacks need no spawning).
type vnodes struct {
	partitions int
	store      *persistence.Store
	view       *viewHolder
	catalog    *catalogHolder
	maxEntries int
	counters   *vnodeCounters
	stamps     *stampClock
	// treeRebuildRate bounds the keys per second all vnodes together read
	// to rebuild their trees (0: unbounded).
	treeRebuildRate int
	ready           *actorkit.ReadySignal
	dispatcher      actor.Dispatcher
}

func (s *vnodes) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*actor.Started); ok {
		// Every vnode rebuilds at once after a start, so each takes its
		// share of the rate.
		var pause time.Duration
		if s.treeRebuildRate > 0 {
			pause = time.Duration(rebuildChunk*s.partitions) * time.Second / time.Duration(s.treeRebuildRate)
		}
		for p := 0; p < s.partitions; p++ {
			if _, err := ctx.SpawnNamed(newVnodeProps(p, s.store, s.view, s.catalog, s.maxEntries, s.counters, s.stamps, pause).Configure(actor.WithDispatcher(s.dispatcher)), vnodeChild(p)); err != nil {
				panic(fmt.Sprintf("spawn vnode %d: %v", p, err))
			}
		}
		s.ready.Done()
	}
}
