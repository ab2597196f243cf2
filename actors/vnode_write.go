package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/vclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"github.com/harmoniakv/harmonia/persistence"
	"google.golang.org/protobuf/proto"
)

// A vnode's writes: new versions for client writes, merges of replica
// writes, and the group commit that makes them durable before any reply.

// stage records a write to commit with the next flush and holds its reply
// until then.
func (v *vnode) stage(ctx actor.Context, key []byte, old, set []object.Sibling, reply proto.Message, fail func(error)) {
	v.stageWrite(ctx, key, old, set)
	v.waiting = append(v.waiting, deferred{to: ctx.Sender(), msg: reply, fail: fail})
}

// stageWrite replaces key's object old (as just loaded) by set in the next
// flush; the tree moves from old's digest to set's at once.
func (v *vnode) stageWrite(ctx actor.Context, key []byte, old, set []object.Sibling) {
	if v.staged == nil {
		v.staged = map[string][]object.Sibling{}
	}
	v.treeUpdate(key, old, set)
	v.staged[string(key)] = set
	v.scheduleFlush(ctx)
}

func (v *vnode) scheduleFlush(ctx actor.Context) {
	if !v.flushPending {
		v.flushPending = true
		ctx.Send(ctx.Self(), flushVnode{})
	}
}

// fetch reads the next batch of the partition for a handoff. Staged writes
// are not included: they were sent to the receiving node as well, since a
// transfer starts only after every node writes to both rings.
func (v *vnode) fetch(m *internalpb.HandoffFetch) *internalpb.HandoffBatch {
	entries, _, more, err := v.scanEntries(m.AfterKey, int(max(m.MaxKeys, 1)), int(max(m.MaxBytes, 1)), nil)
	reply := &internalpb.HandoffBatch{Node: v.self.Node, Partition: uint32(v.partition), Entries: entries, Done: err == nil && !more}
	if err != nil {
		reply.Error = err.Error()
	}
	return reply
}

// flush commits every staged write in one batch, then releases the replies.
func (v *vnode) flush(ctx actor.Context) {
	writes := make([]persistence.Write, 0, len(v.staged))
	var reaped uint64 // only reap stages an empty object
	for k, set := range v.staged {
		writes = append(writes, persistence.Write{Partition: v.partition, Key: []byte(k), Siblings: set, Delete: len(set) == 0})
		if len(set) == 0 {
			reaped++
		}
	}
	writes = append(writes, v.hints...)
	var err error
	if len(writes) > 0 { // nothing is staged after a restart that lost the batch
		err = v.store.PutBatch(writes)
	}
	if err == nil {
		v.counters.reaped.Add(reaped) // before the replies, which may be asked about it
	}
	for _, d := range v.waiting {
		if err != nil {
			d.fail(err)
		}
		if d.to != nil {
			ctx.Send(d.to, d.msg)
		}
	}
	v.staged, v.hints, v.waiting, v.flushPending = nil, nil, nil, false
	if err != nil {
		v.reindex(ctx) // the tree already shows the writes that failed
	}
}

// coordinate issues a new dot for a client write and applies it to the local
// object (cur); the result (set) goes to the other replicas.
//
// The size limits were applied when the client's write was admitted
// (System.CheckKey, CheckValue); an empty key is still refused, as it
// cannot be stored.
func (v *vnode) coordinate(m *internalpb.CoordinatePut) (cur, set []object.Sibling, dot vclock.Dot, err error) {
	if len(m.Key) == 0 {
		return nil, nil, vclock.Dot{}, persistence.ErrEmptyKey
	}
	if cur, err = v.load(m.Key); err != nil {
		return nil, nil, vclock.Dot{}, err
	}
	counter, err := v.store.NextCounter()
	if err != nil {
		return nil, nil, vclock.Dot{}, err
	}
	writtenAt := m.WrittenAt
	if writtenAt == 0 {
		writtenAt = time.Now().UnixNano()
	}
	s := object.Sibling{
		Value:     m.Value,
		Dot:       vclock.Dot{Actor: v.self, Counter: counter},
		Context:   vclock.Prune(object.ClockFromProto(m.Context), v.maxEntries),
		Deleted:   m.Deleted,
		WrittenAt: writtenAt,
	}
	return cur, object.Apply(cur, s), s.Dot, nil
}

// merge reconciles an incoming object (in) with the stored one (cur); changed is false
// when the replica already had everything, which makes replays and repeated
// repairs cost no write.
//
// Size limits are not applied: the object's values were admitted by the
// node that coordinated them, perhaps under a larger limit, and refusing
// them here would leave replicas apart for good.
func (v *vnode) merge(m *internalpb.ReplicaPut) (cur, merged, in []object.Sibling, changed bool, err error) {
	if len(m.Key) == 0 {
		return nil, nil, nil, false, persistence.ErrEmptyKey
	}
	if in, err = object.FromProto(m.Object); err != nil {
		return nil, nil, nil, false, err
	}
	if cur, err = v.load(m.Key); err != nil {
		return nil, nil, nil, false, err
	}
	merged = object.Merge(cur, in)
	return cur, merged, in, !object.SameVersions(cur, merged), nil
}
