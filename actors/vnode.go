package actors

import (
	"bytes"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/merkle"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/reap"
	"github.com/harmoniakv/harmonia/cluster/vclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"github.com/harmoniakv/harmonia/persistence"
	"google.golang.org/protobuf/proto"
)

func itoa(i int) string { return strconv.Itoa(i) }

// crashVnode makes a vnode panic; tests use it to exercise supervision.
type crashVnode struct{}

// flushVnode commits the writes a vnode staged; the vnode sends it to itself
// behind the messages already queued, so every write that arrived meanwhile
// shares one synced batch (group commit without a timer).
type flushVnode struct{}

// deferred is a reply that may be sent only once the staged batch is durable.
type deferred struct {
	to   *actor.PID
	msg  proto.Message
	fail func(error)
}

// vnode holds one partition's replicas. All reads and writes of the partition
// pass through its mailbox, so read-merge-write of a key needs no lock. Its
// durable state lives in the store only, so a restarted vnode simply
// continues; staged writes lost in a crash were never acknowledged.
type vnode struct {
	partition  int
	store      *persistence.Store
	view       *viewHolder // who may send data (View.Admits)
	self       vclock.Actor
	maxEntries int

	staged       map[string][]object.Sibling // written this turn, not yet committed
	hints        []persistence.Write         // hints to keep with the same batch
	waiting      []deferred
	flushPending bool

	// tree is the partition's Merkle tree, kept current with every write.
	// It is rebuilt from pebble after a (re)start, a chunk per message so the
	// vnode keeps serving; keys past rebuiltTo are not in it yet.
	tree         *merkle.Tree
	rebuilding   bool
	rebuiltTo    []byte
	rebuildPause time.Duration // between chunks; 0: none
	// tombstones indexes the keys whose object is a delete, by delete time,
	// so reaping never scans the partition.
	tombstones map[string]int64
	counters   *vnodeCounters
}

// vnodeCounters are totals over a node's vnodes that the status API shows.
type vnodeCounters struct {
	tombstonesHeld atomic.Int64
	reaped         atomic.Uint64
	dropped        atomic.Uint64
	refused        refusals
}

// refusals counts replica data (writes, hints, repairs, reaps) that vnodes
// refused from senders that are not members in good standing
// (View.Admits), and logs each distinct reason once: a removed node that
// replays a queue of hints would otherwise log every one of them.
type refusals struct {
	log    *slog.Logger
	count  atomic.Uint64
	logged sync.Map // reason -> struct{}
}

func (r *refusals) add(err error) {
	r.count.Add(1)
	if _, seen := r.logged.LoadOrStore(err.Error(), struct{}{}); !seen && r.log != nil {
		r.log.Warn("replica data refused", "reason", err.Error())
	}
}

type (
	// reapScan asks a vnode for up to max tombstones past the rule's grace
	// at now; it answers []*internalpb.ReapEntry.
	reapScan struct {
		rule reap.Config
		now  time.Time
		max  int
	}
	// dropPartition asks a vnode to delete every object it holds.
	dropPartition struct{}
)

// rebuildStep reads the next chunk after the rebuild cursor. Steps left
// over from an earlier rebuild just continue from the same cursor.
type rebuildStep struct{}

// rebuildChunk bounds the keys one rebuild step reads.
const rebuildChunk = 1000

func newVnodeProps(partition int, store *persistence.Store, view *viewHolder, maxEntries int, counters *vnodeCounters, rebuildPause time.Duration) *actor.Props {
	id := store.Identity()
	return actor.PropsFromProducer(func() actor.Actor {
		return &vnode{partition: partition, store: store, view: view, maxEntries: maxEntries, counters: counters, rebuildPause: rebuildPause,
			self: vclock.Actor{Node: id.NodeID, Incarnation: id.Incarnation}}
	})
}

func (v *vnode) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		v.reindex(ctx)
	case *actor.Restarting, *actor.Stopping:
		v.forgetTombstones() // the next instance indexes them anew
	case reapScan:
		ctx.Respond(v.reapCandidates(m))
	case *internalpb.Reap:
		if err := v.admit(m.Sender); err != nil {
			ctx.Respond(&internalpb.ReapReply{Node: v.self.Node, Error: err.Error()})
			return
		}
		v.reap(ctx, m)
	case dropPartition:
		v.drop()
	case rebuildStep:
		if v.rebuilding { // a leftover step of a finished rebuild must not index again
			v.rebuild(ctx)
		}
	case *internalpb.TreeLevel:
		ctx.Respond(v.treeLevel(m))
	case *internalpb.BucketKeys:
		ctx.Respond(v.bucketKeys(m))
	case *internalpb.CoordinatePut:
		reply := &internalpb.CoordinatePutReply{Node: v.self.Node}
		old, set, dot, err := v.coordinate(m)
		if err != nil {
			reply.Error = err.Error()
			ctx.Respond(reply)
			return
		}
		reply.Object = object.ToProto(set)
		reply.Dot = object.DotToProto(dot)
		v.stage(ctx, m.Key, old, set, reply, func(err error) { reply.Object, reply.Dot, reply.Error = nil, nil, err.Error() })
	case *internalpb.ReplicaPut:
		reply := &internalpb.ReplicaPutReply{Node: v.self.Node, RequestId: m.RequestId, HintFor: m.HintFor}
		fail := func(err error) { reply.Error = err.Error() }
		if err := v.admit(m.Sender); err != nil {
			fail(err)
			v.reply(ctx, reply)
			return
		}
		old, set, in, changed, err := v.merge(m)
		switch {
		case err != nil:
			fail(err)
			v.reply(ctx, reply)
		case m.HintFor != "":
			// A hinted write: keep the incoming object for its intended
			// replica, in the same synced batch as the ack.
			if changed && !m.HintOnly {
				v.stageWrite(ctx, m.Key, old, set)
			}
			v.hints = append(v.hints, persistence.Write{Partition: v.partition, Key: m.Key, Siblings: in, HintFor: m.HintFor, HintOnly: true})
			v.scheduleFlush(ctx)
			v.waiting = append(v.waiting, deferred{to: ctx.Sender(), msg: reply, fail: fail})
		case changed:
			v.stage(ctx, m.Key, old, set, reply, fail)
		default:
			v.reply(ctx, reply)
		}
	case *internalpb.ReplicaGet:
		reply := &internalpb.ReplicaGetReply{Node: v.self.Node}
		set, err := v.load(m.Key)
		if err != nil {
			reply.Error = err.Error()
		} else {
			reply.Object = object.ToProto(set)
		}
		if _, staged := v.staged[string(m.Key)]; staged && err == nil {
			// Never show a write before it is durable.
			v.waiting = append(v.waiting, deferred{to: ctx.Sender(), msg: reply,
				fail: func(err error) { reply.Object, reply.Error = nil, err.Error() }})
			return
		}
		ctx.Respond(reply)
	case *internalpb.HandoffFetch:
		ctx.Respond(v.fetch(m))
	case *internalpb.HandoffApply:
		reply := &internalpb.HandoffApplyReply{}
		fail := func(err error) { reply.Error = err.Error() }
		staged := false
		for _, e := range m.Entries {
			old, set, _, changed, err := v.merge(&internalpb.ReplicaPut{Key: e.Key, Object: e.Object})
			if err != nil {
				fail(fmt.Errorf("key %q: %w", e.Key, err))
				break
			}
			if changed {
				v.stageWrite(ctx, e.Key, old, set)
				staged = true
			}
		}
		if staged && reply.Error == "" {
			v.waiting = append(v.waiting, deferred{to: ctx.Sender(), msg: reply, fail: fail})
			return
		}
		ctx.Respond(reply)
	case flushVnode:
		v.flush(ctx)
	case crashVnode:
		panic(fmt.Sprintf("vnode %d: crash requested", v.partition))
	}
}

// admit checks that sender may send this replica data (View.Admits).
func (v *vnode) admit(sender *internalpb.Sender) error {
	view := v.view.Load()
	if view == nil {
		return fmt.Errorf("node %s is starting", v.self.Node)
	}
	err := view.Admits(sender)
	if err != nil {
		v.counters.refused.add(err)
	}
	return err
}

// reply answers the sender if there is one (read repair sends without one).
func (v *vnode) reply(ctx actor.Context, msg proto.Message) {
	if ctx.Sender() != nil {
		ctx.Respond(msg)
	}
}

// load reads a key's siblings, seeing writes staged in this turn.
func (v *vnode) load(key []byte) ([]object.Sibling, error) {
	set, ok := v.staged[string(key)]
	if !ok {
		var err error
		if set, err = v.store.Get(v.partition, key); err != nil {
			return nil, err
		}
	}
	return set, nil
}

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

// vnodes supervises one vnode per partition. Every node runs a vnode for
// every partition so that any node can serve as a replica of any partition
// (ownership changes and fallbacks need no spawning).
type vnodes struct {
	partitions int
	store      *persistence.Store
	view       *viewHolder
	maxEntries int
	counters   *vnodeCounters
	// treeRebuildRate bounds the keys per second all vnodes together read
	// to rebuild their trees (0: unbounded).
	treeRebuildRate int
	ready           *readySignal
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
			if _, err := ctx.SpawnNamed(newVnodeProps(p, s.store, s.view, s.maxEntries, s.counters, pause), vnodeChild(p)); err != nil {
				panic(fmt.Sprintf("spawn vnode %d: %v", p, err))
			}
		}
		s.ready.done()
	}
}
