package tests

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/messages/kvpb"
)

// replicaSiblings returns what each replica of key that answered holds:
// node -> its siblings, each shown by show.
func replicaSiblings(nd *node, key string, show func(*kvpb.ReplicaSibling) string) (map[string][]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rep, err := nd.client.Replicas(ctx, []byte(key))
	if err != nil {
		return nil, fmt.Errorf("replicas of %s via %s: %w", key, nd.id, err)
	}
	out := map[string][]string{}
	for _, r := range rep.Replicas {
		if !r.Answered {
			continue
		}
		vals := []string{}
		for _, s := range r.Siblings {
			vals = append(vals, show(s))
		}
		out[r.Node] = vals
	}
	return out, nil
}

func valueOrTombstone(s *kvpb.ReplicaSibling) string {
	if s.Deleted {
		return "(tombstone)"
	}
	return string(s.Value)
}

// readReplicas returns what each replica of key holds: node -> live values
// ("(tombstone)" for a delete). Polls and forEachKey's workers use it: they
// retry or count an error, and only the test's goroutine may fail the test.
func readReplicas(nd *node, key string) (map[string][]string, error) {
	return replicaSiblings(nd, key, valueOrTombstone)
}

// replicaValues is readReplicas for the test's own goroutine; an error fails
// the test.
func replicaValues(t *testing.T, nd *node, key string) map[string][]string {
	t.Helper()
	vals, err := readReplicas(nd, key)
	if err != nil {
		t.Fatal(err)
	}
	return vals
}

func hintsPending(t *testing.T, c *testCluster, nd *node) int64 {
	t.Helper()
	st, err := c.status(nd)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, h := range st.Hints {
		n += h.Count
	}
	return n
}

// The seed scenario: C is frozen, x is overwritten with the context read;
// when C resumes, hints alone bring it x=2, and every pair reads one sibling.
func TestHintedHandoffSeedScenario(t *testing.T) {
	c := startCluster(t, 3, "--repair-interval", "0") // hints alone
	a, b, cc := c.nodes[0], c.nodes[1], c.nodes[2]
	if _, err := a.client.Put(ctxT(t), []byte("x"), []byte("1"), nil, client.Options{Quorum: "all"}); err != nil {
		t.Fatal(err)
	}
	c.signal(cc, syscall.SIGSTOP)
	// Once C is known down, writes do not even try it: only a hint can bring
	// it the new value.
	c.waitDown("n3")
	res, err := a.client.Get(ctxT(t), []byte("x"), client.Options{Quorum: "2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.client.Put(ctxT(t), []byte("x"), []byte("2"), res.Context, client.Options{Quorum: "2"}); err != nil {
		t.Fatalf("write with C frozen: %v", err)
	}
	c.eventually(5*time.Second, "a hint for n3 kept", func() error {
		if n := hintsPending(t, c, a) + hintsPending(t, c, b); n == 0 {
			return fmt.Errorf("no hint pending")
		}
		return nil
	})
	c.signal(cc, syscall.SIGCONT)
	resumed := time.Now()
	c.eventually(15*time.Second, "n3 holds x=2 by hints alone", func() error {
		vals, err := readReplicas(a, "x")
		if err != nil {
			return err
		}
		if got := vals["n3"]; !slices.Equal(got, []string{"2"}) {
			return fmt.Errorf("n3 holds %v", got)
		}
		return nil
	})
	t.Logf("n3 had x=2 %v after it resumed", time.Since(resumed).Round(time.Millisecond))
	for _, nd := range c.nodes {
		res, err := nd.client.Get(ctxT(t), []byte("x"), client.Options{Quorum: "2"})
		if err != nil || !slices.Equal(sorted(res.Siblings), []string{"2"}) {
			t.Fatalf("read via %s: %+v %v", nd.id, res, err)
		}
	}
}

// A node is stopped while 5,000 writes and some deletes happen; the hint
// holder is killed with -9 and restarted (with a replay worker that panics
// once mid-replay); then the stopped node returns. Hints alone bring it
// every write and every delete, and the queues end empty.
func TestHintsSurviveCrashAndReplayEverything(t *testing.T) {
	c := startCluster(t, 3, "--repair-interval", "0") // hints alone
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	c.kill(n3)
	c.waitDown("n3")

	const keys = 5000
	acked := &ackedSet{m: map[string]string{}}
	load(t, []*node{n1}, "hinted-", keys, acked) // through n1: n1 keeps the hints
	deleted := map[string]bool{}
	for i := 0; i < keys; i += 50 {
		k := fmt.Sprint("hinted-", i)
		deleteKey(t, n1, k, client.Options{Quorum: "2"})
		deleted[k] = true
	}
	if n := hintsPending(t, c, n1); n < keys {
		t.Fatalf("n1 keeps %d hints, want at least %d", n, keys)
	}

	c.kill(n1)
	n1.env = []string{"HARMONIA_FAULT_REPLAY_PANIC_AFTER=1000"}
	c.start(n1)
	if n := hintsPending(t, c, n1); n < keys {
		t.Fatalf("after kill -9 and restart n1 keeps %d hints, want at least %d", n, keys)
	}

	c.start(n3)
	back := time.Now()
	c.eventually(2*time.Minute, "hint queues empty", func() error {
		for _, nd := range []*node{n1, n2} {
			if n := hintsPending(t, c, nd); n > 0 {
				return fmt.Errorf("%s still keeps %d hints", nd.id, n)
			}
		}
		return nil
	})
	t.Logf("%d hints replayed to n3 in %v", keys+len(deleted), time.Since(back).Round(time.Millisecond))
	st, err := c.status(n1)
	if err != nil {
		t.Fatal(err)
	}
	if st.ActorRestarts == 0 {
		t.Fatal("the injected replay panic did not restart a worker")
	}

	// n3 holds every write and every delete itself.
	bad, first := forEachKey(acked.snapshot(), func(k, v string) error {
		want := []string{v}
		if deleted[k] {
			want = []string{"(tombstone)"}
		}
		vals, err := readReplicas(n2, k)
		if err != nil {
			return err
		}
		if got := vals["n3"]; !slices.Equal(got, want) {
			return fmt.Errorf("%s: n3 holds %v, want %v", k, got, want)
		}
		return nil
	})
	if bad > 0 {
		t.Fatalf("%d keys wrong on n3; first: %v", bad, first)
	}
}

// With fallbacks available (5 nodes, N=3), a write whose two primaries are
// down succeeds through fallbacks, but not when it demands primaries; a
// small hint bound drops hints with a count instead of failing.
func TestSloppyQuorumPrimaryWriteAndHintBounds(t *testing.T) {
	c := startCluster(t, 5, "--max-hint-bytes", "4096")
	key := "sloppy"
	rep, err := c.nodes[0].client.Replicas(ctxT(t), []byte(key))
	if err != nil {
		t.Fatal(err)
	}
	primaries := []string{rep.Replicas[0].Node, rep.Replicas[1].Node, rep.Replicas[2].Node}
	var up *node
	for _, nd := range c.nodes {
		switch {
		case nd.id == primaries[1] || nd.id == primaries[2]:
			c.kill(nd)
		case nd.id == primaries[0]:
			up = nd
		}
	}
	c.waitDown(primaries[1], primaries[2])

	_, err = up.client.Put(ctxT(t), []byte(key), []byte("v"), nil, client.Options{Quorum: "2"})
	if err != nil {
		t.Fatalf("sloppy write with two primaries down: %v", err)
	}
	out, stderr, code := cli(t, "put", key, "v2", "--pw", "quorum", "--addr", up.clientAddr)
	if code == 0 || !strings.Contains(stderr, "Unavailable") || !strings.Contains(stderr, "1 of 3 primaries") {
		t.Fatalf("pw=quorum with two primaries down: exit %d, %q %q", code, out, stderr)
	}

	// Fill the hint queues past the bound: writes still succeed, the
	// dropped hints are counted.
	for i := 0; i < 200; i++ {
		if _, err := up.client.Put(ctxT(t), []byte(key), []byte(strings.Repeat("x", 100)), nil, client.Options{Quorum: "1"}); err != nil {
			t.Fatal(err)
		}
	}
	var dropped int64
	for _, nd := range c.nodes {
		if nd.cmd == nil {
			continue
		}
		st, err := c.status(nd)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range st.Hints {
			dropped += h.Dropped
			if h.Bytes > 4096 {
				t.Fatalf("%s keeps %d bytes of hints for %s, bound 4096", nd.id, h.Bytes, h.Target)
			}
		}
	}
	if dropped == 0 {
		t.Fatal("no hint was counted as dropped past the bound")
	}
	t.Logf("%d hints dropped at the bound, counted", dropped)
}
