package catalog

import (
	"fmt"
	"slices"

	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/proto"
)

// Encode is the catalog as its register stores it (internalpb.CatalogValue).
func Encode(c Catalog) []byte {
	pb := &internalpb.CatalogValue{NextId: c.NextID, Revision: c.Revision}
	for _, t := range c.Tables {
		pb.Tables = append(pb.Tables, &internalpb.CatalogTable{Name: t.Name, Id: t.ID, Consistency: string(t.Consistency), Conflict: string(t.Conflict), CreatedUnixNanos: t.CreatedUnixNanos,
			PartitionKey: t.Schema.Partition.Name, PartitionKeyType: string(t.Schema.Partition.Type),
			SortKey: t.Schema.Sort.Name, SortKeyType: string(t.Schema.Sort.Type), TtlAttribute: t.TTLAttribute})
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(pb)
	if err != nil {
		panic(fmt.Sprintf("marshal catalog: %v", err)) // cannot fail for a well-formed message
	}
	return b
}

// Decode reads an encoded catalog and checks it: names valid and unique,
// ids unique and below NextID, consistencies known, TTL attributes valid
// and only on tables of items. Empty b is the empty catalog.
func Decode(b []byte) (Catalog, error) {
	var pb internalpb.CatalogValue
	if err := proto.Unmarshal(b, &pb); err != nil {
		return Catalog{}, fmt.Errorf("decode catalog: %w", err)
	}
	c := Catalog{NextID: pb.NextId, Revision: pb.Revision}
	ids := map[uint32]bool{}
	for _, t := range pb.Tables {
		if err := CheckName(t.Name); err != nil {
			return Catalog{}, fmt.Errorf("decode catalog: %w", err)
		}
		cons, err := ParseConsistency(t.Consistency)
		if err != nil {
			return Catalog{}, fmt.Errorf("decode catalog: table %q: %w", t.Name, err)
		}
		if t.Id < FirstID || t.Id >= c.NextID || ids[t.Id] {
			return Catalog{}, fmt.Errorf("decode catalog: table %q has id %d (next id %d, or used twice)", t.Name, t.Id, c.NextID)
		}
		ids[t.Id] = true
		schema := item.KeySchema{Partition: item.KeyAttribute{Name: t.PartitionKey, Type: item.Type(t.PartitionKeyType)},
			Sort: item.KeyAttribute{Name: t.SortKey, Type: item.Type(t.SortKeyType)}}
		if schema != (item.KeySchema{}) {
			if err := schema.Check(); err != nil {
				return Catalog{}, fmt.Errorf("decode catalog: table %q: %w", t.Name, err)
			}
		}
		// A catalog written before conflict types has none: Siblings.
		conflict, err := conflictOf(cons, Conflict(t.Conflict), schema != (item.KeySchema{}))
		if err != nil {
			return Catalog{}, fmt.Errorf("decode catalog: table %q: %w", t.Name, err)
		}
		if t.TtlAttribute != "" {
			if schema == (item.KeySchema{}) {
				return Catalog{}, fmt.Errorf("decode catalog: table %q holds no items but has a TTL attribute", t.Name)
			}
			if err := CheckTTLAttribute(t.TtlAttribute); err != nil {
				return Catalog{}, fmt.Errorf("decode catalog: table %q: %w", t.Name, err)
			}
		}
		c.Tables = append(c.Tables, Table{Name: t.Name, ID: t.Id, Consistency: cons, Conflict: conflict, Schema: schema, CreatedUnixNanos: t.CreatedUnixNanos,
			TTLAttribute: t.TtlAttribute})
	}
	slices.SortFunc(c.Tables, func(a, b Table) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	for i := 1; i < len(c.Tables); i++ {
		if c.Tables[i].Name == c.Tables[i-1].Name {
			return Catalog{}, fmt.Errorf("decode catalog: table %q listed twice", c.Tables[i].Name)
		}
	}
	return c, nil
}
