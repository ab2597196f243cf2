package causal

import (
	"fmt"

	"github.com/harmoniakv/harmonia/cluster/crdt"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/proto"
)

// The context of a CRDT value (a key of a table with conflict = crdt), as
// clients carry it from a Fetch or an Update to the next Update: the
// state's crdt.Context sealed like a causal context, under its own label,
// so that no other kind opens as it and one read from another key (or
// table) is refused. On the wire:
//
//	datatypeFormat (1 byte) | SealedContext{stamp: crdt.EncodeContext} | tag (16 bytes)
//
// The crdt encoding rides in SealedContext's bytes field, so the payload is
// protobuf like the other kinds'.

const (
	datatypeFormat = 3
	datatypeLabel  = "harmonia/crdt-context\x00"
)

// SealDatatype returns the context clients carry for the CRDT value of key
// whose state has context c; nil for the empty context.
func (s *Sealer) SealDatatype(key []byte, c crdt.Context) []byte {
	if c.IsEmpty() {
		return nil
	}
	return s.seal(datatypeLabel, datatypeFormat, key, &internalpb.SealedContext{Stamp: crdt.EncodeContext(c)})
}

// OpenDatatype verifies that b is a context this cluster issued for the
// CRDT value of key and returns it; empty b is the empty context (a blind
// update). Errors wrap ErrMalformed or ErrNotIssued.
func (s *Sealer) OpenDatatype(key, b []byte) (crdt.Context, error) {
	if len(b) == 0 {
		return crdt.Context{}, nil
	}
	payload, err := s.open(datatypeLabel, datatypeFormat, "a context of a CRDT value", key, b)
	if err != nil {
		return crdt.Context{}, err
	}
	var p internalpb.SealedContext
	if err := proto.Unmarshal(payload, &p); err != nil {
		return crdt.Context{}, fmt.Errorf("%w: authentic but unreadable context: %v", ErrMalformed, err)
	}
	c, err := crdt.DecodeContext(p.Stamp, object.DatatypeLimits)
	if err != nil {
		return crdt.Context{}, fmt.Errorf("%w: authentic but unreadable context: %v", ErrMalformed, err)
	}
	return c, nil
}
