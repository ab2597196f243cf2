package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
)

// deleteKey reads key through nd and deletes what it read, both at o.
func deleteKey(t *testing.T, nd *node, key string, o client.Options) {
	t.Helper()
	res, err := nd.client.Get(ctxT(t), []byte(key), o)
	if err != nil || !res.Found {
		t.Fatalf("get %s before deleting: %+v, %v", key, res, err)
	}
	if err := nd.client.Delete(ctxT(t), []byte(key), res.Context, o); err != nil {
		t.Fatal(err)
	}
}

// noneHeld fails unless every replica of key answered and holds nothing:
// the tombstone is reaped everywhere.
func noneHeld(nd *node, key string) error {
	vals, err := readReplicas(nd, key)
	if err != nil {
		return err
	}
	if len(vals) != 3 {
		return fmt.Errorf("%d replicas answered", len(vals))
	}
	for id, v := range vals {
		if len(v) > 0 {
			return fmt.Errorf("%s holds %v", id, v)
		}
	}
	return nil
}

// A key deleted while one replica was down must not come back when that
// replica returns with its old value (Riak's kv679 class of bug). Our rule:
// a tombstone outlives every copy of what it deletes, since it is reaped only
// once every replica holds it and no hint is pending anywhere.
func TestDeletedKeyStaysDeletedWhenStaleReplicaReturns(t *testing.T) {
	const grace, reapEvery = 3 * time.Second, 500 * time.Millisecond
	c := startCluster(t, 3, "--tombstone-grace", grace.String(), "--reap-interval", reapEvery.String(),
		"--reap-settle", "2s", "--repair-interval", "2s")
	n1, n3 := c.nodes[0], c.nodes[2]
	all, two := client.Options{Quorum: "all"}, client.Options{Quorum: "2"}

	// With every replica up, a tombstone is reaped everywhere after grace.
	if _, err := n1.client.Put(ctxT(t), []byte("short-lived"), []byte("x"), nil, all); err != nil {
		t.Fatal(err)
	}
	deleteKey(t, n1, "short-lived", all)
	c.eventually(30*time.Second, "tombstone of short-lived reaped on every replica", func() error {
		return noneHeld(n1, "short-lived")
	})

	// Delete while n3 is down: n3 keeps the old value on disk.
	if _, err := n1.client.Put(ctxT(t), []byte("doomed"), []byte("old"), nil, all); err != nil {
		t.Fatal(err)
	}
	c.kill(n3)
	deleteKey(t, n1, "doomed", two)
	deletedAt := time.Now()
	// Reaping waits for n3. This asserts that something does not happen, so
	// it waits past grace plus a few reap rounds, polling for the reason.
	c.eventually(30*time.Second, "n1 holding back reaping while n3 is away", func() error {
		st, err := c.status(n1)
		if err != nil {
			return err
		}
		if !strings.Contains(st.Tombstones.GetBlocked(), "n3") {
			return fmt.Errorf("reaping waits for %q", st.Tombstones.GetBlocked())
		}
		if since := time.Since(deletedAt); since < grace+4*reapEvery {
			return fmt.Errorf("only %v since the delete", since)
		}
		return nil
	})
	held := replicaValues(t, n1, "doomed")
	for _, id := range []string{"n1", "n2"} {
		if v, ok := held[id]; !ok || len(v) != 1 || v[0] != "(tombstone)" {
			t.Fatalf("%s holds %v (answered: %v); the tombstone must outlive n3's absence", id, v, ok)
		}
	}

	// n3 returns with "old". No read may ever find the key again, and the
	// tombstone goes only once every replica held it.
	c.start(n3)
	c.waitAllUp()
	c.eventually(60*time.Second, "tombstone of doomed reaped on every replica", func() error {
		for _, nd := range c.nodes {
			res, err := nd.client.Get(ctxT(t), []byte("doomed"), all)
			if err != nil {
				return err
			}
			if res.Found {
				t.Fatalf("doomed resurrected via %s: %q", nd.id, res.Siblings)
			}
		}
		return noneHeld(n1, "doomed")
	})
	// Anti-entropy after the reap finds nothing to bring back.
	runRepair(t, n3)
	for _, nd := range c.nodes {
		res, err := nd.client.Get(ctxT(t), []byte("doomed"), client.Options{Quorum: "one"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Found {
			t.Fatalf("doomed resurrected via %s after repair: %q", nd.id, res.Siblings)
		}
	}
	if err := noneHeld(n1, "doomed"); err != nil {
		t.Fatal(err)
	}
	for _, nd := range c.nodes {
		st, err := c.status(nd)
		if err != nil {
			t.Fatal(err)
		}
		want := uint64(2) // short-lived and doomed; n3's process saw only doomed
		if nd == n3 {
			want = 1
		}
		if st.Tombstones.GetReaped() != want || st.Tombstones.GetHeld() != 0 {
			t.Errorf("%s: %d tombstones reaped, %d held; want %d reaped, 0 held", nd.id, st.Tombstones.GetReaped(), st.Tombstones.GetHeld(), want)
		}
	}
}

// A fallback keeps a copy of the writes it takes for a down primary (it
// serves reads in its place). Once its hints are delivered that copy must go:
// after the key's tombstone is reaped, a stale copy would make the key
// reappear the next time the fallback stands in for a primary.
func TestFallbackCopyDoesNotResurrectReapedKey(t *testing.T) {
	c := startCluster(t, 4, "--tombstone-grace", "2s", "--reap-interval", "500ms",
		"--reap-settle", "2s", "--repair-interval", "0")
	// The key's replicas and fallback are those of the four-node ring: a
	// node killed while the ring still moves to it changes both.
	c.waitStable(60*time.Second, "n1", "n2", "n3", "n4")
	n1 := c.nodes[0]
	const key = "fallback-key"
	pref := replicaValues(t, n1, key)
	var down, fallback *node
	for _, nd := range c.nodes {
		_, isReplica := pref[nd.id]
		switch {
		case !isReplica:
			fallback = nd
		case nd != n1 && down == nil:
			down = nd
		}
	}
	if len(pref) != 3 || down == nil || fallback == nil {
		t.Fatalf("replicas of %s: %v", key, pref)
	}
	c.kill(down)
	c.waitDown(down.id)
	if _, err := n1.client.Put(ctxT(t), []byte(key), []byte("v1"), nil, client.Options{Quorum: "all"}); err != nil {
		t.Fatal(err)
	}
	if n := hintsPending(t, c, fallback); n != 1 {
		t.Fatalf("fallback %s keeps %d hints, want 1", fallback.id, n)
	}
	c.start(down)
	c.waitAllUp()
	c.eventually(30*time.Second, "hint delivered", func() error {
		if n := hintsPending(t, c, fallback); n != 0 {
			return fmt.Errorf("%d hints pending on %s", n, fallback.id)
		}
		return nil
	})
	deleteKey(t, n1, key, client.Options{Quorum: "all"})
	c.eventually(30*time.Second, "tombstone reaped and the fallback's copy dropped", func() error {
		if err := noneHeld(n1, key); err != nil {
			return err
		}
		st, err := c.status(fallback)
		if err != nil {
			return err
		}
		if st.Tombstones.GetPartitionsDropped() == 0 {
			return fmt.Errorf("%s dropped no partition", fallback.id)
		}
		return nil
	})
	// The fallback stands in for the same primary again: the key stays gone.
	c.kill(down)
	c.eventually(20*time.Second, "read answered in the down primary's place", func() error {
		res, err := n1.client.Get(ctxT(t), []byte(key), client.Options{Quorum: "all"})
		if err != nil {
			return err
		}
		if res.Found {
			t.Fatalf("%s resurrected from %s's fallback copy: %q", key, fallback.id, res.Siblings)
		}
		return nil
	})
}
