package actors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxospb"
	"github.com/harmoniakv/harmonia/cluster/ring"
	"github.com/harmoniakv/harmonia/cluster/vclock"
	"github.com/harmoniakv/harmonia/internal/faultfs"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"github.com/harmoniakv/harmonia/persistence"
)

// askAcceptor sends m to the vnode of m's key on sys and returns its reply.
// It fails the test with t.Fatalf, so it must be called from the test's
// goroutine; other goroutines use tryAskAcceptor.
func askAcceptor(t *testing.T, sys *System, m *internalpb.PaxosRequest) *internalpb.PaxosReply {
	t.Helper()
	r, err := tryAskAcceptor(sys, m)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryAskAcceptor is askAcceptor returning its error, for goroutines other
// than the test's (which must not call t.Fatalf).
func tryAskAcceptor(sys *System, m *internalpb.PaxosRequest) (*internalpb.PaxosReply, error) {
	res, err := sys.actors.Root.RequestFuture(actor.NewPID(sys.actors.Address(), vnodeName(int(m.Partition))), m, 5*time.Second).Result()
	if err != nil {
		return nil, fmt.Errorf("paxos %v: %w", m.Kind, err)
	}
	r, ok := res.(*internalpb.PaxosReply)
	if !ok {
		return nil, fmt.Errorf("paxos %v: a reply of type %T", m.Kind, res)
	}
	return r, nil
}

// ballotOf is a ballot of sys's own node.
func ballotOf(sys *System, round, seq uint64) paxos.Ballot {
	id := sys.store.Identity()
	return paxos.Ballot{Round: round, Node: id.NodeID, Incarnation: id.Incarnation, Seq: seq}
}

// paxosReq builds a request from sys's own node for key.
func paxosReq(sys *System, key string, kind internalpb.PaxosKind, b paxos.Ballot, v *paxos.Value) *internalpb.PaxosRequest {
	m := &internalpb.PaxosRequest{Partition: uint32(sys.View().Ring.PartitionForKey(skey(key))), Key: skey(key), Kind: kind,
		Ballot: paxospb.BallotToProto(b), RequestId: 42, Sender: sys.View().sender(), Transition: sys.View().Transition.Fingerprint}
	if v != nil {
		m.Value = paxospb.ValueToProto(*v)
	}
	return m
}

func replyBallot(t *testing.T, pb *internalpb.PaxosBallot) paxos.Ballot {
	t.Helper()
	b, err := paxospb.BallotFromProto(pb)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A vnode answers the acceptor's steps as paxos.State does, echoes the
// request, and keeps what it answered across a restart of the node.
func TestAcceptorVnodeStepsSurviveRestart(t *testing.T) {
	mem := vfs.NewMem()
	sys, stop := startOn(t, mem)
	b1, b2 := ballotOf(sys, 1, 10), ballotOf(sys, 2, 11)
	val := paxos.Value{Exists: true, Data: []byte("v1"), Version: b2}

	r := askAcceptor(t, sys, paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_PREPARE, b2, nil))
	if r.Error != "" || !r.Ok || replyBallot(t, r.Promised) != b2 || r.RequestId != 42 || r.Node != "n1" || replyBallot(t, r.Ballot) != b2 {
		t.Fatalf("prepare: %v", r)
	}
	r = askAcceptor(t, sys, paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_PREPARE, b1, nil))
	if r.Error != "" || r.Ok || replyBallot(t, r.Promised) != b2 {
		t.Fatalf("a prepare below the promise was not refused with it: %v", r)
	}
	old := paxos.Value{Exists: true, Data: []byte("v0"), Version: b1}
	r = askAcceptor(t, sys, paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_ACCEPT, b1, &old))
	if r.Error != "" || r.Ok || replyBallot(t, r.Promised) != b2 {
		t.Fatalf("an accept below the promise was not refused with it: %v", r)
	}
	r = askAcceptor(t, sys, paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_ACCEPT, b2, &val))
	if r.Error != "" || !r.Ok {
		t.Fatalf("accept: %v", r)
	}
	r = askAcceptor(t, sys, paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_READ, paxos.Ballot{}, nil))
	got, _ := paxospb.ValueFromProto(r.Value)
	if r.Error != "" || replyBallot(t, r.Accepted) != b2 || !got.Equal(val) || !replyBallot(t, r.Committed).IsZero() {
		t.Fatalf("read after accept: %v", r)
	}
	r = askAcceptor(t, sys, paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_COMMIT, b2, &val))
	if r.Error != "" || !r.Ok {
		t.Fatalf("commit: %v", r)
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	sys, _ = startOn(t, mem)
	st, err := sys.store.AcceptorState(sys.View().Ring.PartitionForKey(skey("k")), skey("k"))
	if err != nil || st.Promised != b2 || st.Accepted != b2 || st.Committed != b2 || !st.Value.Equal(val) {
		t.Fatalf("acceptor state after a restart: %+v %v", st, err)
	}
	r = askAcceptor(t, sys, paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_PREPARE, b1, nil))
	if r.Ok || replyBallot(t, r.Promised) != b2 {
		t.Fatalf("the restarted acceptor forgot its promise: %v", r)
	}
}

// Malformed or unwelcome requests get an error reply naming why, and
// change nothing.
func TestAcceptorVnodeRefusesMalformedRequests(t *testing.T) {
	sys := startSingle(t, t.TempDir())
	b := ballotOf(sys, 1, 1)
	val := paxos.Value{Exists: true, Data: []byte("v"), Version: b}
	other := func(m *internalpb.PaxosRequest) *internalpb.PaxosRequest {
		m.Partition = (m.Partition + 1) % uint32(sys.cfg.Partitions)
		return m
	}
	cases := []struct {
		name string
		req  *internalpb.PaxosRequest
		want string
	}{
		{"prepare without a ballot", paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_PREPARE, paxos.Ballot{}, nil), "missing ballot"},
		{"accept without a value", paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_ACCEPT, b, nil), "missing value"},
		{"commit without a ballot", paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_COMMIT, paxos.Ballot{}, &val), "missing ballot"},
		{"an empty key", paxosReq(sys, "", internalpb.PaxosKind_PAXOS_PREPARE, b, nil), "key is empty"},
		{"a key past the limit", paxosReq(sys, strings.Repeat("k", persistence.DefaultMaxKeySize+persistence.KeyRoom), internalpb.PaxosKind_PAXOS_PREPARE, b, nil), "key too large"},
		{"a value past the limit", paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_ACCEPT, b, &paxos.Value{Exists: true, Data: make([]byte, persistence.DefaultMaxValueSize+1), Version: b}), "value too large"},
		{"a value newer than its ballot", paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_ACCEPT, b, &paxos.Value{Exists: true, Data: []byte("v"), Version: ballotOf(sys, 2, 2)}), "above its ballot"},
		{"a value without a version", paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_COMMIT, b, &paxos.Value{Exists: true, Data: []byte("v")}), "without a version"},
		{"a tombstone with data", paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_ACCEPT, b, &paxos.Value{Data: []byte("x"), Version: b}), "does not exist carries data"},
		{"a ballot of another node", paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_PREPARE, paxos.Ballot{Round: 9, Node: "n2", Incarnation: 1}, nil), "not of its sender"},
		{"a ballot with a bad node id", paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_PREPARE, paxos.Ballot{Round: 9, Node: strings.Repeat("x", 200)}, nil), "node id"},
		{"a key of the default table (the eventual path's)", rawKey(paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_PREPARE, b, nil), sys, []byte("k")), "not of a strong table"},
		{"a key of an eventual table", rawKey(paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_PREPARE, b, nil), sys,
			catalog.Key(catalog.Table{ID: 3, Consistency: catalog.Eventual}, []byte("k"))), "not of a strong table"},
		{"a key of another partition", other(paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_PREPARE, b, nil)), "is in partition"},
		{"an unknown step", func() *internalpb.PaxosRequest {
			m := paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_PREPARE, b, nil)
			m.Kind = 17
			return m
		}(), "unknown paxos step"},
		{"a next ballot on a prepare", func() *internalpb.PaxosRequest {
			m := paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_PREPARE, b, nil)
			m.Next = paxospb.BallotToProto(paxos.Successor(b))
			return m
		}(), "only an accept carries a next ballot"},
		{"a next ballot that is not the accept's successor", func() *internalpb.PaxosRequest {
			m := paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_ACCEPT, b, &val)
			m.Next = paxospb.BallotToProto(ballotOf(sys, 50, 50))
			return m
		}(), "is not the successor"},
		{"a value whose previous version is not below its own", paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_ACCEPT, b,
			&paxos.Value{Exists: true, Data: []byte("v"), Version: b, Prev: b, HasPrev: true}), "not below the value's version"},
		{"a sender not in the cluster", func() *internalpb.PaxosRequest {
			m := paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_PREPARE, b, nil)
			m.Sender = &internalpb.Sender{Node: "ghost", Incarnation: 3}
			return m
		}(), "not a member"},
		{"no sender", func() *internalpb.PaxosRequest {
			m := paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_PREPARE, b, nil)
			m.Sender = nil
			return m
		}(), "unnamed sender"},
	}
	for _, c := range cases {
		r := askAcceptor(t, sys, c.req)
		if !strings.Contains(r.Error, c.want) || r.Ok || r.Promised != nil || r.Value != nil {
			t.Errorf("%s: reply %v, want an error with %q", c.name, r, c.want)
		}
	}
	// A value past today's limit, made by an earlier ballot (under a larger
	// limit), is completed, not refused: refusing it would leave the key
	// stuck for good.
	big := &paxos.Value{Exists: true, Data: make([]byte, persistence.DefaultMaxValueSize+1), Version: b}
	if r := askAcceptor(t, sys, paxosReq(sys, "big", internalpb.PaxosKind_PAXOS_ACCEPT, ballotOf(sys, 3, 3), big)); r.Error != "" || !r.Ok {
		t.Errorf("completing an older value past the limit: %v", r)
	}
	if st, err := sys.store.AcceptorState(sys.View().Ring.PartitionForKey(skey("k")), skey("k")); err != nil || !st.Promised.IsZero() {
		t.Fatalf("refused requests changed the state: %+v %v", st, err)
	}
}

// voterHarness runs a vnode of a 4-node cluster (N=3) on a context that
// records its answers, for partitions that this node is a voter of and
// one it is not.
func voterHarness(t *testing.T) (v func(p int) (*vnode, *fuzzContext), view *View) {
	t.Helper()
	opts := persistence.DefaultOptions()
	opts.Sync = false
	store, err := persistence.Open(t.TempDir(), fuzzSelf, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.SetAcceptorOrigin(membership.AcceptorsKept); err != nil { // no gossiper decides it here
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	statuses := map[string]string{"n1": ring.StatusNormal, "n2": ring.StatusNormal, "n3": ring.StatusNormal, "n4": ring.StatusNormal}
	tr, err := ring.NewTransition(statuses, fuzzPartitions, fuzzN)
	if err != nil {
		t.Fatal(err)
	}
	id := store.Identity()
	view = &View{membership.View{Self: fuzzSelf, Ring: tr.Current, Transition: tr, RingStatuses: statuses, N: fuzzN, Members: map[string]membership.Member{
		"n1": {ID: "n1", Status: membership.Up, Incarnation: id.Incarnation, ClusterAddr: fuzzSelfAddr},
		"n2": {ID: "n2", Status: membership.Up, Incarnation: 7, ClusterAddr: fuzzPeerAddr},
		"n3": {ID: "n3", Status: membership.Up, Incarnation: 7, ClusterAddr: "10.0.0.3:7000"},
		"n4": {ID: "n4", Status: membership.Up, Incarnation: 7, ClusterAddr: "10.0.0.4:7000"},
	}}}
	holder := &viewHolder{}
	holder.Store(view)
	return func(p int) (*vnode, *fuzzContext) {
		vn := &vnode{partition: p, store: store, view: holder, catalog: &catalogHolder{}, self: vclock.Actor{Node: id.NodeID, Incarnation: id.Incarnation},
			maxEntries: vclock.DefaultMaxEntries, counters: &vnodeCounters{}}
		ctx := newFuzzContext(actor.NewPID(fuzzSelfAddr, vnodeName(p)))
		ctx.deliver(t, vn, &actor.Started{}, nil)
		ctx.out = nil
		return vn, ctx
	}, view
}

// votedPartition is a partition this node votes on in view.
func votedPartition(t *testing.T, view *View) int {
	t.Helper()
	for q := 0; q < fuzzPartitions; q++ {
		if view.Transition.IsVoter(q, fuzzSelf) {
			return q
		}
	}
	t.Fatal("this node votes on no partition")
	return -1
}

// rawKey points m at key, in key's partition.
func rawKey(m *internalpb.PaxosRequest, sys *System, key []byte) *internalpb.PaxosRequest {
	m.Key, m.Partition = key, uint32(sys.View().Ring.PartitionForKey(key))
	return m
}

// skey is key in a strong table: the strong path takes no other. The
// empty key stays empty.
func skey(key string) []byte {
	if key == "" {
		return nil
	}
	return catalog.Key(catalog.Table{ID: catalog.FirstID, Consistency: catalog.Strong}, []byte(key))
}

// keyIn returns a strong key of partition p.
func keyIn(r *ring.Ring, p int) []byte {
	for i := 0; ; i++ {
		if k := skey(fmt.Sprint("key-", i)); r.PartitionForKey(k) == p {
			return k
		}
	}
}

// Only a partition's primaries vote: a node that is not one of them (a
// fallback, say) refuses every step, naming why; a voter answers.
func TestAcceptorNonVoterRefuses(t *testing.T) {
	newVnode, view := voterHarness(t)
	peer := &internalpb.Sender{Node: "n2", Incarnation: 7}
	b := paxos.Ballot{Round: 1, Node: "n2", Incarnation: 7, Seq: 1}
	voted, refused := 0, 0
	for p := 0; p < fuzzPartitions; p++ {
		vn, ctx := newVnode(p)
		ctx.deliver(t, vn, &internalpb.PaxosRequest{Partition: uint32(p), Key: keyIn(view.Ring, p), Kind: internalpb.PaxosKind_PAXOS_PREPARE,
			Ballot: paxospb.BallotToProto(b), Sender: peer, RequestId: 1, Transition: view.Transition.Fingerprint}, fuzzPeer)
		if len(ctx.out) != 1 {
			t.Fatalf("partition %d: %d answers", p, len(ctx.out))
		}
		r := ctx.out[0].msg.(*internalpb.PaxosReply)
		if view.Transition.IsVoter(p, fuzzSelf) {
			voted++
			if r.Error != "" || !r.Ok {
				t.Fatalf("partition %d: a voter answered %v", p, r)
			}
			continue
		}
		refused++
		if !strings.Contains(r.Error, "not a voter") || r.Ok {
			t.Fatalf("partition %d: a non-voter answered %v", p, r)
		}
		if st, _ := vn.store.AcceptorState(p, keyIn(view.Ring, p)); !st.Promised.IsZero() {
			t.Fatalf("partition %d: a non-voter promised", p)
		}
	}
	if voted == 0 || refused == 0 {
		t.Fatalf("voted in %d partitions, refused in %d: the ring exercised only one case", voted, refused)
	}
}

// An acceptor takes steps only from proposers in its own view of the ring
// transition: a request naming another transition (a phase before or
// after, or none) is refused with an error naming both, carries the
// acceptor's fingerprint for the proposer, and changes nothing.
func TestAcceptorRefusesAnotherTransition(t *testing.T) {
	newVnode, view := voterHarness(t)
	p := votedPartition(t, view)
	key := keyIn(view.Ring, p)
	peer := &internalpb.Sender{Node: "n2", Incarnation: 7}
	b := paxos.Ballot{Round: 1, Node: "n2", Incarnation: 7, Seq: 1}
	val := paxos.Value{Exists: true, Data: []byte("v"), Version: b}
	transition := func(statuses map[string]string) uint64 {
		tr, err := ring.NewTransition(statuses, fuzzPartitions, fuzzN)
		if err != nil {
			t.Fatal(err)
		}
		return tr.Fingerprint
	}
	// The harness's view: n1..n4 normal. A proposer a phase behind sees n4
	// joining; one two phases behind, n1..n3 alone.
	joining := transition(map[string]string{"n1": ring.StatusNormal, "n2": ring.StatusNormal, "n3": ring.StatusNormal, "n4": ring.StatusJoining})
	before := transition(map[string]string{"n1": ring.StatusNormal, "n2": ring.StatusNormal, "n3": ring.StatusNormal})
	ours := fmt.Sprintf("%016x", view.Transition.Fingerprint)
	cases := []struct {
		name       string
		kind       internalpb.PaxosKind
		transition uint64
		want       []string
	}{
		{"a prepare from a proposer a phase behind", internalpb.PaxosKind_PAXOS_PREPARE, joining, []string{fmt.Sprintf("%016x", joining), ours, view.Transition.Key}},
		{"an accept from a proposer two phases behind", internalpb.PaxosKind_PAXOS_ACCEPT, before, []string{fmt.Sprintf("%016x", before), ours}},
		{"a read from another view", internalpb.PaxosKind_PAXOS_READ, joining, []string{fmt.Sprintf("%016x", joining), ours}},
		{"a commit from another view", internalpb.PaxosKind_PAXOS_COMMIT, before, []string{fmt.Sprintf("%016x", before), ours}},
		{"a request naming no transition", internalpb.PaxosKind_PAXOS_PREPARE, 0, []string{"names no ring transition", ours}},
	}
	for _, c := range cases {
		vn, ctx := newVnode(p)
		m := &internalpb.PaxosRequest{Partition: uint32(p), Key: key, Kind: c.kind, Ballot: paxospb.BallotToProto(b), Sender: peer, RequestId: 3,
			Transition: c.transition}
		if c.kind == internalpb.PaxosKind_PAXOS_ACCEPT || c.kind == internalpb.PaxosKind_PAXOS_COMMIT {
			m.Value = paxospb.ValueToProto(val)
		}
		ctx.deliver(t, vn, m, fuzzPeer)
		if len(ctx.out) != 1 {
			t.Fatalf("%s: %d answers", c.name, len(ctx.out))
		}
		r := ctx.out[0].msg.(*internalpb.PaxosReply)
		for _, w := range c.want {
			if !strings.Contains(r.Error, w) {
				t.Errorf("%s: error %q does not name %q", c.name, r.Error, w)
			}
		}
		if r.Ok || r.Promised != nil || r.Value != nil || r.Transition != view.Transition.Fingerprint || r.RequestId != 3 {
			t.Errorf("%s: reply %v", c.name, r)
		}
		if st, _ := vn.store.AcceptorState(p, key); !st.Equal(paxos.State{}) {
			t.Fatalf("%s: the refused request changed the state: %+v", c.name, st)
		}
	}
	// The same prepare in the acceptor's view is promised.
	vn, ctx := newVnode(p)
	ctx.deliver(t, vn, &internalpb.PaxosRequest{Partition: uint32(p), Key: key, Kind: internalpb.PaxosKind_PAXOS_PREPARE, Ballot: paxospb.BallotToProto(b),
		Sender: peer, RequestId: 3, Transition: view.Transition.Fingerprint}, fuzzPeer)
	if r := ctx.out[0].msg.(*internalpb.PaxosReply); r.Error != "" || !r.Ok || r.Transition != 0 {
		t.Fatalf("a prepare of the acceptor's own view: %v", r)
	}
}

// Steps on one register within one batch see each other's staged state,
// and their answers wait for the batch: a prepare, an accept and a read
// delivered before the flush.
func TestAcceptorStepsOfOneBatchSeeEachOther(t *testing.T) {
	newVnode, view := voterHarness(t)
	p := votedPartition(t, view)
	vn, ctx := newVnode(p)
	key := keyIn(view.Ring, p)
	peer := &internalpb.Sender{Node: "n2", Incarnation: 7}
	b := paxos.Ballot{Round: 1, Node: "n2", Incarnation: 7, Seq: 1}
	val := paxos.Value{Exists: true, Data: []byte("v"), Version: b}
	req := func(kind internalpb.PaxosKind, id uint64) *internalpb.PaxosRequest {
		m := &internalpb.PaxosRequest{Partition: uint32(p), Key: key, Kind: kind, Ballot: paxospb.BallotToProto(b), Sender: peer, RequestId: id,
			Transition: view.Transition.Fingerprint}
		if kind == internalpb.PaxosKind_PAXOS_ACCEPT {
			m.Value = paxospb.ValueToProto(val)
		}
		return m
	}
	// Delivered without the mailbox's flush in between.
	for i, kind := range []internalpb.PaxosKind{internalpb.PaxosKind_PAXOS_PREPARE, internalpb.PaxosKind_PAXOS_ACCEPT, internalpb.PaxosKind_PAXOS_READ} {
		ctx.msg, ctx.sender = req(kind, uint64(i+1)), fuzzPeer
		vn.Receive(ctx)
	}
	if len(ctx.out) != 0 {
		t.Fatalf("answered before the batch was durable: %v", ctx.out)
	}
	if st, _ := vn.store.AcceptorState(p, key); !st.Promised.IsZero() {
		t.Fatal("stored before the flush")
	}
	ctx.msg, ctx.sender = flushVnode{}, nil
	vn.Receive(ctx)
	if len(ctx.out) != 3 {
		t.Fatalf("%d answers after the flush, want 3", len(ctx.out))
	}
	for i, o := range ctx.out {
		r := o.msg.(*internalpb.PaxosReply)
		if r.Error != "" || !r.Ok || r.RequestId != uint64(i+1) {
			t.Fatalf("answer %d: %v", i, r)
		}
	}
	read := ctx.out[2].msg.(*internalpb.PaxosReply)
	if got, _ := paxospb.ValueFromProto(read.Value); !got.Equal(val) {
		t.Fatalf("the read did not see the staged accept: %v", read)
	}
	if st, _ := vn.store.AcceptorState(p, key); st.Accepted != b || !st.Value.Equal(val) {
		t.Fatalf("stored after the flush: %+v", st)
	}
}

// Every promise and acceptance a vnode answered survives a crash of the
// node (its disk keeps only what was synced): the crash is taken while
// proposers are still sending.
func TestAcceptorAnsweredStateSurvivesCrash(t *testing.T) {
	mem := vfs.NewCrashableMem()
	sys, stopSys := startOn(t, mem)
	type acked struct {
		key    string
		ballot paxos.Ballot
		value  *paxos.Value // nil: promised only
	}
	var mu sync.Mutex
	var answered []acked
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d-%d", w, i%5) // registers written again and again
				b := ballotOf(sys, uint64(i+1), uint64(w*1_000_000+i))
				r, err := tryAskAcceptor(sys, paxosReq(sys, key, internalpb.PaxosKind_PAXOS_PREPARE, b, nil))
				if err != nil {
					t.Errorf("prepare %s %s: %v", key, b, err)
					return
				}
				if r.Error != "" || !r.Ok {
					t.Errorf("prepare %s %s: %v", key, b, r)
					return
				}
				mu.Lock()
				answered = append(answered, acked{key: key, ballot: b})
				mu.Unlock()
				val := paxos.Value{Exists: true, Data: []byte(fmt.Sprint(key, "@", i)), Version: b}
				r, err = tryAskAcceptor(sys, paxosReq(sys, key, internalpb.PaxosKind_PAXOS_ACCEPT, b, &val))
				if err != nil {
					t.Errorf("accept %s %s: %v", key, b, err)
					return
				}
				if r.Error != "" || !r.Ok {
					t.Errorf("accept %s %s: %v", key, b, r)
					return
				}
				mu.Lock()
				answered = append(answered, acked{key: key, ballot: b, value: &val})
				mu.Unlock()
			}
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(answered)
		mu.Unlock()
		if n >= 400 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d steps answered", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	before := append([]acked(nil), answered...) // answered before the crash below
	mu.Unlock()
	crashed := mem.CrashClone(vfs.CrashCloneCfg{})
	close(stop)
	wg.Wait()
	stopSys()

	sys, _ = startOn(t, crashed)
	for _, a := range before {
		p := sys.View().Ring.PartitionForKey(skey(a.key))
		st, err := sys.store.AcceptorState(p, skey(a.key))
		if err != nil {
			t.Fatal(err)
		}
		// Later steps may have moved the register on; never below what
		// was answered.
		if st.Promised.Less(a.ballot) {
			t.Fatalf("%s: promised %s after the crash, below the answered %s", a.key, st.Promised, a.ballot)
		}
		if a.value != nil && st.Accepted.Less(a.ballot) {
			t.Fatalf("%s: accepted %s after the crash, below the answered %s", a.key, st.Accepted, a.ballot)
		}
		if a.value != nil && st.Accepted == a.ballot && !bytes.Equal(st.Value.Data, a.value.Data) {
			t.Fatalf("%s: accepted %q at %s, answered %q", a.key, st.Value.Data, a.ballot, a.value.Data)
		}
	}
	t.Logf("%d answered steps survived the crash", len(before))
}

// One node, N=1: the strong operations end as the register says.
func TestStrongSingleNode(t *testing.T) {
	sys := startSingle(t, t.TempDir())
	ctx := context.Background()
	k := skey("k")
	do := func(op paxos.Op) paxos.Result {
		t.Helper()
		res, err := sys.Strong(ctx, k, op)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if r := do(paxos.Op{Kind: paxos.OpGet}); r.Outcome != paxos.OutcomeOK || r.Value.Exists {
		t.Fatalf("get of a new key: %+v", r)
	}
	put := do(paxos.Op{Kind: paxos.OpPut, Data: []byte("a"), Cond: paxos.CondAbsent})
	if put.Outcome != paxos.OutcomeOK || string(put.Value.Data) != "a" || put.Value.Version.IsZero() {
		t.Fatalf("put if absent: %+v", put)
	}
	if r := do(paxos.Op{Kind: paxos.OpPut, Data: []byte("b"), Cond: paxos.CondAbsent}); r.Outcome != paxos.OutcomeConditionFailed || string(r.Value.Data) != "a" {
		t.Fatalf("second put if absent: %+v", r)
	}
	got := do(paxos.Op{Kind: paxos.OpGet})
	if got.Outcome != paxos.OutcomeOK || !got.Value.Equal(put.Value) {
		t.Fatalf("get: %+v, want %+v", got, put.Value)
	}
	upd := do(paxos.Op{Kind: paxos.OpPut, Data: []byte("c"), Cond: paxos.CondVersion, Version: got.Value.Version})
	if upd.Outcome != paxos.OutcomeOK || string(upd.Value.Data) != "c" {
		t.Fatalf("put if version: %+v", upd)
	}
	if r := do(paxos.Op{Kind: paxos.OpDelete, Cond: paxos.CondVersion, Version: got.Value.Version}); r.Outcome != paxos.OutcomeConditionFailed {
		t.Fatalf("delete at a stale version: %+v", r)
	}
	if r := do(paxos.Op{Kind: paxos.OpDelete, Cond: paxos.CondVersion, Version: upd.Value.Version}); r.Outcome != paxos.OutcomeOK || r.Value.Exists {
		t.Fatalf("delete: %+v", r)
	}
	if r := do(paxos.Op{Kind: paxos.OpGet}); r.Outcome != paxos.OutcomeOK || r.Value.Exists || r.Value.Version.IsZero() {
		t.Fatalf("get after delete: %+v, want a tombstone", r)
	}
	if _, err := sys.Strong(ctx, nil, paxos.Op{Kind: paxos.OpGet}); err == nil {
		t.Fatal("a strong op on the empty key ran")
	}
	// The eventual path does not see the register.
	if g, err := sys.Get(ctx, GetRequest{Key: k}); err != nil || len(g.Siblings) != 0 {
		t.Fatalf("eventual get of a strong key: %v %v", g, err)
	}
}

// A step whose commit fails (the log's fsync fails) is answered with the
// error, never OK, and nothing answered before is lost.
func TestAcceptorNeverAnswersAFailedCommit(t *testing.T) {
	mem := vfs.NewCrashableMem()
	fs, fault := faultfs.Log(mem, faultfs.Fsync)
	sys, stopSys := startOn(t, fs)
	b1, b2 := ballotOf(sys, 1, 1), ballotOf(sys, 2, 2)
	if r := askAcceptor(t, sys, paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_PREPARE, b1, nil)); !r.Ok {
		t.Fatalf("prepare before the fault: %v", r)
	}
	fault.On()
	r := askAcceptor(t, sys, paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_PREPARE, b2, nil))
	if r.Ok || !strings.Contains(r.Error, "storage failed") || r.Promised != nil {
		t.Fatalf("prepare whose commit failed: %v", r)
	}
	crashed := mem.CrashClone(vfs.CrashCloneCfg{})
	fault.Off()
	stopSys()
	sys, _ = startOn(t, crashed)
	st, err := sys.store.AcceptorState(sys.View().Ring.PartitionForKey(skey("k")), skey("k"))
	if err != nil || st.Promised.Less(b1) {
		t.Fatalf("state after the crash: %+v %v, want at least the promise of %s", st, err, b1)
	}
}

// A node runs one proposer per key and queues its other requests for the
// key behind it: clients of one node never duel, so read-modify-write
// increments through it end OK or with a failed condition, never in
// contention, and the counter ends at exactly the increments that ended
// OK.
func TestStrongRequestsOfOneKeyQueueOnANode(t *testing.T) {
	sys := startSingle(t, t.TempDir())
	k := skey("counter")
	const clients, rounds = 16, 10
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for range rounds {
				got, err := sys.Strong(ctx, k, paxos.Op{Kind: paxos.OpGet})
				if err != nil || got.Outcome != paxos.OutcomeOK {
					t.Errorf("get: %+v %v", got, err)
					return
				}
				n, _ := strconv.Atoi(string(got.Value.Data))
				op := paxos.Op{Kind: paxos.OpPut, Data: []byte(strconv.Itoa(n + 1)), Cond: paxos.CondAbsent}
				if got.Value.Exists {
					op.Cond, op.Version = paxos.CondVersion, got.Value.Version
				}
				res, err := sys.Strong(ctx, k, op)
				switch {
				case err != nil:
					t.Errorf("increment: %v", err)
					return
				case res.Outcome == paxos.OutcomeOK:
					ok.Add(1)
				case res.Outcome != paxos.OutcomeConditionFailed:
					t.Errorf("increment ended %v (%s): a node's own requests dueled", res.Outcome, res.Why)
					return
				}
			}
		})
	}
	wg.Wait()
	got, err := sys.Strong(context.Background(), k, paxos.Op{Kind: paxos.OpGet})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(string(got.Value.Data)); int64(n) != ok.Load() || n == 0 {
		t.Fatalf("counter %d after %d successful increments", n, ok.Load())
	}
}

// A request that waits past its timeout behind others for its key ends
// without having run, and says so.
func TestStrongQueuedRequestTimesOut(t *testing.T) {
	sys := startSingle(t, t.TempDir())
	k := skey("slow")
	var wg sync.WaitGroup
	var timedOut atomic.Int64
	for range 64 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
			defer cancel()
			_, err := sys.Strong(ctx, k, paxos.Op{Kind: paxos.OpPut, Data: []byte("v")})
			if errors.Is(err, context.DeadlineExceeded) && strings.Contains(err.Error(), "did not run") {
				timedOut.Add(1)
			}
		})
	}
	wg.Wait()
	if timedOut.Load() == 0 {
		t.Fatal("no request of 64 with 1 ms each timed out waiting for the key")
	}
}

// A node that lost its acceptor state refuses every step until it has
// rebuilt, after its rebuild delay; alone in the cluster it has no peer to
// read, and then votes.
func TestLostAcceptorStateRefusesUntilRebuilt(t *testing.T) {
	const delay = 300 * time.Millisecond
	dir := t.TempDir()
	store, err := persistence.Open(dir, "n1", persistence.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.SetAcceptorOrigin(membership.AcceptorsLost); err != nil {
		t.Fatal(err)
	}
	store.Close()
	started := time.Now()
	sys := startSingleWith(t, dir, func(c *Config) { c.Handoff.RebuildDelay = delay; c.Handoff.RetryDelay = 20 * time.Millisecond })
	p := sys.View().Ring.PartitionForKey(skey("k"))
	r := askAcceptor(t, sys, paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_PREPARE, ballotOf(sys, 1, 1), nil))
	if wantErr := fmt.Sprintf("rebuilding acceptor state of partition %d", p); time.Since(started) < delay && !strings.Contains(r.Error, wantErr) {
		t.Fatalf("before the rebuild: %v, want a refusal with %q", r, wantErr)
	}
	deadline := time.Now().Add(10 * time.Second)
	for q := range sys.cfg.Partitions {
		for !sys.store.AcceptorsRebuilt(q) {
			if time.Now().After(deadline) {
				t.Fatalf("partition %d not rebuilt", q)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if time.Since(started) < delay {
		t.Fatalf("rebuilt %v after the start, before the delay of %v", time.Since(started), delay)
	}
	res, err := sys.Strong(context.Background(), skey("k"), paxos.Op{Kind: paxos.OpPut, Data: []byte("v")})
	if err != nil || res.Outcome != paxos.OutcomeOK {
		t.Fatalf("a write after the rebuild: %+v %v", res, err)
	}
}

// A new node whose seed list is only itself joins as a new member at once:
// it lost nothing, and votes without a rebuild.
func TestNodeSeededWithItselfKeepsItsAcceptorState(t *testing.T) {
	sys := startSingleWith(t, t.TempDir(), func(c *Config) {
		c.Gossip.Seeds = []string{c.ClusterAddr}
		c.Handoff.RebuildDelay = time.Hour
	})
	if o := sys.store.AcceptorOrigin(); o != membership.AcceptorsKept {
		t.Fatalf("acceptor origin %v, want kept", o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := sys.Strong(ctx, skey("k"), paxos.Op{Kind: paxos.OpPut, Data: []byte("v")})
	if err != nil || res.Outcome != paxos.OutcomeOK {
		t.Fatalf("a write: %+v %v", res, err)
	}
}

// A node that becomes a new voter of a partition in a ring transition
// (next replicas, not current) drops what it held of the partition
// before its first step there: a leftover from an earlier time it was a
// replica, which the other voters may have erased and dropped since. It
// does so once per transition: what it accepts in the transition stays,
// on a restart of the vnode too. A voter of the current replicas keeps
// its state.
func TestNewVoterDropsLeftoverAcceptorState(t *testing.T) {
	newVnode, stable := voterHarness(t)
	statuses := map[string]string{fuzzSelf: ring.StatusJoining, "n2": ring.StatusNormal, "n3": ring.StatusNormal, "n4": ring.StatusNormal}
	tr, err := ring.NewTransition(statuses, fuzzPartitions, fuzzN)
	if err != nil {
		t.Fatal(err)
	}
	p := -1
	for q := 0; q < fuzzPartitions && p < 0; q++ {
		if tr.NewVoter(q, fuzzSelf) && stable.Transition.IsVoter(q, fuzzSelf) {
			p = q
		}
	}
	if p < 0 {
		t.Fatal("no partition this node votes on now and newly in the join's transition")
	}
	key := keyIn(stable.Ring, p)
	peer := &internalpb.Sender{Node: "n2", Incarnation: 7}
	old := paxos.Ballot{Round: 5, Node: "n2", Incarnation: 7, Seq: 1}
	vn, ctx := newVnode(p)
	leftover := paxos.State{Promised: old, Accepted: old, Committed: old, Value: paxos.Value{Exists: true, Data: []byte("left over"), Version: old}}
	if err := vn.store.CommitBatch(nil, []persistence.AcceptorWrite{{Partition: p, Key: key, State: leftover}}); err != nil {
		t.Fatal(err)
	}
	read := func(vn *vnode, ctx *fuzzContext, transition uint64) paxos.Value {
		t.Helper()
		ctx.out = nil
		ctx.deliver(t, vn, &internalpb.PaxosRequest{Partition: uint32(p), Key: key, Kind: internalpb.PaxosKind_PAXOS_READ, Sender: peer, RequestId: 1, Transition: transition}, fuzzPeer)
		r := ctx.out[len(ctx.out)-1].msg.(*internalpb.PaxosReply)
		if r.Error != "" {
			t.Fatalf("read: %s", r.Error)
		}
		v, err := paxospb.ValueFromProto(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := read(vn, ctx, stable.Transition.Fingerprint); string(v.Data) != "left over" {
		t.Fatalf("a voter of the current replicas read %q, want its state", v.Data)
	}

	joining := *stable
	joining.Transition, joining.RingStatuses = tr, statuses
	vn.view.Store(&joining)
	if v := read(vn, ctx, tr.Fingerprint); v.Exists || !v.Version.IsZero() {
		t.Fatalf("a new voter answered its leftover %+v", v)
	}
	if vn.store.AcceptorsEntered(p).Transition != tr.Fingerprint || !old.Less(vn.floor) {
		t.Fatalf("entered %+v (want %x), floor %v (want above %v)", vn.store.AcceptorsEntered(p), tr.Fingerprint, vn.floor, old)
	}
	// What it accepts in the transition stays.
	b := paxos.Ballot{Round: vn.floor.Round + 10, Node: "n2", Incarnation: 7, Seq: 2}
	val := paxos.Value{Exists: true, Data: []byte("new"), Version: b}
	vote(t, vn, ctx, key, tr.Fingerprint, b, val, internalpb.PaxosKind_PAXOS_PREPARE, internalpb.PaxosKind_PAXOS_ACCEPT)
	if v := read(vn, ctx, tr.Fingerprint); string(v.Data) != "new" {
		t.Fatalf("read %q after an accept in the transition, want new", v.Data)
	}
	again, ctx2 := newVnode(p) // the vnode restarted, on the same store
	again.view.Store(&joining)
	if v := read(again, ctx2, tr.Fingerprint); string(v.Data) != "new" {
		t.Fatalf("a restarted vnode read %q, want new: it dropped again", v.Data)
	}
}

// Views that saw a join and a leave in different orders make a node new
// in one transition after it voted as one of the next replicas in the
// other, heading for the same ring: what it accepted there is current and
// stays (a majority of the next replicas may be all that holds a value
// chosen in the first), where a leftover from an earlier time is dropped.
func TestAVoterOfOverlappingRingChangesKeepsWhatItAccepted(t *testing.T) {
	newVnode, stable := voterHarness(t)
	base := map[string]string{fuzzSelf: ring.StatusNormal, "n2": ring.StatusNormal, "n3": ring.StatusNormal, "n4": ring.StatusNormal}
	var first, second *ring.Transition
	p := -1
	for _, moves := range [][2]string{{"n5", "n2"}, {"n5", "n3"}, {"n5", "n4"}, {"n6", "n2"}, {"n6", "n3"}, {"n6", "n4"}} {
		joiner, leaver := moves[0], moves[1]
		a, b := maps.Clone(base), maps.Clone(base)
		a[joiner], a[leaver] = ring.StatusJoining, ring.StatusLeaving // the leave seen before the join completed
		b[joiner], b[leaver] = ring.StatusNormal, ring.StatusLeaving  // and after
		ta, err := ring.NewTransition(a, fuzzPartitions, fuzzN)
		if err != nil {
			t.Fatal(err)
		}
		tb, err := ring.NewTransition(b, fuzzPartitions, fuzzN)
		if err != nil {
			t.Fatal(err)
		}
		for q := 0; q < fuzzPartitions && p < 0; q++ {
			if ta.EntryOf(q, fuzzSelf).Heading && tb.NewVoter(q, fuzzSelf) && stable.Transition.IsVoter(q, fuzzSelf) {
				p, first, second = q, ta, tb
			}
		}
		if p >= 0 {
			break
		}
	}
	if p < 0 {
		t.Fatal("no partition this node heads for in one order of a join and a leave and is new to in the other")
	}
	key := keyIn(stable.Ring, p)
	peer := &internalpb.Sender{Node: "n2", Incarnation: 7}
	vn, ctx := newVnode(p)
	in := func(tr *ring.Transition) {
		v := *stable
		v.Transition = tr
		vn.view.Store(&v)
	}
	in(first)
	b := paxos.Ballot{Round: 50, Node: "n2", Incarnation: 7, Seq: 1}
	val := paxos.Value{Exists: true, Data: []byte("chosen in the first"), Version: b}
	vote(t, vn, ctx, key, first.Fingerprint, b, val, internalpb.PaxosKind_PAXOS_PREPARE, internalpb.PaxosKind_PAXOS_ACCEPT, internalpb.PaxosKind_PAXOS_COMMIT)
	in(second)
	ctx.out = nil
	ctx.deliver(t, vn, &internalpb.PaxosRequest{Partition: uint32(p), Key: key, Kind: internalpb.PaxosKind_PAXOS_READ, Sender: peer, RequestId: 3, Transition: second.Fingerprint}, fuzzPeer)
	r := ctx.out[len(ctx.out)-1].msg.(*internalpb.PaxosReply)
	got, err := paxospb.ValueFromProto(r.Value)
	if r.Error != "" || err != nil || string(got.Data) != "chosen in the first" {
		t.Fatalf("in the second transition the voter reads %+v (%s %v), want what it accepted in the first", got, r.Error, err)
	}
	if e := vn.store.AcceptorsEntered(p); e.Transition != second.Fingerprint || e.Heading != second.EntryOf(p, fuzzSelf).Heading {
		t.Fatalf("entry %+v after its step in the second transition", e)
	}
}

// vote delivers the steps of one proposal (from n2, at ballot b, of val)
// to vn in the transition of that fingerprint, each durable before the
// next, and fails unless each is taken.
func vote(t *testing.T, vn *vnode, ctx *fuzzContext, key []byte, transition uint64, b paxos.Ballot, val paxos.Value, kinds ...internalpb.PaxosKind) {
	t.Helper()
	for _, kind := range kinds {
		m := &internalpb.PaxosRequest{Partition: uint32(vn.partition), Key: key, Kind: kind, Ballot: paxospb.BallotToProto(b),
			Sender: &internalpb.Sender{Node: "n2", Incarnation: 7}, RequestId: 2, Transition: transition}
		if kind != internalpb.PaxosKind_PAXOS_PREPARE {
			m.Value = paxospb.ValueToProto(val)
		}
		ctx.out = nil
		ctx.deliver(t, vn, m, fuzzPeer)
		vn.flush(ctx)
		if r := ctx.out[len(ctx.out)-1].msg.(*internalpb.PaxosReply); r.Error != "" || !r.Ok {
			t.Fatalf("%v in transition %016x: %v", kind, transition, r)
		}
	}
}

// A strong get whose read round finds the voters agreeing on a committed
// value is settled by that round, run from the caller without a proposer
// of its own; one whose round finds a value accepted but not committed
// goes to the coordinator, whose proposer completes that value before it
// answers (a value one read returns must not vanish from the next), after
// which the key's gets are settled by their read round again.
func TestStrongGetSettledByItsReadRoundOrCompletedFirst(t *testing.T) {
	sys := startSingle(t, t.TempDir())
	ctx := context.Background()
	do := func(op paxos.Op) paxos.Result {
		t.Helper()
		res, err := sys.Strong(ctx, skey("k"), op)
		if err != nil || res.Outcome != paxos.OutcomeOK {
			t.Fatalf("%v: %+v %v", op.Kind, res, err)
		}
		return res
	}
	rounds := func() uint64 { return sys.RequestCounts().StrongReadRounds }
	put := do(paxos.Op{Kind: paxos.OpPut, Data: []byte("a"), Cond: paxos.CondAbsent})
	before := rounds()
	if got := do(paxos.Op{Kind: paxos.OpGet}); !got.Value.Equal(put.Value) {
		t.Fatalf("get: %+v, want %+v", got.Value, put.Value)
	}
	if rounds() != before+1 {
		t.Fatalf("a get of a committed value: %d read rounds settled it, want 1", rounds()-before)
	}

	// The only voter accepts a newer value that nobody commits.
	b := ballotOf(sys, put.Value.Version.Round+1_000_000, 1)
	if r := askAcceptor(t, sys, paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_PREPARE, b, nil)); !r.Ok {
		t.Fatalf("prepare: %v", r)
	}
	inFlight := paxos.Value{Exists: true, Data: []byte("b"), Version: b}
	if r := askAcceptor(t, sys, paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_ACCEPT, b, &inFlight)); !r.Ok {
		t.Fatalf("accept: %v", r)
	}
	before = rounds()
	got := do(paxos.Op{Kind: paxos.OpGet})
	if !got.Value.Exists || string(got.Value.Data) != "b" {
		t.Fatalf("get with a value in flight: %+v, want the value in flight completed", got.Value)
	}
	if rounds() != before {
		t.Fatal("a get that found a value in flight was settled by its read round")
	}
	r := askAcceptor(t, sys, paxosReq(sys, "k", internalpb.PaxosKind_PAXOS_READ, paxos.Ballot{}, nil))
	if committed := replyBallot(t, r.Committed); committed.IsZero() || committed.Less(b) {
		t.Fatalf("after the get the register's committed ballot is %s, want the completed value's (at least %s)", committed, b)
	}
	if again := do(paxos.Op{Kind: paxos.OpGet}); !again.Value.Equal(got.Value) || rounds() != before+1 {
		t.Fatalf("the next get: %+v after %d read rounds, want %+v after 1", again.Value, rounds()-before, got.Value)
	}
}
