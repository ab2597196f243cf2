package actors

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxospb"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"github.com/harmoniakv/harmonia/persistence"
)

// A vnode as the acceptor of its partition's strong keys: it decodes and
// checks a PaxosRequest, applies paxos.State's step to the register's
// state (staged, else stored), stages the new state into the group commit
// and answers only once the batch is durable. A promise or an acceptance
// that was answered is never forgotten, even across a crash.

// paxosStep is a checked PaxosRequest.
type paxosStep struct {
	kind   paxos.MsgKind
	ballot paxos.Ballot
	value  paxos.Value
	next   paxos.Ballot // accept: the proposer's next ballot, promised with it
}

var kindToPaxos = map[internalpb.PaxosKind]paxos.MsgKind{
	internalpb.PaxosKind_PAXOS_READ: paxos.MsgRead, internalpb.PaxosKind_PAXOS_PREPARE: paxos.MsgPrepare,
	internalpb.PaxosKind_PAXOS_ACCEPT: paxos.MsgAccept, internalpb.PaxosKind_PAXOS_COMMIT: paxos.MsgCommit,
}

var kindToProto = map[paxos.MsgKind]internalpb.PaxosKind{
	paxos.MsgRead: internalpb.PaxosKind_PAXOS_READ, paxos.MsgPrepare: internalpb.PaxosKind_PAXOS_PREPARE,
	paxos.MsgAccept: internalpb.PaxosKind_PAXOS_ACCEPT, paxos.MsgCommit: internalpb.PaxosKind_PAXOS_COMMIT,
}

// checkPaxos decodes m and checks it against what this vnode is: the
// sender must be admitted, the register must belong to this partition,
// this node must be one of its voters, and the ballot and value must be
// well formed and within the store's limits.
func (v *vnode) checkPaxos(m *internalpb.PaxosRequest) (paxosStep, error) {
	if err := v.admit(m.Sender); err != nil {
		return paxosStep{}, err // admit counted it
	}
	step, err := v.decodePaxos(m)
	if err != nil {
		v.counters.refused.add(err) // counted and logged (once per reason) like refused replica data
	}
	return step, err
}

// checkVoting refuses a consensus step (or a range read of acceptor
// states, kind MsgRead) unless the asker is in this node's ring transition
// and this node votes for the partition in it.
func (v *vnode) checkVoting(view *View, kind paxos.MsgKind, transition uint64) error {
	if transition != view.Transition.Fingerprint {
		return &transitionMismatch{kind: kind, node: v.self.Node, theirs: transition, ours: view.Transition.Fingerprint, key: view.Transition.Key}
	}
	if !view.Transition.IsVoter(v.partition, v.self.Node) {
		return fmt.Errorf("node %s is not a voter of partition %d (voters %v): only its primary replicas vote, never a fallback",
			v.self.Node, v.partition, view.Transition.Voters(v.partition))
	}
	if err := v.store.AcceptorsVoting(v.partition); err != nil {
		// It may have lost promises it answered (persistence's
		// acceptor marks; acceptor_rebuild.go): every step, a read too,
		// would let a quorum that counts it miss a chosen value.
		if errors.Is(err, persistence.ErrAcceptorsRebuilding) {
			return fmt.Errorf("node %s is %w: it came back with an empty data directory and votes only once it has read the acceptor states of its peers", v.self.Node, err)
		}
		return fmt.Errorf("node %s does not vote yet: %w", v.self.Node, err)
	}
	return nil
}

// enterTransition records this node's entry of the partition in its
// view's ring transition (persistence.EnterAcceptors) before its first
// step there as a voter (a vote, a read or a write of its acceptor
// state), first dropping what it holds of the partition when the
// transition says so (ring.Transition.ResetOnEntry): a new voter whose
// state is left over from an earlier time it was a replica, which its
// reaper had not yet dropped; the transfer gives it what the voters hold.
// Staged states go to disk first, so that the drop takes them too.
func (v *vnode) enterTransition(ctx actor.Context) error {
	view := v.view.Load()
	if view == nil || view.Transition == nil || !view.Transition.IsVoter(v.partition, v.self.Node) {
		return nil
	}
	t := view.Transition
	last := v.store.AcceptorsEntered(v.partition)
	if last.Transition == t.Fingerprint {
		return nil
	}
	reset := t.ResetOnEntry(v.partition, v.self.Node, last)
	if reset && len(v.acceptors) > 0 {
		v.flush(ctx)
	}
	floor, err := v.store.EnterAcceptors(v.partition, t.EntryOf(v.partition, v.self.Node), reset)
	if err != nil {
		return fmt.Errorf("enter partition %d in ring transition %016x (dropping leftover acceptor state: %v): %w", v.partition, t.Fingerprint, reset, err)
	}
	if reset {
		if v.floor.Less(floor) {
			v.floor = floor
		}
		v.durable = nil
	}
	return nil
}

// rangeRead answers a range read of acceptor states (a Query's or a
// Scan's page) from a voter's view: the asker admitted, this node voting
// for the partition in the asker's ring transition, the bounds those of a
// strong table's items (of one partition key placed here, or with
// of_table any part of one table's). States staged for the next group commit are committed first, as
// for a transfer's read (fetchAcceptors): a promise or acceptance answered
// after the read but taken before it would otherwise be missed.
func (v *vnode) rangeRead(ctx actor.Context, m *internalpb.AcceptorRangeRead) *internalpb.HandoffBatch {
	reply := &internalpb.HandoffBatch{Node: v.self.Node, Partition: uint32(v.partition), OfAcceptorStates: true}
	if err := v.admit(m.Sender); err != nil {
		reply.Error = err.Error()
		return reply
	}
	if err := v.checkRangeRead(m); err != nil {
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
	// The asker's page size is bounded here too: a reply must fit one
	// remote message whatever a peer asks.
	maxBytes := min(max(int(m.MaxBytes), 1), rangeReadMaxBytes)
	entries, more, err := v.store.ScanAcceptorRange(v.partition, m.Lower, m.Upper, m.Reverse, int(max(m.MaxKeys, 1)), maxBytes)
	if err != nil {
		reply.Error = err.Error()
		return reply
	}
	reply.Done = !more
	for _, e := range entries {
		reply.AcceptorStates = append(reply.AcceptorStates, &internalpb.AcceptorEntry{Key: e.Key, State: e.State})
	}
	return reply
}

// rangeReadMaxBytes bounds one reply to a range read: four Query pages
// (1 MB each), well below the remote layer's message limit.
const rangeReadMaxBytes = 4 << 20

func (v *vnode) checkRangeRead(m *internalpb.AcceptorRangeRead) error {
	if int(m.Partition) != v.partition {
		return fmt.Errorf("range read for partition %d sent to the vnode of partition %d", m.Partition, v.partition)
	}
	if m.OfTable {
		// A part of a table's items: every partition holds some, so
		// the bounds name no partition; the store reads only this one's.
		if err := v.catalog.Load().CheckItemRange(m.Lower, m.Upper, catalog.Strong); err != nil {
			return fmt.Errorf("range read: %w", err)
		}
	} else {
		if !catalog.IsItemKey(m.Lower) || bytes.Compare(m.Lower, m.Upper) >= 0 || len(m.Upper) > catalog.MaxItemKeySize+1 {
			return fmt.Errorf("range read: bounds %.64q to %.64q are not a range of items", m.Lower, m.Upper)
		}
		if err := v.catalog.Load().CheckStrongKey(m.Lower); err != nil {
			return fmt.Errorf("range read: %w", err)
		}
	}
	view := v.view.Load()
	if view.Transition == nil || view.Ring == nil {
		return fmt.Errorf("node %s has no ring yet", v.self.Node)
	}
	if p := view.Ring.PartitionForKey(m.Lower); !m.OfTable && p != v.partition {
		return fmt.Errorf("range read: items of %.64q are in partition %d, not %d", m.Lower, p, v.partition)
	}
	return v.checkVoting(view, paxos.MsgRead, m.Transition)
}

func (v *vnode) decodePaxos(m *internalpb.PaxosRequest) (paxosStep, error) {
	kind, ok := kindToPaxos[m.Kind]
	if !ok {
		return paxosStep{}, fmt.Errorf("unknown paxos step %d", m.Kind)
	}
	step := paxosStep{kind: kind}
	if int(m.Partition) != v.partition {
		return step, fmt.Errorf("paxos %s for partition %d sent to the vnode of partition %d", kind, m.Partition, v.partition)
	}
	if err := v.store.CheckKey(m.Key); err != nil {
		return step, fmt.Errorf("paxos %s: %w", kind, err)
	}
	if err := v.catalog.Load().CheckStrongKey(m.Key); err != nil {
		return step, fmt.Errorf("paxos %s: %w", kind, err)
	}
	view := v.view.Load()
	if view.Transition == nil || view.Ring == nil {
		return step, fmt.Errorf("node %s has no ring yet", v.self.Node)
	}
	if p := view.Ring.PartitionForKey(m.Key); p != v.partition {
		return step, fmt.Errorf("paxos %s: key %.64q is in partition %d, not %d", kind, m.Key, p, v.partition)
	}
	if err := v.checkVoting(view, kind, m.Transition); err != nil {
		return step, err
	}
	// What paxos defines of the step is its rule (paxos.CheckStep); each
	// field is decoded here, its error kept for the rule to report in
	// turn.
	r := paxos.Received{Message: paxos.Message{Kind: kind}, SenderNode: m.Sender.GetNode(), SenderIncarnation: m.Sender.GetIncarnation(), HasNext: m.Next != nil}
	r.Ballot, r.BallotErr = paxospb.RequiredBallot(m.Ballot)
	if m.Next != nil {
		r.Next, r.NextErr = paxospb.RequiredBallot(m.Next)
	}
	if m.Value == nil {
		r.ValueErr = paxospb.ErrMissingValue
	} else {
		r.Value, r.ValueErr = paxospb.ValueFromProto(m.Value)
	}
	checked, err := paxos.CheckStep(r, v.store.CheckValue)
	return paxosStep{kind: kind, ballot: checked.Ballot, value: checked.Value, next: checked.Next}, err
}

// transitionMismatch refuses a step from a proposer whose view of the ring
// transition is not this acceptor's. Two views a phase apart (before a
// change and during it, during it and after it) have voter groups whose
// quorums intersect, but views further apart need not: a proposer before
// a join and one after it could each gather a majority of their own
// replicas, disjoint, and choose two values. An acceptor therefore takes
// steps only from proposers of its own view, so each round's votes come
// from acceptors that agree on who votes. Every kind is refused, a commit
// too: one rule, and a commit that is not taken only leaves an acceptor
// behind, which the next round completes.
type transitionMismatch struct {
	kind         paxos.MsgKind
	node         string
	theirs, ours uint64
	key          string // this acceptor's view
}

func (e *transitionMismatch) Error() string {
	if e.theirs == 0 {
		return fmt.Sprintf("paxos %s names no ring transition; node %s is in transition %016x (%s)", e.kind, e.node, e.ours, e.key)
	}
	return fmt.Sprintf("paxos %s from a proposer in ring transition %016x, but node %s is in transition %016x (%s): their voters may differ",
		e.kind, e.theirs, e.node, e.ours, e.key)
}

// acceptorState is the register's state: staged in this batch (so steps of
// one batch see each other), else durable (cached, or read from the
// store).
func (v *vnode) acceptorState(key []byte) (st paxos.State, staged bool, err error) {
	if st, ok := v.acceptors[string(key)]; ok {
		return st, true, nil
	}
	if st, ok := v.durable[string(key)]; ok {
		return st, false, nil
	}
	if v.floorErr != nil {
		return paxos.State{}, false, fmt.Errorf("acceptor floor: %w", v.floorErr)
	}
	st, err = v.store.AcceptorState(v.partition, key)
	if err == nil && st.Equal(paxos.State{}) {
		st = paxos.EmptyAt(v.floor) // nothing held: no ballot below the floor
	}
	return st, false, err
}

// acceptorCacheSize bounds the durable acceptor states a vnode keeps in
// memory (about 200 bytes each with a small value): enough for the steps
// of the registers in flight, dropped whole when full.
const acceptorCacheSize = 1024

// cacheAcceptors remembers the staged states once their batch committed
// (err nil); a failed batch drops every cached state, as the store's may
// not be what was staged.
func (v *vnode) cacheAcceptors(err error) {
	if err != nil || len(v.durable)+len(v.acceptors) > acceptorCacheSize {
		v.durable = nil
	}
	if err != nil || len(v.acceptors) == 0 {
		return
	}
	if v.durable == nil {
		v.durable = make(map[string]paxos.State, len(v.acceptors))
	}
	for k, st := range v.acceptors {
		v.durable[k] = st
	}
}

// stageAcceptor puts the register's new state in the next group commit.
func (v *vnode) stageAcceptor(key []byte, st paxos.State) {
	if v.acceptors == nil {
		v.acceptors = map[string]paxos.State{}
	}
	v.acceptors[string(key)] = st
}

// acceptorWrites are the staged acceptor states, for the batch.
func (v *vnode) acceptorWrites() []persistence.AcceptorWrite {
	out := make([]persistence.AcceptorWrite, 0, len(v.acceptors))
	for k, st := range v.acceptors {
		out = append(out, persistence.AcceptorWrite{Partition: v.partition, Key: []byte(k), State: st})
	}
	return out
}

// acceptorStep handles one PaxosRequest. Every request with a sender gets one
// answer; one that changes the state (or reports a state not yet durable)
// is answered after the group commit, with an error if it failed.
func (v *vnode) acceptorStep(ctx actor.Context, m *internalpb.PaxosRequest) {
	reply := &internalpb.PaxosReply{RequestId: m.RequestId, Node: v.self.Node, Kind: m.Kind, Ballot: m.Ballot}
	fail := func(err error) {
		*reply = internalpb.PaxosReply{RequestId: m.RequestId, Node: v.self.Node, Kind: m.Kind, Ballot: m.Ballot, Error: err.Error()}
		if mm, ok := errors.AsType[*transitionMismatch](err); ok {
			reply.Transition = mm.ours // the proposer may wait for its view to move
		}
	}
	step, err := v.checkPaxos(m)
	var st paxos.State
	var staged bool
	if err == nil {
		err = v.enterTransition(ctx)
	}
	if err == nil {
		st, staged, err = v.acceptorState(m.Key)
	}
	if err != nil {
		fail(err)
		v.reply(ctx, reply)
		return
	}
	next := st
	switch step.kind {
	case paxos.MsgRead:
		r := st.Read()
		reply.Ok, reply.Accepted, reply.Value, reply.Committed = true, paxospb.BallotToProto(r.Accepted), paxospb.ValueToProto(r.Value), paxospb.BallotToProto(r.Committed)
	case paxos.MsgPrepare:
		var pr paxos.Promise
		next, pr = st.Prepare(step.ballot)
		reply.Ok, reply.Promised = pr.OK, paxospb.BallotToProto(pr.Promised)
		reply.Accepted, reply.Value, reply.Committed = paxospb.BallotToProto(pr.Accepted), paxospb.ValueToProto(pr.Value), paxospb.BallotToProto(pr.Committed)
	case paxos.MsgAccept:
		var acc paxos.Acceptance
		next, acc = st.AcceptNext(step.ballot, step.value, step.next)
		reply.Ok, reply.Promised = acc.OK, paxospb.BallotToProto(acc.Promised)
	case paxos.MsgCommit:
		next = st.Learn(step.ballot, step.value)
		reply.Ok = true
	default:
		panic(errors.New("unreachable: checkPaxos knows every kind"))
	}
	changed := !st.Equal(next)
	if changed {
		v.stageAcceptor(m.Key, next)
	}
	if changed || staged {
		// The reply reports (or promises) a state that is durable only
		// once the batch is.
		v.hold(ctx, reply, fail)
		return
	}
	v.reply(ctx, reply)
}

// applyAcceptors carries acceptor states read from peers to this node's
// vnode: a transfer's (the chosen values, as commits) or a rebuild's (the
// chosen values, and the peers' promises: Raise). It is a Go type, not a
// registered message, so no peer can send one; the states were checked by
// the transfer that read them (checkCarried). It is answered with a
// HandoffApplyReply once what it changed is durable.
type applyAcceptors struct {
	entries []carried
	// floor is the source's floor, which this vnode's is raised to first.
	floor paxos.Ballot
	// kind is what carried the states, which decides how they are taken
	// (paxos.State.Take): an exchange's commits, decided on states read a
	// while ago, are learned (a register held nothing of under the floor
	// may have been dropped since); a transfer's and a rebuild's are taken
	// whole, since they fill a voter that holds nothing yet, and a
	// rebuild's promises are raised to.
	kind paxos.PageKind
}

// maxFloorAhead bounds how far ahead of this node's clock a peer's floor
// may be: its round is a proposer's clock reading, so one far ahead is a
// bug or a lie, and taking it would leave the partition's proposers
// chasing it.
const maxFloorAhead = time.Hour

// carried is one register's state from a peer, as paxos.CarryOf decided.
type carried struct {
	key   []byte
	carry paxos.Carry
}

func (v *vnode) applyAcceptors(ctx actor.Context, m applyAcceptors) {
	reply := &internalpb.HandoffApplyReply{}
	fail := func(err error) { reply.Error = err.Error() }
	if err := v.enterTransition(ctx); err != nil {
		fail(err)
		v.reply(ctx, reply)
		return
	}
	if floor := paxos.TakeFloor(v.floor, m.floor); floor != v.floor {
		if err := v.store.DropAcceptors(v.partition, nil, floor); err != nil {
			fail(fmt.Errorf("raise the acceptor floor: %w", err))
			v.reply(ctx, reply)
			return
		}
		v.floor = floor
	}
	hold := false
	tables := v.catalog.Load()
	for _, e := range m.entries {
		if tables.CheckStrongKey(e.key) != nil {
			continue // a deleted table's (being removed): nothing to keep
		}
		st, staged, err := v.acceptorState(e.key)
		if err != nil {
			fail(fmt.Errorf("register %q: %w", e.key, err))
			break
		}
		if next := st.Take(e.carry, m.kind); !next.Equal(st) {
			v.stageAcceptor(e.key, next)
			staged = true
		}
		hold = hold || staged // what it reports carried is durable only with the batch
	}
	if hold {
		v.hold(ctx, reply, fail)
		return
	}
	v.reply(ctx, reply)
}

// acceptorSync checks the settled states an anti-entropy exchange carries
// to this voter and applies them as commits (applyAcceptors), answering
// once they are durable. A state out of the partition, out of order, over
// the key limit, unsettled or malformed refuses the whole message: the
// sender is a peer, and what it says is checked before it is kept.
func (v *vnode) acceptorSync(ctx actor.Context, m *internalpb.AcceptorSync) {
	apply, err := v.checkAcceptorSync(m)
	if err != nil {
		v.counters.refused.add(err)
		v.reply(ctx, &internalpb.HandoffApplyReply{Error: err.Error()})
		return
	}
	v.applyAcceptors(ctx, apply)
}

func (v *vnode) checkAcceptorSync(m *internalpb.AcceptorSync) (applyAcceptors, error) {
	apply := applyAcceptors{floor: v.floor, kind: paxos.ExchangePage}
	if err := v.admit(m.Sender); err != nil {
		return apply, err
	}
	if int(m.Partition) != v.partition {
		return apply, fmt.Errorf("acceptor sync for partition %d sent to the vnode of partition %d", m.Partition, v.partition)
	}
	view := v.view.Load()
	if view == nil || view.Transition == nil || view.Ring == nil {
		return apply, fmt.Errorf("node %s has no ring yet", v.self.Node)
	}
	if !view.Transition.IsVoter(v.partition, v.self.Node) {
		return apply, fmt.Errorf("acceptor sync from %s: node %s is not a voter of partition %d", m.Sender.GetNode(), v.self.Node, v.partition)
	}
	page, err := paxos.CheckPage(paxos.ExchangePage, paxos.Page{Registers: pageRegisters(m.States)}, paxos.PageRules{
		Partition: v.partition, PartitionOf: view.Ring.PartitionForKey, CheckKey: v.store.CheckKey,
	})
	if err != nil {
		return apply, fmt.Errorf("acceptor sync from %s: %w", m.Sender.GetNode(), err)
	}
	apply.entries = carriedOf(page.Carried)
	return apply, nil
}
