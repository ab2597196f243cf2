package persistence

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/proto"
)

// Metadata: the ring parameters, handoff cursors and the last known
// membership, under m/ and x/.

// BindRing records the ring parameters of a new data directory, durably, and
// checks those of an existing one: its objects are placed by them, so a
// node restarted with others would look for keys where they are not.
func (s *Store) BindRing(partitions, replicas int) error {
	want := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(partitions)), uint32(replicas))
	if err := s.readable(); err != nil {
		return fmt.Errorf("read ring parameters in %s: %w", s.dir, err)
	}
	v, closer, err := s.db.Get(keyRing)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		return s.commit(func() string { return "record ring parameters in " + s.dir }, false, func(db *pebble.DB) error { return db.Set(keyRing, want, pebble.Sync) })
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

func handoffKey(partition int) []byte {
	return binary.BigEndian.AppendUint32([]byte("x/"), uint32(partition))
}

// HandoffCursor returns the saved progress of partition's incoming transfer
// (nil if none).
func (s *Store) HandoffCursor(partition int) (*internalpb.HandoffCursor, error) {
	if err := s.readable(); err != nil {
		return nil, fmt.Errorf("load handoff cursor %d: %w", partition, err)
	}
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
	return s.commit(func() string { return fmt.Sprintf("save handoff cursor %d", partition) }, false, func(db *pebble.DB) error {
		return db.Set(handoffKey(partition), b, s.write)
	})
}

// SaveMembers records the membership this node last knew, so a restarted
// node can find its peers without a seed.
func (s *Store) SaveMembers(snapshot *internalpb.MembershipSnapshot) error {
	b, err := proto.Marshal(snapshot)
	if err != nil {
		return fmt.Errorf("save members: %w", err)
	}
	return s.commit(func() string { return "save members" }, false, func(db *pebble.DB) error { return db.Set(keyMembers, b, pebble.NoSync) })
}

// Members returns what SaveMembers last recorded.
func (s *Store) Members() (*internalpb.MembershipSnapshot, error) {
	if err := s.readable(); err != nil {
		return nil, fmt.Errorf("load members: %w", err)
	}
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
