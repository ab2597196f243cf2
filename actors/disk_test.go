package actors

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/harmoniakv/harmonia/internal/faultfs"
	"github.com/harmoniakv/harmonia/internal/testport"
	"github.com/harmoniakv/harmonia/persistence"
)

// startOn runs a one-node cluster (N=R=W=1) on a store of fs; stop stops
// it and closes the store (again at cleanup: a no-op).
func startOn(t *testing.T, fs vfs.FS) (sys *System, stop func() error) {
	t.Helper()
	opts := persistence.DefaultOptions()
	opts.FS = fs
	store, err := persistence.Open("db", "n1", opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.NodeID, cfg.ClusterAddr, cfg.ClientAddr = "n1", testport.For(t), "127.0.0.1:0"
	cfg.Partitions, cfg.N, cfg.R, cfg.W = 8, 1, 1, 1
	waitForStrayConns(t)
	sys, err = Start(cfg, store)
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	var once sync.Once
	var closeErr error
	stop = func() error {
		once.Do(func() {
			sys.Stop()
			closeErr = store.Close()
		})
		return closeErr
	}
	t.Cleanup(func() { stop() })
	return sys, stop
}

// ackedPuts runs writers of distinct keys until stop is closed or a put
// fails; it returns the keys whose put was acknowledged, in the order
// acknowledged, and the errors.
type ackedPuts struct {
	mu     sync.Mutex
	keys   []string
	errors []error
	wg     sync.WaitGroup
}

func (a *ackedPuts) run(sys *System, writers int, stop <-chan struct{}) {
	for w := 0; w < writers; w++ {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("w%d-%d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := sys.Put(ctx, PutRequest{Key: []byte(k), Value: []byte(k)})
				cancel()
				a.mu.Lock()
				if err != nil {
					a.errors = append(a.errors, err)
				} else {
					a.keys = append(a.keys, k)
				}
				a.mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
}

func (a *ackedPuts) snapshot() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.keys...)
}

// count waits until at least n puts were acknowledged.
func (a *ackedPuts) count(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(a.snapshot()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d puts acknowledged, waiting for %d", len(a.snapshot()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func checkReadable(t *testing.T, sys *System, keys []string) {
	t.Helper()
	for _, k := range keys {
		got, err := sys.Get(context.Background(), GetRequest{Key: []byte(k)})
		if err != nil {
			t.Fatalf("acknowledged %s: %v", k, err)
		}
		if v := values(got.Siblings); len(v) != 1 || !v[k] {
			t.Fatalf("acknowledged %s lost: %v", k, v)
		}
	}
}

// A vnode crash (the node's, with its disk) loses nothing acknowledged,
// even on a filesystem that keeps only what was synced: the crash is taken
// while writes are in flight.
func TestVnodeAcknowledgedWritesSurviveCrash(t *testing.T) {
	mem := vfs.NewCrashableMem()
	sys, stopSys := startOn(t, mem)
	var a ackedPuts
	stop := make(chan struct{})
	a.run(sys, 8, stop)
	a.count(t, 200)
	acked := a.snapshot() // acknowledged before the crash below
	crashed := mem.CrashClone(vfs.CrashCloneCfg{})
	close(stop)
	a.wg.Wait()
	stopSys()

	sys, _ = startOn(t, crashed)
	checkReadable(t, sys, acked)
	t.Logf("%d acknowledged writes survived the crash", len(acked))
}

// A put whose commit fails (the log's fsync fails) is answered with an
// error, never acknowledged, and so is every later one, with the reason;
// after a restart every put acknowledged before the fault is there.
func TestVnodeNeverAcknowledgesAFailedCommit(t *testing.T) {
	mem := vfs.NewCrashableMem()
	fs, fault := faultfs.Log(mem, faultfs.Fsync)
	sys, stopSys := startOn(t, fs)
	var a ackedPuts
	a.run(sys, 8, nil)
	a.count(t, 100)
	fault.On()
	a.wg.Wait() // every writer stops at its first failed put
	acked := a.snapshot()
	crashed := mem.CrashClone(vfs.CrashCloneCfg{})
	for _, err := range a.errors {
		if !strings.Contains(err.Error(), "storage failed") {
			t.Errorf("a put failed with %v, want the storage failure as the reason", err)
		}
	}
	fault.Off()
	if _, err := sys.Put(context.Background(), PutRequest{Key: []byte("after"), Value: []byte("v")}); err == nil || !strings.Contains(err.Error(), "storage failed") {
		t.Fatalf("a put after the fault cleared: %v, want the storage failure", err)
	}
	if _, err := sys.Get(context.Background(), GetRequest{Key: []byte(acked[0])}); err == nil {
		t.Fatal("a get served from a failed store")
	}
	if h := sys.StorageHealth(); h.Failed == "" || h.FailedWrites == 0 {
		t.Fatalf("StorageHealth: %+v", h)
	}
	if err := stopSys(); !errors.Is(err, syscall.EIO) {
		t.Errorf("close of the failed store: %v, want the fsync's error", err)
	}

	sys, _ = startOn(t, crashed)
	checkReadable(t, sys, acked)
	if _, err := sys.Put(context.Background(), PutRequest{Key: []byte("after"), Value: []byte("v")}); err != nil {
		t.Fatalf("a put after the restart: %v", err)
	}
	t.Logf("%d acknowledged puts survived; %d failed", len(acked), len(a.errors))
}
