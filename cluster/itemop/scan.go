package itemop

import (
	"time"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/ring"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
)

// Scan is a planned Scan page. A table's items lie in every ring
// partition (the ring places each partition key on its own), so a Scan
// walks the partitions in order, each one's registers of the table in key
// order; a segment is a contiguous run of partitions. The node reads
// partition From from Start, then each partition after it up to To from
// the table's first item, until the page is full.
type Scan struct {
	// From and To are the partitions the page may read, [From, To); the
	// segment holds none when From == To.
	From, To int
	// Start is the range read in partition From: after ExclusiveStartKey's
	// item when it is there, else the whole table.
	Start item.Range
	// Table is the range read in every partition after From.
	Table item.Range
	// MaxKeys is how many registers the page reads, over all partitions.
	MaxKeys int
	reading
}

// PlanScan checks a Scan made at now of a ring of partitions partitions
// and finds where its page starts.
func PlanScan(t catalog.Table, req tableapi.Scan, partitions int, now time.Time) (*Scan, error) {
	maxKeys, err := pageKeys(req.Limit)
	if err != nil {
		return nil, err
	}
	from, to, err := segment(req.Segment, req.TotalSegments, partitions)
	if err != nil {
		return nil, err
	}
	attrs, err := attributes(req.Expressions)
	if err != nil {
		return nil, err
	}
	s := &Scan{From: from, To: to, Table: catalog.TableItems(t), MaxKeys: maxKeys}
	s.Start = s.Table
	if s.reading, err = planReading(t, now, req.Filter, req.Projection, req.Select, attrs, true); err != nil {
		return nil, err
	}
	if err := attrs.Unused(); err != nil {
		return nil, err
	}
	if req.ExclusiveStartKey != nil {
		start, err := startKey(t, req.ExclusiveStartKey)
		if err != nil {
			return nil, err
		}
		p := ring.PartitionOf(ring.KeyHash(catalog.PlacementKey(start)), partitions)
		if p < from || p >= to {
			return nil, tableapi.Errorf(tableapi.KindValidation, "The provided starting key is invalid: it is not of segment %d of %d", req.Segment, req.TotalSegments)
		}
		s.From, s.Start = p, s.Table.After(start)
	}
	return s, nil
}

// segment is the run of partitions [from, to) that segment of total
// reads: total contiguous slices of the ring, as even as they can be
// (none for some when there are more segments than partitions); the whole
// ring when total is 0 (no segments asked for).
func segment(seg, total, partitions int) (from, to int, err error) {
	switch {
	case total == 0 && seg == 0:
		return 0, partitions, nil
	case total == 0:
		return 0, 0, tableapi.Errorf(tableapi.KindValidation, "The TotalSegments parameter is required but was not present in the request when parameter Segment is present")
	case total < 0 || total > tableapi.MaxTotalSegments:
		return 0, 0, tableapi.Errorf(tableapi.KindValidation, "TotalSegments must be from 1 to %d, not %d", tableapi.MaxTotalSegments, total)
	case seg < 0 || seg >= total:
		return 0, 0, tableapi.Errorf(tableapi.KindValidation, "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: %d is not less than TotalSegments: %d", seg, total)
	}
	return seg * partitions / total, (seg + 1) * partitions / total, nil
}

// Range is the range the page reads in partition p.
func (s *Scan) Range(p int) item.Range {
	if p == s.From {
		return s.Start
	}
	return s.Table
}

// Page makes the Scan's answer from the registers it read, in the order
// it read them over its partitions; complete says none of the segment
// remains past them.
func (s *Scan) Page(read []Stored, complete bool) (tableapi.QueryResult, error) {
	return s.page(read, complete)
}
