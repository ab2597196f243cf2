// Package replica owns the decisions of one partition's replica on a node:
// the version a client write makes (and which stamp it takes, or how its
// CRDT operations decode), whether a replica write or a handoff batch
// changes anything, which tombstones may be reaped, and the Merkle tree and
// tombstone index kept current with every write and rebuilt after a start.
//
// A Partition reads stored objects through a Reader and collects what to
// write in a batch; it does no I/O of its own. The vnode actor commits the
// batch (one synced pebble batch per mailbox drain), then tells the
// Partition it did (Committed), and sends the replies.
package replica

import (
	"bytes"
	"fmt"
	"time"

	"github.com/harmoniakv/harmonia/cluster/crdt"
	"github.com/harmoniakv/harmonia/cluster/hlc"
	"github.com/harmoniakv/harmonia/cluster/merkle"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/reap"
	"github.com/harmoniakv/harmonia/cluster/vclock"
)

// Reader reads a key's stored siblings (nil: none).
type Reader func(key []byte) ([]object.Sibling, error)

// Config describes a partition's replica.
type Config struct {
	// Self is the actor that stamps this replica's client writes.
	Self vclock.Actor
	// MaxClockEntries bounds the clock a client write carries (vclock.Prune).
	MaxClockEntries int
	// Tree shapes the Merkle tree; zero: merkle.DefaultConfig.
	Tree merkle.Config
}

// Write is one key's new object in a batch; no siblings deletes the key.
type Write struct {
	Key      []byte
	Siblings []object.Sibling
}

// Hint is an object kept for replica For, which was down or silent when
// another node wrote it; it is committed in the same batch as the writes.
type Hint struct {
	Key      []byte
	Siblings []object.Sibling
	For      string
}

// Stored is a key as the store holds it: its object's encoding.
type Stored struct {
	Key, Value []byte
}

// ReapEntry is a tombstone at one exact version (object.VersionDigest).
type ReapEntry struct {
	Key, Digest []byte
}

// Partition is one partition's replica on this node.
type Partition struct {
	cfg  Config
	read Reader

	staged map[string][]object.Sibling // written since the last commit
	hints  []Hint

	// tree covers every stored and staged key; while rebuilding, only keys
	// up to rebuiltTo (the rebuild reads the rest as it goes).
	tree       *merkle.Tree
	rebuilding bool
	rebuiltTo  []byte
	// tombstones indexes the keys whose object is a delete, by delete time
	// (Unix ns), so reaping never scans the partition.
	tombstones map[string]int64
}

// New returns a partition with an empty tree; StartRebuild then indexes
// what the store holds.
func New(cfg Config, read Reader) (*Partition, error) {
	if cfg.Tree == (merkle.Config{}) {
		cfg.Tree = merkle.DefaultConfig()
	}
	p := &Partition{cfg: cfg, read: read}
	if err := p.resetIndex(); err != nil {
		return nil, err
	}
	return p, nil
}

// Load reads key's siblings as the next commit will leave them.
func (p *Partition) Load(key []byte) ([]object.Sibling, error) {
	if set, ok := p.staged[string(key)]; ok {
		return set, nil
	}
	return p.read(key)
}

// Staged reports whether key has a write waiting for the commit; a read of
// it must not be answered before the commit.
func (p *Partition) Staged(key []byte) bool {
	_, ok := p.staged[string(key)]
	return ok
}

// Pending reports whether anything waits for a commit.
func (p *Partition) Pending() bool { return len(p.staged) > 0 || len(p.hints) > 0 }

// ClientWrite is a client's write as its coordinator hands it to the
// replica that stamps it.
type ClientWrite struct {
	Key, Value []byte
	Context    vclock.Clock // what the client had read
	Deleted    bool
	WrittenAt  int64 // Unix ns; 0: now
	// Stamp orders a write to a last-writer-wins key (object.Sibling);
	// zero for any other.
	Stamp hlc.Timestamp
}

// Coordinate stamps a client write with the dot (Self, counter) and stages
// it over the local object. It returns the new object, which goes to the
// other replicas, and the dot. counter must be new to this replica's
// actor (the store's lease); it is spent even when the write is refused.
func (p *Partition) Coordinate(w ClientWrite, counter uint64, now time.Time) (set []object.Sibling, dot vclock.Dot, err error) {
	if len(w.Key) == 0 {
		return nil, vclock.Dot{}, object.ErrEmptyKey
	}
	cur, err := p.Load(w.Key)
	if err != nil {
		return nil, vclock.Dot{}, err
	}
	writtenAt := w.WrittenAt
	if writtenAt == 0 {
		writtenAt = now.UnixNano()
	}
	s := object.Sibling{
		Value:     w.Value,
		Dot:       vclock.Dot{Actor: p.cfg.Self, Counter: counter},
		Context:   vclock.Prune(w.Context, p.cfg.MaxClockEntries),
		Deleted:   w.Deleted,
		WrittenAt: writtenAt,
		Stamp:     w.Stamp,
	}
	set = object.Apply(cur, s)
	p.stage(w.Key, cur, set)
	return set, s.Dot, nil
}

// Merge reconciles an incoming object with the local one and stages the
// result if it changed anything: a replay or a repeated repair costs no
// write. Size limits are not applied: the node that coordinated the write
// admitted it, perhaps under a larger limit, and refusing it here would
// leave the replicas apart for good.
func (p *Partition) Merge(key []byte, in []object.Sibling) (changed bool, err error) {
	if len(key) == 0 {
		return false, object.ErrEmptyKey
	}
	cur, err := p.Load(key)
	if err != nil {
		return false, err
	}
	merged := object.Merge(cur, in)
	if object.SameVersions(cur, merged) {
		return false, nil
	}
	p.stage(key, cur, merged)
	return true, nil
}

// KeepHint keeps in for replica target with the next commit.
func (p *Partition) KeepHint(key []byte, in []object.Sibling, target string) {
	p.hints = append(p.hints, Hint{Key: key, Siblings: in, For: target})
}

// stage replaces key's object cur (as loaded) by set in the next commit;
// the tree and the tombstone index move from cur to set at once.
func (p *Partition) stage(key []byte, cur, set []object.Sibling) {
	if p.staged == nil {
		p.staged = map[string][]object.Sibling{}
	}
	if !p.rebuilding || bytes.Compare(key, p.rebuiltTo) <= 0 {
		p.tree.Update(key, treeDigest(cur), treeDigest(set))
		p.indexTombstone(key, set)
	} // else the rebuild has not reached key; it will read the staged value
	p.staged[string(key)] = set
}

// Batch returns what to commit in one synced batch: every staged write and
// every hint. It stays staged until Committed.
func (p *Partition) Batch() ([]Write, []Hint) {
	writes := make([]Write, 0, len(p.staged))
	for k, set := range p.staged {
		writes = append(writes, Write{Key: []byte(k), Siblings: set})
	}
	return writes, p.hints
}

// Committed ends the batch. If the commit failed, the tree and tombstone
// index showed writes the store does not hold: they are reset and a
// rebuild starts (reindex is true; the caller drives it with RebuildFrom
// and Rebuilt).
func (p *Partition) Committed(err error) (reindex bool) {
	p.staged, p.hints = nil, nil
	if err == nil {
		return false
	}
	p.StartRebuild()
	return true
}

// treeDigest is an object's version digest in the tree; nil (absent) for a
// key that holds nothing.
func treeDigest(set []object.Sibling) []byte {
	if len(set) == 0 {
		return nil
	}
	return object.VersionDigest(set)
}

// indexTombstone keeps the tombstone index current for key's new set.
func (p *Partition) indexTombstone(key []byte, set []object.Sibling) {
	if at, ok := object.Tombstone(set); ok {
		p.tombstones[string(key)] = at
	} else {
		delete(p.tombstones, string(key))
	}
}

// Tombstones counts the tombstones this replica holds.
func (p *Partition) Tombstones() int { return len(p.tombstones) }

// ReapCandidates lists up to max tombstones past rule's grace at now, at
// their current versions.
func (p *Partition) ReapCandidates(rule reap.Config, now time.Time, max int) []ReapEntry {
	var out []ReapEntry
	for k, at := range p.tombstones {
		if len(out) >= max {
			break
		}
		if !rule.Due(at, now) {
			continue
		}
		set, err := p.Load([]byte(k))
		if err != nil || len(set) == 0 {
			continue
		}
		out = append(out, ReapEntry{Key: []byte(k), Digest: object.VersionDigest(set)})
	}
	return out
}

// Reap answers, for each entry, whether this replica holds that tombstone
// at exactly that version, or nothing for the key (holds). With commit it
// stages the deletion of those it holds at that version, and counts them.
// A replica that holds a newer version, or anything else, keeps it: the
// reaper deletes a tombstone only where every replica holds the same one.
func (p *Partition) Reap(entries []ReapEntry, commit bool) (holds []bool, reaped int, err error) {
	for _, e := range entries {
		set, err := p.Load(e.Key)
		if err != nil {
			return holds, reaped, fmt.Errorf("key %q: %w", e.Key, err)
		}
		_, tomb := object.Tombstone(set)
		same := tomb && bytes.Equal(object.VersionDigest(set), e.Digest)
		holds = append(holds, same || len(set) == 0)
		if same && commit {
			p.stage(e.Key, set, nil)
			reaped++
		}
	}
	return holds, reaped, nil
}

// Dropped empties the tree and the tombstone index after the store
// dropped the whole partition.
func (p *Partition) Dropped() { _ = p.resetIndex() }

func (p *Partition) resetIndex() error {
	tree, err := merkle.New(p.cfg.Tree)
	if err != nil {
		return fmt.Errorf("merkle tree: %w", err)
	}
	p.tree, p.tombstones = tree, map[string]int64{}
	return nil
}

// StartRebuild empties the tree and tombstone index and begins indexing
// the store from its first key.
func (p *Partition) StartRebuild() {
	_ = p.resetIndex() // the config was valid at New
	p.rebuilding, p.rebuiltTo = true, nil
}

// Rebuilding reports whether the tree does not yet cover every key.
func (p *Partition) Rebuilding() bool { return p.rebuilding }

// RebuildFrom is the key after which the rebuild reads its next chunk.
func (p *Partition) RebuildFrom() []byte { return p.rebuiltTo }

// Rebuilt indexes the next chunk the store holds after RebuildFrom (more:
// keys remain). A key with a staged write is indexed at its staged
// object, and new staged keys in the range the chunk covers are indexed
// too: their writes skipped the tree while the rebuild had not reached
// them. An object that does not decode is left out.
func (p *Partition) Rebuilt(chunk []Stored, more bool) {
	if !p.rebuilding {
		return // a leftover step of a finished rebuild must not index again
	}
	prev := p.rebuiltTo
	seen := make(map[string]bool, len(chunk))
	for _, e := range chunk {
		seen[string(e.Key)] = true
		set, staged := p.staged[string(e.Key)]
		if !staged {
			var err error
			if set, err = object.Decode(e.Value); err != nil {
				continue
			}
		}
		p.index(e.Key, set)
		p.rebuiltTo = e.Key
	}
	for k, set := range p.staged {
		key := []byte(k)
		if !seen[k] && bytes.Compare(key, prev) > 0 && (!more || bytes.Compare(key, p.rebuiltTo) <= 0) {
			p.index(key, set)
		}
	}
	if !more {
		p.rebuilding = false
	}
}

// index adds a key the rebuild reads to the tree and the tombstone index.
func (p *Partition) index(key []byte, set []object.Sibling) {
	if len(set) == 0 {
		return // a staged reap
	}
	p.tree.Insert(key, object.VersionDigest(set))
	p.indexTombstone(key, set)
}

// TreeNodes returns the tree's hashes of nodes at level; ready is false
// while the rebuild runs (the tree does not cover every key yet).
func (p *Partition) TreeNodes(level int, nodes []int) (hashes []merkle.Hash, ready bool, err error) {
	if p.rebuilding {
		return nil, false, nil
	}
	hashes, err = p.tree.Nodes(level, nodes)
	return hashes, true, err
}

// Bucket is the tree's leaf bucket of key.
func (p *Partition) Bucket(key []byte) int { return p.tree.Bucket(key) }

// Root is the tree's root hash.
func (p *Partition) Root() merkle.Hash { return p.tree.Root() }

// DatatypeUpdate is a client's update of a CRDT value (a key of a table
// with conflict = crdt) as its coordinator hands it to the replica that
// applies it.
type DatatypeUpdate struct {
	Key []byte
	// Actor issues the update's dots: it must apply every update of the
	// key it issues dots for to a state that holds all of its earlier ones
	// (crdt.Apply), so the vnode takes a new actor whenever it may have
	// lost some (see actors/vnode_write.go).
	Actor   vclock.Actor
	Context crdt.Context // what the client fetched; removals take only what it covers
	Ops     []crdt.Op
	// Base, read from other replicas, is merged into the replica's state
	// before the operations apply, so that a removal finds what the
	// client's context saw; the empty state: none.
	Base crdt.State
}

// CoordinateUpdate applies u to the key's state and stages the new state
// under the dot (Self, counter). It returns the new state, for the client,
// and the delta as an object, which the other replicas merge (deltas, not
// whole states, travel). counter is spent even when the update is
// refused.
func (p *Partition) CoordinateUpdate(u DatatypeUpdate, counter uint64, now time.Time) (state crdt.State, delta []object.Sibling, err error) {
	if len(u.Key) == 0 {
		return crdt.State{}, nil, object.ErrEmptyKey
	}
	cur, err := p.Load(u.Key)
	if err != nil {
		return crdt.State{}, nil, err
	}
	st, err := object.State(cur)
	if err != nil {
		return crdt.State{}, nil, fmt.Errorf("stored state: %w", err)
	}
	if st, err = crdt.Merge(st, u.Base); err != nil {
		return crdt.State{}, nil, fmt.Errorf("base state: %w", err)
	}
	// Last-writer-wins assignments are stamped here, above the winner this
	// replica holds (which includes what the client read, merged in as
	// the base), so a causally later one is never lost to a clock behind.
	ops := crdt.Stamp(st, u.Ops, now.UnixNano())
	next, d, err := crdt.Apply(st, crdt.Update{Actor: u.Actor, Context: u.Context, Ops: ops}, object.DatatypeLimits)
	if err != nil {
		return crdt.State{}, nil, err
	}
	dot := vclock.Dot{Actor: p.cfg.Self, Counter: counter}
	set := object.Apply(cur, object.Sibling{Value: crdt.Encode(next), Dot: dot, Datatype: true, WrittenAt: now.UnixNano()})
	p.stage(u.Key, cur, set)
	return next, []object.Sibling{{Value: crdt.Encode(d), Dot: dot, Datatype: true, WrittenAt: now.UnixNano()}}, nil
}
