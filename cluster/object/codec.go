package object

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/harmoniakv/harmonia/cluster/crdt"
	"github.com/harmoniakv/harmonia/cluster/hlc"
	"github.com/harmoniakv/harmonia/cluster/vclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
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

// SoleVersion reads, from an encoded object (Encode's), the value of its
// one version and whether that version is a tombstone, without decoding
// the rest: what a read of a last-writer-wins key mostly needs. ok is
// false when the object holds no version or several, a CRDT state,
// fields of a form Encode does not write, or a version without a dot:
// Decode then reads it, and refuses what is malformed. It checks only
// what it reads (a malformed clock or stamp beside the value is not
// noticed): objects come from a replica's disk, each written by Encode.
func SoleVersion(b []byte) (value []byte, deleted, ok bool) {
	sibling, rest, ok := nextSibling(b)
	if !ok || len(rest) > 0 {
		return nil, false, false
	}
	f, ok := readSibling(sibling)
	if !ok || f.datatype || dotCounter(f.dot) == 0 {
		return nil, false, false
	}
	return f.value, f.deleted, true
}

// siblingFields is what SoleVersion and AppendEncodedVersions read of an
// encoded sibling.
type siblingFields struct {
	value, dot        []byte
	deleted, datatype bool
}

// nextSibling cuts the first sibling of an encoded object from the rest;
// ok is false when b does not start with one.
func nextSibling(b []byte) (sibling, rest []byte, ok bool) {
	num, typ, n := consumeTag(b)
	if n < 0 || num != objectSiblingsField || typ != protowire.BytesType {
		return nil, nil, false
	}
	sibling, m := protowire.ConsumeBytes(b[n:])
	if m < 0 {
		return nil, nil, false
	}
	return sibling, b[n+m:], true
}

// readSibling reads an encoded sibling in the form Encode writes: each
// field once, none it does not write; ok is false for any other form (a
// reader then leaves it to Decode). Its clock, write time and stamp are
// skipped: written with the dot, once, the dot tells them.
func readSibling(b []byte) (f siblingFields, ok bool) {
	var seen [4]bool // value, dot, deleted, datatype
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return f, false
		}
		b = b[n:]
		field := -1
		var v uint64
		switch {
		case num == siblingValueField && typ == protowire.BytesType:
			field = 0
			f.value, n = protowire.ConsumeBytes(b)
		case num == siblingDotField && typ == protowire.BytesType:
			field = 1
			f.dot, n = protowire.ConsumeBytes(b)
		case num == siblingDeletedField && typ == protowire.VarintType:
			field = 2
			v, n = protowire.ConsumeVarint(b)
			f.deleted = v != 0
		case num == siblingDatatypeField && typ == protowire.VarintType:
			field = 3
			v, n = protowire.ConsumeVarint(b)
			f.datatype = v != 0
		case num == siblingContextField || num == siblingWrittenAtField || num == siblingStampField:
			n = protowire.ConsumeFieldValue(num, typ, b)
		default:
			return f, false
		}
		if n < 0 {
			return f, false
		}
		if field >= 0 {
			if seen[field] {
				return f, false // protobuf would merge the two; Encode writes one
			}
			seen[field] = true
		}
		b = b[n:]
	}
	return f, true
}

// AppendEncodedVersions appends to dst what tells an encoded object's
// versions (Encode's bytes) from another's, as VersionDigest names a
// decoded set's for anti-entropy: each version's dot, as encoded, whether
// it is a tombstone, and a CRDT state's bytes (merged in place, under one
// dot). A dot names one write, which every replica stores with the same
// value, so two objects of equal versions hold the same writes: in a range
// read, a replica's versions stand for its objects (Cassandra's digest
// read, with nothing to hash). An object not in the form Encode writes (a
// field it does not write, one twice, a version without a dot) is told by
// a SHA-256 of its bytes, after another first byte: it equals no version
// but that of the same bytes.
func AppendEncodedVersions(dst, b []byte) []byte {
	start := len(dst)
	dst = append(dst, versionOfDots)
	for rest := b; len(rest) > 0; {
		sibling, r, ok := nextSibling(rest)
		if !ok {
			return appendBytesVersion(dst[:start], b)
		}
		rest = r
		f, ok := readSibling(sibling)
		if !ok || len(f.dot) == 0 {
			return appendBytesVersion(dst[:start], b)
		}
		dst = protowire.AppendBytes(dst, f.dot)
		flags := uint64(0)
		if f.deleted {
			flags |= 1
		}
		if f.datatype {
			flags |= 2
		}
		dst = protowire.AppendVarint(dst, flags)
		if f.datatype {
			dst = protowire.AppendBytes(dst, f.value)
		}
	}
	return dst
}

// The first byte of AppendEncodedVersions's answer: versions of dots, or
// a hash of an object's bytes.
const (
	versionOfDots  = 1
	versionOfBytes = 2
)

func appendBytesVersion(dst, b []byte) []byte {
	sum := sha256.Sum256(b)
	return append(append(dst, versionOfBytes), sum[:]...)
}

// consumeTag is protowire.ConsumeTag, with the tag of one byte that
// every field of an object has read inline.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	if len(b) > 0 && b[0] < 0x80 && b[0]>>3 != 0 {
		return protowire.Number(b[0] >> 3), protowire.Type(b[0] & 7), 1
	}
	return protowire.ConsumeTag(b)
}

// dotCounter is an encoded dot's counter (0 when it has none, or is not
// a dot's encoding: a dot's counter is never 0).
func dotCounter(b []byte) (counter uint64) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0
		}
		b = b[n:]
		if num == dotCounterField && typ == protowire.VarintType {
			counter, n = protowire.ConsumeVarint(b)
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return 0
		}
		b = b[n:]
	}
	return counter
}

// The field numbers SoleVersion reads, from the messages' descriptors.
var (
	objectSiblingsField   = fieldNumber(&internalpb.Object{}, "siblings")
	siblingValueField     = fieldNumber(&internalpb.Sibling{}, "value")
	siblingDotField       = fieldNumber(&internalpb.Sibling{}, "dot")
	siblingContextField   = fieldNumber(&internalpb.Sibling{}, "context")
	siblingDeletedField   = fieldNumber(&internalpb.Sibling{}, "deleted")
	siblingWrittenAtField = fieldNumber(&internalpb.Sibling{}, "written_at")
	siblingStampField     = fieldNumber(&internalpb.Sibling{}, "stamp")
	siblingDatatypeField  = fieldNumber(&internalpb.Sibling{}, "datatype")
	dotCounterField       = fieldNumber(&internalpb.Dot{}, "counter")
)

func fieldNumber(m proto.Message, name protoreflect.Name) protowire.Number {
	return m.ProtoReflect().Descriptor().Fields().ByName(name).Number()
}
