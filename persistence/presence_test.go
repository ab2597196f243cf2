package persistence

import (
	"fmt"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/paxos"
)

// The presence filters answer reads of keys never written without pebble,
// and never hide a key that is stored: not after writes, not after a
// reopen (the filters are rebuilt from disk), not for acceptor states.
func TestPresenceFiltersNeverHideAStoredKey(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, DefaultOptions())
	st := paxos.State{Promised: paxos.Ballot{Round: 7, Node: "n1", Incarnation: 1, Seq: 1}}
	var writes []Write
	var accs []AcceptorWrite
	for i := 0; i < 200; i++ {
		writes = append(writes, Write{Partition: i % 4, Key: []byte(fmt.Sprintf("k%d", i)), Siblings: sibs(i)})
		accs = append(accs, AcceptorWrite{Partition: i % 4, Key: []byte(fmt.Sprintf("r%d", i)), State: st})
	}
	if err := s.CommitBatch(writes, accs); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store, when string) {
		t.Helper()
		for i := 0; i < 200; i++ {
			set, err := s.Get(i%4, []byte(fmt.Sprintf("k%d", i)))
			if err != nil || len(set) != 1 {
				t.Fatalf("%s: object k%d reads %v (%v)", when, i, set, err)
			}
			got, err := s.AcceptorState(i%4, []byte(fmt.Sprintf("r%d", i)))
			if err != nil || got.Promised != st.Promised {
				t.Fatalf("%s: acceptor state r%d reads %+v (%v)", when, i, got, err)
			}
			// The same key in another partition was never written.
			if set, err := s.Get((i+1)%4, []byte(fmt.Sprintf("k%d", i))); err != nil || set != nil {
				t.Fatalf("%s: k%d read in a partition it was not written to: %v (%v)", when, i, set, err)
			}
		}
		before := s.PresenceStats().ReadsSkipped
		for i := 0; i < 100; i++ {
			if set, err := s.Get(0, []byte(fmt.Sprintf("never-%d", i))); err != nil || set != nil {
				t.Fatalf("%s: a key never written reads %v (%v)", when, set, err)
			}
		}
		if skipped := s.PresenceStats().ReadsSkipped - before; skipped < 90 {
			t.Fatalf("%s: the filters answered %d of 100 reads of keys never written, want nearly all", when, skipped)
		}
		if s.PresenceStats().FilterBytes == 0 {
			t.Fatalf("%s: no filter memory is reported", when)
		}
	}
	check(s, "after the writes")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(openT(t, dir, DefaultOptions()), "after a reopen")

	off := DefaultOptions()
	off.PresenceFilters = false
	s = openT(t, t.TempDir(), off)
	if _, err := s.Get(0, []byte("never")); err != nil {
		t.Fatal(err)
	}
	if got := s.PresenceStats(); got != (PresenceStats{}) {
		t.Fatalf("without filters the store reports %+v", got)
	}
}

func sibs(i int) []object.Sibling { return []object.Sibling{sib("n1", uint64(i+1), fmt.Sprint(i))} }
