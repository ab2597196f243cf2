// Package ring owns key placement: the consistent-hashing ring that maps a
// key to a partition and a partition to the nodes that replicate it.
//
// As in Dynamo and Riak, the 2^64 hash space is cut into a fixed number Q of
// equal partitions, and nodes claim whole partitions instead of random points
// on the ring. Keys never move between partitions; only partition ownership
// changes when membership changes, so handoff works one partition at a time.
//
// The claim is a pure function of the member set: the sorted node ids take
// partitions round robin (partition i belongs to sorted[i % len(members)]).
// Every node that sees the same member set computes the same ring with no
// coordination. This gives:
//
//   - balance: every member owns floor(Q/M) or ceil(Q/M) partitions;
//   - any non-wrapping window of up to M consecutive partitions has distinct
//     owners, so the first N partitions after a key's partition usually
//     name N different nodes when M >= N.
//
// A window that wraps from partition Q-1 to partition 0 can repeat an owner
// when Q is not a multiple of M (for example M=3, Q=7 gives owners
// a b c a b c a, and partitions 6, 0 are both a's). That is why
// PreferenceListForPartition walks the ring collecting distinct nodes rather
// than taking the owners of the next N partitions verbatim.
//
// Because the claim depends only on the sorted member set, adding or removing
// a member can reassign many partitions, not just the minimum; callers that
// hand off data must cope with that.
//
// A Ring is immutable after New and safe for concurrent use.
package ring

import (
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/harmoniakv/harmonia/cluster/catalog"
	"math/bits"
	"slices"
)

// DefaultPartitions is the default Q. It must stay fixed for the life of a
// cluster (changing it moves every key), so it is chosen well above the
// expected node count to keep ownership balanced.
const DefaultPartitions = 64

// Errors returned by New, wrapped with detail.
var (
	ErrInvalidPartitions = errors.New("invalid partition count")
	ErrNoMembers         = errors.New("ring has no members")
	ErrInvalidMember     = errors.New("invalid member id")
)

// KeyHash returns the key's position on the ring: the first 8 bytes of
// SHA-1(key), big-endian. SHA-1 is used for placement, not security: it is
// stable across processes, platforms and releases, unlike hash/maphash.
func KeyHash(key []byte) uint64 {
	sum := sha1.Sum(key)
	return binary.BigEndian.Uint64(sum[:])
}

// PartitionOf returns the partition of q that contains hash. Partition i
// covers [i*2^64/q, (i+1)*2^64/q): the high word of the 128-bit product
// hash*q is exactly floor(hash*q / 2^64), which is correct for any q, not
// only powers of two. It panics if q < 1.
func PartitionOf(hash uint64, q int) int {
	if q < 1 {
		panic(fmt.Sprintf("ring: PartitionOf with %d partitions, need at least 1", q))
	}
	hi, _ := bits.Mul64(hash, uint64(q))
	return int(hi)
}

// Ring is an immutable assignment of Q partitions to member nodes.
type Ring struct {
	members []string       // sorted, distinct, non-empty ids
	index   map[string]int // member id -> position in members
	owners  []string       // owners[p] is the owner of partition p
}

// New builds the ring for members (node ids, in any order) with q
// partitions. It fails if q < 1, members is empty, or an id is empty or
// repeated. Members may exceed q; the extra members then own nothing.
func New(members []string, q int) (*Ring, error) {
	if q < 1 {
		return nil, fmt.Errorf("new ring: %w: %d, must be at least 1", ErrInvalidPartitions, q)
	}
	if len(members) == 0 {
		return nil, fmt.Errorf("new ring: %w", ErrNoMembers)
	}
	sorted := slices.Clone(members)
	slices.Sort(sorted)
	index := make(map[string]int, len(sorted))
	for i, id := range sorted {
		if id == "" {
			return nil, fmt.Errorf("new ring: %w: empty id", ErrInvalidMember)
		}
		if _, dup := index[id]; dup {
			return nil, fmt.Errorf("new ring: %w: %q listed more than once", ErrInvalidMember, id)
		}
		index[id] = i
	}
	owners := make([]string, q)
	for p := range owners {
		owners[p] = sorted[p%len(sorted)]
	}
	return &Ring{members: sorted, index: index, owners: owners}, nil
}

// Partitions returns Q.
func (r *Ring) Partitions() int { return len(r.owners) }

// Members returns the member ids, sorted. The slice is a copy.
func (r *Ring) Members() []string { return slices.Clone(r.members) }

// Contains reports whether node is a member.
func (r *Ring) Contains(node string) bool {
	_, ok := r.index[node]
	return ok
}

// Owner returns the owner of partition p. It panics if p is not in
// [0, Partitions()).
func (r *Ring) Owner(p int) string { return r.owners[p] }

// Owners returns the owner of every partition, indexed by partition. The
// slice is a copy.
func (r *Ring) Owners() []string { return slices.Clone(r.owners) }

// OwnedBy returns the partitions node owns, ascending; nil if it owns none
// or is not a member.
func (r *Ring) OwnedBy(node string) []int {
	i, ok := r.index[node]
	if !ok {
		return nil
	}
	var ps []int
	for p := i; p < len(r.owners); p += len(r.members) {
		ps = append(ps, p)
	}
	return ps
}

// PartitionForKey returns the partition that stores key: the one its
// placement key (catalog.PlacementKey: an item's table and partition key,
// any other key whole) hashes to.
func (r *Ring) PartitionForKey(key []byte) int {
	return PartitionOf(KeyHash(catalog.PlacementKey(key)), len(r.owners))
}

// PreferenceList returns the n nodes that replicate key, coordinator first.
// See PreferenceListForPartition.
func (r *Ring) PreferenceList(key []byte, n int) []string {
	return r.PreferenceListForPartition(r.PartitionForKey(key), n)
}

// PreferenceListForPartition returns the owner of p followed by the owners
// of p+1, p+2, ... (wrapping past Q-1 to 0), skipping nodes already listed,
// until it has n distinct nodes or every owner is listed. It returns
// min(n, owners) nodes where owners = min(members, Q); with at least as many
// partitions as members (the normal case) that is min(n, members), so with
// fewer than n members it returns all of them. It returns nil if n < 1 and
// panics if p is not in [0, Partitions()).
func (r *Ring) PreferenceListForPartition(p, n int) []string {
	if p < 0 || p >= len(r.owners) {
		panic(fmt.Sprintf("ring: partition %d out of range [0, %d)", p, len(r.owners)))
	}
	want := min(n, len(r.members), len(r.owners))
	if want < 1 {
		return nil
	}
	list := make([]string, 0, want)
	// Members that own no partition (more members than Q) can never be
	// reached, hence the bound on want above and on steps here.
	for step := 0; step < len(r.owners) && len(list) < want; step++ {
		owner := r.owners[(p+step)%len(r.owners)]
		if !slices.Contains(list, owner) {
			list = append(list, owner)
		}
	}
	return list
}

// Fallbacks returns the members after partition p's preference list of n
// nodes, clockwise and distinct: where a write for a down replica goes
// instead (sloppy quorum).
func (r *Ring) Fallbacks(p, n int) []string {
	// The preference list is the first n of the full clockwise walk.
	all := r.PreferenceListForPartition(p, len(r.members))
	return all[min(max(n, 0), len(all)):]
}
