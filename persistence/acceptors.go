package persistence

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"

	"github.com/cockroachdb/pebble/v2"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/packedpage"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxospb"
	"github.com/harmoniakv/harmonia/cluster/ring"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/proto"
)

// Acceptor state of strong keys: p/<partition>/<key>, one paxos.State per
// register (protobuf PaxosState).
//
// It lives outside d/ on purpose: the eventual path's scans (Merkle trees,
// bucket reads), reaping and DropPartition work on d/<partition>/ only, so
// they neither see nor destroy it. Dropping acceptor state has its own
// rules: a register's, once every replica holds its erased value
// (DropAcceptors, paxos's gc.go); a whole partition's, once the node is no
// longer its replica and the ring is stable (DropPartitionAcceptors), so
// that the node, should it become a replica again, starts from what a
// transfer gives it rather than from stale leftovers.

func acceptorKey(partition int, key []byte) []byte { return partitionKey('p', partition, key) }

// AcceptorWrite replaces one register's acceptor state in a CommitBatch.
type AcceptorWrite struct {
	Partition int
	Key       []byte
	State     paxos.State
}

// AcceptorState returns the acceptor state of register key in partition;
// the zero State (nothing promised or accepted) when there is none.
func (s *Store) AcceptorState(partition int, key []byte) (paxos.State, error) {
	if err := s.readable(); err != nil {
		return paxos.State{}, fmt.Errorf("get acceptor state %q: %w", key, err)
	}
	if !s.mayHold('p', partition, key) {
		return paxos.State{}, nil
	}
	v, closer, err := s.db.Get(acceptorKey(partition, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return paxos.State{}, nil
	}
	if err != nil {
		return paxos.State{}, fmt.Errorf("get acceptor state %q: %w", key, err)
	}
	defer closer.Close()
	var pb internalpb.PaxosState
	if err := proto.Unmarshal(v, &pb); err != nil {
		return paxos.State{}, fmt.Errorf("get acceptor state %q: %w", key, err)
	}
	st, err := paxospb.StateFromProto(&pb)
	if err != nil {
		return paxos.State{}, fmt.Errorf("get acceptor state %q: %w", key, err)
	}
	return st, nil
}

// AcceptorEntry is one register's stored acceptor state, as the protobuf
// PaxosState it is stored as (a transfer sends it on as it is).
type AcceptorEntry struct {
	Key   []byte
	State *internalpb.PaxosState
}

// ScanAcceptors returns up to maxKeys acceptor states of partition (and
// about maxBytes at most, but at least one) with register keys after
// after, in key order; more reports whether registers remain. A state that
// does not decode is an error: a transfer must not skip a register.
func (s *Store) ScanAcceptors(partition int, after []byte, maxKeys, maxBytes int) (entries []AcceptorEntry, more bool, err error) {
	raw, more, err := s.scanPrefix('p', partition, after, maxKeys, maxBytes)
	if err != nil {
		return nil, false, fmt.Errorf("scan acceptor states of partition %d: %w", partition, err)
	}
	entries = make([]AcceptorEntry, len(raw))
	for i, e := range raw {
		var pb internalpb.PaxosState
		if err := proto.Unmarshal(e.Value, &pb); err != nil {
			return nil, false, fmt.Errorf("scan acceptor states of partition %d: register %q: %w", partition, e.Key, err)
		}
		entries[i] = AcceptorEntry{Key: e.Key, State: &pb}
	}
	return entries, more, nil
}

// What a node knows of its own acceptor state (membership.AcceptorOrigin):
// m/acceptors holds the origin (absent: kept, as in a directory made before
// the mark existed), m/acceptors-rebuilt/<partition> marks each partition
// whose acceptor state a node that lost it has rebuilt from its peers, and
// m/acceptors-entered/<partition> holds the node's ring.Entry of the
// transition in which it last took a step for the partition
// (EnterAcceptors): its fingerprint (8 bytes), then, since 2026-12-07,
// whether the node headed for the partition there (1 byte) and the next
// ring's fingerprint (8 bytes). A mark of 8 bytes reads as not heading.
var (
	keyAcceptorOrigin      = []byte("m/acceptors")
	acceptorsRebuiltPrefix = []byte("m/acceptors-rebuilt/")
	acceptorsEnteredPrefix = []byte("m/acceptors-entered/")
)

func acceptorsRebuiltKey(partition int) []byte {
	return binary.BigEndian.AppendUint32(bytes.Clone(acceptorsRebuiltPrefix), uint32(partition))
}

func acceptorsEnteredKey(partition int) []byte {
	return binary.BigEndian.AppendUint32(bytes.Clone(acceptorsEnteredPrefix), uint32(partition))
}

// acceptorMarks is a snapshot of the marks; never modified once shared.
type acceptorMarks struct {
	origin  membership.AcceptorOrigin
	rebuilt map[int]bool
	entered map[int]ring.Entry // by partition
}

// ErrAcceptorsUnknown: the node does not know yet whether it lost
// promises (AcceptorsUndecided); ErrAcceptorsRebuilding: it did, and the
// partition is not rebuilt yet.
var (
	ErrAcceptorsUnknown    = errors.New("a new data directory whose node does not know yet whether it was a member")
	ErrAcceptorsRebuilding = errors.New("rebuilding acceptor state")
)

func (s *Store) loadAcceptorMarks() error {
	m := &acceptorMarks{rebuilt: map[int]bool{}, entered: map[int]ring.Entry{}}
	v, closer, err := s.db.Get(keyAcceptorOrigin)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return fmt.Errorf("read acceptor origin: %w", err)
	default:
		if len(v) != 1 || membership.AcceptorOrigin(v[0]) > membership.AcceptorsLost {
			closer.Close()
			return fmt.Errorf("corrupt acceptor origin %x", v)
		}
		m.origin = membership.AcceptorOrigin(v[0])
		closer.Close()
	}
	err = s.scanPartitionMarks("rebuilt", acceptorsRebuiltPrefix, -1, func(p int, _ []byte) { m.rebuilt[p] = true })
	if err != nil {
		return err
	}
	var corrupt []byte
	err = s.scanPartitionMarks("entered", acceptorsEnteredPrefix, -1, func(p int, v []byte) {
		e, ok := decodeEntered(v)
		if !ok {
			corrupt = bytes.Clone(v)
		}
		m.entered[p] = e
	})
	if err != nil {
		return err
	}
	if corrupt != nil {
		return fmt.Errorf("corrupt entered-partition mark %x", corrupt)
	}
	s.marks.Store(m)
	return nil
}

// scanPartitionMarks calls mark for each partition mark under prefix (the
// partition in 4 bytes after it), whose value must be valueLen bytes (-1:
// any).
func (s *Store) scanPartitionMarks(what string, prefix []byte, valueLen int, mark func(partition int, value []byte)) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return fmt.Errorf("read %s partitions: %w", what, err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k, v := it.Key()[len(prefix):], it.Value()
		if len(k) != 4 || (valueLen >= 0 && len(v) != valueLen) {
			return fmt.Errorf("corrupt %s-partition mark %q = %x", what, it.Key(), v)
		}
		mark(int(binary.BigEndian.Uint32(k)), v)
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("read %s partitions: %w", what, err)
	}
	return nil
}

// enteredLen is the length of an entered mark: the transition's
// fingerprint, heading, the next ring's fingerprint.
const enteredLen = 8 + 1 + 8

func encodeEntered(e ring.Entry) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, enteredLen), e.Transition)
	if e.Heading {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	return binary.BigEndian.AppendUint64(b, e.Next)
}

// decodeEntered reads a mark of either length (an 8-byte one from before
// the entry kept more reads as not heading).
func decodeEntered(v []byte) (ring.Entry, bool) {
	switch {
	case len(v) == 8:
		return ring.Entry{Transition: binary.BigEndian.Uint64(v)}, true
	case len(v) == enteredLen && v[8] <= 1:
		return ring.Entry{Transition: binary.BigEndian.Uint64(v), Heading: v[8] == 1, Next: binary.BigEndian.Uint64(v[9:])}, true
	}
	return ring.Entry{}, false
}

// AcceptorsEntered is this node's entry of the ring transition in which
// it last took a step for partition (EnterAcceptors); zero if none.
func (s *Store) AcceptorsEntered(partition int) ring.Entry { return s.marks.Load().entered[partition] }

// EnterAcceptors records, durably, the node's entry of partition in a ring
// transition (AcceptorsEntered), before its first step there; with reset
// it first drops every acceptor state of the partition under a raised
// floor (DropPartitionAcceptors, whose floor it returns), as a new voter
// does whose state is left over from an earlier time it was a replica
// (ring.Transition.ResetOnEntry): a register the voters since erased and
// dropped would come back from it, since the transfer that makes the
// node a voter carries only the registers the voters still hold. The mark
// keeps a restart from dropping again what the node accepted in the
// transition since; a crash between the drop and the mark drops again,
// before any step: nothing is lost.
func (s *Store) EnterAcceptors(partition int, e ring.Entry, reset bool) (floor paxos.Ballot, err error) {
	if reset {
		if floor, err = s.DropPartitionAcceptors(partition); err != nil {
			return floor, err
		}
	}
	s.marksMu.Lock()
	defer s.marksMu.Unlock()
	// A few bytes of the reserve, as a tombstone: a node whose disk is
	// full still answers reads in a new transition.
	err = s.commit(func() string {
		return fmt.Sprintf("mark partition %d entered in transition %016x", partition, e.Transition)
	}, true, func(db *pebble.DB) error {
		return db.Set(acceptorsEnteredKey(partition), encodeEntered(e), pebble.Sync)
	})
	if err != nil {
		return floor, err
	}
	old := s.marks.Load()
	next := &acceptorMarks{origin: old.origin, rebuilt: old.rebuilt, entered: maps.Clone(old.entered)}
	next.entered[partition] = e
	s.marks.Store(next)
	return floor, nil
}

// AcceptorOrigin is what this node knows of its acceptor state.
func (s *Store) AcceptorOrigin() membership.AcceptorOrigin { return s.marks.Load().origin }

// SetAcceptorOrigin records o, durably. Lost takes effect at once, even if
// it could not be recorded (the node then votes less, never more); any
// other origin only once recorded.
func (s *Store) SetAcceptorOrigin(o membership.AcceptorOrigin) error {
	s.marksMu.Lock()
	defer s.marksMu.Unlock()
	old := s.marks.Load()
	if old.origin == o {
		return nil
	}
	next := &acceptorMarks{origin: o, rebuilt: old.rebuilt, entered: old.entered}
	if o == membership.AcceptorsLost {
		s.marks.Store(next)
	}
	err := s.commit(func() string { return "record acceptor origin " + o.String() }, false, func(db *pebble.DB) error {
		return db.Set(keyAcceptorOrigin, []byte{byte(o)}, pebble.Sync)
	})
	if err != nil {
		return err
	}
	s.marks.Store(next)
	return nil
}

// AcceptorsRebuilt reports whether partition's acceptor state was rebuilt
// from peers (MarkAcceptorsRebuilt).
func (s *Store) AcceptorsRebuilt(partition int) bool { return s.marks.Load().rebuilt[partition] }

// MarkAcceptorsRebuilt records, durably, that partition's acceptor state
// was rebuilt from peers; it takes effect once recorded, so a restart
// neither rebuilds it again nor forgets it was rebuilt.
func (s *Store) MarkAcceptorsRebuilt(partition int) error {
	s.marksMu.Lock()
	defer s.marksMu.Unlock()
	old := s.marks.Load()
	if old.rebuilt[partition] {
		return nil
	}
	err := s.commit(func() string { return fmt.Sprintf("mark the acceptor state of partition %d rebuilt", partition) }, false, func(db *pebble.DB) error {
		return db.Set(acceptorsRebuiltKey(partition), nil, pebble.Sync)
	})
	if err != nil {
		return err
	}
	next := &acceptorMarks{origin: old.origin, rebuilt: maps.Clone(old.rebuilt), entered: old.entered}
	next.rebuilt[partition] = true
	s.marks.Store(next)
	return nil
}

// AcceptorsVoting says whether this node may vote on partition's strong
// keys: nil, or why not (ErrAcceptorsUnknown, ErrAcceptorsRebuilding).
func (s *Store) AcceptorsVoting(partition int) error {
	m := s.marks.Load()
	switch {
	case m.origin == membership.AcceptorsUndecided:
		return ErrAcceptorsUnknown
	case m.origin == membership.AcceptorsLost && !m.rebuilt[partition]:
		return fmt.Errorf("%w of partition %d", ErrAcceptorsRebuilding, partition)
	}
	return nil
}

// ScanAcceptorRange returns up to maxKeys acceptor states of partition
// (and about maxBytes at most, but at least one) whose register keys lie
// in [lower, upper), in key order, or in reverse order when reverse is
// set; more reports whether registers of the range remain past the last
// one returned. It is one bounded iterator: a Query's page.
func (s *Store) ScanAcceptorRange(partition int, lower, upper []byte, reverse bool, maxKeys, maxBytes int) (entries []AcceptorEntry, more bool, err error) {
	raw, more, err := s.scanRange('p', partition, lower, upper, reverse, maxKeys, maxBytes)
	if err != nil {
		return nil, false, fmt.Errorf("scan acceptor states of partition %d: %w", partition, err)
	}
	for _, e := range raw {
		var pb internalpb.PaxosState
		if err := proto.Unmarshal(e.Value, &pb); err != nil {
			return nil, false, fmt.Errorf("scan acceptor states of partition %d: register %q: %w", partition, e.Key, err)
		}
		entries = append(entries, AcceptorEntry{Key: e.Key, State: &pb})
	}
	return entries, more, nil
}

// ScanRange returns up to maxKeys objects of partition (and about maxBytes
// at most, but at least one) whose keys lie in [lower, upper), in key
// order, or in reverse order when reverse is set; more reports whether
// keys of the range remain past the last one returned: a replica's page
// of a Query of an eventual table.
func (s *Store) ScanRange(partition int, lower, upper []byte, reverse bool, maxKeys, maxBytes int) (entries []RawEntry, more bool, err error) {
	entries, more, err = s.scanRange('d', partition, lower, upper, reverse, maxKeys, maxBytes)
	if err != nil {
		err = fmt.Errorf("scan a range of partition %d: %w", partition, err)
	}
	return entries, more, err
}

// ScanRangePacked is ScanRange with the page packed as it is read
// (cluster/packedpage): one buffer a replica answers with as it is. With
// versions, each object's versions (object.AppendEncodedVersions) are
// packed in its place; the page still stops where the page of objects
// would (maxBytes counts the objects), so replicas that hold the same
// objects answer the same keys.
func (s *Store) ScanRangePacked(partition int, lower, upper []byte, reverse bool, maxKeys, maxBytes int, versions bool) (page []byte, count int, more bool, err error) {
	var scratch []byte // one object's versions, reused
	more, err = s.visitRange('d', partition, lower, upper, reverse, maxKeys, maxBytes, func(key, value []byte) {
		if versions {
			scratch = object.AppendEncodedVersions(scratch[:0], value)
			value = scratch
		}
		if page == nil {
			page = make([]byte, 0, scanBufferSize(packedpage.Size(key, value), maxKeys, maxBytes))
		}
		page = packedpage.Append(page, key, value)
		count++
	})
	if err != nil {
		return nil, 0, false, fmt.Errorf("scan a range of partition %d: %w", partition, err)
	}
	return page, count, more, nil
}

// scanBufferEntries is how many entries like its first a range scan's
// buffer is first sized for.
const scanBufferEntries = 128

// scanBufferSlack is the share of its size a range scan's buffer adds
// for entries longer than its first (1/scanBufferSlack): a buffer a few
// bytes short grows to twice its size, copying all of it.
const scanBufferSlack = 4

// scanBufferSize is what a range scan's buffer is first sized for, given
// its first entry's size: the page that entry suggests, so that the
// buffer rarely grows, bounded so that a read asking for many keys of a
// short range allocates little.
func scanBufferSize(first, maxKeys, maxBytes int) int {
	n := first * min(maxKeys, scanBufferEntries)
	return max(first, min(maxBytes, n+n/scanBufferSlack))
}

// scanRange is one bounded iterator over [lower, upper) of partition under
// prefix (d: objects, p: acceptor states), as ScanRange describes.
func (s *Store) scanRange(prefix byte, partition int, lower, upper []byte, reverse bool, maxKeys, maxBytes int) (entries []RawEntry, more bool, err error) {
	// Every key and value is copied into one buffer, and the entries cut
	// from it at the end: two allocations per entry were most of a page's
	// garbage. ends holds where each key and each value ends in buf.
	var buf []byte
	var ends []int
	more, err = s.visitRange(prefix, partition, lower, upper, reverse, maxKeys, maxBytes, func(key, value []byte) {
		if buf == nil {
			buf = make([]byte, 0, scanBufferSize(len(key)+len(value), maxKeys, maxBytes))
		}
		buf = append(buf, key...)
		ends = append(ends, len(buf))
		buf = append(buf, value...)
		ends = append(ends, len(buf))
	})
	if err != nil {
		return nil, false, err
	}
	entries = make([]RawEntry, len(ends)/2)
	from := 0
	for i := range entries {
		k, v := ends[2*i], ends[2*i+1]
		// Capacities end at each slice's own end: appending to one entry
		// must never write over the next.
		entries[i] = RawEntry{Key: buf[from:k:k], Value: buf[k:v:v]}
		from = v
	}
	return entries, more, nil
}

// visitRange is one bounded iterator over [lower, upper) of partition
// under prefix: it calls visit with each key (within the partition) and
// value, which are valid only during the call, up to maxKeys of them and
// about maxBytes (at least one), and reports whether keys remain.
func (s *Store) visitRange(prefix byte, partition int, lower, upper []byte, reverse bool, maxKeys, maxBytes int, visit func(key, value []byte)) (more bool, err error) {
	if err := s.readable(); err != nil {
		return false, err
	}
	start := partitionKey(prefix, partition, nil)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: partitionKey(prefix, partition, lower), UpperBound: partitionKey(prefix, partition, upper)})
	if err != nil {
		return false, err
	}
	defer it.Close()
	first, next := it.First, it.Next
	if reverse {
		first, next = it.Last, it.Prev
	}
	n, size := 0, 0
	for ok := first(); ok; ok = next() {
		if n >= maxKeys || (n > 0 && size+len(it.Value()) > maxBytes) {
			more = true
			break
		}
		visit(it.Key()[len(start):], it.Value())
		n++
		size += len(it.Key()) + len(it.Value())
	}
	if err := it.Error(); err != nil {
		return false, err
	}
	return more, nil
}
