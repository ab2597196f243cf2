package actors

import (
	"testing"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/item"
)

func TestExpiresPartitionIsTheFirstVoterAlone(t *testing.T) {
	for _, tt := range []struct {
		rule   string
		voters [][]string
		self   string
		want   bool
	}{
		{"the first voter runs the pass", [][]string{{"a", "b", "c"}}, "a", true},
		{"another voter does not", [][]string{{"a", "b", "c"}}, "b", false},
		{"the first voter of the next ring's group does not", [][]string{{"a", "b", "c"}, {"d", "b", "c"}}, "d", false},
		{"no voters, no pass", nil, "a", false},
	} {
		t.Run(tt.rule, func(t *testing.T) {
			if got := expiresPartition(tt.voters, tt.self); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTTLTablesAreStrongTablesOfItemsWithATTLAttribute(t *testing.T) {
	schema := item.KeySchema{Partition: item.KeyAttribute{Name: "k", Type: item.TypeS}}
	c := catalog.Catalog{Tables: []catalog.Table{
		{Name: "expiring", ID: 1, Consistency: catalog.Strong, Schema: schema, TTLAttribute: "exp"},
		{Name: "kept", ID: 2, Consistency: catalog.Strong, Schema: schema},
		{Name: "opaque", ID: 3, Consistency: catalog.Strong},
	}}
	if got := ttlTables(c); len(got) != 1 || got[0].Name != "expiring" {
		t.Fatalf("ttlTables: %+v", got)
	}
}
