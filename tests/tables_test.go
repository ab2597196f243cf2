package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"github.com/harmoniakv/harmonia/persistence"
	"google.golang.org/grpc/codes"
)

// Exit codes of the CLI (cmd/harmonia/main.go).
const (
	exitCodeError           = 1
	exitCodeUsage           = 2
	exitCodeNotFound        = 3
	exitCodeConditionFailed = 4
)

// jsonField runs the CLI with --json and returns one top-level field.
func jsonField(t *testing.T, field string, args ...string) string {
	t.Helper()
	out, errOut, code := cli(t, append(args, "--json")...)
	if code != 0 && code != exitCodeNotFound {
		t.Fatalf("%v: exit %d: %s", args, code, errOut)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v: %v in %q", args, err, out)
	}
	v, _ := m[field].(string)
	return v
}

// mustCLI runs the CLI and fails the test unless it exits with want.
func mustCLI(t *testing.T, want int, args ...string) (string, string) {
	t.Helper()
	out, errOut, code := cli(t, args...)
	if code != want {
		t.Fatalf("harmonia %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out, errOut
}

// Tables end to end through the CLI and the Go client, on three real
// processes: the catalog (created on one node, known on every other at
// once), strong keys' conditions and their exit codes, the separation of
// tables, bad input, and deletion (NotFound everywhere, the data removed
// from disk, also on a node that was down when the table was deleted).
func TestTables(t *testing.T) {
	c := startCluster(t, 3)
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	on := func(nd *node) string { return "--addr=" + nd.clientAddr }

	mustCLI(t, 0, "table", "create", "orders", "--consistency", "strong", on(n1))
	mustCLI(t, 0, "table", "create", "carts", on(n1)) // eventual by default

	t.Run("a table created on one node serves on every node at once", func(t *testing.T) {
		mustCLI(t, 0, "put", "k", "v1", "--table", "orders", "--if-absent", on(n3))
		out, _ := mustCLI(t, 0, "get", "k", "--table", "orders", on(n2))
		if !strings.HasPrefix(out, "v1\n") {
			t.Fatalf("get on n2: %q", out)
		}
	})

	t.Run("list and describe agree, and --json names the consistency", func(t *testing.T) {
		out, _ := mustCLI(t, 0, "table", "list", "--json", on(n2))
		var list struct {
			Tables []struct{ Name, Consistency string }
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprint(list.Tables)
		if got != "[{carts eventual} {orders strong}]" {
			t.Fatalf("list: %s", got)
		}
		mustCLI(t, exitCodeError, "table", "create", "orders", on(n2)) // AlreadyExists
		_, errOut := mustCLI(t, exitCodeError, "table", "describe", "nope", on(n3))
		if !strings.Contains(errOut, "NotFound") || !strings.Contains(errOut, `"nope"`) {
			t.Fatalf("describe of an unknown table: %s", errOut)
		}
	})

	t.Run("strong conditions: if-absent, if-version from get --json, exit code 4 with the current version", func(t *testing.T) {
		_, errOut := mustCLI(t, exitCodeConditionFailed, "put", "k", "v2", "--table", "orders", "--if-absent", on(n1))
		if !strings.Contains(errOut, "condition failed") || !strings.Contains(errOut, "current version") {
			t.Fatalf("failed if-absent: %s", errOut)
		}
		v1 := jsonField(t, "context", "get", "k", "--table", "orders", on(n2))
		mustCLI(t, 0, "put", "k", "v2", "--table", "orders", "--if-version", v1, on(n3))
		// The version v1 names is gone: a second writer with it loses.
		mustCLI(t, exitCodeConditionFailed, "put", "k", "v3", "--table", "orders", "--if-version", v1, on(n1))
		mustCLI(t, exitCodeConditionFailed, "delete", "k", "--table", "orders", "--if-version", v1, on(n2))
		v2 := jsonField(t, "context", "get", "k", "--table", "orders", on(n1))
		mustCLI(t, 0, "delete", "k", "--table", "orders", "--if-version", v2, on(n1))
		mustCLI(t, exitCodeNotFound, "get", "k", "--table", "orders", on(n3))
		mustCLI(t, 0, "put", "k", "again", "--table", "orders", "--if-absent", on(n2))
	})

	t.Run("the Go client sees a failed condition and its current value", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		o := client.Options{Table: "orders"}
		ver, err := n1.client.PutIf(ctx, []byte("g"), []byte("first"), nil, o)
		if err != nil {
			t.Fatal(err)
		}
		_, err = n2.client.PutIf(ctx, []byte("g"), []byte("second"), nil, o)
		cf, ok := client.ConditionFailed(err)
		if !ok || !cf.Exists || string(cf.Value) != "first" || !bytes.Equal(cf.Context, ver) {
			t.Fatalf("second if-absent: %v, detail %v", err, cf)
		}
		if _, err := n3.client.PutIf(ctx, []byte("g"), []byte("second"), cf.Context, o); err != nil {
			t.Fatalf("put at the version the failure reported: %v", err)
		}
	})

	t.Run("bad input gets one clear line and changes nothing", func(t *testing.T) {
		other := jsonField(t, "context", "get", "g", "--table", "orders", on(n1))
		eventualCtx := jsonField(t, "context", "put", "e", "x", on(n1))
		long := strings.Repeat("t", 256)
		for _, tc := range []struct {
			name string
			args []string
			want string
			code int
		}{
			{"a quorum on a strong table", []string{"put", "k", "x", "--table", "orders", "--w", "1"}, "r, w and pw do not apply", exitCodeError},
			{"a read quorum on a strong table", []string{"get", "k", "--table", "orders", "--r", "all"}, "r, w and pw do not apply", exitCodeError},
			{"a sibling context on a strong table", []string{"put", "k", "x", "--table", "orders", "--context", eventualCtx}, "takes no causal context", exitCodeError},
			{"the version of another key", []string{"put", "k", "x", "--table", "orders", "--if-version", other}, "not issued by this cluster for this key", exitCodeError},
			{"a causal context as a version", []string{"put", "k", "x", "--table", "orders", "--if-version", eventualCtx}, "not a version of a strong key", exitCodeError},
			{"a version that does not parse", []string{"put", "k", "x", "--table", "orders", "--if-version", "%%%"}, "--if-version", exitCodeUsage},
			{"both conditions", []string{"put", "k", "x", "--table", "orders", "--if-absent", "--if-version", other}, "exclude each other", exitCodeUsage},
			{"a condition on an eventual table", []string{"put", "k", "x", "--table", "carts", "--if-absent"}, "is eventual", exitCodeError},
			{"a condition on the default table", []string{"delete", "k", "--if-version", other}, "is eventual", exitCodeError},
			{"a table name too long", []string{"get", "k", "--table", long}, "invalid table name", exitCodeError},
			{"a table name with odd bytes", []string{"get", "k", "--table", "ord\u00e9rs\x01"}, "invalid table name", exitCodeError},
			{"an unknown table", []string{"put", "k", "x", "--table", "nope"}, `table not found: "nope"`, exitCodeError},
			{"an unknown consistency", []string{"table", "create", "x12", "--consistency", "causal"}, "use strong or eventual", exitCodeUsage},
			{"the built-in table's name", []string{"table", "delete", "default"}, "built-in table", exitCodeError},
		} {
			_, errOut := mustCLI(t, tc.code, append(tc.args, on(n2))...)
			if !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Errorf("%s: stderr %q, want one line with %q", tc.name, errOut, tc.want)
			}
		}
		out, _ := mustCLI(t, 0, "get", "k", "--table", "orders", on(n3))
		if !strings.HasPrefix(out, "again\n") {
			t.Fatalf("the key changed: %q", out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := n1.client.KV().Put(ctx, &kvpb.PutRequest{Key: []byte("\x00e\x00\x00\x00\x02k"), Value: []byte("x")})
		if client.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "reserved") {
			t.Fatalf("a default-table key with the reserved first byte: %v", err)
		}
	})

	t.Run("tables and the default table are separate", func(t *testing.T) {
		mustCLI(t, 0, "put", "same", "in-carts", "--table", "carts", on(n1))
		mustCLI(t, 0, "put", "same", "in-default", on(n2))
		for _, tc := range [][]string{{"in-carts", "--table", "carts"}, {"in-default"}} {
			out, _ := mustCLI(t, 0, append([]string{"get", "same", on(n3)}, tc[1:]...)...)
			if !strings.HasPrefix(out, tc[0]+"\n") {
				t.Fatalf("get %v: %q", tc[1:], out)
			}
		}
		mustCLI(t, exitCodeNotFound, "get", "same", "--table", "orders", on(n1))
	})

	t.Run("a deleted table is gone everywhere and its data is removed, also on a node that was down", func(t *testing.T) {
		ids := map[string]uint32{}
		for _, name := range []string{"orders", "carts"} {
			out, _ := mustCLI(t, 0, "table", "describe", name, "--json", on(n1))
			var d struct{ Table struct{ ID uint32 } }
			if err := json.Unmarshal([]byte(out), &d); err != nil {
				t.Fatal(err)
			}
			ids[name] = d.Table.ID
		}
		for i := range 20 {
			mustCLI(t, 0, "put", fmt.Sprint("o", i), "v", "--table", "orders", on(n1))
			mustCLI(t, 0, "put", fmt.Sprint("c", i), "v", "--table", "carts", "--w", "all", on(n2))
		}
		c.stop(n3)
		mustCLI(t, 0, "table", "delete", "orders", on(n1))
		mustCLI(t, 0, "table", "delete", "carts", on(n2))
		mustCLI(t, exitCodeError, "get", "o1", "--table", "orders", on(n1))
		c.eventually(10*time.Second, "n2 refuses the deleted table", func() error {
			if _, errOut, code := cli(t, "get", "c1", "--table", "carts", on(n2)); code != exitCodeError || !strings.Contains(errOut, "NotFound") {
				return fmt.Errorf("exit %d: %s", code, errOut)
			}
			return nil
		})
		// A table of the same name is a new, empty table.
		mustCLI(t, 0, "table", "create", "carts", on(n1))
		mustCLI(t, exitCodeNotFound, "get", "c1", "--table", "carts", on(n2))

		c.start(n3)
		c.eventually(30*time.Second, "every node removed the deleted tables' data", func() error {
			for _, nd := range c.nodes {
				st, err := c.status(nd)
				if err != nil {
					return err
				}
				if tb := st.Tables; tb.GetTables() != 1 || len(tb.GetPurging()) > 0 {
					return fmt.Errorf("%s: tables %v", nd.id, tb)
				}
			}
			return nil
		})
		c.stopAll()
		for _, nd := range c.nodes {
			assertNoTableData(t, nd, ids["orders"], ids["carts"])
		}
	})
}

// assertNoTableData opens a stopped node's store and fails if it holds any
// object or acceptor state of the tables with ids.
func assertNoTableData(t *testing.T, nd *node, ids ...uint32) {
	t.Helper()
	st, err := persistence.Open(nd.dataDir, nd.id, persistence.DefaultOptions())
	if err != nil {
		t.Fatalf("open %s's store: %v", nd.id, err)
	}
	defer st.Close()
	var prefixes [][]byte
	for _, id := range ids {
		prefixes = append(prefixes, catalog.Prefix(id, catalog.Eventual), catalog.Prefix(id, catalog.Strong))
	}
	held := 0
	for p := 0; p < 64; p++ {
		var after []byte
		for {
			entries, more, err := st.Scan(p, after, 1000, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if slices.ContainsFunc(prefixes, func(pre []byte) bool { return bytes.HasPrefix(e.Key, pre) }) {
					t.Errorf("%s still holds %q of a deleted table in partition %d", nd.id, e.Key, p)
				}
				held++
			}
			if !more || len(entries) == 0 {
				break
			}
			after = entries[len(entries)-1].Key
		}
	}
	for i := range 20 {
		key := catalog.Key(catalog.Table{ID: ids[0], Consistency: catalog.Strong}, []byte(fmt.Sprint("o", i)))
		for p := 0; p < 64; p++ {
			if s, err := st.AcceptorState(p, key); err != nil || !s.Promised.IsZero() {
				t.Fatalf("%s still holds acceptor state of %q in partition %d (%v)", nd.id, key, p, err)
			}
		}
	}
	if held == 0 {
		t.Fatalf("%s holds no keys at all: the check would pass on an empty store", nd.id)
	}
}
