package tests

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/cluster/datatype"
	"github.com/harmoniakv/harmonia/messages/datatypepb"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// fetchField reads key through nd at R=all and returns the value of the
// field of type typ at names, with the key's context.
func fetchField(t *testing.T, nd *node, key, typ string, names ...string) (*datatypepb.DatatypeValue, []byte) {
	t.Helper()
	res, err := nd.client.Fetch(ctxT(t), []byte(key), client.Options{Table: "datatypes", Quorum: "all"})
	if err != nil {
		t.Fatalf("fetch %s through %s: %v", key, nd.id, err)
	}
	return datatype.Field(res.Value, datatype.Path(typ, names...)...), res.Context
}

// A table of CRDT values on three processes: concurrent increments through
// every node add up exactly, and keep adding up across a node's kill
// (hinted handoff carries deltas); set adds and removes are add-wins and
// observed-remove; bad operations are refused with a clear status and
// change nothing.
func TestCRDTTable(t *testing.T) {
	c := startCluster(t, 3)
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	if _, err := n1.client.Tables().CreateTable(ctxT(t), &kvpb.CreateTableRequest{Name: "datatypes", Conflict: "crdt"}); err != nil {
		t.Fatal(err)
	}
	o := client.Options{Table: "datatypes"}

	// Concurrent increments through every node.
	const per = 40
	var wg sync.WaitGroup
	for i, nd := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				if _, err := nd.client.Update(ctxT(t), []byte("views"), nil, []*datatypepb.DatatypeOp{datatype.Increment(int64(i+1), "n")}, o); err != nil {
					t.Errorf("increment through %s: %v", nd.id, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	want := int64(per * (1 + 2 + 3))
	for _, nd := range c.nodes {
		if v, _ := fetchField(t, nd, "views", "counter", "n"); v.GetCounter() != want {
			t.Fatalf("%s reads the counter at %v, want %d", nd.id, v, want)
		}
	}

	// A node killed: increments go on at W=2, the node's share waits in
	// hints, and once it is back every node reads every increment.
	c.kill(n3)
	c.waitDown("n3")
	for i := range 20 {
		nd := c.nodes[i%2]
		if _, err := nd.client.Update(ctxT(t), []byte("views"), nil, []*datatypepb.DatatypeOp{datatype.Increment(-1, "n")}, o); err != nil {
			t.Fatalf("decrement through %s with n3 down: %v", nd.id, err)
		}
	}
	want -= 20
	c.start(n3)
	c.waitAllUp()
	c.eventually(agreeWithin, "every replica holds every increment", func() error {
		res, err := n1.client.ReplicasIn(ctxT(t), []byte("views"), "datatypes")
		if err != nil {
			return err
		}
		for _, r := range res.Replicas {
			if len(r.Siblings) != 1 {
				return fmt.Errorf("%s holds %d versions", r.Node, len(r.Siblings))
			}
		}
		for _, nd := range c.nodes {
			res, err := nd.client.Fetch(ctxT(t), []byte("views"), client.Options{Table: "datatypes", Quorum: "one"})
			if err != nil {
				return err
			}
			if got := datatype.Field(res.Value, datatype.Path("counter", "n")...).GetCounter(); got != want {
				return fmt.Errorf("%s at R=1 reads %d, want %d", nd.id, got, want)
			}
		}
		return nil
	})

	// A set: adds from two nodes; a remove with the context of a fetch
	// takes what it saw; an add concurrent with a remove wins.
	for _, u := range []struct {
		nd *node
		el string
	}{{n1, "apples"}, {n2, "pears"}, {n3, "plums"}} {
		if _, err := u.nd.client.Update(ctxT(t), []byte("cart"), nil, []*datatypepb.DatatypeOp{datatype.Add(u.el, "items")}, o); err != nil {
			t.Fatal(err)
		}
	}
	v, seen := fetchField(t, n2, "cart", "set", "items")
	if got := v.GetSet().GetValues(); !slices.Equal(got, []string{"apples", "pears", "plums"}) {
		t.Fatalf("cart holds %v", got)
	}
	if _, err := n3.client.Update(ctxT(t), []byte("cart"), nil, []*datatypepb.DatatypeOp{datatype.Add("pears", "items")}, o); err != nil {
		t.Fatal(err) // an add the fetch above did not see
	}
	if _, err := n1.client.Update(ctxT(t), []byte("cart"), seen, []*datatypepb.DatatypeOp{datatype.Remove("plums", "items")}, o); err != nil {
		t.Fatal(err)
	}
	// pears' only add now is one the context did not see: add wins, and
	// the remove is refused rather than undo it.
	if _, err := n1.client.Update(ctxT(t), []byte("cart"), seen, []*datatypepb.DatatypeOp{datatype.Remove("pears", "items")}, o); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("a remove of an element re-added since the fetch: %v, want FailedPrecondition", err)
	}
	if v, _ := fetchField(t, n3, "cart", "set", "items"); !slices.Equal(v.GetSet().GetValues(), []string{"apples", "pears"}) {
		t.Fatalf("after removing plums as fetched, and pears re-added unseen: %v, want [apples pears]", v.GetSet().GetValues())
	}

	// Bad input: each refused with its status, and the value unchanged.
	_, seen = fetchField(t, n1, "cart", "set", "items")
	for _, tc := range []struct {
		rule string
		ops  []*datatypepb.DatatypeOp
		ctx  []byte
		code codes.Code
	}{
		{"a remove of an element the context did not see", []*datatypepb.DatatypeOp{datatype.Remove("kiwis", "items")}, seen, codes.FailedPrecondition},
		{"a remove without a context", []*datatypepb.DatatypeOp{datatype.Remove("apples", "items")}, nil, codes.FailedPrecondition},
		{"an increment on a set", []*datatypepb.DatatypeOp{{Path: datatype.Path("set", "items"), Op: &datatypepb.DatatypeOp_Increment{Increment: 1}}}, nil, codes.InvalidArgument},
		{"a field under a counter", []*datatypepb.DatatypeOp{{Path: []*datatypepb.DatatypeField{{Name: "n", Type: "counter"}, {Name: "x", Type: "set"}}, Op: &datatypepb.DatatypeOp_Add{Add: "a"}}}, nil, codes.InvalidArgument},
		{"an unknown type", []*datatypepb.DatatypeOp{datatype.RemoveField("bag", "items")}, seen, codes.InvalidArgument},
		{"no operation", nil, nil, codes.InvalidArgument},
		{"all or none: a good add before a bad remove", []*datatypepb.DatatypeOp{datatype.Add("figs", "items"), datatype.Remove("kiwis", "items")}, seen, codes.FailedPrecondition},
		{"a context of another key", []*datatypepb.DatatypeOp{datatype.Add("figs", "items")}, func() []byte { _, c := fetchField(t, n1, "views", "counter", "n"); return c }(), codes.InvalidArgument},
	} {
		_, err := n2.client.Update(ctxT(t), []byte("cart"), tc.ctx, tc.ops, o)
		if status.Code(err) != tc.code {
			t.Fatalf("%s: %v, want %v", tc.rule, err, tc.code)
		}
	}
	if v, _ := fetchField(t, n3, "cart", "set", "items"); !slices.Equal(v.GetSet().GetValues(), []string{"apples", "pears"}) {
		t.Fatalf("after refused updates: %v, want [apples pears]", v.GetSet().GetValues())
	}
	// The KV calls and CRDT calls each refuse the other's tables.
	if _, err := n1.client.Get(ctxT(t), []byte("cart"), o); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("get on a crdt table: %v, want InvalidArgument", err)
	}
	if _, err := n1.client.Put(ctxT(t), []byte("cart"), []byte("x"), nil, o); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("put on a crdt table: %v, want InvalidArgument", err)
	}
	if _, err := n1.client.Fetch(ctxT(t), []byte("k"), client.Options{}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("fetch on the default table: %v, want InvalidArgument", err)
	}

	// The CLI: counters, sets and maps, --json's context taken back by
	// --context, and bad input.
	on := func(nd *node) string { return "--addr=" + nd.clientAddr }
	dt := "--table=datatypes"
	if out, _ := mustCLI(t, 0, "counter", "incr", "likes", "5", dt, on(n1)); !strings.Contains(out, "likes counter = 5") {
		t.Fatalf("counter incr printed %q", out)
	}
	mustCLI(t, 0, "counter", "incr", "likes", dt, "--w=all", on(n2))
	var res struct {
		Value   int64  `json:"value"`
		Context string `json:"context"`
	}
	out, _ := mustCLI(t, 0, "counter", "get", "likes", dt, "--r=all", "--json", on(n3))
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Value != 6 || res.Context == "" {
		t.Fatalf("counter get --json printed %q (%v), want value 6 and a context", out, err)
	}
	mustCLI(t, 0, "set", "add", "basket", "apples", "pears", "figs", dt, "--w=all", on(n1))
	var set struct {
		Value   []string `json:"value"`
		Context string   `json:"context"`
	}
	out, _ = mustCLI(t, 0, "set", "get", "basket", dt, "--r=all", "--json", on(n2))
	if err := json.Unmarshal([]byte(out), &set); err != nil || !slices.Equal(set.Value, []string{"apples", "figs", "pears"}) {
		t.Fatalf("set get --json printed %q (%v)", out, err)
	}
	if out, _ := mustCLI(t, 0, "set", "remove", "basket", "pears", dt, "--context", set.Context, "--w=all", on(n3)); !strings.Contains(out, `{"apples", "figs"}`) {
		t.Fatalf("set remove with get --json's context printed %q", out)
	}
	mustCLI(t, 0, "set", "remove", "basket", "figs", dt, "--w=all", on(n1)) // fetches its context first
	mustCLI(t, 0, "map", "update", "basket", dt, "--incr", "visits=2", "--add", "owner/tags=go", "--enable", "owner/active", "--w=all", on(n2))
	out, _ = mustCLI(t, 0, "map", "get", "basket", dt, "--r=all", "--json", on(n3))
	var fetched kvpb.FetchResponse
	if err := protojson.Unmarshal([]byte(out), &fetched); err != nil {
		t.Fatalf("map get --json printed %q: %v", out, err)
	}
	if datatype.Field(fetched.Value, datatype.Path("counter", "visits")...).GetCounter() != 2 ||
		!slices.Equal(datatype.Field(fetched.Value, datatype.Path("set", "owner", "tags")...).GetSet().GetValues(), []string{"go"}) ||
		!datatype.Field(fetched.Value, datatype.Path("flag", "owner", "active")...).GetFlag() ||
		!slices.Equal(datatype.Field(fetched.Value, datatype.Path("set", "set")...).GetSet().GetValues(), []string{"apples"}) {
		t.Fatalf("map get --json printed %q: want visits 2, owner/tags [go], owner/active on, set [apples]", out)
	}
	// A last-writer-wins register: the later assignment wins, through
	// another node (the CLI fetches a context first, and the replica that
	// applies it stamps it above what that context saw).
	mustCLI(t, 0, "map", "update", "basket", dt, "--assign-lww", "owner/color=red", on(n1))
	mustCLI(t, 0, "map", "update", "basket", dt, "--assign-lww", "owner/color=blue", on(n3))
	out, _ = mustCLI(t, 0, "map", "get", "basket", dt, "--r=all", "--json", on(n2))
	var colored kvpb.FetchResponse
	if err := protojson.Unmarshal([]byte(out), &colored); err != nil || datatype.Field(colored.Value, datatype.Path("lww-register", "owner", "color")...).GetLwwRegister() != "blue" {
		t.Fatalf("map get --json printed %q (%v): want owner/color blue, the later assignment", out, err)
	}
	// get on a crdt table prints the typed value (its --json: the fetch's,
	// as map get's), and a missing key exits 3.
	out, _ = mustCLI(t, 0, "get", "basket", dt, "--r=all", "--json", on(n1))
	var got kvpb.FetchResponse
	if err := protojson.Unmarshal([]byte(out), &got); err != nil || !got.Found ||
		datatype.Field(got.Value, datatype.Path("counter", "visits")...).GetCounter() != 2 {
		t.Fatalf("get --json of a crdt key printed %q (%v): want its typed value, visits 2", out, err)
	}
	if out, _ := mustCLI(t, 0, "get", "likes", dt, on(n2)); !strings.Contains(out, "6") || !strings.Contains(out, "context: ") {
		t.Fatalf("get of a counter printed %q: want its total and a context", out)
	}
	mustCLI(t, exitCodeNotFound, "get", "nothing-here", dt, on(n3))
	mustCLI(t, exitCodeUsage, "counter", "incr", "likes", "lots", dt, on(n1))
	mustCLI(t, exitCodeUsage, "counter", "get", "likes", on(n1)) // no --table
	if _, errOut := mustCLI(t, exitCodeError, "set", "remove", "basket", "kiwis", dt, on(n1)); !strings.Contains(errOut, "FailedPrecondition") || !strings.Contains(errOut, "kiwis") {
		t.Fatalf("a remove of an element never added: %q", errOut)
	}
	if _, errOut := mustCLI(t, exitCodeError, "put", "basket", "x", dt, on(n1)); !strings.Contains(errOut, "Fetch") {
		t.Fatalf("put on a crdt table: %q", errOut)
	}
}
