package actors

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxospb"
	"github.com/harmoniakv/harmonia/internal/testport"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

// A deleted strong key's tombstone is erased through consensus once past
// the grace, and its acceptor state dropped on every replica once each
// holds the same erased state; a live key's is
// kept; the key then reads as absent and takes a put-if-absent; and a
// proposal older than the drop (a delayed accept) is refused under the
// partition's floor.
func TestStrongTombstonesAreDropped(t *testing.T) {
	if raceEnabled {
		t.Skip("three actor systems in one process trip the race detector inside protoactor (PROTOACTOR-NOTES)")
	}
	addrs := []string{testport.For(t), testport.For(t), testport.For(t)}
	fast := func(c *Config) {
		c.Reap.Grace, c.Reap.Interval, c.Reap.Settle = 500*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond
	}
	nodes := make([]*System, 3)
	for i := range nodes {
		nodes[i] = startStrongNode(t, fmt.Sprintf("s%d", i+1), addrs[i], addrs, t.TempDir(), fast)
	}
	waitSettled(t, nodes, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	do := func(sys *System, key []byte, op paxos.Op) paxos.Result {
		t.Helper()
		res, err := sys.Strong(ctx, key, op)
		if err != nil || (res.Outcome != paxos.OutcomeOK && res.Outcome != paxos.OutcomeConditionFailed) {
			t.Fatalf("%v on %q: %+v %v", op.Kind, key, res, err)
		}
		return res
	}
	gone, live := skey("gone"), skey("live")
	w := do(nodes[0], gone, paxos.Op{Kind: paxos.OpPut, Data: []byte("v"), Cond: paxos.CondAbsent})
	del := do(nodes[1], gone, paxos.Op{Kind: paxos.OpDelete, Cond: paxos.CondVersion, Version: w.Value.Version})
	do(nodes[2], live, paxos.Op{Kind: paxos.OpPut, Data: []byte("stays")})
	// Every replica settles the delete (a read completes and commits it
	// everywhere it is not yet).
	do(nodes[2], gone, paxos.Op{Kind: paxos.OpGet})

	p := nodes[0].View().Ring.PartitionForKey(gone)
	// The replicas that hold the tombstone's state now, well within the
	// grace: each must drop it and count the drop. A voter that holds
	// nothing (a read answered by a majority need not commit to the
	// third) agrees to the drop without one.
	held := 0
	for _, sys := range nodes {
		if st, err := sys.store.AcceptorState(p, gone); err == nil && !st.Equal(paxos.State{}) {
			held++
		}
	}
	if held < 2 {
		t.Fatalf("the tombstone's state is on %d replicas, fewer than the majority that accepted it", held)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		dropped := 0
		for _, sys := range nodes {
			if st, err := sys.store.AcceptorState(p, gone); err == nil && st.Equal(paxos.State{}) {
				dropped++
			}
		}
		if dropped == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tombstone's acceptor state is on %d of 3 replicas after the grace", 3-dropped)
		}
		time.Sleep(50 * time.Millisecond)
	}
	lp := nodes[0].View().Ring.PartitionForKey(live)
	for _, sys := range nodes {
		if st, _ := sys.store.AcceptorState(lp, live); !st.Value.Exists {
			t.Fatalf("%s dropped a live register: %+v", sys.cfg.NodeID, st)
		}
		if f, _ := sys.store.AcceptorFloor(p); f.Less(del.Value.Version) {
			t.Fatalf("%s's floor %v is below the dropped tombstone's ballot %v", sys.cfg.NodeID, f, del.Value.Version)
		}
	}
	if n := nodes[0].Reaping().AcceptorStatesDropped + nodes[1].Reaping().AcceptorStatesDropped + nodes[2].Reaping().AcceptorStatesDropped; n < uint64(held) {
		t.Fatalf("%d acceptor states counted dropped, but %d replicas held one", n, held)
	}

	if got := do(nodes[1], gone, paxos.Op{Kind: paxos.OpGet}); got.Value.Exists {
		t.Fatalf("a dropped tombstone reads %+v", got)
	}
	// A delayed accept of the first write, from before the drop, is
	// refused by every replica: it is below their floor.
	old := w.Value.Version
	for _, sys := range nodes {
		view := sys.View()
		reply, err := sys.actors.Root.RequestFuture(view.localVnodePID(p), &internalpb.PaxosRequest{Partition: uint32(p), Key: gone,
			Kind: internalpb.PaxosKind_PAXOS_ACCEPT, Ballot: paxospb.BallotToProto(old), Value: paxospb.ValueToProto(w.Value),
			RequestId: 1, Sender: &internalpb.Sender{Node: old.Node, Incarnation: old.Incarnation}, Transition: view.Transition.Fingerprint}, 5*time.Second).Result()
		if err != nil {
			t.Fatal(err)
		}
		if r := reply.(*internalpb.PaxosReply); r.Ok || r.Error != "" {
			t.Fatalf("%s answered a proposal from before the drop with %v, want a refusal under its floor", sys.cfg.NodeID, r)
		}
	}
	if res := do(nodes[2], gone, paxos.Op{Kind: paxos.OpPut, Data: []byte("again"), Cond: paxos.CondAbsent}); res.Outcome != paxos.OutcomeOK {
		t.Fatalf("put-if-absent on a dropped register: %+v", res)
	}
	if got := do(nodes[0], gone, paxos.Op{Kind: paxos.OpGet}); string(got.Value.Data) != "again" {
		t.Fatalf("read after the new write: %+v", got)
	}
}

// A transfer or a rebuild raises the reader's floor to its source's, never
// lowers it, and a vnode restarted reads its floor back.
func TestCarriedFloorIsRaisedOnly(t *testing.T) {
	newVnode, _ := voterHarness(t)
	p := 3
	vn, ctx := newVnode(p)
	high := paxos.Ballot{Round: 900, Node: "n2", Incarnation: 7, Seq: 1}
	low := paxos.Ballot{Round: 100, Node: "n2", Incarnation: 7, Seq: 1}
	for _, f := range []paxos.Ballot{high, low} {
		ctx.out = nil
		ctx.deliver(t, vn, applyAcceptors{floor: f}, actor.NewPID(fuzzSelfAddr, "transfer"))
	}
	if got, err := vn.store.AcceptorFloor(p); err != nil || got != high {
		t.Fatalf("floor %v %v, want %v", got, err, high)
	}
	again, _ := newVnode(p)
	if again.floor != high {
		t.Fatalf("a restarted vnode's floor is %v, want %v", again.floor, high)
	}
	st, _, err := again.acceptorState(skey("never-written"))
	if err != nil || st.Promised != high {
		t.Fatalf("a register held nothing of reads %+v %v, want promised at the floor", st, err)
	}
}
