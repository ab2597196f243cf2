package tests

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
)

// seedListCluster describes n fresh nodes, each of which lists every node's
// cluster address in --join, as most clusters boot (Cassandra's seeds, a
// StatefulSet listing its peers). Nothing is started.
func seedListCluster(t *testing.T, n int, extra ...string) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	t.Cleanup(c.stopAll)
	root := t.TempDir()
	var addrs []string
	for range n {
		addrs = append(addrs, freePort(t))
	}
	for i := range n {
		id := fmt.Sprintf("n%d", i+1)
		args := append([]string{"--join", strings.Join(addrs, ",")}, extra...)
		c.nodes = append(c.nodes, newNode(t, id, addrs[i], filepath.Join(root, id), args...))
	}
	return c
}

// startShuffled starts the nodes in a random order drawn from seed, with a
// random pause of up to maxGap before each.
func (c *testCluster) startShuffled(seed uint64, maxGap time.Duration) {
	c.t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed))
	var order []string
	for _, i := range rng.Perm(len(c.nodes)) {
		gap := time.Duration(rng.Int64N(int64(maxGap) + 1))
		time.Sleep(gap) // the spacing under test, not a wait for anything
		c.start(c.nodes[i])
		order = append(order, fmt.Sprintf("%s after %v", c.nodes[i].id, gap.Round(time.Millisecond)))
	}
	c.t.Logf("seed %d: started %s", seed, strings.Join(order, ", "))
}

// ids are the nodes' ids.
func (c *testCluster) ids() []string {
	var out []string
	for _, nd := range c.nodes {
		out = append(out, nd.id)
	}
	return out
}

// writeEverywhere writes keys at W=all through the nodes in turn and checks
// that every node reads each back at R=all.
func (c *testCluster) writeEverywhere(prefix string, keys int) {
	c.t.Helper()
	for i := range keys {
		key := fmt.Sprintf("%s-%d", prefix, i)
		nd := c.nodes[i%len(c.nodes)]
		// A node may still be catching up on a peer it just met: a write
		// it cannot take yet is tried again, within a deadline.
		c.eventually(10*time.Second, fmt.Sprintf("put %s through %s at W=all", key, nd.id), func() error {
			_, err := nd.client.Put(ctxT(c.t), []byte(key), []byte(key), nil, client.Options{Quorum: "all"})
			return err
		})
	}
	c.readEverywhere(prefix, keys, "all")
}

// readEverywhere checks that every node reads each key of writeEverywhere
// at consistency r.
func (c *testCluster) readEverywhere(prefix string, keys int, r string) {
	c.t.Helper()
	for _, nd := range c.nodes {
		for i := range keys {
			key := fmt.Sprintf("%s-%d", prefix, i)
			var res *client.Result
			c.eventually(10*time.Second, fmt.Sprintf("get %s through %s at R=%s", key, nd.id, r), func() (err error) {
				res, err = nd.client.Get(ctxT(c.t), []byte(key), client.Options{Quorum: r})
				return err
			})
			// What a read that answers returns is not retried: it must
			// hold the acknowledged write. A put tried again after a
			// failure that still reached some replicas is a second blind
			// write of the same value, so siblings may repeat it.
			if !res.Found || len(res.Siblings) == 0 {
				c.t.Fatalf("get %s through %s at R=%s: not found", key, nd.id, r)
			}
			for _, v := range res.Siblings {
				if string(v) != key {
					c.t.Fatalf("get %s through %s at R=%s: siblings %q", key, nd.id, r, res.Siblings)
				}
			}
		}
	}
}

// heldByEveryReplica waits until every replica of each key of
// writeEverywhere holds it itself: reads at R=all or R=quorum are answered
// by the other replicas too, so they cannot show that a new or wiped node
// received its data.
func (c *testCluster) heldByEveryReplica(prefix string, keys int) {
	c.t.Helper()
	for i := range keys {
		key := fmt.Sprintf("%s-%d", prefix, i)
		c.eventually(time.Minute, "every replica of "+key+" holds it", func() error {
			rep, err := c.nodes[0].client.Replicas(ctxT(c.t), []byte(key))
			if err != nil {
				return err
			}
			for _, r := range rep.Replicas {
				if !r.Answered || len(r.Siblings) == 0 {
					return fmt.Errorf("replica %s holds nothing (answered %v, %s)", r.Node, r.Answered, r.Error)
				}
				for _, sib := range r.Siblings {
					if string(sib.Value) != key {
						return fmt.Errorf("replica %s holds %q", r.Node, sib.Value)
					}
				}
			}
			return nil
		})
	}
}

// Fresh nodes that all list every node in --join form one cluster whatever
// the order and spacing of their starts. Each used to stay a one-node ring
// of itself, joining for ever: a new node asked a peer whether it had been
// a member before answering it, and two new nodes asked each other back
// and forth, as fast as the network went.
func TestSeedListBoot(t *testing.T) {
	for _, tc := range []struct {
		nodes  int
		maxGap time.Duration
	}{
		{3, 0},
		{3, 3 * time.Second},
		{5, 2 * time.Second},
	} {
		seed := rand.Uint64()
		t.Run(fmt.Sprintf("%d nodes, gaps up to %v", tc.nodes, tc.maxGap), func(t *testing.T) {
			c := seedListCluster(t, tc.nodes)
			c.startShuffled(seed, tc.maxGap)
			start := time.Now()
			c.waitStable(agreeWithin, c.ids()...)
			c.waitAllUp()
			t.Logf("one stable ring of %d, every member up everywhere, %v after the last start", tc.nodes, time.Since(start).Round(time.Millisecond))
			c.writeEverywhere("k", 20)
		})
	}
}

// A seed-list cluster takes a new node and a wiped member started with the
// same kind of list: the new node joins and receives its partitions; the
// wiped member takes its place back instead of joining anew, and its data
// comes back.
func TestSeedListMixOfFreshAndExisting(t *testing.T) {
	c := seedListCluster(t, 3)
	c.startShuffled(rand.Uint64(), time.Second)
	c.waitStable(agreeWithin, c.ids()...)
	c.waitAllUp() // a W=all write needs every node to see every other up
	c.writeEverywhere("before", 30)

	// n4 lists all four, as a manifest scaled up to four would.
	var addrs []string
	for _, nd := range c.nodes {
		addrs = append(addrs, nd.clusterAddr)
	}
	n4addr := freePort(t)
	addrs = append(addrs, n4addr)
	n4 := newNode(t, "n4", n4addr, filepath.Join(t.TempDir(), "n4"), "--join", strings.Join(addrs, ","))
	c.nodes = append(c.nodes, n4)
	c.start(n4)
	c.waitStable(agreeWithin, c.ids()...)
	c.waitAllUp()
	c.readEverywhere("before", 30, "all")
	c.heldByEveryReplica("before", 30) // n4 received its partitions

	// n2's disk is lost; it comes back with the same id and flags.
	n2 := c.nodes[1]
	c.kill(n2)
	if err := os.RemoveAll(n2.dataDir); err != nil {
		t.Fatal(err)
	}
	c.start(n2)
	c.waitStable(agreeWithin, c.ids()...)
	c.waitAllUp()
	logged, err := os.ReadFile(filepath.Join(c.logDir, "n2.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logged), "takes its place back") {
		t.Errorf("wiped n2 did not take its place back; its log:\n%s", tail(string(logged), 3000))
	}
	c.readEverywhere("before", 30, "quorum")
	c.heldByEveryReplica("before", 30) // n2's data came back
	c.writeEverywhere("after", 10)
}

// A first node whose --join lists only itself (a manifest's first replica)
// has nobody to ask and takes part at once: one that joins through it
// finds it, and the two form one ring.
func TestSeedListOfOnlyItself(t *testing.T) {
	c := &testCluster{t: t}
	t.Cleanup(c.stopAll)
	root := t.TempDir()
	n1addr := freePort(t)
	c.nodes = append(c.nodes, newNode(t, "n1", n1addr, filepath.Join(root, "n1"), "--join", n1addr))
	c.start(c.nodes[0])
	n2addr := freePort(t)
	c.nodes = append(c.nodes, newNode(t, "n2", n2addr, filepath.Join(root, "n2"), "--join", n1addr))
	c.start(c.nodes[1])
	c.waitStable(agreeWithin, "n1", "n2")
	c.waitAllUp()
}
