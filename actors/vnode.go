package actors

import (
	"fmt"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/actors/actorkit"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/reap"
	"github.com/harmoniakv/harmonia/cluster/replica"
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

// vnode holds one partition's replica. All reads and writes of the
// partition pass through its mailbox, so read-merge-write of a key needs no
// lock. The decisions are replica.Partition's; the vnode reads and commits
// to the store and answers. Its durable state lives in the store only, so a
// restarted vnode simply continues; staged writes lost in a crash were
// never acknowledged.
type vnode struct {
	partition  int
	store      *persistence.Store
	view       *viewHolder    // who may send data (View.Admits)
	catalog    *catalogHolder // which keys it may take (catalog.CheckEventualWrite, CheckStrongKey)
	self       vclock.Actor
	maxEntries int
	counters   *vnodeCounters
	// stamps stamps the writes this vnode coordinates to last-writer-wins
	// tables (the node's one clock).
	stamps *stampClock
	// crdtActor issues the dots of the CRDT updates this vnode applies
	// (crdt.Update.Actor); zero until the first, and again after the
	// partition's data is dropped (vnode_write.go, datatypeActor).
	crdtActor vclock.Actor

	part         *replica.Partition
	waiting      []deferred // replies held until the batch is durable
	flushPending bool
	// acceptors are the acceptor states of strong keys staged for the
	// next batch, by register key (vnode_paxos.go).
	acceptors map[string]paxos.State
	// durable caches acceptor states known to be on disk (committed in a
	// batch), so that a register's next steps (the accept after the
	// prepare, the commit after the accept) do not read pebble again. It
	// is dropped whole when it reaches acceptorCacheSize entries, when a
	// commit fails and when keys are purged.
	durable map[string]paxos.State
	// floor is the highest promise of the registers whose state this
	// vnode dropped (paxos.EmptyAt), floorErr why it could not be read
	// (every step is then refused); reapFrom is where the next scan for
	// droppable states starts.
	floor    paxos.Ballot
	floorErr error
	reapFrom []byte
	// rebuildPause separates rebuild chunks; 0: none. rebuildTimer is the
	// pending paused step, stopped with this instance so that it cannot
	// start a second chain of steps in the next one.
	rebuildPause time.Duration
	rebuildTimer actorkit.SelfTimer
	// tombstonesCounted is this vnode's share of counters.tombstonesHeld.
	tombstonesCounted int
}

type (
	// reapScan asks a vnode for up to max tombstones past the rule's grace
	// at now; it answers []*internalpb.ReapEntry.
	reapScan struct {
		rule reap.Config
		now  time.Time
		max  int
		// acceptors: strong keys' tombstones (acceptor state) instead.
		acceptors bool
	}
	// dropPartition asks a vnode to delete every object it holds.
	dropPartition struct{}
)

// rebuildStep reads the next chunk after the rebuild cursor. Steps left
// over from an earlier rebuild just continue from the same cursor.
type rebuildStep struct{}

func newVnodeProps(partition int, store *persistence.Store, view *viewHolder, catalog *catalogHolder, maxEntries int, counters *vnodeCounters, stamps *stampClock, rebuildPause time.Duration) *actor.Props {
	id := store.Identity()
	return actorkit.Props(func() actor.Actor {
		return &vnode{partition: partition, store: store, view: view, catalog: catalog, maxEntries: maxEntries, counters: counters, stamps: stamps, rebuildPause: rebuildPause,
			self: vclock.Actor{Node: id.NodeID, Incarnation: id.Incarnation}}
	})
}

func (v *vnode) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Restarting, *actor.Stopping:
		v.countTombstones(0) // the next instance indexes them anew
		v.rebuildTimer.Stop()
		return
	}
	v.receive(ctx)
	if v.part != nil {
		v.countTombstones(v.part.Tombstones())
		if (v.part.Pending() || len(v.acceptors) > 0) && !v.flushPending {
			// Behind the messages already queued, so every write that
			// arrives meanwhile shares one synced batch.
			v.flushPending = true
			ctx.Send(ctx.Self(), flushVnode{})
		}
	}
}

// countTombstones moves this vnode's share of the node's tombstone count.
func (v *vnode) countTombstones(n int) {
	if n == v.tombstonesCounted {
		return // most messages change no tombstone: no shared write
	}
	v.counters.tombstonesHeld.Add(int64(n - v.tombstonesCounted))
	v.tombstonesCounted = n
}

func (v *vnode) receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		part, err := replica.New(replica.Config{Self: v.self, MaxClockEntries: v.maxEntries}, func(key []byte) ([]object.Sibling, error) {
			return v.store.Get(v.partition, key)
		})
		if err != nil {
			panic(fmt.Sprintf("vnode %d: %v", v.partition, err))
		}
		v.part = part
		v.floor, v.floorErr = v.store.AcceptorFloor(v.partition)
		v.reindex(ctx)
	case reapScan:
		if m.acceptors {
			ctx.Respond(v.acceptorReapCandidates(m))
			return
		}
		ctx.Respond(v.reapCandidates(m))
	case *internalpb.Reap:
		if err := v.admit(m.Sender); err != nil {
			ctx.Respond(&internalpb.ReapReply{Node: v.self.Node, Error: err.Error()})
			return
		}
		if m.Acceptors {
			v.reapAcceptors(ctx, m)
			return
		}
		v.reap(ctx, m)
	case dropPartition:
		v.drop()
	case rebuildStep:
		if v.part.Rebuilding() { // a leftover step of a finished rebuild must not index again
			v.rebuild(ctx)
		}
	case *internalpb.TreeLevel:
		ctx.Respond(v.treeLevel(m))
	case *internalpb.BucketKeys:
		ctx.Respond(v.bucketKeys(m))
	case *internalpb.CoordinatePut:
		reply := &internalpb.CoordinatePutReply{Node: v.self.Node}
		var set []object.Sibling
		var dot vclock.Dot
		var err error
		if len(m.DatatypeOps) > 0 {
			var state []byte
			set, dot, state, err = v.coordinateUpdate(m)
			reply.DatatypeState = state
		} else {
			set, dot, err = v.coordinate(m)
		}
		if err != nil {
			reply.Error, reply.ErrorKind = err.Error(), datatypeErrorKind(err)
			ctx.Respond(reply)
			return
		}
		reply.Object = object.ToProto(set)
		reply.Dot = object.DotToProto(dot)
		reply.Stamp = object.StampToProto(object.MaxStamp(set))
		v.hold(ctx, reply, func(err error) {
			reply.Object, reply.Dot, reply.DatatypeState, reply.Error = nil, nil, nil, err.Error()
		})
	case *internalpb.ReplicaPut:
		reply := &internalpb.ReplicaPutReply{Node: v.self.Node, RequestId: m.RequestId, HintFor: m.HintFor}
		fail := func(err error) { reply.Error = err.Error() }
		if err := v.admit(m.Sender); err != nil {
			fail(err)
			v.reply(ctx, reply)
			return
		}
		in, err := object.FromProto(m.Object)
		if err != nil {
			fail(err)
			v.reply(ctx, reply)
			return
		}
		out := v.part.Replicate(replica.ReplicaWrite{Key: m.Key, In: in, HintFor: m.HintFor, HintOnly: m.HintOnly}, v.catalog.Load().CheckEventualWrite)
		v.stamps.observe(out.Observe)
		switch {
		case out.Refused:
			v.counters.refused.add(out.Err)
			fail(out.Err)
			v.reply(ctx, reply)
		case out.Err != nil:
			fail(out.Err)
			v.reply(ctx, reply)
		case out.Hold:
			v.hold(ctx, reply, fail)
		default:
			v.reply(ctx, reply)
		}
	case *internalpb.ReplicaGet:
		v.replicaGet(ctx, m)
	case *internalpb.PaxosRequest:
		v.acceptorStep(ctx, m)
	case *internalpb.HandoffFetch:
		ctx.Respond(v.fetch(ctx, m))
	case *internalpb.AcceptorRangeRead:
		ctx.Respond(v.rangeRead(ctx, m))
	case *internalpb.ObjectRangeRead:
		ctx.Respond(v.objectRangeRead(m))
	case applyAcceptors:
		v.applyAcceptors(ctx, m)
	case *internalpb.AcceptorSync:
		v.acceptorSync(ctx, m)
	case *internalpb.HandoffApply:
		// Only this node's transfers apply batches (applyBatch); over the
		// remote layer one would skip the sender check of replica writes.
		err := fmt.Errorf("refused a handoff batch from %v: batches are applied by this node's own transfers", ctx.Sender())
		v.counters.refused.add(err)
		v.reply(ctx, &internalpb.HandoffApplyReply{Error: err.Error()})
	case applyBatch:
		reply := &internalpb.HandoffApplyReply{}
		fail := func(err error) { reply.Error = err.Error() }
		hold, err := v.part.ApplyHandoff(m.Entries, v.catalog.Load().CheckEventualWrite)
		if err != nil {
			fail(err)
		}
		if hold {
			v.hold(ctx, reply, fail)
			return
		}
		ctx.Respond(reply)
	case flushVnode:
		v.flush(ctx)
	case purgeTable:
		v.purge(ctx, m)
	case crashVnode:
		panic(fmt.Sprintf("vnode %d: crash requested", v.partition))
	}
}

// applyBatch is a transfer's fetched batch for its own node's vnode. It is
// a Go type, not a registered message, so no peer can send one.
type applyBatch struct{ *internalpb.HandoffApply }

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
