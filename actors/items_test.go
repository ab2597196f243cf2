package actors

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/packedpage"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxospb"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

// itemTable is a strong table of items keyed by a string and a number.
var itemTable = catalog.Table{ID: catalog.FirstID, Consistency: catalog.Strong,
	Schema: item.KeySchema{Partition: item.KeyAttribute{Name: "pk", Type: item.TypeS}, Sort: item.KeyAttribute{Name: "sk", Type: item.TypeN}}}

func itemKey(t *testing.T, pk string, sk int) []byte {
	t.Helper()
	return itemKeyIn(t, itemTable, pk, sk)
}

// itemKeyIn is where item (pk, sk) of a table keyed like itemTable lives.
func itemKeyIn(t *testing.T, tbl catalog.Table, pk string, sk int) []byte {
	t.Helper()
	k, err := catalog.ItemKey(tbl, item.Key{Partition: item.S(pk), Sort: item.MustNumber(fmt.Sprint(sk))})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A range read of a partition key's items answers what reads of each
// would: committed items as they are, and an item only accepted by some
// voters completed through consensus first (then held committed by a
// majority); in order either way, in pages without gaps.
func TestReadRangeReadsItemsAsConsensusWould(t *testing.T) {
	if raceEnabled {
		t.Skip("three actor systems in one process trip the race detector inside protoactor (PROTOACTOR-NOTES)")
	}
	nodes := startStrongCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, sk := range []int{1, 2, 3, 5} {
		res, err := nodes[sk%3].Strong(ctx, itemKey(t, "ann", sk), paxos.Op{Kind: paxos.OpPut, Data: []byte(fmt.Sprint("v", sk))})
		if err != nil || res.Outcome != paxos.OutcomeOK {
			t.Fatalf("put %d: %+v %v", sk, res, err)
		}
	}
	if res, err := nodes[0].Strong(ctx, itemKey(t, "bob", 4), paxos.Op{Kind: paxos.OpPut, Data: []byte("other partition key")}); err != nil || res.Outcome != paxos.OutcomeOK {
		t.Fatalf("put bob: %+v %v", res, err)
	}
	// Item 4 chosen (accepted by two of the three voters) but never
	// committed, its proposer gone: every majority holds it, so every
	// read must return it.
	pending := itemKey(t, "ann", 4)
	s1 := nodes[0]
	b := ballotOf(s1, uint64(time.Now().UnixMicro())+1_000_000, 1<<40)
	v := paxos.Value{Exists: true, Data: []byte("accepted, not committed"), Version: b}
	for _, sys := range nodes[:2] {
		for _, kind := range []internalpb.PaxosKind{internalpb.PaxosKind_PAXOS_PREPARE, internalpb.PaxosKind_PAXOS_ACCEPT} {
			m := &internalpb.PaxosRequest{Partition: uint32(s1.View().Ring.PartitionForKey(pending)), Key: pending, Kind: kind,
				Ballot: paxospb.BallotToProto(b), RequestId: 42, Sender: s1.View().sender(), Transition: s1.View().Transition.Fingerprint}
			if kind == internalpb.PaxosKind_PAXOS_ACCEPT {
				m.Value = paxospb.ValueToProto(v)
			}
			if r := askAcceptor(t, sys, m); r.Error != "" || !r.Ok {
				t.Fatalf("%v at %s: %v", kind, sys.cfg.NodeID, r)
			}
		}
	}

	r, err := catalog.ItemRange(itemTable, item.S("ann"), item.SortCondition{})
	if err != nil {
		t.Fatal(err)
	}
	read := func(sys *System, rr RangeRead) ([]string, bool) {
		t.Helper()
		entries, complete, err := sys.ReadRange(ctx, rr)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, string(e.Value.Data))
		}
		return out, complete
	}
	got, complete := read(nodes[2], RangeRead{Lower: r.Lower, Upper: r.Upper, MaxKeys: 10, MaxBytes: 1 << 20})
	want := []string{"v1", "v2", "v3", "accepted, not committed", "v5"}
	if !slices.Equal(got, want) || !complete {
		t.Fatalf("forward: %q complete=%v, want %q", got, complete, want)
	}
	// The read completed item 4: a majority holds it committed (the
	// commits go out as the completing read answers).
	deadline := time.Now().Add(10 * time.Second)
	for {
		committed := 0
		for _, sys := range nodes {
			p := sys.View().Ring.PartitionForKey(pending)
			if st, err := sys.store.AcceptorState(p, pending); err == nil && st.Value.Equal(v) && st.Committed == st.Accepted {
				committed++
			}
		}
		if 2*committed > len(nodes) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("item 4 is committed at %d voters after the read", committed)
		}
		time.Sleep(20 * time.Millisecond)
	}
	got, _ = read(nodes[1], RangeRead{Lower: r.Lower, Upper: r.Upper, Reverse: true, MaxKeys: 10, MaxBytes: 1 << 20})
	if want := []string{"v5", "accepted, not committed", "v3", "v2", "v1"}; !slices.Equal(got, want) {
		t.Fatalf("reverse: %q, want %q", got, want)
	}
	first, complete := read(nodes[0], RangeRead{Lower: r.Lower, Upper: r.Upper, MaxKeys: 3, MaxBytes: 1 << 20})
	if complete || len(first) != 3 {
		t.Fatalf("a page of 3: %q complete=%v", first, complete)
	}
	rest, complete := read(nodes[0], RangeRead{Lower: r.After(itemKey(t, "ann", 3)).Lower, Upper: r.Upper, MaxKeys: 3, MaxBytes: 1 << 20})
	if got := append(first, rest...); !slices.Equal(got, []string{"v1", "v2", "v3", "accepted, not committed", "v5"}) || !complete {
		t.Fatalf("two pages: %q complete=%v", got, complete)
	}
	if _, _, err := nodes[0].ReadRange(ctx, RangeRead{Lower: skey("opaque"), Upper: skey("opaquf"), MaxKeys: 1}); err == nil {
		t.Fatal("a range of opaque keys was read")
	}
	// The whole table, partition by partition (a Scan's reads): each
	// item once, in the partition that places it.
	whole := catalog.TableItems(itemTable)
	var all []string
	for p := range nodes[0].View().Ring.Partitions() {
		got, complete := read(nodes[p%3], RangeRead{Lower: whole.Lower, Upper: whole.Upper, OfTable: true, Partition: p, MaxKeys: 10, MaxBytes: 1 << 20})
		if !complete {
			t.Fatalf("partition %d: a page of 10 did not hold the table's items there", p)
		}
		all = append(all, got...)
	}
	slices.Sort(all)
	if want := []string{"accepted, not committed", "other partition key", "v1", "v2", "v3", "v5"}; !slices.Equal(all, want) {
		t.Fatalf("the table read partition by partition: %q, want %q", all, want)
	}
	if _, _, err := nodes[0].ReadRange(ctx, RangeRead{Lower: whole.Lower, Upper: whole.Upper, OfTable: true, Partition: nodes[0].View().Ring.Partitions()}); err == nil {
		t.Fatal("a read of a partition past the ring's was sent")
	}
}

// askRangeRead sends a range read to the vnode of partition p.
func askRangeRead(t *testing.T, sys *System, p int, m *internalpb.AcceptorRangeRead) *internalpb.HandoffBatch {
	t.Helper()
	res, err := sys.actors.Root.RequestFuture(actor.NewPID(sys.actors.Address(), vnodeName(p)), m, 5*time.Second).Result()
	if err != nil {
		t.Fatalf("range read: %v", err)
	}
	b, ok := res.(*internalpb.HandoffBatch)
	if !ok {
		t.Fatalf("range read answered with %T", res)
	}
	return b
}

// A read of a part of a table's items (a Scan's) names its partition,
// since the bounds do not; the vnode still takes it only for a range of
// one live strong table's items, from an admitted sender of its
// transition, for its own partition.
func TestAcceptorRangeReadOfATableRefusesBadBounds(t *testing.T) {
	sys := startSingle(t, t.TempDir())
	const p = 0
	whole := catalog.TableItems(itemTable)
	eventual := catalog.TableItems(catalog.Table{ID: catalog.FirstID, Consistency: catalog.Eventual, Schema: itemTable.Schema})
	read := func(change func(*internalpb.AcceptorRangeRead)) *internalpb.AcceptorRangeRead {
		m := &internalpb.AcceptorRangeRead{Partition: p, Lower: whole.Lower, Upper: whole.Upper, OfTable: true, MaxKeys: 10, MaxBytes: 1 << 20,
			Transition: sys.View().Transition.Fingerprint, Sender: sys.View().sender()}
		change(m)
		return m
	}
	if r := askRangeRead(t, sys, p, read(func(*internalpb.AcceptorRangeRead) {})); r.Error != "" {
		t.Fatalf("a read of the whole table in partition %d: %s", p, r.Error)
	}
	cases := []struct {
		rule string
		req  *internalpb.AcceptorRangeRead
		want string
	}{
		{"an eventual table's items", read(func(m *internalpb.AcceptorRangeRead) { m.Lower, m.Upper = eventual.Lower, eventual.Upper }), "not a range of one table's items"},
		{"opaque keys of a strong table", read(func(m *internalpb.AcceptorRangeRead) { m.Lower, m.Upper = skey("a"), skey("b") }), "not a range of one table's items"},
		{"past the table's end", read(func(m *internalpb.AcceptorRangeRead) { m.Upper = append(slices.Clone(whole.Upper), 0) }), "not a range of one table's items"},
		{"empty", read(func(m *internalpb.AcceptorRangeRead) { m.Lower = whole.Upper }), "not a range of one table's items"},
		{"another partition's", read(func(m *internalpb.AcceptorRangeRead) { m.Partition = p + 1 }), "sent to the vnode of partition"},
		{"another transition's", read(func(m *internalpb.AcceptorRangeRead) { m.Transition++ }), "transition"},
		{"no sender", read(func(m *internalpb.AcceptorRangeRead) { m.Sender = nil }), "unnamed sender"},
		{"without of_table, a range that is no partition key's", read(func(m *internalpb.AcceptorRangeRead) { m.OfTable = false }), "not a range of items"},
	}
	for _, c := range cases {
		if r := askRangeRead(t, sys, p, c.req); !strings.Contains(r.Error, c.want) || len(r.AcceptorStates) > 0 {
			t.Errorf("%s: answered %v, want an error with %q", c.rule, r, c.want)
		}
	}
}

// A voter's page is taken only as asked: within the range, in the read's
// order, no longer than the read.
func TestRangeReplyRefusesPagesNotAsAsked(t *testing.T) {
	st := paxospb.StateToProto(paxos.State{})
	page := func(keys ...string) *internalpb.HandoffBatch {
		b := &internalpb.HandoffBatch{Node: "n2", OfAcceptorStates: true}
		for _, k := range keys {
			b.AcceptorStates = append(b.AcceptorStates, &internalpb.AcceptorEntry{Key: []byte(k), State: st})
		}
		return b
	}
	forward := RangeRead{Lower: []byte("b"), Upper: []byte("f"), MaxKeys: 3}
	backward := forward
	backward.Reverse = true
	for _, tt := range []struct {
		name string
		read RangeRead
		page *internalpb.HandoffBatch
		ok   bool
	}{
		{"a page in order within the range", forward, page("b", "c", "e"), true},
		{"a reverse page in reverse order", backward, page("e", "c", "b"), true},
		{"a register below the range", forward, page("a", "c"), false},
		{"a register at the range's upper bound", forward, page("c", "f"), false},
		{"registers out of order", forward, page("c", "b"), false},
		{"a register twice", forward, page("c", "c"), false},
		{"a reverse page in forward order", backward, page("b", "c"), false},
		{"more registers than asked", forward, page("b", "c", "d", "e"), false},
	} {
		if _, err := rangeReplyOf("n2", tt.page, tt.read); (err == nil) != tt.ok {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

func TestObjectPageRefusesPagesNotAsAsked(t *testing.T) {
	page := func(versions bool, keys ...string) *internalpb.ObjectRangePage {
		b := &internalpb.ObjectRangePage{Node: "n2", Versions: versions, Count: uint32(len(keys))}
		for _, k := range keys {
			b.Entries = packedpage.Append(b.Entries, []byte(k), []byte("v"))
		}
		return b
	}
	read := RangeRead{Lower: []byte("b"), Upper: []byte("f"), MaxKeys: 3}
	for _, tt := range []struct {
		name     string
		versions bool // asked for versions
		page     any
		ok       bool
		want     bool // the page taken holds versions
	}{
		{"a page of objects for a read of objects", false, page(false, "b", "c"), true, false},
		{"a page of versions for a read of versions", true, page(true, "b", "c"), true, true},
		{"a page of versions for a read of objects", false, page(true, "b", "c"), false, false},
		{"a page of objects for a read of versions (a node that predates them) is taken as objects", true, page(false, "b", "c"), true, false},
		{"a key outside the range", true, page(true, "a"), false, false},
		{"more keys than asked", false, page(false, "b", "c", "d", "e"), false, false},
		{"another node's page", false, &internalpb.ObjectRangePage{Node: "n3"}, false, false},
		{"an answer of another kind", false, &internalpb.HandoffBatch{Node: "n2"}, false, false},
	} {
		p, err := objectPageOf("n2", tt.page, read, tt.versions)
		if (err == nil) != tt.ok {
			t.Errorf("%s: %v", tt.name, err)
		}
		if err == nil && p.Versions != tt.want {
			t.Errorf("%s: taken as a page of versions %v, want %v", tt.name, p.Versions, tt.want)
		}
	}
}
