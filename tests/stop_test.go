package tests

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
)

// gracefulStopBound is how long a node may take to stop after SIGTERM: the
// client calls in flight get up to 5 s to finish, then the actors and the
// store close.
const gracefulStopBound = 15 * time.Second

// SIGTERM during a write load: the node stops taking requests, finishes the
// ones in flight, closes its store and exits 0 within its bound. Every
// write it acknowledged as coordinator (each made durable on its own
// replica first) is on its disk when it comes back; hints and anti-entropy
// are off, so nothing else could have put it there.
func TestGracefulStopKeepsAcknowledgedWrites(t *testing.T) {
	c := startCluster(t, 3, "--hint-replay=false", "--repair-interval", "0")
	n2 := c.nodes[1]
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		seq   atomic.Int64
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 16 {
		wg.Go(func() {
			for ctx.Err() == nil {
				k := fmt.Sprintf("term-%06d", seq.Add(1))
				cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := n2.client.Put(cctx, []byte(k), []byte(k), nil, client.Options{Quorum: "2"})
				ccancel()
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				mu.Lock()
				acked[k] = true
				mu.Unlock()
			}
		})
	}
	c.eventually(30*time.Second, "a write load under way", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 300 {
			return fmt.Errorf("%d writes acknowledged", len(acked))
		}
		return nil
	})

	start := time.Now()
	if err := n2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- n2.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("n2 after SIGTERM: %v, want exit status 0", err)
		}
	case <-time.After(gracefulStopBound):
		n2.cmd.Process.Kill()
		<-exited
		t.Fatalf("n2 still ran %v after SIGTERM", gracefulStopBound)
	}
	t.Logf("n2 stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	serverStarted(n2.cmd, false)
	n2.cmd = nil
	cancel()
	wg.Wait()
	n2.client.Close()

	c.start(n2)
	mu.Lock()
	defer mu.Unlock()
	missing := 0
	var first string
	for k := range acked {
		rep, err := n2.client.Replicas(ctxT(t), []byte(k))
		held := false
		for _, r := range rep.GetReplicas() {
			if r.Node == "n2" && r.Answered && len(r.Siblings) == 1 && string(r.Siblings[0].Value) == k {
				held = true
			}
		}
		if !held {
			if missing++; first == "" {
				first = fmt.Sprintf("%s: %v %v", k, rep, err)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d writes n2 acknowledged are not on its disk after a SIGTERM and a restart; first: %s", missing, len(acked), first)
	}
	t.Logf("all %d writes n2 acknowledged were on its disk after the restart", len(acked))
}
