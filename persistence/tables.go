package persistence

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Tables: the catalog this node last learned (m/catalog, encoded by
// cluster/catalog), the deleted tables whose data it has removed
// (m/purged/<id:4 bytes BE>), and the removal itself.

var keyCatalog = []byte("m/catalog")

func purgedKey(id uint32) []byte { return binary.BigEndian.AppendUint32([]byte("m/purged/"), id) }

// SaveCatalog durably records the catalog this node learned, so that from
// its next start it refuses data of tables deleted meanwhile.
func (s *Store) SaveCatalog(encoded []byte) error {
	return s.commit(func() string { return "save catalog" }, false, func(db *pebble.DB) error {
		return db.Set(keyCatalog, encoded, s.write)
	})
}

// Catalog returns what SaveCatalog last recorded (nil if nothing).
func (s *Store) Catalog() ([]byte, error) {
	return s.metaValue(keyCatalog, "load catalog")
}

// Purged reports whether the data of deleted table id was removed here.
func (s *Store) Purged(id uint32) (bool, error) {
	v, err := s.metaValue(purgedKey(id), "load purge mark")
	return v != nil, err
}

// MarkPurged records that the data of deleted table id was removed from
// every partition here.
func (s *Store) MarkPurged(id uint32) error {
	return s.commit(func() string { return fmt.Sprintf("mark table %d purged", id) }, true, func(db *pebble.DB) error {
		return db.Set(purgedKey(id), []byte{1}, s.write)
	})
}

// DropKeys deletes, durably, every object and acceptor state of partition
// whose key starts with prefix (the keys of one deleted table).
func (s *Store) DropKeys(partition int, prefix []byte) error {
	return s.commit(func() string { return fmt.Sprintf("drop keys %q of partition %d", prefix, partition) }, true, func(db *pebble.DB) error {
		b := db.NewBatch()
		defer b.Close()
		for _, p := range [][]byte{dataKey(partition, prefix), acceptorKey(partition, prefix)} {
			if err := b.DeleteRange(p, prefixEnd(p), nil); err != nil {
				return err
			}
		}
		return b.Commit(s.write)
	})
}

// metaValue reads one record, copied; nil when there is none.
func (s *Store) metaValue(key []byte, what string) ([]byte, error) {
	if err := s.readable(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer closer.Close()
	return bytes.Clone(v), nil
}
