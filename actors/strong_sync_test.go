package actors

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxospb"
	"github.com/harmoniakv/harmonia/internal/testport"
	"github.com/harmoniakv/harmonia/internal/wallclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"github.com/harmoniakv/harmonia/persistence"
)

// A voter takes the settled states an exchange carries to it as commits,
// durable before it answers; it refuses, naming why and changing nothing,
// a message it cannot check: from a sender it does not admit, for another
// partition, with a register out of order or of another partition, a
// state not settled, or a value no proposer makes.
func TestAcceptorSyncTeachesCommitsAndRefusesWhatItCannotCheck(t *testing.T) {
	newVnode, view := voterHarness(t)
	p := votedPartition(t, view)
	vn, ctx := newVnode(p)
	key := keyIn(view.Ring, p)
	peer := &internalpb.Sender{Node: "n2", Incarnation: 7}
	b := paxos.Ballot{Round: 5, Node: "n2", Incarnation: 7, Seq: 1}
	val := paxos.Value{Exists: true, Data: []byte("v"), Version: b}
	settled := paxos.State{Promised: b, Accepted: b, Value: val, Committed: b}
	entry := func(k []byte, st paxos.State) *internalpb.AcceptorEntry {
		return &internalpb.AcceptorEntry{Key: k, State: paxospb.StateToProto(st)}
	}
	send := func(m *internalpb.AcceptorSync) string {
		t.Helper()
		ctx.out = nil
		ctx.deliver(t, vn, m, fuzzPeer)
		if len(ctx.out) != 1 {
			t.Fatalf("%d answers, want 1", len(ctx.out))
		}
		return ctx.out[0].msg.(*internalpb.HandoffApplyReply).Error
	}
	other := keyIn(view.Ring, (p+1)%fuzzPartitions)
	var later []byte // a key of p after key
	for i := 0; later == nil; i++ {
		if k := skey(fmt.Sprint("later-", i)); view.Ring.PartitionForKey(k) == p && bytes.Compare(k, key) > 0 {
			later = k
		}
	}
	unsettled := settled
	unsettled.Committed = paxos.Ballot{}
	badVersion := settled
	badVersion.Value.Version = paxos.Ballot{Round: 9, Node: "n2", Incarnation: 7, Seq: 2}
	refusals := []struct {
		rule string
		m    *internalpb.AcceptorSync
		why  string
	}{
		{"a sender of another incarnation is not admitted",
			&internalpb.AcceptorSync{Partition: uint32(p), Sender: &internalpb.Sender{Node: "n2", Incarnation: 8}, States: []*internalpb.AcceptorEntry{entry(key, settled)}}, "incarnation"},
		{"a message for another partition",
			&internalpb.AcceptorSync{Partition: uint32(p + 1), Sender: peer, States: []*internalpb.AcceptorEntry{entry(key, settled)}}, "sent to the vnode of partition"},
		{"a register of another partition",
			&internalpb.AcceptorSync{Partition: uint32(p), Sender: peer, States: []*internalpb.AcceptorEntry{entry(other, settled)}}, "is in partition"},
		{"registers out of order",
			&internalpb.AcceptorSync{Partition: uint32(p), Sender: peer, States: []*internalpb.AcceptorEntry{entry(later, settled), entry(key, settled)}}, "out of order"},
		{"a state not known chosen is never carried as a vote",
			&internalpb.AcceptorSync{Partition: uint32(p), Sender: peer, States: []*internalpb.AcceptorEntry{entry(key, unsettled)}}, "not settled"},
		{"a value whose version is above the ballot that chose it",
			&internalpb.AcceptorSync{Partition: uint32(p), Sender: peer, States: []*internalpb.AcceptorEntry{entry(key, badVersion)}}, "above its committed ballot"},
		{"a malformed state",
			&internalpb.AcceptorSync{Partition: uint32(p), Sender: peer, States: []*internalpb.AcceptorEntry{{Key: key}}}, "register"},
	}
	for _, r := range refusals {
		if why := send(r.m); !strings.Contains(why, r.why) {
			t.Fatalf("%s: answered %q, want an error naming %q", r.rule, why, r.why)
		}
		if st, err := vn.store.AcceptorState(p, key); err != nil || !st.Equal(paxos.State{}) {
			t.Fatalf("%s: the refused message changed the state: %+v %v", r.rule, st, err)
		}
	}

	if why := send(&internalpb.AcceptorSync{Partition: uint32(p), Sender: peer, States: []*internalpb.AcceptorEntry{entry(key, settled), entry(later, settled)}}); why != "" {
		t.Fatalf("a settled state was refused: %s", why)
	}
	for _, k := range [][]byte{key, later} {
		st, err := vn.store.AcceptorState(p, k)
		if err != nil || st.Committed != b || st.Accepted != b || !st.Value.Equal(val) {
			t.Fatalf("after the sync, %q holds %+v %v, want the committed value", k, st, err)
		}
	}
	// A sync never lowers what the acceptor holds: an older commit leaves it.
	older := paxos.Ballot{Round: 2, Node: "n2", Incarnation: 7, Seq: 3}
	if why := send(&internalpb.AcceptorSync{Partition: uint32(p), Sender: peer, States: []*internalpb.AcceptorEntry{
		entry(key, paxos.State{Promised: older, Accepted: older, Value: paxos.Value{Exists: true, Data: []byte("old"), Version: older}, Committed: older})}}); why != "" {
		t.Fatalf("an older settled state was refused: %s", why)
	}
	if st, _ := vn.store.AcceptorState(p, key); !st.Value.Equal(val) || st.Committed != b {
		t.Fatalf("an older commit lowered the state to %+v", st)
	}
}

// Strong keys written while a replica was down reach it through
// anti-entropy alone, without a client reading them; a proposal that one
// acceptor holds accepted but that no voter knows chosen, past the stale
// age, is completed and settled on every voter; a second exchange finds
// nothing left to do.
func TestExchangeRepairsStrongKeys(t *testing.T) {
	if raceEnabled {
		t.Skip("three actor systems in one process trip the race detector inside protoactor (PROTOACTOR-NOTES)")
	}
	addrs := []string{testport.For(t), testport.For(t), testport.For(t)}
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	noSchedule := func(c *Config) { c.Repair.Interval = 0 }
	nodes := make([]*System, 3)
	for i := range nodes {
		nodes[i] = startStrongNode(t, fmt.Sprintf("s%d", i+1), addrs[i], addrs, dirs[i], noSchedule)
	}
	waitSettled(t, nodes, 3)

	stopNode(nodes[2])
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var keys [][]byte
	for i := range 20 {
		k := skey(fmt.Sprint("missed-", i))
		res, err := nodes[i%2].Strong(ctx, k, paxos.Op{Kind: paxos.OpPut, Data: []byte(fmt.Sprint("v", i))})
		if err != nil || res.Outcome != paxos.OutcomeOK {
			t.Fatalf("put %q with s3 down: %+v %v", k, res, err)
		}
		keys = append(keys, k)
	}
	nodes[2] = startStrongNode(t, "s3", addrs[2], addrs, dirs[2], noSchedule)
	waitSettled(t, nodes, 3)
	ring := nodes[0].View().Ring
	// The remote layer may still deliver, once s3 is back, a commit it
	// could not send while s3 was down (s3 learns it: a chosen value), so
	// only the keys s3 lacks now are the exchanges' to teach; and keys
	// whose commits s3 surely missed are written straight into s1's and
	// s2's acceptor states, settled, as a round that chose them there and
	// whose commit to s3 was lost would leave them.
	missed := 0
	for _, k := range keys {
		if st, err := nodes[2].store.AcceptorState(ring.PartitionForKey(k), k); err != nil {
			t.Fatal(err)
		} else if st.Accepted.IsZero() {
			missed++
		}
	}
	s1 := nodes[0].store.Identity()
	for i := range 10 {
		k := skey(fmt.Sprint("lost-commit-", i))
		b := paxos.Ballot{Round: uint64(wallclock.Now().UnixMicro()), Node: s1.NodeID, Incarnation: s1.Incarnation, Seq: 1<<41 + uint64(i)}
		st := paxos.State{Promised: b, Accepted: b, Committed: b, Value: paxos.Value{Exists: true, Data: []byte(fmt.Sprint("lost-", i)), Version: b}}
		for _, sys := range nodes[:2] {
			if err := sys.store.CommitBatch(nil, []persistence.AcceptorWrite{{Partition: ring.PartitionForKey(k), Key: k, State: st}}); err != nil {
				t.Fatal(err)
			}
		}
		keys = append(keys, k)
		missed++
	}

	// A proposal s1 alone accepted two minutes ago, whose proposer died
	// before its commit: no voter knows whether it was chosen.
	stuck := skey("stuck")
	sp := ring.PartitionForKey(stuck)
	id := nodes[0].store.Identity()
	old := paxos.Ballot{Round: uint64(wallclock.Now().Add(-2 * time.Minute).UnixMicro()), Node: id.NodeID, Incarnation: id.Incarnation, Seq: 1 << 40}
	stuckVal := paxos.Value{Exists: true, Data: []byte("maybe"), Version: old}
	if err := nodes[0].store.CommitBatch(nil, []persistence.AcceptorWrite{{Partition: sp, Key: stuck,
		State: paxos.State{Promised: old, Accepted: old, Value: stuckVal}}}); err != nil {
		t.Fatal(err)
	}

	results, err := nodes[0].Repair(-1, "", 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var taught, completed uint64
	for _, r := range results {
		if r.Err != nil {
			t.Fatalf("exchange of partition %d with %s: %v", r.Partition, r.Peer, r.Err)
		}
		taught += r.AcceptorsRemote + r.AcceptorsLocal
		completed += r.AcceptorsCompleted
	}
	if taught < uint64(missed) || completed != 1 {
		t.Fatalf("the exchanges taught %d committed values (want at least the %d s3 missed) and completed %d proposals (want 1)", taught, missed, completed)
	}
	for _, k := range keys {
		p := ring.PartitionForKey(k)
		want, err := nodes[0].store.AcceptorState(p, k)
		if err != nil {
			t.Fatal(err)
		}
		got, err := nodes[2].store.AcceptorState(p, k)
		if err != nil || !got.Settled() || got.Committed != want.Committed || !got.Value.Equal(want.Value) {
			t.Fatalf("s3 holds %q as %+v %v, want s1's committed %+v", k, got, err, want)
		}
	}
	for _, sys := range nodes {
		st, err := sys.store.AcceptorState(sp, stuck)
		if err != nil || !st.Settled() || st.Committed.IsZero() {
			t.Fatalf("%s holds the stale proposal's register as %+v %v, want it settled", sys.cfg.NodeID, st, err)
		}
	}

	again, err := nodes[0].Repair(-1, "", 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range again {
		if r.Err != nil || r.AcceptorsLocal+r.AcceptorsRemote+r.AcceptorsCompleted > 0 {
			t.Fatalf("a second exchange of partition %d with %s still did something: %+v", r.Partition, r.Peer, r)
		}
	}
}

// With held ballots on, a node's next write of a key it wrote last starts
// at the ballot its last accept promised (one round trip), and a held
// ballot gone stale (another node wrote since) costs a round, never the
// write.
func TestHeldBallotsSkipThePrepare(t *testing.T) {
	if raceEnabled {
		t.Skip("three actor systems in one process trip the race detector inside protoactor (PROTOACTOR-NOTES)")
	}
	addrs := []string{testport.For(t), testport.For(t), testport.For(t)}
	held := func(c *Config) { c.Coordinator.Strong.HeldBallots = 16 }
	nodes := make([]*System, 3)
	for i := range nodes {
		nodes[i] = startStrongNode(t, fmt.Sprintf("s%d", i+1), addrs[i], addrs, t.TempDir(), held)
	}
	waitSettled(t, nodes, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	do := func(sys *System, op paxos.Op) paxos.Result {
		t.Helper()
		res, err := sys.Strong(ctx, skey("held"), op)
		if err != nil || res.Outcome != paxos.OutcomeOK {
			t.Fatalf("%v: %+v %v", op.Kind, res, err)
		}
		return res
	}
	w1 := do(nodes[0], paxos.Op{Kind: paxos.OpPut, Data: []byte("one")})
	w2 := do(nodes[0], paxos.Op{Kind: paxos.OpPut, Data: []byte("two"), Cond: paxos.CondVersion, Version: w1.Value.Version})
	if w2.Value.Version != paxos.Successor(w1.Value.Version) {
		t.Fatalf("the second write's version %v is not the ballot the first one held (%v): it prepared", w2.Value.Version, paxos.Successor(w1.Value.Version))
	}
	other := do(nodes[1], paxos.Op{Kind: paxos.OpPut, Data: []byte("other")})
	w3 := do(nodes[0], paxos.Op{Kind: paxos.OpPut, Data: []byte("three")})
	if !other.Value.Version.Less(w3.Value.Version) || !w3.Value.HasPrev || w3.Value.Prev != other.Value.Version {
		t.Fatalf("the write after a stale held ballot: %+v (the other node wrote %+v)", w3.Value, other.Value)
	}
	if got := do(nodes[2], paxos.Op{Kind: paxos.OpGet}); string(got.Value.Data) != "three" {
		t.Fatalf("read %+v", got.Value)
	}
}
