package actors

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/itemop"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/internal/testport"
)

// staleThirdReplica starts three nodes and writes the items 1, 2 and 3
// of partition key "ann" of an eventual table "feed" (W=2), with s3 down
// for the write of 3 and the delete of 1: hint replay and scheduled
// anti-entropy are off, so only a read can bring them to it. It returns
// the nodes, the range of "ann"'s items, and whether s3 holds both now.
func staleThirdReplica(t *testing.T, ctx context.Context) ([]*System, item.Range, func() bool) {
	t.Helper()
	noHints := func(c *Config) { c.Hints.Enabled, c.Repair.Interval = false, 0 }
	addrs := []string{testport.For(t), testport.For(t), testport.For(t)}
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	nodes := make([]*System, 3)
	for i := range nodes {
		nodes[i] = startStrongNode(t, fmt.Sprintf("s%d", i+1), addrs[i], addrs, dirs[i], noHints)
	}
	waitSettled(t, nodes, 3)
	tbl, err := nodes[0].Tables().Create(ctx, catalog.Spec{Name: "feed", Consistency: catalog.Eventual, Schema: itemTable.Schema})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "every node knows the table", func() bool {
		for _, n := range nodes {
			if _, err := n.Tables().Lookup(ctx, "feed"); err != nil {
				return false
			}
		}
		return true
	})
	keyOf := func(sk int) []byte { return itemKeyIn(t, tbl, "ann", sk) }
	put := func(sys *System, sk int, deleted bool) {
		t.Helper()
		v := itemop.Encode(item.Item{"pk": item.S("ann"), "sk": item.MustNumber(fmt.Sprint(sk))})
		if _, err := sys.Put(ctx, PutRequest{Key: keyOf(sk), Value: v, Deleted: deleted, W: 2}); err != nil {
			t.Fatalf("write %d: %v", sk, err)
		}
	}
	put(nodes[0], 1, false)
	put(nodes[0], 2, false)
	stopNode(nodes[2])
	waitUntil(t, 30*time.Second, "s1 sees s3 down", func() bool { return !nodes[0].View().Up("s3") })
	put(nodes[0], 3, false)
	put(nodes[1], 1, true)
	nodes[2] = startStrongNode(t, "s3", addrs[2], addrs, dirs[2], noHints)
	waitSettled(t, nodes, 3)

	p := nodes[0].View().Ring.PartitionForKey(keyOf(1))
	held := func(sk int) []object.Sibling {
		set, err := nodes[2].store.Get(p, keyOf(sk))
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	if len(held(3)) != 0 || len(object.Live(held(1))) != 1 {
		t.Fatalf("s3 before the read: item 3 %v, item 1 %v; want none and the item", held(3), held(1))
	}
	r, err := catalog.ItemRange(tbl, item.S("ann"), item.SortCondition{})
	if err != nil {
		t.Fatal(err)
	}
	repaired := func() bool { return len(object.Live(held(3))) == 1 && len(held(1)) == 1 && held(1)[0].Deleted }
	return nodes, r, repaired
}

// readAnn reads staleThirdReplica's items through sys at R=rq: the page
// must hold them as the merge of every write (1 deleted, 2 and 3 there),
// complete, and the read must have read rereads replicas whole past their
// versions.
func readAnn(t *testing.T, ctx context.Context, sys *System, r item.Range, rq int, rereads uint64) {
	t.Helper()
	before := sys.RequestCounts().RangeRereads
	entries, complete, err := sys.ReadEventualRange(ctx, RangeRead{Lower: r.Lower, Upper: r.Upper, MaxKeys: 10, MaxBytes: 1 << 20}, rq)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, fmt.Sprint(e.Value.Exists))
	}
	if fmt.Sprint(got) != "[false true true]" || !complete {
		t.Fatalf("read items 1, 2, 3 as existing %v (complete %v), want [false true true]", got, complete)
	}
	if n := sys.RequestCounts().RangeRereads - before; n != rereads {
		t.Fatalf("read %d replicas whole past their versions, want %d", n, rereads)
	}
}

// A range read of an eventual table's items at R=3 merges the replicas
// item by item (an item written while a replica was down is there; one
// deleted then is gone though that replica still holds it) and repairs
// the replica that answered with less.
func TestReadEventualRangeMergesReplicasAndRepairsTheStale(t *testing.T) {
	if raceEnabled {
		t.Skip("three actor systems in one process trip the race detector inside protoactor (PROTOACTOR-NOTES)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes, r, repaired := staleThirdReplica(t, ctx)
	// s1 answers with its objects, s2 and s3 with their versions: s2's
	// agree, s3's do not, so s3 alone is read whole.
	readAnn(t, ctx, nodes[0], r, 3, 1)
	waitUntil(t, 10*time.Second, "s3 repaired by the read", repaired)
	// Repaired, every replica's versions agree: none is read whole, and
	// the page is the same.
	readAnn(t, ctx, nodes[0], r, 3, 0)
}

// A range read at R=2 from the stale replica sends its own stale page of
// objects and another replica's versions: they differ, so that replica
// is read whole, its newer writes win the merge, and the reader is
// repaired.
func TestReadEventualRangeFromAStaleReplicaReadsTheOtherWhole(t *testing.T) {
	if raceEnabled {
		t.Skip("three actor systems in one process trip the race detector inside protoactor (PROTOACTOR-NOTES)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes, r, repaired := staleThirdReplica(t, ctx)
	readAnn(t, ctx, nodes[2], r, 2, 1)
	waitUntil(t, 10*time.Second, "s3 repaired by its own read", repaired)
}

// The expiry of an eventual table's item deletes the version it found
// expired and nothing written since: a tombstone stamped just above the
// versions read loses to the item written again after that read, even
// though the deletion is made later.
func TestExpiryOfAnEventualItemLosesToAWriteMadeSince(t *testing.T) {
	if raceEnabled {
		t.Skip("three actor systems in one process trip the race detector inside protoactor (PROTOACTOR-NOTES)")
	}
	nodes := startStrongCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tbl, err := nodes[0].Tables().Create(ctx, catalog.Spec{Name: "visits", Consistency: catalog.Eventual, Schema: itemTable.Schema})
	if err != nil {
		t.Fatal(err)
	}
	if tbl, err = nodes[0].Tables().ChangeTTL(ctx, "visits", "exp", true); err != nil {
		t.Fatal(err)
	}
	key := itemKeyIn(t, tbl, "ann", 1)
	write := func(exp int64) {
		t.Helper()
		v := itemop.Encode(item.Item{"pk": item.S("ann"), "sk": item.MustNumber("1"), "exp": item.MustNumber(fmt.Sprint(exp))})
		if _, err := nodes[1].Put(ctx, PutRequest{Key: key, Value: v, W: 3}); err != nil {
			t.Fatal(err)
		}
	}
	read := func() []object.Sibling {
		t.Helper()
		res, err := nodes[2].Get(ctx, GetRequest{Key: key, R: 3})
		if err != nil {
			t.Fatal(err)
		}
		return res.Siblings
	}
	write(time.Now().Add(-time.Hour).Unix())
	found := read()
	if expired, err := itemop.ExpiredVersions(tbl, found, time.Now()); err != nil || !expired {
		t.Fatalf("the item written expired is not: %v", err)
	}
	write(time.Now().Add(time.Hour).Unix()) // written again since the pass read it
	nodes[0].expireVersions(key, tbl, found)
	if live := object.Live(read()); len(live) != 1 {
		t.Fatalf("the item written again after the expired one was read is gone: %v", read())
	}
	// Deleting what is there now does delete it.
	nodes[0].expireVersions(key, tbl, read())
	if live := object.Live(read()); len(live) != 0 {
		t.Fatalf("the expiry of the current version left %v", live)
	}
}

// A range read at R=2 asks two replicas, its own first; when one of them
// is silent though up (its vnode's mailbox suspended: a stalled disk,
// which a closed connection does not reveal), it asks the third after
// the speculative retry and answers within its deadline.
func TestReadEventualRangeAsksAnotherReplicaPastASilentOne(t *testing.T) {
	if raceEnabled {
		t.Skip("three actor systems in one process trip the race detector inside protoactor (PROTOACTOR-NOTES)")
	}
	nodes := startStrongCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tbl, err := nodes[0].Tables().Create(ctx, catalog.Spec{Name: "feed", Consistency: catalog.Eventual, Schema: itemTable.Schema})
	if err != nil {
		t.Fatal(err)
	}
	key := itemKeyIn(t, tbl, "ann", 1)
	if _, err := nodes[0].Put(ctx, PutRequest{Key: key, Value: itemop.Encode(item.Item{"pk": item.S("ann"), "sk": item.MustNumber("1")}), W: 3}); err != nil {
		t.Fatal(err)
	}
	r, err := catalog.ItemRange(tbl, item.S("ann"), item.SortCondition{})
	if err != nil {
		t.Fatal(err)
	}
	read := func() error {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		entries, _, err := nodes[0].ReadEventualRange(rctx, RangeRead{Lower: r.Lower, Upper: r.Upper, MaxKeys: 10, MaxBytes: 1 << 20}, 2)
		if err == nil && (len(entries) != 1 || !entries[0].Value.Exists) {
			err = fmt.Errorf("read %d entries, want the item", len(entries))
		}
		return err
	}
	before := nodes[0].RequestCounts().SpeculativeAsks
	if err := read(); err != nil {
		t.Fatal(err)
	}
	if n := nodes[0].RequestCounts().SpeculativeAsks; n != before {
		t.Fatalf("a read whose replicas all answer asked %d more", n-before)
	}
	p := nodes[0].View().Ring.PartitionForKey(key)
	vnode := actor.NewPID(nodes[0].actors.Address(), vnodeName(p))
	proc, _ := nodes[0].actors.ProcessRegistry.Get(vnode)
	proc.SendSystemMessage(vnode, &actor.SuspendMailbox{})
	defer proc.SendSystemMessage(vnode, &actor.ResumeMailbox{})
	if err := read(); err != nil {
		t.Fatalf("with s1's own replica silent: %v", err)
	}
	if n := nodes[0].RequestCounts().SpeculativeAsks; n != before+1 {
		t.Fatalf("asked %d replicas past the silent one, want 1", n-before)
	}
	// The silent replica was the one asked for its objects: the one asked
	// past it was asked for them in its place, so no replica's versions
	// were left without a page to compare with.
	if n := nodes[0].RequestCounts().RangeRereads; n != 0 {
		t.Fatalf("read %d replicas whole, want 0", n)
	}
}
