package itemop

import (
	"fmt"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/ring"
	"github.com/harmoniakv/harmonia/cluster/tableapi"
)

const scanPartitions = 8

func TestPlanScanSplitsTheRingIntoSegments(t *testing.T) {
	cases := []struct {
		rule           string
		segment, total int
		from, to       int
	}{
		{"no segments: the whole ring", 0, 0, 0, scanPartitions},
		{"one segment: the whole ring", 0, 1, 0, scanPartitions},
		{"the first of three", 0, 3, 0, 2},
		{"the middle of three", 1, 3, 2, 5},
		{"the last of three ends at the ring's end", 2, 3, 5, scanPartitions},
		{"more segments than partitions: some hold one", 15, 16, 7, 8},
		{"more segments than partitions: some hold none", 14, 16, 7, 7},
		{"the most segments DynamoDB allows", tableapi.MaxTotalSegments - 1, tableapi.MaxTotalSegments, 7, 8},
	}
	for _, c := range cases {
		s, err := PlanScan(orders, tableapi.Scan{Table: "orders", Segment: c.segment, TotalSegments: c.total}, scanPartitions, now)
		if err != nil {
			t.Errorf("%s: %v", c.rule, err)
			continue
		}
		if s.From != c.from || s.To != c.to {
			t.Errorf("%s: partitions [%d, %d), want [%d, %d)", c.rule, s.From, s.To, c.from, c.to)
		}
	}
	// Every partition is in exactly one segment.
	for total := 1; total <= 2*scanPartitions+1; total++ {
		next := 0
		for seg := range total {
			s, err := PlanScan(orders, tableapi.Scan{Segment: seg, TotalSegments: total}, scanPartitions, now)
			if err != nil || s.From != next {
				t.Fatalf("segment %d of %d: %+v %v, want it to start at %d", seg, total, s, err, next)
			}
			next = s.To
		}
		if next != scanPartitions {
			t.Fatalf("%d segments end at partition %d", total, next)
		}
	}
}

func TestPlanScanRefusesWhatDynamoDBRefuses(t *testing.T) {
	cases := []struct {
		rule string
		req  tableapi.Scan
	}{
		{"a negative Limit", tableapi.Scan{Limit: -1}},
		{"Segment without TotalSegments", tableapi.Scan{Segment: 1}},
		{"a negative TotalSegments", tableapi.Scan{TotalSegments: -1}},
		{"TotalSegments past DynamoDB's limit", tableapi.Scan{TotalSegments: tableapi.MaxTotalSegments + 1}},
		{"Segment not below TotalSegments", tableapi.Scan{Segment: 3, TotalSegments: 3}},
		{"a negative Segment", tableapi.Scan{Segment: -1, TotalSegments: 3}},
		{"a projection with Select COUNT", tableapi.Scan{Projection: "a", Select: tableapi.SelectCount}},
		{"a projection with Select ALL_ATTRIBUTES", tableapi.Scan{Projection: "a", Select: tableapi.SelectAllAttributes}},
		{"an unknown Select", tableapi.Scan{Select: "SOME"}},
		{"an unused substitution", tableapi.Scan{Expressions: tableapi.Expressions{Names: map[string]string{"#a": "a"}}}},
		{"a start key missing its sort key", tableapi.Scan{ExclusiveStartKey: item.Item{"cust": item.S("ann")}}},
		{"a start key of another segment", tableapi.Scan{ExclusiveStartKey: keyIn(t, 7), Segment: 0, TotalSegments: 2}},
	}
	for _, c := range cases {
		if _, err := PlanScan(orders, c.req, scanPartitions, now); tableapi.KindOf(tableapi.Classify(err)) != tableapi.KindValidation {
			t.Errorf("%s: %v, want a validation error", c.rule, err)
		}
	}
}

// keyIn is the key of an item of orders in partition p.
func keyIn(t *testing.T, p int) item.Item {
	t.Helper()
	for i := 0; ; i++ {
		k := key(fmt.Sprint("c", i), "1")
		stored, err := KeyOf(orders, k)
		if err != nil {
			t.Fatal(err)
		}
		if ring.PartitionOf(ring.KeyHash(catalog.PlacementKey(stored)), scanPartitions) == p {
			return k
		}
	}
}

func TestPlanScanResumesAfterTheStartKeyInItsPartition(t *testing.T) {
	s, err := PlanScan(orders, tableapi.Scan{ExclusiveStartKey: keyIn(t, 5), Segment: 1, TotalSegments: 2, Limit: 3}, scanPartitions, now)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := KeyOf(orders, keyIn(t, 5))
	whole := catalog.TableItems(orders)
	if s.From != 5 || s.To != scanPartitions || s.MaxKeys != 3 {
		t.Fatalf("partitions [%d, %d) of %d keys, want [5, %d) of 3", s.From, s.To, s.MaxKeys, scanPartitions)
	}
	if r := s.Range(5); r.Contains(stored) || !r.Contains(append(stored, 0)) || string(r.Upper) != string(whole.Upper) {
		t.Errorf("partition 5 reads %q, want what follows %q in the table", r, stored)
	}
	if r := s.Range(6); string(r.Lower) != string(whole.Lower) || string(r.Upper) != string(whole.Upper) {
		t.Errorf("partition 6 reads %q, want the whole table %q", r, whole)
	}
}

// A Scan's page is a Query's: a filter that may name key attributes, a
// projection, and the last register read as where the next page starts.
func TestScanPageFiltersProjectsAndResumes(t *testing.T) {
	s, err := PlanScan(orders, tableapi.Scan{Filter: "cust = :c", Projection: "n", Expressions: tableapi.Expressions{Values: map[string]item.Value{":c": item.S("ann")}}}, scanPartitions, now)
	if err != nil {
		t.Fatal(err)
	}
	read := []Stored{}
	for _, it := range []item.Item{key("ann", "1"), key("bob", "2")} {
		k, _ := KeyOf(orders, it)
		read = append(read, Stored{Key: k, Value: stored(it)})
	}
	page, err := s.Page(read, false)
	if err != nil {
		t.Fatal(err)
	}
	if page.Count != 1 || page.ScannedCount != 2 || len(page.Items) != 1 || !item.EqualItems(page.Items[0], item.Item{"n": item.MustNumber("1")}) {
		t.Errorf("page %+v, want ann's n of two read", page)
	}
	if !item.EqualItems(page.LastEvaluatedKey, key("bob", "2")) {
		t.Errorf("LastEvaluatedKey %v, want bob's key", page.LastEvaluatedKey)
	}
	if page, _ := s.Page(read, true); page.LastEvaluatedKey != nil {
		t.Errorf("a complete page resumes at %v", page.LastEvaluatedKey)
	}
}
