package tests

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// values reads key through nd with R=all and returns the values it holds.
func lwwValues(t *testing.T, nd *node, key string, o client.Options) ([]string, []byte) {
	t.Helper()
	o.Quorum = "all"
	res, err := nd.client.Get(ctxT(t), []byte(key), o)
	if err != nil {
		t.Fatalf("get %s through %s: %v", key, nd.id, err)
	}
	var out []string
	for _, s := range res.Siblings {
		out = append(out, string(s))
	}
	return out, res.Context
}

// A table whose last writer wins, on three processes whose clocks are four
// minutes apart: concurrent writes leave one value and never siblings, on
// every replica; a blind write stamped by a clock behind loses, by design;
// a write made with the context of a read, of a write or of a delete wins
// over it, whatever the clocks. Bad conflict types are refused and create
// nothing.
func TestLastWriterWinsTable(t *testing.T) {
	c := startCluster(t, 3, "--unsafe-test-writes")
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	ctx := ctxT(t)

	for _, bad := range []*kvpb.CreateTableRequest{
		{Name: "bad1", Conflict: "LWW"},
		{Name: "bad2", Conflict: "newest"},
		{Name: "bad3", Consistency: "strong", Conflict: "lww"},
		{Name: "bad4", Conflict: "siblings", PartitionKey: &kvpb.KeyAttribute{Name: "id", Type: "S"}},
		{Name: "bad5", Consistency: "strong", Conflict: "crdt", PartitionKey: &kvpb.KeyAttribute{Name: "id", Type: "S"}},
	} {
		if _, err := n1.client.Tables().CreateTable(ctx, bad); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("create %v: %v, want InvalidArgument", bad, err)
		}
	}
	created, err := n1.client.Tables().CreateTable(ctx, &kvpb.CreateTableRequest{Name: "carts", Conflict: "lww"})
	if err != nil {
		t.Fatal(err)
	}
	if created.Table.Conflict != "lww" || created.Table.Consistency != "eventual" {
		t.Fatalf("created %v", created.Table)
	}
	list, err := n2.client.Tables().ListTables(ctx, &kvpb.ListTablesRequest{})
	if err != nil || len(list.Tables) != 1 {
		t.Fatalf("tables after the refused ones: %v, %v", list, err)
	}
	o := client.Options{Table: "carts", Quorum: "all"}

	// Concurrent blind writes through every node: one value, the same on
	// every node and every replica.
	var wg sync.WaitGroup
	for _, nd := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				if _, err := nd.client.Put(ctx, []byte("race"), fmt.Appendf(nil, "%s-%d", nd.id, j), nil, o); err != nil {
					t.Errorf("put through %s: %v", nd.id, err)
				}
			}
		}()
	}
	wg.Wait()
	var first []string
	for _, nd := range c.nodes {
		got, _ := lwwValues(t, nd, "race", o)
		if len(got) != 1 || first != nil && !slices.Equal(got, first) {
			t.Fatalf("%s reads %v after concurrent writes (others %v): want one value, the same everywhere", nd.id, got, first)
		}
		first = got
	}
	replicas, err := n1.client.Admin().Replicas(ctx, &kvpb.ReplicasRequest{Key: []byte("race"), Table: "carts"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range replicas.Replicas {
		if len(r.Siblings) != 1 || string(r.Siblings[0].Value) != first[0] || r.Siblings[0].Stamp == "" {
			t.Fatalf("replica %s holds %d versions (%v), want only %q", r.Node, len(r.Siblings), r.Siblings, first[0])
		}
	}

	// n1's clock 2 minutes ahead; n3 restarts 2 minutes behind, so its
	// hybrid clock has seen none of n1's stamps.
	if err := setClockOffset(ctx, n1, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := n1.client.Put(ctx, []byte("k"), []byte("first"), nil, o); err != nil {
		t.Fatal(err)
	}
	c.stop(n3)
	n3.args = append(n3.args, "--unsafe-test-clock-offset", "-2m")
	c.start(n3)
	c.waitAllUp()

	if _, err := n3.client.Put(ctx, []byte("k"), []byte("blind"), nil, o); err != nil {
		t.Fatal(err)
	}
	if got, _ := lwwValues(t, n2, "k", o); !slices.Equal(got, []string{"first"}) {
		t.Fatalf("after a blind write stamped 4 minutes behind: %v, want [first] (the blind write loses by design)", got)
	}
	_, read := lwwValues(t, n2, "k", o)
	ctxSecond, err := n3.client.Put(ctx, []byte("k"), []byte("second"), read, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range c.nodes {
		if got, _ := lwwValues(t, nd, "k", o); !slices.Equal(got, []string{"second"}) {
			t.Fatalf("%s reads %v after a write made with the context of a read, stamped by a clock 4 minutes behind: want [second]", nd.id, got)
		}
	}
	// The context a write returns carries its stamp: the same client's
	// next write wins too, through a node ahead or behind.
	ctxThird, err := n1.client.Put(ctx, []byte("k"), []byte("third"), ctxSecond, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n3.client.Put(ctx, []byte("k"), []byte("fourth"), ctxThird, o); err != nil {
		t.Fatal(err)
	}
	if got, _ := lwwValues(t, n2, "k", o); !slices.Equal(got, []string{"fourth"}) {
		t.Fatalf("after a chain of writes, each with the previous one's context: %v, want [fourth]", got)
	}
	// A delete with the read's context wins; a put with the delete's
	// context wins over the delete.
	_, read = lwwValues(t, n3, "k", o)
	del, err := n1.client.KV().Delete(ctx, &kvpb.DeleteRequest{Key: []byte("k"), Context: read, W: "all", Table: "carts"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := lwwValues(t, n2, "k", o); len(got) != 0 {
		t.Fatalf("after the delete: %v, want nothing", got)
	}
	if len(del.Context) == 0 {
		t.Fatal("a delete of a last-writer-wins key returned no context")
	}
	if _, err := n3.client.Put(ctx, []byte("k"), []byte("again"), del.Context, o); err != nil {
		t.Fatal(err)
	}
	if got, _ := lwwValues(t, n2, "k", o); !slices.Equal(got, []string{"again"}) {
		t.Fatalf("after a put with the delete's context: %v, want [again]", got)
	}
	// A context of another key is refused, and the key keeps its value.
	_, other := lwwValues(t, n2, "race", o)
	if _, err := n3.client.Put(ctx, []byte("k"), []byte("forged"), other, o); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a put with the context of another key: %v, want InvalidArgument", err)
	}
	if got, _ := lwwValues(t, n1, "k", o); !slices.Equal(got, []string{"again"}) {
		t.Fatalf("after a refused put: %v, want [again]", got)
	}

	// The CLI: --conflict, describe, the context of get --json taken back
	// by put --context, the replicas' stamps, and a refused type.
	on := func(nd *node) string { return "--addr=" + nd.clientAddr }
	mustCLI(t, 0, "table", "create", "sessions", "--conflict", "lww", on(n1))
	out, _ := mustCLI(t, 0, "table", "describe", "sessions", "--json", on(n2))
	var described struct {
		Table struct{ Conflict string } `json:"table"`
	}
	if err := json.Unmarshal([]byte(out), &described); err != nil || described.Table.Conflict != "lww" {
		t.Fatalf("describe --json printed %q (%v): want conflict lww", out, err)
	}
	mustCLI(t, 0, "put", "s1", "alice", "--table", "sessions", "--w", "all", on(n1))
	read = []byte(jsonField(t, "context", "get", "s1", "--table", "sessions", on(n2)))
	if len(read) == 0 {
		t.Fatal("get --json printed no context")
	}
	mustCLI(t, 0, "put", "s1", "bob", "--table", "sessions", "--context", string(read), "--w", "all", on(n3))
	if out, _ := mustCLI(t, 0, "get", "s1", "--table", "sessions", "--r", "all", on(n1)); !strings.Contains(out, "bob") || strings.Contains(out, "alice") {
		t.Fatalf("get after a put with get --json's context printed %q, want bob alone", out)
	}
	if out, _ := mustCLI(t, 0, "replicas", "s1", "--table", "sessions", on(n1)); strings.Count(out, "stamp ") != 3 {
		t.Fatalf("replicas --table printed %q, want a stamp on each of 3 replicas", out)
	}
	if _, errOut, code := cli(t, "table", "create", "counters", "--conflict", "newest", on(n1)); code == 0 || !strings.Contains(errOut, "newest") {
		t.Fatalf("create --conflict newest: exit %d, %q; want a refusal naming it", code, errOut)
	}
}
