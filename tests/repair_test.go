package tests

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"google.golang.org/grpc/codes"
)

func runRepair(t *testing.T, nd *node) *kvpb.RepairResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := nd.client.Admin().Repair(ctx, &kvpb.RepairRequest{Partition: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range res.Exchanges {
		if x.Error != "" {
			t.Fatalf("exchange of partition %d with %s: %s", x.Partition, x.Peer, x.Error)
		}
	}
	return res
}

// A quiet cluster's replicas are identical: an exchange sends only the
// roots and moves nothing.
func TestRepairOfQuietClusterMovesNothing(t *testing.T) {
	c := startCluster(t, 3, "--repair-interval", "0")
	// The test-only path that makes replicas diverge is refused by default.
	_, err := c.nodes[0].client.Admin().WriteReplica(ctxT(t), &kvpb.WriteReplicaRequest{Key: []byte("k"), Value: []byte("v")})
	if client.Code(err) != codes.FailedPrecondition {
		t.Fatalf("WriteReplica without --unsafe-test-writes: %v, want FailedPrecondition", err)
	}
	acked := &ackedSet{m: map[string]string{}}
	load(t, c.nodes, "quiet-", 500, acked)
	c.eventually(10*time.Second, "quiet cluster compares only roots", func() error {
		res := runRepair(t, c.nodes[0])
		for _, x := range res.Exchanges {
			if x.Hashes != 1 || x.KeysLocal+x.KeysRemote != 0 || x.Bytes != 0 {
				return fmt.Errorf("partition %d with %s: %d hashes, %d+%d keys, %d bytes", x.Partition, x.Peer, x.Hashes, x.KeysLocal, x.KeysRemote, x.Bytes)
			}
		}
		if len(res.Exchanges) != 2*64 {
			return fmt.Errorf("%d exchanges, want 128 (64 partitions x 2 peers)", len(res.Exchanges))
		}
		return nil
	})
}

// A node whose data directory is wiped comes back empty (a new incarnation)
// and is filled again by anti-entropy alone: no client reads, no hints.
func TestWipedNodeHealsByAntiEntropy(t *testing.T) {
	c := startCluster(t, 3, "--repair-interval", "5s", "--hint-replay=false")
	acked := &ackedSet{m: map[string]string{}}
	const keys = 5000
	var all []*node = c.nodes
	load(t, all, "aae-", keys, acked)
	n3 := c.nodes[2]
	// Every key was acknowledged by at least two replicas, so after the wipe
	// at least one peer holds it: what n3 gets back comes from them.
	c.kill(n3)
	if err := os.RemoveAll(n3.dataDir); err != nil {
		t.Fatal(err)
	}
	// Restart without --join: it is not a new member joining (which would
	// pull its partitions by handoff) but the same member with its disk lost.
	n3.args = slices.DeleteFunc(slices.Clone(n3.args), func(a string) bool { return a == "--join" || a == c.nodes[0].clusterAddr })
	start := time.Now()
	c.start(n3)
	c.waitAllUp()

	values := acked.snapshot()
	c.eventually(120*time.Second, "every key back on n3", func() error {
		m, first := forEachKey(values, func(k, v string) error {
			vals, err := readReplicas(c.nodes[0], k)
			if err != nil {
				return err
			}
			if got := vals["n3"]; !slices.Equal(got, []string{v}) {
				return fmt.Errorf("%s: n3 holds %v", k, got)
			}
			return nil
		})
		if m > 0 {
			return fmt.Errorf("%d of %d keys missing on n3; first: %v", m, keys, first)
		}
		return nil
	})
	t.Logf("wiped n3 whole again %v after its restart", time.Since(start).Round(time.Second))
	// Every partition's trees now agree: a repair compares only roots.
	res := runRepair(t, n3)
	for _, x := range res.Exchanges {
		if x.Hashes != 1 {
			t.Fatalf("partition %d: n3 and %s still differ (%d hashes compared)", x.Partition, x.Peer, x.Hashes)
		}
	}
}

// versions lists each replica's siblings of key as value@dot (tombstones as
// "(tombstone)@dot"), sorted: two replicas with equal lists hold the same
// versions.
func versions(t *testing.T, nd *node, key string) map[string][]string {
	t.Helper()
	out, err := replicaSiblings(nd, key, func(s *kvpb.ReplicaSibling) string {
		return fmt.Sprintf("%s@%s/%d/%d", valueOrTombstone(s), s.Dot.Node, s.Dot.Incarnation, s.Dot.Counter)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, vs := range out {
		slices.Sort(vs)
	}
	return out
}

func valuesOf(vs []string) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, v[:strings.LastIndex(v, "@")])
	}
	return out
}

// Replicas made to diverge one by one (missing, stale and concurrent
// versions, a delete on one replica) hold the same versions after
// anti-entropy: concurrent versions kept as siblings, stale ones superseded.
func TestDivergentReplicasConverge(t *testing.T) {
	c := startCluster(t, 3, "--unsafe-test-writes", "--repair-interval", "0", "--hint-replay=false")
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	all := client.Options{Quorum: "all"}
	writeOne := func(nd *node, key, value string, causal []byte, del bool) []byte {
		t.Helper()
		res, err := nd.client.Admin().WriteReplica(ctxT(t), &kvpb.WriteReplicaRequest{Key: []byte(key), Value: []byte(value), Context: causal, Delete: del})
		if err != nil {
			t.Fatal(err)
		}
		return res.Context
	}
	putAll := func(key, value string) []byte {
		t.Helper()
		causal, err := n1.client.Put(ctxT(t), []byte(key), []byte(value), nil, all)
		if err != nil {
			t.Fatal(err)
		}
		return causal
	}

	want := map[string][]string{} // key -> values every replica must end with
	writeOne(n1, "missing", "only-on-n1", nil, false)
	want["missing"] = []string{"only-on-n1"}

	writeOne(n2, "stale", "v2", putAll("stale", "v1"), false)
	want["stale"] = []string{"v2"}

	writeOne(n1, "concurrent", "left", nil, false)
	writeOne(n3, "concurrent", "right", nil, false)
	want["concurrent"] = []string{"left", "right"}

	base := putAll("forked", "base")
	writeOne(n1, "forked", "a", base, false)
	writeOne(n2, "forked", "b", base, false)
	want["forked"] = []string{"a", "b"}

	writeOne(n3, "deleted-on-n3", "", putAll("deleted-on-n3", "x"), true)
	want["deleted-on-n3"] = []string{"(tombstone)"}

	const bulk = 300
	for i := 0; i < bulk; i++ {
		k := fmt.Sprintf("bulk-%03d", i)
		writeOne(c.nodes[i%3], k, k, nil, false)
		want[k] = []string{k}
	}
	// Divergent as intended: "concurrent" differs on all three replicas.
	if vs := versions(t, n1, "concurrent"); len(vs) != 3 || len(vs["n1"]) != 1 || len(vs["n2"]) != 0 || len(vs["n3"]) != 1 {
		t.Fatalf("before repair (every replica must answer): %v", vs)
	}

	var moved, bytes uint64
	c.eventually(60*time.Second, "every replica pair agreeing on every partition", func() error {
		differing := 0
		for _, nd := range c.nodes {
			for _, x := range runRepair(t, nd).Exchanges {
				moved += x.KeysLocal + x.KeysRemote
				bytes += x.Bytes
				if x.Hashes != 1 {
					differing++
				}
			}
		}
		if differing > 0 {
			return fmt.Errorf("%d exchanges still found differences", differing)
		}
		return nil
	})
	t.Logf("anti-entropy moved %d keys, %d bytes", moved, bytes)
	for key, values := range want {
		vs := versions(t, n1, key)
		for _, nd := range []*node{n1, n2, n3} {
			if !slices.Equal(vs[nd.id], vs["n1"]) {
				t.Fatalf("%s: replicas differ: %v", key, vs)
			}
		}
		if got := valuesOf(vs["n1"]); !slices.Equal(got, values) {
			t.Fatalf("%s: replicas hold %v, want %v", key, vs["n1"], values)
		}
	}
	// The repair counters account for the work: at least every copy that
	// was missing above was moved.
	if minMoves := uint64(2 + 2 + 3 + 3 + 2 + 2*bulk); moved < minMoves {
		t.Errorf("anti-entropy moved %d keys, fewer than the %d copies that were missing", moved, minMoves)
	}
}

// An exchange that crashes halfway through its writes is stopped by its
// supervisor and started again from the roots; what it wrote before the
// crash were whole merges, so the replicas still converge exactly.
func TestCrashedExchangeStartsAgain(t *testing.T) {
	c := startCluster(t, 3, "--unsafe-test-writes", "--repair-interval", "0", "--hint-replay=false", "--partitions", "8")
	n1 := c.nodes[0]
	c.kill(n1)
	// 8 partitions: each exchange writes about 50 keys to its peer, so the
	// 20th acknowledged write lands in the middle of the first one.
	n1.env = []string{"HARMONIA_FAULT_EXCHANGE_PANIC_AFTER=20"}
	c.start(n1)
	c.waitAllUp()
	const keys = 400
	for i := 0; i < keys; i++ {
		k := fmt.Sprintf("crash-%03d", i)
		if _, err := n1.client.Admin().WriteReplica(ctxT(t), &kvpb.WriteReplicaRequest{Key: []byte(k), Value: []byte(k)}); err != nil {
			t.Fatal(err)
		}
	}
	res := runRepair(t, n1)
	var moved uint64
	for _, x := range res.Exchanges {
		moved += x.KeysRemote
	}
	st, err := c.status(n1)
	if err != nil {
		t.Fatal(err)
	}
	if st.Repair.GetExchangesRestarted() != 1 {
		t.Fatalf("%d exchanges restarted, want 1 (the fault fires once)", st.Repair.GetExchangesRestarted())
	}
	if log, _ := os.ReadFile(n1.log.Name()); !strings.Contains(string(log), "fault injected") {
		t.Fatal("no exchange crashed")
	}
	// The restarted exchange moved only what the crashed one had not.
	if moved >= 2*keys {
		t.Errorf("the exchanges that completed moved %d keys, want fewer than %d", moved, 2*keys)
	}
	for i := 0; i < keys; i++ {
		k := fmt.Sprintf("crash-%03d", i)
		vs := versions(t, n1, k)
		if len(vs["n1"]) != 1 || !slices.Equal(vs["n2"], vs["n1"]) || !slices.Equal(vs["n3"], vs["n1"]) {
			t.Fatalf("%s: replicas differ after the repair: %v", k, vs)
		}
	}
	for _, x := range runRepair(t, n1).Exchanges {
		if x.Hashes != 1 {
			t.Fatalf("partition %d: n1 and %s still differ", x.Partition, x.Peer)
		}
	}
}

// A node restarted with an empty data directory and --join, under the id
// of a normal member, takes its place in the ring back rather than joining
// anew: the ring does not change, no partition is transferred (a joining
// node would leave the current ring, which the claim reshuffles onto nodes
// that hold nothing), and it copies its replicas back from the others by
// itself, with periodic anti-entropy off.
func TestWipedNodeTakesItsPlaceBack(t *testing.T) {
	c := startCluster(t, 4, "--repair-interval", "0")
	acked := &ackedSet{m: map[string]string{}}
	const keys = 2000
	load(t, c.nodes, "back-", keys, acked)
	n2 := c.nodes[1]
	before, err := c.status(c.nodes[0])
	if err != nil {
		t.Fatal(err)
	}
	c.kill(n2)
	if err := os.RemoveAll(n2.dataDir); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.start(n2) // with --join n1, as a replaced node is started
	c.waitAllUp()
	values := acked.snapshot()
	c.eventually(2*time.Minute, "every key back on n2", func() error {
		m, first := forEachKey(values, func(k, v string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			rep, err := c.nodes[0].client.Replicas(ctx, []byte(k))
			if err != nil {
				return err
			}
			for _, r := range rep.Replicas {
				if r.Node != "n2" {
					continue
				}
				if !r.Answered || len(r.Siblings) != 1 || string(r.Siblings[0].Value) != v {
					return fmt.Errorf("%s: n2 holds %v (answered %v, %s)", k, r.Siblings, r.Answered, r.Error)
				}
			}
			return nil
		})
		if m > 0 {
			return fmt.Errorf("%d of %d keys missing on n2; first: %v", m, keys, first)
		}
		return nil
	})
	t.Logf("wiped n2 whole again %v after its restart", time.Since(start).Round(100*time.Millisecond))
	after, err := c.status(n2)
	if err != nil {
		t.Fatal(err)
	}
	if after.Ring != "stable" || !slices.Equal(after.Owners, before.Owners) || len(after.Transfers) != 0 {
		t.Fatalf("n2 took its place back through a ring change: ring %s, %d transfers, owners %v, before %v",
			after.Ring, len(after.Transfers), after.Owners, before.Owners)
	}
	if state := memberState(after, "n2"); state != "up" {
		t.Fatalf("n2 is %s", state)
	}
}

// The same with every seed of the replaced node down: the members that
// knew it reach it, and their answers tell it that it takes its place back.
func TestWipedNodeTakesItsPlaceBackWithItsSeedDown(t *testing.T) {
	c := startCluster(t, 4, "--repair-interval", "0")
	acked := &ackedSet{m: map[string]string{}}
	load(t, c.nodes, "seedless-", 300, acked)
	n2 := c.nodes[1]
	c.kill(n2)
	if err := os.RemoveAll(n2.dataDir); err != nil {
		t.Fatal(err)
	}
	dead := freePort(t)
	for i, a := range n2.args {
		if a == "--join" {
			n2.args[i+1] = dead
		}
	}
	c.start(n2)
	c.waitAllUp()
	c.eventually(time.Minute, "n2 back in its place, stable ring", func() error {
		st, err := c.status(c.nodes[0])
		if err != nil {
			return err
		}
		if st.Ring != "stable" || memberState(st, "n2") != "up" {
			return fmt.Errorf("ring %s, n2 %s", st.Ring, memberState(st, "n2"))
		}
		return nil
	})
	st, err := c.status(n2)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Transfers) != 0 {
		t.Fatalf("n2 joined anew: %d transfers", len(st.Transfers))
	}
}
