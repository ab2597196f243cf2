// Package persistence owns a node's durable state: one pebble database per
// node holding the replicas' objects, the node's identity and incarnation,
// the counter lease that makes write dots unique, and the membership it last
// knew.
//
// Layout (see docs/architecture.md):
//
//	d/<partition:4 bytes BE>/<key>   object: siblings (protobuf)
//	p/<partition:4 bytes BE>/<key>   acceptor state of a strong key (protobuf
//	                                 PaxosState); outside d/, so scans, trees,
//	                                 handoff, reaping and DropPartition skip it
//	m/identity                       node id and incarnation
//	m/counter                        end of the current counter lease
//	m/members                        last known membership (protobuf)
//	m/ring                           partitions and replicas (2 × 4 bytes BE)
//	f/<partition:4 bytes BE>/        the partition's floor: the highest promise of
//	                                 the strong registers whose state was dropped
//	m/catalog                        the table catalog last learned (protobuf)
//	m/purged/<id:4 bytes BE>         the data of deleted table id is removed
//	x/<partition:4 bytes BE>         progress of an incoming handoff (protobuf)
//	h/<target node>/<seq:8 bytes BE> hinted write for another node (protobuf)
package persistence

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/internal/presence"
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
	// BlockCacheBytes sizes pebble's cache of uncompressed blocks, shared
	// by every partition: reads of keys whose blocks it holds cost no
	// decompression or checksum. Default 32 MiB (pebble's own is 8 MiB).
	BlockCacheBytes int64
	// BloomBitsPerKey sizes the bloom filter of each table, so a point read
	// skips tables that cannot hold its key; 0 builds none. Default 10
	// (about 1% false positives).
	BloomBitsPerKey int
	// PresenceFilters keeps, in memory, a filter of the keys each
	// partition's objects and acceptor states may hold (internal/presence),
	// filled from disk at Open and by every write, so a point read of a
	// key never written (a new key's replica write or acceptor step) skips
	// pebble. Costs about 1.25 bytes a key and one scan of the keys at
	// Open. Default true.
	PresenceFilters bool
	// FS replaces the real filesystem, for crash and fault tests. Nil
	// means disk.
	FS vfs.FS
	// MinFreeBytes is the free space below which writes are refused
	// (ErrDiskFull) rather than risked: pebble treats a log write that
	// fails for lack of space as fatal (see health.go). Writes resume as
	// soon as there is more. 0 checks nothing. Default 128 MiB.
	MinFreeBytes int64
	// ErrorLogInterval: a storage error of one kind is logged at most once
	// per interval, with how many were not. Default (and when <= 0) 10 s.
	ErrorLogInterval time.Duration
	// FailedCloseTimeout bounds Close of a store whose storage failed:
	// pebble's commit pipeline may be stuck behind the failure. Default
	// (and when <= 0) 10 s.
	FailedCloseTimeout time.Duration
	// Logger receives pebble's messages; nil discards them.
	Logger *slog.Logger
}

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	return Options{Sync: true, MaxKeySize: DefaultMaxKeySize, MaxValueSize: DefaultMaxValueSize, CounterLease: DefaultCounterLease,
		MaxHintBytes: 256 << 20, MaxHintAge: 24 * time.Hour, BlockCacheBytes: 32 << 20, BloomBitsPerKey: 10,
		PresenceFilters: true, MinFreeBytes: 128 << 20, ErrorLogInterval: 10 * time.Second, FailedCloseTimeout: 10 * time.Second}
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
	ErrEmptyKey      = object.ErrEmptyKey
)

// Store is a node's pebble database. It is safe for concurrent use; callers
// serialise read-merge-write of one key (the vnode actor does).
type Store struct {
	db    *pebble.DB
	fs    vfs.FS
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

	health health

	// present is nil without Options.PresenceFilters; skipped counts the
	// point reads it answered.
	present *presence.Index
	skipped atomic.Uint64

	// marks are what the node knows of its acceptor state (acceptors.go):
	// read by every acceptor step, so an immutable snapshot; written
	// under marksMu.
	marks   atomic.Pointer[acceptorMarks]
	marksMu sync.Mutex

	closeOnce sync.Once
	closeErr  error
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
	fs := opts.FS
	if fs == nil {
		fs = vfs.Default
	}
	// Options built without DefaultOptions: intervals of 0 would log every
	// error and give a failed pebble no time to close.
	def := DefaultOptions()
	if opts.ErrorLogInterval <= 0 {
		opts.ErrorLogInterval = def.ErrorLogInterval
	}
	if opts.FailedCloseTimeout <= 0 {
		opts.FailedCloseTimeout = def.FailedCloseTimeout
	}
	s := &Store{fs: fs, dir: dir, opts: opts, write: pebble.NoSync,
		health: health{counts: map[string]uint64{}, lastLog: map[string]time.Time{}, suppressed: map[string]uint64{}}}
	if opts.Sync {
		s.write = pebble.Sync
	}
	popts := &pebble.Options{FS: fs, Logger: quietLogger{opts.Logger}, EventListener: s.eventListener()}
	if opts.BlockCacheBytes > 0 {
		c := pebble.NewCache(opts.BlockCacheBytes)
		defer c.Unref() // the DB holds its own reference
		popts.Cache = c
	}
	if opts.BloomBitsPerKey > 0 {
		for i := range popts.Levels {
			popts.Levels[i].FilterPolicy = bloom.FilterPolicy(opts.BloomBitsPerKey)
		}
	}
	db, err := pebble.Open(dir, popts)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s.db = db
	s.warnReserve()
	if err := s.loadIdentity(nodeID); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if err := s.loadCounter(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if err := s.loadAcceptorMarks(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if err := s.loadHintStats(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if opts.PresenceFilters {
		if err := s.loadPresence(); err != nil {
			db.Close()
			return nil, fmt.Errorf("open store %s: %w", dir, err)
		}
	}
	return s, nil
}

func (s *Store) loadIdentity(nodeID string) error {
	v, closer, err := s.db.Get(keyIdentity) // while opening: nothing failed yet
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("choose incarnation: %w", err)
		}
		s.id = Identity{NodeID: nodeID, Incarnation: binary.BigEndian.Uint64(b[:]) | 1}
		rec := binary.BigEndian.AppendUint64(nil, s.id.Incarnation)
		rec = append(rec, nodeID...)
		// A new directory: its node may be a member whose disk was wiped,
		// which lost the promises it answered; it does not vote on strong
		// keys until it knows (membership.AcceptorOrigin). Recorded with
		// the identity, so no crash leaves one without the other.
		return s.commit(func() string { return "record identity" }, false, func(db *pebble.DB) error {
			b := db.NewBatch()
			defer b.Close()
			if err := b.Set(keyIdentity, rec, nil); err != nil {
				return err
			}
			if err := b.Set(keyAcceptorOrigin, []byte{byte(membership.AcceptorsUndecided)}, nil); err != nil {
				return err
			}
			return b.Commit(pebble.Sync)
		})
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

// Identity returns the node id and incarnation of this data directory.
func (s *Store) Identity() Identity { return s.id }

// NextCounter issues a counter never issued before by this incarnation, even
// across crashes: it extends a durable lease before handing out counters
// beyond it.
func (s *Store) NextCounter() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counter == math.MaxUint64 {
		// The next would wrap to 0 and issue counters again (a lease
		// record read back this high is corrupt).
		return 0, errors.New("write counters exhausted")
	}
	if s.counter >= s.leaseLimit {
		limit := s.counter + min(s.opts.CounterLease, math.MaxUint64-s.counter)
		err := s.commit(func() string { return "extend counter lease" }, false, func(db *pebble.DB) error {
			return db.Set(keyCounter, binary.BigEndian.AppendUint64(nil, limit), pebble.Sync)
		})
		if err != nil {
			return 0, err
		}
		s.leaseLimit = limit
	}
	s.counter++
	return s.counter, nil
}

// Metrics returns pebble's own figures (compactions, cache, WAL), for the
// node's metrics.
func (s *Store) Metrics() *pebble.Metrics { return s.db.Metrics() }

// Close flushes and closes the database.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var err error
		if s.failure() != nil {
			err = closeFailed(s.db, s.opts.FailedCloseTimeout, s.opts.Logger)
		} else {
			err = s.db.Close()
		}
		if err != nil {
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

// Fatalf panics: pebble must not go on after it (it would return from a
// failed commit as if it had succeeded). The store's commit recovers the
// panic and fails the store; the cause is the first error among args. On
// pebble's own goroutines (a flush's or compaction's MANIFEST write) the
// panic is not recovered and ends the process.
func (q quietLogger) Fatalf(format string, args ...any) {
	fe := &fatalError{msg: fmt.Sprintf(format, args...)}
	for _, a := range args {
		if err, ok := a.(error); ok {
			fe.cause = err
			break
		}
	}
	panic(fe)
}
