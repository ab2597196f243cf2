package tests

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/cluster/ring"
	"github.com/harmoniakv/harmonia/messages/kvpb"
)

// ackedSet records every write a client saw acknowledged.
type ackedSet struct {
	mu sync.Mutex
	m  map[string]string
}

func (a *ackedSet) add(k, v string) {
	a.mu.Lock()
	a.m[k] = v
	a.mu.Unlock()
}

func (a *ackedSet) snapshot() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.m)
}

// load writes keys prefix-0..n-1 at W=2 through the given nodes, 16 at a time.
func load(t *testing.T, nodes []*node, prefix string, n int, acked *ackedSet) {
	t.Helper()
	var wg sync.WaitGroup
	var failed atomic.Int64
	next := atomic.Int64{}
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				k, v := fmt.Sprint(prefix, i), fmt.Sprint("v", i)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := nodes[int(i)%len(nodes)].client.Put(ctx, []byte(k), []byte(v), nil, client.Options{Quorum: "2"})
				cancel()
				if err != nil {
					failed.Add(1)
					continue
				}
				acked.add(k, v)
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d loading writes failed", f, n)
	}
}

// writer puts fresh keys through random live nodes until stopped. The
// test's cleanup stops it too, so a failed test leaves no writer running.
func writer(t *testing.T, prefix string, nodes func() []*node, acked *ackedSet) (stop func() (acks, errs int64)) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	var nacks, nerrs atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			ns := nodes()
			nd := ns[rand.IntN(len(ns))]
			k, v := fmt.Sprint(prefix, i), fmt.Sprint("w", i)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := nd.client.Put(ctx, []byte(k), []byte(v), nil, client.Options{Quorum: "2"})
			cancel()
			if err != nil {
				nerrs.Add(1)
				continue
			}
			nacks.Add(1)
			acked.add(k, v)
		}
	}()
	var once sync.Once
	stop = func() (int64, int64) {
		once.Do(func() { close(done); wg.Wait() })
		return nacks.Load(), nerrs.Load()
	}
	t.Cleanup(func() { stop() })
	return stop
}

// forEachKey runs check on every key and its value, 16 at a time, and
// returns how many failed and the first failure.
func forEachKey(kv map[string]string, check func(k, v string) error) (bad int64, first error) {
	work := make(chan string, len(kv))
	for k := range kv {
		work <- k
	}
	close(work)
	var n atomic.Int64
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Go(func() {
			for k := range work {
				if err := check(k, kv[k]); err != nil {
					n.Add(1)
					once.Do(func() { first = err })
				}
			}
		})
	}
	wg.Wait()
	return n.Load(), first
}

// verify reads every acknowledged key at R=2 through the given nodes.
func verify(t *testing.T, nodes []*node, acked map[string]string) {
	t.Helper()
	bad, first := forEachKey(acked, func(k, v string) error {
		nd := nodes[rand.IntN(len(nodes))]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := nd.client.Get(ctx, []byte(k), client.Options{Quorum: "2"})
		if err != nil || len(res.Siblings) != 1 || string(res.Siblings[0]) != v {
			return fmt.Errorf("%s via %s: %+v %v", k, nd.id, res, err)
		}
		return nil
	})
	if bad > 0 {
		t.Fatalf("%d of %d acknowledged keys not readable at R=2; first: %v", bad, len(acked), first)
	}
}

// checkReplicas asserts that, for a sample of acknowledged keys, every
// replica of the current ring holds the value itself: the data was moved,
// not merely readable through an old replica.
func checkReplicas(t *testing.T, nd *node, acked map[string]string, sample int) {
	t.Helper()
	n := 0
	for k, v := range acked {
		if n++; n > sample {
			break
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		rep, err := nd.client.Replicas(ctx, []byte(k))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rep.Replicas {
			if !r.Answered || len(r.Siblings) != 1 || string(r.Siblings[0].Value) != v {
				t.Fatalf("key %s: replica %s holds %v (answered %v, %s), want %q", k, r.Node, r.Siblings, r.Answered, r.Error, v)
			}
		}
	}
}

func checkOwnership(t *testing.T, c *testCluster, nd *node, members int) {
	t.Helper()
	st, err := c.status(nd)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := int(st.Partitions)/members, (int(st.Partitions)+members-1)/members
	for _, m := range st.Members {
		if m.State == "left" {
			if m.PartitionsOwned != 0 {
				t.Fatalf("%s left but owns %d partitions", m.Id, m.PartitionsOwned)
			}
			continue
		}
		if int(m.PartitionsOwned) < lo-1 || int(m.PartitionsOwned) > hi+1 {
			t.Fatalf("%s owns %d partitions, want %d±1", m.Id, m.PartitionsOwned, int(st.Partitions)/members)
		}
	}
}

// A fourth node joins a loaded cluster while a writer runs, then a node
// leaves; every acknowledged write stays readable at R=2 and ownership is
// balanced.
func TestJoinAndLeaveUnderLoad(t *testing.T) {
	c := startCluster(t, 3)
	acked := &ackedSet{m: map[string]string{}}
	start := time.Now()
	load(t, c.nodes, "key-", 10_000, acked)
	t.Logf("loaded 10,000 keys at W=2 in %v", time.Since(start).Round(time.Millisecond))

	var mu sync.Mutex
	serving := append([]*node(nil), c.nodes...)
	stop := writer(t, "during-join-", func() []*node { mu.Lock(); defer mu.Unlock(); return serving }, acked)

	start = time.Now()
	n4 := c.addNode()
	c.waitStable(3*time.Minute, "n1", "n2", "n3", "n4")
	t.Logf("n4 joined: ring stable %v after it started", time.Since(start).Round(time.Millisecond))
	acks, errs := stop()
	t.Logf("writer during the join: %d acknowledged, %d failed", acks, errs)
	checkOwnership(t, c, n4, 4)
	checkReplicas(t, n4, acked.snapshot(), 500)
	verify(t, c.nodes, acked.snapshot())

	mu.Lock()
	serving = []*node{c.nodes[0], c.nodes[2], n4}
	mu.Unlock()
	stop = writer(t, "during-leave-", func() []*node { mu.Lock(); defer mu.Unlock(); return serving }, acked)
	start = time.Now()
	n2 := c.nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err := n2.client.Admin().Leave(ctx, &kvpb.LeaveRequest{})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	c.waitStable(3*time.Minute, "n1", "n3", "n4")
	t.Logf("n2 left: ring stable %v after the leave", time.Since(start).Round(time.Millisecond))
	acks, errs = stop()
	t.Logf("writer during the leave: %d acknowledged, %d failed", acks, errs)
	c.waitStates(10*time.Second, map[string]string{"n2": "left"})
	checkOwnership(t, c, n4, 3)
	checkReplicas(t, n4, acked.snapshot(), 500)
	verify(t, serving, acked.snapshot())
}

// A write that only one current replica holds reaches the new replica: a
// transfer reads every live current replica, not one of them. (With W=2 of
// 3, a replica that missed a write is common; if the new replica copied only
// that one, and the holders then left or lost their disks, the write would
// be gone.)
func TestTransferReadsEveryReplica(t *testing.T) {
	flags := []string{"--unsafe-test-writes", "--repair-interval", "0", "--hint-replay=false", "--partitions", "8"}
	c := startCluster(t, 3, flags...)
	n2 := c.nodes[1]
	const keys = 200
	for i := range keys {
		k := fmt.Sprintf("only-n2-%03d", i)
		if _, err := n2.client.Admin().WriteReplica(ctxT(t), &kvpb.WriteReplicaRequest{Key: []byte(k), Value: []byte(k)}); err != nil {
			t.Fatal(err)
		}
	}
	n4 := c.addNode(flags...)
	c.waitStable(2*time.Minute, "n1", "n2", "n3", "n4")

	held, replicaOf := 0, 0
	for i := range keys {
		k := fmt.Sprintf("only-n2-%03d", i)
		rep, err := n4.client.Replicas(ctxT(t), []byte(k))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rep.Replicas {
			if r.Node != "n4" {
				continue
			}
			replicaOf++
			if r.Answered && len(r.Siblings) == 1 && string(r.Siblings[0].Value) == k {
				held++
			}
		}
	}
	if replicaOf == 0 || held != replicaOf {
		t.Fatalf("n4 is a replica of %d of the %d keys written only to n2, and holds %d of them", replicaOf, keys, held)
	}
	st, err := c.status(n4)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range st.Transfers {
		if !tr.Done || len(tr.SourcesDone) != 3 {
			t.Fatalf("partition %d: done %v, read whole from %v; want all three current replicas", tr.Partition, tr.Done, tr.SourcesDone)
		}
	}
	t.Logf("n4 received %d partitions, each from 3 replicas; it holds all %d keys of them that only n2 had", len(st.Transfers), held)
}

// A node killed while receiving partitions resumes its transfers from their
// saved cursors when restarted: the batches add up to one pass per source.
func TestHandoffResumesAfterCrash(t *testing.T) {
	c := startCluster(t, 3)
	acked := &ackedSet{m: map[string]string{}}
	const keys, batch = 6000, 1 // one key a batch: a transfer long enough to catch mid-way on a busy machine
	load(t, c.nodes, "key-", keys, acked)
	perPartition := map[uint32]uint64{}
	for k := range acked.snapshot() {
		perPartition[uint32(ring.PartitionOf(ring.KeyHash([]byte(k)), 64))]++
	}

	n4 := c.addNode("--handoff-batch-keys", fmt.Sprint(batch), "--handoff-concurrency", "1")
	c.eventually(30*time.Second, "n4 mid-transfer", func() error {
		st, err := c.status(n4)
		if err != nil {
			return err
		}
		done := 0
		for _, tr := range st.Transfers {
			if tr.Done {
				done++
			}
		}
		if done == 0 || done >= len(st.Transfers)/2 {
			return fmt.Errorf("%d of %d transfers done", done, len(st.Transfers))
		}
		return nil
	})
	c.kill(n4)
	c.start(n4) // same data dir: still joining, cursors on disk
	c.waitStable(3*time.Minute, "n1", "n2", "n3", "n4")

	// Every partition n4 received holds all its keys, fetched in one pass of
	// ceil(keys/batch) batches from each of the three current replicas; the
	// restarted process fetched only part of them, so the rest came from
	// before the crash and was not fetched again.
	st, err := c.status(n4)
	if err != nil {
		t.Fatal(err)
	}
	var total, thisRun uint64
	for _, tr := range st.Transfers {
		const sources = 3
		want := sources * max((perPartition[tr.Partition]+batch-1)/batch, 1)
		if !tr.Done || len(tr.SourcesDone) != sources || tr.Keys != sources*perPartition[tr.Partition] || tr.Batches != want {
			t.Fatalf("partition %d: done=%v from %v keys=%d (want %d) batches=%d (want %d)", tr.Partition, tr.Done, tr.SourcesDone,
				tr.Keys, sources*perPartition[tr.Partition], tr.Batches, want)
		}
		total += tr.Batches
		thisRun += tr.BatchesThisRun
	}
	if len(st.Transfers) == 0 || thisRun >= total {
		t.Fatalf("%d transfers; restarted n4 fetched %d of %d batches: not resumed", len(st.Transfers), thisRun, total)
	}
	t.Logf("%d partitions received in %d batches; %d fetched after the restart", len(st.Transfers), total, thisRun)
	verify(t, c.nodes, acked.snapshot())
}

// A dead node is removed: its replicas are rebuilt on the survivors, and
// every acknowledged key is held by every replica of the new ring.
func TestRemoveDeadNode(t *testing.T) {
	c := startCluster(t, 4)
	acked := &ackedSet{m: map[string]string{}}
	load(t, c.nodes, "key-", 3000, acked)
	n4 := c.nodes[3]
	c.kill(n4)
	c.waitDown("n4")
	out, stderr, code := cli(t, "cluster", "remove", "n2", "--addr", c.nodes[0].clientAddr)
	if code == 0 || !strings.Contains(stderr, "not down") {
		t.Fatalf("removing a live node: exit %d, %q %q", code, out, stderr)
	}
	if _, stderr, code := cli(t, "cluster", "remove", "n4", "--addr", c.nodes[0].clientAddr); code != 0 {
		t.Fatalf("cluster remove n4: exit %d: %s", code, stderr)
	}
	start := time.Now()
	c.waitStable(2*time.Minute, "n1", "n2", "n3")
	t.Logf("n4 removed: ring stable %v later", time.Since(start).Round(time.Millisecond))
	c.waitStates(10*time.Second, map[string]string{"n4": "left"})
	checkReplicas(t, c.nodes[0], acked.snapshot(), 500)
	verify(t, c.nodes[:3], acked.snapshot())
}
