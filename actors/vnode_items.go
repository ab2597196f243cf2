package actors

import (
	"bytes"
	"fmt"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

// objectRangeRead answers a replica's page of a Query or Scan of an
// eventual table of items: the stored versions of the range's keys, in
// the read's order. Like a replica get it reads what is committed.
func (v *vnode) objectRangeRead(m *internalpb.ObjectRangeRead) *internalpb.ObjectRangePage {
	reply := &internalpb.ObjectRangePage{Node: v.self.Node, Partition: uint32(v.partition)}
	if err := v.admit(m.Sender); err != nil {
		reply.Error = err.Error()
		return reply
	}
	if err := v.checkObjectRangeRead(m); err != nil {
		v.counters.refused.add(err)
		reply.Error = err.Error()
		return reply
	}
	// The asker's page size is bounded here too: a reply must fit one
	// remote message whatever a peer asks.
	maxBytes := min(max(int(m.MaxBytes), 1), rangeReadMaxBytes)
	// As stored, packed as read: decoding here only to encode again would
	// double the read's cost; the reader decodes (and checks) each object
	// once.
	page, count, more, err := v.store.ScanRangePacked(v.partition, m.Lower, m.Upper, m.Reverse, int(max(m.MaxKeys, 1)), maxBytes, m.Versions)
	if err != nil {
		reply.Error = err.Error()
		return reply
	}
	reply.Entries, reply.Count, reply.Done, reply.Versions = page, uint32(count), !more, m.Versions
	return reply
}

func (v *vnode) checkObjectRangeRead(m *internalpb.ObjectRangeRead) error {
	if int(m.Partition) != v.partition {
		return fmt.Errorf("range read for partition %d sent to the vnode of partition %d", m.Partition, v.partition)
	}
	if m.OfTable {
		if err := v.catalog.Load().CheckItemRange(m.Lower, m.Upper, catalog.Eventual); err != nil {
			return fmt.Errorf("range read: %w", err)
		}
		return nil
	}
	if !catalog.IsItemKey(m.Lower) || bytes.Compare(m.Lower, m.Upper) >= 0 || len(m.Upper) > catalog.MaxItemKeySize+1 {
		return fmt.Errorf("range read: bounds %.64q to %.64q are not a range of items", m.Lower, m.Upper)
	}
	if err := v.catalog.Load().CheckEventualItemKey(m.Lower); err != nil {
		return fmt.Errorf("range read: %w", err)
	}
	view := v.view.Load()
	if view.Ring == nil {
		return fmt.Errorf("node %s has no ring yet", v.self.Node)
	}
	if p := view.Ring.PartitionForKey(m.Lower); p != v.partition {
		return fmt.Errorf("range read: items of %.64q are in partition %d, not %d", m.Lower, p, v.partition)
	}
	return nil
}
