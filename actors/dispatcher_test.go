package actors

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Runs never wait behind busy workers: 50 runs that block all run at once.
// Finished workers take later runs instead of new goroutines, and idle ones
// end.
func TestWorkerDispatcher(t *testing.T) {
	d := newWorkerDispatcher(dispatcherThroughput)
	d.idle = 200 * time.Millisecond
	release := make(chan struct{})
	var started atomic.Int64
	var done sync.WaitGroup
	const blocked = 50
	done.Add(blocked)
	for range blocked {
		d.Schedule(func() {
			started.Add(1)
			<-release
			done.Done()
		})
	}
	waitFor(t, "every blocked run to start", func() bool { return started.Load() == blocked })
	if n := d.workers.Load(); n != blocked {
		t.Fatalf("%d workers for %d blocked runs", n, blocked)
	}
	close(release)
	done.Wait()

	// Sequential runs reuse the idle workers.
	var ran atomic.Int64
	for range 1000 {
		finished := make(chan struct{})
		d.Schedule(func() { ran.Add(1); close(finished) })
		<-finished
	}
	if ran.Load() != 1000 {
		t.Fatalf("%d of 1000 runs ran", ran.Load())
	}
	if n := d.workers.Load(); n > blocked {
		t.Fatalf("%d workers after sequential runs: idle ones were not reused", n)
	}
	waitFor(t, "idle workers to end", func() bool { return d.workers.Load() == 0 })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
