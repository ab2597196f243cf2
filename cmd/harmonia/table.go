package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"github.com/spf13/cobra"
)

// tableCmd groups the table commands: create, describe, list, delete, ttl.
func tableCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "table",
		Short: "create, describe, list and delete tables (strong or eventual)",
	}
	c.AddCommand(tableCreateCmd(), tableDescribeCmd(), tableListCmd(), tableDeleteCmd(), tableTTLCmd())
	return c
}

func printTable(t *kvpb.TableDescription) {
	created := time.Unix(0, t.CreatedUnixNanos).UTC().Format(time.RFC3339)
	key := ""
	if p := t.PartitionKey; p != nil {
		key = " key " + p.Name + ":" + p.Type
		if s := t.SortKey; s != nil {
			key += " " + s.Name + ":" + s.Type
		}
	}
	if t.TtlAttribute != "" {
		key += " ttl " + t.TtlAttribute
	}
	if t.Conflict != "" {
		key += " conflict " + t.Conflict
	}
	fmt.Printf("%-32s %-9s id %-6d created %s%s\n", t.Name, t.Consistency, t.Id, created, key)
}

// parseKeyAttribute reads --partition-key or --sort-key: NAME:TYPE, the
// type S, N or B (which the server checks). The last colon splits, as a
// name may hold colons.
func parseKeyAttribute(flag, s string) (*kvpb.KeyAttribute, error) {
	i := strings.LastIndex(s, ":")
	if i <= 0 || i == len(s)-1 {
		return nil, usageErr("--%s %q: give NAME:TYPE, like id:S (the type S, N or B)", flag, s)
	}
	return &kvpb.KeyAttribute{Name: s[:i], Type: s[i+1:]}, nil
}

// createTableRequest reads table create's flags: with --partition-key a
// table of items (strong unless --consistency says otherwise, which the
// server refuses), else a table of keys and values.
func createTableRequest(name, consistency string, consistencySet bool, conflict, partitionKey, sortKey string, timeout time.Duration) (*kvpb.CreateTableRequest, error) {
	if consistency != "strong" && consistency != "eventual" {
		return nil, usageErr("--consistency %q: use strong or eventual", consistency)
	}
	req := &kvpb.CreateTableRequest{Name: name, Consistency: consistency, Conflict: conflict, TimeoutMs: uint32(timeout.Milliseconds())}
	if partitionKey == "" {
		if sortKey != "" {
			return nil, usageErr("--sort-key needs --partition-key")
		}
		return req, nil
	}
	var err error
	if req.PartitionKey, err = parseKeyAttribute("partition-key", partitionKey); err != nil {
		return nil, err
	}
	if sortKey != "" {
		if req.SortKey, err = parseKeyAttribute("sort-key", sortKey); err != nil {
			return nil, err
		}
	}
	if !consistencySet {
		req.Consistency = "" // the server's default for items: strong
	}
	return req, nil
}

func tableCreateCmd() *cobra.Command {
	var rf requestFlags
	var consistency, conflict, partitionKey, sortKey string
	c := &cobra.Command{
		Use:   "create NAME",
		Short: "create a table (admin role with mutual TLS)",
		Long: "Create a table. A strong table's keys are each a consensus register: linearizable gets,\n" +
			"put --if-absent / --if-version and delete --if-version. An eventual table is the Dynamo path\n" +
			"(any node takes writes); --conflict says how it settles concurrent writes of a key: siblings\n" +
			"(the default) keeps them all for the client to resolve, lww keeps the one with the highest hybrid\n" +
			"logical timestamp and loses the others by design (a write made with the context of another\n" +
			"still wins over it, whatever the clocks).\n" +
			"With --partition-key (and --sort-key) the table holds items under that key schema, read and\n" +
			"written with harmonia item or the DynamoDB endpoint; a table of items is strong unless\n" +
			"--consistency eventual is given, and then its last writer wins (no conditions), or with\n" +
			"--conflict crdt concurrent writes merge: an ADD to a number counts, set elements add and remove.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := createTableRequest(args[0], consistency, cmd.Flags().Changed("consistency"), conflict, partitionKey, sortKey, rf.timeout)
			if err != nil {
				return err
			}
			return call(cmd, &rf, func(ctx context.Context, cl *client.Client) (*kvpb.CreateTableResponse, error) {
				return cl.Tables().CreateTable(ctx, req)
			}, func(res *kvpb.CreateTableResponse) {
				fmt.Print("created ")
				printTable(res.Table)
			})
		},
	}
	rf.register(c)
	c.Flags().StringVar(&consistency, "consistency", "eventual", "strong or eventual (a table of items: strong unless given)")
	c.Flags().StringVar(&conflict, "conflict", "", "an eventual table's way with concurrent writes: siblings (default; lww for items), lww or crdt")
	c.Flags().StringVar(&partitionKey, "partition-key", "", "NAME:TYPE (S, N or B): a table of items with this partition key")
	c.Flags().StringVar(&sortKey, "sort-key", "", "NAME:TYPE: the items' sort key (with --partition-key)")
	return c
}

func tableDescribeCmd() *cobra.Command {
	var rf requestFlags
	c := &cobra.Command{
		Use:   "describe NAME",
		Short: "show a table's properties",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, &rf, func(ctx context.Context, cl *client.Client) (*kvpb.DescribeTableResponse, error) {
				return cl.Tables().DescribeTable(ctx, &kvpb.DescribeTableRequest{Name: args[0], TimeoutMs: uint32(rf.timeout.Milliseconds())})
			}, func(res *kvpb.DescribeTableResponse) { printTable(res.Table) })
		},
	}
	rf.register(c)
	return c
}

func tableListCmd() *cobra.Command {
	var rf requestFlags
	c := &cobra.Command{
		Use:   "list",
		Short: "list the tables (the built-in default table is not listed)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, &rf, func(ctx context.Context, cl *client.Client) (*kvpb.ListTablesResponse, error) {
				return cl.Tables().ListTables(ctx, &kvpb.ListTablesRequest{TimeoutMs: uint32(rf.timeout.Milliseconds())})
			}, func(res *kvpb.ListTablesResponse) {
				if len(res.Tables) == 0 {
					fmt.Println("no tables (the KV API's built-in table always exists)")
				}
				for _, t := range res.Tables {
					printTable(t)
				}
			})
		},
	}
	rf.register(c)
	return c
}

func tableDeleteCmd() *cobra.Command {
	var rf requestFlags
	c := &cobra.Command{
		Use:   "delete NAME",
		Short: "delete a table: its requests stop at once, its data is removed in the background (admin role with mutual TLS)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, &rf, func(ctx context.Context, cl *client.Client) (*kvpb.DeleteTableResponse, error) {
				return cl.Tables().DeleteTable(ctx, &kvpb.DeleteTableRequest{Name: args[0], TimeoutMs: uint32(rf.timeout.Milliseconds())})
			}, func(res *kvpb.DeleteTableResponse) {
				fmt.Print("deleted ")
				printTable(res.Table)
			})
		},
	}
	rf.register(c)
	return c
}

func tableTTLCmd() *cobra.Command {
	var rf requestFlags
	var disable bool
	c := &cobra.Command{
		Use:   "ttl NAME ATTRIBUTE",
		Short: "expire a table's items on an attribute of Unix seconds, or --disable it (admin role with mutual TLS)",
		Long: "Enable TTL on a table of items: from the moment an item's ATTRIBUTE is a number of Unix seconds\n" +
			"at or before the node's clock, no read returns the item, and the nodes delete it in the background.\n" +
			"With --disable, turn the TTL on ATTRIBUTE off. As DynamoDB, enabling a table whose TTL is enabled,\n" +
			"or disabling one whose TTL is not, is refused.",
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, &rf, func(ctx context.Context, cl *client.Client) (*kvpb.UpdateTimeToLiveResponse, error) {
				return cl.Tables().UpdateTimeToLive(ctx, &kvpb.UpdateTimeToLiveRequest{Table: args[0], Attribute: args[1], Enabled: !disable,
					TimeoutMs: uint32(rf.timeout.Milliseconds())})
			}, func(res *kvpb.UpdateTimeToLiveResponse) {
				state := "disabled"
				if res.Enabled {
					state = "enabled"
				}
				fmt.Printf("ttl of %s %s on %s\n", args[0], state, res.Attribute)
			})
		},
	}
	rf.register(c)
	c.Flags().BoolVar(&disable, "disable", false, "turn the TTL on ATTRIBUTE off")
	return c
}
