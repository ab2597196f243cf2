package persistence

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Disk faults: what the store does when the disk fails it, and what it
// reports.
//
// Pebble treats a write-ahead log write or fsync that fails as fatal (its
// commit pipeline calls Logger.Fatalf): the batch is already in the
// memtable, so readers would see a write that is not durable, and the log
// writer keeps the error, so every later commit fails too, even once the
// disk is fine again. The store therefore turns that failure into a sticky
// state: the write returns an error (never an acknowledgement), and every
// later read and write is refused with ErrStorageFailed until the process
// reopens the directory (a restart), which replays the log from what is on
// disk. A full disk is kept from reaching that state: a write is refused
// (ErrDiskFull) while the filesystem has less than Options.MinFreeBytes
// free, and accepted again as soon as it has more. Deletes (of hints,
// reaped tombstones, dropped partitions) are not refused: they free space.
// The reserve guards against this node's own writes only: when another
// process fills the disk, a flush or compaction whose MANIFEST write fails
// reaches pebble's Fatalf on pebble's goroutine, and the process exits
// (see OpBackground); a restart once there is space loses nothing
// acknowledged, as every acknowledged write was fsynced.

// Errors callers tell apart.
var (
	// ErrStorageFailed: a write could not be made durable and pebble can
	// no longer be trusted; the node must be restarted.
	ErrStorageFailed = errors.New("storage failed")
	// ErrDiskFull: the filesystem has less free space than the reserve.
	ErrDiskFull = errors.New("disk full")
)

// Storage error kinds, the label of harmonia_storage_errors_total.
const (
	// OpCommit: pebble failed a write (its log write or fsync).
	OpCommit = "commit"
	// OpRefused: a write refused because an earlier one failed.
	OpRefused = "refused"
	// OpFull: a write refused for lack of free space.
	OpFull = "full"
	// OpBackground: a flush or compaction failed (pebble retries them).
	// Not every such failure gets here: pebble treats a failed MANIFEST
	// write of a flush or compaction as fatal, and its Fatalf then panics
	// on pebble's own goroutine, outside commit's recover, which ends the
	// process. The free-space reserve keeps this node's own writes from
	// getting there, not a disk filled by another process.
	OpBackground = "background"
	// OpStatfs: the free space could not be read.
	OpStatfs = "statfs"
)

// ErrorKinds lists every storage error kind (Op*), for metrics that show
// each one from the start.
func ErrorKinds() []string { return []string{OpCommit, OpRefused, OpFull, OpBackground, OpStatfs} }

// Health is the store's view of its disk, for the node's status.
type Health struct {
	// Failed says why the store refuses every read and write until the
	// node is restarted; empty while it works.
	Failed string
	// Full: free space is below the reserve, so writes are refused.
	Full bool
	// FreeBytes and TotalBytes of the filesystem (0 when unknown).
	FreeBytes, TotalBytes uint64
	// LastError is the latest storage error, at LastErrorAt.
	LastError   string
	LastErrorAt time.Time
	// Errors counts storage errors since the store was opened, by kind
	// (OpCommit, OpRefused, ...).
	Errors map[string]uint64
	// FailedWrites counts the writes refused or failed: none of them was
	// acknowledged.
	FailedWrites uint64
}

// health is the mutable state behind Health.
type health struct {
	// failed is the sticky failure, nil while the store works: read on
	// every Get, Scan and commit, so without a lock.
	failed atomic.Pointer[error]

	mu          sync.Mutex
	lastErr     error
	lastAt      time.Time
	counts      map[string]uint64
	failedWrite uint64
	lastLog     map[string]time.Time
	suppressed  map[string]uint64
}

// fatalError is what quietLogger.Fatalf panics with, so that the store can
// recover it and keep the cause (errors.Is(err, syscall.ENOSPC) works).
type fatalError struct {
	msg   string
	cause error
}

func (e *fatalError) Error() string { return e.msg }
func (e *fatalError) Unwrap() error { return e.cause }

// record counts an error of kind op and logs it, at most once per
// ErrorLogInterval per kind (with how many were not logged meanwhile).
func (s *Store) record(op string, err error, write bool) {
	h := &s.health
	h.mu.Lock()
	now := time.Now()
	h.counts[op]++
	if write {
		h.failedWrite++
	}
	h.lastErr, h.lastAt = err, now
	logIt := now.Sub(h.lastLog[op]) >= s.opts.ErrorLogInterval
	var suppressed uint64
	if logIt {
		h.lastLog[op] = now
		suppressed, h.suppressed[op] = h.suppressed[op], 0
	} else {
		h.suppressed[op]++
	}
	h.mu.Unlock()
	if l := s.opts.Logger; logIt && l != nil {
		l.Error("storage error: writes are not acknowledged", "op", op, "dir", s.dir, "err", err,
			"not_logged_since_last", suppressed)
	}
}

// failure is the sticky error, nil while the store works.
func (s *Store) failure() error {
	if p := s.health.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// fail makes the store refuse everything from now on.
func (s *Store) fail(cause error) error {
	err := fmt.Errorf("%w: %w; restart the node once the disk is fixed", ErrStorageFailed, cause)
	first := s.health.failed.CompareAndSwap(nil, &err)
	if l := s.opts.Logger; first && l != nil {
		l.Error("storage failed: this node refuses every read and write until it is restarted", "dir", s.dir, "err", cause)
	}
	return err
}

// readable refuses a read once the store has failed: pebble's memtable
// then holds a write that is not durable.
func (s *Store) readable() error { return s.failure() }

// commit runs one pebble write (what names it in errors, and is called only
// for one). It is refused when the store has failed or, unless it only
// frees space (freesSpace: deletes, which replaying hints, reaping and
// dropping partitions need to go on with the disk below its reserve), when
// the disk is below its reserve; a pebble failure (its Fatalf, recovered
// here) fails the store.
func (s *Store) commit(what func() string, freesSpace bool, write func(db *pebble.DB) error) (err error) {
	if err := s.failure(); err != nil {
		s.record(OpRefused, err, true)
		return fmt.Errorf("%s: %w", what(), err)
	}
	// A delete still logs its tombstone: a few bytes of the reserve, which
	// is kept for writes like it.
	if !freesSpace {
		if err := s.checkSpace(); err != nil {
			s.record(OpFull, err, true)
			return fmt.Errorf("%s: %w", what(), err)
		}
	}
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		// Only pebble's fatal error (quietLogger.Fatalf) fails the store;
		// any other panic is a bug and stays one.
		fe, ok := r.(*fatalError)
		if !ok {
			panic(r)
		}
		err = fmt.Errorf("%s: %w", what(), s.fail(fe))
		s.record(OpCommit, err, true)
	}()
	if err := write(s.db); err != nil {
		err = fmt.Errorf("%s: %w", what(), err)
		s.record(OpCommit, err, true)
		return err
	}
	return nil
}

// diskUsage reads the filesystem's free space; ok is false when the
// filesystem does not report it (pebble's in-memory one, unless a test
// sets it).
func (s *Store) diskUsage() (du vfs.DiskUsage, ok bool, err error) {
	du, err = s.fs.GetDiskUsage(s.dir)
	if errors.Is(err, vfs.ErrUnsupported) {
		return du, false, nil
	}
	if err != nil {
		return du, false, fmt.Errorf("free space of %s: %w", s.dir, err)
	}
	return du, du.TotalBytes > 0, nil
}

// checkSpace refuses a write while free space is below MinFreeBytes. Not
// knowing the free space refuses nothing (it is counted and logged).
//
// It reads the free space at every write (a statfs, under a microsecond):
// a reading kept for even 100 ms lets writes through, acknowledged, after
// another process filled the disk (TestDiskFull saw it).
func (s *Store) checkSpace() error {
	if s.opts.MinFreeBytes <= 0 {
		return nil
	}
	du, ok, err := s.diskUsage()
	if err != nil {
		s.record(OpStatfs, err, false)
		return nil
	}
	if ok && s.belowReserve(du.AvailBytes) {
		return fmt.Errorf("%w: %d bytes free in %s, below the reserve of %d (--min-free-disk)",
			ErrDiskFull, du.AvailBytes, s.dir, s.opts.MinFreeBytes)
	}
	return nil
}

// warnReserve logs a reserve that the filesystem can never have free:
// every write would be refused.
func (s *Store) warnReserve() {
	if s.opts.MinFreeBytes <= 0 || s.opts.Logger == nil {
		return
	}
	if du, ok, err := s.diskUsage(); err == nil && ok && uint64(s.opts.MinFreeBytes) >= du.TotalBytes {
		s.opts.Logger.Warn("the free-space reserve is not below the filesystem's size: every write will be refused (--min-free-disk)",
			"dir", s.dir, "min_free_bytes", s.opts.MinFreeBytes, "total_bytes", du.TotalBytes)
	}
}

// belowReserve reports whether avail free bytes are below the reserve
// (never when there is none).
func (s *Store) belowReserve(avail uint64) bool {
	return s.opts.MinFreeBytes > 0 && avail < uint64(s.opts.MinFreeBytes)
}

// Health returns the store's disk state now.
func (s *Store) Health() Health {
	out := Health{}
	if du, ok, err := s.diskUsage(); err == nil && ok {
		out.FreeBytes, out.TotalBytes = du.AvailBytes, du.TotalBytes
		out.Full = s.belowReserve(du.AvailBytes)
	}
	if err := s.failure(); err != nil {
		out.Failed = err.Error()
	}
	h := &s.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lastErr != nil {
		out.LastError, out.LastErrorAt = h.lastErr.Error(), h.lastAt
	}
	out.Errors = make(map[string]uint64, len(h.counts))
	for op, n := range h.counts {
		out.Errors[op] = n
	}
	out.FailedWrites = h.failedWrite
	return out
}

// IsDiskFull reports whether err says the disk is full: below the reserve,
// or out of space under pebble.
func IsDiskFull(err error) bool {
	return errors.Is(err, ErrDiskFull) || errors.Is(err, syscall.ENOSPC)
}

// eventListener reports pebble's background failures (a flush or
// compaction that could not write; pebble retries them).
func (s *Store) eventListener() *pebble.EventListener {
	return &pebble.EventListener{
		BackgroundError: func(err error) { s.record(OpBackground, err, false) },
	}
}

// closeFailed closes a failed pebble within timeout: its commit pipeline
// may be stuck behind the failure.
func closeFailed(db *pebble.DB, timeout time.Duration, log *slog.Logger) error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("pebble: %v", r)
			}
		}()
		done <- db.Close()
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		if log != nil {
			log.Error("pebble did not close after the storage failure; leaving it", "timeout", timeout)
		}
		return fmt.Errorf("pebble did not close within %v after the storage failure", timeout)
	}
}
