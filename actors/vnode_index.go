package actors

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/replica"
	"github.com/harmoniakv/harmonia/cluster/vclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/proto"
)

// The reads that anti-entropy, reaping and handoff make of the partition,
// and the rebuild of its Merkle tree and tombstone index after a start.

// replicaGet answers a read of one key. A write staged for the key is
// answered only once it is durable. An asker that takes the stored form
// gets the stored bytes as they are, without a decode and an encode here.
func (v *vnode) replicaGet(ctx actor.Context, m *internalpb.ReplicaGet) {
	reply := &internalpb.ReplicaGetReply{Node: v.self.Node}
	if !v.part.Staged(m.Key) {
		var err error
		if m.Encoded {
			reply.Encoded, err = v.store.GetEncoded(v.partition, m.Key)
		} else {
			var set []object.Sibling
			set, err = v.part.Load(m.Key)
			reply.Object = object.ToProto(set)
		}
		if err != nil {
			reply.Object, reply.Encoded, reply.Error = nil, nil, err.Error()
		}
		ctx.Respond(reply)
		return
	}
	set, _ := v.part.Load(m.Key) // staged: no read
	if m.Encoded {
		var err error
		if reply.Encoded, err = object.Encode(set); err != nil {
			reply.Error = err.Error()
			ctx.Respond(reply)
			return
		}
	} else {
		reply.Object = object.ToProto(set)
	}
	// Never show a write before it is durable.
	v.hold(ctx, reply, func(err error) { reply.Object, reply.Encoded, reply.Error = nil, nil, err.Error() })
}

// reapCandidates lists tombstones past their grace.
func (v *vnode) reapCandidates(m reapScan) []*internalpb.ReapEntry {
	var out []*internalpb.ReapEntry
	for _, e := range v.part.ReapCandidates(m.rule, m.now, m.max) {
		out = append(out, &internalpb.ReapEntry{Key: e.Key, Digest: e.Digest})
	}
	return out
}

// reap answers which of the asked tombstones this replica holds at exactly
// the asked version, or holds nothing for, and on commit deletes those it
// holds (replica.Partition.Reap).
func (v *vnode) reap(ctx actor.Context, m *internalpb.Reap) {
	entries := make([]replica.ReapEntry, len(m.Entries))
	for i, e := range m.Entries {
		entries[i] = replica.ReapEntry{Key: e.Key, Digest: e.Digest}
	}
	holds, reaped, err := v.part.Reap(entries, m.Commit)
	reply := &internalpb.ReapReply{Node: v.self.Node, Holds: holds, Reaped: uint32(reaped)}
	if err != nil {
		reply.Error = err.Error()
	}
	if reaped == 0 {
		ctx.Respond(reply)
		return
	}
	v.hold(ctx, reply, func(err error) { reply.Reaped, reply.Error = 0, err.Error() })
}

// drop deletes the whole partition from this node, if it holds anything:
// its objects, and its strong keys' acceptor states under a raised floor
// (persistence.DropPartitionAcceptors says why). Writes staged this turn
// keep it for a later round.
func (v *vnode) drop() {
	if v.part.Pending() || len(v.acceptors) > 0 {
		return
	}
	if states, _, err := v.store.ScanAcceptors(v.partition, nil, 1, 1); err == nil && len(states) > 0 {
		floor, err := v.store.DropPartitionAcceptors(v.partition)
		if err != nil {
			return
		}
		v.floor, v.durable = floor, nil
	}
	entries, _, err := v.store.Scan(v.partition, nil, 1, 1)
	if err != nil || len(entries) == 0 {
		return
	}
	// Before the data goes: a CRDT actor must never apply an update to a
	// state that lacks its own earlier dots, so updates after the drop
	// take a new actor.
	v.crdtActor = vclock.Actor{}
	if err := v.store.DropPartition(v.partition); err != nil {
		return
	}
	v.part.Dropped()
	v.counters.dropped.Add(1)
}

// purge removes a deleted table's keys: what is staged is committed first
// (the vnode refuses the table's writes from the moment the node learned
// of the deletion, so nothing of it is staged after), then the keys go,
// and the tree and tombstone index are rebuilt without them.
func (v *vnode) purge(ctx actor.Context, m purgeTable) {
	if v.part.Pending() || len(v.acceptors) > 0 {
		v.flush(ctx)
	}
	v.durable = nil // the purged registers' states go with them
	for _, prefix := range m.prefixes {
		if err := v.store.DropKeys(v.partition, prefix); err != nil {
			m.done <- err
			return
		}
	}
	v.reindex(ctx)
	m.done <- nil
}

// rebuildChunk bounds the keys one rebuild step reads.
const rebuildChunk = 1000

// rebuildRetryPause is the least wait before a rebuild step whose read
// failed is tried again.
const rebuildRetryPause = time.Second

// reindex rebuilds the tree and the tombstone index from pebble after a
// start.
func (v *vnode) reindex(ctx actor.Context) {
	v.part.StartRebuild()
	ctx.Send(ctx.Self(), rebuildStep{})
}

// rebuild indexes the next chunk of stored keys.
func (v *vnode) rebuild(ctx actor.Context) {
	entries, more, err := v.store.Scan(v.partition, v.part.RebuildFrom(), rebuildChunk, bucketPageBytes)
	if err != nil {
		// Retry later; the tree stays not ready. A failed store refuses
		// every read until the node restarts: at once, this would spin.
		v.rebuildTimer.After(ctx, max(v.rebuildPause, rebuildRetryPause), rebuildStep{})
		return
	}
	chunk := make([]replica.Stored, len(entries))
	for i, e := range entries {
		chunk[i] = replica.Stored{Key: e.Key, Value: e.Value}
	}
	v.part.Rebuilt(chunk, more)
	if more {
		v.nextRebuildStep(ctx)
	}
}

// nextRebuildStep schedules the next chunk, after rebuildPause when the
// node bounds its rebuild rate.
func (v *vnode) nextRebuildStep(ctx actor.Context) {
	if v.rebuildPause <= 0 {
		ctx.Send(ctx.Self(), rebuildStep{})
		return
	}
	v.rebuildTimer.After(ctx, v.rebuildPause, rebuildStep{})
}

func (v *vnode) treeLevel(m *internalpb.TreeLevel) *internalpb.TreeLevelReply {
	nodes := make([]int, len(m.Nodes))
	for i, n := range m.Nodes {
		nodes[i] = int(n)
	}
	hashes, ready, err := v.part.TreeNodes(int(m.Level), nodes)
	reply := &internalpb.TreeLevelReply{Node: v.self.Node, Ready: ready}
	if err != nil {
		reply.Error = err.Error()
		return reply
	}
	for _, h := range hashes {
		reply.Hashes = append(reply.Hashes, h[:])
	}
	return reply
}

// bucketPageBytes bounds the object bytes of one bucket-keys page (at least
// one object is returned).
const bucketPageBytes = 4 << 20

// bucketKeys returns the stored objects in the given leaf buckets among the
// next page of the partition's keys.
func (v *vnode) bucketKeys(m *internalpb.BucketKeys) *internalpb.BucketKeysReply {
	want := make(map[int]bool, len(m.Buckets))
	for _, b := range m.Buckets {
		want[int(b)] = true
	}
	entries, last, more, err := v.scanEntries(m.AfterKey, int(max(m.MaxKeys, 1)), bucketPageBytes,
		func(key []byte) bool { return want[v.part.Bucket(key)] })
	reply := &internalpb.BucketKeysReply{Node: v.self.Node, Entries: entries, LastKey: last, More: more}
	if err != nil {
		reply.Error = err.Error()
	}
	return reply
}

// scanEntries reads the next page of the partition after after and returns
// the objects whose keys keep accepts (all when keep is nil), the last key
// read and whether keys remain.
func (v *vnode) scanEntries(after []byte, maxKeys, maxBytes int, keep func([]byte) bool) (out []*internalpb.HandoffEntry, last []byte, more bool, err error) {
	entries, more, err := v.store.Scan(v.partition, after, maxKeys, maxBytes)
	if err != nil {
		return nil, nil, false, err
	}
	for _, e := range entries {
		last = e.Key
		if keep != nil && !keep(e.Key) {
			continue
		}
		obj := &internalpb.Object{}
		if err := proto.Unmarshal(e.Value, obj); err != nil {
			return nil, nil, false, fmt.Errorf("key %q: %w", e.Key, err)
		}
		out = append(out, &internalpb.HandoffEntry{Key: e.Key, Object: obj})
	}
	return out, last, more, nil
}
