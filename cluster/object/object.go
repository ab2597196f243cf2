// Package object owns sibling reconciliation: how a replica combines the
// versions of one key it holds with versions that arrive from writes, other
// replicas, read repair or hints.
//
// A version (Sibling) is a write named by its dot, made with the causal
// context the writer had read. Version x is superseded by version y when y's
// context contains x's dot. y's own dot counts only as itself: a coordinator
// issues counters in order, so a later blind write through the same node must
// not supersede that node's earlier write (dotted version vectors). Reconciliation keeps exactly
// the versions no other version supersedes, so it is commutative,
// associative and idempotent: replaying a write or merging the same object
// twice changes nothing.
//
// A key of a last-writer-wins table (conflict = lww) has one version: its
// writes carry hybrid logical timestamps (Sibling.Stamp), and Merge keeps
// only the highest (hlc.CompareVersions), whatever the contexts say. The
// rule travels with the versions, so every merge point (writes, read
// repair, hints, anti-entropy, transfers) applies it alike.
//
// A key of a CRDT table (conflict = crdt) has one version too: its value
// is a CRDT state (cluster/crdt), or a delta of one, and Merge joins them.
// Two replicas hold the same version exactly when their states encode
// alike (the encoding is canonical), whatever dots the versions carry.
package object

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"

	"github.com/harmoniakv/harmonia/cluster/crdt"
	"github.com/harmoniakv/harmonia/cluster/hlc"
	"github.com/harmoniakv/harmonia/cluster/vclock"
)

// ErrEmptyKey refuses the empty key: no object can be stored under it.
var ErrEmptyKey = errors.New("key is empty")

// Sibling is one version of a key.
type Sibling struct {
	Value     []byte
	Dot       vclock.Dot
	Context   vclock.Clock
	Deleted   bool  // a tombstone
	WrittenAt int64 // Unix nanoseconds at the coordinator
	// Stamp orders the writes of a last-writer-wins key; zero in a table
	// that keeps siblings.
	Stamp hlc.Timestamp
	// Datatype: Value is a CRDT state (crdt.Encode), of a key of a table
	// with conflict = crdt.
	Datatype bool
}

// History is everything the writer of s had seen, plus s itself.
func (s Sibling) History() vclock.Clock { return vclock.Advance(s.Context, s.Dot, s.WrittenAt) }

// SupersededBy reports whether t replaces s.
func (s Sibling) SupersededBy(t Sibling) bool {
	return s.Dot != t.Dot && t.Context.Covers(s.Dot)
}

// Merge returns the versions of a and b that no version of either supersedes,
// without duplicates, sorted by dot. When any version is stamped (a
// last-writer-wins key) it returns only the one that wins. It never
// modifies its arguments.
func Merge(a, b []Sibling) []Sibling {
	all := make([]Sibling, 0, len(a)+len(b))
	all = append(all, a...)
	all = append(all, b...)
	// The kind of key decides the rule; a plain key (the hot path) pays
	// one pass for it.
	switch _, stamped, datatype := Kinds(all); {
	case stamped:
		return []Sibling{lastWriter(all)}
	case datatype:
		if j, ok := joinStates(all); ok {
			return []Sibling{j}
		}
	}
	slices.SortFunc(all, func(x, y Sibling) int { return vclock.CompareDots(x.Dot, y.Dot) })
	all = slices.CompactFunc(all, func(x, y Sibling) bool { return x.Dot == y.Dot })
	out := make([]Sibling, 0, len(all))
	for _, s := range all {
		if !slices.ContainsFunc(all, s.SupersededBy) {
			out = append(out, s)
		}
	}
	return out
}

// lastWriter returns the winner of all, some of them stamped. An
// unstamped version among stamped ones (which no node writes) has the zero
// stamp and loses.
func lastWriter(all []Sibling) Sibling {
	best := 0
	for i, s := range all[1:] {
		c := hlc.CompareVersions(version(s), version(all[best]))
		// Equal versions under two dots (a stamp reissued after a restart
		// behind the clock): the dot decides, so every replica keeps one.
		if c > 0 || c == 0 && vclock.CompareDots(s.Dot, all[best].Dot) > 0 {
			best = i + 1
		}
	}
	return all[best]
}

func version(s Sibling) hlc.Version {
	return hlc.Version{Stamp: s.Stamp, Deleted: s.Deleted, Value: s.Value}
}

// Kinds reports which kinds of version set holds
// (catalog.CheckVersions): plain, stamped, CRDT states.
func Kinds(set []Sibling) (plain, stamped, datatype bool) {
	for _, s := range set {
		switch {
		case s.Datatype:
			datatype = true
		case !s.Stamp.IsZero():
			stamped = true
		default:
			plain = true
		}
	}
	return plain, stamped, datatype
}

// DatatypeLimits bound the CRDT states objects hold (crdt.Limits).
var DatatypeLimits = crdt.DefaultLimits

// State returns the CRDT state of a CRDT key's object (the empty state
// when it holds none).
func State(set []Sibling) (crdt.State, error) {
	var out crdt.State
	for _, s := range set {
		if !s.Datatype {
			continue
		}
		st, err := crdt.Decode(s.Value, DatatypeLimits)
		if err != nil {
			return crdt.State{}, err
		}
		if out, err = crdt.Merge(out, st); err != nil {
			return crdt.State{}, err
		}
	}
	return out, nil
}

// joinStates returns the one version the CRDT states of all join into,
// when any of them is a CRDT state. Its dot is the highest of theirs. A
// state that does not decode or merge (which FromProto never lets in) is
// left out.
func joinStates(all []Sibling) (Sibling, bool) {
	var joined crdt.State
	var dot vclock.Dot
	found := false
	for _, s := range all {
		if !s.Datatype {
			continue
		}
		st, err := crdt.Decode(s.Value, DatatypeLimits)
		if err != nil {
			continue
		}
		next, err := crdt.Merge(joined, st)
		if err != nil {
			continue
		}
		joined, found = next, true
		if vclock.CompareDots(s.Dot, dot) > 0 {
			dot = s.Dot
		}
	}
	if !found {
		return Sibling{}, false
	}
	return Sibling{Value: crdt.Encode(joined), Dot: dot, Datatype: true}, true
}

// MaxStamp is the highest stamp of set (zero when none is stamped): what a
// client's context carries, so that its next write wins over what it read.
func MaxStamp(set []Sibling) hlc.Timestamp {
	var m hlc.Timestamp
	for _, s := range set {
		if hlc.Compare(s.Stamp, m) > 0 {
			m = s.Stamp
		}
	}
	return m
}

// Apply adds one version to a sibling set.
func Apply(set []Sibling, s Sibling) []Sibling { return Merge(set, []Sibling{s}) }

// Context is the causal context of a sibling set: a write made with it
// supersedes every sibling in the set.
func Context(set []Sibling) vclock.Clock {
	var c vclock.Clock
	for _, s := range set {
		c = vclock.Merge(c, s.History())
	}
	return c
}

// SameVersions reports whether a and b hold the same versions. Both must be
// results of Merge (sorted by dot, without duplicates).
func SameVersions(a, b []Sibling) bool {
	return slices.EqualFunc(a, b, func(x, y Sibling) bool {
		if x.Datatype || y.Datatype {
			return x.Datatype == y.Datatype && bytes.Equal(x.Value, y.Value)
		}
		return x.Dot == y.Dot
	})
}

// Live returns the siblings that are not tombstones.
func Live(set []Sibling) []Sibling {
	return slices.DeleteFunc(slices.Clone(set), func(s Sibling) bool { return s.Deleted })
}

// Tombstone reports whether set is a delete and nothing else: every
// sibling is a tombstone. It returns the newest tombstone's write time.
func Tombstone(set []Sibling) (deletedAt int64, ok bool) {
	if len(set) == 0 {
		return 0, false
	}
	for _, s := range set {
		if !s.Deleted {
			return 0, false
		}
		deletedAt = max(deletedAt, s.WrittenAt)
	}
	return deletedAt, true
}

// VersionDigest names the versions a set holds (its dots and tombstone
// flags): two replicas whose sets have the same digest hold the same
// versions. Anti-entropy trees hash it per key. The set must be a result of
// Merge (sorted by dot).
func VersionDigest(set []Sibling) []byte {
	h := sha256.New()
	var b [8]byte
	for _, s := range set {
		if s.Datatype {
			// A CRDT state: its canonical encoding names it.
			h.Write([]byte{2})
			h.Write(s.Value)
			continue
		}
		h.Write([]byte(s.Dot.Node))
		h.Write([]byte{0})
		binary.BigEndian.PutUint64(b[:], s.Dot.Incarnation)
		h.Write(b[:])
		binary.BigEndian.PutUint64(b[:], s.Dot.Counter)
		h.Write(b[:])
		if s.Deleted {
			h.Write([]byte{1})
		} else {
			h.Write([]byte{0})
		}
	}
	return h.Sum(nil)
}
