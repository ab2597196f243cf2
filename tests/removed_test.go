package tests

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"google.golang.org/grpc/codes"
)

// reapedOn fails unless replicas of key answered through nd, exactly those
// named, and none holds anything.
func reapedOn(nd *node, key string, replicas ...string) error {
	vals, err := readReplicas(nd, key)
	if err != nil {
		return err
	}
	var answered []string
	for id, v := range vals {
		if len(v) > 0 {
			return fmt.Errorf("%s: %s holds %v", key, id, v)
		}
		answered = append(answered, id)
	}
	slices.Sort(answered)
	if !slices.Equal(answered, replicas) {
		return fmt.Errorf("%s: %v answered, want %v", key, answered, replicas)
	}
	return nil
}

// The defect 2, Riak's kv679 class through a removed node: n3 keeps
// hints for n1, dies, is removed; the keys are deleted and their tombstones
// reaped; then n3 comes back with its old data and its hints. A node that
// is no longer a member must not write them into the cluster, nor serve
// them.
func TestRemovedNodeDoesNotBringDeletedKeysBack(t *testing.T) {
	c := startCluster(t, 3, "--tombstone-grace", "2s", "--reap-interval", "500ms", "--reap-settle", "2s", "--repair-interval", "2s")
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	var keys []string
	for i := range 20 {
		keys = append(keys, fmt.Sprintf("kv679-%d", i))
	}

	c.kill(n1)
	c.waitDown("n1")
	for _, k := range keys {
		if _, err := n3.client.Put(ctxT(t), []byte(k), []byte("old"), nil, client.Options{Quorum: "2"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := hintsPending(t, c, n3); n != int64(len(keys)) {
		t.Fatalf("n3 keeps %d hints, want %d for n1", n, len(keys))
	}
	c.kill(n3)
	c.start(n1)
	c.waitStates(downWithin, map[string]string{"n1": "up", "n3": "down"})
	if _, stderr, code := cli(t, "cluster", "remove", "n3", "--addr", n1.clientAddr); code != 0 {
		t.Fatalf("cluster remove n3: exit %d: %s", code, stderr)
	}
	c.waitStable(2*time.Minute, "n1", "n2")
	all := client.Options{Quorum: "all"}
	for _, k := range keys {
		deleteKey(t, n1, k, all)
	}
	c.eventually(time.Minute, "tombstones reaped on n1 and n2", func() error {
		for _, k := range keys {
			if err := reapedOn(n1, k, "n1", "n2"); err != nil {
				return err
			}
		}
		return nil
	})

	// n3 returns with its old data directory and its hints for n1.
	c.start(n3)
	c.eventually(downWithin, "n3 learns that it was removed", func() error {
		st, err := c.status(n3)
		if err != nil {
			return err
		}
		for _, m := range st.Members {
			if m.Id == "n3" && m.State == "left" {
				return nil
			}
		}
		return fmt.Errorf("n3 sees itself as %v", st.Members)
	})
	if _, err := n3.client.Get(ctxT(t), []byte(keys[0]), client.Options{Quorum: "one"}); client.Code(err) != codes.FailedPrecondition {
		t.Fatalf("a removed node answered a read with %v, want FailedPrecondition", err)
	}
	// Its hint checks (every second) and repair rounds (every 2 s) must find
	// nothing to do for several rounds.
	until := time.Now().Add(8 * time.Second)
	for time.Now().Before(until) {
		for _, k := range keys {
			for _, nd := range []*node{n1, n2} {
				res, err := nd.client.Get(ctxT(t), []byte(k), all)
				if err != nil {
					t.Fatal(err)
				}
				if res.Found {
					t.Fatalf("%s came back through %s: %q", k, nd.id, res.Siblings)
				}
			}
			if err := reapedOn(n1, k, "n1", "n2"); err != nil {
				t.Fatalf("after n3 returned: %v", err)
			}
		}
	}
	if n := hintsPending(t, c, n3); n != int64(len(keys)) {
		t.Fatalf("n3 keeps %d hints, want its %d undelivered", n, len(keys))
	}
}

// A node that leaves while it keeps hints for a down member of the next
// ring neither drops them nor waits for it: it hands them to the next
// ring's replicas that are up, the first of which keeps each for the down
// one, and is left while that node is still down. When it is back, no
// write is lost, and every replica of the new ring comes to hold every
// write (the kept hints, hints from other nodes and anti-entropy finish
// the copies the transfers, each read from one replica, may lack).
func TestLeaveWithHintsForADownReplica(t *testing.T) {
	c := startCluster(t, 4, "--repair-interval", "2s")
	n1, n2, n3, n4 := c.nodes[0], c.nodes[1], c.nodes[2], c.nodes[3]
	c.kill(n4)
	c.waitDown("n4")
	written := map[string]string{}
	for i := range 60 {
		k, v := fmt.Sprintf("leave-hints-%d", i), fmt.Sprintf("v%d", i)
		if _, err := n3.client.Put(ctxT(t), []byte(k), []byte(v), nil, client.Options{Quorum: "2"}); err != nil {
			t.Fatal(err)
		}
		written[k] = v
	}
	c.eventually(time.Minute, "n3 keeps hints for n4", func() error {
		if n := hintsPending(t, c, n3); n == 0 {
			return errors.New("no hint on n3")
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err := n3.client.Admin().Leave(ctx, &kvpb.LeaveRequest{})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	// n4 stays down: the leave does not wait for it.
	c.waitStates(3*time.Minute, map[string]string{"n3": "left"})
	if n := hintsPending(t, c, n3); n != 0 {
		t.Fatalf("n3 left with %d hints", n)
	}
	var kept int64
	for _, nd := range []*node{n1, n2} {
		st, err := c.status(nd)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range st.Hints {
			if h.Target == "n4" {
				kept += h.Count
			}
		}
	}
	if kept == 0 {
		t.Fatal("n3 left, and neither n1 nor n2 keeps a hint for n4")
	}
	c.start(n4)
	c.waitStates(agreeWithin, map[string]string{"n4": "up"})
	c.waitStable(3*time.Minute, "n1", "n2", "n4")
	c.waitStates(agreeWithin, map[string]string{"n3": "left"})
	// A read that times out (a replica just back may still be busy taking
	// hints) says nothing about loss: it is retried. A wrong answer fails.
	for k, v := range written {
		c.eventually(time.Minute, k+" read at R=all after n3 left", func() error {
			res, err := n1.client.Get(ctxT(t), []byte(k), client.Options{Quorum: "all"})
			if code := client.Code(err); code == codes.DeadlineExceeded || code == codes.Unavailable {
				return err
			}
			if err != nil || len(res.Siblings) != 1 || string(res.Siblings[0]) != v {
				t.Fatalf("%s after n3 left: %v, %v; want %s", k, res, err, v)
			}
			return nil
		})
	}
	c.eventually(2*time.Minute, "every write on every replica of n1, n2, n4", func() error {
		for k, v := range written {
			vals, err := readReplicas(n1, k)
			if err != nil {
				return err
			}
			if len(vals) != 3 {
				return fmt.Errorf("%s: %d replicas answered: %v", k, len(vals), vals)
			}
			for id, got := range vals {
				if !slices.Equal(got, []string{v}) {
					return fmt.Errorf("%s: replica %s holds %v, want %s", k, id, got, v)
				}
			}
		}
		return nil
	})
}

func memberState(st *kvpb.StatusResponse, id string) string {
	for _, m := range st.Members {
		if m.Id == id {
			return m.State
		}
	}
	return ""
}
