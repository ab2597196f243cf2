// Package hlc owns hybrid logical clocks and the last-writer-wins rule of
// the eventual tables declared with conflict = lww (issue 23): which write
// of a key every replica keeps.
//
// A Timestamp is a physical time (Unix nanoseconds), a logical counter and
// the id of the node that issued it. Timestamps are totally ordered, so the
// highest of them is a winner every replica picks alike, with no
// coordination.
//
// A Clock issues one node's stamps and never goes backwards, even when
// physical time does. Nodes advance their clock on every stamp they
// receive (Observe), refusing one further ahead of local time than
// Config.MaxForwardDrift. A coordinator stamps a write with After: given the
// highest stamp the writer had seen (the one in the context it read with,
// or the one its previous write returned), the new stamp is strictly
// higher, whatever the skew between the nodes' clocks, so a write that
// causally follows another never loses to it. Concurrent writes (neither
// saw the other) are ordered by their stamps, and with skewed clocks the
// later one in real time may lose: the known cost of last-writer-wins,
// bounded by the skew.
//
// Resolve is the last-writer-wins rule: of the versions of a key, the one
// with the highest stamp wins, on every replica, in read repair, hints and
// anti-entropy alike, so a client never gets siblings.
//
// The package is pure: physical time is an argument, never read here, and
// nothing does I/O or starts a goroutine.
package hlc

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Timestamp is a hybrid logical clock reading. The zero Timestamp is no
// stamp: it is not valid and orders below every valid one.
type Timestamp struct {
	Wall    int64  // Unix nanoseconds: the highest physical time the issuer had seen
	Logical uint32 // orders the stamps issued at one Wall
	Node    string // the issuer; breaks ties between nodes
}

// MaxNodeLen is the longest node id a Timestamp carries, in bytes: the
// longest id membership.CheckID allows.
const MaxNodeLen = 64

// The encoding of a Timestamp: Wall as 8 bytes big-endian, Logical as 4
// bytes big-endian, then the length of Node in one byte and Node's bytes.
const (
	wallLen    = 8
	logicalLen = 4
	nodeLenLen = 1
	headerLen  = wallLen + logicalLen + nodeLenLen
)

// MaxEncodedLen is the longest encoding of a Timestamp.
const MaxEncodedLen = headerLen + MaxNodeLen

// ErrInvalid reports a timestamp that no Clock issues, or bytes that encode
// none.
var ErrInvalid = errors.New("invalid hybrid logical timestamp")

// IsZero reports whether t is no stamp.
func (t Timestamp) IsZero() bool { return t == Timestamp{} }

// Check refuses a timestamp no Clock issues: a negative Wall, or a node id
// that is empty or longer than MaxNodeLen bytes.
func (t Timestamp) Check() error {
	if t.Wall < 0 {
		return fmt.Errorf("%w: wall %d is before 1970", ErrInvalid, t.Wall)
	}
	if len(t.Node) == 0 || len(t.Node) > MaxNodeLen {
		return fmt.Errorf("%w: node id of %d bytes (1 to %d)", ErrInvalid, len(t.Node), MaxNodeLen)
	}
	return nil
}

// Compare orders timestamps by wall, then logical, then node id. Two stamps
// of one Clock differ in wall or logical, so the node id only orders stamps
// of different nodes that read the same hybrid time.
func Compare(a, b Timestamp) int {
	if c := cmp.Compare(a.Wall, b.Wall); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Logical, b.Logical); c != 0 {
		return c
	}
	return cmp.Compare(a.Node, b.Node)
}

// String shows t as its UTC time, logical counter and node, e.g.
// "2026-03-01T12:00:00.5Z+3@n1".
func (t Timestamp) String() string {
	return fmt.Sprintf("%s+%d@%s", time.Unix(0, t.Wall).UTC().Format(time.RFC3339Nano), t.Logical, t.Node)
}

// EncodedLen is the length of Append's encoding of t.
func EncodedLen(t Timestamp) int { return headerLen + len(t.Node) }

// Append appends the encoding of t to dst. The encoding is deterministic:
// a valid timestamp has exactly one. t must be valid (Check); every stamp a
// Clock issues or Decode returns is, and Append panics on any other.
func Append(dst []byte, t Timestamp) []byte {
	if err := t.Check(); err != nil {
		panic(fmt.Sprintf("hlc: append %#v: %v", t, err))
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(t.Wall))
	dst = binary.BigEndian.AppendUint32(dst, t.Logical)
	dst = append(dst, byte(len(t.Node)))
	return append(dst, t.Node...)
}

// Decode reads one timestamp from the front of b, which may come from any
// peer, and returns it with the bytes after it. It refuses (ErrInvalid)
// bytes too short for what they announce and timestamps Check refuses, so
// it reads at most MaxEncodedLen bytes.
func Decode(b []byte) (Timestamp, []byte, error) {
	if len(b) < headerLen {
		return Timestamp{}, nil, fmt.Errorf("decode timestamp: %w: %d bytes, the header alone is %d", ErrInvalid, len(b), headerLen)
	}
	t := Timestamp{
		Wall:    int64(binary.BigEndian.Uint64(b)),
		Logical: binary.BigEndian.Uint32(b[wallLen:]),
	}
	n := int(b[wallLen+logicalLen])
	b = b[headerLen:]
	if n > len(b) {
		return Timestamp{}, nil, fmt.Errorf("decode timestamp: %w: node id of %d bytes, %d left", ErrInvalid, n, len(b))
	}
	t.Node = string(b[:n])
	if err := t.Check(); err != nil {
		return Timestamp{}, nil, fmt.Errorf("decode timestamp: %w", err)
	}
	return t, b[n:], nil
}
