package object

import (
	"errors"
	"fmt"

	"github.com/harmoniakv/harmonia/cluster/crdt"
	"github.com/harmoniakv/harmonia/cluster/hlc"
	"github.com/harmoniakv/harmonia/cluster/vclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/proto"
)

// ClockToProto converts a clock to its wire form.
func ClockToProto(c vclock.Clock) *internalpb.VClock {
	if len(c) == 0 {
		return nil
	}
	out := &internalpb.VClock{Entries: make([]*internalpb.ClockEntry, len(c))}
	for i, e := range c {
		out.Entries[i] = &internalpb.ClockEntry{Node: e.Node, Incarnation: e.Incarnation, Counter: e.Counter, Timestamp: e.Timestamp}
	}
	return out
}

// ClockFromProto converts a wire clock, normalising it (sorted, one entry per
// actor) since it may come from an untrusted peer or client.
func ClockFromProto(p *internalpb.VClock) vclock.Clock {
	entries := make([]vclock.Entry, 0, len(p.GetEntries()))
	for _, e := range p.GetEntries() {
		entries = append(entries, vclock.Entry{
			Actor:   vclock.Actor{Node: e.GetNode(), Incarnation: e.GetIncarnation()},
			Counter: e.GetCounter(), Timestamp: e.GetTimestamp(),
		})
	}
	return vclock.New(entries...)
}

// ToProto converts a sibling set to its wire and storage form.
func ToProto(set []Sibling) *internalpb.Object {
	out := &internalpb.Object{Siblings: make([]*internalpb.Sibling, len(set))}
	for i, s := range set {
		out.Siblings[i] = &internalpb.Sibling{
			Value:     s.Value,
			Dot:       DotToProto(s.Dot),
			Context:   ClockToProto(s.Context),
			Deleted:   s.Deleted,
			WrittenAt: s.WrittenAt,
			Stamp:     StampToProto(s.Stamp),
			Datatype:  s.Datatype,
		}
	}
	return out
}

// StampToProto encodes a stamp for the wire; nil for no stamp.
func StampToProto(t hlc.Timestamp) []byte {
	if t.IsZero() {
		return nil
	}
	return hlc.Append(nil, t)
}

// StampFromProto decodes a stamp from a peer or the store: empty is no
// stamp; anything else must be exactly one valid stamp.
func StampFromProto(b []byte) (hlc.Timestamp, error) {
	if len(b) == 0 {
		return hlc.Timestamp{}, nil
	}
	t, rest, err := hlc.Decode(b)
	if err != nil {
		return hlc.Timestamp{}, err
	}
	if len(rest) > 0 {
		return hlc.Timestamp{}, fmt.Errorf("%w: %d bytes after the timestamp", hlc.ErrInvalid, len(rest))
	}
	return t, nil
}

// DotToProto converts a dot to its wire form.
func DotToProto(d vclock.Dot) *internalpb.Dot {
	return &internalpb.Dot{Node: d.Node, Incarnation: d.Incarnation, Counter: d.Counter}
}

// DotFromProto converts a wire dot back (zero for nil).
func DotFromProto(d *internalpb.Dot) vclock.Dot {
	return vclock.Dot{Actor: vclock.Actor{Node: d.GetNode(), Incarnation: d.GetIncarnation()}, Counter: d.GetCounter()}
}

// ErrNoDot reports a sibling without a dot, which no coordinator produces.
var ErrNoDot = errors.New("sibling has no dot")

// FromProto converts a wire object back into a reconciled sibling set.
func FromProto(p *internalpb.Object) ([]Sibling, error) {
	set := make([]Sibling, 0, len(p.GetSiblings()))
	for i, s := range p.GetSiblings() {
		d := s.GetDot()
		if d.GetCounter() == 0 {
			return nil, fmt.Errorf("sibling %d: %w", i, ErrNoDot)
		}
		stamp, err := StampFromProto(s.GetStamp())
		if err != nil {
			return nil, fmt.Errorf("sibling %d: %w", i, err)
		}
		if s.GetDatatype() {
			// Merge cannot refuse: a CRDT state is checked here, where
			// objects come in from peers and the disk.
			if !stamp.IsZero() || s.GetDeleted() {
				return nil, fmt.Errorf("sibling %d: a CRDT state is neither stamped nor deleted", i)
			}
			st, err := crdt.Decode(s.GetValue(), DatatypeLimits)
			if err != nil {
				return nil, fmt.Errorf("sibling %d: %w", i, err)
			}
			// Every CRDT value is a map of fields, so two states of a key
			// always merge.
			if k := st.Kind(); k != 0 && k != crdt.KindMap {
				return nil, fmt.Errorf("sibling %d: a CRDT value is a map, not a %s", i, k)
			}
		}
		set = append(set, Sibling{
			Value:     s.GetValue(),
			Dot:       DotFromProto(d),
			Context:   ClockFromProto(s.GetContext()),
			Deleted:   s.GetDeleted(),
			WrittenAt: s.GetWrittenAt(),
			Stamp:     stamp,
			Datatype:  s.GetDatatype(),
		})
	}
	if len(set) == 1 && !set[0].Datatype {
		return set, nil // what Merge would return, without its two copies
	}
	return Merge(nil, set), nil
}

// Encode serialises a sibling set for storage.
func Encode(set []Sibling) ([]byte, error) { return proto.Marshal(ToProto(set)) }

// Decode parses what Encode produced.
func Decode(b []byte) ([]Sibling, error) {
	var p internalpb.Object
	if err := proto.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("decode object: %w", err)
	}
	return FromProto(&p)
}
