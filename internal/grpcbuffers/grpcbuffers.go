// Package grpcbuffers owns the buffer pool the harmonia binary gives gRPC
// (its default pool, which its transport reads frames into and its
// protobuf codec encodes messages into): tiers of reused buffers as
// grpc's own pool has, except that a reused buffer is not cleared before
// it is handed out. grpc's pool clears each one in case a user reads
// bytes it did not write; grpc's transport and codec write every byte
// they read back (a frame is read in full, a message is encoded from its
// start), and clearing a 32 KB buffer for each answer of a page of items
// was 5% of a node's CPU under Queries. A library must not change
// grpc's defaults for the program that links it, so only the binary
// installs it (Install, at init).
package grpcbuffers

import (
	"sync"

	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/mem"
)

// DefaultTiers are the pool's buffer capacities, grpc's own: 256 B, 4 KB
// (a page), 16 KB (gRPC's largest HTTP/2 frame), 32 KB, 1 MB. A buffer
// larger than the last tier is allocated and left to the collector.
var DefaultTiers = []int{256, 4 << 10, 16 << 10, 32 << 10, 1 << 20}

// Pool is a mem.BufferPool of reused, uncleared buffers.
type Pool struct {
	tiers []tier
}

type tier struct {
	size int
	pool sync.Pool
}

var _ mem.BufferPool = (*Pool)(nil)

// New returns a pool of buffers of the given capacities, ascending.
func New(sizes []int) *Pool {
	p := &Pool{tiers: make([]tier, len(sizes))}
	for i, s := range sizes {
		p.tiers[i].size = s
	}
	return p
}

// Get returns a buffer of length bytes whose contents are whatever its
// last user left: the caller writes before it reads.
func (p *Pool) Get(length int) *[]byte {
	for i := range p.tiers {
		t := &p.tiers[i]
		if length > t.size {
			continue
		}
		if b, ok := t.pool.Get().(*[]byte); ok {
			*b = (*b)[:length]
			return b
		}
		b := make([]byte, length, t.size)
		return &b
	}
	b := make([]byte, length)
	return &b
}

// Put takes a buffer back into the tier of its capacity; one of another
// capacity is left to the collector.
func (p *Pool) Put(b *[]byte) {
	for i := range p.tiers {
		if t := &p.tiers[i]; cap(*b) == t.size {
			t.pool.Put(b)
			return
		}
	}
}

// Install makes a pool of DefaultTiers grpc's default, for every client,
// server and codec of the process. It must run at initialization, before
// any gRPC client or server exists (grpc's rule).
func Install() {
	experimental.SetDefaultBufferPool(New(DefaultTiers))
}
