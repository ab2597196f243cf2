package causal

import (
	"crypto/hmac"
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
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(paxospb.BallotToProto(b))
	if err != nil {
		panic(fmt.Sprintf("marshal ballot: %v", err)) // cannot fail for a well-formed message
	}
	out := make([]byte, 0, 1+len(payload)+tagLen)
	out = append(out, versionFormat)
	out = append(out, payload...)
	return append(out, tagOf(s.secrets[0], versionLabel, versionFormat, key, payload)...)
}

// OpenVersion verifies that b is a version this cluster issued for key
// and returns it. Errors wrap ErrMalformed or ErrNotIssued; a causal
// context of the eventual path is ErrMalformed here.
func (s *Sealer) OpenVersion(key, b []byte) (paxos.Ballot, error) {
	if len(b) == 0 {
		return paxos.Ballot{}, fmt.Errorf("%w: empty", ErrMalformed)
	}
	if b[0] != versionFormat {
		return paxos.Ballot{}, fmt.Errorf("%w: not a version of a strong key (format %d)", ErrMalformed, b[0])
	}
	if len(b) < 1+tagLen {
		return paxos.Ballot{}, fmt.Errorf("%w: %d bytes, shorter than a tag", ErrMalformed, len(b))
	}
	payload, got := b[1:len(b)-tagLen], b[len(b)-tagLen:]
	ok := false
	for _, sec := range s.secrets {
		if hmac.Equal(tagOf(sec, versionLabel, versionFormat, key, payload), got) {
			ok = true
		}
	}
	if !ok {
		return paxos.Ballot{}, ErrNotIssued
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
