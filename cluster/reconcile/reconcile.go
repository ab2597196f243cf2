// Package reconcile owns the decision that ends an anti-entropy exchange:
// given the objects two replicas of a partition hold in the leaf buckets
// whose Merkle hashes differ (cluster/merkle finds those), which merged
// object each replica must be sent. It is pure; the exchange actor reads
// the buckets, calls Replicas and sends the writes.
package reconcile

import (
	"slices"
	"time"

	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/reap"
)

// Repair is the merge of one key that one or both sides lack part of.
type Repair struct {
	Key    string
	Merged []object.Sibling
	// Local and Remote say which side must be sent Merged.
	Local, Remote bool
}

// Replicas merges each key either side holds and names the sides that
// lack part of the merge, by rule (reap.Config.Spread): never a side that
// holds every version already, nor a tombstone past grace to a side that
// holds nothing of the key. Repairs are sorted by key.
func Replicas(local, remote map[string][]object.Sibling, rule reap.Config, now time.Time) []Repair {
	keys := make([]string, 0, len(local)+len(remote))
	for k := range local {
		keys = append(keys, k)
	}
	for k := range remote {
		if _, ok := local[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out []Repair
	for _, k := range keys {
		l, r := local[k], remote[k]
		merged := object.Merge(l, r)
		toLocal, toRemote := rule.Spread(merged, l, now), rule.Spread(merged, r, now)
		if toLocal || toRemote {
			out = append(out, Repair{Key: k, Merged: merged, Local: toLocal, Remote: toRemote})
		}
	}
	return out
}
