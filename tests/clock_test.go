package tests

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/messages/kvpb"
)

// setClockOffset sets nd's wall clock d from the machine's (test-only
// Admin.SetClockOffset).
func setClockOffset(ctx context.Context, nd *node, d time.Duration) error {
	_, err := nd.client.Admin().SetClockOffset(ctx, &kvpb.SetClockOffsetRequest{OffsetMs: d.Milliseconds()})
	return err
}

// keyState is what a key's register should hold: the value of its last
// acknowledged write, or nothing after an acknowledged delete; maybe lists
// the effects of later operations that failed or timed out, any of which
// may have taken effect instead.
type keyState struct {
	value   string // "" after a delete
	maybe   []string
	written bool
}

// Nodes whose wall clocks are minutes apart, and jump forward and back while
// keys are written and deleted with a tombstone grace of seconds: no
// acknowledged write is lost and no deleted key comes back. Reaping compares
// a delete's time, stamped by its coordinator's clock, with the reaper's:
// a tombstone stamped by a clock behind looks old at once, one stamped
// ahead waits; versions are ordered by their contexts, never by time.
func TestClockSkew(t *testing.T) {
	offsets := []time.Duration{0, 4 * time.Minute, -4 * time.Minute}
	c := &testCluster{t: t}
	root := t.TempDir()
	var seed string
	for i, off := range offsets {
		id := fmt.Sprintf("n%d", i+1)
		args := []string{"--unsafe-test-writes", "--unsafe-test-clock-offset", off.String(),
			"--tombstone-grace", "5s", "--reap-interval", "1s", "--reap-settle", "3s", "--repair-interval", "5s"}
		addr := freePort(t)
		if i == 0 {
			seed = addr
		} else {
			args = append(args, "--join", seed)
		}
		c.nodes = append(c.nodes, newNode(t, id, addr, filepath.Join(root, id), args...))
	}
	c.startAll()
	for i, nd := range c.nodes {
		st, err := c.status(nd)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.GetClockOffset().AsDuration(); got != offsets[i] {
			t.Fatalf("%s reports a clock offset of %v, want %v", nd.id, got, offsets[i])
		}
		// What status --json prints is what the flag takes.
		out, stderr, code := cli(t, "status", "--json", "--addr", nd.clientAddr)
		var doc struct{ ClockOffset string }
		if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil {
			t.Fatalf("%s: status --json: exit %d %s %v", nd.id, code, stderr, err)
		}
		if d, err := time.ParseDuration(cmp.Or(doc.ClockOffset, "0s")); err != nil || d != offsets[i] {
			t.Fatalf("%s: status --json prints clockOffset %q, which --unsafe-test-clock-offset reads as %v, %v; want %v", nd.id, doc.ClockOffset, d, err, offsets[i])
		}
	}

	seedRNG := rand.Uint64()
	t.Logf("seed %d", seedRNG)
	const workers, keysPerWorker, run = 3, 4, 15 * time.Second
	quorum := client.Options{Quorum: "quorum", Timeout: 5 * time.Second}
	states := make([]map[string]*keyState, workers)
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()

	// The clocks jump: every second one node's offset is set anew, up to
	// five minutes either way.
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(seedRNG, 1))
		for ctx.Err() == nil {
			nd := c.nodes[rng.IntN(len(c.nodes))]
			off := time.Duration(rng.Int64N(int64(10*time.Minute))) - 5*time.Minute
			if err := setClockOffset(ctx, nd, off); err != nil && ctx.Err() == nil {
				t.Errorf("set %s's clock offset: %v", nd.id, err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second): // the pace of the jumps
			}
		}
	}()

	// Each key has one writer, so its operations are sequential and its
	// final state is known exactly.
	var opsMu sync.Mutex
	acked := map[string]int{}
	for w := range workers {
		states[w] = map[string]*keyState{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seedRNG, uint64(w+2)))
			for n := 0; ctx.Err() == nil; n++ {
				key := fmt.Sprintf("clock-w%d-k%d", w, rng.IntN(keysPerWorker))
				st := states[w][key]
				if st == nil {
					st = &keyState{}
					states[w][key] = st
				}
				nd := c.nodes[rng.IntN(len(c.nodes))]
				res, err := nd.client.Get(ctx, []byte(key), quorum)
				if err != nil {
					continue // a read changes nothing
				}
				del := res.Found && rng.IntN(3) == 0
				value := ""
				if !del {
					value = fmt.Sprintf("w%d-%d", w, n)
				}
				nd = c.nodes[rng.IntN(len(c.nodes))]
				if del {
					err = nd.client.Delete(ctx, []byte(key), res.Context, quorum)
				} else {
					_, err = nd.client.Put(ctx, []byte(key), []byte(value), res.Context, quorum)
				}
				if err != nil {
					st.maybe = append(st.maybe, value)
					continue
				}
				st.value, st.maybe, st.written = value, nil, true
				kind := "writes"
				if del {
					kind = "deletes"
				}
				opsMu.Lock()
				acked[kind]++
				opsMu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("acknowledged under jumping clocks: %d writes, %d deletes", acked["writes"], acked["deletes"])
	if acked["writes"] < 20 || acked["deletes"] < 5 {
		t.Fatalf("too few acknowledged operations to judge: %v", acked)
	}

	// Reaping ran under the skew: some tombstones are gone.
	c.eventually(time.Minute, "tombstones reaped under skewed clocks", func() error {
		var reaped uint64
		for _, nd := range c.nodes {
			st, err := c.status(nd)
			if err != nil {
				return err
			}
			reaped += st.GetTombstones().GetReaped()
		}
		if reaped == 0 {
			return fmt.Errorf("no tombstone reaped yet")
		}
		return nil
	})

	// Every node reads every key at R=all as its last acknowledged
	// operation left it, or as a later unacknowledged one did.
	all := client.Options{Quorum: "all", Timeout: 5 * time.Second}
	for w := range workers {
		for key, st := range states[w] {
			for _, nd := range c.nodes {
				c.eventually(30*time.Second, fmt.Sprintf("%s read through %s", key, nd.id), func() error {
					res, err := nd.client.Get(ctxT(t), []byte(key), all)
					if err != nil {
						return err
					}
					var got []string
					for _, v := range res.Siblings {
						got = append(got, string(v))
					}
					if !res.Found {
						got = []string{""}
					}
					allowed := append([]string{st.value}, st.maybe...)
					if !st.written {
						allowed = append(allowed, "")
					}
					for _, g := range got {
						ok := false
						for _, a := range allowed {
							ok = ok || g == a
						}
						if !ok {
							return fmt.Errorf("holds %q; the last acknowledged operation left %q (later unacknowledged: %q)", got, st.value, st.maybe)
						}
					}
					return nil
				})
			}
		}
	}
}
