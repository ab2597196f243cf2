package actors

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/crdt"
	"github.com/harmoniakv/harmonia/cluster/datatype"
	"github.com/harmoniakv/harmonia/cluster/hlc"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxospb"
	"github.com/harmoniakv/harmonia/cluster/replica"
	"github.com/harmoniakv/harmonia/cluster/vclock"
	"github.com/harmoniakv/harmonia/internal/wallclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"github.com/harmoniakv/harmonia/persistence"
	"google.golang.org/protobuf/proto"
)

// A vnode's writes: the group commit that makes what the partition staged
// durable before any reply.

// hold keeps a reply until the staged batch is durable; fail rewrites it
// if the commit fails.
func (v *vnode) hold(ctx actor.Context, reply proto.Message, fail func(error)) {
	v.waiting = append(v.waiting, deferred{to: ctx.Sender(), msg: reply, fail: fail})
}

// coordinate stamps a client write with a new dot of this replica.
//
// The size limits were applied when the client's write was admitted
// (System.CheckKey, CheckValue); an empty key is still refused, as it
// cannot be stored.
func (v *vnode) coordinate(m *internalpb.CoordinatePut) ([]object.Sibling, vclock.Dot, error) {
	if len(m.Key) == 0 {
		return nil, vclock.Dot{}, object.ErrEmptyKey
	}
	if err := v.catalog.Load().CheckEventualWrite(m.Key); err != nil {
		return nil, vclock.Dot{}, err
	}
	stamp, err := v.stamp(m)
	if err != nil {
		return nil, vclock.Dot{}, err
	}
	counter, err := v.store.NextCounter()
	if err != nil {
		return nil, vclock.Dot{}, err
	}
	return v.part.Coordinate(replica.ClientWrite{Key: m.Key, Value: m.Value, Context: object.ClockFromProto(m.Context),
		Deleted: m.Deleted, WrittenAt: m.WrittenAt, Stamp: stamp}, counter, wallclock.Now())
}

// coordinateUpdate applies a client's update of a CRDT value: the new
// state (for the client) and the delta object the other replicas merge.
func (v *vnode) coordinateUpdate(m *internalpb.CoordinatePut) (delta []object.Sibling, dot vclock.Dot, state []byte, err error) {
	if err := v.catalog.Load().CheckEventualWrite(m.Key); err != nil {
		return nil, vclock.Dot{}, nil, err
	}
	ops, err := replica.DatatypeOps(m.Key, m.DatatypeOps)
	if err != nil {
		return nil, vclock.Dot{}, nil, err
	}
	seen, err := crdt.DecodeContext(m.DatatypeContext, object.DatatypeLimits)
	if err != nil {
		return nil, vclock.Dot{}, nil, fmt.Errorf("CRDT context: %w", err)
	}
	var base crdt.State
	if len(m.DatatypeBase) > 0 {
		if base, err = crdt.Decode(m.DatatypeBase, object.DatatypeLimits); err != nil {
			return nil, vclock.Dot{}, nil, fmt.Errorf("CRDT base state: %w", err)
		}
	}
	actor, err := v.datatypeActor()
	if err != nil {
		return nil, vclock.Dot{}, nil, err
	}
	counter, err := v.store.NextCounter()
	if err != nil {
		return nil, vclock.Dot{}, nil, err
	}
	next, delta, err := v.part.CoordinateUpdate(replica.DatatypeUpdate{Key: m.Key, Actor: actor, Context: seen, Ops: ops, Base: base}, counter, wallclock.Now())
	if err != nil {
		return nil, vclock.Dot{}, nil, err
	}
	return delta, delta[0].Dot, crdt.Encode(next), nil
}

// datatypeActor is the actor this vnode issues CRDT dots as. A new one is
// taken at the vnode's start and after its partition's data is dropped:
// an actor's dots for a key come from the highest the key's state holds
// (crdt.Apply), so an actor whose state may have lost some of its own
// updates would issue a dot twice, and a replica that had the first would
// drop the second update as seen. The node's counter lease makes each new
// actor unique, and the node's incarnation (new with every empty data
// directory) keeps actors of two lives of the node apart.
func (v *vnode) datatypeActor() (vclock.Actor, error) {
	if v.crdtActor == (vclock.Actor{}) {
		n, err := v.store.NextCounter()
		if err != nil {
			return vclock.Actor{}, err
		}
		v.crdtActor = vclock.Actor{Node: v.self.Node + "~" + strconv.FormatUint(v.self.Incarnation, 16), Incarnation: n}
	}
	return v.crdtActor, nil
}

// stamp is the hybrid logical timestamp of a write to a last-writer-wins
// key, above the stamp its client's context carried; zero for any other
// key. replica.PlanStamp decides which stamp, or refuses the write; the
// node's clock, shared by its vnodes, issues it.
func (v *vnode) stamp(m *internalpb.CoordinatePut) (hlc.Timestamp, error) {
	plan, err := replica.PlanStamp(m.Key, m.AfterStamp, m.JustAfter)
	if err != nil {
		return hlc.Timestamp{}, err
	}
	switch plan.Stamping {
	case replica.StampJustAfter:
		return v.stamps.justAfter(plan.After)
	case replica.StampAfter:
		return v.stamps.after(plan.After)
	}
	return hlc.Timestamp{}, nil
}

// flush commits every staged write, hint and acceptor state in one batch,
// then releases the replies.
func (v *vnode) flush(ctx actor.Context) {
	staged, hints := v.part.Batch()
	writes := make([]persistence.Write, 0, len(staged)+len(hints))
	var reaped uint64 // only reap stages an empty object
	for _, w := range staged {
		writes = append(writes, persistence.Write{Partition: v.partition, Key: w.Key, Siblings: w.Siblings, Delete: len(w.Siblings) == 0})
		if len(w.Siblings) == 0 {
			reaped++
		}
	}
	for _, h := range hints {
		writes = append(writes, persistence.Write{Partition: v.partition, Key: h.Key, Siblings: h.Siblings, HintFor: h.For, HintOnly: true})
	}
	acceptors := v.acceptorWrites()
	var err error
	if len(writes) > 0 || len(acceptors) > 0 { // nothing is staged after a restart that lost the batch
		err = v.store.CommitBatch(writes, acceptors)
	}
	// Committed or not, the staged acceptor states go: on a failure the
	// replies that reported them fail, and the store refuses what follows.
	v.cacheAcceptors(err)
	v.acceptors = nil
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
	v.waiting, v.flushPending = nil, false
	if v.part.Committed(err) {
		ctx.Send(ctx.Self(), rebuildStep{}) // the tree showed the writes that failed
	}
}

// fetch reads the next batch of the partition for a handoff. Staged writes
// are not included: they were sent to the receiving node as well, since a
// transfer starts only after every node writes to both rings.
func (v *vnode) fetch(ctx actor.Context, m *internalpb.HandoffFetch) *internalpb.HandoffBatch {
	if m.AcceptorStates {
		return v.fetchAcceptors(ctx, m)
	}
	entries, _, more, err := v.scanEntries(m.AfterKey, int(max(m.MaxKeys, 1)), int(max(m.MaxBytes, 1)), nil)
	reply := &internalpb.HandoffBatch{Node: v.self.Node, Partition: uint32(v.partition), Entries: entries, Done: err == nil && !more}
	if err != nil {
		reply.Error = err.Error()
	}
	return reply
}

// fetchAcceptors reads the next batch of the partition's acceptor states,
// for a transfer or a rebuild, in the asker's view of the ring transition
// only: the reader counts on its sources refusing proposers of older views
// from then on (actors/transfer.go). Acceptor states staged for the next
// group commit are committed first: their replies leave with that commit,
// and a promise or an acceptance answered after this read, though taken
// before it, would be counted by its proposer and missed by the reader.
func (v *vnode) fetchAcceptors(ctx actor.Context, m *internalpb.HandoffFetch) *internalpb.HandoffBatch {
	reply := &internalpb.HandoffBatch{Node: v.self.Node, Partition: uint32(v.partition), OfAcceptorStates: true}
	if view := v.view.Load(); view == nil || view.Transition == nil || view.Transition.Fingerprint != m.Transition {
		err := fmt.Errorf("refused a read of the acceptor states of partition %d from a reader in ring transition %016x: node %s is in another", v.partition, m.Transition, v.self.Node)
		if view != nil && view.Transition != nil {
			err = fmt.Errorf("refused a read of the acceptor states of partition %d from a reader in ring transition %016x: node %s is in transition %016x (%s)",
				v.partition, m.Transition, v.self.Node, view.Transition.Fingerprint, view.Transition.Key)
		}
		v.counters.refused.add(err)
		reply.Error = err.Error()
		return reply
	}
	if err := v.enterTransition(ctx); err != nil {
		reply.Error = err.Error()
		return reply
	}
	if len(v.acceptors) > 0 {
		v.flush(ctx)
	}
	entries, more, err := v.store.ScanAcceptors(v.partition, m.AfterKey, int(max(m.MaxKeys, 1)), int(max(m.MaxBytes, 1)))
	if err != nil {
		reply.Error = err.Error()
		return reply
	}
	reply.Done = !more
	reply.Floor = paxospb.BallotToProto(v.floor)
	for _, e := range entries {
		reply.AcceptorStates = append(reply.AcceptorStates, &internalpb.AcceptorEntry{Key: e.Key, State: e.State})
	}
	return reply
}

// DatatypeError is a CRDT update its coordinating replica refused; Kind
// says why, so that the API answers with the right status.
type DatatypeError struct{ Kind, Msg string }

func (e *DatatypeError) Error() string { return e.Msg }

// The kinds of DatatypeError.
const (
	// DatatypeInvalid: an operation that does not fit its field's type.
	DatatypeInvalid = "invalid"
	// DatatypeNotObserved: a removal of something the context did not see.
	DatatypeNotObserved = "not-observed"
	// DatatypeUnseenContext: the context holds updates the coordinating
	// replica has not seen yet; a retry after repair succeeds.
	DatatypeUnseenContext = "unseen-context"
	// DatatypeLimit: the value would pass its size limits, or a counter
	// would overflow int64.
	DatatypeLimit = "limit"
)

// datatypeErrorKind classifies a CRDT update's refusal ("" for any other
// error).
func datatypeErrorKind(err error) string {
	switch {
	case errors.Is(err, datatype.ErrInvalid), errors.Is(err, crdt.ErrKind):
		return DatatypeInvalid
	case errors.Is(err, crdt.ErrNotObserved):
		return DatatypeNotObserved
	case errors.Is(err, crdt.ErrUnseenContext):
		return DatatypeUnseenContext
	case errors.Is(err, crdt.ErrLimit), errors.Is(err, crdt.ErrOverflow):
		return DatatypeLimit
	}
	return ""
}
