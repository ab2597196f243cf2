package persistence

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/proto"
)

// openFuzzStore opens one store for a fuzz target; each input writes the
// raw record it reads back and leaves the store as it found it.
func openFuzzStore(f *testing.F) *Store {
	opts := DefaultOptions()
	opts.Sync = false
	s, err := Open(f.TempDir(), "n1", opts)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	return s
}

// setRaw stores bytes behind the store's back, as if they had been on
// disk when it opened (so the presence filters know the key, as Open's
// scan would).
func setRaw(t *testing.T, s *Store, key, value []byte) {
	t.Helper()
	if space, k, ok := recordSpace(key); ok {
		s.willHold(space.Prefix, space.Partition, k)
	}
	if err := s.db.Set(key, value, pebble.NoSync); err != nil {
		t.Fatal(err)
	}
}

func deleteRaw(t *testing.T, s *Store, key []byte) {
	t.Helper()
	if err := s.db.Delete(key, pebble.NoSync); err != nil {
		t.Fatal(err)
	}
}

// Kinds of record FuzzMetaRecords writes.
const (
	recordCursor = iota
	recordMembers
	recordRing
	recordIdentity
	recordCounter
	recordObject
	recordKinds
)

// FuzzMetaRecords covers the node's records read back from disk (meta.go
// and store.go): a handoff cursor, the saved membership, the ring
// parameters, the identity, the counter lease, and a stored object. kind
// picks the record, b is its bytes. Whatever they are, nothing panics; a
// record that is taken saves and reads back the same; the ring parameters
// and identity are taken only when they are exactly this node's; and a
// counter taken from the lease is never issued again.
func FuzzMetaRecords(f *testing.F) {
	s := openFuzzStore(f)
	identity, _, err := s.db.Get(keyIdentity)
	if err != nil {
		f.Fatal(err)
	}
	identity = bytes.Clone(identity)
	id := s.id
	ring := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 8), 3)
	cursor, _ := proto.Marshal(&internalpb.HandoffCursor{Transition: "current=n1 next=n1,n2", Keys: 10, Batches: 2, From: "n1",
		Passes: []*internalpb.TransferPass{{Source: "n1", AfterKey: []byte("k9"), Keys: 10, Batches: 2, Done: true}}})
	members, _ := proto.Marshal(&internalpb.MembershipSnapshot{States: []*internalpb.NodeState{{Id: "n2", Generation: 5, Heartbeat: 9,
		App: []*internalpb.AppEntry{{Key: "cluster_addr", Value: "127.0.0.1:7002", Version: 3}, {Key: "status", Value: "normal", Version: 4}}}}})
	obj, _ := object.Encode([]object.Sibling{sib("n1", 3, "v")})
	for kind, b := range map[int][]byte{recordCursor: cursor, recordMembers: members, recordRing: ring, recordIdentity: identity,
		recordCounter: binary.BigEndian.AppendUint64(nil, 1<<20), recordObject: obj} {
		f.Add(byte(kind), b)
		f.Add(byte(kind), []byte{})
		f.Add(byte(kind), append(bytes.Clone(b[:len(b)/2]), 0xff, 0xff))
	}
	f.Add(byte(recordCounter), binary.BigEndian.AppendUint64(nil, math.MaxUint64)) // the last counter
	f.Fuzz(func(t *testing.T, kind byte, b []byte) {
		switch kind % recordKinds {
		case recordCursor:
			const p = 5
			setRaw(t, s, handoffKey(p), b)
			defer deleteRaw(t, s, handoffKey(p))
			c, err := s.HandoffCursor(p)
			if err != nil {
				return
			}
			if c == nil {
				t.Fatalf("stored cursor %x read as none", b)
			}
			if err := s.SaveHandoffCursor(p, c); err != nil {
				t.Fatalf("cursor read from %x does not save: %v", b, err)
			}
			if again, err := s.HandoffCursor(p); err != nil || !proto.Equal(again, c) {
				t.Fatalf("cursor %v saved reads back as %v (%v)", c, again, err)
			}
		case recordMembers:
			setRaw(t, s, keyMembers, b)
			defer deleteRaw(t, s, keyMembers)
			snap, err := s.Members()
			if err != nil {
				return
			}
			if snap == nil {
				t.Fatalf("stored members %x read as none", b)
			}
			if err := s.SaveMembers(snap); err != nil {
				t.Fatalf("members read from %x do not save: %v", b, err)
			}
			if again, err := s.Members(); err != nil || !proto.Equal(again, snap) {
				t.Fatalf("members %v saved read back as %v (%v)", snap, again, err)
			}
		case recordRing:
			setRaw(t, s, keyRing, b)
			defer deleteRaw(t, s, keyRing)
			if err := s.BindRing(8, 3); (err == nil) != bytes.Equal(b, ring) {
				t.Fatalf("ring record %x for --partitions 8 --n 3: %v", b, err)
			}
		case recordIdentity:
			setRaw(t, s, keyIdentity, b)
			defer func() {
				setRaw(t, s, keyIdentity, identity)
				s.id = id
			}()
			err := s.loadIdentity(id.NodeID)
			if ok := len(b) >= 8 && string(b[8:]) == id.NodeID; ok != (err == nil) {
				t.Fatalf("identity record %x for node %s: %v", b, id.NodeID, err)
			}
			if err == nil && (s.id.NodeID != id.NodeID || s.id.Incarnation != binary.BigEndian.Uint64(b)) {
				t.Fatalf("identity record %x read as %+v", b, s.id)
			}
		case recordCounter:
			setRaw(t, s, keyCounter, b)
			s.counter, s.leaseLimit = 0, 0
			defer deleteRaw(t, s, keyCounter)
			err := s.loadCounter()
			if (err == nil) != (len(b) == 8) {
				t.Fatalf("counter lease %x: %v", b, err)
			}
			if err != nil {
				return
			}
			// Counters up to the lease may have been issued before a
			// crash: the next one is past it, or none.
			lease := binary.BigEndian.Uint64(b)
			for range 2 {
				n, err := s.NextCounter()
				if err != nil {
					break
				}
				if n <= lease {
					t.Fatalf("after a lease up to %d, issued counter %d", lease, n)
				}
				lease = n
			}
		case recordObject:
			const p = 1
			key := []byte("k")
			setRaw(t, s, dataKey(p, key), b)
			defer func() {
				if err := s.DropPartition(p); err != nil {
					t.Fatal(err)
				}
			}()
			enc, err := s.GetEncoded(p, key)
			if err != nil || !bytes.Equal(enc, b) {
				t.Fatalf("stored bytes %x read back as %x (%v)", b, enc, err)
			}
			set, err := s.Get(p, key)
			if err != nil {
				return
			}
			if err := s.Put(p, []byte("k2"), set); err != nil {
				t.Fatalf("object read from %x does not store: %v", b, err)
			}
			if again, err := s.Get(p, []byte("k2")); err != nil || !object.SameVersions(again, set) {
				t.Fatalf("object %v stored reads back as %v (%v)", set, again, err)
			}
		}
	})
}

// hintKey is a hint's key by the layout h/<target>/<seq:8 bytes BE>.
func hintKey(target string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte("h/"+target+"/"), seq)
}

// FuzzHintRecords covers stored hints read back (hints.go): the keys
// h/<target>/<seq> that opening the store counts, and the records replay
// reads. Two hints for targets a and b are stored with value as their
// bytes, and raw (when set) under h/raw as a record of no known writer.
// Whatever they are, nothing panics; every key of the layout is counted
// for its target; a new hint's sequence is past every stored one; and the
// hints read for a target are exactly those stored for it, in order of
// sequence, or an error when their bytes do not decode.
func FuzzHintRecords(f *testing.F) {
	s := openFuzzStore(f)
	hint, _ := proto.Marshal(&internalpb.Hint{Partition: 3, Key: []byte("k"), Object: object.ToProto([]object.Sibling{sib("n1", 1, "v")}),
		CreatedAt: time.Now().Add(time.Hour).UnixNano()})
	old, _ := proto.Marshal(&internalpb.Hint{Partition: 3, Key: []byte("k"), CreatedAt: 1})
	f.Add("n2", "n3", uint64(1), uint64(2), []byte(nil), hint)
	f.Add("n2", "n2", uint64(7), uint64(3), []byte("n3/\x00\x00\x00\x00\x00\x00\x00\x09"), hint)
	f.Add("node-1", "n3", uint64(1), uint64(1), []byte("x"), old)
	f.Add("n2", "n3", uint64(1), uint64(2), []byte(nil), []byte{0xff, 0x01})
	// Targets are ids peers name (ReplicaPut.hint_for): one may nest in
	// another, and a record of no writer may sit inside a target's range.
	f.Add("n2", "n2/3", uint64(1), uint64(2), []byte(nil), hint)
	f.Add("n2/bc", "n3", uint64(1), uint64(2), []byte("n2/bc/\x00\x00\x00\x00\x01"), hint)
	inputs := 0
	f.Fuzz(func(t *testing.T, a, b string, seqA, seqB uint64, raw, value []byte) {
		defer func() {
			if err := s.db.DeleteRange([]byte("h/"), []byte("h0"), pebble.NoSync); err != nil {
				t.Fatal(err)
			}
			s.hints, s.hintSeq = map[string]*HintStats{}, 0
			// Deleted hints leave tombstones that every later scan of h/
			// steps over; compacting drops them, or inputs slow down.
			if inputs++; inputs%256 == 0 {
				if err := s.db.Compact(context.Background(), []byte("h/"), []byte("h0"), false); err != nil {
					t.Fatal(err)
				}
			}
		}()
		setRaw(t, s, hintKey(a, seqA), value)
		setRaw(t, s, hintKey(b, seqB), value)
		if len(raw) > 0 {
			setRaw(t, s, append([]byte("h/"), raw...), value)
		}
		// What the layout says the keys hold: the sequence is the last 8
		// bytes, the target what lies between h/ and the / before them.
		want := map[string][]uint64{}
		var maxSeq uint64
		laidOut := true
		for _, k := range slices.Compact(slices.Sorted(slices.Values([]string{string(hintKey(a, seqA)), string(hintKey(b, seqB)), "h/" + string(raw)}))) {
			if k == "h/" {
				continue
			}
			if len(k) < 12 || k[len(k)-9] != '/' {
				laidOut = false
				continue
			}
			seq := binary.BigEndian.Uint64([]byte(k[len(k)-8:]))
			want[k[2:len(k)-9]] = append(want[k[2:len(k)-9]], seq)
			maxSeq = max(maxSeq, seq)
		}
		if err := s.loadHintStats(); err != nil {
			if laidOut {
				t.Fatalf("keys of the layout refused: %v", err)
			}
			return
		}
		if !laidOut {
			t.Fatal("a key outside the layout was counted")
		}
		if s.hintSeq < maxSeq {
			t.Fatalf("next hint sequence %d, a stored one is %d", s.hintSeq+1, maxSeq)
		}
		var h internalpb.Hint
		decodes := proto.Unmarshal(value, &h) == nil
		stats := s.HintStats()
		for target, seqs := range want {
			slices.Sort(seqs)
			if st := stats[target]; st.Count != int64(len(seqs)) || st.Bytes != int64(len(seqs)*len(value)) {
				t.Fatalf("target %q: counted %+v for %d hints of %d bytes", target, st, len(seqs), len(value))
			}
			oldest, ok := s.OldestHint(target)
			if ok != decodes || (ok && oldest.UnixNano() != h.CreatedAt) {
				t.Fatalf("target %q: oldest hint %v (%v), record decodes: %v", target, oldest, ok, decodes)
			}
			recs, err := s.Hints(target, math.MaxInt)
			if err != nil {
				t.Fatalf("target %q: hints not read: %v", target, err)
			}
			if !decodes {
				// They can never be replayed: dropped, so that they hold up
				// nothing behind them.
				if st := s.HintStats()[target]; len(recs) != 0 || st.Dropped != int64(len(seqs)) || st.Count != 0 || st.Bytes != 0 {
					t.Fatalf("target %q: %d hints that do not decode read %d, stats %+v", target, len(seqs), len(recs), st)
				}
				continue
			}
			if h.CreatedAt < time.Now().Add(-s.opts.MaxHintAge).UnixNano() {
				if len(recs) != 0 || s.HintStats()[target].Dropped != int64(len(seqs)) || s.HintStats()[target].Count != 0 {
					t.Fatalf("target %q: expired hints read %d, stats %+v", target, len(recs), s.HintStats()[target])
				}
				continue
			}
			got := make([]uint64, len(recs))
			for i, r := range recs {
				got[i] = r.Seq
				if !proto.Equal(r.Hint, &h) {
					t.Fatalf("target %q: hint %d reads as %v", target, r.Seq, r.Hint)
				}
			}
			if !slices.Equal(got, seqs) {
				t.Fatalf("target %q: read hints %v, stored %v", target, got, seqs)
			}
			for _, r := range recs {
				if err := s.DeleteHint(target, r.Seq); err != nil {
					t.Fatal(err)
				}
			}
			if st := s.HintStats()[target]; st.Count != 0 || st.Bytes != 0 {
				t.Fatalf("target %q: after deleting every hint, stats %+v", target, st)
			}
		}
	})
}
