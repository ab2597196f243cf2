package main

import (
	"context"
	"fmt"
	"time"

	"github.com/harmoniakv/harmonia/cluster/client"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"github.com/spf13/cobra"
)

// tableCmd groups the table commands: create, describe, list, delete.
func tableCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "table",
		Short: "create, describe, list and delete tables (strong or eventual)",
	}
	c.AddCommand(tableCreateCmd(), tableDescribeCmd(), tableListCmd(), tableDeleteCmd())
	return c
}

func printTable(t *kvpb.TableDescription) {
	created := time.Unix(0, t.CreatedUnixNanos).UTC().Format(time.RFC3339)
	fmt.Printf("%-32s %-9s id %-6d created %s\n", t.Name, t.Consistency, t.Id, created)
}

func tableCreateCmd() *cobra.Command {
	var rf requestFlags
	var consistency string
	c := &cobra.Command{
		Use:   "create NAME",
		Short: "create a table (admin role with mutual TLS)",
		Long: "Create a table. A strong table's keys are each a consensus register: linearizable gets,\n" +
			"put --if-absent / --if-version and delete --if-version. An eventual table is the Dynamo path\n" +
			"(any node takes writes, concurrent ones are kept as siblings).",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if consistency != "strong" && consistency != "eventual" {
				return usageErr("--consistency %q: use strong or eventual", consistency)
			}
			return call(cmd, &rf, func(ctx context.Context, cl *client.Client) (*kvpb.CreateTableResponse, error) {
				return cl.Tables().CreateTable(ctx, &kvpb.CreateTableRequest{Name: args[0], Consistency: consistency, TimeoutMs: uint32(rf.timeout.Milliseconds())})
			}, func(res *kvpb.CreateTableResponse) {
				fmt.Print("created ")
				printTable(res.Table)
			})
		},
	}
	rf.register(c)
	c.Flags().StringVar(&consistency, "consistency", "eventual", "strong or eventual")
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
