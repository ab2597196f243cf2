package persistence

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/vclock"
)

func sib(node string, counter uint64, value string) object.Sibling {
	return object.Sibling{Value: []byte(value), Dot: vclock.Dot{Actor: vclock.Actor{Node: node, Incarnation: 1}, Counter: counter}}
}

func openT(t *testing.T, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, "n1", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() }) // a no-op for a store the test closed
	return s
}

func TestIdentityAndCounterSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	opts := DefaultOptions()
	opts.CounterLease = 10
	s := openT(t, dir, opts)
	id := s.Identity()
	var last uint64
	for i := 0; i < 25; i++ {
		c, err := s.NextCounter()
		if err != nil || c <= last {
			t.Fatalf("counter %d after %d (%v)", c, last, err)
		}
		last = c
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, opts)
	if s.Identity() != id {
		t.Fatalf("identity changed: %v -> %v", id, s.Identity())
	}
	if c, _ := s.NextCounter(); c <= last {
		t.Fatalf("counter %d reissued after reopen (last %d)", c, last)
	}
	s.Close()
	if _, err := Open(dir, "other", opts); err == nil || !strings.Contains(err.Error(), `belongs to node "n1"`) {
		t.Fatalf("opening n1's directory as another node: %v", err)
	}
}

// Lowering a limit must not make objects written under the old one
// unwritable: a batch that rewrites such an object (a new sibling beside an
// old large one) commits, together with the other writes that share it.
func TestLoweredLimitKeepsOldObjectsWritable(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, DefaultOptions())
	big := sib("a", 1, strings.Repeat("x", 1000))
	if err := s.Put(3, []byte("big"), []object.Sibling{big}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions()
	opts.MaxValueSize = 100
	s = openT(t, dir, opts)
	if err := s.CheckValue(big.Value); !errors.Is(err, ErrValueTooLarge) {
		t.Fatalf("a new value over the lowered limit: %v", err)
	}
	both := object.Apply([]object.Sibling{big}, sib("b", 1, "small"))
	err := s.PutBatch([]Write{
		{Partition: 3, Key: []byte("big"), Siblings: both},
		{Partition: 3, Key: []byte("other"), Siblings: []object.Sibling{sib("b", 2, "v")}},
	})
	if err != nil {
		t.Fatalf("batch rewriting an object with an old large sibling: %v", err)
	}
	for k, want := range map[string][]object.Sibling{"big": both, "other": {sib("b", 2, "v")}} {
		if got, err := s.Get(3, []byte(k)); err != nil || !object.SameVersions(got, want) {
			t.Fatalf("Get(%s) = %v, %v", k, got, err)
		}
	}
}

func TestWipedDirectoryIsANewIncarnation(t *testing.T) {
	a := openT(t, t.TempDir(), DefaultOptions())
	b := openT(t, t.TempDir(), DefaultOptions())
	if a.Identity().Incarnation == b.Identity().Incarnation {
		t.Fatal("two fresh directories got the same incarnation")
	}
}

func TestPutGetAndLimits(t *testing.T) {
	opts := DefaultOptions()
	opts.MaxKeySize, opts.MaxValueSize = 8, 16
	s := openT(t, t.TempDir(), opts)
	set := object.Merge(nil, []object.Sibling{sib("a", 1, "one"), sib("b", 1, "two")})
	if err := s.Put(3, []byte("k"), set); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(3, []byte("k"))
	if err != nil || !object.SameVersions(got, set) {
		t.Fatalf("Get = %v, %v", got, err)
	}
	if got, _ := s.Get(4, []byte("k")); got != nil {
		t.Fatal("partitions are not separate")
	}
	if err := s.CheckClientKey([]byte("123456789")); !errors.Is(err, ErrKeyTooLarge) {
		t.Fatalf("long key: %v", err)
	}
	if err := s.CheckKey([]byte("123456789")); err != nil {
		t.Fatalf("a stored key has room for its table prefix: %v", err)
	}
	if err := s.CheckKey([]byte(strings.Repeat("k", 8+KeyRoom+1))); !errors.Is(err, ErrKeyTooLarge) {
		t.Fatalf("long stored key: %v", err)
	}
	if err := s.CheckClientKey(nil); !errors.Is(err, ErrEmptyKey) {
		t.Fatalf("empty key: %v", err)
	}
	if err := s.CheckKey(nil); !errors.Is(err, ErrEmptyKey) {
		t.Fatalf("empty key: %v", err)
	}
	if err := s.CheckValue([]byte(strings.Repeat("x", 17))); !errors.Is(err, ErrValueTooLarge) {
		t.Fatalf("large value: %v", err)
	}
	if err := s.CheckClientKey([]byte("12345678")); err != nil {
		t.Fatalf("key at the limit: %v", err)
	}
	if err := s.CheckValue([]byte(strings.Repeat("x", 16))); err != nil {
		t.Fatalf("value at the limit: %v", err)
	}
	if err := s.PutBatch([]Write{{Partition: 3, Key: []byte("j"), Siblings: set}, {Partition: 3, Siblings: set}}); !errors.Is(err, ErrEmptyKey) {
		t.Fatalf("batch with an empty key: %v", err)
	}
	if got, _ := s.Get(3, []byte("j")); got != nil {
		t.Fatal("a rejected batch wrote part of itself")
	}
	var keys []string
	for _, k := range []string{"b", "a", "c"} {
		if err := s.Put(5, []byte(k), set); err != nil {
			t.Fatal(err)
		}
	}
	entries, _, err := s.Scan(5, nil, 10, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		keys = append(keys, string(e.Key))
	}
	if strings.Join(keys, ",") != "a,b,c" {
		t.Fatalf("Scan(5) = %v", keys)
	}
}

// Every write acknowledged before a crash is present after reopening: the
// crash clone keeps only what was synced.
func TestAcknowledgedWritesSurviveCrash(t *testing.T) {
	fs := vfs.NewCrashableMem()
	opts := DefaultOptions()
	opts.FS = fs
	s := openT(t, "db", opts)
	const writers, perWriter = 8, 50
	var wg sync.WaitGroup
	acked := make(chan string, writers*perWriter)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				k := fmt.Sprintf("w%d-%d", w, i)
				if err := s.Put(w, []byte(k), []object.Sibling{sib("a", uint64(i+1), k)}); err != nil {
					t.Error(err)
					return
				}
				acked <- k
			}
		}()
	}
	wg.Wait()
	close(acked)
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	s.Close()

	opts.FS = crashed
	s = openT(t, "db", opts)
	n := 0
	for k := range acked {
		var w int
		fmt.Sscanf(k, "w%d-", &w)
		got, err := s.Get(w, []byte(k))
		if err != nil || len(got) != 1 || string(got[0].Value) != k {
			t.Fatalf("acknowledged %s lost after crash: %v %v", k, got, err)
		}
		n++
	}
	if n != writers*perWriter {
		t.Fatalf("checked %d writes", n)
	}
}

// BenchmarkConcurrentSyncedPuts shows group commit: many writers share fsyncs.
func BenchmarkConcurrentSyncedPuts(b *testing.B) {
	s, err := Open(b.TempDir(), "n1", DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	val := []object.Sibling{sib("a", 1, strings.Repeat("v", 100))}
	b.SetParallelism(16)
	var n sync.Mutex
	i := 0
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n.Lock()
			i++
			k, p := fmt.Sprint("k", i), i%64
			n.Unlock()
			if err := s.Put(p, []byte(k), val); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestScanInBatches(t *testing.T) {
	s := openT(t, t.TempDir(), DefaultOptions())
	for i := 0; i < 25; i++ {
		if err := s.Put(7, []byte(fmt.Sprintf("k%02d", i)), []object.Sibling{sib("a", uint64(i+1), "v")}); err != nil {
			t.Fatal(err)
		}
	}
	s.Put(8, []byte("other"), []object.Sibling{sib("a", 99, "v")})
	var got []string
	var after []byte
	batches := 0
	for {
		entries, more, err := s.Scan(7, after, 10, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		batches++
		for _, e := range entries {
			got = append(got, string(e.Key))
			after = e.Key
		}
		if !more {
			break
		}
	}
	if len(got) != 25 || got[0] != "k00" || got[24] != "k24" || batches != 3 {
		t.Fatalf("scanned %d keys in %d batches: %v", len(got), batches, got)
	}
	// A byte limit still returns at least one entry.
	entries, more, _ := s.Scan(7, nil, 10, 1)
	if len(entries) != 1 || !more {
		t.Fatalf("byte-limited scan: %d entries, more=%v", len(entries), more)
	}
}

func TestHintsDurableBoundedAndDeleted(t *testing.T) {
	dir := t.TempDir()
	opts := DefaultOptions()
	opts.MaxHintBytes = 2000
	s := openT(t, dir, opts)
	for i := 0; i < 60; i++ { // past seq 47, whose big-endian bytes contain '/'
		w := Write{Partition: 1, Key: []byte(fmt.Sprint("k", i)), Siblings: []object.Sibling{sib("a", uint64(i+1), "value")}, HintFor: "n3", HintOnly: i%2 == 0}
		if err := s.PutBatch([]Write{w}); err != nil {
			t.Fatal(err)
		}
	}
	st := s.HintStats()["n3"]
	if st.Count == 0 || st.Dropped == 0 || st.Count+st.Dropped != 60 || st.Bytes > opts.MaxHintBytes {
		t.Fatalf("stats after filling past the bound: %+v", st)
	}
	if got, _ := s.Get(1, []byte("k0")); got != nil {
		t.Fatal("a hint-only write stored the object")
	}
	if got, _ := s.Get(1, []byte("k1")); len(got) != 1 {
		t.Fatal("a hinted replica write did not store the object")
	}
	s.Close()

	s = openT(t, dir, opts) // hints and their stats survive a restart
	if again := s.HintStats()["n3"]; again.Count != st.Count || again.Bytes != st.Bytes {
		t.Fatalf("after reopen %+v, before %+v", again, st)
	}
	hs, err := s.Hints("n3", 1000)
	if err != nil || int64(len(hs)) != st.Count || string(hs[0].Hint.Key) != "k0" {
		t.Fatalf("Hints: %d, %v", len(hs), err)
	}
	for _, h := range hs {
		if err := s.DeleteHint("n3", h.Seq); err != nil {
			t.Fatal(err)
		}
	}
	if left, _ := s.Hints("n3", 10); len(left) != 0 || s.HintStats()["n3"].Count != 0 || s.HintStats()["n3"].Bytes != 0 {
		t.Fatalf("after deleting every hint: %d left, %+v", len(left), s.HintStats()["n3"])
	}
}

func TestDeleteWriteAndDropPartition(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, DefaultOptions())
	for p := 0; p < 3; p++ {
		for i := 0; i < 10; i++ {
			if err := s.Put(p, []byte(fmt.Sprintf("k%d", i)), []object.Sibling{sib("n1", uint64(i+1), "v")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.PutBatch([]Write{{Partition: 0, Key: []byte("k3"), Delete: true}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DropPartition(1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, DefaultOptions())
	count := func(p int) int {
		entries, _, err := s.Scan(p, nil, 100, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		return len(entries)
	}
	if got, _ := s.Get(0, []byte("k3")); got != nil {
		t.Errorf("deleted key still there: %v", got)
	}
	if c0, c1, c2 := count(0), count(1), count(2); c0 != 9 || c1 != 0 || c2 != 10 {
		t.Errorf("after delete and drop: partitions hold %d, %d, %d keys; want 9, 0, 10", c0, c1, c2)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRingParametersAreBoundToTheDirectory(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, DefaultOptions())
	if err := s.BindRing(64, 3); err != nil {
		t.Fatal(err)
	}
	if err := s.BindRing(64, 3); err != nil {
		t.Fatalf("same parameters again: %v", err)
	}
	s.Close()
	s = openT(t, dir, DefaultOptions())
	for _, tc := range []struct{ partitions, n int }{{32, 3}, {64, 2}} {
		err := s.BindRing(tc.partitions, tc.n)
		if err == nil || !strings.Contains(err.Error(), "--partitions 64 --n 3") {
			t.Fatalf("reopened with %d/%d: %v, want a refusal naming 64/3", tc.partitions, tc.n, err)
		}
	}
	if err := s.BindRing(64, 3); err != nil {
		t.Fatalf("reopened with the same parameters: %v", err)
	}
}

// A hint that can never be delivered is dropped: counted as dropped, and no
// longer read.
func TestDropHint(t *testing.T) {
	s := openT(t, t.TempDir(), DefaultOptions())
	for i := range 2 {
		w := Write{Partition: 1, Key: []byte(fmt.Sprint("k", i)), Siblings: []object.Sibling{sib("a", uint64(i+1), "v")}, HintFor: "n3", HintOnly: true}
		if err := s.PutBatch([]Write{w}); err != nil {
			t.Fatal(err)
		}
	}
	hs, err := s.Hints("n3", 10)
	if err != nil || len(hs) != 2 {
		t.Fatalf("Hints: %d, %v", len(hs), err)
	}
	if err := s.DropHint("n3", hs[0].Seq, "test"); err != nil {
		t.Fatal(err)
	}
	left, err := s.Hints("n3", 10)
	if st := s.HintStats()["n3"]; err != nil || len(left) != 1 || left[0].Seq != hs[1].Seq || st.Count != 1 || st.Dropped != 1 {
		t.Fatalf("after dropping one: %d left (%v), stats %+v", len(left), err, st)
	}
}

// Intervals left at 0 (options built without DefaultOptions) or below get
// the defaults: every error logged, or no time for a failed pebble to
// close, would be wrong.
func TestUnsetIntervalsGetDefaults(t *testing.T) {
	opts := DefaultOptions()
	opts.FS = vfs.NewMem()
	opts.ErrorLogInterval, opts.FailedCloseTimeout = 0, -time.Second
	s := openT(t, "db", opts)
	def := DefaultOptions()
	if s.opts.ErrorLogInterval != def.ErrorLogInterval || s.opts.FailedCloseTimeout != def.FailedCloseTimeout {
		t.Fatalf("ErrorLogInterval %v, FailedCloseTimeout %v; want the defaults", s.opts.ErrorLogInterval, s.opts.FailedCloseTimeout)
	}
}

func TestCatalogAndDropKeys(t *testing.T) {
	s := openT(t, t.TempDir(), DefaultOptions())
	if c, err := s.Catalog(); err != nil || c != nil {
		t.Fatalf("catalog of a new store: %q %v", c, err)
	}
	if err := s.SaveCatalog([]byte("v1")); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Catalog(); err != nil || string(c) != "v1" {
		t.Fatalf("catalog: %q %v", c, err)
	}
	if ok, err := s.Purged(7); ok || err != nil {
		t.Fatalf("purged before the mark: %v %v", ok, err)
	}
	if err := s.MarkPurged(7); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Purged(7); !ok || err != nil {
		t.Fatalf("purged after the mark: %v %v", ok, err)
	}
	set := object.Merge(nil, []object.Sibling{sib("a", 1, "one")})
	for _, k := range []string{"\x00e\x00\x00\x00\x07a", "\x00e\x00\x00\x00\x07b", "\x00e\x00\x00\x00\x08a", "plain"} {
		if err := s.Put(2, []byte(k), set); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CommitBatch(nil, []AcceptorWrite{{Partition: 2, Key: []byte("\x00e\x00\x00\x00\x07a"), State: paxos.State{Promised: paxos.Ballot{Round: 1}}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DropKeys(2, []byte("\x00e\x00\x00\x00\x07")); err != nil {
		t.Fatal(err)
	}
	entries, _, err := s.Scan(2, nil, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range entries {
		keys = append(keys, string(e.Key))
	}
	if !slices.Equal(keys, []string{"\x00e\x00\x00\x00\x08a", "plain"}) {
		t.Fatalf("keys left: %q", keys)
	}
	if st, err := s.AcceptorState(2, []byte("\x00e\x00\x00\x00\x07a")); err != nil || !st.Equal(paxos.State{}) {
		t.Fatalf("acceptor state left: %+v %v", st, err)
	}
}
