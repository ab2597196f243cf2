package persistence

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/internal/faultfs"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

// Disk faults and lost unsynced writes (issue 20, items 2 and 3). The
// filesystems are pebble's: vfs.NewCrashableMem, whose CrashClone keeps only
// what was synced (and, with UnsyncedDataPercent, a random part of the
// rest), and errorfs, which fails chosen operations.

// acked is what a store acknowledged: the writes it returned nil for, and
// the highest counter it issued.
type acked struct {
	mu      sync.Mutex
	data    map[string]string // "partition/key" -> value
	hints   map[string]int    // hint key -> how many
	counter uint64
}

func (a *acked) clone() *acked {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := &acked{data: maps.Clone(a.data), hints: maps.Clone(a.hints), counter: a.counter}
	return c
}

func newAcked() *acked { return &acked{data: map[string]string{}, hints: map[string]int{}} }

// write puts one object of partition p and, with hint set, a hint for n3,
// both in one synced batch, and records it if the store acknowledged it.
func (a *acked) write(s *Store, p int, key, value string, hint bool) error {
	c, err := s.NextCounter()
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.counter = max(a.counter, c)
	a.mu.Unlock()
	w := Write{Partition: p, Key: []byte(key), Siblings: []object.Sibling{sib("n1", c, value)}}
	if hint {
		w.HintFor = "n3"
	}
	if err := s.PutBatch([]Write{w}); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.data[fmt.Sprintf("%d/%s", p, key)] = value
	if hint {
		a.hints[key]++
	}
	return nil
}

// check asserts that s holds every acknowledged write and hint, and issues
// counters above every acknowledged one.
func (a *acked) check(t *testing.T, s *Store) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	for pk, want := range a.data {
		var p int
		var key string
		fmt.Sscanf(pk, "%d/%s", &p, &key)
		got, err := s.Get(p, []byte(key))
		if err != nil || len(got) != 1 || string(got[0].Value) != want {
			t.Fatalf("acknowledged %s=%q lost: %v %v", pk, want, got, err)
		}
	}
	hs, err := s.Hints("n3", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]int{}
	for _, h := range hs {
		kept[string(h.Hint.Key)]++
	}
	for k, n := range a.hints {
		if kept[k] < n {
			t.Fatalf("acknowledged hint for %s lost: %d kept of %d", k, kept[k], n)
		}
	}
	c, err := s.NextCounter()
	if err != nil || c <= a.counter {
		t.Fatalf("counter %d (%v) after a crash; %d was issued before it: a dot issued twice", c, err, a.counter)
	}
	a.counter = c
}

// Every write acknowledged before a crash survives it, with its hint, and no
// counter is issued twice, over several crashes of a filesystem that keeps
// only what was synced (or that plus a random part of the rest). The last
// write before each crash is unsynced and must be gone, which shows that the
// crash really drops what was never synced.
func TestCrashKeepsEveryAcknowledgedWrite(t *testing.T) {
	for _, unsynced := range []int{0, 50} {
		t.Run(fmt.Sprintf("unsynced%d%%", unsynced), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(unsynced), 1))
			fs := vfs.NewCrashableMem()
			opts := DefaultOptions()
			opts.FS = fs
			opts.CounterLease = 7 // several lease extensions per round
			a := newAcked()
			for round := 0; round < 4; round++ {
				s, err := Open("db", "n1", opts)
				if err != nil {
					t.Fatalf("round %d: reopen after the crash: %v", round, err)
				}
				a.check(t, s)
				var wg sync.WaitGroup
				for w := 0; w < 4; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < 25; i++ {
							k := fmt.Sprintf("r%d-w%d-%d", round, w, i)
							if err := a.write(s, w, k, k, i%3 == 0); err != nil {
								t.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				// Delivered hints are deleted unsynced: a crash may bring
				// them back, never lose others.
				hs, err := s.Hints("n3", 3)
				if err != nil {
					t.Fatal(err)
				}
				for _, h := range hs {
					if err := s.DeleteHint("n3", h.Seq); err != nil {
						t.Fatal(err)
					}
					a.mu.Lock()
					a.hints[string(h.Hint.Key)]--
					a.mu.Unlock()
				}
				// The last write is unsynced (members are saved so).
				if err := s.SaveMembers(&internalpb.MembershipSnapshot{}); err != nil {
					t.Fatal(err)
				}
				crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: unsynced, RNG: rng})
				s.Close() // writes nothing the clone sees
				fs = crashed
				opts.FS = fs
				if unsynced == 0 {
					s, err := Open("db", "n1", opts)
					if err != nil {
						t.Fatal(err)
					}
					if m, err := s.Members(); err != nil || m != nil {
						t.Fatalf("an unsynced write survived a crash that keeps only synced data: %v, %v", m, err)
					}
					s.Close() // a clean close: the state stays the crash's
				}
			}
			s := openT(t, "db", opts)
			a.check(t, s)
		})
	}
}

// faultyFS is a crashable in-memory filesystem whose write-ahead log fails
// in one way while the toggle is on.
func faultyFS(kind string) (*vfs.MemFS, *errorfs.Toggle, vfs.FS) {
	mem := vfs.NewCrashableMem()
	fs, tog := faultfs.Log(mem, faultfs.Kind(kind))
	return mem, tog, fs
}

// A write pebble cannot make durable (its log write or fsync fails, or the
// disk is out of space under it) is never acknowledged. Pebble treats it as
// fatal and keeps failing after the fault clears, with the failed write
// visible in its memtable; so the store refuses every later read and write,
// says why (error, Health, log), and comes back whole when reopened:
// every write acknowledged before the fault is there, and writes succeed.
func TestDiskFaultNeverAcknowledged(t *testing.T) {
	for _, kind := range []string{"fsync", "write", "enospc"} {
		t.Run(kind, func(t *testing.T) {
			mem, tog, fs := faultyFS(kind)
			var logs syncBuffer
			opts := DefaultOptions()
			opts.FS = fs
			opts.CounterLease = 5
			opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			s, err := Open("db", "n1", opts)
			if err != nil {
				t.Fatal(err)
			}
			a := newAcked()
			// Writers run on while the fault comes: whatever the store
			// acknowledges must be durable.
			var wg sync.WaitGroup
			var failures sync.Map
			started := make(chan struct{}, 4)
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						err := a.write(s, w, fmt.Sprintf("w%d-%d", w, i), "v", i%2 == 0)
						if i == 10 {
							started <- struct{}{}
						}
						if err != nil {
							failures.Store(w, err)
							return
						}
					}
				}()
			}
			for range 4 {
				<-started
			}
			tog.On()
			wg.Wait()
			crashed := mem.CrashClone(vfs.CrashCloneCfg{}) // the disk as a crash now would leave it
			failures.Range(func(_, v any) bool {
				if err := v.(error); !errors.Is(err, ErrStorageFailed) {
					t.Errorf("a write failed with %v, want ErrStorageFailed", err)
				}
				return true
			})
			h := s.Health()
			if h.Failed == "" || h.Errors[OpCommit] == 0 || h.FailedWrites < 4 || h.LastError == "" {
				t.Fatalf("Health after the fault: %+v", h)
			}
			if kind == "enospc" && !strings.Contains(h.Failed, "no space left") {
				t.Fatalf("Health does not say the disk is full: %q", h.Failed)
			}
			tog.Off()
			// Pebble's log writer keeps the error, and its memtable holds a
			// write that is not durable: nothing is served until a restart.
			if err := a.write(s, 0, "after", "v", false); !errors.Is(err, ErrStorageFailed) {
				t.Fatalf("a write after the fault cleared: %v, want ErrStorageFailed", err)
			}
			if _, err := s.Get(0, []byte("w0-0")); !errors.Is(err, ErrStorageFailed) {
				t.Fatalf("a read of a failed store: %v, want ErrStorageFailed", err)
			}
			if n := s.Health().Errors[OpRefused]; n == 0 {
				t.Fatalf("refused writes not counted: %+v", s.Health())
			}
			if !strings.Contains(logs.String(), "storage failed") {
				t.Fatalf("the log does not say the storage failed:\n%s", logs.String())
			}
			if n := strings.Count(logs.String(), "op=refused"); n != 1 {
				t.Fatalf("refused writes logged %d times within ErrorLogInterval, want 1:\n%s", n, logs.String())
			}
			done := make(chan struct{})
			go func() { s.Close(); close(done) }()
			select {
			case <-done:
			case <-time.After(2 * opts.FailedCloseTimeout):
				t.Fatal("Close of a failed store did not return")
			}

			// Restarted on what the crash left: whole again.
			before := a.clone()
			for _, restart := range []struct {
				name string
				fs   vfs.FS
			}{{"restart", fs}, {"crash", crashed}} {
				name, a := restart.name, before.clone()
				opts.FS = restart.fs
				s := openT(t, "db", opts)
				a.check(t, s)
				if err := a.write(s, 9, "again-"+name, "v", true); err != nil {
					t.Fatalf("%s: a write after reopening: %v", name, err)
				}
				if h := s.Health(); h.Failed != "" || h.FailedWrites != 0 {
					t.Fatalf("%s: Health after reopening: %+v", name, h)
				}
				a.check(t, s)
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// Below the free-space reserve a write is refused (ErrDiskFull) before it
// reaches pebble, so a full disk does not fail the store: writes resume as
// soon as there is space again.
func TestWritesRefusedBelowFreeSpaceReserve(t *testing.T) {
	mem := vfs.NewMem()
	opts := DefaultOptions()
	opts.FS = mem
	opts.MinFreeBytes = 64 << 20
	const total = 1 << 30
	setFree(mem, total, 512<<20)
	s := openT(t, "db", opts)
	a := newAcked()
	if err := a.write(s, 1, "before", "v", true); err != nil {
		t.Fatal(err)
	}
	setFree(mem, total, 10<<20)
	err := s.PutBatch([]Write{{Partition: 1, Key: []byte("full"), Siblings: []object.Sibling{sib("n1", 99, "v")}}})
	if !errors.Is(err, ErrDiskFull) || !IsDiskFull(err) {
		t.Fatalf("a write below the reserve: %v, want ErrDiskFull", err)
	}
	if got, err := s.Get(1, []byte("full")); err != nil || got != nil {
		t.Fatalf("a refused write was stored: %v, %v", got, err)
	}
	h := s.Health()
	if !h.Full || h.Failed != "" || h.Errors[OpFull] != 1 || h.FailedWrites != 1 || h.FreeBytes != 10<<20 || h.TotalBytes != total {
		t.Fatalf("Health below the reserve: %+v", h)
	}
	setFree(mem, total, 256<<20)
	if err := a.write(s, 1, "after", "v", true); err != nil {
		t.Fatalf("a write once there is space again: %v", err)
	}
	if h := s.Health(); h.Full || h.Failed != "" {
		t.Fatalf("Health with space again: %+v", h)
	}
	a.check(t, s)
}

// Below the reserve the writes that free space still go through: deleting
// replayed hints, reaping tombstones (a batch of deletes only) and dropping a
// partition; a put, or a batch that also puts, is refused.
func TestDeletesAllowedBelowFreeSpaceReserve(t *testing.T) {
	mem := vfs.NewMem()
	opts := DefaultOptions()
	opts.FS = mem
	opts.MinFreeBytes = 64 << 20
	const total = 1 << 30
	setFree(mem, total, 512<<20)
	s := openT(t, "db", opts)
	put := func(p int, key string, hint bool) Write {
		w := Write{Partition: p, Key: []byte(key), Siblings: []object.Sibling{sib("n1", 1, "v")}}
		if hint {
			w.HintFor = "n3"
		}
		return w
	}
	if err := s.PutBatch([]Write{put(1, "a", true), put(1, "b", false), put(2, "c", false), put(3, "d", false)}); err != nil {
		t.Fatal(err)
	}
	hs, err := s.Hints("n3", 10)
	if err != nil || len(hs) != 1 {
		t.Fatalf("hints: %v, %v", hs, err)
	}

	setFree(mem, total, 10<<20)
	if err := s.PutBatch([]Write{put(1, "e", false)}); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("a put below the reserve: %v, want ErrDiskFull", err)
	}
	reapAndPut := []Write{{Partition: 1, Key: []byte("b"), Delete: true}, put(1, "f", false)}
	if err := s.PutBatch(reapAndPut); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("a batch that deletes and puts below the reserve: %v, want ErrDiskFull", err)
	}
	if err := s.DeleteHint("n3", hs[0].Seq); err != nil {
		t.Fatalf("DeleteHint below the reserve: %v", err)
	}
	if hs, err := s.Hints("n3", 10); err != nil || len(hs) != 0 {
		t.Fatalf("hints after DeleteHint: %v, %v", hs, err)
	}
	if err := s.PutBatch([]Write{{Partition: 1, Key: []byte("b"), Delete: true}}); err != nil {
		t.Fatalf("reaping below the reserve: %v", err)
	}
	if err := s.DropPartition(2); err != nil {
		t.Fatalf("DropPartition below the reserve: %v", err)
	}
	for _, k := range []struct {
		p    int
		key  string
		kept bool
	}{{1, "a", true}, {1, "b", false}, {2, "c", false}, {3, "d", true}, {1, "e", false}, {1, "f", false}} {
		got, err := s.Get(k.p, []byte(k.key))
		if err != nil || (got != nil) != k.kept {
			t.Fatalf("%d/%s below the reserve: %v, %v; want kept %v", k.p, k.key, got, err, k.kept)
		}
	}
	if h := s.Health(); !h.Full || h.Failed != "" || h.Errors[OpFull] != 2 || h.FailedWrites != 2 {
		t.Fatalf("Health below the reserve: %+v", h)
	}
}

// A reserve as large as the filesystem is warned of at Open: no write
// could ever be accepted.
func TestReserveAsLargeAsTheDiskIsWarned(t *testing.T) {
	mem := vfs.NewMem()
	var logs syncBuffer
	opts := DefaultOptions()
	opts.FS = mem
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	const total = 1 << 30
	opts.MinFreeBytes = total
	setFree(mem, total, 512<<20)
	if s, err := Open("db", "n1", opts); err == nil {
		s.Close()
		t.Fatal("a new store opened with every write refused")
	}
	if !strings.Contains(logs.String(), "free-space reserve is not below the filesystem's size") {
		t.Fatalf("no warning of a reserve as large as the disk:\n%s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// setFree makes the in-memory filesystem report free bytes of total.
func setFree(mem *vfs.MemFS, total, free uint64) {
	mem.TestingSetDiskUsage(vfs.DiskUsage{TotalBytes: total, AvailBytes: free, UsedBytes: total - free})
}
