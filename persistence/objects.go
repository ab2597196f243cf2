package persistence

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxospb"
	"google.golang.org/protobuf/proto"
)

// Objects: the replicas' data, d/<partition>/<key>.

func dataKey(partition int, key []byte) []byte { return partitionKey('d', partition, key) }

// partitionKey is <prefix>/<partition:4 bytes BE>/<key>, the layout of
// every per-partition record.
func partitionKey(prefix byte, partition int, key []byte) []byte {
	k := make([]byte, 0, 2+4+1+len(key))
	k = append(k, prefix, '/')
	k = binary.BigEndian.AppendUint32(k, uint32(partition))
	k = append(k, '/')
	return append(k, key...)
}

// KeyRoom is how many bytes a stored key may have beyond MaxKeySize: the
// prefix of a created table's keys (cluster/catalog, 6 bytes), with room
// to spare. MaxKeySize bounds the client's key.
const KeyRoom = 8

// CheckKey validates a stored key (the client's key with its table's
// prefix) against the limits. An item's key has DynamoDB's limits on its
// partition and sort keys instead (catalog.MaxItemKeySize), which the
// table service checks before encoding it.
func (s *Store) CheckKey(key []byte) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	limit := s.opts.MaxKeySize + KeyRoom
	if catalog.IsItemKey(key) {
		limit = max(limit, catalog.MaxItemKeySize)
	}
	if len(key) > limit {
		return fmt.Errorf("%w: %d bytes, limit %d with its table prefix", ErrKeyTooLarge, len(key), limit)
	}
	return nil
}

// CheckClientKey validates a client's key, before its table's prefix,
// against the limits.
func (s *Store) CheckClientKey(key []byte) error {
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
func (s *Store) Get(partition int, key []byte) (set []object.Sibling, err error) {
	err = s.withValue(partition, key, func(v []byte) (err error) {
		set, err = object.Decode(v)
		return err
	})
	return set, err
}

// GetEncoded returns the object stored for key in partition in its wire
// form (object.Encode), copied; nil when there is none.
func (s *Store) GetEncoded(partition int, key []byte) (b []byte, err error) {
	err = s.withValue(partition, key, func(v []byte) error {
		b = bytes.Clone(v)
		return nil
	})
	return b, err
}

// withValue calls use with the bytes stored for key, which stay valid only
// during the call; use is not called when nothing is stored.
func (s *Store) withValue(partition int, key []byte, use func(v []byte) error) error {
	if err := s.readable(); err != nil {
		return fmt.Errorf("get %q: %w", key, err)
	}
	if !s.mayHold('d', partition, key) {
		return nil
	}
	v, closer, err := s.db.Get(dataKey(partition, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %q: %w", key, err)
	}
	defer closer.Close()
	if err := use(v); err != nil {
		return fmt.Errorf("get %q: %w", key, err)
	}
	return nil
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
func (s *Store) PutBatch(writes []Write) error { return s.CommitBatch(writes, nil) }

// CommitBatch is PutBatch with acceptor states of strong keys in the same
// batch: a vnode's group commit makes both durable with one fsync before
// it sends any reply.
func (s *Store) CommitBatch(writes []Write, acceptors []AcceptorWrite) error {
	b := s.db.NewBatch()
	defer b.Close()
	for _, a := range acceptors {
		if len(a.Key) == 0 {
			return ErrEmptyKey
		}
		enc, err := proto.Marshal(paxospb.StateToProto(a.State))
		if err != nil {
			return fmt.Errorf("put acceptor state %q: %w", a.Key, err)
		}
		s.willHold('p', a.Partition, a.Key)
		if err := b.Set(acceptorKey(a.Partition, a.Key), enc, nil); err != nil {
			return fmt.Errorf("put acceptor state %q: %w", a.Key, err)
		}
	}
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
			s.willHold('d', w.Partition, w.Key)
			if err := b.Set(dataKey(w.Partition, w.Key), enc, nil); err != nil {
				return fmt.Errorf("put %q: %w", w.Key, err)
			}
		}
	}
	added, err := s.stageHints(b, writes)
	if err != nil {
		return err
	}
	if err := s.commit(func() string { return fmt.Sprintf("commit %d writes", len(writes)+len(acceptors)) }, onlyDeletes(writes, acceptors), func(*pebble.DB) error { return b.Commit(s.write) }); err != nil {
		s.unstageHints(added)
		return err
	}
	return nil
}

// onlyDeletes reports whether a batch only deletes objects (reaped
// tombstones, without hints): it frees space, so the free-space reserve
// does not hold it back.
func onlyDeletes(writes []Write, acceptors []AcceptorWrite) bool {
	if len(acceptors) > 0 {
		return false
	}
	for _, w := range writes {
		if !w.Delete || w.HintFor != "" {
			return false
		}
	}
	return true
}

// RawEntry is a stored object as bytes, for streaming a partition.
type RawEntry struct {
	Key, Value []byte
}

// Scan returns up to maxKeys objects of partition (and about maxBytes at
// most, but at least one) with keys after after, in key order; more reports
// whether keys remain.
func (s *Store) Scan(partition int, after []byte, maxKeys, maxBytes int) (entries []RawEntry, more bool, err error) {
	entries, more, err = s.scanPrefix('d', partition, after, maxKeys, maxBytes)
	if err != nil {
		err = fmt.Errorf("scan partition %d: %w", partition, err)
	}
	return entries, more, err
}

// scanPrefix pages through the keys of partition under prefix (d: objects,
// p: acceptor states), as Scan describes.
func (s *Store) scanPrefix(prefix byte, partition int, after []byte, maxKeys, maxBytes int) (entries []RawEntry, more bool, err error) {
	start := partitionKey(prefix, partition, nil)
	lower := start
	if len(after) > 0 {
		lower = append(partitionKey(prefix, partition, after), 0) // the next key after "after"
	}
	if err := s.readable(); err != nil {
		return nil, false, err
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(start)})
	if err != nil {
		return nil, false, err
	}
	defer it.Close()
	size := 0
	for it.First(); it.Valid(); it.Next() {
		if len(entries) >= maxKeys || (len(entries) > 0 && size+len(it.Value()) > maxBytes) {
			return entries, true, it.Error()
		}
		entries = append(entries, RawEntry{Key: bytes.Clone(it.Key()[len(start):]), Value: bytes.Clone(it.Value())})
		size += len(it.Key()) + len(it.Value())
	}
	return entries, false, it.Error()
}

// DropPartition deletes every object of partition, durably. A node calls it
// for a partition it holds no replica of once nothing it keeps there is
// still needed (see package reap). Acceptor state of strong keys (p/) is
// not touched: DropPartitionAcceptors drops it.
func (s *Store) DropPartition(partition int) error {
	prefix := dataKey(partition, nil)
	return s.commit(func() string { return fmt.Sprintf("drop partition %d", partition) }, true, func(db *pebble.DB) error {
		return db.DeleteRange(prefix, prefixEnd(prefix), s.write)
	})
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
