package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"github.com/spf13/cobra"
)

func clusterCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "cluster",
		Short: "change the ring: plan, leave, wait (a node joins by starting with --join)",
	}
	c.AddCommand(clusterPlanCmd(), clusterLeaveCmd(), clusterRemoveCmd(), clusterWaitCmd())
	return c
}

func clusterPlanCmd() *cobra.Command {
	var rf requestFlags
	var join, leave []string
	c := &cobra.Command{
		Use:   "plan",
		Short: "show which partitions would move if nodes joined (--join ID) or left (--leave ID)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, &rf, func(ctx context.Context, cl *client.Client) (*kvpb.PlanResponse, error) {
				return cl.Admin().Plan(ctx, &kvpb.PlanRequest{Join: join, Leave: leave})
			}, printPlan)
		},
	}
	rf.register(c)
	c.Flags().StringSliceVar(&join, "join", nil, "node id that would join (repeatable)")
	c.Flags().StringSliceVar(&leave, "leave", nil, "node id that would leave (repeatable)")
	return c
}

func printPlan(res *kvpb.PlanResponse) {
	fmt.Printf("current ring: %s\nnext ring:    %s\n", strings.Join(res.Current, ","), strings.Join(res.Next, ","))
	to := map[string][]string{}
	for _, m := range res.Moves {
		to[m.To] = append(to[m.To], fmt.Sprint(m.Partition))
	}
	fmt.Printf("%d partition replicas move\n", len(res.Moves))
	for _, id := range slices.Sorted(maps.Keys(to)) {
		fmt.Printf("  to %s: %d (partitions %s)\n", id, len(to[id]), strings.Join(to[id], " "))
	}
	fmt.Println("partitions owned afterwards:")
	for _, id := range slices.Sorted(maps.Keys(res.OwnedAfter)) {
		fmt.Printf("  %s: %d\n", id, res.OwnedAfter[id])
	}
}

func clusterLeaveCmd() *cobra.Command {
	var rf requestFlags
	c := &cobra.Command{
		Use:   "leave NODE",
		Short: "drain NODE: its partitions move to the others, then it owns nothing and can be stopped",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, &rf, func(ctx context.Context, cl *client.Client) (*kvpb.LeaveResponse, error) {
				st, err := cl.Status(ctx)
				if err != nil {
					return nil, err
				}
				i := slices.IndexFunc(st.Members, func(m *kvpb.MemberStatus) bool { return m.Id == args[0] })
				if i < 0 {
					return nil, usageErr("%s is not a member (see harmonia status)", args[0])
				}
				target, err := rf.dialNode(st.Members[i].ClientAddr)
				if err != nil {
					return nil, err
				}
				defer target.Close()
				return target.Admin().Leave(ctx, &kvpb.LeaveRequest{})
			}, func(res *kvpb.LeaveResponse) {
				fmt.Printf("%s is leaving; follow it with: harmonia cluster wait\n", res.Node)
			})
		},
	}
	rf.register(c)
	return c
}

func clusterRemoveCmd() *cobra.Command {
	var rf requestFlags
	c := &cobra.Command{
		Use:   "remove NODE",
		Short: "drop a dead NODE: its partitions are rebuilt on their new replicas from the survivors",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, &rf, func(ctx context.Context, cl *client.Client) (*kvpb.RemoveResponse, error) {
				return cl.Admin().Remove(ctx, &kvpb.RemoveRequest{Node: args[0]})
			}, func(res *kvpb.RemoveResponse) {
				fmt.Printf("%s is being removed; follow it with: harmonia cluster wait\n", res.Node)
			})
		},
	}
	rf.register(c)
	return c
}

func clusterWaitCmd() *cobra.Command {
	var rf requestFlags
	var limit time.Duration
	c := &cobra.Command{
		Use:   "wait",
		Short: "wait until no node is joining or leaving, showing transfer progress",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, _, done, err := rf.dial()
			if err != nil {
				return err
			}
			defer done()
			deadline := time.Now().Add(limit)
			for {
				p, err := clusterProgress(cl, rf.dialNode)
				if err == nil && p.stable {
					fmt.Fprintf(os.Stderr, "\r%-78s\n", "ring stable: "+p.members)
					return nil
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("ring not stable after %v (%s)", limit, p.line())
				}
				fmt.Fprintf(os.Stderr, "\r%-78s", p.line())
				time.Sleep(500 * time.Millisecond)
			}
		},
	}
	rf.register(c)
	c.Flags().DurationVar(&limit, "for", 10*time.Minute, "give up after this long")
	return c
}

type progress struct {
	stable       bool
	members      string
	moved, total int
	keys         uint64
	err          error
}

func (p progress) line() string {
	if p.err != nil {
		return "waiting: " + p.err.Error()
	}
	const width = 30
	filled := 0
	if p.total > 0 {
		filled = width * p.moved / p.total
	}
	return fmt.Sprintf("[%s%s] %d/%d partition replicas, %d keys", strings.Repeat("#", filled), strings.Repeat(".", width-filled), p.moved, p.total, p.keys)
}

// clusterProgress asks every member for its transfers; the ring is stable
// when every live member says so.
func clusterProgress(cl *client.Client, dialNode func(addr string) (*client.Client, error)) (progress, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	st, err := cl.Status(ctx)
	if err != nil {
		return progress{err: err}, err
	}
	p := progress{stable: true}
	var ids []string
	for _, m := range st.Members {
		if m.State == "left" {
			continue
		}
		ids = append(ids, m.Id+"("+m.State+")")
		if m.State == "down" {
			continue
		}
		mc, err := dialNode(m.ClientAddr)
		if err != nil {
			return progress{err: err}, err
		}
		ms, err := mc.Status(ctx)
		mc.Close()
		if err != nil {
			return progress{err: err}, err
		}
		if ms.Ring != "stable" {
			p.stable = false
			p.total = int(ms.MovesTotal)
		}
		if ms.TransfersTransition != ms.Ring {
			continue // transfers of an earlier transition
		}
		for _, t := range ms.Transfers {
			p.keys += t.Keys
			if t.Done {
				p.moved++
			}
		}
	}
	p.members = strings.Join(ids, " ")
	return p, nil
}

func repairCmd() *cobra.Command {
	var rf requestFlags
	var partition int
	var peer string
	c := &cobra.Command{
		Use:   "repair",
		Short: "run anti-entropy now between the node at --addr and the other replicas; show what moved",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			rf.timeout = max(rf.timeout, 10*time.Minute)
			return call(cmd, &rf, func(ctx context.Context, cl *client.Client) (*kvpb.RepairResponse, error) {
				stop := make(chan struct{})
				var wg sync.WaitGroup
				wg.Go(func() { showRepairProgress(cl, stop) })
				defer wg.Wait()
				defer close(stop)
				return cl.Admin().Repair(ctx, &kvpb.RepairRequest{Partition: int32(partition), Peer: peer})
			}, printRepair)
		},
	}
	rf.register(c)
	c.Flags().IntVar(&partition, "partition", -1, "only this partition (-1: every partition the node holds)")
	c.Flags().StringVar(&peer, "node", "", "only exchanges with this replica")
	return c
}

// showRepairProgress prints, on stderr, what the node's exchanges have done
// since the command started, until stop closes.
func showRepairProgress(cl *client.Client, stop <-chan struct{}) {
	totals := func() *kvpb.RepairStats {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		st, err := cl.Status(ctx)
		if err != nil {
			return nil
		}
		return st.Repair
	}
	start := totals()
	if start == nil {
		return
	}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	shown := false
	for {
		select {
		case <-stop:
			if shown {
				fmt.Fprintf(os.Stderr, "\r%-78s\r", "")
			}
			return
		case <-t.C:
			if now := totals(); now != nil {
				fmt.Fprintf(os.Stderr, "\r%-78s", fmt.Sprintf("repairing: %d exchanges done, %d keys repaired, %d bytes sent",
					now.Exchanges-start.Exchanges, now.KeysRepaired-start.KeysRepaired, now.Bytes-start.Bytes))
				shown = true
			}
		}
	}
}

func printRepair(res *kvpb.RepairResponse) {
	var hashes, local, remote, bytes, strong uint64
	failed := 0
	for _, x := range res.Exchanges {
		hashes += x.Hashes
		local += x.KeysLocal
		remote += x.KeysRemote
		bytes += x.Bytes
		if x.Error != "" {
			failed++
			fmt.Printf("partition %d with %s: %s\n", x.Partition, x.Peer, x.Error)
		} else if x.KeysLocal+x.KeysRemote > 0 {
			fmt.Printf("partition %d with %s: %d keys here, %d keys there, %d bytes\n", x.Partition, x.Peer, x.KeysLocal, x.KeysRemote, x.Bytes)
		}
		if x.AcceptorsLocal+x.AcceptorsRemote+x.AcceptorsCompleted > 0 {
			fmt.Printf("partition %d with %s: strong keys: %d committed values taught here, %d there, %d stale proposals completed\n",
				x.Partition, x.Peer, x.AcceptorsLocal, x.AcceptorsRemote, x.AcceptorsCompleted)
		}
		strong += x.AcceptorsLocal + x.AcceptorsRemote
	}
	fmt.Printf("%d exchanges (%d failed): %d tree hashes compared, %d keys repaired here, %d on peers, %d bytes sent; %d strong keys repaired\n",
		len(res.Exchanges), failed, hashes, local, remote, bytes, strong)
}
