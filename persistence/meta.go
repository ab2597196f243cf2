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
