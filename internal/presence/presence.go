// Package presence answers "may the store hold this key?" without reading
// it: a bloom filter per key space (a record prefix and a partition) that
// grows as keys are added. The store adds every key it writes before the
// write commits, and fills the filters from what is on disk when it opens,
// so a point read of a key that was never written (the replica write of a
// new key, the acceptor state of a new register) is answered without a
// pebble lookup.
//
// It errs only one way: MayHold is true for every key ever added, and
// false for most others. Keys are never removed (a deleted key costs a
// read, as before).
package presence

import (
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
)

// Config sizes the filters.
type Config struct {
	// InitialKeys is how many keys a key space's first filter is sized
	// for; each later one holds Growth times as many as the one before.
	// Default 4096.
	InitialKeys int
	// Growth: see InitialKeys. Default 4, so a million keys in one space
	// take five filters.
	Growth int
	// BitsPerKey sizes every filter: 10 bits a key gives about 1% false
	// "may hold" answers per filter. Default 10.
	BitsPerKey int
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config { return Config{InitialKeys: 4096, Growth: 4, BitsPerKey: 10} }

// Space is one key space: the records of one prefix in one partition.
type Space struct {
	Prefix    byte
	Partition int
}

// Index holds the filters of every key space. It is safe for concurrent
// use.
type Index struct {
	cfg    Config
	seed   maphash.Seed
	mu     sync.RWMutex
	spaces map[Space]*filter
	bytes  atomic.Int64
}

// New returns an empty index; zero fields of cfg take their defaults.
func New(cfg Config) *Index {
	def := DefaultConfig()
	if cfg.InitialKeys <= 0 {
		cfg.InitialKeys = def.InitialKeys
	}
	if cfg.Growth < 2 {
		cfg.Growth = def.Growth
	}
	if cfg.BitsPerKey <= 0 {
		cfg.BitsPerKey = def.BitsPerKey
	}
	return &Index{cfg: cfg, seed: maphash.MakeSeed(), spaces: map[Space]*filter{}}
}

// Add records that the store may hold key in space s. The store calls it
// before the write that stores key commits.
func (x *Index) Add(s Space, key []byte) {
	h := maphash.Bytes(x.seed, key)
	x.mu.RLock()
	f := x.spaces[s]
	x.mu.RUnlock()
	if f == nil {
		x.mu.Lock()
		if f = x.spaces[s]; f == nil {
			f = &filter{}
			x.spaces[s] = f
		}
		x.mu.Unlock()
	}
	x.bytes.Add(f.add(h, x.cfg))
}

// MayHold reports whether key may be held in space s: true for every key
// added, and for about one in a hundred of the others per filter.
func (x *Index) MayHold(s Space, key []byte) bool {
	x.mu.RLock()
	f := x.spaces[s]
	x.mu.RUnlock()
	if f == nil {
		return false
	}
	return f.mayHold(maphash.Bytes(x.seed, key))
}

// Bytes is the memory the filters' bits take.
func (x *Index) Bytes() int64 { return x.bytes.Load() }

// filter is one key space's filters, oldest first: a key is added to the
// newest, which is replaced by a larger one when full, so the false
// positive rate stays bounded however many keys come.
type filter struct {
	mu     sync.RWMutex
	layers []*layer
}

type layer struct {
	bits  []uint64
	m     uint64 // bits
	k     int    // probes
	keys  int    // keys added
	limit int    // keys it is sized for
}

func newLayer(keys, bitsPerKey int) *layer {
	m := uint64(keys) * uint64(bitsPerKey)
	m = (m + 63) &^ 63
	k := max(1, int(math.Round(float64(bitsPerKey)*math.Ln2)))
	return &layer{bits: make([]uint64, m/64), m: m, k: k, limit: keys}
}

// probe calls at with each bit position of h, stopping when at does.
// Double hashing (Kirsch and Mitzenmacher): positions h1 + i*h2.
func (l *layer) probe(h uint64, at func(pos uint64) bool) {
	h1, h2 := h&0xffffffff, (h>>32)|1
	for i := 0; i < l.k; i++ {
		if !at((h1 + uint64(i)*h2) % l.m) {
			return
		}
	}
}

func (l *layer) has(h uint64) bool {
	all := true
	l.probe(h, func(pos uint64) bool {
		all = l.bits[pos/64]&(1<<(pos%64)) != 0
		return all
	})
	return all
}

func (l *layer) set(h uint64) {
	l.probe(h, func(pos uint64) bool {
		l.bits[pos/64] |= 1 << (pos % 64)
		return true
	})
}

func (f *filter) mayHold(h uint64) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, l := range f.layers {
		if l.has(h) {
			return true
		}
	}
	return false
}

// add sets h in the newest layer unless some layer has it already (a key
// written again does not use up room); it returns the bytes it allocated.
func (f *filter) add(h uint64, cfg Config) (grew int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range f.layers {
		if l.has(h) {
			return 0
		}
	}
	n := len(f.layers)
	if n == 0 || f.layers[n-1].keys >= f.layers[n-1].limit {
		keys := cfg.InitialKeys
		if n > 0 {
			keys = f.layers[n-1].limit * cfg.Growth
		}
		l := newLayer(keys, cfg.BitsPerKey)
		f.layers = append(f.layers, l)
		grew = int64(len(l.bits) * 8)
	}
	l := f.layers[len(f.layers)-1]
	l.set(h)
	l.keys++
	return grew
}
