package actors

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/actors/gossip"
	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/merkle"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/object/objecttest"
	"github.com/harmoniakv/harmonia/cluster/packedpage"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxospb"
	"github.com/harmoniakv/harmonia/cluster/reap"
	"github.com/harmoniakv/harmonia/cluster/request"
	"github.com/harmoniakv/harmonia/cluster/ring"
	xfer "github.com/harmoniakv/harmonia/cluster/transfer"
	"github.com/harmoniakv/harmonia/cluster/vclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"github.com/harmoniakv/harmonia/persistence"
	"google.golang.org/protobuf/proto"
)

// The fuzz harness drives the receiving actors' own handlers (Receive) on a
// context that records what they send, without an actor system: the bytes
// a peer sends decode into the message, and the handler that gets it runs
// as it does on a node.

const (
	fuzzSelf       = "n1"
	fuzzSelfAddr   = "10.0.0.1:7000"
	fuzzPeerAddr   = "10.0.0.2:7000"
	fuzzPartitions = 8
	fuzzN          = 3
	fuzzPartition  = 3 // the vnode the harness drives
	fuzzGeneration = int64(1_700_000_000_000_000_000)
)

var (
	// fuzzPeer asks: replies to it are what the peer would get back.
	fuzzPeer   = actor.NewPID(fuzzPeerAddr, "node/coordinator/req-1")
	fuzzParent = actor.NewPID(fuzzSelfAddr, "node/parent")
	fuzzParams = membership.Params{Partitions: fuzzPartitions, Replicas: fuzzN, SecretFingerprints: []string{"00112233445566ff"}}
	fuzzT0     = time.Unix(1, 0)
)

// fuzzSent is one message a handler sent, requested or responded.
type fuzzSent struct {
	to  *actor.PID // nil: a response without a sender
	msg any
}

// fuzzContext is the actor.Context a handler sees in the harness. It holds
// what the handlers of this package use; any other method is nil and
// panics, which the harness would report.
type fuzzContext struct {
	actor.Context
	self   *actor.PID
	msg    any
	sender *actor.PID
	toSelf []any
	out    []fuzzSent
}

func newFuzzContext(self *actor.PID) *fuzzContext { return &fuzzContext{self: self} }

func (c *fuzzContext) Message() any                      { return c.msg }
func (c *fuzzContext) Sender() *actor.PID                { return c.sender }
func (c *fuzzContext) Self() *actor.PID                  { return c.self }
func (c *fuzzContext) Parent() *actor.PID                { return fuzzParent }
func (c *fuzzContext) Send(to *actor.PID, msg any)       { c.record(to, msg) }
func (c *fuzzContext) Request(to *actor.PID, msg any)    { c.record(to, msg) }
func (c *fuzzContext) Respond(msg any)                   { c.record(c.sender, msg) }
func (c *fuzzContext) Stop(pid *actor.PID)               { c.out = append(c.out, fuzzSent{pid, &actor.Stopping{}}) }
func (c *fuzzContext) sentTo(pid *actor.PID) (out []any) { return sentTo(c.out, pid) }

func (c *fuzzContext) record(to *actor.PID, msg any) {
	if to != nil && to.Equal(c.self) {
		c.toSelf = append(c.toSelf, msg)
		return
	}
	c.out = append(c.out, fuzzSent{to, msg})
}

func sentTo(out []fuzzSent, pid *actor.PID) []any {
	var msgs []any
	for _, s := range out {
		if s.to != nil && s.to.Equal(pid) {
			msgs = append(msgs, s.msg)
		}
	}
	return msgs
}

// deliver hands msg from sender to a, then the messages a sends itself,
// in order, as its mailbox would.
func (c *fuzzContext) deliver(t *testing.T, a actor.Actor, msg any, sender *actor.PID) {
	t.Helper()
	c.msg, c.sender = msg, sender
	a.Receive(c)
	for i := 0; len(c.toSelf) > 0; i++ {
		if i > 10_000 {
			t.Fatalf("%T keeps sending itself messages", a)
		}
		next := c.toSelf[0]
		c.toSelf = c.toSelf[1:]
		c.msg, c.sender = next, nil
		a.Receive(c)
	}
}

// messageHarness is what every input shares: a store opened once, whose
// vnode partition each input starts from seeded and leaves so, and the
// view of a cluster of n1, n2, n3 (up) and n4 (removed).
type messageHarness struct {
	store *persistence.Store
	view  *viewHolder
	self  vclock.Actor
	seed  map[string][]object.Sibling
}

func newMessageHarness(f *testing.F) *messageHarness {
	opts := persistence.DefaultOptions()
	opts.Sync = false
	store, err := persistence.Open(f.TempDir(), fuzzSelf, opts)
	if err != nil {
		f.Fatal(err)
	}
	if err := store.SetAcceptorOrigin(membership.AcceptorsKept); err != nil { // no gossiper decides it here
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	statuses := fuzzStatuses
	tr, err := ring.NewTransition(statuses, fuzzPartitions, fuzzN)
	if err != nil {
		f.Fatal(err)
	}
	id := store.Identity()
	v := &View{membership.View{Self: fuzzSelf, Ring: tr.Current, Transition: tr, RingStatuses: statuses, N: fuzzN, Members: map[string]membership.Member{
		"n1": {ID: "n1", Status: membership.Up, Incarnation: id.Incarnation, ClusterAddr: fuzzSelfAddr},
		"n2": {ID: "n2", Status: membership.Up, Incarnation: 7, ClusterAddr: fuzzPeerAddr},
		"n3": {ID: "n3", Status: membership.Up, Incarnation: 7, ClusterAddr: "10.0.0.3:7000"},
		"n4": {ID: "n4", Status: membership.Left, Incarnation: 7, ClusterAddr: "10.0.0.4:7000"},
	}}}
	h := &messageHarness{store: store, view: &viewHolder{}, self: vclock.Actor{Node: id.NodeID, Incarnation: id.Incarnation}}
	h.view.Store(v)
	va := objecttest.Version("va", "n2", 1, fuzzT0)
	gone := objecttest.Version("old", "n3", 1, fuzzT0)
	h.seed = map[string][]object.Sibling{
		"a": {va},
		"b": {objecttest.Tombstone("n1", 2, fuzzT0, gone)}, // long past grace
		"c": object.Merge([]object.Sibling{objecttest.Version("x", "n2", 2, fuzzT0, va)}, []object.Sibling{objecttest.Version("y", "n3", 2, fuzzT0, va)}),
	}
	return h
}

// stored reads the vnode partition as the store holds it.
func (h *messageHarness) stored(t *testing.T) map[string][]object.Sibling {
	t.Helper()
	out := map[string][]object.Sibling{}
	var after []byte
	for {
		entries, more, err := h.store.Scan(fuzzPartition, after, 1000, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			set, err := object.Decode(e.Value)
			if err != nil {
				t.Fatalf("stored object %q does not decode: %v", e.Key, err)
			}
			out[string(e.Key)] = set
			after = e.Key
		}
		if !more {
			return out
		}
	}
}

// sameStore fails unless got holds exactly the versions of want, by key.
func sameStore(t *testing.T, what string, want, got map[string][]object.Sibling) {
	t.Helper()
	for k, set := range want {
		if len(set) == 0 {
			delete(want, k)
		}
	}
	if !slices.Equal(slices.Sorted(maps.Keys(want)), slices.Sorted(maps.Keys(got))) {
		t.Fatalf("%s: store holds keys %q, want %q", what, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for k, set := range want {
		if !object.SameVersions(set, got[k]) {
			t.Fatalf("%s: key %q holds %v, want %v", what, k, got[k], set)
		}
	}
}

// vnodeRun is what one message did to the vnode.
type vnodeRun struct {
	v                       *vnode
	reply                   any // the one answer the asking peer got
	before, after           map[string][]object.Sibling
	hintsBefore, hintsAfter map[string]persistence.HintStats
}

// runVnode delivers m from the peer to a vnode started on the seeded
// partition and commits what it staged. Whatever m holds, the peer gets
// exactly one answer, and the vnode's Merkle tree matches what the store
// holds afterwards.
func (h *messageHarness) runVnode(t *testing.T, m any) vnodeRun {
	t.Helper()
	writes := make([]persistence.Write, 0, len(h.seed))
	for k, set := range h.seed {
		writes = append(writes, persistence.Write{Partition: fuzzPartition, Key: []byte(k), Siblings: set})
	}
	if err := h.store.PutBatch(writes); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.clear(t) })
	r := vnodeRun{before: h.stored(t), hintsBefore: h.store.HintStats()}
	r.v = &vnode{partition: fuzzPartition, store: h.store, view: h.view, catalog: &catalogHolder{}, self: h.self, maxEntries: vclock.DefaultMaxEntries, counters: &vnodeCounters{}}
	ctx := newFuzzContext(actor.NewPID(fuzzSelfAddr, vnodeName(fuzzPartition)))
	ctx.deliver(t, r.v, &actor.Started{}, nil)
	ctx.out = nil
	ctx.deliver(t, r.v, m, fuzzPeer)
	if len(ctx.out) != 1 || !ctx.out[0].to.Equal(fuzzPeer) {
		t.Fatalf("vnode sent %v for one %T; want one answer to the asking peer", ctx.out, m)
	}
	r.reply = ctx.out[0].msg
	r.after, r.hintsAfter = h.stored(t), h.store.HintStats()
	if r.v.part.Rebuilding() {
		t.Fatal("the vnode's tree is still being rebuilt after the harness ran the rebuild")
	}
	if r.v.part.Root() != expectedRoot(t, h.store, fuzzPartition) {
		t.Fatalf("after %T the vnode's tree differs from what the store holds", m)
	}
	return r
}

// clear leaves the store as the next input expects it: an empty partition
// and no hints.
func (h *messageHarness) clear(t *testing.T) {
	if err := h.store.DropPartition(fuzzPartition); err != nil {
		t.Fatal(err)
	}
	for target, st := range h.store.HintStats() {
		if st.Count == 0 {
			continue
		}
		recs, err := h.store.Hints(target, math.MaxInt)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if err := h.store.DeleteHint(target, r.Seq); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// expectedTree builds the vnode partition's tree from what the store holds.
func (h *messageHarness) expectedTree(t *testing.T) *merkle.Tree {
	t.Helper()
	tr, err := merkle.New(merkle.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for k, set := range h.stored(t) {
		tr.Insert([]byte(k), object.VersionDigest(set))
	}
	return tr
}

// answerAs asserts the type of the answer a handler gave.
func answerAs[T proto.Message](t *testing.T, got any) T {
	t.Helper()
	r, ok := got.(T)
	if !ok {
		var want T
		t.Fatalf("answered %T, want %T", got, want)
	}
	return r
}

func checkNode(t *testing.T, node string) {
	t.Helper()
	if node != fuzzSelf {
		t.Fatalf("answer names node %q, want %q", node, fuzzSelf)
	}
}

// keysAfter lists the keys of set after after, in order.
func keysAfter(set map[string][]object.Sibling, after []byte) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(set)) {
		if k > string(after) {
			out = append(out, k)
		}
	}
	return out
}

// fuzzKind is one internalpb type a node decodes from outside: a realistic
// instance (its encoding seeds the corpus) and the check of its handling.
// The corpus names kinds by index: add new ones at the end.
type fuzzKind struct {
	msg   proto.Message
	check func(t *testing.T, h *messageHarness, m proto.Message)
}

func fuzzKinds() []fuzzKind {
	va := objecttest.Version("va", "n2", 1, fuzzT0)
	newer := objecttest.Version("new", "n2", 5, time.Unix(2, 0), va)
	obj := object.ToProto([]object.Sibling{newer})
	peer := &internalpb.Sender{Node: "n2", Incarnation: 7}
	state := func(id, addr string, gen int64, hb uint64, status string) *internalpb.NodeState {
		return &internalpb.NodeState{Id: id, Generation: gen, Heartbeat: hb, App: []*internalpb.AppEntry{
			{Key: membership.KeyClusterAddr, Value: addr, Version: 1}, {Key: membership.KeyStatus, Value: status, Version: 2},
			{Key: membership.KeyIncarnation, Value: "7", Version: 3}, {Key: membership.KeyStarted, Value: "5", Version: 4}}}
	}
	params := &internalpb.ClusterParams{Partitions: fuzzPartitions, Replicas: fuzzN, SecretFingerprints: fuzzParams.SecretFingerprints}
	zero := make([]byte, 32)
	return []fuzzKind{
		{&internalpb.ReplicaPut{Partition: fuzzPartition, Key: []byte("a"), Object: obj, Sender: peer, RequestId: 4, HintFor: "n3"}, checkReplicaPut},
		{&internalpb.ReplicaPut{Partition: fuzzPartition, Key: []byte("a"), Object: obj, Sender: peer, RequestId: 4, HintFor: "n2/3", HintOnly: true}, checkReplicaPut},
		{&internalpb.CoordinatePut{Partition: fuzzPartition, Key: []byte("c"), Value: []byte("v"), Context: object.ClockToProto(va.History()), WrittenAt: 9}, checkCoordinatePut},
		{&internalpb.ReplicaGet{Partition: fuzzPartition, Key: []byte("c"), Encoded: true}, checkReplicaGet},
		{&internalpb.HandoffFetch{Partition: fuzzPartition, AfterKey: []byte("a"), MaxKeys: 1, MaxBytes: 1 << 20}, checkHandoffFetch},
		{&internalpb.HandoffFetch{Partition: fuzzPartition, MaxKeys: 2, MaxBytes: 1 << 20, AcceptorStates: true, Transition: fuzzTransition()}, checkHandoffFetch},
		{&internalpb.HandoffFetch{Partition: fuzzPartition, MaxKeys: 2, MaxBytes: 1 << 20, AcceptorStates: true}, checkHandoffFetch},
		{&internalpb.HandoffApply{Partition: fuzzPartition, Entries: []*internalpb.HandoffEntry{{Key: []byte("a"), Object: obj}, {Key: []byte("d"), Object: obj}}}, checkHandoffApply},
		{&internalpb.TreeLevel{Partition: fuzzPartition, Level: 1, Nodes: []uint32{0, 3, 15}}, checkTreeLevel},
		{&internalpb.BucketKeys{Partition: fuzzPartition, Buckets: []uint32{0, 7, 4095}, MaxKeys: 2}, checkBucketKeys},
		{&internalpb.Reap{Partition: fuzzPartition, Commit: true, Sender: peer, Entries: []*internalpb.ReapEntry{{Key: []byte("b")}, {Key: []byte("z")}}}, checkReap},
		{&internalpb.GossipSyn{From: "n2", Params: params, Digests: []*internalpb.GossipDigest{{Id: "n2", Generation: 2, MaxVersion: 9}, {Id: "n1", Generation: 1}}}, checkGossip},
		{&internalpb.GossipAck{From: "n2", Params: params, States: []*internalpb.NodeState{state("n2", fuzzPeerAddr, 2, 5, ring.StatusNormal), state("n5", "10.0.0.5:7000", 1, 1, ring.StatusJoining)},
			Requests: []*internalpb.GossipDigest{{Id: "n1", Generation: fuzzGeneration}}, SenderWas: ring.StatusNormal}, checkGossip},
		{&internalpb.GossipAck2{From: "n2", Params: params, States: []*internalpb.NodeState{state("n1", "10.0.0.9:7000", fuzzGeneration+1, 1, ring.StatusNormal)}}, checkGossip},
		{&internalpb.GossipRefused{From: "n2", Node: "n1", Reason: "in use", Identity: true, Holder: state("n1", "10.0.0.9:7000", fuzzGeneration, 1, ring.StatusNormal)}, checkGossip},
		{&internalpb.MembershipSnapshot{States: []*internalpb.NodeState{state("n2", fuzzPeerAddr, 2, 5, ring.StatusNormal), state("n1", fuzzSelfAddr, 1, 1, ring.StatusLeaving)}}, checkGossip},
		{&internalpb.TreeLevelReply{Node: "n2", Ready: true, Hashes: [][]byte{zero, zero}}, checkTreeLevelReply},
		{&internalpb.BucketKeysReply{Node: "n2", Entries: []*internalpb.HandoffEntry{{Key: []byte("a"), Object: obj}, {Key: []byte("q"), Object: obj}}, LastKey: []byte("q")}, checkBucketKeysReply},
		{&internalpb.ReapReply{Node: "n2", Holds: []bool{true, false}}, checkReapReply},
		{&internalpb.CoordinatePutReply{Node: "n1", Object: obj, Dot: object.DotToProto(newer.Dot)}, checkPutReply},
		{&internalpb.ReplicaPutReply{Node: "n2", RequestId: uint64(request.ToPrimary)}, checkPutReply},
		{&internalpb.ReplicaGetReply{Node: "n2", Object: obj}, checkReplicaGetReply},
		{&internalpb.HandoffBatch{Node: "n2", Partition: fuzzPartition, Entries: []*internalpb.HandoffEntry{{Key: []byte("a"), Object: obj}}, Done: true}, checkHandoffBatch},
		{&internalpb.HandoffBatch{Node: "n2", Partition: fuzzPartition, OfAcceptorStates: true, Done: true,
			AcceptorStates: []*internalpb.AcceptorEntry{{Key: fuzzStrongKey, State: paxospb.StateToProto(paxos.State{Promised: fuzzBallot(2), Accepted: fuzzBallot(2), Value: fuzzValue, Committed: fuzzBallot(2)})}}}, checkHandoffBatch},
		{&internalpb.HandoffApplyReply{Error: "disk full"}, checkHandoffApplyReply},
		{&internalpb.HandoffCursor{Transition: "t", Keys: 3, Batches: 1, From: "n2", Passes: []*internalpb.TransferPass{{Source: "n2", AfterKey: []byte("c"), Keys: 3, Batches: 1}}}, checkHandoffCursor},
		{&internalpb.Hint{Partition: fuzzPartition, Key: []byte("a"), Object: obj, CreatedAt: 1}, checkHint},
		{paxosRequest(internalpb.PaxosKind_PAXOS_PREPARE, fuzzBallot(2), nil), checkPaxosRequest},
		{paxosRequest(internalpb.PaxosKind_PAXOS_ACCEPT, fuzzBallot(2), &fuzzValue), checkPaxosRequest},
		{paxosRequest(internalpb.PaxosKind_PAXOS_COMMIT, fuzzBallot(2), &fuzzValue), checkPaxosRequest},
		{paxosRequest(internalpb.PaxosKind_PAXOS_READ, paxos.Ballot{}, nil), checkPaxosRequest},
		{&internalpb.PaxosReply{RequestId: fuzzRequestID, Node: "n2", Kind: internalpb.PaxosKind_PAXOS_PREPARE, Ballot: paxospb.BallotToProto(fuzzProposerBallot),
			Ok: true, Promised: paxospb.BallotToProto(fuzzProposerBallot), Accepted: paxospb.BallotToProto(fuzzBallot(1)), Value: paxospb.ValueToProto(fuzzValue)}, checkPaxosReply},
		{paxospb.StateToProto(paxos.State{Promised: fuzzBallot(3), Accepted: fuzzBallot(2), Value: fuzzValue, Committed: fuzzBallot(1)}), checkPaxosState},
		{&internalpb.AcceptorSync{Partition: fuzzPartition, Sender: peer, States: []*internalpb.AcceptorEntry{{Key: fuzzStrongKey,
			State: paxospb.StateToProto(paxos.State{Promised: fuzzBallot(2), Accepted: fuzzBallot(2), Value: fuzzValue, Committed: fuzzBallot(2)})}}}, checkAcceptorSync},
		{&internalpb.AcceptorRangeRead{Partition: fuzzPartition, Lower: fuzzItemKey, Upper: append(slices.Clone(fuzzItemKey), 0xFF), MaxKeys: 2, MaxBytes: 1 << 10,
			Transition: fuzzTransition(), Sender: peer}, checkRangeRead},
		{&internalpb.AcceptorRangeRead{Partition: fuzzPartition, Lower: catalog.TableItems(fuzzItemTable).Lower, Upper: catalog.TableItems(fuzzItemTable).Upper,
			OfTable: true, MaxKeys: 2, MaxBytes: 1 << 10, Transition: fuzzTransition(), Sender: peer}, checkRangeRead},
		{func() proto.Message {
			m := paxosRequest(internalpb.PaxosKind_PAXOS_ACCEPT, fuzzBallot(2), &fuzzValue)
			m.Next = paxospb.BallotToProto(paxos.Successor(fuzzBallot(2)))
			return m
		}(), checkPaxosRequest},
		{&internalpb.ObjectRangeRead{Partition: fuzzPartition, Lower: fuzzEventualItemKey, Upper: append(slices.Clone(fuzzEventualItemKey), 0xFF), MaxKeys: 2, MaxBytes: 1 << 10,
			Sender: peer}, checkObjectRangeRead},
		{&internalpb.ObjectRangeRead{Partition: fuzzPartition, Lower: catalog.TableItems(fuzzEventualItemTable).Lower, Upper: catalog.TableItems(fuzzEventualItemTable).Upper,
			OfTable: true, Reverse: true, MaxKeys: 2, MaxBytes: 1 << 10, Sender: peer}, checkObjectRangeRead},
		// Added after the corpus in testdata was made: new kinds go last,
		// so that its inputs keep the kinds they were found with.
		{&internalpb.TreeLevelReply{Node: "n2", Ready: true, Hashes: [][]byte{zero}}, checkTreeLevelReply},
		{&internalpb.TreeLevelReply{Node: "n2", Ready: true, Hashes: slices.Repeat([][]byte{zero}, merkle.DefaultConfig().Fanout)}, checkTreeLevelReply},
		{&internalpb.ObjectRangeRead{Partition: fuzzPartition, Lower: fuzzEventualItemKey, Upper: append(slices.Clone(fuzzEventualItemKey), 0xFF), MaxKeys: 2, MaxBytes: 1 << 10,
			Sender: peer, Versions: true}, checkObjectRangeRead},
	}
}

// checkAcceptorSync: whatever a peer's exchange carries, the vnode answers
// once and never touches the partition's objects; a refused sync changes
// no acceptor state; a taken one leaves each register of a strong table
// exactly as learning the carried settled state leaves it (and any
// other as it was), from an admitted sender only.
func checkAcceptorSync(t *testing.T, h *messageHarness, pm proto.Message) {
	m := pm.(*internalpb.AcceptorSync)
	before := map[string]paxos.State{}
	for _, e := range m.States {
		if st, err := h.store.AcceptorState(fuzzPartition, e.Key); err == nil {
			before[string(e.Key)] = st
		}
	}
	r := h.runVnode(t, m)
	rep := answerAs[*internalpb.HandoffApplyReply](t, r.reply)
	sameStore(t, "acceptor sync", r.before, r.after)
	if rep.Error == "" && (int(m.Partition) != fuzzPartition || h.view.Load().Admits(m.Sender) != nil) {
		t.Fatalf("took a sync for partition %d from %v", m.Partition, m.Sender)
	}
	for _, e := range m.States {
		was, ok := before[string(e.Key)]
		if !ok {
			continue
		}
		after, _ := h.store.AcceptorState(fuzzPartition, e.Key)
		want := was
		// A register of a table the catalog does not hold as strong (a
		// deleted one's, being removed) is passed over: nothing to keep.
		if rep.Error == "" && r.v.catalog.Load().CheckStrongKey(e.Key) == nil {
			st, err := paxospb.StateFromProto(e.State)
			if err != nil || !st.Settled() || st.Committed.IsZero() {
				t.Fatalf("took register %q's state %+v (%v), not a settled one", e.Key, st, err)
			}
			want = was.Learn(st.Committed, st.Value) // a voter holding nothing below its promise learns nothing
		}
		if !want.Equal(after) {
			t.Fatalf("sync (error %q): register %q holds %+v, want %+v", rep.Error, e.Key, after, want)
		}
	}
}

// checkRangeRead: a range read answers once, changes nothing, and reads
// only for an admitted voter in this node's transition, within its bounds,
// which are of one partition key's items placed here or (of_table) a part
// of one strong table's items.
func checkRangeRead(t *testing.T, h *messageHarness, pm proto.Message) {
	m := pm.(*internalpb.AcceptorRangeRead)
	r := h.runVnode(t, m)
	rep := answerAs[*internalpb.HandoffBatch](t, r.reply)
	checkNode(t, rep.Node)
	sameStore(t, "range read", r.before, r.after)
	if rep.Error != "" {
		if len(rep.AcceptorStates) > 0 {
			t.Fatalf("a refused range read carries states: %v", rep)
		}
		return
	}
	if int(m.Partition) != fuzzPartition || h.view.Load().Admits(m.Sender) != nil || m.Transition != h.view.Load().Transition.Fingerprint {
		t.Fatalf("read a range of partition %d for %v in transition %016x", m.Partition, m.Sender, m.Transition)
	}
	if m.OfTable {
		if err := (catalog.Catalog{}).CheckItemRange(m.Lower, m.Upper, catalog.Strong); err != nil {
			t.Fatalf("read a range that is not of one strong table's items: %v", err)
		}
	} else if p := h.view.Load().Ring.PartitionForKey(m.Lower); p != fuzzPartition {
		t.Fatalf("read items of partition %d in partition %d", p, fuzzPartition)
	}
	if len(rep.AcceptorStates) > int(max(m.MaxKeys, 1)) {
		t.Fatalf("%d states for a read of at most %d", len(rep.AcceptorStates), m.MaxKeys)
	}
	for _, e := range rep.AcceptorStates {
		if bytes.Compare(e.Key, m.Lower) < 0 || bytes.Compare(e.Key, m.Upper) >= 0 {
			t.Fatalf("register %q is outside [%q, %q)", e.Key, m.Lower, m.Upper)
		}
	}
}

// checkObjectRangeRead: a range read of an eventual table's items answers
// once, changes nothing, and reads only for an admitted member, within its
// bounds, which are of one partition key's items placed here or (of_table)
// a part of one eventual table's items.
func checkObjectRangeRead(t *testing.T, h *messageHarness, pm proto.Message) {
	m := pm.(*internalpb.ObjectRangeRead)
	r := h.runVnode(t, m)
	rep := answerAs[*internalpb.ObjectRangePage](t, r.reply)
	checkNode(t, rep.Node)
	sameStore(t, "range read", r.before, r.after)
	if rep.Error != "" {
		if len(rep.Entries) > 0 || rep.Count > 0 {
			t.Fatalf("a refused range read carries entries: %v", rep)
		}
		return
	}
	if int(m.Partition) != fuzzPartition || h.view.Load().Admits(m.Sender) != nil {
		t.Fatalf("read a range of partition %d for %v", m.Partition, m.Sender)
	}
	keys, _, err := packedpage.Entries(rep.Entries, int(rep.Count))
	if err != nil {
		t.Fatalf("the page does not unpack: %v", err)
	}
	if rep.Versions != m.Versions {
		t.Fatalf("a page of versions %v for a read of versions %v", rep.Versions, m.Versions)
	}
	if m.OfTable {
		if err := (catalog.Catalog{}).CheckItemRange(m.Lower, m.Upper, catalog.Eventual); err != nil {
			t.Fatalf("read a range that is not of one eventual table's items: %v", err)
		}
	} else if p := h.view.Load().Ring.PartitionForKey(m.Lower); p != fuzzPartition {
		t.Fatalf("read items of partition %d in partition %d", p, fuzzPartition)
	}
	if len(keys) > int(max(m.MaxKeys, 1)) {
		t.Fatalf("%d entries for a read of at most %d", len(keys), m.MaxKeys)
	}
	for _, k := range keys {
		if bytes.Compare(k, m.Lower) < 0 || bytes.Compare(k, m.Upper) >= 0 {
			t.Fatalf("key %q is outside [%q, %q)", k, m.Lower, m.Upper)
		}
	}
}

// Strong keys' inputs: requests to the vnode as an acceptor, replies to a
// proposer, and acceptor states read back from disk.
var (
	fuzzStrongKey = func() []byte {
		for i := 0; ; i++ {
			if k := skey(fmt.Sprint("s", i)); ring.PartitionOf(ring.KeyHash(k), fuzzPartitions) == fuzzPartition {
				return k
			}
		}
	}()
	// fuzzItemTable is a strong table of items.
	fuzzItemTable = catalog.Table{ID: catalog.FirstID, Consistency: catalog.Strong, Schema: item.KeySchema{Partition: item.KeyAttribute{Name: "pk", Type: item.TypeS}}}
	// fuzzItemKey is an item's register of fuzzItemTable in the fuzzed
	// partition.
	fuzzItemKey = func() []byte {
		for i := 0; ; i++ {
			k, err := catalog.ItemKey(fuzzItemTable, item.Key{Partition: item.S(fmt.Sprint("p", i))})
			if err != nil {
				panic(err)
			}
			if ring.PartitionOf(ring.KeyHash(catalog.PlacementKey(k)), fuzzPartitions) == fuzzPartition {
				return k
			}
		}
	}()
	// fuzzEventualItemTable is an eventual table of items, and
	// fuzzEventualItemKey one of its items' keys in the fuzzed partition.
	fuzzEventualItemTable = catalog.Table{ID: catalog.FirstID + 1, Consistency: catalog.Eventual, Conflict: catalog.LWW,
		Schema: item.KeySchema{Partition: item.KeyAttribute{Name: "pk", Type: item.TypeS}}}
	fuzzEventualItemKey = func() []byte {
		for i := 0; ; i++ {
			k, err := catalog.ItemKey(fuzzEventualItemTable, item.Key{Partition: item.S(fmt.Sprint("p", i))})
			if err != nil {
				panic(err)
			}
			if ring.PartitionOf(ring.KeyHash(catalog.PlacementKey(k)), fuzzPartitions) == fuzzPartition {
				return k
			}
		}
	}()
	fuzzValue          = paxos.Value{Exists: true, Data: []byte("v"), Version: fuzzBallot(1)}
	fuzzRequestID      = uint64(99)
	fuzzProposerBallot = paxos.Ballot{Round: 2, Node: fuzzSelf, Incarnation: 5, Seq: 4}
)

func fuzzBallot(round uint64) paxos.Ballot {
	return paxos.Ballot{Round: round, Node: "n2", Incarnation: 7, Seq: round}
}

// fuzzStatuses are the ring statuses of the message harness's view.
var fuzzStatuses = map[string]string{"n1": ring.StatusNormal, "n2": ring.StatusNormal, "n3": ring.StatusNormal, "n4": ring.StatusLeft}

// fuzzTransition is the fingerprint of the harness's ring transition.
func fuzzTransition() uint64 {
	tr, err := ring.NewTransition(fuzzStatuses, fuzzPartitions, fuzzN)
	if err != nil {
		panic(err)
	}
	return tr.Fingerprint
}

func paxosRequest(kind internalpb.PaxosKind, b paxos.Ballot, v *paxos.Value) *internalpb.PaxosRequest {
	m := &internalpb.PaxosRequest{Partition: fuzzPartition, Key: fuzzStrongKey, Kind: kind, Ballot: paxospb.BallotToProto(b), RequestId: 5,
		Sender: &internalpb.Sender{Node: "n2", Incarnation: 7}, Transition: fuzzTransition()}
	if v != nil {
		m.Value = paxospb.ValueToProto(*v)
	}
	return m
}

// checkPaxosRequest: whatever a peer sends the acceptor, it answers once,
// echoing the request; a refused request changes nothing; an accepted one
// leaves exactly paxos.State's step stored (durable: read back from the
// store), and never touches the partition's objects.
func checkPaxosRequest(t *testing.T, h *messageHarness, pm proto.Message) {
	m := pm.(*internalpb.PaxosRequest)
	before, err := h.store.AcceptorState(fuzzPartition, m.Key)
	if err != nil && len(m.Key) > 0 {
		t.Fatal(err)
	}
	r := h.runVnode(t, m)
	rep := answerAs[*internalpb.PaxosReply](t, r.reply)
	checkNode(t, rep.Node)
	if rep.RequestId != m.RequestId || rep.Kind != m.Kind {
		t.Fatalf("reply echoes request %d %v, want %d %v", rep.RequestId, rep.Kind, m.RequestId, m.Kind)
	}
	sameStore(t, "paxos request", r.before, r.after)
	after, _ := h.store.AcceptorState(fuzzPartition, m.Key)
	if rep.Error != "" {
		if rep.Ok || rep.Value != nil || rep.Promised != nil {
			t.Fatalf("a refusal carries a vote: %v", rep)
		}
		if !before.Equal(after) {
			t.Fatalf("refused request (%s) changed the state: %+v -> %+v", rep.Error, before, after)
		}
		return
	}
	if int(m.Partition) != fuzzPartition || len(m.Key) == 0 || h.view.Load().Admits(m.Sender) != nil || m.Transition != h.view.Load().Transition.Fingerprint {
		t.Fatalf("accepted a request for partition %d, key %q, from %v in transition %016x", m.Partition, m.Key, m.Sender, m.Transition)
	}
	b, _ := paxospb.BallotFromProto(m.Ballot)
	v, _ := paxospb.ValueFromProto(m.Value)
	want := before
	switch m.Kind {
	case internalpb.PaxosKind_PAXOS_READ:
	case internalpb.PaxosKind_PAXOS_PREPARE:
		var pr paxos.Promise
		want, pr = before.Prepare(b)
		if pr.OK != rep.Ok {
			t.Fatalf("prepare %s of %+v answered ok=%v", b, before, rep.Ok)
		}
	case internalpb.PaxosKind_PAXOS_ACCEPT:
		var acc paxos.Acceptance
		next, _ := paxospb.BallotFromProto(m.Next)
		if m.Next != nil && next != paxos.Successor(b) {
			t.Fatalf("accepted an accept at %s carrying next ballot %s", b, next)
		}
		want, acc = before.AcceptNext(b, v, next)
		if acc.OK != rep.Ok {
			t.Fatalf("accept %s of %+v answered ok=%v", b, before, rep.Ok)
		}
	case internalpb.PaxosKind_PAXOS_COMMIT:
		// Learn, not Commit: a voter holding nothing ignores a commit at or
		// below its promise (paxos.State.Learn); an earlier input may have
		// left such a promise.
		want = before.Learn(b, v)
	default:
		t.Fatalf("accepted a request of kind %v", m.Kind)
	}
	if !want.Equal(after) {
		t.Fatalf("%v %s: stored %+v, want %+v", m.Kind, b, after, want)
	}
}

// checkPaxosReply: a proposer takes any reply without panicking, and
// only replies of its own request (by id) reach its proposer.
func checkPaxosReply(t *testing.T, h *messageHarness, pm proto.Message) {
	m := pm.(*internalpb.PaxosReply)
	for _, op := range []paxos.Op{{Kind: paxos.OpGet}, {Kind: paxos.OpPut, Data: []byte("x"), Cond: paxos.CondAbsent}} {
		p, _, err := paxos.NewProposer(paxos.Config{Node: fuzzSelf, Incarnation: 5, Voters: [][]string{{"n1", "n2", "n3"}}}, op, fuzzProposerBallot.Seq)
		if err != nil {
			t.Fatal(err)
		}
		f := &strongFSM{view: h.view.Load(), id: fuzzRequestID, p: p}
		eff := f.replied(m)
		if m.RequestId != fuzzRequestID && (len(eff.Send) > 0 || eff.Done || eff.NeedBallot) {
			t.Fatalf("a reply of request %d moved the proposer of request %d: %+v", m.RequestId, fuzzRequestID, eff)
		}
		for _, s := range eff.Send {
			if !slices.Contains([]string{"n1", "n2", "n3"}, s.To) {
				t.Fatalf("the proposer sends to %q, not a voter", s.To)
			}
		}
	}
}

// checkPaxosState: a stored acceptor state decodes or is refused; one that
// decodes keeps the acceptor's invariants and stores back the same.
func checkPaxosState(t *testing.T, _ *messageHarness, pm proto.Message) {
	st, err := paxospb.StateFromProto(pm.(*internalpb.PaxosState))
	if err != nil {
		return
	}
	if st.Promised.Less(st.Accepted) || st.Promised.Less(st.Committed) {
		t.Fatalf("decoded state breaks the invariants: %+v", st)
	}
	again, err := paxospb.StateFromProto(paxospb.StateToProto(st))
	if err != nil || !st.Equal(again) {
		t.Fatalf("state %+v reads back as %+v (%v)", st, again, err)
	}
}

// FuzzInternalMessages covers the bytes of node-to-node messages: what a
// peer sends on the cluster port (decoded by the remote layer into any
// registered internalpb type) and the internalpb records a node reads back
// from its disk. Each body decodes into the type typeIndex picks and goes
// to the handler that receives it: vnode, gossiper, exchange, reap round,
// request and transfer cores, hint replay. Whatever the bytes, nothing
// panics, every request gets one answer, the vnode's tree matches its
// store, what is stored is exactly the merge of what was accepted (from
// admitted senders only), and a peer cannot lower this node's generation,
// take its address or fence it without a conflicting claim to its id.
func FuzzInternalMessages(f *testing.F) {
	h := newMessageHarness(f)
	kinds := fuzzKinds()
	for i, k := range kinds {
		b, err := proto.Marshal(k.msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(i), b)
		f.Add(byte(i), []byte{})
		f.Add(byte(i), []byte{0x0a, 0x7f, 0xff, 0x12, 0x00, 0x08})
	}
	// Boundary values a mutation rarely reaches: a claim to this node's id
	// at the highest generation, and ring statuses that are none, saved
	// and gossiped.
	for _, m := range []proto.Message{
		&internalpb.GossipRefused{From: "n2", Node: fuzzSelf, Identity: true, Holder: &internalpb.NodeState{Id: fuzzSelf, Generation: math.MaxInt64,
			App: []*internalpb.AppEntry{{Key: membership.KeyClusterAddr, Value: "10.0.0.9:7000", Version: 1}}}},
		&internalpb.MembershipSnapshot{States: []*internalpb.NodeState{
			{Id: "n2", Generation: 2, App: []*internalpb.AppEntry{{Key: membership.KeyStatus, Value: "nprmal", Version: 1}}},
			{Id: fuzzSelf, Generation: 1, App: []*internalpb.AppEntry{{Key: membership.KeyStatus, Value: "leavin", Version: 1}}}}},
		&internalpb.GossipAck2{From: "n2", Params: &internalpb.ClusterParams{Partitions: fuzzPartitions, Replicas: fuzzN, SecretFingerprints: fuzzParams.SecretFingerprints},
			States: []*internalpb.NodeState{{Id: "n5", Generation: 1, Heartbeat: 1, App: []*internalpb.AppEntry{{Key: membership.KeyStatus, Value: "joinin", Version: 1}}}}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(slices.IndexFunc(kinds, func(k fuzzKind) bool { return k.msg.ProtoReflect().Type() == m.ProtoReflect().Type() })), b)
	}
	f.Fuzz(func(t *testing.T, typeIndex byte, body []byte) {
		k := kinds[int(typeIndex)%len(kinds)]
		m := k.msg.ProtoReflect().New().Interface()
		if err := proto.Unmarshal(body, m); err != nil {
			return
		}
		k.check(t, h, m)
	})
}

// checkReplicaPut: a replica write is taken only from an admitted sender,
// with a key and an object that converts; then the store holds the merge,
// and a hinted write keeps one hint for its target.
func checkReplicaPut(t *testing.T, h *messageHarness, pm proto.Message) {
	m := pm.(*internalpb.ReplicaPut)
	r := h.runVnode(t, m)
	rep := answerAs[*internalpb.ReplicaPutReply](t, r.reply)
	checkNode(t, rep.Node)
	if rep.RequestId != m.RequestId || rep.HintFor != m.HintFor {
		t.Fatalf("reply echoes request %d for %q, want %d for %q", rep.RequestId, rep.HintFor, m.RequestId, m.HintFor)
	}
	admitErr := h.view.Load().Admits(m.Sender)
	in, convErr := object.FromProto(m.Object)
	badTarget := m.HintFor != "" && membership.CheckID(m.HintFor) != nil
	keyErr := (catalog.Catalog{}).CheckEventualWrite(m.Key) // a strong table's key, or a malformed table key
	if refused := admitErr != nil || convErr != nil || len(m.Key) == 0 || badTarget || keyErr != nil; refused != (rep.Error != "") {
		t.Fatalf("admit %v, object %v, key %q (%v), hint for %q: reply error %q", admitErr, convErr, m.Key, keyErr, m.HintFor, rep.Error)
	} else if refused {
		sameStore(t, "refused write", r.before, r.after)
		if !maps.Equal(r.hintsBefore, r.hintsAfter) {
			t.Fatalf("refused write changed the hints: %v -> %v", r.hintsBefore, r.hintsAfter)
		}
		return
	}
	want := maps.Clone(r.before)
	if m.HintFor == "" || !m.HintOnly {
		want[string(m.Key)] = object.Merge(r.before[string(m.Key)], in)
	}
	sameStore(t, "accepted write", want, r.after)
	if m.HintFor == "" {
		if !maps.Equal(r.hintsBefore, r.hintsAfter) {
			t.Fatalf("write without hint_for changed the hints: %v -> %v", r.hintsBefore, r.hintsAfter)
		}
		return
	}
	b, a := r.hintsBefore[m.HintFor], r.hintsAfter[m.HintFor]
	if kept, dropped := a.Count-b.Count, a.Dropped-b.Dropped; kept+dropped != 1 {
		t.Fatalf("hinted write for %q: %d hints kept, %d dropped; want one of them", m.HintFor, kept, dropped)
	} else if kept == 1 {
		recs, err := h.store.Hints(m.HintFor, math.MaxInt)
		if err != nil || len(recs) == 0 {
			t.Fatalf("hint for %q not readable: %v", m.HintFor, err)
		}
		last := recs[len(recs)-1].Hint
		got, err := object.FromProto(last.Object)
		if err != nil || !object.SameVersions(got, in) || !bytes.Equal(last.Key, m.Key) || last.Partition != fuzzPartition {
			t.Fatalf("hint kept for %q holds %q %v (%v), want %q %v", m.HintFor, last.Key, got, err, m.Key, in)
		}
	}
}

// checkCoordinatePut: a coordinated write gets a new dot of this replica
// and is stored and answered with the value asked.
func checkCoordinatePut(t *testing.T, h *messageHarness, pm proto.Message) {
	m := pm.(*internalpb.CoordinatePut)
	r := h.runVnode(t, m)
	rep := answerAs[*internalpb.CoordinatePutReply](t, r.reply)
	checkNode(t, rep.Node)
	if len(m.Key) == 0 || (catalog.Catalog{}).CheckEventualWrite(m.Key) != nil {
		if rep.Error == "" {
			t.Fatalf("coordinated a write of key %q, empty, malformed or of a strong table", m.Key)
		}
		sameStore(t, "refused coordinate", r.before, r.after)
		return
	}
	info, _ := catalog.ParseKey(m.Key)
	if rep.Error != "" {
		// A write the key's table cannot take is refused and changes
		// nothing: CRDT operations on a key that is not a crdt table's, a
		// value on one that is, a stamp (or just_after) where none fits or
		// one that is malformed or too far ahead. A plain value write to a
		// plain key must succeed.
		refusable := len(m.DatatypeOps) > 0 || len(m.DatatypeContext) > 0 || len(m.DatatypeBase) > 0 ||
			len(m.AfterStamp) > 0 || m.JustAfter || info.Conflict == catalog.CRDT || info.Conflict == catalog.LWW
		if !refusable {
			t.Fatalf("coordinate of key %q failed: %s", m.Key, rep.Error)
		}
		sameStore(t, "refused coordinate", r.before, r.after)
		return
	}
	dot := object.DotFromProto(rep.Dot)
	set, err := object.FromProto(rep.Object)
	if err != nil || dot.Actor != h.self || dot.Counter == 0 {
		t.Fatalf("coordinate answered dot %v, object error %v", dot, err)
	}
	i := slices.IndexFunc(set, func(s object.Sibling) bool { return s.Dot == dot })
	// A crdt key's version is a state the operations made, not m.Value;
	// a last-writer-wins key keeps only the highest stamp, which may be
	// another's.
	written := i >= 0 && bytes.Equal(set[i].Value, m.Value) && set[i].Deleted == m.Deleted
	if !written && info.Conflict != catalog.CRDT && info.Conflict != catalog.LWW {
		t.Fatalf("answered object %v lacks the write %v of %q", set, dot, m.Value)
	}
	want := maps.Clone(r.before)
	want[string(m.Key)] = set
	sameStore(t, "coordinated write", want, r.after)
}

// checkReplicaGet: a read answers what the store holds, either form.
func checkReplicaGet(t *testing.T, h *messageHarness, pm proto.Message) {
	m := pm.(*internalpb.ReplicaGet)
	r := h.runVnode(t, m)
	rep := answerAs[*internalpb.ReplicaGetReply](t, r.reply)
	checkNode(t, rep.Node)
	if rep.Error != "" {
		t.Fatalf("read of %q failed: %s", m.Key, rep.Error)
	}
	set, err := replySet(rep)
	if err != nil || !object.SameVersions(set, r.before[string(m.Key)]) {
		t.Fatalf("read of %q answered %v (%v), store holds %v", m.Key, set, err, r.before[string(m.Key)])
	}
	sameStore(t, "read", r.before, r.after)
}

// checkHandoffFetch: a batch is the next keys after after_key, in order,
// within max_keys, done exactly when none remain.
func checkHandoffFetch(t *testing.T, h *messageHarness, pm proto.Message) {
	m := pm.(*internalpb.HandoffFetch)
	r := h.runVnode(t, m)
	b := answerAs[*internalpb.HandoffBatch](t, r.reply)
	checkNode(t, b.Node)
	if m.AcceptorStates && m.Transition != h.view.Load().Transition.Fingerprint {
		if b.Error == "" || len(b.AcceptorStates) > 0 {
			t.Fatalf("a read of acceptor states from transition %016x was answered: %v", m.Transition, b)
		}
		sameStore(t, "refused fetch", r.before, r.after)
		return
	}
	if b.Error != "" || b.Partition != fuzzPartition || b.OfAcceptorStates != m.AcceptorStates {
		t.Fatalf("fetch answered partition %d, of acceptor states %v, error %q", b.Partition, b.OfAcceptorStates, b.Error)
	}
	sameStore(t, "fetch", r.before, r.after)
	if m.AcceptorStates {
		// Acceptor states only, in order after after_key, each as stored.
		prev := m.AfterKey
		for _, e := range b.AcceptorStates {
			if len(prev) > 0 && bytes.Compare(e.Key, prev) <= 0 {
				t.Fatalf("acceptor fetch after %q answered %q after %q", m.AfterKey, e.Key, prev)
			}
			prev = e.Key
			st, err := h.store.AcceptorState(fuzzPartition, e.Key)
			got, derr := paxospb.StateFromProto(e.State)
			if err != nil || derr != nil || !st.Equal(got) {
				t.Fatalf("acceptor fetch answered %q as %+v (%v), stored %+v (%v)", e.Key, got, derr, st, err)
			}
		}
		if len(b.Entries) > 0 || len(b.AcceptorStates) > int(max(m.MaxKeys, 1)) {
			t.Fatalf("acceptor fetch answered %d objects, %d states (max %d)", len(b.Entries), len(b.AcceptorStates), m.MaxKeys)
		}
		return
	}
	want := keysAfter(r.before, m.AfterKey)
	if len(b.Entries) > len(want) || len(b.Entries) > int(max(m.MaxKeys, 1)) || (len(want) > 0 && len(b.Entries) == 0) {
		t.Fatalf("fetch after %q (max %d) got %d of %d keys", m.AfterKey, m.MaxKeys, len(b.Entries), len(want))
	}
	for i, e := range b.Entries {
		set, err := object.FromProto(e.Object)
		if string(e.Key) != want[i] || err != nil || !object.SameVersions(set, r.before[want[i]]) {
			t.Fatalf("fetch entry %d is %q %v (%v), want %q %v", i, e.Key, set, err, want[i], r.before[want[i]])
		}
	}
	if b.Done != (len(b.Entries) == len(want)) {
		t.Fatalf("fetch done=%v with %d of %d keys after %q", b.Done, len(b.Entries), len(want), m.AfterKey)
	}
	sameStore(t, "fetch", r.before, r.after)
}

// checkHandoffApply: a batch sent by a peer is refused and changes
// nothing; the same batch fetched by this node's transfer merges into the
// store in order.
func checkHandoffApply(t *testing.T, h *messageHarness, pm proto.Message) {
	m := pm.(*internalpb.HandoffApply)
	r := h.runVnode(t, m)
	if rep := answerAs[*internalpb.HandoffApplyReply](t, r.reply); rep.Error == "" {
		t.Fatal("a handoff batch from a peer was applied")
	}
	sameStore(t, "refused batch", r.before, r.after)
	h.clear(t)
	r = h.runVnode(t, applyBatch{m})
	rep := answerAs[*internalpb.HandoffApplyReply](t, r.reply)
	// Entries apply in order up to the first one refused; the transfer
	// fetches the batch again.
	want, valid := maps.Clone(r.before), true
	for _, e := range m.Entries {
		in, err := object.FromProto(e.Object)
		if err != nil || len(e.Key) == 0 {
			valid = false
			break
		}
		want[string(e.Key)] = object.Merge(want[string(e.Key)], in)
	}
	if valid != (rep.Error == "") {
		t.Fatalf("batch valid=%v answered error %q", valid, rep.Error)
	}
	sameStore(t, "applied batch", want, r.after)
}

// checkTreeLevel: hashes answered are the stored data's tree's, or an
// error for a level or node outside the tree.
func checkTreeLevel(t *testing.T, h *messageHarness, pm proto.Message) {
	m := pm.(*internalpb.TreeLevel)
	r := h.runVnode(t, m)
	rep := answerAs[*internalpb.TreeLevelReply](t, r.reply)
	checkNode(t, rep.Node)
	nodes := make([]int, len(m.Nodes))
	for i, n := range m.Nodes {
		nodes[i] = int(n)
	}
	want, err := h.expectedTree(t).Nodes(int(m.Level), nodes)
	if !rep.Ready || (err != nil) != (rep.Error != "") {
		t.Fatalf("level %d nodes %v: ready %v, error %q; tree says %v", m.Level, m.Nodes, rep.Ready, rep.Error, err)
	}
	if err == nil {
		if !slices.EqualFunc(rep.Hashes, want, func(got []byte, w merkle.Hash) bool { return bytes.Equal(got, w[:]) }) {
			t.Fatalf("level %d nodes %v: answered hashes differ from the stored data's tree", m.Level, m.Nodes)
		}
	}
}

// checkBucketKeys: a page reads at most max_keys keys after after_key and
// answers exactly those of them in the buckets asked.
func checkBucketKeys(t *testing.T, h *messageHarness, pm proto.Message) {
	m := pm.(*internalpb.BucketKeys)
	r := h.runVnode(t, m)
	rep := answerAs[*internalpb.BucketKeysReply](t, r.reply)
	checkNode(t, rep.Node)
	if rep.Error != "" {
		t.Fatalf("bucket keys failed: %s", rep.Error)
	}
	tree := h.expectedTree(t)
	read := keysAfter(r.before, m.AfterKey)
	if len(read) > 0 {
		n := slices.Index(read, string(rep.LastKey))
		if n < 0 || n+1 > int(max(m.MaxKeys, 1)) || rep.More != (n+1 < len(read)) {
			t.Fatalf("page after %q (max %d) ended at %q, more=%v, of keys %q", m.AfterKey, m.MaxKeys, rep.LastKey, rep.More, read)
		}
		read = read[:n+1]
	} else if rep.More || len(rep.LastKey) > 0 {
		t.Fatalf("nothing after %q, yet more=%v, last %q", m.AfterKey, rep.More, rep.LastKey)
	}
	var want []string
	for _, k := range read {
		if slices.Contains(m.Buckets, uint32(tree.Bucket([]byte(k)))) {
			want = append(want, k)
		}
	}
	if len(rep.Entries) != len(want) {
		t.Fatalf("buckets %v after %q: %d entries, want keys %q", m.Buckets, m.AfterKey, len(rep.Entries), want)
	}
	for i, e := range rep.Entries {
		set, err := object.FromProto(e.Object)
		if string(e.Key) != want[i] || err != nil || !object.SameVersions(set, r.before[want[i]]) {
			t.Fatalf("bucket entry %d is %q %v (%v), want %q", i, e.Key, set, err, want[i])
		}
	}
}

// checkReap: a reap is taken only from an admitted sender.
func checkReap(t *testing.T, h *messageHarness, pm proto.Message) {
	m := pm.(*internalpb.Reap)
	r := h.runVnode(t, m)
	rep := answerAs[*internalpb.ReapReply](t, r.reply)
	checkNode(t, rep.Node)
	if err := h.view.Load().Admits(m.Sender); err != nil {
		if rep.Error == "" || rep.Reaped != 0 {
			t.Fatalf("reap from a sender refused (%v) answered %q, %d reaped", err, rep.Error, rep.Reaped)
		}
		sameStore(t, "refused reap", r.before, r.after)
		return
	}
	// A replica holds an entry when it holds that tombstone at exactly
	// that version, or nothing; with commit it deletes the ones it holds.
	cur, reaped := maps.Clone(r.before), 0
	if rep.Error != "" || len(rep.Holds) != len(m.Entries) {
		t.Fatalf("reap of %d entries answered %d holds, error %q", len(m.Entries), len(rep.Holds), rep.Error)
	}
	for i, e := range m.Entries {
		set := cur[string(e.Key)]
		_, tomb := object.Tombstone(set)
		same := tomb && bytes.Equal(object.VersionDigest(set), e.Digest)
		if rep.Holds[i] != (same || len(set) == 0) {
			t.Fatalf("entry %d (%q): holds=%v, replica holds %v", i, e.Key, rep.Holds[i], set)
		}
		if same && m.Commit {
			delete(cur, string(e.Key))
			reaped++
		}
	}
	if int(rep.Reaped) != reaped {
		t.Fatalf("reaped %d, want %d", rep.Reaped, reaped)
	}
	sameStore(t, "reap", cur, r.after)
}

// checkGossip starts a gossiper on the saved membership (the body itself
// when it is a MembershipSnapshot) and delivers a gossip message from the
// peer.
func checkGossip(t *testing.T, _ *messageHarness, pm proto.Message) {
	snap, _ := pm.(*internalpb.MembershipSnapshot)
	if snap == nil {
		snap = &internalpb.MembershipSnapshot{States: []*internalpb.NodeState{{Id: "n2", Generation: 2, Heartbeat: 1,
			App: []*internalpb.AppEntry{{Key: membership.KeyClusterAddr, Value: fuzzPeerAddr, Version: 1}, {Key: membership.KeyStatus, Value: ring.StatusNormal, Version: 2}}}}}
	}
	var views []*membership.View
	g := gossip.NewActor(gossip.ActorConfig{Config: gossip.DefaultConfig(), Self: fuzzSelf, Generation: fuzzGeneration, Params: fuzzParams,
		Members: &fuzzMembers{snap: snap}, Publish: func(v *membership.View) { views = append(views, v) },
		App: map[string]string{membership.KeyClusterAddr: fuzzSelfAddr, membership.KeyIncarnation: "7", membership.KeyProtocol: "1", membership.KeyStatus: ring.StatusNormal}})
	ctx := newFuzzContext(actor.NewPID(fuzzSelfAddr, gossip.Name))
	ctx.deliver(t, g, &actor.Started{}, nil)
	checkGossipView(t, views, nil)
	if pm == snap {
		return
	}
	before, published := gossipStates(t, ctx, g), len(views)
	ctx.out = nil
	ctx.deliver(t, g, pm, actor.NewPID(fuzzPeerAddr, gossip.Name))
	checkGossipView(t, views, pm)
	sent := ctx.sentTo(actor.NewPID(fuzzPeerAddr, gossip.Name))
	var from string
	var params *internalpb.ClusterParams
	switch m := pm.(type) {
	case *internalpb.GossipSyn:
		from, params = m.From, m.Params
	case *internalpb.GossipAck:
		from, params = m.From, m.Params
	case *internalpb.GossipAck2:
		from, params = m.From, m.Params
	default:
		return
	}
	theirs := membership.Params{Partitions: int(params.GetPartitions()), Replicas: int(params.GetReplicas()), SecretFingerprints: params.GetSecretFingerprints()}
	if fuzzParams.Mismatch(fuzzSelf, theirs, from) != "" {
		if len(views) != published {
			t.Fatalf("gossip with other parameters %+v published a view", theirs)
		}
		if len(sent) != 1 {
			t.Fatalf("gossip with other parameters answered %v, want one refusal", sent)
		}
		if ref, ok := sent[0].(*internalpb.GossipRefused); !ok || ref.Node != from || ref.From != fuzzSelf {
			t.Fatalf("gossip with other parameters answered %v", sent[0])
		}
		if after := gossipStates(t, ctx, g); !slices.Equal(before, after) {
			t.Fatalf("gossip with other parameters %+v changed the state: %v -> %v", theirs, before, after)
		}
		return
	}
	acks := 0
	for _, s := range sent {
		var p *internalpb.ClusterParams
		switch a := s.(type) {
		case *internalpb.GossipAck:
			p = a.Params
			acks++
		case *internalpb.GossipAck2:
			p = a.Params
		case *internalpb.GossipSyn: // a round with the peer, after a change
			p = a.Params
		default:
			continue // an identity refusal for a claimant at the peer's address
		}
		theirs := membership.Params{Partitions: int(p.GetPartitions()), Replicas: int(p.GetReplicas()), SecretFingerprints: p.GetSecretFingerprints()}
		if fuzzParams.Mismatch(fuzzSelf, theirs, "peer") != "" || theirs.Partitions != fuzzPartitions || theirs.Replicas != fuzzN {
			t.Fatalf("%T carries parameters %v, not this node's", s, p)
		}
	}
	if _, ok := pm.(*internalpb.GossipSyn); ok && acks != 1 {
		t.Fatalf("a syn was answered with %d acks", acks)
	}
}

// fuzzMembers is a gossip.Store in memory.
type fuzzMembers struct {
	snap *internalpb.MembershipSnapshot
}

func (m *fuzzMembers) Members() (*internalpb.MembershipSnapshot, error) {
	return proto.Clone(m.snap).(*internalpb.MembershipSnapshot), nil
}

func (m *fuzzMembers) SaveMembers(s *internalpb.MembershipSnapshot) error {
	m.snap = proto.Clone(s).(*internalpb.MembershipSnapshot)
	return nil
}

// gossipStates asks the gossiper g, with a SYN that holds no digest, for
// every state it knows, and returns a line per state: id, generation and
// highest version. Asking changes nothing.
func gossipStates(t *testing.T, ctx *fuzzContext, g actor.Actor) []string {
	t.Helper()
	prober := actor.NewPID("10.0.0.99:7000", gossip.Name)
	saved := ctx.out
	ctx.out = nil
	ctx.deliver(t, g, &internalpb.GossipSyn{From: "prober", Params: &internalpb.ClusterParams{Partitions: fuzzPartitions,
		Replicas: fuzzN, SecretFingerprints: fuzzParams.SecretFingerprints}}, prober)
	sent := ctx.sentTo(prober)
	ctx.out = saved
	if len(sent) != 1 {
		t.Fatalf("a probe was answered with %v", sent)
	}
	var out []string
	for _, st := range sent[0].(*internalpb.GossipAck).States {
		top := st.Heartbeat
		for _, a := range st.App {
			top = max(top, a.Version)
		}
		out = append(out, fmt.Sprintf("%s/%d/%d", st.Id, st.Generation, top))
	}
	slices.Sort(out)
	return out
}

// checkGossipView checks the last view the gossiper published after pm
// (nil: after its start): its own id, generation and address are its own,
// no member is without an id, and it is fenced only by a conflicting claim
// to its id.
func checkGossipView(t *testing.T, views []*membership.View, pm proto.Message) {
	t.Helper()
	if len(views) == 0 || views[len(views)-1].Self != fuzzSelf {
		t.Fatalf("no view of %s published", fuzzSelf)
	}
	v := views[len(views)-1]
	own := v.Members[fuzzSelf]
	if own.Generation < fuzzGeneration {
		t.Fatalf("own generation went from %d down to %d", fuzzGeneration, own.Generation)
	}
	if own.ClusterAddr != fuzzSelfAddr {
		t.Fatalf("own cluster address is now %q", own.ClusterAddr)
	}
	if _, ok := v.Members[""]; ok {
		t.Fatal("a member without an id was taken")
	}
	if v.Fenced == "" {
		return
	}
	var claims []*internalpb.NodeState
	switch m := pm.(type) {
	case *internalpb.GossipAck:
		claims = m.States
	case *internalpb.GossipAck2:
		claims = m.States
	case *internalpb.GossipRefused:
		claims = []*internalpb.NodeState{m.Holder}
	}
	if !slices.ContainsFunc(claims, func(st *internalpb.NodeState) bool {
		other := "" // the last entry of the key, as a gossiper reads a state
		for _, a := range st.GetApp() {
			if a.Key == membership.KeyClusterAddr {
				other = a.Value
			}
		}
		return st.GetId() == fuzzSelf && other != "" && other != fuzzSelfAddr
	}) {
		t.Fatalf("fenced (%s) without a claim to id %s from another address", v.Fenced, fuzzSelf)
	}
}

// newExchange is an exchange of the vnode partition with n2, started: it
// has asked both sides for the root's hash.
func newExchange(t *testing.T, h *messageHarness) (*exchange, *fuzzContext) {
	cfg := DefaultRepairConfig()
	cfg.MaxKeysPerSecond = 0 // no pacing timers
	cfg.Timeout = 0          // no progress timer
	e := &exchange{cfg: cfg, reap: reap.DefaultConfig(), view: h.view.Load(), partition: fuzzPartition, peer: "n2", faults: noFaults{}}
	ctx := newFuzzContext(actor.NewPID(fuzzSelfAddr, repairName+"/exchange-1"))
	ctx.deliver(t, e, &actor.Started{}, nil)
	return e, ctx
}

// seededTree is this node's Merkle tree of the harness's seeded data.
func seededTree(h *messageHarness) *merkle.Tree {
	tree, _ := merkle.New(merkle.DefaultConfig())
	for k, set := range h.seed {
		tree.Insert([]byte(k), object.VersionDigest(set))
	}
	return tree
}

// treeAnswer is node's answer, from tree, to the last tree level the
// exchange asked; flip makes every hash differ from tree's.
func treeAnswer(t *testing.T, ctx *fuzzContext, e *exchange, tree *merkle.Tree, node string, flip bool) *internalpb.TreeLevelReply {
	t.Helper()
	var q *internalpb.TreeLevel
	for _, m := range ctx.sentTo(e.mine) {
		if tl, ok := m.(*internalpb.TreeLevel); ok {
			q = tl
		}
	}
	if q == nil {
		t.Fatalf("the exchange asked no tree level: %v", ctx.out)
	}
	hashes, err := tree.Nodes(int(q.Level), toInts(q.Nodes))
	if err != nil {
		t.Fatal(err)
	}
	r := &internalpb.TreeLevelReply{Node: node, Ready: true}
	for _, hs := range hashes {
		if flip {
			hs[0] ^= 1
		}
		r.Hashes = append(r.Hashes, bytes.Clone(hs[:]))
	}
	return r
}

// descend answers the exchange's first levels questions, this node from
// the seeded tree and the peer with every hash different, so that it asks
// for every node of the next level (past the leaves: every bucket's
// objects).
func descend(t *testing.T, e *exchange, ctx *fuzzContext, tree *merkle.Tree, levels int) {
	t.Helper()
	for range levels {
		mine, theirs := treeAnswer(t, ctx, e, tree, fuzzSelf, false), treeAnswer(t, ctx, e, tree, "n2", true)
		ctx.out = nil
		ctx.deliver(t, e, mine, e.mine)
		ctx.deliver(t, e, theirs, e.theirs)
	}
}

// exchangeOutcome is what an exchange did after one reply: finished (with
// err), or asked both sides the next question.
func exchangeOutcome(t *testing.T, e *exchange, ctx *fuzzContext) (finished bool, err error, asked []any) {
	t.Helper()
	done := ctx.sentTo(fuzzParent)
	mine, theirs := ctx.sentTo(e.mine), ctx.sentTo(e.theirs)
	if len(done)+len(mine)+len(theirs) != len(ctx.out) {
		t.Fatalf("exchange sent to others than its parent and the two vnodes: %v", ctx.out)
	}
	if len(done) > 1 || (len(done) == 1) != e.core.Done() {
		t.Fatalf("exchange finished=%v, reported %d times", e.core.Done(), len(done))
	}
	if len(done) == 1 {
		return true, done[0].(exchangeDone).result.Err, append(mine, theirs...)
	}
	if len(mine) == 1 && len(theirs) == 1 {
		// Asking both sides for acceptor states is the pass that follows
		// the trees' comparison: the trees were done with, without error.
		if q, ok := mine[0].(*internalpb.HandoffFetch); ok && q.AcceptorStates {
			return true, nil, append(mine, theirs...)
		}
	}
	return false, nil, append(mine, theirs...)
}

// checkTreeLevelReply hands the peer's answer for one tree level to an
// exchange that has this node's answer (from the seeded data's tree): at
// the root, or, for an answer of one hash per child of the root, at the
// level below a root that differed. An exchange that finishes without
// error found every hash asked equal; one that goes on asks only for
// nodes that exist.
func checkTreeLevelReply(t *testing.T, h *messageHarness, pm proto.Message) {
	m := pm.(*internalpb.TreeLevelReply)
	cfg := merkle.DefaultConfig()
	tree := seededTree(h)
	e, ctx := newExchange(t, h)
	if len(m.Hashes) == cfg.Fanout {
		descend(t, e, ctx, tree, 1)
	}
	mine := treeAnswer(t, ctx, e, tree, fuzzSelf, false)
	ctx.out = nil
	ctx.deliver(t, e, mine, e.mine)
	ctx.deliver(t, e, m, e.theirs)
	if m.Node != "n2" {
		// This node's own answer came first, and a second is no other
		// side's; an answer naming a third node is no side's.
		if len(ctx.out) != 0 {
			t.Fatalf("an answer from %q moved the exchange: %v", m.Node, ctx.out)
		}
		return
	}
	finished, ferr, asked := exchangeOutcome(t, e, ctx)
	if finished {
		if ferr != nil {
			return
		}
		if len(m.Hashes) != len(mine.Hashes) {
			t.Fatalf("finished without error on %d hashes for %d nodes", len(m.Hashes), len(mine.Hashes))
		}
		for i := range m.Hashes {
			if !bytes.Equal(m.Hashes[i], mine.Hashes[i]) {
				t.Fatalf("finished without error though hash %d differs", i)
			}
		}
		return
	}
	if len(asked) != 2 {
		t.Fatalf("exchange asked %v", asked)
	}
	switch q := asked[0].(type) {
	case *internalpb.TreeLevel:
		if _, err := tree.Nodes(int(q.Level), toInts(q.Nodes)); err != nil {
			t.Fatalf("exchange asks level %d nodes %v: %v", q.Level, q.Nodes, err)
		}
	case *internalpb.BucketKeys:
		for _, b := range q.Buckets {
			if int(b) >= cfg.Leaves() {
				t.Fatalf("exchange asks bucket %d of %d", b, cfg.Leaves())
			}
		}
	default:
		t.Fatalf("exchange asked %T", q)
	}
}

func toInts(ns []uint32) []int {
	out := make([]int, len(ns))
	for i, n := range ns {
		out[i] = int(n)
	}
	return out
}

// checkBucketKeysReply hands the peer's objects of the differing buckets
// to an exchange that has read this node's (the seeded data). Every repair
// write it then sends holds the merge of both sides' versions of its key.
func checkBucketKeysReply(t *testing.T, h *messageHarness, pm proto.Message) {
	m := pm.(*internalpb.BucketKeysReply)
	e, ctx := newExchange(t, h)
	descend(t, e, ctx, seededTree(h), merkle.DefaultConfig().Depth+1)
	if q := ctx.sentTo(e.theirs); len(q) != 1 {
		t.Fatalf("past the leaves the exchange asked the peer %v", q)
	} else if _, ok := q[0].(*internalpb.BucketKeys); !ok {
		t.Fatalf("past the leaves the exchange asked the peer %T", q[0])
	}
	mine := &internalpb.BucketKeysReply{Node: fuzzSelf}
	for _, k := range slices.Sorted(maps.Keys(h.seed)) {
		mine.Entries = append(mine.Entries, &internalpb.HandoffEntry{Key: []byte(k), Object: object.ToProto(h.seed[k])})
	}
	ctx.out = nil
	ctx.deliver(t, e, mine, e.mine)
	ctx.deliver(t, e, m, e.theirs)
	if m.Node != "n2" {
		if len(ctx.out) != 0 {
			t.Fatalf("a page from %q moved the exchange: %v", m.Node, ctx.out)
		}
		return
	}
	finished, ferr, asked := exchangeOutcome(t, e, ctx)
	if finished && ferr != nil {
		return
	}
	theirs := map[string][]object.Sibling{}
	for _, en := range m.Entries {
		set, err := object.FromProto(en.Object)
		if err != nil {
			t.Fatalf("exchange took entry %q whose object does not convert: %v", en.Key, err)
		}
		theirs[string(en.Key)] = set
	}
	if m.More {
		if len(asked) != 1 {
			t.Fatalf("a page with more after it was followed by %v", asked)
		}
		return
	}
	for _, a := range asked {
		put, ok := a.(*internalpb.ReplicaPut)
		if !ok {
			t.Fatalf("exchange sent %T", a)
		}
		merged, err := object.FromProto(put.Object)
		if err != nil {
			t.Fatalf("repair write of %q does not convert: %v", put.Key, err)
		}
		for _, side := range []map[string][]object.Sibling{h.seed, theirs} {
			if !object.SameVersions(object.Merge(merged, side[string(put.Key)]), merged) {
				t.Fatalf("repair write of %q lacks versions of one side", put.Key)
			}
		}
		if err := h.view.Load().Admits(put.Sender); err != nil {
			t.Fatalf("repair write would be refused: %v", err)
		}
	}
}

// checkReapReply hands a replica's answer to a reap round that has the
// answers of the other two; it orders deletion only of the entries every
// replica holds.
func checkReapReply(t *testing.T, h *messageHarness, pm proto.Message) {
	m := pm.(*internalpb.ReapReply)
	pref := []string{"n1", "n2", "n3"}
	entries := []*internalpb.ReapEntry{{Key: []byte("b"), Digest: []byte{1}}, {Key: []byte("z"), Digest: []byte{2}}}
	r := &reapRound{cfg: reap.DefaultConfig(), view: h.view.Load()}
	r.core, _ = reap.NewRound([]reap.HeldPartition{{Partition: fuzzPartition, Replicas: pref}})
	ctx := newFuzzContext(actor.NewPID(fuzzSelfAddr, "node/reaper/round-1"))
	ctx.deliver(t, r, entries, nil) // the scan's tombstones: every replica is asked
	for _, id := range []string{"n1", "n3"} {
		ctx.deliver(t, r, &internalpb.ReapReply{Node: id, Holds: []bool{true, true}}, nil)
	}
	ctx.out = nil
	ctx.deliver(t, r, m, nil)
	ordered := 0
	for _, s := range ctx.out {
		q, ok := s.msg.(*internalpb.Reap)
		if !ok || !q.Commit {
			continue
		}
		ordered++
		for _, e := range q.Entries {
			j := slices.IndexFunc(entries, func(x *internalpb.ReapEntry) bool { return proto.Equal(x, e) })
			if j < 0 || m.Node != "n2" || m.Error != "" || j >= len(m.Holds) || !m.Holds[j] {
				t.Fatalf("ordered to reap %q, though replica %q answered %v (error %q)", e.Key, m.Node, m.Holds, m.Error)
			}
		}
	}
	if m.Node == "n2" && m.Error == "" && slices.Contains(m.Holds, true) && ordered != 3 {
		t.Fatalf("every replica holds a tombstone, and %d of 3 replicas were ordered to reap", ordered)
	}
}

// checkPutReply feeds a replica's answer to the core of a put coordinated
// by this node among n1, n2, n3 (W 2): it succeeds only on an ack from
// another replica; the context a coordinator's answer yields covers its dot.
func checkPutReply(t *testing.T, _ *messageHarness, pm proto.Message) {
	core, _ := request.NewPut(request.Placement{Self: fuzzSelf, Replicas: []string{"n1", "n2", "n3"}}, 2, 0)
	switch m := pm.(type) {
	case *internalpb.CoordinatePutReply:
		read := vclock.New(vclock.Entry{Actor: vclock.Actor{Node: "n2", Incarnation: 1}, Counter: 3})
		dot := object.DotFromProto(m.Dot)
		history := vclock.Advance(read, dot, time.Now().UnixNano())
		if !vclock.Descends(history, read) || (dot.Counter > 0 && !history.Covers(dot)) {
			t.Fatalf("context %v after dot %v does not follow what was read %v", history, dot, read)
		}
		eff := core.Coordinated(m.Node, replyError(m.Error))
		if m.Node != core.Coordinator() && (len(eff.Copies) > 0 || eff.Answer != nil) {
			t.Fatalf("an answer from %q, not the coordinator, moved the put: %+v", m.Node, eff)
		}
	case *internalpb.ReplicaPutReply:
		core.Coordinated(fuzzSelf, nil)
		eff := core.Replied(request.CopyKind(m.RequestId), m.Node, m.HintFor, replyError(m.Error))
		if a := eff.Answer; a != nil && a.Err == nil {
			ok := m.Error == "" && ((request.CopyKind(m.RequestId) == request.ToPrimary && (m.Node == "n2" || m.Node == "n3")) ||
				(request.CopyKind(m.RequestId) == request.ToFallback && (m.HintFor == "n2" || m.HintFor == "n3")))
			if !ok || a.Acks < 2 {
				t.Fatalf("put succeeded with %d acks on reply %v", a.Acks, m)
			}
		}
	}
}

// checkReplicaGetReply converts a replica's answer as the get state
// machine does and feeds it to a get that has this node's copy: what it
// accepts is a reconciled set that re-encodes, and an answer holds it.
func checkReplicaGetReply(t *testing.T, h *messageHarness, pm proto.Message) {
	m := pm.(*internalpb.ReplicaGetReply)
	set, err := replySet(m)
	if err == nil {
		if !object.SameVersions(object.Merge(nil, set), set) {
			t.Fatalf("reply set %v is not reconciled", set)
		}
		b, eerr := object.Encode(set)
		again, derr := object.Decode(b)
		if eerr != nil || derr != nil || !object.SameVersions(again, set) {
			t.Fatalf("reply set does not re-encode: %v, %v", eerr, derr)
		}
	}
	core, eff := request.NewGet(request.Placement{Self: fuzzSelf, Replicas: []string{"n1", "n2", "n3"}}, 2, false, reap.DefaultConfig(), time.Now())
	for _, a := range eff.Asks {
		if a.To == fuzzSelf {
			eff = core.Replied(fuzzSelf, h.seed["c"], nil)
		}
	}
	eff = core.Replied(m.Node, set, err)
	if a := eff.Answer; a != nil && a.Err == nil && err == nil {
		if !object.SameVersions(object.Merge(a.Siblings, set), a.Siblings) {
			t.Fatalf("get answered %v without the versions of %s's reply %v", a.Siblings, m.Node, set)
		}
	}
}

// checkHandoffBatch feeds a batch to a transfer that asked n2 for the
// partition: an accepted batch counts its keys, and the progress saved
// after it reads back as it was.
func checkHandoffBatch(t *testing.T, _ *messageHarness, pm proto.Message) {
	m := pm.(*internalpb.HandoffBatch)
	tr := &transfer{key: "t", core: xfer.New([]string{"n2", "n3"}, nil)}
	next := tr.core.Next(func(string) bool { return true })
	if !next.Fetch {
		t.Fatalf("a new transfer does not fetch: %+v", next)
	}
	tr.asked = next.Source
	var last []byte
	if n := len(m.Entries); n > 0 {
		last = m.Entries[n-1].Key
	}
	keys0, _, _ := tr.core.Totals()
	if m.Node == tr.asked && tr.core.Expects(m.Node, m.OfAcceptorStates, firstKey(m)) && m.Error == "" {
		if m.OfAcceptorStates {
			t.Fatalf("a new transfer expects acceptor states of %s before its objects", m.Node)
		}
		tr.core.Applied(m.Node, last, len(m.Entries), m.Done)
		if keys, _, _ := tr.core.Totals(); keys != keys0+uint64(len(m.Entries)) {
			t.Fatalf("applied %d entries, keys went from %d to %d", len(m.Entries), keys0, keys)
		}
	}
	checkCursorRoundTrip(t, tr, []string{"n2", "n3"})
	// An exchange decodes a peer's page of acceptor states or refuses it;
	// what it takes is every register, in order.
	if side := acceptorPage(m); side.Err == nil {
		if !m.OfAcceptorStates || m.Error != "" || len(side.Keys) != len(m.AcceptorStates) || len(side.States) != len(side.Keys) {
			t.Fatalf("an exchange took a page of %d registers as %d (acceptor states %v, error %q)", len(m.AcceptorStates), len(side.Keys), m.OfAcceptorStates, m.Error)
		}
		for i := 1; i < len(side.Keys); i++ {
			if bytes.Compare(side.Keys[i-1], side.Keys[i]) >= 0 {
				t.Fatalf("an exchange took registers out of order: %q then %q", side.Keys[i-1], side.Keys[i])
			}
		}
	}
}

func checkHandoffApplyReply(t *testing.T, _ *messageHarness, pm proto.Message) {
	m := pm.(*internalpb.HandoffApplyReply)
	if (replyError(m.Error) == nil) != (m.Error == "") {
		t.Fatalf("reply error %q taken as %v", m.Error, replyError(m.Error))
	}
}

// checkHandoffCursor resumes a transfer from a saved cursor as a
// restarted transfer does: it fetches only from the partition's sources,
// and its progress saves and reads back the same.
func checkHandoffCursor(t *testing.T, _ *messageHarness, pm proto.Message) {
	c := pm.(*internalpb.HandoffCursor)
	sources := []string{"n2", "n3"}
	tr := &transfer{key: c.Transition, done: c.Done, from: c.From, core: xfer.New(sources, passesFromProto(c.Passes))}
	if next := tr.core.Next(func(string) bool { return true }); next.Fetch && !slices.Contains(sources, next.Source) {
		t.Fatalf("resumed transfer fetches from %q, not a source", next.Source)
	}
	checkCursorRoundTrip(t, tr, sources)
}

func checkCursorRoundTrip(t *testing.T, tr *transfer, sources []string) {
	t.Helper()
	b, err := proto.Marshal(tr.cursor())
	if err != nil {
		t.Fatal(err)
	}
	var c internalpb.HandoffCursor
	if err := proto.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	again := xfer.New(sources, passesFromProto(c.Passes))
	if !slices.EqualFunc(again.Passes(), tr.core.Passes(), func(a, b xfer.Pass) bool {
		return a.Source == b.Source && bytes.Equal(a.AfterKey, b.AfterKey) && a.Keys == b.Keys && a.Batches == b.Batches && a.Done == b.Done &&
			bytes.Equal(a.AcceptorsAfter, b.AcceptorsAfter) && a.AcceptorStates == b.AcceptorStates && a.AcceptorsDone == b.AcceptorsDone
	}) {
		t.Fatalf("saved progress %v reads back as %v", tr.core.Passes(), again.Passes())
	}
}

// checkHint sends a stored hint where replay would: to its target, or to
// the partition's replicas when the target is gone; every destination is
// up and a member.
func checkHint(t *testing.T, h *messageHarness, pm proto.Message) {
	m := pm.(*internalpb.Hint)
	v := h.view.Load()
	for _, target := range []string{"n2", "n4", "n9"} {
		dests, keeper, ok := placement(v).Destinations(target, int(m.Partition))
		for _, id := range dests {
			if !v.Up(id) {
				t.Fatalf("hint for %s sent to %s, which is not up", target, id)
			}
		}
		if ok && len(dests) == 0 {
			t.Fatalf("hint for %s has no destination, yet goes", target)
		}
		if keeper != "" && !slices.Contains(dests, keeper) {
			t.Fatalf("hint for %s kept by %s, which it is not sent to (%v)", target, keeper, dests)
		}
	}
}
