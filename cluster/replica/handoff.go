package replica

import (
	"fmt"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

// ApplyHandoff merges a handoff batch, which this node's own transfer
// fetched, into the partition and stages what it changes, entry by entry.
// tables refuses the keys the node's catalog does not let the eventual
// path write (catalog.Catalog.CheckEventualWrite): such a key is skipped,
// not refused, as its sender drops it too (a replica write refuses it
// instead, Replicate). Versions of a kind that does not fit the key's
// table are refused. The first error, naming its key, stops the batch;
// what earlier entries staged stays staged. hold is true when something
// was staged and nothing failed: the reply then waits for the batch to be
// durable; otherwise it goes at once.
func (p *Partition) ApplyHandoff(entries []*internalpb.HandoffEntry, tables func(key []byte) error) (hold bool, err error) {
	staged := false
	for _, e := range entries {
		if tables(e.Key) != nil {
			continue // a deleted table's key: dropped here, as its sender will drop it
		}
		in, err := object.FromProto(e.Object)
		var changed bool
		if err == nil {
			err = checkVersions(e.Key, in)
		}
		if err == nil {
			changed, err = p.Merge(e.Key, in)
		}
		if err != nil {
			return false, fmt.Errorf("key %q: %w", e.Key, err)
		}
		staged = staged || changed
	}
	return staged, nil
}

// checkVersions refuses versions in of key whose kinds do not fit its
// table (catalog.CheckVersions).
func checkVersions(key []byte, in []object.Sibling) error {
	plain, stamped, datatype := object.Kinds(in)
	return catalog.CheckVersions(key, catalog.VersionKinds{Plain: plain, Stamped: stamped, Datatype: datatype})
}
