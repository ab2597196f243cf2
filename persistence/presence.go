package persistence

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/harmoniakv/harmonia/internal/presence"
)

// Presence filters (Options.PresenceFilters): which keys the objects (d/)
// and acceptor states (p/) of each partition may hold. The only writes of
// those records are CommitBatch's, which adds each key before the batch
// commits; Open fills the filters from disk first.

// presenceSpaces are the record prefixes the filters cover.
var presenceSpaces = []byte{'d', 'p'}

// loadPresence fills the filters with every object and acceptor key on
// disk, before the store serves anything.
func (s *Store) loadPresence() error {
	x := presence.New(presence.DefaultConfig())
	for _, prefix := range presenceSpaces {
		lower := []byte{prefix, '/'}
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
		if err != nil {
			return fmt.Errorf("presence filters: %w", err)
		}
		for it.First(); it.Valid(); it.Next() {
			if space, key, ok := recordSpace(it.Key()); ok {
				x.Add(space, key)
			} // else not a record of this layout: nothing reads it by key
		}
		err = it.Error()
		if cerr := it.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("presence filters: %w", err)
		}
	}
	s.present = x
	return nil
}

// recordSpace splits a stored key of a filtered record,
// <prefix>/<partition:4>/<key> (partitionKey), into its space and key.
func recordSpace(k []byte) (space presence.Space, key []byte, ok bool) {
	if len(k) < 7 || k[1] != '/' || k[6] != '/' || !slices.Contains(presenceSpaces, k[0]) {
		return space, nil, false
	}
	return presence.Space{Prefix: k[0], Partition: int(binary.BigEndian.Uint32(k[2:6]))}, k[7:], true
}

// mayHold reports whether a point read of key in partition's records of
// prefix must go to pebble; false counts a read skipped.
func (s *Store) mayHold(prefix byte, partition int, key []byte) bool {
	if s.present == nil || s.present.MayHold(presence.Space{Prefix: prefix, Partition: partition}, key) {
		return true
	}
	s.skipped.Add(1)
	return false
}

// willHold records, before the write commits, that partition's records of
// prefix hold key.
func (s *Store) willHold(prefix byte, partition int, key []byte) {
	if s.present != nil {
		s.present.Add(presence.Space{Prefix: prefix, Partition: partition}, key)
	}
}

// PresenceStats are what the presence filters did.
type PresenceStats struct {
	// ReadsSkipped counts point reads answered "nothing stored" by the
	// filters alone.
	ReadsSkipped uint64
	// FilterBytes is the memory the filters take.
	FilterBytes int64
}

// PresenceStats reports the filters' work (zero without them).
func (s *Store) PresenceStats() PresenceStats {
	out := PresenceStats{ReadsSkipped: s.skipped.Load()}
	if s.present != nil {
		out.FilterBytes = s.present.Bytes()
	}
	return out
}
