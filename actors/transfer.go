package actors

import (
	"bytes"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/ring"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"github.com/harmoniakv/harmonia/persistence"
)

// One partition's transfer to this node in a ring transition: the handoff
// actor's child transfer-<p>.

type (
	transferFetch struct{ attempt int }
	transferRetry struct{}
)

// transfer pulls one partition from a current replica in acked batches and
// saves a cursor after each, so a crash or a restart of the node resumes
// where it stopped.
type transfer struct {
	cfg   HandoffConfig
	key   string
	move  ring.Move
	store *persistence.Store
	view  *viewHolder
	table *transferTable

	cursor  *internalpb.HandoffCursor
	attempt int
	batch   *internalpb.HandoffBatch
	fetched uint64
}

func (t *transfer) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c, err := t.store.HandoffCursor(t.move.Partition)
		if err != nil || c == nil || c.Transition != t.key {
			c = &internalpb.HandoffCursor{Transition: t.key}
		}
		t.cursor = c
		t.publish()
		if c.Done {
			t.finish(ctx)
			return
		}
		t.fetch(ctx)
	case *internalpb.HandoffBatch:
		stale := t.batch != nil || (len(m.Entries) > 0 && len(t.cursor.AfterKey) > 0 && bytes.Compare(m.Entries[0].Key, t.cursor.AfterKey) <= 0)
		if stale {
			return // the late answer of a request already retried
		}
		if m.Error != "" {
			t.retry(ctx)
			return
		}
		t.batch = m
		ctx.Request(t.view.Load().localVnodePID(t.move.Partition), &internalpb.HandoffApply{Partition: m.Partition, Entries: m.Entries})
		t.arm(ctx)
	case *internalpb.HandoffApplyReply:
		if t.batch == nil {
			return // the late answer of an apply already retried
		}
		if m.Error != "" {
			t.retry(ctx)
			return
		}
		b := t.batch
		t.batch = nil
		if n := len(b.Entries); n > 0 {
			t.cursor.AfterKey = b.Entries[n-1].Key
		}
		t.cursor.Keys += uint64(len(b.Entries))
		t.cursor.Batches++
		t.fetched++
		t.cursor.Done = b.Done
		t.cursor.From = b.Node
		if err := t.store.SaveHandoffCursor(t.move.Partition, t.cursor); err != nil {
			t.retry(ctx)
			return
		}
		t.publish()
		if b.Done {
			t.finish(ctx)
			return
		}
		t.fetch(ctx)
	case transferFetch:
		if m.attempt == t.attempt { // the request of this attempt timed out
			t.retry(ctx)
		}
	case transferRetry:
		t.fetch(ctx)
	}
}

// fetch asks a live current replica for the batch after the cursor.
func (t *transfer) fetch(ctx actor.Context) {
	v := t.view.Load()
	var source string
	for i := range t.move.From {
		// Rotate through the sources with each attempt, skipping dead ones.
		id := t.move.From[(i+t.attempt)%len(t.move.From)]
		if v.Up(id) {
			source = id
			break
		}
	}
	if source == "" {
		t.retry(ctx)
		return
	}
	ctx.Request(v.vnodePID(source, t.move.Partition), &internalpb.HandoffFetch{
		Partition: uint32(t.move.Partition), AfterKey: t.cursor.AfterKey,
		MaxKeys: uint32(t.cfg.BatchKeys), MaxBytes: uint32(t.cfg.BatchBytes),
	})
	t.arm(ctx)
}

// arm bounds the outstanding request; replies of older attempts are told
// apart by the attempt number.
func (t *transfer) arm(ctx actor.Context) {
	t.attempt++
	sendSelfAfter(ctx, t.cfg.RequestTimeout, transferFetch{attempt: t.attempt})
}

func (t *transfer) retry(ctx actor.Context) {
	t.batch = nil
	t.attempt++
	sendSelfAfter(ctx, t.cfg.RetryDelay, transferRetry{})
}

func (t *transfer) publish() {
	t.table.set(TransferProgress{Partition: t.move.Partition, From: t.cursor.From, Keys: t.cursor.Keys,
		Batches: t.cursor.Batches, Done: t.cursor.Done, BatchesThisRun: t.fetched})
}

func (t *transfer) finish(ctx actor.Context) {
	ctx.Send(ctx.Parent(), transferDone{partition: t.move.Partition, key: t.key})
	ctx.Stop(ctx.Self())
}
