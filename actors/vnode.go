package actors

import (
	"fmt"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/vclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"github.com/harmoniakv/harmonia/persistence"
)

func itoa(i int) string { return strconv.Itoa(i) }

// crashVnode makes a vnode panic; tests use it to exercise supervision.
type crashVnode struct{}

// vnode holds one partition's replicas. All writes to the partition pass
// through its mailbox, so read-merge-write of a key needs no lock. Its state
// lives in the store only, so a restarted vnode simply continues.
type vnode struct {
	partition  int
	store      *persistence.Store
	self       vclock.Actor
	maxEntries int
}

func newVnodeProps(partition int, store *persistence.Store, maxEntries int) *actor.Props {
	id := store.Identity()
	return actor.PropsFromProducer(func() actor.Actor {
		return &vnode{partition: partition, store: store, maxEntries: maxEntries,
			self: vclock.Actor{Node: id.NodeID, Incarnation: id.Incarnation}}
	})
}

func (v *vnode) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *internalpb.CoordinatePut:
		ctx.Respond(v.coordinate(m))
	case *internalpb.ReplicaPut:
		reply := &internalpb.ReplicaPutReply{Node: v.self.Node}
		if err := v.merge(m); err != nil {
			reply.Error = err.Error()
		}
		if ctx.Sender() != nil {
			ctx.Respond(reply)
		}
	case *internalpb.ReplicaGet:
		reply := &internalpb.ReplicaGetReply{Node: v.self.Node}
		set, err := v.store.Get(v.partition, m.Key)
		if err != nil {
			reply.Error = err.Error()
		} else {
			reply.Object = object.ToProto(set)
		}
		ctx.Respond(reply)
	case crashVnode:
		panic(fmt.Sprintf("vnode %d: crash requested", v.partition))
	}
}

// coordinate issues a new dot for a client write, applies it to the local
// object and returns the resulting object for the other replicas.
func (v *vnode) coordinate(m *internalpb.CoordinatePut) *internalpb.CoordinatePutReply {
	reply := &internalpb.CoordinatePutReply{Node: v.self.Node}
	if err := v.store.CheckKey(m.Key); err != nil {
		reply.Error = err.Error()
		return reply
	}
	cur, err := v.store.Get(v.partition, m.Key)
	if err != nil {
		reply.Error = err.Error()
		return reply
	}
	counter, err := v.store.NextCounter()
	if err != nil {
		reply.Error = err.Error()
		return reply
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
	set := object.Apply(cur, s)
	if err := v.store.Put(v.partition, m.Key, set); err != nil {
		reply.Error = err.Error()
		return reply
	}
	reply.Object = object.ToProto(set)
	reply.Dot = &internalpb.Dot{Node: s.Dot.Node, Incarnation: s.Dot.Incarnation, Counter: s.Dot.Counter}
	return reply
}

// merge reconciles an incoming object with the stored one; writing only when
// something changed makes replays and repeated repairs cheap.
func (v *vnode) merge(m *internalpb.ReplicaPut) error {
	in, err := object.FromProto(m.Object)
	if err != nil {
		return err
	}
	cur, err := v.store.Get(v.partition, m.Key)
	if err != nil {
		return err
	}
	merged := object.Merge(cur, in)
	if object.SameVersions(cur, merged) {
		return nil
	}
	return v.store.Put(v.partition, m.Key, merged)
}

// vnodes supervises one vnode per partition. Every node runs a vnode for
// every partition so that any node can serve as a replica of any partition
// (ownership changes and fallbacks need no spawning).
type vnodes struct {
	partitions int
	store      *persistence.Store
	maxEntries int
	ready      *readySignal
}

func (s *vnodes) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*actor.Started); ok {
		for p := 0; p < s.partitions; p++ {
			if _, err := ctx.SpawnNamed(newVnodeProps(p, s.store, s.maxEntries), vnodeChild(p)); err != nil {
				panic(fmt.Sprintf("spawn vnode %d: %v", p, err))
			}
		}
		s.ready.done()
	}
}
