// Package causal owns the causal context as clients carry it: a vector clock
// bound to its key and authenticated with the cluster secret.
//
// A context decides which versions a write supersedes, so a client must not
// be able to make one up: a counter set far ahead, or a clock read from
// another key, would make acknowledged writes vanish. A node therefore
// accepts only contexts that some node of its cluster issued for that very
// key. On the wire a context is
//
//	version (1 byte) | clock (protobuf SealedContext) | tag (16 bytes)
//
// For a key of a last-writer-wins table the clock is followed by the
// highest hybrid logical stamp the client has seen (its read's, or its
// write's): a write made with the context is stamped above it, so it wins
// over what it read, whatever the clocks of the nodes.
//
// where tag is HMAC-SHA256 under the cluster secret, truncated, over a
// domain-separation label, the version, the key's length, the key and the
// clock. Clients treat the whole as an opaque byte string, as before.
//
// A Sealer holds a list of secrets: the first seals, every one opens. To
// rotate, deploy [new, old] on every node, then [new] once contexts sealed
// with old are no longer in use.
package causal

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync"

	"github.com/harmoniakv/harmonia/cluster/hlc"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/vclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// DefaultSecret is the built-in secret, for local clusters and tests only.
// With it, bit flips and contexts of other keys are still refused, but
// anyone who reads this source can forge a context.
const DefaultSecret = "harmonia built-in cluster secret: local clusters and tests only"

// MinSecretLen is the shortest secret a Sealer takes, in bytes.
const MinSecretLen = 16

// ErrNotIssued reports a context whose tag does not verify: forged,
// corrupted, issued for another key, or sealed with another secret.
var ErrNotIssued = errors.New("context was not issued by this cluster for this key")

// ErrMalformed reports bytes that are not a context at all.
var ErrMalformed = errors.New("malformed context")

const (
	version = 1
	tagLen  = 16
	// The labels keep a context's tag from ever equalling a fingerprint (or
	// any other HMAC a later version computes under the same secret).
	contextLabel     = "harmonia/causal-context\x00"
	fingerprintLabel = "harmonia/cluster-fingerprint\x00"
	fingerprintLen   = 8 // bytes, printed as 16 hex digits
)

// Sealer seals and opens contexts. It is safe for concurrent use.
type Sealer struct {
	secrets [][]byte
	// macs holds, per secret, MACs keyed with it: keying one costs two
	// SHA-256 blocks and a seal is on every get's answer.
	macs []sync.Pool
}

// NewSealer returns a Sealer that seals with secrets[0] and opens with any
// of secrets.
func NewSealer(secrets [][]byte) (*Sealer, error) {
	if len(secrets) == 0 {
		return nil, errors.New("cluster secrets: none given")
	}
	s := &Sealer{secrets: make([][]byte, len(secrets)), macs: make([]sync.Pool, len(secrets))}
	for i, sec := range secrets {
		if len(sec) < MinSecretLen {
			return nil, fmt.Errorf("cluster secret %d of %d: %d bytes, at least %d needed", i+1, len(secrets), len(sec), MinSecretLen)
		}
		own := bytes.Clone(sec)
		s.secrets[i] = own
		s.macs[i].New = func() any { return &macState{h: hmac.New(sha256.New, own)} }
	}
	return s, nil
}

// macState is a keyed MAC with room for what tagOf writes and sums, so
// that a tag costs no allocation.
type macState struct {
	h   hash.Hash
	buf [64]byte // the longest label, a format byte and a length; then a sum
}

// tagOf appends to dst the truncated MAC, under secret i, of a sealed
// payload of one kind (label) and format version for key.
func (s *Sealer) tagOf(dst []byte, i int, label string, ver byte, key, payload []byte) []byte {
	m := s.macs[i].Get().(*macState)
	defer s.macs[i].Put(m)
	m.h.Reset()
	// The length keeps (key, clock) pairs from sharing an encoding.
	b := append(m.buf[:0], label...)
	b = append(b, ver)
	m.h.Write(binary.BigEndian.AppendUint64(b, uint64(len(key))))
	m.h.Write(key)
	m.h.Write(payload)
	return append(dst, m.h.Sum(m.buf[:0])[:tagLen]...)
}

// Seal returns the context clients carry for clock read or written at key;
// nil for an empty clock, so that a blind write's context stays empty.
func (s *Sealer) Seal(key []byte, c vclock.Clock) []byte {
	return s.SealStamped(key, c, hlc.Timestamp{})
}

// SealStamped is Seal for a key of a last-writer-wins table, whose context
// also carries stamp, the highest the client has seen; nil when both are
// empty.
func (s *Sealer) SealStamped(key []byte, c vclock.Clock, stamp hlc.Timestamp) []byte {
	if len(c) == 0 && stamp.IsZero() {
		return nil
	}
	return s.sealed(contextLabel, version, key, sealedContextSize(c, stamp), func(b []byte) []byte { return appendSealedContext(b, c, stamp) })
}

// The SealedContext message, encoded by hand as deterministic protobuf
// marshalling would (fields in number order, zero scalars left out;
// TestSealedContextEncoding holds the two equal): building the protobuf
// structs was most of a seal's allocations. Opening still decodes with
// protobuf, so any valid encoding opens.
const (
	sealedEntriesField = 1 // SealedContext.entries
	sealedStampField   = 2 // SealedContext.stamp
	entryNodeField     = 1 // ClockEntry.node
	entryIncField      = 2 // ClockEntry.incarnation
	entryCounterField  = 3 // ClockEntry.counter
	entryTimeField     = 4 // ClockEntry.timestamp
)

func clockEntrySize(e vclock.Entry) int {
	n := 0
	if e.Node != "" {
		n += protowire.SizeTag(entryNodeField) + protowire.SizeBytes(len(e.Node))
	}
	if e.Incarnation != 0 {
		n += protowire.SizeTag(entryIncField) + protowire.SizeVarint(e.Incarnation)
	}
	if e.Counter != 0 {
		n += protowire.SizeTag(entryCounterField) + protowire.SizeVarint(e.Counter)
	}
	if e.Timestamp != 0 {
		n += protowire.SizeTag(entryTimeField) + protowire.SizeVarint(uint64(e.Timestamp))
	}
	return n
}

func sealedContextSize(c vclock.Clock, stamp hlc.Timestamp) int {
	n := 0
	for _, e := range c {
		n += protowire.SizeTag(sealedEntriesField) + protowire.SizeBytes(clockEntrySize(e))
	}
	if !stamp.IsZero() {
		n += protowire.SizeTag(sealedStampField) + protowire.SizeBytes(hlc.EncodedLen(stamp))
	}
	return n
}

func appendSealedContext(b []byte, c vclock.Clock, stamp hlc.Timestamp) []byte {
	for _, e := range c {
		b = protowire.AppendTag(b, sealedEntriesField, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(clockEntrySize(e)))
		if e.Node != "" {
			b = protowire.AppendTag(b, entryNodeField, protowire.BytesType)
			b = protowire.AppendString(b, e.Node)
		}
		if e.Incarnation != 0 {
			b = protowire.AppendTag(b, entryIncField, protowire.VarintType)
			b = protowire.AppendVarint(b, e.Incarnation)
		}
		if e.Counter != 0 {
			b = protowire.AppendTag(b, entryCounterField, protowire.VarintType)
			b = protowire.AppendVarint(b, e.Counter)
		}
		if e.Timestamp != 0 {
			b = protowire.AppendTag(b, entryTimeField, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(e.Timestamp))
		}
	}
	if !stamp.IsZero() {
		b = protowire.AppendTag(b, sealedStampField, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(hlc.EncodedLen(stamp)))
		b = hlc.Append(b, stamp)
	}
	return b
}

// seal is format | m (deterministic protobuf) | the tag of label, format,
// key and m under the sealing secret.
func (s *Sealer) seal(label string, format byte, key []byte, m proto.Message) []byte {
	opts := proto.MarshalOptions{Deterministic: true}
	return s.sealed(label, format, key, opts.Size(m), func(b []byte) []byte {
		out, err := opts.MarshalAppend(b, m)
		if err != nil {
			panic(fmt.Sprintf("marshal %T: %v", m, err)) // cannot fail for a well-formed message
		}
		return out
	})
}

// sealed is format | the size bytes of payload that appendPayload appends
// | the tag of label, format, key and payload under the sealing secret, in
// one allocation.
func (s *Sealer) sealed(label string, format byte, key []byte, size int, appendPayload func([]byte) []byte) []byte {
	out := appendPayload(append(make([]byte, 0, 1+size+tagLen), format))
	return s.tagOf(out, 0, label, format, key, out[1:])
}

// open checks that b is format | payload | a tag of label, format, key and
// payload under one of the secrets, and returns the payload. Errors wrap
// ErrMalformed (what names the kind in its messages) or ErrNotIssued.
func (s *Sealer) open(label string, format byte, what string, key, b []byte) ([]byte, error) {
	if b[0] != format {
		return nil, fmt.Errorf("%w: not %s (format %d)", ErrMalformed, what, b[0])
	}
	if len(b) < 1+tagLen {
		return nil, fmt.Errorf("%w: %d bytes, shorter than a tag", ErrMalformed, len(b))
	}
	payload, got := b[1:len(b)-tagLen], b[len(b)-tagLen:]
	ok := false
	var tag [tagLen]byte
	for i := range s.secrets {
		// Every secret is tried, so the time taken does not say which matched.
		if hmac.Equal(s.tagOf(tag[:0], i, label, format, key, payload), got) {
			ok = true
		}
	}
	if !ok {
		return nil, ErrNotIssued
	}
	return payload, nil
}

// Open verifies that b is a context this cluster issued for key and returns
// its clock. Empty b means no context: nil, nil. Errors wrap ErrMalformed or
// ErrNotIssued.
func (s *Sealer) Open(key, b []byte) (vclock.Clock, error) {
	c, _, err := s.OpenStamped(key, b)
	return c, err
}

// OpenStamped is Open that also returns the stamp the context carries
// (zero when none: a table that keeps siblings, or no context).
func (s *Sealer) OpenStamped(key, b []byte) (vclock.Clock, hlc.Timestamp, error) {
	if len(b) == 0 {
		return nil, hlc.Timestamp{}, nil
	}
	payload, err := s.open(contextLabel, version, "a causal context", key, b)
	if err != nil {
		return nil, hlc.Timestamp{}, err
	}
	var p internalpb.SealedContext
	if err := proto.Unmarshal(payload, &p); err != nil {
		// Only a node of this cluster could have sealed it: a bug, not an attack.
		return nil, hlc.Timestamp{}, fmt.Errorf("%w: authentic but unreadable clock: %v", ErrMalformed, err)
	}
	stamp, err := object.StampFromProto(p.Stamp)
	if err != nil {
		return nil, hlc.Timestamp{}, fmt.Errorf("%w: authentic but unreadable stamp: %v", ErrMalformed, err)
	}
	return object.ClockFromProto(&internalpb.VClock{Entries: p.Entries}), stamp, nil
}

// Fingerprints identify the secrets without revealing them, the sealing
// secret's first: nodes compare them to refuse a peer that seals with a
// secret they cannot open, or opens none of theirs.
func (s *Sealer) Fingerprints() []string {
	out := make([]string, len(s.secrets))
	for i, sec := range s.secrets {
		mac := hmac.New(sha256.New, sec)
		mac.Write([]byte(fingerprintLabel))
		out[i] = hex.EncodeToString(mac.Sum(nil)[:fingerprintLen])
	}
	return out
}
