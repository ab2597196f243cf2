package persistence

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/packedpage"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxospb"
	"github.com/harmoniakv/harmonia/cluster/ring"
)

func acceptorState(round uint64, data string) paxos.State {
	b := paxos.Ballot{Round: round, Node: "n2", Incarnation: 7, Seq: round}
	return paxos.State{Promised: b, Accepted: b, Value: paxos.Value{Exists: true, Data: []byte(data), Version: b}}
}

// Acceptor state shares the objects' batch, reads back as written, and
// stays out of the eventual path: a partition's scan does not list it and
// dropping the partition keeps it (a node that hands a partition off must
// not forget its promises).
func TestAcceptorStateIsolatedFromObjects(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, DefaultOptions())
	if st, err := s.AcceptorState(3, []byte("k")); err != nil || !st.Promised.IsZero() || st.Value.Exists {
		t.Fatalf("state of a register never written: %+v %v", st, err)
	}
	want := acceptorState(2, "v")
	if err := s.CommitBatch([]Write{{Partition: 3, Key: []byte("obj"), Siblings: []object.Sibling{sib("a", 1, "x")}}},
		[]AcceptorWrite{{Partition: 3, Key: []byte("k"), State: want}}); err != nil {
		t.Fatal(err)
	}
	entries, more, err := s.Scan(3, nil, 100, 1<<20)
	if err != nil || more || len(entries) != 1 || string(entries[0].Key) != "obj" {
		t.Fatalf("scan of the partition: %v %v %v", entries, more, err)
	}
	if err := s.DropPartition(3); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(3, []byte("obj")); len(got) != 0 {
		t.Fatalf("object survived the drop: %v", got)
	}
	s.Close()
	s = openT(t, dir, DefaultOptions())
	got, err := s.AcceptorState(3, []byte("k"))
	if err != nil || got.Promised != want.Promised || !got.Value.Equal(want.Value) || got.Accepted != want.Accepted {
		t.Fatalf("acceptor state after drop and reopen: %+v %v, want %+v", got, err, want)
	}
	if got, _ := s.AcceptorState(4, []byte("k")); !got.Promised.IsZero() {
		t.Fatalf("another partition's register: %+v", got)
	}
	if err := s.CommitBatch(nil, []AcceptorWrite{{Partition: 3}}); err == nil {
		t.Fatal("acceptor state of the empty key was written")
	}
}

// Every acceptor state acknowledged (CommitBatch returned) before a crash
// is there after it: the crash clone keeps only what was synced.
func TestAcknowledgedAcceptorStateSurvivesCrash(t *testing.T) {
	fs := vfs.NewCrashableMem()
	opts := DefaultOptions()
	opts.FS = fs
	s := openT(t, "db", opts)
	const n = 200
	for i := range n {
		if err := s.CommitBatch(nil, []AcceptorWrite{{Partition: i % 8, Key: []byte(fmt.Sprint("k", i)), State: acceptorState(uint64(i+1), fmt.Sprint("v", i))}}); err != nil {
			t.Fatal(err)
		}
	}
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	s.Close()
	opts.FS = crashed
	s = openT(t, "db", opts)
	for i := range n {
		want := acceptorState(uint64(i+1), fmt.Sprint("v", i))
		got, err := s.AcceptorState(i%8, []byte(fmt.Sprint("k", i)))
		if err != nil || got.Promised != want.Promised || !got.Value.Equal(want.Value) {
			t.Fatalf("acknowledged acceptor state %d lost after the crash: %+v %v", i, got, err)
		}
	}
}

// ScanAcceptors pages through one partition's acceptor states in key
// order, after a key, bounded by keys and bytes (at least one), and sees
// neither objects nor other partitions.
func TestScanAcceptors(t *testing.T) {
	s := openT(t, t.TempDir(), DefaultOptions())
	var writes []AcceptorWrite
	for i, k := range []string{"a", "b", "c", "d"} {
		writes = append(writes, AcceptorWrite{Partition: 5, Key: []byte(k), State: acceptorState(uint64(i+1), k)})
	}
	writes = append(writes, AcceptorWrite{Partition: 6, Key: []byte("a"), State: acceptorState(9, "other")})
	if err := s.CommitBatch([]Write{{Partition: 5, Key: []byte("obj"), Siblings: []object.Sibling{sib("a", 1, "x")}}}, writes); err != nil {
		t.Fatal(err)
	}
	var got []string
	var after []byte
	for pages := 0; ; pages++ {
		if pages > 4 {
			t.Fatal("no end")
		}
		entries, more, err := s.ScanAcceptors(5, after, 3, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			st, err := paxospb.StateFromProto(e.State)
			if err != nil || string(st.Value.Data) != string(e.Key) {
				t.Fatalf("register %q: %+v %v", e.Key, st, err)
			}
			got = append(got, string(e.Key))
			after = e.Key
		}
		if !more {
			break
		}
	}
	if fmt.Sprint(got) != "[a b c d]" {
		t.Fatalf("scanned %v, want [a b c d]", got)
	}
	if entries, more, err := s.ScanAcceptors(5, nil, 10, 1); err != nil || len(entries) != 1 || !more {
		t.Fatalf("a page of one byte: %d entries, more %v, %v; want one and more", len(entries), more, err)
	}
	if entries, _, err := s.ScanAcceptors(7, nil, 10, 1<<20); err != nil || len(entries) != 0 {
		t.Fatalf("a partition without registers: %v %v", entries, err)
	}
}

// What a node knows of its acceptor state is kept with its directory: a
// new directory is undecided (recorded with its identity), a lost state
// and each partition rebuilt since survive a restart, and a directory
// from before the mark counts as having kept its state.
func TestAcceptorMarks(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, DefaultOptions())
	if o := s.AcceptorOrigin(); o != membership.AcceptorsUndecided {
		t.Fatalf("a new directory: %v, want undecided", o)
	}
	if err := s.AcceptorsVoting(3); !errors.Is(err, ErrAcceptorsUnknown) {
		t.Fatalf("an undecided node votes: %v", err)
	}
	if err := s.SetAcceptorOrigin(membership.AcceptorsLost); err != nil {
		t.Fatal(err)
	}
	if err := s.AcceptorsVoting(3); !errors.Is(err, ErrAcceptorsRebuilding) || !strings.Contains(err.Error(), "rebuilding acceptor state of partition 3") {
		t.Fatalf("a node that lost its state, before its rebuild: %v", err)
	}
	if err := s.MarkAcceptorsRebuilt(3); err != nil {
		t.Fatal(err)
	}
	if err := s.AcceptorsVoting(3); err != nil {
		t.Fatalf("partition 3 rebuilt: %v", err)
	}
	if err := s.AcceptorsVoting(4); !errors.Is(err, ErrAcceptorsRebuilding) {
		t.Fatalf("partition 4 not rebuilt: %v", err)
	}
	s.Close()
	s = openT(t, dir, DefaultOptions())
	if o := s.AcceptorOrigin(); o != membership.AcceptorsLost || !s.AcceptorsRebuilt(3) || s.AcceptorsRebuilt(4) {
		t.Fatalf("after a restart: %v, rebuilt 3 %v, 4 %v; want lost, true, false", o, s.AcceptorsRebuilt(3), s.AcceptorsRebuilt(4))
	}
	if err := s.SetAcceptorOrigin(membership.AcceptorsKept); err != nil {
		t.Fatal(err)
	}
	if err := s.AcceptorsVoting(4); err != nil {
		t.Fatalf("a kept state votes everywhere: %v", err)
	}
	deleteRaw(t, s, keyAcceptorOrigin) // as in a directory made before the mark
	s.Close()
	s = openT(t, dir, DefaultOptions())
	if o := s.AcceptorOrigin(); o != membership.AcceptorsKept {
		t.Fatalf("a directory without the mark: %v, want kept", o)
	}
	setRaw(t, s, keyAcceptorOrigin, []byte{9})
	s.Close()
	if _, err := Open(dir, "n1", DefaultOptions()); err == nil || !strings.Contains(err.Error(), "corrupt acceptor origin") {
		t.Fatalf("a corrupt mark opened: %v", err)
	}
}

// A failed record of a lost state still takes effect: the node votes less,
// never more.
func TestAcceptorOriginLostTakesEffectEvenUnrecorded(t *testing.T) {
	_, tog, fs := faultyFS("fsync")
	opts := DefaultOptions()
	opts.FS = fs
	s, err := Open("db", "n1", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tog.On()
	if err := s.SetAcceptorOrigin(membership.AcceptorsLost); err == nil {
		t.Fatal("recorded on a failing disk")
	}
	if err := s.AcceptorsVoting(0); !errors.Is(err, ErrAcceptorsRebuilding) {
		t.Fatalf("after a failed record of a lost state: %v", err)
	}
}

func TestDropAcceptorsKeepsTheFloor(t *testing.T) {
	s := openT(t, t.TempDir(), DefaultOptions())
	if f, err := s.AcceptorFloor(3); err != nil || !f.IsZero() {
		t.Fatalf("floor of a new store: %v %v", f, err)
	}
	b := paxos.Ballot{Round: 9, Node: "n1", Incarnation: 1, Seq: 2}
	st := paxos.State{Promised: b, Accepted: b, Value: paxos.Value{Version: b}, Committed: b}
	if err := s.CommitBatch(nil, []AcceptorWrite{{Partition: 3, Key: []byte("a"), State: st}, {Partition: 3, Key: []byte("b"), State: st}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DropAcceptors(3, [][]byte{[]byte("a")}, b); err != nil {
		t.Fatal(err)
	}
	if got, err := s.AcceptorState(3, []byte("a")); err != nil || !got.Equal(paxos.State{}) {
		t.Fatalf("dropped state: %+v %v", got, err)
	}
	if got, err := s.AcceptorState(3, []byte("b")); err != nil || !got.Equal(st) {
		t.Fatalf("kept state: %+v %v", got, err)
	}
	if f, err := s.AcceptorFloor(3); err != nil || f != b {
		t.Fatalf("floor %v %v, want %v", f, err, b)
	}
	if f, _ := s.AcceptorFloor(4); !f.IsZero() {
		t.Fatalf("another partition's floor: %v", f)
	}
}

// A range scan reads one partition's registers in [lower, upper), either
// way, in pages.
func TestScanAcceptorRange(t *testing.T) {
	s := openT(t, t.TempDir(), DefaultOptions())
	var writes []AcceptorWrite
	for _, k := range []string{"a", "b1", "b2", "b3", "c"} {
		writes = append(writes, AcceptorWrite{Partition: 2, Key: []byte(k), State: acceptorState(1, k)})
	}
	writes = append(writes, AcceptorWrite{Partition: 3, Key: []byte("b4"), State: acceptorState(1, "other partition")})
	if err := s.CommitBatch(nil, writes); err != nil {
		t.Fatal(err)
	}
	keys := func(es []AcceptorEntry) (out []string) {
		for _, e := range es {
			out = append(out, string(e.Key))
		}
		return out
	}
	for _, tt := range []struct {
		name     string
		reverse  bool
		maxKeys  int
		want     []string
		wantMore bool
	}{
		{"forward, whole range", false, 10, []string{"b1", "b2", "b3"}, false},
		{"reverse, whole range", true, 10, []string{"b3", "b2", "b1"}, false},
		{"forward page", false, 2, []string{"b1", "b2"}, true},
		{"reverse page", true, 2, []string{"b3", "b2"}, true},
	} {
		got, more, err := s.ScanAcceptorRange(2, []byte("b"), []byte("c"), tt.reverse, tt.maxKeys, 1<<20)
		if err != nil || !slices.Equal(keys(got), tt.want) || more != tt.wantMore {
			t.Errorf("%s: %v more=%v %v", tt.name, keys(got), more, err)
		}
	}
	if got, _, _ := s.ScanAcceptorRange(2, []byte("b"), []byte("c"), false, 10, 1<<20); string(got[0].State.GetValue().GetData()) != "b1" {
		t.Errorf("state of b1: %v", got[0].State)
	}
}

// ScanRange pages over one range of a partition's objects, both ways,
// and never past the range or into another partition or the acceptor
// states.
func TestScanRange(t *testing.T) {
	s := openT(t, t.TempDir(), DefaultOptions())
	for _, k := range []string{"a", "b1", "b2", "b3", "c"} {
		if err := s.Put(2, []byte(k), []object.Sibling{{Value: []byte(k)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(3, []byte("b4"), []object.Sibling{{Value: []byte("other partition")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitBatch(nil, []AcceptorWrite{{Partition: 2, Key: []byte("b5"), State: acceptorState(1, "a register")}}); err != nil {
		t.Fatal(err)
	}
	keys := func(es []RawEntry) (out []string) {
		for _, e := range es {
			out = append(out, string(e.Key))
		}
		return out
	}
	for _, tt := range []struct {
		name     string
		reverse  bool
		maxKeys  int
		want     []string
		wantMore bool
	}{
		{"forward, whole range", false, 10, []string{"b1", "b2", "b3"}, false},
		{"reverse, whole range", true, 10, []string{"b3", "b2", "b1"}, false},
		{"forward page", false, 2, []string{"b1", "b2"}, true},
		{"reverse page", true, 2, []string{"b3", "b2"}, true},
	} {
		got, more, err := s.ScanRange(2, []byte("b"), []byte("c"), tt.reverse, tt.maxKeys, 1<<20)
		if err != nil || !slices.Equal(keys(got), tt.want) || more != tt.wantMore {
			t.Errorf("%s: %v more=%v %v", tt.name, keys(got), more, err)
		}
		// The packed scan reads the same page.
		page, count, pmore, err := s.ScanRangePacked(2, []byte("b"), []byte("c"), tt.reverse, tt.maxKeys, 1<<20, false)
		if err != nil || pmore != more {
			t.Fatalf("%s: packed: more=%v %v", tt.name, pmore, err)
		}
		pkeys, pvalues, err := packedpage.Entries(page, count)
		if err != nil || len(pkeys) != len(got) {
			t.Fatalf("%s: packed: %d entries, %v; want %d", tt.name, len(pkeys), err, len(got))
		}
		for i, e := range got {
			if !bytes.Equal(pkeys[i], e.Key) || !bytes.Equal(pvalues[i], e.Value) {
				t.Errorf("%s: packed entry %d is %q, want %q", tt.name, i, pkeys[i], e.Key)
			}
		}
		// The scan of versions reads the same keys, each with its object's
		// versions, and stops where the scan of objects stopped.
		page, count, dmore, err := s.ScanRangePacked(2, []byte("b"), []byte("c"), tt.reverse, tt.maxKeys, 1<<20, true)
		if err != nil || dmore != more {
			t.Fatalf("%s: versions: more=%v %v", tt.name, dmore, err)
		}
		dkeys, versions, err := packedpage.Entries(page, count)
		if err != nil || len(dkeys) != len(got) {
			t.Fatalf("%s: versions: %d entries, %v; want %d", tt.name, len(dkeys), err, len(got))
		}
		for i, e := range got {
			if v := object.AppendEncodedVersions(nil, e.Value); !bytes.Equal(dkeys[i], e.Key) || !bytes.Equal(versions[i], v) {
				t.Errorf("%s: versions entry %d is %q %x, want %q %x", tt.name, i, dkeys[i], versions[i], e.Key, v)
			}
		}
		for _, e := range got {
			// Each object was stored holding its own key as its value.
			if !strings.Contains(string(e.Value), string(e.Key)) {
				t.Errorf("%s: %s holds %q, not the object stored with it", tt.name, e.Key, e.Value)
			}
		}
	}
	// Entries share one buffer: growing one must not write over another.
	got, _, err := s.ScanRange(2, []byte("b"), []byte("c"), false, 10, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	// Whatever the byte budget, a page of versions stops where the page of
	// objects does: it counts the objects' bytes, not its own.
	total := 0
	for _, e := range got {
		total += len(e.Key) + len(e.Value)
	}
	for maxBytes := 1; maxBytes <= total+1; maxBytes++ {
		_, count, more, err := s.ScanRangePacked(2, []byte("b"), []byte("c"), false, 10, maxBytes, false)
		_, dcount, dmore, derr := s.ScanRangePacked(2, []byte("b"), []byte("c"), false, 10, maxBytes, true)
		if err != nil || derr != nil || count != dcount || more != dmore {
			t.Fatalf("maxBytes %d: objects %d more=%v %v, versions %d more=%v %v", maxBytes, count, more, err, dcount, dmore, derr)
		}
	}
	_ = append(got[0].Key, "XX"...)
	_ = append(got[0].Value, "XX"...)
	if string(got[1].Key) != "b2" || keys(got)[0] != "b1" {
		t.Fatalf("appending to the first entry changed the page: %v", keys(got))
	}
}

// EnterAcceptors with a reset drops a partition's leftover states under a
// raised floor and records the entry durably; without, it records the
// entry alone; the other marks keep it, and a mark of the old 8-byte form
// reads as an entry that was not heading.
func TestEnterAcceptorsRecordsTheEntry(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, DefaultOptions())
	old := acceptorState(5, "left over")
	if err := s.CommitBatch(nil, []AcceptorWrite{{Partition: 3, Key: []byte("k"), State: old}, {Partition: 4, Key: []byte("k"), State: old}}); err != nil {
		t.Fatal(err)
	}
	if got := s.AcceptorsEntered(3); got != (ring.Entry{}) {
		t.Fatalf("entered %+v before any entry", got)
	}
	reset := ring.Entry{Transition: 0xfeed, Heading: true, Next: 0xbeef}
	floor, err := s.EnterAcceptors(3, reset, true)
	if err != nil {
		t.Fatal(err)
	}
	if !old.Promised.Less(floor) {
		t.Fatalf("floor %v is not above the dropped promise %v", floor, old.Promised)
	}
	if st, err := s.AcceptorState(3, []byte("k")); err != nil || !st.Equal(paxos.State{}) {
		t.Fatalf("the reset partition still holds %+v (%v)", st, err)
	}
	kept := ring.Entry{Transition: 0xcafe}
	if _, err := s.EnterAcceptors(4, kept, false); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.AcceptorState(4, []byte("k")); !st.Equal(old) {
		t.Fatalf("a partition entered without a reset lost its state: %+v", st)
	}
	if err := s.MarkAcceptorsRebuilt(5); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAcceptorOrigin(membership.AcceptorsKept); err != nil {
		t.Fatal(err)
	}
	if got := s.AcceptorsEntered(3); got != reset {
		t.Fatalf("entered %+v after other marks, want %+v", got, reset)
	}
	if err := s.db.Set(acceptorsEnteredKey(6), binary.BigEndian.AppendUint64(nil, 0xabc), nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openT(t, dir, DefaultOptions())
	if got, f := s.AcceptorsEntered(3), mustFloor(t, s, 3); got != reset || f != floor {
		t.Fatalf("after reopening: entered %+v, floor %v; want %+v, %v", got, f, reset, floor)
	}
	if got := s.AcceptorsEntered(4); got != kept {
		t.Fatalf("partition 4 entered %+v, want %+v", got, kept)
	}
	if got := s.AcceptorsEntered(6); got != (ring.Entry{Transition: 0xabc}) {
		t.Fatalf("an 8-byte mark reads %+v", got)
	}
}

func mustFloor(t *testing.T, s *Store, p int) paxos.Ballot {
	t.Helper()
	f, err := s.AcceptorFloor(p)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
