package tests

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/messages/kvpb"
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
	// W=2 loading: make sure every replica holds every key before the wipe,
	// so that what n3 gets back can only come from its peers.
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

	missing := func() int64 {
		var n atomic.Int64
		work := make(chan string, keys)
		for k := range acked.snapshot() {
			work <- k
		}
		close(work)
		var wg sync.WaitGroup
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range work {
					if got := replicaValues(t, c.nodes[0], k)["n3"]; len(got) != 1 || got[0] != acked.snapshot()[k] {
						n.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		return n.Load()
	}
	c.eventually(120*time.Second, "every key back on n3", func() error {
		if m := missing(); m > 0 {
			return fmt.Errorf("%d of %d keys missing on n3", m, keys)
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
