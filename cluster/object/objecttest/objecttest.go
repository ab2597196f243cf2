// Package objecttest builds sibling sets for the tests of the packages that
// decide on them (cluster/request, cluster/reconcile).
package objecttest

import (
	"time"

	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/vclock"
)

// Version is value written by node (incarnation 1) at counter n, at
// writtenAt, by a writer that had read prior.
func Version(value, node string, n uint64, writtenAt time.Time, prior ...object.Sibling) object.Sibling {
	s := object.Sibling{Value: []byte(value), Dot: vclock.Dot{Actor: vclock.Actor{Node: node, Incarnation: 1}, Counter: n}, WrittenAt: writtenAt.UnixNano()}
	for _, p := range prior {
		s.Context = vclock.Merge(s.Context, p.History())
	}
	return s
}

// Tombstone is a delete by node at counter n, at deletedAt, of what the
// deleter had read (prior).
func Tombstone(node string, n uint64, deletedAt time.Time, prior ...object.Sibling) object.Sibling {
	s := Version("", node, n, deletedAt, prior...)
	s.Deleted = true
	return s
}
