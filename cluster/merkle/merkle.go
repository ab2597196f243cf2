// Package merkle owns the hash trees that anti-entropy compares: a fixed
// shape tree over one partition's keys, updated in O(depth) on every write,
// and the top-down comparison that finds the leaf buckets where two replicas
// differ while exchanging one level at a time.
//
// A key falls in the leaf bucket named by the top bits of its hash. Its
// contribution is H(key, version digest). A leaf is the XOR of its keys'
// contributions and an inner node the XOR of its children, so a write only
// XORs the old contribution out and the new one in along one path. With a
// cryptographic H, two different sets collide with negligible probability.
package merkle

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// Hash is a node's value.
type Hash [sha256.Size]byte

func (h *Hash) xor(o Hash) {
	for i := range h {
		h[i] ^= o[i]
	}
}

// Config is a tree's shape. Both replicas of a partition must use the same.
type Config struct {
	// Fanout is the number of children of an inner node; a power of two.
	Fanout int
	// Depth is the number of levels below the root.
	Depth int
}

// DefaultConfig has 16×16×16 = 4,096 leaf buckets: a partition of a million
// keys has about 250 keys per bucket, and a full walk of two identical
// trees sends one hash.
func DefaultConfig() Config { return Config{Fanout: 16, Depth: 3} }

// Leaves is the number of leaf buckets.
func (c Config) Leaves() int {
	n := 1
	for i := 0; i < c.Depth; i++ {
		n *= c.Fanout
	}
	return n
}

func (c Config) validate() error {
	if c.Fanout < 2 || c.Fanout&(c.Fanout-1) != 0 || c.Depth < 1 || c.Leaves() > 1<<24 {
		return fmt.Errorf("merkle: fanout %d depth %d: fanout must be a power of two ≥ 2, depth ≥ 1, at most 2^24 leaves", c.Fanout, c.Depth)
	}
	return nil
}

// Tree is one replica's tree of one partition.
type Tree struct {
	cfg    Config
	levels [][]Hash // levels[0] is the root, levels[Depth] the leaves
}

// New makes an empty tree.
func New(cfg Config) (*Tree, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	t := &Tree{cfg: cfg, levels: make([][]Hash, cfg.Depth+1)}
	n := 1
	for l := 0; l <= cfg.Depth; l++ {
		t.levels[l] = make([]Hash, n)
		n *= cfg.Fanout
	}
	return t, nil
}

// Config returns the tree's shape.
func (t *Tree) Config() Config { return t.cfg }

// Bucket returns the leaf bucket of key.
func (t *Tree) Bucket(key []byte) int {
	h := sha256.Sum256(key)
	return int(binary.BigEndian.Uint64(h[:8]) % uint64(t.cfg.Leaves()))
}

func contribution(key, digest []byte) Hash {
	h := sha256.New()
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(key)))
	h.Write(n[:])
	h.Write(key)
	h.Write(digest)
	var out Hash
	h.Sum(out[:0])
	return out
}

// toggle XORs a key's contribution along its path: adding and removing are
// the same operation.
func (t *Tree) toggle(key, digest []byte) {
	c := contribution(key, digest)
	i := t.Bucket(key)
	for l := t.cfg.Depth; l >= 0; l-- {
		t.levels[l][i].xor(c)
		i /= t.cfg.Fanout
	}
}

// Insert adds key at version digest.
func (t *Tree) Insert(key, digest []byte) { t.toggle(key, digest) }

// Remove takes out key at version digest (as previously inserted).
func (t *Tree) Remove(key, digest []byte) { t.toggle(key, digest) }

// Update moves key from version old to version new; nil means absent, so
// Update(key, nil, d) inserts and Update(key, d, nil) removes.
func (t *Tree) Update(key, old, new []byte) {
	if old != nil {
		t.Remove(key, old)
	}
	if new != nil {
		t.Insert(key, new)
	}
}

// Root is the hash of the whole tree.
func (t *Tree) Root() Hash { return t.levels[0][0] }

// ErrRange reports a level or node index outside the tree.
var ErrRange = errors.New("merkle: level or node out of range")

// Nodes returns the hashes of the given nodes of a level: the unit of one
// exchange step.
func (t *Tree) Nodes(level int, nodes []int) ([]Hash, error) {
	if level < 0 || level > t.cfg.Depth {
		return nil, ErrRange
	}
	out := make([]Hash, len(nodes))
	for i, n := range nodes {
		if n < 0 || n >= len(t.levels[level]) {
			return nil, ErrRange
		}
		out[i] = t.levels[level][n]
	}
	return out, nil
}

// Step compares two replicas' hashes of the same nodes of level and returns
// the children (on level+1) of the nodes that differ; at the leaf level it
// returns the differing leaf buckets themselves.
func (c Config) Step(level int, nodes []int, mine, theirs []Hash) []int {
	var out []int
	for i, n := range nodes {
		if i >= len(mine) || i >= len(theirs) || mine[i] == theirs[i] {
			continue
		}
		if level == c.Depth {
			out = append(out, n)
			continue
		}
		for k := 0; k < c.Fanout; k++ {
			out = append(out, n*c.Fanout+k)
		}
	}
	return out
}

// Diff walks two trees top-down, one level at a time as an exchange over the
// network would, and returns the differing leaf buckets and how many hashes
// each side sent.
func Diff(a, b *Tree) (buckets []int, hashesSent int, err error) {
	if a.cfg != b.cfg {
		return nil, 0, fmt.Errorf("merkle: trees of different shapes %+v and %+v", a.cfg, b.cfg)
	}
	nodes := []int{0}
	for level := 0; level <= a.cfg.Depth && len(nodes) > 0; level++ {
		ha, err := a.Nodes(level, nodes)
		if err != nil {
			return nil, 0, err
		}
		hb, err := b.Nodes(level, nodes)
		if err != nil {
			return nil, 0, err
		}
		hashesSent += len(nodes)
		next := a.cfg.Step(level, nodes, ha, hb)
		if level == a.cfg.Depth {
			return next, hashesSent, nil
		}
		nodes = next
	}
	return nil, hashesSent, nil
}
