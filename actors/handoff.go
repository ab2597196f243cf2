package actors

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/actors/actorkit"
	"github.com/harmoniakv/harmonia/actors/gossip"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/ring"
	xfer "github.com/harmoniakv/harmonia/cluster/transfer"
	"github.com/harmoniakv/harmonia/persistence"
)

// HandoffConfig tunes partition transfers during ring transitions, and the
// rebuild of acceptor state on a node that lost it (the same reads).
type HandoffConfig struct {
	// Concurrency bounds the partitions this node receives at once. Default 2.
	Concurrency int
	// BatchKeys and BatchBytes bound one fetched batch; BatchBytes stays far
	// below the remote message limit. Defaults 500 keys, 4 MiB.
	BatchKeys  int
	BatchBytes int
	// RequestTimeout bounds one fetch or apply; on timeout the batch is
	// fetched again from the saved cursor. Default 10 s.
	RequestTimeout time.Duration
	// RetryDelay is the pause before retrying a failed batch. Default 1 s.
	RetryDelay time.Duration
	// RebuildDelay is how long a node that came back with an empty data
	// directory waits after it starts before it reads its peers'
	// acceptor states to rebuild its own (acceptor_rebuild.go): longer
	// than any proposer that counted a promise of its lost incarnation
	// lives, so that the peers' states include what that proposer got
	// from them. Proposers live at most a request timeout (5 s by
	// default) and a transfer's completing reads the RequestTimeout above
	// (10 s). Default 15 s.
	RebuildDelay time.Duration
}

// DefaultHandoffConfig returns the documented defaults.
func DefaultHandoffConfig() HandoffConfig {
	return HandoffConfig{Concurrency: 2, BatchKeys: 500, BatchBytes: 4 << 20, RequestTimeout: 10 * time.Second, RetryDelay: time.Second,
		RebuildDelay: 15 * time.Second}
}

// TransferProgress is one incoming partition transfer.
type TransferProgress struct {
	Partition int
	From      string
	Keys      uint64
	// AcceptorStates are the acceptor states of strong keys read from
	// the sources (a register read from two sources counts twice).
	AcceptorStates uint64
	Batches        uint64
	Done           bool
	// LastError is why the last failed batch failed ("" when none has).
	LastError string
	// Batches and BatchesThisRun count batches of objects, the latter
	// those fetched since this process started.
	BatchesThisRun uint64
	// SourcesDone are the current replicas read whole.
	SourcesDone []string
}

// transferTable shares transfer progress with the status API.
type transferTable struct {
	mu  sync.Mutex
	key string
	m   map[int]TransferProgress
}

func (t *transferTable) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.key, t.m = key, map[int]TransferProgress{}
}

func (t *transferTable) set(p TransferProgress) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m[p.Partition] = p
}

// Snapshot returns the current transition key and its transfers by partition.
func (t *transferTable) Snapshot() (string, []TransferProgress) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]TransferProgress, 0, len(t.m))
	for _, p := range t.m {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b TransferProgress) int { return a.Partition - b.Partition })
	return t.key, out
}

// transitionUpdate tells the handoff actor about the ring transition; ready
// means every live member writes to both rings, so pulling may start.
type transitionUpdate struct {
	t     *ring.Transition
	ready bool
}

type transferDone struct {
	partition int
	key       string
}

// handoff receives the partitions this node gains in a ring transition:
// one transfer-<p> child per partition, at most Concurrency at a time. When
// all are in, it publishes that through gossip.
type handoff struct {
	cfg     HandoffConfig
	self    string
	log     *slog.Logger
	store   *persistence.Store
	view    *viewHolder
	tables  *catalogHolder
	control gossip.Control
	table   *transferTable

	moves []ring.Move
	// sched schedules the moves of the transition seen last; nil before
	// the first.
	sched *xfer.Handoff
}

func (h *handoff) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case transitionUpdate:
		if h.sched == nil || m.t.Key != h.sched.Key() {
			for _, c := range ctx.Children() {
				ctx.Stop(c)
			}
			h.moves = m.t.MovesTo(h.self)
			partitions := make([]int, len(h.moves))
			for i, mv := range h.moves {
				partitions[i] = mv.Partition
			}
			h.sched = xfer.NewHandoff(m.t.Key, partitions, h.cfg.Concurrency)
			h.table.reset(m.t.Key)
			for _, mv := range h.moves {
				h.table.set(TransferProgress{Partition: mv.Partition})
			}
		}
		h.carry(ctx, h.sched.Begin(m.ready, m.t.Stable()))
	case transferDone:
		if h.sched == nil {
			return
		}
		h.carry(ctx, h.sched.Finished(m.key, m.partition))
	}
}

// carry starts the transfers step asks for, and reports the transition
// done when it says every move has arrived.
func (h *handoff) carry(ctx actor.Context, step xfer.HandoffStep) {
	key := h.sched.Key()
	for _, i := range step.Start {
		mv := h.moves[i]
		props := actorkit.Props(func() actor.Actor {
			return &transfer{cfg: h.cfg, key: key, move: mv, store: h.store, view: h.view, tables: h.tables, table: h.table, log: h.log}
		})
		if _, err := ctx.SpawnNamed(props, fmt.Sprintf("transfer-%d-%d", mv.Partition, time.Now().UnixNano())); err != nil {
			panic(fmt.Sprintf("spawn transfer %d: %v", mv.Partition, err))
		}
	}
	if step.Done {
		h.control.Set(membership.KeyTransitionDone, key)
	}
}
