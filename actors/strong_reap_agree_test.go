package actors

import (
	"strings"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxospb"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"github.com/harmoniakv/harmonia/persistence"
)

// A voter that holds nothing of an erased register agrees to its drop only
// with its floor raised above the erase, durably, before it answers: from
// then on the register's history before the erase, delayed in the network
// (an accept, a proposer's commit, an exchange's), is never taken, so that
// when the others drop the erased state no quorum counting this voter finds
// an older value or tombstone. The asker must be in this voter's own stable
// ring transition, and the erase it names must be the one its digest names.
func TestAVoterHoldingNothingAgreesToADropOnlyAboveTheErase(t *testing.T) {
	newVnode, view := voterHarness(t)
	p := votedPartition(t, view)
	vn, ctx := newVnode(p)
	key := keyIn(view.Ring, p)
	peer := &internalpb.Sender{Node: "n2", Incarnation: 7}
	live := paxos.Ballot{Round: 100, Node: "n2", Incarnation: 7, Seq: 1}
	deleted := paxos.Ballot{Round: 200, Node: "n2", Incarnation: 7, Seq: 2}
	erased := paxos.Ballot{Round: 300, Node: "n3", Incarnation: 7, Seq: 1}
	tomb := paxos.Value{Version: deleted}
	digest := paxospb.TombstoneDigest(paxos.State{Promised: erased, Accepted: erased, Committed: erased})

	reapAsk := func(commit bool, transition uint64, e *internalpb.ReapEntry) *internalpb.ReapReply {
		t.Helper()
		ctx.out = nil
		ctx.deliver(t, vn, &internalpb.Reap{Partition: uint32(p), Acceptors: true, Commit: commit, Transition: transition, Sender: peer,
			Entries: []*internalpb.ReapEntry{e}}, fuzzPeer)
		return ctx.out[len(ctx.out)-1].msg.(*internalpb.ReapReply)
	}
	entry := &internalpb.ReapEntry{Key: key, Digest: digest, Erased: paxospb.BallotToProto(erased)}
	fp := view.Transition.Fingerprint

	// Refused or not agreed, the floor stays where it was.
	if r := reapAsk(false, fp+1, entry); !strings.Contains(r.Error, "ring transition") {
		t.Fatalf("a reap from another ring transition answered %v, want a refusal naming it", r)
	}
	wrong := &internalpb.ReapEntry{Key: key, Digest: digest, Erased: paxospb.BallotToProto(deleted)}
	if r := reapAsk(false, fp, wrong); r.Error != "" || r.Holds[0] {
		t.Fatalf("an erase its digest does not name was agreed: %v", r)
	}
	if r := reapAsk(false, fp, &internalpb.ReapEntry{Key: key, Digest: digest}); r.Error != "" || r.Holds[0] {
		t.Fatalf("an entry naming no erase was agreed: %v", r)
	}
	if !vn.floor.IsZero() {
		t.Fatalf("the floor moved to %v without an agreement", vn.floor)
	}

	if r := reapAsk(false, fp, entry); r.Error != "" || !r.Holds[0] {
		t.Fatalf("a voter holding nothing did not agree: %v", r)
	}
	if f, err := vn.store.AcceptorFloor(p); err != nil || !erased.Less(f) || f != vn.floor {
		t.Fatalf("floor %v (stored %v, %v) after agreeing; want above the erase %v, durable", vn.floor, f, err, erased)
	}

	// The register's past, delayed: none of it is taken.
	paxosStep := func(kind internalpb.PaxosKind, b paxos.Ballot, v paxos.Value) *internalpb.PaxosReply {
		t.Helper()
		ctx.out = nil
		ctx.deliver(t, vn, &internalpb.PaxosRequest{Partition: uint32(p), Key: key, Kind: kind, Ballot: paxospb.BallotToProto(b),
			Value: paxospb.ValueToProto(v), Sender: peer, RequestId: 3, Transition: fp}, fuzzPeer)
		vn.flush(ctx)
		return ctx.out[len(ctx.out)-1].msg.(*internalpb.PaxosReply)
	}
	if r := paxosStep(internalpb.PaxosKind_PAXOS_ACCEPT, deleted, tomb); r.Ok {
		t.Fatalf("a delayed accept of the tombstone before the erase was taken: %v", r)
	}
	paxosStep(internalpb.PaxosKind_PAXOS_COMMIT, deleted, tomb)
	ctx.out = nil
	ctx.deliver(t, vn, &internalpb.AcceptorSync{Partition: uint32(p), Sender: peer, States: []*internalpb.AcceptorEntry{{Key: key,
		State: paxospb.StateToProto(paxos.State{Promised: live, Accepted: live, Committed: live, Value: paxos.Value{Exists: true, Data: []byte("old"), Version: live}})}}}, fuzzPeer)
	vn.flush(ctx)
	if r := ctx.out[len(ctx.out)-1].msg.(*internalpb.HandoffApplyReply); r.Error != "" {
		t.Fatalf("sync: %s", r.Error)
	}
	if st, err := vn.store.AcceptorState(p, key); err != nil || !st.Equal(paxos.State{}) {
		t.Fatalf("the register's past came back after the voter agreed to drop it: %+v %v", st, err)
	}
	if r := reapAsk(true, fp, entry); r.Error != "" || !r.Holds[0] || r.Reaped != 0 {
		t.Fatalf("the drop: %v, want agreed with nothing to drop", r)
	}

	// A value chosen after the erase is learned as ever.
	after := paxos.Ballot{Round: vn.floor.Round + 1, Node: "n2", Incarnation: 7, Seq: 3}
	paxosStep(internalpb.PaxosKind_PAXOS_COMMIT, after, paxos.Value{Exists: true, Data: []byte("new"), Version: after})
	if st, err := vn.store.AcceptorState(p, key); err != nil || string(st.Value.Data) != "new" || st.Committed != after {
		t.Fatalf("a commit above the floor was not learned: %+v %v", st, err)
	}
}

// A voter holding the erased state agrees and drops it on the commit; one
// holding the tombstone before the erase (it missed the erase) neither
// agrees nor drops.
func TestAVoterAgreesToADropOnlyOfTheErasedStateItHolds(t *testing.T) {
	newVnode, view := voterHarness(t)
	p := votedPartition(t, view)
	vn, ctx := newVnode(p)
	key := keyIn(view.Ring, p)
	deleted := paxos.Ballot{Round: 200, Node: "n2", Incarnation: 7, Seq: 2}
	erased := paxos.Ballot{Round: 300, Node: "n3", Incarnation: 7, Seq: 1}
	erasedState := paxos.State{Promised: erased, Accepted: erased, Committed: erased}
	entry := &internalpb.ReapEntry{Key: key, Digest: paxospb.TombstoneDigest(erasedState), Erased: paxospb.BallotToProto(erased)}
	ask := func(commit bool) *internalpb.ReapReply {
		t.Helper()
		ctx.out = nil
		ctx.deliver(t, vn, &internalpb.Reap{Partition: uint32(p), Acceptors: true, Commit: commit, Transition: view.Transition.Fingerprint,
			Sender: &internalpb.Sender{Node: "n2", Incarnation: 7}, Entries: []*internalpb.ReapEntry{entry}}, fuzzPeer)
		return ctx.out[len(ctx.out)-1].msg.(*internalpb.ReapReply)
	}
	tombState := paxos.State{Promised: deleted, Accepted: deleted, Committed: deleted, Value: paxos.Value{Version: deleted}}
	if err := vn.store.CommitBatch(nil, []persistence.AcceptorWrite{{Partition: p, Key: key, State: tombState}}); err != nil {
		t.Fatal(err)
	}
	if r := ask(false); r.Holds[0] {
		t.Fatalf("a voter holding the tombstone before the erase agreed: %v", r)
	}
	if r := ask(true); r.Holds[0] || r.Reaped != 0 {
		t.Fatalf("a voter holding the tombstone before the erase dropped it: %v", r)
	}
	if err := vn.store.CommitBatch(nil, []persistence.AcceptorWrite{{Partition: p, Key: key, State: erasedState}}); err != nil {
		t.Fatal(err)
	}
	vn.durable = nil
	if r := ask(false); !r.Holds[0] {
		t.Fatalf("a voter holding the erased state did not agree: %v", r)
	}
	if r := ask(true); !r.Holds[0] || r.Reaped != 1 {
		t.Fatalf("a voter holding the erased state did not drop it: %v", r)
	}
	if st, err := vn.store.AcceptorState(p, key); err != nil || !st.Equal(paxos.State{}) || !erased.Less(vn.floor) {
		t.Fatalf("after the drop: %+v %v, floor %v", st, err, vn.floor)
	}
}
