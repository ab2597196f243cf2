package actors

import (
	"bytes"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/merkle"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/proto"
)

// The partition's Merkle tree and tombstone index, kept with every write
// and rebuilt after a start, and the reads that anti-entropy, reaping and
// handoff make of the partition.

// index adds a key the rebuild reads to the tree and the tombstone index.
func (v *vnode) index(key []byte, set []object.Sibling) {
	if len(set) == 0 {
		return // a staged reap
	}
	v.tree.Insert(key, object.VersionDigest(set))
	v.indexTombstone(key, set)
}

// indexTombstone keeps the tombstone index current for key's new set.
func (v *vnode) indexTombstone(key []byte, set []object.Sibling) {
	_, was := v.tombstones[string(key)]
	at, is := object.Tombstone(set)
	switch {
	case is:
		v.tombstones[string(key)] = at
		if !was {
			v.counters.tombstonesHeld.Add(1)
		}
	case was:
		delete(v.tombstones, string(key))
		v.counters.tombstonesHeld.Add(-1)
	}
}

// treeUpdate moves key's entry in the tree and the tombstone index from old
// to new (nil: the key is deleted).
func (v *vnode) treeUpdate(key []byte, old, new []object.Sibling) {
	if v.rebuilding && bytes.Compare(key, v.rebuiltTo) > 0 {
		return // the rebuild has not reached key; it will read the new value
	}
	v.tree.Update(key, treeDigest(old), treeDigest(new))
	v.indexTombstone(key, new)
}

// treeDigest is an object's version digest in the tree; nil (absent) for a
// key that holds nothing.
func treeDigest(set []object.Sibling) []byte {
	if len(set) == 0 {
		return nil
	}
	return object.VersionDigest(set)
}

// reapCandidates lists tombstones past their grace.
func (v *vnode) reapCandidates(m reapScan) []*internalpb.ReapEntry {
	var out []*internalpb.ReapEntry
	for k, at := range v.tombstones {
		if len(out) >= m.max {
			break
		}
		if !m.rule.Due(at, m.now) {
			continue
		}
		set, err := v.load([]byte(k))
		if err != nil || len(set) == 0 {
			continue
		}
		out = append(out, &internalpb.ReapEntry{Key: []byte(k), Digest: object.VersionDigest(set)})
	}
	return out
}

// reap answers which of the asked tombstones this replica holds at exactly
// the asked version, or holds nothing for, and on commit deletes those it
// holds.
func (v *vnode) reap(ctx actor.Context, m *internalpb.Reap) {
	reply := &internalpb.ReapReply{Node: v.self.Node}
	staged := false
	for _, e := range m.Entries {
		set, err := v.load(e.Key)
		if err != nil {
			reply.Error = err.Error()
			break
		}
		_, tomb := object.Tombstone(set)
		same := tomb && bytes.Equal(object.VersionDigest(set), e.Digest)
		reply.Holds = append(reply.Holds, same || len(set) == 0)
		if same && m.Commit {
			v.stageWrite(ctx, e.Key, set, nil)
			reply.Reaped++
			staged = true
		}
	}
	if !staged {
		ctx.Respond(reply)
		return
	}
	v.waiting = append(v.waiting, deferred{to: ctx.Sender(), msg: reply, fail: func(err error) {
		reply.Reaped, reply.Error = 0, err.Error()
	}})
}

// drop deletes the whole partition from this node, if it holds anything.
// Writes staged this turn keep it for a later round.
func (v *vnode) drop() {
	if len(v.staged) > 0 {
		return
	}
	entries, _, err := v.store.Scan(v.partition, nil, 1, 1)
	if err != nil || len(entries) == 0 {
		return
	}
	if err := v.store.DropPartition(v.partition); err != nil {
		return
	}
	v.resetIndex()
	v.counters.dropped.Add(1)
}

// rebuild adds the next chunk of stored keys to the tree.
func (v *vnode) rebuild(ctx actor.Context) {
	entries, more, err := v.store.Scan(v.partition, v.rebuiltTo, rebuildChunk, bucketPageBytes)
	if err != nil {
		v.nextRebuildStep(ctx) // retry; the tree stays not ready
		return
	}
	prev := v.rebuiltTo
	seen := map[string]bool{}
	for _, e := range entries {
		seen[string(e.Key)] = true
		// A staged write of this key skipped the tree (the rebuild had not
		// reached it) and is what the store will hold after the flush.
		set, staged := v.staged[string(e.Key)]
		if !staged {
			if set, err = object.Decode(e.Value); err != nil {
				continue
			}
		}
		v.index(e.Key, set)
		v.rebuiltTo = e.Key
	}
	// New keys staged in the range just covered are not in the store yet.
	for k, set := range v.staged {
		key := []byte(k)
		if !seen[k] && bytes.Compare(key, prev) > 0 && (!more || bytes.Compare(key, v.rebuiltTo) <= 0) {
			v.index(key, set)
		}
	}
	if more {
		v.nextRebuildStep(ctx)
		return
	}
	v.rebuilding = false
}

// nextRebuildStep schedules the next chunk, after rebuildPause when the
// node bounds its rebuild rate.
func (v *vnode) nextRebuildStep(ctx actor.Context) {
	if v.rebuildPause <= 0 {
		ctx.Send(ctx.Self(), rebuildStep{})
		return
	}
	sendSelfAfter(ctx, v.rebuildPause, rebuildStep{})
}

// resetIndex empties the tree and the tombstone index.
func (v *vnode) resetIndex() {
	v.tree, _ = merkle.New(merkle.DefaultConfig())
	v.forgetTombstones()
	v.tombstones = map[string]int64{}
}

// forgetTombstones empties the tombstone index and takes its keys out of the
// node's count.
func (v *vnode) forgetTombstones() {
	v.counters.tombstonesHeld.Add(-int64(len(v.tombstones)))
	v.tombstones = nil
}

// reindex rebuilds the tree and the tombstone index from pebble: after a
// start, and after a failed flush whose writes they already showed.
func (v *vnode) reindex(ctx actor.Context) {
	v.resetIndex()
	v.rebuilding, v.rebuiltTo = true, nil
	ctx.Send(ctx.Self(), rebuildStep{})
}

func (v *vnode) treeLevel(m *internalpb.TreeLevel) *internalpb.TreeLevelReply {
	reply := &internalpb.TreeLevelReply{Node: v.self.Node, Ready: !v.rebuilding}
	if v.rebuilding {
		return reply
	}
	nodes := make([]int, len(m.Nodes))
	for i, n := range m.Nodes {
		nodes[i] = int(n)
	}
	hashes, err := v.tree.Nodes(int(m.Level), nodes)
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
		func(key []byte) bool { return want[v.tree.Bucket(key)] })
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
