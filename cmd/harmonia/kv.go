package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/internal/certs"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"github.com/harmoniakv/harmonia/node"
	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// requestFlags are the flags every client command shares.
type requestFlags struct {
	addr    string
	timeout time.Duration
	tls     certs.Files
}

func (f *requestFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.addr, "addr", defaultAddr, "client address (host:port) of any node")
	c.Flags().DurationVar(&f.timeout, "timeout", 5*time.Second, "request timeout")
	registerTLSFlags(c, &f.tls, "this client's certificate")
}

// registerTLSFlags adds --tls-cert, --tls-key and --tls-ca, whose defaults
// are HARMONIA_TLS_CERT, _KEY and _CA.
func registerTLSFlags(c *cobra.Command, f *certs.Files, whose string) {
	c.Flags().StringVar(&f.Cert, "tls-cert", os.Getenv("HARMONIA_TLS_CERT"), "PEM file of "+whose+" (mutual TLS; with --tls-key and --tls-ca)")
	c.Flags().StringVar(&f.Key, "tls-key", os.Getenv("HARMONIA_TLS_KEY"), "PEM file of its private key")
	c.Flags().StringVar(&f.CA, "tls-ca", os.Getenv("HARMONIA_TLS_CA"), "PEM file of the cluster CA, which signs the nodes' certificates")
}

// dialNode connects to a node's client address, over mutual TLS when the
// flags give certificates.
func (f *requestFlags) dialNode(addr string) (*client.Client, error) {
	if !f.tls.Enabled() {
		return client.Dial(addr)
	}
	if err := f.tls.Check(); err != nil {
		return nil, usageErr("%v", err)
	}
	c, err := client.DialMutualTLS(addr, client.TLSFiles{Cert: f.tls.Cert, Key: f.tls.Key, CA: f.tls.CA})
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return c, nil
}

func (f *requestFlags) dial() (*client.Client, context.Context, context.CancelFunc, error) {
	c, err := f.dialNode(f.addr)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout+time.Second)
	return c, ctx, func() { cancel(); c.Close() }, nil
}

// call runs one request: dial, do, then print the response as protojson
// (--json) or as text.
func call[T proto.Message](cmd *cobra.Command, rf *requestFlags, do func(context.Context, *client.Client) (T, error), text func(T)) error {
	cl, ctx, done, err := rf.dial()
	if err != nil {
		return err
	}
	defer done()
	res, err := do(ctx, cl)
	if err != nil {
		return err
	}
	if jsonOut(cmd) {
		printJSON(res)
	} else {
		text(res)
	}
	return nil
}

func jsonOut(c *cobra.Command) bool {
	j, _ := c.Flags().GetBool("json")
	return j
}

func printJSON(m proto.Message) {
	fmt.Println(protojson.MarshalOptions{Multiline: true, EmitUnpopulated: true}.Format(m))
}

// decodeContext reads a context as get prints it: in text, base64 with the
// URL alphabet and no padding; with --json, protojson's standard base64
// (+, /, =). Both are accepted, so that --json output round-trips.
func decodeContext(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	raw := strings.TrimRight(s, "=")
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(raw)
	}
	if err == nil && len(b) == 0 {
		err = errors.New("empty")
	}
	if err != nil {
		return nil, usageErr("--context is not a context printed by get (base64, as get prints it with or without --json): %v", err)
	}
	return b, nil
}

func encodeContext(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func putCmd() *cobra.Command {
	var rf requestFlags
	var w, pw, ctxFlag, table, ifVersion string
	var ifAbsent bool
	c := &cobra.Command{
		Use:   "put KEY VALUE",
		Short: "write a value (blind, or superseding the versions a --context names; on a strong table, --if-absent or --if-version)",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			causal, err := decodeContext(ctxFlag)
			if err != nil {
				return err
			}
			version, err := decodeVersion(ifVersion)
			if err != nil {
				return err
			}
			if ifAbsent && version != nil {
				return usageErr("--if-absent and --if-version exclude each other")
			}
			req := &kvpb.PutRequest{Key: []byte(args[0]), Value: []byte(args[1]), Context: causal, W: w, Pw: pw, TimeoutMs: uint32(rf.timeout.Milliseconds()),
				Table: table, IfAbsent: ifAbsent, IfVersion: version}
			return call(cmd, &rf, func(ctx context.Context, cl *client.Client) (*kvpb.PutResponse, error) {
				return cl.KV().Put(ctx, req)
			}, func(res *kvpb.PutResponse) {
				if res.Consistency == "strong" {
					fmt.Printf("ok (accepted by a majority of the key's replicas)\ncontext: %s\n", encodeContext(res.Context))
					return
				}
				fmt.Printf("ok (%d acks, %d of them hinted)\ncontext: %s\n", res.Acks, res.Hinted, encodeContext(res.Context))
			})
		},
	}
	rf.register(c)
	c.Flags().StringVar(&w, "w", "", "write quorum: one, quorum, all or a number (default: the server's, 2; eventual tables)")
	c.Flags().StringVar(&pw, "pw", "", "how many acks must come from primaries, not fallbacks (default: none; eventual tables)")
	c.Flags().StringVar(&ctxFlag, "context", "", "causal context printed by get (eventual tables)")
	c.Flags().StringVar(&table, "table", "", "table (default: the built-in table)")
	c.Flags().BoolVar(&ifAbsent, "if-absent", false, "strong tables: write only if the key has no value (exit code 4 if it has)")
	c.Flags().StringVar(&ifVersion, "if-version", "", "strong tables: write only if the key's version is this context, printed by get (exit code 4 if not)")
	return c
}

// decodeVersion reads --if-version: a context as get prints it.
func decodeVersion(s string) ([]byte, error) {
	b, err := decodeContext(s)
	if err != nil {
		return nil, usageErr("--if-version is not a context printed by get (base64, as get prints it with or without --json)")
	}
	return b, nil
}

// conditionFailedLine is what the CLI prints for a failed condition: the
// server's message and the key's current version, to pass as --if-version.
func conditionFailedLine(err error, cf *kvpb.ConditionFailed) string {
	msg := status.Convert(err).Message()
	if len(cf.Context) == 0 {
		return "harmonia: " + msg
	}
	return fmt.Sprintf("harmonia: %s (current version: %s)", msg, encodeContext(cf.Context))
}

func getCmd() *cobra.Command {
	var rf requestFlags
	var r, table string
	c := &cobra.Command{
		Use:   "get KEY",
		Short: "read a key: every concurrent version (sibling) and the context (of a crdt table, its typed value)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, ctx, done, err := rf.dial()
			if err != nil {
				return err
			}
			defer done()
			res, err := cl.KV().Get(ctx, &kvpb.GetRequest{Key: []byte(args[0]), R: r, TimeoutMs: uint32(rf.timeout.Milliseconds()), Table: table})
			if err != nil {
				if typed, ok := getTyped(cmd, ctx, cl, table, args[0], r, err); ok {
					return typed
				}
				return err
			}
			if jsonOut(cmd) {
				printJSON(res)
			}
			if !res.Found {
				return &codedError{code: exitNotFound, msg: "not found"}
			}
			if jsonOut(cmd) {
				return nil
			}
			if len(res.Siblings) == 1 {
				fmt.Println(string(res.Siblings[0].Value))
			} else {
				fmt.Printf("%d siblings:\n", len(res.Siblings))
				for i, s := range res.Siblings {
					fmt.Printf("  [%d] %s\n", i+1, s.Value)
				}
			}
			fmt.Printf("context: %s\n", encodeContext(res.Context))
			return nil
		},
	}
	rf.register(c)
	c.Flags().StringVar(&r, "r", "", "read quorum: one, quorum, all or a number (default: the server's, 2; eventual tables)")
	c.Flags().StringVar(&table, "table", "", "table (default: the built-in table); a get of a strong table is linearizable")
	return c
}

// getTyped reads a key of a table of CRDT values, whose get the server
// refuses (InvalidArgument: its values change by operations), with Fetch,
// and prints its typed value as map get does; ok is false for any other
// failure of get, which is then the answer.
func getTyped(cmd *cobra.Command, ctx context.Context, cl *client.Client, table, key, r string, getErr error) (err error, ok bool) {
	if table == "" || status.Code(getErr) != codes.InvalidArgument {
		return nil, false
	}
	d, err := cl.Tables().DescribeTable(ctx, &kvpb.DescribeTableRequest{Name: table})
	if err != nil || d.Table.GetConflict() != "crdt" {
		return nil, false
	}
	res, err := cl.Fetch(ctx, []byte(key), client.Options{Table: table, Quorum: r})
	if err != nil {
		return err, true
	}
	if jsonOut(cmd) {
		printJSON(res)
	}
	if !res.Found {
		return &codedError{code: exitNotFound, msg: "not found"}, true
	}
	if !jsonOut(cmd) {
		fmt.Println(protojson.MarshalOptions{Multiline: true}.Format(res.Value))
		fmt.Printf("context: %s\n", encodeContext(res.Context))
	}
	return nil, true
}

func deleteCmd() *cobra.Command {
	var rf requestFlags
	var w, pw, ctxFlag, table, ifVersion string
	c := &cobra.Command{
		Use:   "delete KEY",
		Short: "delete a key (writes a tombstone superseding what --context names)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			causal, err := decodeContext(ctxFlag)
			if err != nil {
				return err
			}
			version, err := decodeVersion(ifVersion)
			if err != nil {
				return err
			}
			return call(cmd, &rf, func(ctx context.Context, cl *client.Client) (*kvpb.DeleteResponse, error) {
				if ctxFlag == "" && version == nil {
					// Without a context a tombstone would sit beside the values as
					// a sibling; read first so the delete supersedes what is there
					// (a strong table has no siblings: its delete goes as it is).
					got, err := cl.KV().Get(ctx, &kvpb.GetRequest{Key: []byte(args[0]), TimeoutMs: uint32(rf.timeout.Milliseconds()), Table: table})
					if err != nil {
						return nil, err
					}
					if got.Consistency != "strong" {
						causal = got.Context
					}
				}
				return cl.KV().Delete(ctx, &kvpb.DeleteRequest{Key: []byte(args[0]), Context: causal, W: w, Pw: pw, TimeoutMs: uint32(rf.timeout.Milliseconds()),
					Table: table, IfVersion: version})
			}, func(res *kvpb.DeleteResponse) {
				if res.Consistency == "strong" {
					fmt.Println("deleted (accepted by a majority of the key's replicas)")
					return
				}
				fmt.Printf("deleted (%d acks, %d of them hinted)\n", res.Acks, res.Hinted)
			})
		},
	}
	rf.register(c)
	c.Flags().StringVar(&w, "w", "", "write quorum: one, quorum, all or a number")
	c.Flags().StringVar(&pw, "pw", "", "how many acks must come from primaries, not fallbacks (default: none)")
	c.Flags().StringVar(&ctxFlag, "context", "", "causal context printed by get (default: read the key first; eventual tables)")
	c.Flags().StringVar(&table, "table", "", "table (default: the built-in table)")
	c.Flags().StringVar(&ifVersion, "if-version", "", "strong tables: delete only if the key's version is this context, printed by get (exit code 4 if not)")
	return c
}

func statusCmd() *cobra.Command {
	var rf requestFlags
	c := &cobra.Command{
		Use:   "status",
		Short: "members, their state and the partitions each owns",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, &rf, func(ctx context.Context, cl *client.Client) (*kvpb.StatusResponse, error) {
				return cl.Status(ctx)
			}, printStatus)
		},
	}
	rf.register(c)
	return c
}

// securityNotes say what each security mode means for who is trusted.
var securityNotes = map[string]string{
	node.SecurityTLS:      " (mutual TLS on the cluster and client ports)",
	node.SecurityInsecure: " (no TLS, and other machines can reach it: every caller is trusted, admin calls included)",
	node.SecurityLoopback: " (no TLS; bound to loopback, so every process on its machine is trusted)",
}

func printStatus(res *kvpb.StatusResponse) {
	fmt.Printf("node %s: %d partitions, N=%d, ring %s\n", res.Node, res.Partitions, res.N, res.Ring)
	if res.Fenced != "" {
		fmt.Printf("NOT SERVING: %s\n", res.Fenced)
	}
	if res.Security != "" { // empty from a node older than the field
		fmt.Printf("security: %s%s\n", res.Security, securityNotes[res.Security])
	}
	if off := res.GetClockOffset().AsDuration(); off != 0 {
		fmt.Printf("clock: set %v from the machine's (a test's clock skew)\n", off)
	}
	switch d := res.Disk; {
	case d.GetFailed() != "":
		fmt.Printf("STORAGE FAILED, no reads or writes until restarted: %s\n", d.Failed)
	case d.GetFull():
		fmt.Printf("DISK FULL, writes refused: %d of %d bytes free\n", d.FreeBytes, d.TotalBytes)
	}
	fmt.Printf("%-8s %-8s %-21s %-21s %5s %5s %9s %7s %s\n", "MEMBER", "STATE", "CLUSTER", "CLIENT", "OWNS", "HOLDS", "HEARTBEAT", "PHI", "GENERATION")
	for _, m := range res.Members {
		age := "never"
		if m.LastHeartbeatAgeMs >= 0 {
			age = fmt.Sprintf("%dms", m.LastHeartbeatAgeMs)
		}
		fmt.Printf("%-8s %-8s %-21s %-21s %5d %5d %9s %7.2f %d\n", m.Id, m.State, m.ClusterAddr, m.ClientAddr,
			m.PartitionsOwned, m.PartitionsHeld, age, m.Phi, m.Generation)
	}
	for _, h := range res.Hints {
		if h.Count > 0 || h.Dropped > 0 || h.Replayed > 0 {
			fmt.Printf("hints for %s: %d pending (%d bytes, oldest %dms), %d replayed, %d dropped\n",
				h.Target, h.Count, h.Bytes, h.OldestAgeMs, h.Replayed, h.Dropped)
		}
	}
	if r := res.Repair; r != nil {
		fmt.Printf("anti-entropy: %d exchanges (%d restarted after a crash), %d keys repaired, %d bytes sent, %d tree hashes compared; %d strong keys repaired, %d stale proposals completed\n",
			r.Exchanges, r.ExchangesRestarted, r.KeysRepaired, r.Bytes, r.Hashes, r.AcceptorsRepaired, r.AcceptorsCompleted)
	}
	if t := res.Tombstones; t != nil {
		fmt.Printf("tombstones: %d held, %d reaped; %d fallback partitions dropped", t.Held, t.Reaped, t.PartitionsDropped)
		if t.AcceptorStatesDropped > 0 {
			fmt.Printf("; %d strong tombstones dropped", t.AcceptorStatesDropped)
		}
		if t.Blocked != "" {
			fmt.Printf(" (reaping waits: %s)", t.Blocked)
		}
		fmt.Println()
	}
	if t := res.Tables; t.GetTables() > 0 || len(t.GetPurging()) > 0 {
		fmt.Printf("tables: %d (catalog revision %d)", t.Tables, t.CatalogRevision)
		if len(t.Purging) > 0 {
			fmt.Printf("; removing the data of deleted table ids %v", t.Purging)
		}
		fmt.Println()
	}
	if res.ReplicaDataRefused > 0 {
		fmt.Printf("replica data refused from non-members: %d (reasons in the log)\n", res.ReplicaDataRefused)
	}
	if res.Ring != "stable" {
		done := 0
		for _, t := range res.Transfers {
			if t.Done {
				done++
			}
		}
		fmt.Printf("transition: %d replicas move cluster-wide; this node has received %d of %d; done: %s\n",
			res.MovesTotal, done, len(res.Transfers), strings.Join(res.TransitionDone, ","))
	}
}

func replicasCmd() *cobra.Command {
	var rf requestFlags
	var table string
	c := &cobra.Command{
		Use:   "replicas KEY",
		Short: "each replica's own versions and clocks of KEY, read directly",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, &rf, func(ctx context.Context, cl *client.Client) (*kvpb.ReplicasResponse, error) {
				return cl.ReplicasIn(ctx, []byte(args[0]), table)
			}, func(res *kvpb.ReplicasResponse) { printReplicas(args[0], res) })
		},
	}
	rf.register(c)
	c.Flags().StringVar(&table, "table", "", "an eventual table (default: the built-in table)")
	return c
}

func printReplicas(key string, res *kvpb.ReplicasResponse) {
	fmt.Printf("key %q, partition %d\n", key, res.Partition)
	for _, r := range res.Replicas {
		switch {
		case !r.Answered:
			fmt.Printf("%s: no answer (%s)\n", r.Node, r.Error)
			continue
		case r.Error != "":
			fmt.Printf("%s: error: %s\n", r.Node, r.Error)
			continue
		case len(r.Siblings) == 0:
			fmt.Printf("%s: (nothing)\n", r.Node)
			continue
		}
		fmt.Printf("%s:\n", r.Node)
		for _, s := range r.Siblings {
			v := fmt.Sprintf("%q", s.Value)
			if s.Deleted {
				v = "(tombstone)"
			}
			stamp := ""
			if s.Stamp != "" {
				stamp = "  stamp " + s.Stamp
			}
			fmt.Printf("  %s  dot %s  context %s%s\n", v, entryString(s.Dot), clockString(s.Context), stamp)
		}
	}
}

func entryString(e *kvpb.ClockEntry) string {
	return fmt.Sprintf("%s.%x:%d", e.GetNode(), e.GetIncarnation()&0xffff, e.GetCounter())
}

func clockString(c []*kvpb.ClockEntry) string {
	parts := make([]string, len(c))
	for i, e := range c {
		parts[i] = entryString(e)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErr("%s takes %d argument(s), got %d (usage: harmonia %s)", cmd.Name(), n, len(args), cmd.Use)
		}
		return nil
	}
}
