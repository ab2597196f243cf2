package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/messages/kvpb"
)

// serverUsage is what the cluster's nodes spent over a measured run, from
// their Status (ProcessStats) before and after it: CPU per operation is
// the figure that decides throughput when servers share cores.
type serverUsage struct {
	Nodes      int     `json:"nodes"`
	CPUSeconds float64 `json:"cpu_s"`
	CPUMsPerOp float64 `json:"cpu_ms_per_op"`
	// MaxRSSMiB is the largest resident set of a node after the run.
	MaxRSSMiB float64 `json:"max_rss_mib"`
}

// usageBetween charges the CPU the nodes used between two samples to ops
// operations. Both samples must name the same nodes, each with a CPU time
// that did not go back (a node that restarted in between would undercount).
func usageBetween(before, after map[string]*kvpb.ProcessStats, ops int64) (*serverUsage, error) {
	if len(before) == 0 {
		return nil, errors.New("no node sampled")
	}
	u := &serverUsage{Nodes: len(before)}
	for _, node := range slices.Sorted(maps.Keys(before)) {
		a, ok := after[node]
		if !ok {
			return nil, fmt.Errorf("node %s was not sampled after the run", node)
		}
		d := a.CpuSeconds - before[node].CpuSeconds
		if d < 0 {
			return nil, fmt.Errorf("node %s used %.2f s of CPU: it restarted during the run", node, d)
		}
		u.CPUSeconds += d
		u.MaxRSSMiB = math.Max(u.MaxRSSMiB, float64(a.RssBytes)/(1<<20))
	}
	if len(after) != len(before) {
		return nil, fmt.Errorf("%d nodes sampled before the run, %d after", len(before), len(after))
	}
	u.CPUSeconds = round2(u.CPUSeconds)
	u.MaxRSSMiB = round2(u.MaxRSSMiB)
	if ops > 0 {
		u.CPUMsPerOp = math.Round(u.CPUSeconds*1e6/float64(ops)) / 1000
	}
	return u, nil
}

// statusTimeout bounds one node's Status call while sampling.
const statusTimeout = 5 * time.Second

// sampleNodes reads the process stats of every member that addr's node
// does not list as down or left, through the members' client addresses.
func sampleNodes(ctx context.Context, addr string) (map[string]*kvpb.ProcessStats, error) {
	members, err := nodeStatus(ctx, addr)
	if err != nil {
		return nil, err
	}
	out := map[string]*kvpb.ProcessStats{}
	for _, m := range members.Members {
		if m.State == "down" || m.State == "left" {
			continue
		}
		st, err := nodeStatus(ctx, m.ClientAddr)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", m.Id, err)
		}
		if st.Process == nil {
			return nil, fmt.Errorf("node %s does not report its process stats (an older version)", m.Id)
		}
		out[m.Id] = st.Process
	}
	return out, nil
}

func nodeStatus(ctx context.Context, addr string) (*kvpb.StatusResponse, error) {
	c, err := client.Dial(addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("status of %s: %w", addr, err)
	}
	return st, nil
}
