package causal

import (
	"fmt"

	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxospb"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/proto"
)

// The version of a strong key, as clients carry it (a get's context, a
// put's if_version): the register's version (paxos.Value.Version) sealed
// like a causal context, under its own label, so that neither kind opens
// as the other and a version read from one key (or table) is refused for
// another. On the wire:
//
//	versionFormat (1 byte) | ballot (protobuf PaxosBallot) | tag (16 bytes)

const (
	versionFormat = 2
	versionLabel  = "harmonia/strong-version\x00"
)

// SealVersion returns the version clients carry for a register of key at
// version b; nil for the zero ballot (never written).
func (s *Sealer) SealVersion(key []byte, b paxos.Ballot) []byte {
	if b.IsZero() {
		return nil
	}
	return s.seal(versionLabel, versionFormat, key, paxospb.BallotToProto(b))
}

// OpenVersion verifies that b is a version this cluster issued for key
// and returns it. Errors wrap ErrMalformed or ErrNotIssued; a causal
// context of the eventual path is ErrMalformed here.
func (s *Sealer) OpenVersion(key, b []byte) (paxos.Ballot, error) {
	if len(b) == 0 {
		return paxos.Ballot{}, fmt.Errorf("%w: empty", ErrMalformed)
	}
	payload, err := s.open(versionLabel, versionFormat, "a version of a strong key", key, b)
	if err != nil {
		return paxos.Ballot{}, err
	}
	var pb internalpb.PaxosBallot
	if err := proto.Unmarshal(payload, &pb); err != nil {
		return paxos.Ballot{}, fmt.Errorf("%w: authentic but unreadable version: %v", ErrMalformed, err)
	}
	v, err := paxospb.RequiredBallot(&pb)
	if err != nil {
		return paxos.Ballot{}, fmt.Errorf("%w: authentic but invalid version: %v", ErrMalformed, err)
	}
	return v, nil
}
