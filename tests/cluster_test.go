package tests

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
	"google.golang.org/grpc/codes"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func sorted(vs [][]byte) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	slices.Sort(out)
	return out
}

// The spine, end to end on three real processes: replication, quorums,
// siblings, contexts, deletes and limits. The subtests are independent:
// each uses keys of its own.
func TestThreeNodeCluster(t *testing.T) {
	c := startCluster(t, 3)
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	r2 := client.Options{Quorum: "2"}

	t.Run("put via n1, get via n3 at R=2", func(t *testing.T) {
		if _, err := n1.client.Put(ctxT(t), []byte("greeting"), []byte("hello"), nil, client.Options{}); err != nil {
			t.Fatal(err)
		}
		res, err := n3.client.Get(ctxT(t), []byte("greeting"), r2)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Found || !slices.Equal(sorted(res.Siblings), []string{"hello"}) || res.Replied < 2 {
			t.Fatalf("got %+v", res)
		}
	})

	t.Run("concurrent blind puts become siblings, a put with context resolves them", func(t *testing.T) {
		key := []byte("cart")
		var wg sync.WaitGroup
		for i, nd := range []*node{n1, n2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := nd.client.Put(ctxT(t), key, []byte(fmt.Sprint("item", i)), nil, client.Options{}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		res, err := n3.client.Get(ctxT(t), key, r2)
		if err != nil {
			t.Fatal(err)
		}
		if got := sorted(res.Siblings); !slices.Equal(got, []string{"item0", "item1"}) {
			t.Fatalf("siblings %v", got)
		}
		if _, err := n3.client.Put(ctxT(t), key, []byte("item0+item1"), res.Context, client.Options{}); err != nil {
			t.Fatal(err)
		}
		res, err = n1.client.Get(ctxT(t), key, client.Options{Quorum: "all"})
		if err != nil {
			t.Fatal(err)
		}
		if got := sorted(res.Siblings); !slices.Equal(got, []string{"item0+item1"}) {
			t.Fatalf("after resolving: %v", got)
		}
	})

	t.Run("Resolve merges siblings with the caller's function", func(t *testing.T) {
		key := []byte("set")
		for nd, v := range map[*node]string{n1: "a", n2: "b"} {
			if _, err := nd.client.Put(ctxT(t), key, []byte(v), nil, client.Options{Quorum: "all"}); err != nil {
				t.Fatal(err)
			}
		}
		union := func(vs [][]byte) []byte { return []byte(strings.Join(sorted(vs), ",")) }
		v, err := n3.client.Resolve(ctxT(t), key, union, client.Options{Quorum: "all"})
		if err != nil || string(v) != "a,b" {
			t.Fatalf("Resolve = %q, %v", v, err)
		}
		res, err := n1.client.Get(ctxT(t), key, client.Options{Quorum: "all"})
		if err != nil {
			t.Fatal(err)
		}
		if got := sorted(res.Siblings); !slices.Equal(got, []string{"a,b"}) {
			t.Fatalf("after Resolve: %v", got)
		}
	})

	t.Run("delete then get says not found (CLI exits 3)", func(t *testing.T) {
		key := []byte("doomed")
		if _, err := n1.client.Put(ctxT(t), key, []byte("x"), nil, client.Options{}); err != nil {
			t.Fatal(err)
		}
		res, err := n2.client.Get(ctxT(t), key, r2)
		if err != nil {
			t.Fatal(err)
		}
		if err := n2.client.Delete(ctxT(t), key, res.Context, client.Options{}); err != nil {
			t.Fatal(err)
		}
		res, err = n3.client.Get(ctxT(t), key, r2)
		if err != nil || res.Found {
			t.Fatalf("after delete: %+v, %v", res, err)
		}
		_, stderr, code := cli(t, "get", "doomed", "--addr", n1.clientAddr)
		if code != 3 || strings.TrimSpace(stderr) != "not found" {
			t.Fatalf("harmonia get: exit %d, stderr %q", code, stderr)
		}
	})

	t.Run("oversize input is InvalidArgument and writes nothing", func(t *testing.T) {
		_, err := n1.client.Put(ctxT(t), make([]byte, 1025), []byte("v"), nil, client.Options{})
		if client.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "key too large") {
			t.Fatalf("oversize key: %v", err)
		}
		_, err = n1.client.Put(ctxT(t), []byte("big"), make([]byte, 1<<20+1), nil, client.Options{})
		if client.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "value too large") {
			t.Fatalf("oversize value: %v", err)
		}
		rep, err := n1.client.Replicas(ctxT(t), []byte("big"))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rep.Replicas {
			if !r.Answered || len(r.Siblings) != 0 {
				t.Fatalf("replica %s after a rejected write: answered=%v siblings=%d", r.Node, r.Answered, len(r.Siblings))
			}
		}
		_, err = n1.client.Put(ctxT(t), []byte("k"), []byte("v"), []byte{0xff, 0x01}, client.Options{})
		if client.Code(err) != codes.InvalidArgument {
			t.Fatalf("garbage context: %v", err)
		}
		_, err = n1.client.Put(ctxT(t), []byte("k"), []byte("v"), nil, client.Options{Quorum: "7"})
		if client.Code(err) != codes.InvalidArgument {
			t.Fatalf("W=7 with N=3: %v", err)
		}
		_, stderr, code := cli(t, "put", "k", "--addr", n1.clientAddr)
		if code != 2 || !strings.Contains(stderr, "takes 2 argument") {
			t.Fatalf("put with one argument: exit %d, %q", code, stderr)
		}
	})

}

// A killed node and its restart, one step after another: quorums still
// met with one node down, W=all refused naming the count, the restarted
// node keeps its replicas, and one read at R=all repairs what it missed.
func TestThreeNodeClusterOutage(t *testing.T) {
	// Hint replay and anti-entropy off: the restart checks below are about
	// what the node kept on disk and what one read repairs.
	c := startCluster(t, 3, "--hint-replay=false", "--repair-interval", "0")
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	r2 := client.Options{Quorum: "2"}

	// Keys written while all three are up, to check n3's replicas after its restart.
	held := map[string]string{}
	for i := 0; i < 30; i++ {
		k, v := fmt.Sprint("held-", i), fmt.Sprint("value-", i)
		if _, err := n1.client.Put(ctxT(t), []byte(k), []byte(v), nil, client.Options{Quorum: "all"}); err != nil {
			t.Fatal(err)
		}
		held[k] = v
	}

	c.kill(n3)
	c.waitDown("n3")

	t.Log("one node killed: R=2 and W=2 still succeed")
	{
		for i := 0; i < 20; i++ {
			k := []byte(fmt.Sprint("during-outage-", i))
			if _, err := n2.client.Put(ctxT(t), k, []byte("ok"), nil, r2); err != nil {
				t.Fatalf("W=2 with n3 down: %v", err)
			}
			res, err := n1.client.Get(ctxT(t), k, r2)
			if err != nil || !res.Found {
				t.Fatalf("R=2 with n3 down: %+v %v", res, err)
			}
		}
	}

	t.Log("W=3 with a node down is Unavailable and says 2 of 3")
	{
		_, err := n1.client.Put(ctxT(t), []byte("needs-all"), []byte("v"), nil, client.Options{Quorum: "all"})
		if client.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "2 of 3") {
			t.Fatalf("W=3: %v", err)
		}
		_, stderr, code := cli(t, "put", "needs-all", "v", "--w", "all", "--addr", n1.clientAddr)
		if code == 0 || !strings.Contains(stderr, "2 of 3") {
			t.Fatalf("CLI W=all: exit %d, %q", code, stderr)
		}
	}

	c.start(n3) // same data dir
	c.waitAllUp()

	t.Log("restarted node still holds its replicas")
	// Polled: just restarted, n3 may be slow to answer on a busy machine;
	// what it holds must not change while we wait (nothing writes it).
	c.eventually(agreeWithin, "n3 answers with its replicas", func() error {
		for k, v := range held {
			got, err := readReplicas(n1, k)
			if err != nil {
				return err
			}
			if !slices.Equal(got["n3"], []string{v}) {
				return fmt.Errorf("n3 holds %v for %s after restart: %v", got["n3"], k, got)
			}
		}
		return nil
	})

	t.Log("one read at R=all (it asks every replica) repairs the replica that missed a write")
	{
		key := []byte("during-outage-0") // written while n3 was down
		if got := replicaValues(t, n1, string(key))["n3"]; len(got) != 0 {
			t.Fatalf("before the read n3 should lack the key; it holds %v", got)
		}
		if _, err := n1.client.Get(ctxT(t), key, client.Options{Quorum: "all"}); err != nil {
			t.Fatal(err)
		}
		c.eventually(30*time.Second, "read repair of n3", func() error {
			vals, err := readReplicas(n1, string(key))
			if err != nil {
				return err
			}
			if got := vals["n3"]; !slices.Equal(got, []string{"ok"}) {
				return fmt.Errorf("n3 holds %v", got)
			}
			return nil
		})
	}
}

// A node started with seeds takes no key requests until it has heard from
// another member: alone, its ring would hold only itself and take every
// write at a quorum of one.
func TestNodeRefusesKeysUntilItHearsFromTheCluster(t *testing.T) {
	c := &testCluster{t: t}
	t.Cleanup(c.stopAll)
	root := t.TempDir()
	mk := func(id, clusterAddr string, extra ...string) *node {
		nd := newNode(t, id, clusterAddr, filepath.Join(root, id), extra...)
		c.nodes = append(c.nodes, nd)
		return nd
	}
	seedAddr := freePort(t) // nothing listens there yet
	n1 := mk("n1", freePort(t), "--join", seedAddr)
	c.start(n1)
	_, err := n1.client.Put(ctxT(t), []byte("k"), []byte("v"), nil, client.Options{})
	if client.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "not heard from any other member") {
		t.Fatalf("put on a node that knows no other member: %v, want Unavailable", err)
	}
	if _, err := n1.client.Get(ctxT(t), []byte("k"), client.Options{}); client.Code(err) != codes.Unavailable {
		t.Fatalf("get on a node that knows no other member: %v, want Unavailable", err)
	}
	// The seed comes up; n1 hears of it and serves.
	c.start(mk("n2", seedAddr))
	c.eventually(20*time.Second, "n1 serving once it has heard from n2", func() error {
		_, err := n1.client.Put(ctxT(t), []byte("k"), []byte("v"), nil, client.Options{})
		return err
	})
}
