package actors

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/ring"
	"github.com/harmoniakv/harmonia/internal/testport"
	"github.com/harmoniakv/harmonia/persistence"
)

// A node that stops being a replica of a partition keeps its acceptor
// states; if the key is deleted and its state dropped meanwhile, and the
// node then becomes a replica again, its stale value must not come back.
func TestReturningReplicaDoesNotResurrectADroppedKey(t *testing.T) {
	if raceEnabled {
		t.Skip("four actor systems in one process trip the race detector inside protoactor (PROTOACTOR-NOTES)")
	}
	fast := func(c *Config) {
		c.Reap.Grace, c.Reap.Interval, c.Reap.Settle = 500*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond
	}
	addrs := []string{testport.For(t), testport.For(t), testport.For(t), testport.For(t)}
	nodes := make([]*System, 3)
	for i := range nodes {
		nodes[i] = startStrongNode(t, fmt.Sprintf("s%d", i+1), addrs[i], addrs[:3], t.TempDir(), fast)
	}
	waitSettled(t, nodes, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	do := func(sys *System, key []byte, op paxos.Op) paxos.Result {
		t.Helper()
		res, err := sys.Strong(ctx, key, op)
		if err != nil || (res.Outcome != paxos.OutcomeOK && res.Outcome != paxos.OutcomeConditionFailed) {
			t.Fatalf("%v on %q through %s: %+v %v", op.Kind, key, sys.cfg.NodeID, res, err)
		}
		return res
	}
	var keys [][]byte
	for i := range 40 {
		k := skey(fmt.Sprint("k", i))
		do(nodes[i%3], k, paxos.Op{Kind: paxos.OpPut, Data: []byte("stale")})
		keys = append(keys, k)
	}
	s4 := startStrongNode(t, "s4", addrs[3], addrs[:3], t.TempDir(), fast)
	all := append(slices.Clone(nodes), s4)
	waitSettled(t, all, 4)
	// The keys whose replicas no longer include one of s1..s3: delete them
	// through their new replicas and wait until every replica dropped them.
	r := s4.View().Ring
	type away struct {
		key  []byte
		node string
	}
	var gone []away
	for _, k := range keys {
		pref := r.PreferenceListForPartition(r.PartitionForKey(k), 3)
		for _, sys := range nodes {
			if !slices.Contains(pref, sys.cfg.NodeID) {
				gone = append(gone, away{key: k, node: sys.cfg.NodeID})
				do(s4, k, paxos.Op{Kind: paxos.OpDelete})
			}
		}
	}
	if len(gone) == 0 {
		t.Fatal("no key moved away from s1, s2 or s3")
	}
	// Wait until their replicas dropped every one of them, or at least
	// some: the reaper may take a round longer for a key (a reap round
	// waits up to reapRoundLimit on a replica), and the keys dropped are
	// the ones the test is about.
	droppedEverywhere := func(g away) bool {
		p := r.PartitionForKey(g.key)
		for _, id := range r.PreferenceListForPartition(p, 3) {
			sys := all[slices.IndexFunc(all, func(s *System) bool { return s.cfg.NodeID == id })]
			if st, err := sys.store.AcceptorState(p, g.key); err != nil || !st.Equal(paxos.State{}) {
				return false
			}
		}
		return true
	}
	var dropped []away
	deadline, first := time.Now().Add(60*time.Second), time.Time{}
	for ; ; time.Sleep(50 * time.Millisecond) {
		dropped = slices.DeleteFunc(slices.Clone(gone), func(g away) bool { return !droppedEverywhere(g) })
		if len(dropped) == len(gone) {
			break
		}
		if len(dropped) > 0 && first.IsZero() {
			first = time.Now()
		}
		if !first.IsZero() && time.Since(first) > 10*time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("none of the %d deleted keys was dropped by its replicas", len(gone))
		}
	}
	t.Logf("%d of %d deleted keys dropped by their replicas", len(dropped), len(gone))
	s4.Leave()
	waitUntil(t, 60*time.Second, "s4 left", func() bool { return nodes[0].View().RingStatuses["s4"] == ring.StatusLeft })
	stopNode(s4)
	waitSettled(t, nodes, 3)
	for _, g := range dropped {
		for range 5 {
			for _, sys := range nodes {
				if got := do(sys, g.key, paxos.Op{Kind: paxos.OpGet}); got.Value.Exists {
					t.Fatalf("%q, deleted and dropped while %s was not its replica, reads %q through %s once %s is its replica again", g.key, g.node, got.Value.Data, sys.cfg.NodeID, g.node)
				}
			}
		}
	}
}

// A vnode told to drop a partition it is no longer a replica of drops its
// acceptor states too, raising the floor above their promises: a proposal
// from before is refused, and a register it held reads as nothing.
func TestDropPartitionDropsAcceptorStates(t *testing.T) {
	newVnode, view := voterHarness(t)
	p := votedPartition(t, view)
	vn, ctx := newVnode(p)
	key := keyIn(view.Ring, p)
	b := paxos.Ballot{Round: 5, Node: "n2", Incarnation: 7, Seq: 1}
	st := paxos.State{Promised: b, Accepted: b, Value: paxos.Value{Exists: true, Data: []byte("stale"), Version: b}, Committed: b}
	if err := vn.store.CommitBatch(nil, []persistence.AcceptorWrite{{Partition: p, Key: key, State: st}}); err != nil {
		t.Fatal(err)
	}
	ctx.deliver(t, vn, dropPartition{}, nil)
	if got, err := vn.store.AcceptorState(p, key); err != nil || !got.Equal(paxos.State{}) {
		t.Fatalf("after the drop the register holds %+v %v", got, err)
	}
	floor, err := vn.store.AcceptorFloor(p)
	if err != nil || !b.Less(floor) {
		t.Fatalf("floor %v %v, want above the dropped promise %v", floor, err, b)
	}
	if got, _, err := vn.acceptorState(key); err != nil || got.Promised != floor || !got.Accepted.IsZero() {
		t.Fatalf("the vnode reads the register as %+v %v, want nothing under the floor", got, err)
	}
}
