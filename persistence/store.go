// Package persistence owns a node's durable state: one pebble database per
// node holding the replicas' objects, the node's identity and incarnation,
// the counter lease that makes write dots unique, and the membership it last
// knew.
//
// Layout (see docs/architecture.md):
//
//	d/<partition:4 bytes BE>/<key>   object: siblings (protobuf)
//	m/identity                       node id and incarnation
//	m/counter                        end of the current counter lease
//	m/members                        last known membership (protobuf)
//	m/ring                           partitions and replicas (2 × 4 bytes BE)
//	x/<partition:4 bytes BE>         progress of an incoming handoff (protobuf)
//	h/<target node>/<seq:8 bytes BE> hinted write for another node (protobuf)
package persistence

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/proto"
)

// Limits on what a client may store.
const (
	DefaultMaxKeySize   = 1 << 10 // 1 KiB
	DefaultMaxValueSize = 1 << 20 // 1 MiB
	// DefaultCounterLease is how many write counters one durable lease
	// record covers; a restart skips what is left of the lease.
	DefaultCounterLease = 1 << 16
)

// Options configures a Store. The zero value is not valid; start from
// DefaultOptions.
type Options struct {
	// Sync makes every write batch durable (fsync of the WAL) before it is
	// acknowledged. Concurrent writers share one fsync through pebble's
	// commit pipeline (group commit). Default true.
	Sync         bool
	MaxKeySize   int
	MaxValueSize int
	// CounterLease: see DefaultCounterLease.
	CounterLease uint64
	// MaxHintBytes bounds the hints kept for one target node; a hint past
	// it is not kept (HintStats counts it) and the write relies on read
	// repair and anti-entropy. Default 256 MiB.
	MaxHintBytes int64
	// MaxHintAge: older hints are dropped, counted, at replay. Default 24 h.
	MaxHintAge time.Duration
	// FS replaces the real filesystem, for crash tests. Nil means disk.
	FS vfs.FS
	// Logger receives pebble's messages; nil discards them.
	Logger *slog.Logger
}

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	return Options{Sync: true, MaxKeySize: DefaultMaxKeySize, MaxValueSize: DefaultMaxValueSize, CounterLease: DefaultCounterLease,
		MaxHintBytes: 256 << 20, MaxHintAge: 24 * time.Hour}
}

// Identity is who owns a data directory.
type Identity struct {
	NodeID string
	// Incarnation is chosen at random when the directory is first created;
	// a wiped node comes back as a new incarnation.
	Incarnation uint64
}

// Errors callers tell apart.
var (
	ErrKeyTooLarge   = errors.New("key too large")
	ErrValueTooLarge = errors.New("value too large")
	ErrEmptyKey      = errors.New("key is empty")
)

// Store is a node's pebble database. It is safe for concurrent use; callers
// serialise read-merge-write of one key (the vnode actor does).
type Store struct {
	db    *pebble.DB
	dir   string
	opts  Options
	id    Identity
	write *pebble.WriteOptions

	mu         sync.Mutex
	counter    uint64 // last counter issued
	leaseLimit uint64 // counters up to this are covered by the durable lease

	hintMu  sync.Mutex
	hintSeq uint64
	hints   map[string]*HintStats

	closeOnce sync.Once
	closeErr  error
}

// HintStats describes the hints kept for one target node.
type HintStats struct {
	Count, Bytes int64
	// Dropped counts hints not kept (bound reached) or discarded (too old).
	Dropped int64
}

var (
	keyIdentity = []byte("m/identity")
	keyCounter  = []byte("m/counter")
	keyMembers  = []byte("m/members")
	keyRing     = []byte("m/ring")
)

// Open opens (creating if needed) the store in dir for node nodeID. A
// directory that belongs to another node id is refused.
func Open(dir, nodeID string, opts Options) (*Store, error) {
	if nodeID == "" {
		return nil, errors.New("open store: empty node id")
	}
	popts := &pebble.Options{FS: opts.FS, Logger: quietLogger{opts.Logger}}
	db, err := pebble.Open(dir, popts)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s := &Store{db: db, dir: dir, opts: opts, write: pebble.NoSync}
	if opts.Sync {
		s.write = pebble.Sync
	}
	if err := s.loadIdentity(nodeID); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if err := s.loadCounter(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if err := s.loadHintStats(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	return s, nil
}

func (s *Store) loadIdentity(nodeID string) error {
	v, closer, err := s.db.Get(keyIdentity)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("choose incarnation: %w", err)
		}
		s.id = Identity{NodeID: nodeID, Incarnation: binary.BigEndian.Uint64(b[:]) | 1}
		rec := binary.BigEndian.AppendUint64(nil, s.id.Incarnation)
		rec = append(rec, nodeID...)
		return s.db.Set(keyIdentity, rec, pebble.Sync)
	case err != nil:
		return fmt.Errorf("read identity: %w", err)
	}
	defer closer.Close()
	if len(v) < 8 {
		return errors.New("corrupt identity record")
	}
	s.id = Identity{NodeID: string(v[8:]), Incarnation: binary.BigEndian.Uint64(v[:8])}
	if s.id.NodeID != nodeID {
		return fmt.Errorf("data directory belongs to node %q, not %q", s.id.NodeID, nodeID)
	}
	return nil
}

func (s *Store) loadCounter() error {
	v, closer, err := s.db.Get(keyCounter)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return fmt.Errorf("read counter lease: %w", err)
	default:
		if len(v) != 8 {
			closer.Close()
			return errors.New("corrupt counter lease")
		}
		// Any counter up to the old lease may have been issued before a crash.
		s.counter = binary.BigEndian.Uint64(v)
		closer.Close()
	}
	s.leaseLimit = s.counter
	return nil
}

// BindRing records the ring parameters of a new data directory, durably, and
// checks those of an existing one: its objects are placed by them, so a
// node restarted with others would look for keys where they are not.
func (s *Store) BindRing(partitions, replicas int) error {
	want := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(partitions)), uint32(replicas))
	v, closer, err := s.db.Get(keyRing)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if err := s.db.Set(keyRing, want, pebble.Sync); err != nil {
			return fmt.Errorf("record ring parameters in %s: %w", s.dir, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("read ring parameters in %s: %w", s.dir, err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return fmt.Errorf("corrupt ring parameters in %s", s.dir)
	}
	if !bytes.Equal(v, want) {
		return fmt.Errorf("data directory %s was created with --partitions %d --n %d, not --partitions %d --n %d",
			s.dir, binary.BigEndian.Uint32(v[:4]), binary.BigEndian.Uint32(v[4:]), partitions, replicas)
	}
	return nil
}

// Identity returns the node id and incarnation of this data directory.
func (s *Store) Identity() Identity { return s.id }

// NextCounter issues a counter never issued before by this incarnation, even
// across crashes: it extends a durable lease before handing out counters
// beyond it.
func (s *Store) NextCounter() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counter >= s.leaseLimit {
		limit := s.counter + s.opts.CounterLease
		if err := s.db.Set(keyCounter, binary.BigEndian.AppendUint64(nil, limit), pebble.Sync); err != nil {
			return 0, fmt.Errorf("extend counter lease: %w", err)
		}
		s.leaseLimit = limit
	}
	s.counter++
	return s.counter, nil
}

func dataKey(partition int, key []byte) []byte {
	k := make([]byte, 0, 2+4+1+len(key))
	k = append(k, 'd', '/')
	k = binary.BigEndian.AppendUint32(k, uint32(partition))
	k = append(k, '/')
	return append(k, key...)
}

// CheckKey validates a key against the limits.
func (s *Store) CheckKey(key []byte) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	if len(key) > s.opts.MaxKeySize {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrKeyTooLarge, len(key), s.opts.MaxKeySize)
	}
	return nil
}

// CheckValue validates a value against the limits.
func (s *Store) CheckValue(value []byte) error {
	if len(value) > s.opts.MaxValueSize {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrValueTooLarge, len(value), s.opts.MaxValueSize)
	}
	return nil
}

// Get returns the siblings stored for key in partition; nil when there are none.
func (s *Store) Get(partition int, key []byte) ([]object.Sibling, error) {
	v, closer, err := s.db.Get(dataKey(partition, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", key, err)
	}
	defer closer.Close()
	set, err := object.Decode(v)
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", key, err)
	}
	return set, nil
}

// Put replaces the siblings stored for key; durable on return when Sync is set.
func (s *Store) Put(partition int, key []byte, set []object.Sibling) error {
	return s.PutBatch([]Write{{Partition: partition, Key: key, Siblings: set}})
}

// Write is one object replacement in a PutBatch. With HintFor set the object
// is also kept as a hint for that node; HintOnly keeps only the hint. Delete
// removes the key physically (a reaped tombstone) and ignores Siblings.
type Write struct {
	Partition int
	Key       []byte
	Siblings  []object.Sibling
	HintFor   string
	HintOnly  bool
	Delete    bool
}

// PutBatch replaces several objects in one pebble batch: all or none are
// written, with one fsync when Sync is set.
//
// The size limits are not checked here: they are admission rules for a
// client's new value (CheckKey, CheckValue). An object may hold siblings
// written under an earlier, larger limit, and one such object must not fail
// the other writes that share its batch, nor replication of itself.
func (s *Store) PutBatch(writes []Write) error {
	b := s.db.NewBatch()
	defer b.Close()
	for _, w := range writes {
		if len(w.Key) == 0 {
			return ErrEmptyKey
		}
		if w.Delete {
			if err := b.Delete(dataKey(w.Partition, w.Key), nil); err != nil {
				return fmt.Errorf("delete %q: %w", w.Key, err)
			}
			continue
		}
		if !w.HintOnly {
			enc, err := object.Encode(w.Siblings)
			if err != nil {
				return fmt.Errorf("put %q: %w", w.Key, err)
			}
			if err := b.Set(dataKey(w.Partition, w.Key), enc, nil); err != nil {
				return fmt.Errorf("put %q: %w", w.Key, err)
			}
		}
	}
	added, err := s.stageHints(b, writes)
	if err != nil {
		return err
	}
	if err := b.Commit(s.write); err != nil {
		s.unstageHints(added)
		return fmt.Errorf("commit %d writes: %w", len(writes), err)
	}
	return nil
}

func hintPrefix(target string) []byte { return []byte("h/" + target + "/") }

func (s *Store) loadHintStats() error {
	s.hints = map[string]*HintStats{}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte("h/"), UpperBound: []byte("h0")})
	if err != nil {
		return fmt.Errorf("scan hints: %w", err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		// h/<target>/<8-byte seq>; the seq may contain '/' bytes.
		k := it.Key()
		slash := len(k) - 9
		if slash < 3 || k[slash] != '/' {
			return fmt.Errorf("corrupt hint key %q", k)
		}
		target := string(k[2:slash])
		st := s.hintStats(target)
		st.Count++
		st.Bytes += int64(len(it.Value()))
		s.hintSeq = max(s.hintSeq, binary.BigEndian.Uint64(k[slash+1:]))
	}
	return it.Error()
}

func (s *Store) hintStats(target string) *HintStats {
	st, ok := s.hints[target]
	if !ok {
		st = &HintStats{}
		s.hints[target] = st
	}
	return st
}

type stagedHint struct {
	target string
	bytes  int64
}

// stageHints adds the hint records of writes to b, within the bounds.
func (s *Store) stageHints(b *pebble.Batch, writes []Write) ([]stagedHint, error) {
	s.hintMu.Lock()
	defer s.hintMu.Unlock()
	var added []stagedHint
	for _, w := range writes {
		if w.HintFor == "" {
			continue
		}
		enc, err := proto.Marshal(&internalpb.Hint{Partition: uint32(w.Partition), Key: w.Key,
			Object: object.ToProto(w.Siblings), CreatedAt: time.Now().UnixNano()})
		if err != nil {
			return nil, fmt.Errorf("hint for %s: %w", w.HintFor, err)
		}
		st := s.hintStats(w.HintFor)
		if st.Bytes+int64(len(enc)) > s.opts.MaxHintBytes {
			st.Dropped++
			continue
		}
		s.hintSeq++
		key := binary.BigEndian.AppendUint64(hintPrefix(w.HintFor), s.hintSeq)
		if err := b.Set(key, enc, nil); err != nil {
			return nil, fmt.Errorf("hint for %s: %w", w.HintFor, err)
		}
		st.Count++
		st.Bytes += int64(len(enc))
		added = append(added, stagedHint{w.HintFor, int64(len(enc))})
	}
	return added, nil
}

func (s *Store) unstageHints(added []stagedHint) {
	s.hintMu.Lock()
	defer s.hintMu.Unlock()
	for _, h := range added {
		st := s.hintStats(h.target)
		st.Count--
		st.Bytes -= h.bytes
	}
}

// HintRecord is one stored hint.
type HintRecord struct {
	Seq  uint64
	Hint *internalpb.Hint
}

// Hints returns up to limit hints for target, oldest first. Hints older
// than MaxHintAge are deleted and counted as dropped instead.
func (s *Store) Hints(target string, limit int) ([]HintRecord, error) {
	prefix := hintPrefix(target)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("read hints for %s: %w", target, err)
	}
	defer it.Close()
	var out []HintRecord
	cutoff := time.Now().Add(-s.opts.MaxHintAge).UnixNano()
	for it.First(); it.Valid() && len(out) < limit; it.Next() {
		h := &internalpb.Hint{}
		if err := proto.Unmarshal(it.Value(), h); err != nil {
			return nil, fmt.Errorf("read hint %q: %w", it.Key(), err)
		}
		seq := binary.BigEndian.Uint64(it.Key()[len(prefix):])
		if h.CreatedAt < cutoff {
			if err := s.deleteHint(target, seq, int64(len(it.Value())), true); err != nil {
				return nil, err
			}
			continue
		}
		out = append(out, HintRecord{Seq: seq, Hint: h})
	}
	return out, it.Error()
}

// DeleteHint removes a delivered hint.
func (s *Store) DeleteHint(target string, seq uint64) error {
	key := binary.BigEndian.AppendUint64(hintPrefix(target), seq)
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete hint: %w", err)
	}
	size := int64(len(v))
	closer.Close()
	return s.deleteHint(target, seq, size, false)
}

func (s *Store) deleteHint(target string, seq uint64, size int64, expired bool) error {
	key := binary.BigEndian.AppendUint64(hintPrefix(target), seq)
	// Unsynced: a delete lost in a crash only replays a hint again, which
	// is harmless.
	if err := s.db.Delete(key, pebble.NoSync); err != nil {
		return fmt.Errorf("delete hint: %w", err)
	}
	s.hintMu.Lock()
	defer s.hintMu.Unlock()
	st := s.hintStats(target)
	st.Count--
	st.Bytes -= size
	if expired {
		st.Dropped++
	}
	return nil
}

// HintStats returns the hints kept per target node.
func (s *Store) HintStats() map[string]HintStats {
	s.hintMu.Lock()
	defer s.hintMu.Unlock()
	out := make(map[string]HintStats, len(s.hints))
	for t, st := range s.hints {
		out[t] = *st
	}
	return out
}

// HintCount is how many hints the node keeps, for all targets.
func (s *Store) HintCount() int64 {
	s.hintMu.Lock()
	defer s.hintMu.Unlock()
	var n int64
	for _, st := range s.hints {
		n += st.Count
	}
	return n
}

// OldestHint returns the creation time of target's oldest hint.
func (s *Store) OldestHint(target string) (time.Time, bool) {
	prefix := hintPrefix(target)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return time.Time{}, false
	}
	defer it.Close()
	if !it.First() {
		return time.Time{}, false
	}
	h := &internalpb.Hint{}
	if proto.Unmarshal(it.Value(), h) != nil {
		return time.Time{}, false
	}
	return time.Unix(0, h.CreatedAt), true
}

// RawEntry is a stored object as bytes, for streaming a partition.
type RawEntry struct {
	Key, Value []byte
}

// Scan returns up to maxKeys objects of partition (and about maxBytes at
// most, but at least one) with keys after after, in key order; more reports
// whether keys remain.
func (s *Store) Scan(partition int, after []byte, maxKeys, maxBytes int) (entries []RawEntry, more bool, err error) {
	prefix := dataKey(partition, nil)
	lower := prefix
	if len(after) > 0 {
		lower = append(dataKey(partition, after), 0) // the next key after "after"
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, false, fmt.Errorf("scan partition %d: %w", partition, err)
	}
	defer it.Close()
	size := 0
	for it.First(); it.Valid(); it.Next() {
		if len(entries) >= maxKeys || (len(entries) > 0 && size+len(it.Value()) > maxBytes) {
			return entries, true, it.Error()
		}
		entries = append(entries, RawEntry{Key: bytes.Clone(it.Key()[len(prefix):]), Value: bytes.Clone(it.Value())})
		size += len(it.Key()) + len(it.Value())
	}
	return entries, false, it.Error()
}

// DropPartition deletes every object of partition, durably. A node calls it
// for a partition it holds no replica of once nothing it keeps there is
// still needed (see package reap).
func (s *Store) DropPartition(partition int) error {
	prefix := dataKey(partition, nil)
	if err := s.db.DeleteRange(prefix, prefixEnd(prefix), s.write); err != nil {
		return fmt.Errorf("drop partition %d: %w", partition, err)
	}
	return nil
}

func handoffKey(partition int) []byte {
	return binary.BigEndian.AppendUint32([]byte("x/"), uint32(partition))
}

// HandoffCursor returns the saved progress of partition's incoming transfer
// (nil if none).
func (s *Store) HandoffCursor(partition int) (*internalpb.HandoffCursor, error) {
	v, closer, err := s.db.Get(handoffKey(partition))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load handoff cursor %d: %w", partition, err)
	}
	defer closer.Close()
	var c internalpb.HandoffCursor
	if err := proto.Unmarshal(v, &c); err != nil {
		return nil, fmt.Errorf("load handoff cursor %d: %w", partition, err)
	}
	return &c, nil
}

// SaveHandoffCursor durably records a transfer's progress.
func (s *Store) SaveHandoffCursor(partition int, c *internalpb.HandoffCursor) error {
	b, err := proto.Marshal(c)
	if err != nil {
		return fmt.Errorf("save handoff cursor %d: %w", partition, err)
	}
	if err := s.db.Set(handoffKey(partition), b, s.write); err != nil {
		return fmt.Errorf("save handoff cursor %d: %w", partition, err)
	}
	return nil
}

func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// SaveMembers records the membership this node last knew, so a restarted
// node can find its peers without a seed.
func (s *Store) SaveMembers(snapshot *internalpb.MembershipSnapshot) error {
	b, err := proto.Marshal(snapshot)
	if err != nil {
		return fmt.Errorf("save members: %w", err)
	}
	if err := s.db.Set(keyMembers, b, pebble.NoSync); err != nil {
		return fmt.Errorf("save members: %w", err)
	}
	return nil
}

// Members returns what SaveMembers last recorded.
func (s *Store) Members() (*internalpb.MembershipSnapshot, error) {
	v, closer, err := s.db.Get(keyMembers)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load members: %w", err)
	}
	defer closer.Close()
	var snap internalpb.MembershipSnapshot
	if err := proto.Unmarshal(v, &snap); err != nil {
		return nil, fmt.Errorf("load members: %w", err)
	}
	return &snap, nil
}

// Close flushes and closes the database.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("close store %s: %w", s.dir, err)
		}
	})
	return s.closeErr
}

// quietLogger routes pebble's logging to slog (or nowhere).
type quietLogger struct{ l *slog.Logger }

func (q quietLogger) Infof(format string, args ...any) {
	if q.l != nil {
		q.l.Debug(fmt.Sprintf(format, args...))
	}
}

func (q quietLogger) Errorf(format string, args ...any) {
	if q.l != nil {
		q.l.Error(fmt.Sprintf(format, args...))
	}
}

func (q quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
