package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/harmoniakv/harmonia/cmd/harmonia/internal/bench"
	"github.com/spf13/cobra"
)

func benchCmd() *cobra.Command {
	var fl bench.Flags
	var cpuProfile string
	c := &cobra.Command{
		Use:   "bench",
		Short: "YCSB-style benchmark: load bench-* keys, then run workload a, b, c or w",
		Long: `bench loads the key space bench-00000000.. with --clients concurrent writers
(unless --no-load), then runs --clients workers for --warmup (not recorded)
plus --duration, each picking a uniformly random key and an operation by the
workload's mix: a = 50% reads / 50% updates, b = 95/5, c = reads only; or
w = blind writes (no context) of keys no run wrote before, which loads nothing.

Workers are spread round-robin over the connections: one per --addr
address, or --conns in all, round-robin over the addresses. A read is a Get. An update is a Get followed by a Put of a fresh
random value with the context read, so it supersedes the stored version
(siblings only appear when two workers update the same key concurrently);
its recorded latency is the Put's. Latencies are of successful operations;
failures are counted by gRPC code. Operations cut short by the end of the run
are not counted.

With --table naming a table of items, the key space is --keys partition
keys of --items items each (one without a sort key), loaded with PutItem,
and the workload is c (GetItem of a random item), q (a Query of a random
partition key's items), w (PutItem of new partition keys) or i (UpdateItem
"ADD n :one" of a random item); --r quorum or all asks for consistent reads.

When every live member's status can be read before and after the run, the
report also gives the CPU the nodes used per operation (summed over the
nodes) and the largest node's resident memory.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return usageErr("bench takes no arguments, got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := fl.Config()
			var ue *bench.UsageError
			if errors.As(err, &ue) {
				return usageErr("%s", ue.Error())
			}
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			if cpuProfile != "" {
				// The client's own cost: on a machine the servers share
				// with it, what the client spends is throughput they lose.
				f, err := os.Create(cpuProfile)
				if err != nil {
					return fmt.Errorf("cpu profile: %w", err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("cpu profile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			return bench.Main(ctx, cfg, jsonOut(cmd), os.Stdout, os.Stderr)
		},
	}
	fl.AddFlags(c.Flags(), defaultAddr)
	c.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write the bench client's CPU profile (load and run) to this file, for go tool pprof")
	return c
}
