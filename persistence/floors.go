package persistence

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxospb"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/proto"
)

// Dropped acceptor state: f/<partition>/ holds the partition's floor, the
// highest promise among the registers whose state was dropped (paxos.EmptyAt:
// no ballot below it is promised or accepted again).

func floorKey(partition int) []byte { return partitionKey('f', partition, nil) }

// AcceptorFloor returns partition's floor (the zero ballot if none).
func (s *Store) AcceptorFloor(partition int) (paxos.Ballot, error) {
	v, err := s.metaValue(floorKey(partition), fmt.Sprintf("load acceptor floor %d", partition))
	if err != nil || v == nil {
		return paxos.Ballot{}, err
	}
	var pb internalpb.PaxosBallot
	if err := proto.Unmarshal(v, &pb); err != nil {
		return paxos.Ballot{}, fmt.Errorf("load acceptor floor %d: %w", partition, err)
	}
	b, err := paxospb.BallotFromProto(&pb)
	if err != nil {
		return paxos.Ballot{}, fmt.Errorf("load acceptor floor %d: %w", partition, err)
	}
	return b, nil
}

// DropAcceptors deletes the acceptor state of keys in partition and sets
// its floor, in one synced batch: the floor is never lower than what it
// stands for.
func (s *Store) DropAcceptors(partition int, keys [][]byte, floor paxos.Ballot) error {
	return s.dropUnderFloor(partition, floor, fmt.Sprintf("drop %d acceptor states of partition %d", len(keys), partition), func(b *pebble.Batch) error {
		for _, k := range keys {
			if err := b.Delete(acceptorKey(partition, k), nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// dropScanKeys and dropScanBytes bound the acceptor states
// DropPartitionAcceptors reads at a time to raise the floor over them.
const (
	dropScanKeys  = 1000
	dropScanBytes = 4 << 20
)

// DropPartitionAcceptors deletes every acceptor state of partition and
// raises its floor above each of their promises (paxos.RaiseFloor), in one
// synced batch, and returns the floor. A node calls it for a partition it
// is no longer a replica of, with the ring stable (see package reap): it
// votes on none of the partition's keys in that ring, and should it become
// a replica again, a transfer gives it the chosen values of the time. What
// it kept would be stale then, and a register deleted and dropped
// meanwhile would come back from it.
func (s *Store) DropPartitionAcceptors(partition int) (paxos.Ballot, error) {
	floor, err := s.AcceptorFloor(partition)
	if err != nil {
		return floor, err
	}
	var after []byte
	for {
		entries, more, err := s.ScanAcceptors(partition, after, dropScanKeys, dropScanBytes)
		if err != nil {
			return floor, err
		}
		for _, e := range entries {
			st, err := paxospb.StateFromProto(e.State)
			if err != nil {
				return floor, fmt.Errorf("drop the acceptor states of partition %d: register %q: %w", partition, e.Key, err)
			}
			floor = paxos.RaiseFloor(floor, st)
		}
		if !more || len(entries) == 0 {
			break
		}
		after = entries[len(entries)-1].Key
	}
	prefix := acceptorKey(partition, nil)
	return floor, s.dropUnderFloor(partition, floor, fmt.Sprintf("drop the acceptor states of partition %d", partition), func(b *pebble.Batch) error {
		return b.DeleteRange(prefix, prefixEnd(prefix), nil)
	})
}

// dropUnderFloor sets partition's floor and deletes what del adds to the
// batch, in one synced batch.
func (s *Store) dropUnderFloor(partition int, floor paxos.Ballot, what string, del func(*pebble.Batch) error) error {
	fb, err := proto.Marshal(paxospb.BallotToProto(floor))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return s.commit(func() string { return what }, true, func(db *pebble.DB) error {
		b := db.NewBatch()
		defer b.Close()
		if err := b.Set(floorKey(partition), fb, nil); err != nil {
			return err
		}
		if err := del(b); err != nil {
			return err
		}
		return b.Commit(s.write)
	})
}
