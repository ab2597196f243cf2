package persistence

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxospb"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/proto"
)

// Acceptor state of strong keys: p/<partition>/<key>, one paxos.State per
// register (protobuf PaxosState).
//
// It lives outside d/ on purpose: the eventual path's scans (Merkle trees,
// bucket reads), reaping and DropPartition work on d/<partition>/ only, so
// they neither see nor destroy it. DropPartition in particular keeps it: a
// node drops a partition after handing it off, and while a transfer carries
// the chosen values to the new replicas (ScanAcceptors), it does not carry
// this node's promises, which peers may still count on (Paxos safety).
// Dropping acceptor state comes with its own rule (issue 21: only once
// every replica holds the committed value and the grace has passed).

func acceptorKey(partition int, key []byte) []byte { return partitionKey('p', partition, key) }

// AcceptorWrite replaces one register's acceptor state in a CommitBatch.
type AcceptorWrite struct {
	Partition int
	Key       []byte
	State     paxos.State
}

// AcceptorState returns the acceptor state of register key in partition;
// the zero State (nothing promised or accepted) when there is none.
func (s *Store) AcceptorState(partition int, key []byte) (paxos.State, error) {
	if err := s.readable(); err != nil {
		return paxos.State{}, fmt.Errorf("get acceptor state %q: %w", key, err)
	}
	v, closer, err := s.db.Get(acceptorKey(partition, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return paxos.State{}, nil
	}
	if err != nil {
		return paxos.State{}, fmt.Errorf("get acceptor state %q: %w", key, err)
	}
	defer closer.Close()
	var pb internalpb.PaxosState
	if err := proto.Unmarshal(v, &pb); err != nil {
		return paxos.State{}, fmt.Errorf("get acceptor state %q: %w", key, err)
	}
	st, err := paxospb.StateFromProto(&pb)
	if err != nil {
		return paxos.State{}, fmt.Errorf("get acceptor state %q: %w", key, err)
	}
	return st, nil
}

// AcceptorEntry is one register's stored acceptor state, as the protobuf
// PaxosState it is stored as (a transfer sends it on as it is).
type AcceptorEntry struct {
	Key   []byte
	State *internalpb.PaxosState
}

// ScanAcceptors returns up to maxKeys acceptor states of partition (and
// about maxBytes at most, but at least one) with register keys after
// after, in key order; more reports whether registers remain. A state that
// does not decode is an error: a transfer must not skip a register.
func (s *Store) ScanAcceptors(partition int, after []byte, maxKeys, maxBytes int) (entries []AcceptorEntry, more bool, err error) {
	raw, more, err := s.scanPrefix('p', partition, after, maxKeys, maxBytes)
	if err != nil {
		return nil, false, fmt.Errorf("scan acceptor states of partition %d: %w", partition, err)
	}
	entries = make([]AcceptorEntry, len(raw))
	for i, e := range raw {
		var pb internalpb.PaxosState
		if err := proto.Unmarshal(e.Value, &pb); err != nil {
			return nil, false, fmt.Errorf("scan acceptor states of partition %d: register %q: %w", partition, e.Key, err)
		}
		entries[i] = AcceptorEntry{Key: e.Key, State: &pb}
	}
	return entries, more, nil
}
