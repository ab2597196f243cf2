package persistence

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/internal/wallclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/proto"
)

// Hints: writes kept for another node, h/<target>/<seq>, with their counts
// and bounds.

// HintStats describes the hints kept for one target node.
type HintStats struct {
	Count, Bytes int64
	// Dropped counts hints not kept (bound reached) or discarded (too old).
	Dropped int64
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
			Object: object.ToProto(w.Siblings), CreatedAt: wallclock.Now().UnixNano()})
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
	if err := s.readable(); err != nil {
		return nil, fmt.Errorf("read hints for %s: %w", target, err)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("read hints for %s: %w", target, err)
	}
	defer it.Close()
	var out []HintRecord
	cutoff := wallclock.Now().Add(-s.opts.MaxHintAge).UnixNano()
	for it.First(); it.Valid() && len(out) < limit; it.Next() {
		if !ownHintKey(it.Key(), prefix) {
			continue
		}
		h := &internalpb.Hint{}
		seq := binary.BigEndian.Uint64(it.Key()[len(prefix):])
		if err := proto.Unmarshal(it.Value(), h); err != nil {
			// It can never be replayed, and would hold up every hint
			// behind it: dropped, as the write's other replicas and
			// anti-entropy still have it.
			s.logDrop(target, seq, fmt.Sprintf("does not decode: %v", err))
			if err := s.deleteHint(target, seq, int64(len(it.Value())), true); err != nil {
				return nil, err
			}
			continue
		}
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

// DropHint removes a hint that can never be delivered (why says why),
// counted as dropped and logged.
func (s *Store) DropHint(target string, seq uint64, why string) error {
	s.logDrop(target, seq, why)
	return s.removeHint(target, seq, true)
}

func (s *Store) logDrop(target string, seq uint64, why string) {
	if l := s.opts.Logger; l != nil {
		l.Warn("dropped a hint that can never be delivered", "target", target, "seq", seq, "why", why)
	}
}

// DeleteHint removes a delivered hint.
func (s *Store) DeleteHint(target string, seq uint64) error { return s.removeHint(target, seq, false) }

func (s *Store) removeHint(target string, seq uint64, dropped bool) error {
	key := binary.BigEndian.AppendUint64(hintPrefix(target), seq)
	if err := s.readable(); err != nil {
		return fmt.Errorf("delete hint: %w", err)
	}
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete hint: %w", err)
	}
	size := int64(len(v))
	closer.Close()
	return s.deleteHint(target, seq, size, dropped)
}

func (s *Store) deleteHint(target string, seq uint64, size int64, expired bool) error {
	key := binary.BigEndian.AppendUint64(hintPrefix(target), seq)
	// Unsynced: a delete lost in a crash only replays a hint again, which
	// is harmless.
	if err := s.commit(func() string { return "delete hint" }, true, func(db *pebble.DB) error { return db.Delete(key, pebble.NoSync) }); err != nil {
		return err
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
	if s.readable() != nil {
		return time.Time{}, false
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return time.Time{}, false
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if !ownHintKey(it.Key(), prefix) {
			continue
		}
		h := &internalpb.Hint{}
		if proto.Unmarshal(it.Value(), h) != nil {
			return time.Time{}, false
		}
		return time.Unix(0, h.CreatedAt), true
	}
	return time.Time{}, false
}

// ownHintKey reports whether key, found under a target's prefix, is that
// target's: h/<target>/<seq>. Hints stored before peers' ids were checked
// (membership.CheckID) may name targets holding '/', so the range of one
// target can hold keys of another whose id extends it.
func ownHintKey(key, prefix []byte) bool { return len(key) == len(prefix)+8 }
