package actors

import (
	"fmt"
	"strconv"
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
