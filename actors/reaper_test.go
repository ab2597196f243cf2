package actors

import (
	"context"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/merkle"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/reap"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

// A vnode lists its tombstones past grace from its index, agrees to reap
// a tombstone it holds at the asked version or a key it does not hold, and
// deletes only the former, keeping its tree and counters exact.
func TestVnodeReap(t *testing.T) {
	sys := startSingle(t, t.TempDir())
	ctx := context.Background()
	put := func(key string, deleted bool) {
		t.Helper()
		res, err := sys.Get(ctx, GetRequest{Key: []byte(key), Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sys.Put(ctx, PutRequest{Key: []byte(key), Value: []byte("v"), Deleted: deleted,
			Context: object.Context(res.Siblings), Timeout: time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	partition := func(key string) int { return sys.View().Ring.PartitionForKey([]byte(key)) }
	digest := func(key string) []byte {
		t.Helper()
		set, err := sys.store.Get(partition(key), []byte(key))
		if err != nil {
			t.Fatal(err)
		}
		return object.VersionDigest(set)
	}
	ask := func(key string, d []byte, commit bool) *internalpb.ReapReply {
		t.Helper()
		p := partition(key)
		res, err := sys.actors.Root.RequestFuture(actor.NewPID(sys.actors.Address(), vnodeName(p)),
			&internalpb.Reap{Partition: uint32(p), Entries: []*internalpb.ReapEntry{{Key: []byte(key), Digest: d}}, Commit: commit, Sender: sys.View().sender()}, time.Second).Result()
		if err != nil {
			t.Fatal(err)
		}
		return res.(*internalpb.ReapReply)
	}

	put("gone", false)
	put("gone", true)
	put("live", false)
	put("moved", false)
	put("moved", true)
	movedAsked := digest("moved")
	put("moved", false) // written again after the reaper asked
	put("moved", true)

	res, err := sys.actors.Root.RequestFuture(actor.NewPID(sys.actors.Address(), vnodeName(partition("gone"))),
		reapScan{rule: reap.Config{Grace: time.Nanosecond}, now: time.Now(), max: 10}, time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range res.([]*internalpb.ReapEntry) {
		found = found || string(e.Key) == "gone"
	}
	if !found {
		t.Fatal("the vnode did not list the tombstone of gone past grace")
	}

	goneDigest := digest("gone")
	for _, tc := range []struct {
		key    string
		digest []byte
		holds  bool
	}{
		{"gone", goneDigest, true},
		{"live", digest("live"), false},
		{"moved", movedAsked, false},
		{"absent", goneDigest, true},
	} {
		if got := ask(tc.key, tc.digest, false); len(got.Holds) != 1 || got.Holds[0] != tc.holds || got.Reaped != 0 {
			t.Errorf("%s: asked: %v", tc.key, got)
		}
	}
	for _, tc := range []struct {
		key    string
		digest []byte
		reaped uint32
	}{
		{"gone", goneDigest, 1},
		{"moved", movedAsked, 0},
		{"absent", nil, 0},
	} {
		if got := ask(tc.key, tc.digest, true); got.Reaped != tc.reaped {
			t.Errorf("%s: commit reaped %d, want %d", tc.key, got.Reaped, tc.reaped)
		}
	}
	if set, err := sys.store.Get(partition("gone"), []byte("gone")); err != nil || set != nil {
		t.Fatalf("gone still stored: %v, %v", set, err)
	}
	if set, err := sys.store.Get(partition("moved"), []byte("moved")); err != nil || set == nil {
		t.Fatalf("moved, written again after the question, was deleted: %v", err)
	}
	st := sys.Reaping()
	if st.Reaped != 1 || st.TombstonesHeld != 1 {
		t.Errorf("reaped %d, held %d; want 1 and 1 (moved)", st.Reaped, st.TombstonesHeld)
	}
	p := partition("gone")
	r, err := sys.actors.Root.RequestFuture(actor.NewPID(sys.actors.Address(), vnodeName(p)),
		&internalpb.TreeLevel{Partition: uint32(p), Level: 0, Nodes: []uint32{0}}, time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	if merkle.Hash(r.(*internalpb.TreeLevelReply).Hashes[0]) != expectedRoot(t, sys.store, p) {
		t.Fatal("tree root differs from the stored data after the reap")
	}
}
