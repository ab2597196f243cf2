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
	fb, err := proto.Marshal(paxospb.BallotToProto(floor))
	if err != nil {
		return fmt.Errorf("drop acceptor states of partition %d: %w", partition, err)
	}
	return s.commit(func() string { return fmt.Sprintf("drop %d acceptor states of partition %d", len(keys), partition) }, true, func(db *pebble.DB) error {
		b := db.NewBatch()
		defer b.Close()
		if err := b.Set(floorKey(partition), fb, nil); err != nil {
			return err
		}
		for _, k := range keys {
			if err := b.Delete(acceptorKey(partition, k), nil); err != nil {
				return err
			}
		}
		return b.Commit(s.write)
	})
}
