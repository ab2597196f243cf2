package actors

import (
	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/ring"
	xfer "github.com/harmoniakv/harmonia/cluster/transfer"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"github.com/harmoniakv/harmonia/persistence"
)

// One partition's transfer to this node in a ring transition: the handoff
// actor's child transfer-<p>.

type (
	transferFetch struct{ attempt int }
	transferRetry struct{}
)

// transfer pulls one partition from every live current replica in acked
// batches (the decisions are cluster/transfer's) and saves a cursor after
// each, so a crash or a restart of the node resumes where it stopped.
type transfer struct {
	cfg   HandoffConfig
	key   string
	move  ring.Move
	store *persistence.Store
	view  *viewHolder
	table *transferTable

	core    *xfer.Transfer
	done    bool
	from    string // the source of the last applied batch
	asked   string // the source of the outstanding fetch
	attempt int
	batch   *internalpb.HandoffBatch
	fetched uint64
}

func (t *transfer) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		var saved []xfer.Pass
		if c, err := t.store.HandoffCursor(t.move.Partition); err == nil && c != nil && c.Transition == t.key {
			saved, t.done, t.from = passesFromProto(c.Passes), c.Done, c.From
		}
		t.core = xfer.New(t.move.From, saved)
		t.publish()
		if t.done {
			t.finish(ctx)
			return
		}
		t.step(ctx)
	case *internalpb.HandoffBatch:
		var first []byte
		if len(m.Entries) > 0 {
			first = m.Entries[0].Key
		}
		if t.batch != nil || m.Node != t.asked || !t.core.Expects(m.Node, first) {
			return // the late answer of a request already retried
		}
		if m.Error != "" {
			t.fail(ctx)
			return
		}
		t.batch = m
		ctx.Request(t.view.Load().localVnodePID(t.move.Partition), applyBatch{&internalpb.HandoffApply{Partition: m.Partition, Entries: m.Entries}})
		t.arm(ctx)
	case *internalpb.HandoffApplyReply:
		if t.batch == nil {
			return // the late answer of an apply already retried
		}
		if m.Error != "" {
			t.fail(ctx)
			return
		}
		b := t.batch
		t.batch = nil
		var last []byte
		if n := len(b.Entries); n > 0 {
			last = b.Entries[n-1].Key
		}
		t.core.Applied(b.Node, last, len(b.Entries), b.Done)
		t.fetched++
		t.from = b.Node
		t.step(ctx)
	case transferFetch:
		if m.attempt == t.attempt { // the request of this attempt timed out
			t.fail(ctx)
		}
	case transferRetry:
		t.step(ctx)
	}
}

// step saves the progress and does what the core decides next: fetch a
// batch, finish, or wait for a source to come up.
func (t *transfer) step(ctx actor.Context) {
	v := t.view.Load()
	next := t.core.Next(v.Up)
	t.done = next.Complete
	if err := t.store.SaveHandoffCursor(t.move.Partition, t.cursor()); err != nil {
		t.fail(ctx)
		return
	}
	t.publish()
	switch {
	case next.Complete:
		t.finish(ctx)
	case next.Wait:
		t.retry(ctx)
	default:
		t.asked = next.Source
		ctx.Request(v.vnodePID(next.Source, t.move.Partition), &internalpb.HandoffFetch{
			Partition: uint32(t.move.Partition), AfterKey: next.AfterKey,
			MaxKeys: uint32(t.cfg.BatchKeys), MaxBytes: uint32(t.cfg.BatchBytes),
		})
		t.arm(ctx)
	}
}

// arm bounds the outstanding request; replies of older attempts are told
// apart by the attempt number.
func (t *transfer) arm(ctx actor.Context) {
	t.attempt++
	sendSelfAfter(ctx, t.cfg.RequestTimeout, transferFetch{attempt: t.attempt})
}

// fail gives up the outstanding request; the next try starts with another
// source.
func (t *transfer) fail(ctx actor.Context) {
	t.core.Failed(t.asked)
	t.retry(ctx)
}

func (t *transfer) retry(ctx actor.Context) {
	t.batch, t.asked = nil, ""
	t.attempt++
	sendSelfAfter(ctx, t.cfg.RetryDelay, transferRetry{})
}

func (t *transfer) cursor() *internalpb.HandoffCursor {
	keys, batches, _ := t.core.Totals()
	c := &internalpb.HandoffCursor{Transition: t.key, Keys: keys, Batches: batches, Done: t.done, From: t.from}
	for _, p := range t.core.Passes() {
		c.Passes = append(c.Passes, &internalpb.TransferPass{Source: p.Source, AfterKey: p.AfterKey, Keys: p.Keys, Batches: p.Batches, Done: p.Done})
	}
	return c
}

func passesFromProto(ps []*internalpb.TransferPass) []xfer.Pass {
	out := make([]xfer.Pass, 0, len(ps))
	for _, p := range ps {
		out = append(out, xfer.Pass{Source: p.Source, AfterKey: p.AfterKey, Keys: p.Keys, Batches: p.Batches, Done: p.Done})
	}
	return out
}

func (t *transfer) publish() {
	keys, batches, done := t.core.Totals()
	t.table.set(TransferProgress{Partition: t.move.Partition, From: t.from, Keys: keys,
		Batches: batches, Done: t.done, BatchesThisRun: t.fetched, SourcesDone: done})
}

func (t *transfer) finish(ctx actor.Context) {
	ctx.Send(ctx.Parent(), transferDone{partition: t.move.Partition, key: t.key})
	ctx.Stop(ctx.Self())
}
