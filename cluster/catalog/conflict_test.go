package catalog

import (
	"errors"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/proto"
)

func TestConflictTypes(t *testing.T) {
	tests := []struct {
		rule        string
		consistency Consistency
		asked       Conflict
		want        Conflict
		ok          bool
		items       bool
	}{
		{"an eventual table keeps siblings by default", Eventual, "", Siblings, true, false},
		{"an eventual table may keep siblings", Eventual, Siblings, Siblings, true, false},
		{"an eventual table may let the last writer win", Eventual, LWW, LWW, true, false},
		{"an eventual table may hold CRDT values", Eventual, CRDT, CRDT, true, false},
		{"a strong table refuses crdt", Strong, CRDT, "", false, false},
		{"an unknown type is refused", Eventual, "newest", "", false, false},
		{"a strong table has none", Strong, "", "", true, false},
		{"a strong table refuses lww: its keys have one value", Strong, LWW, "", false, false},
		{"a strong table refuses siblings too", Strong, Siblings, "", false, false},
		{"an eventual table of items lets the last writer win by default", Eventual, "", LWW, true, true},
		{"an eventual table of items may say lww", Eventual, LWW, LWW, true, true},
		{"an eventual table of items refuses siblings: an item is one value", Eventual, Siblings, "", false, true},
		{"an eventual table of items may merge CRDT states", Eventual, CRDT, CRDT, true, true},
		{"a strong table of items has none", Strong, "", "", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			c, table, err := Catalog{}.Create(Spec{Name: "orders", Consistency: tt.consistency, Conflict: tt.asked, Schema: schemaIf(tt.items)}, 1, DefaultLimits())
			if (err == nil) != tt.ok {
				t.Fatalf("Create: %v, want ok %v", err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrBadConflict) {
					t.Fatalf("error %v is not ErrBadConflict", err)
				}
				if len(c.Tables) != 0 {
					t.Fatalf("a refused table was added: %+v", c.Tables)
				}
				return
			}
			if table.Conflict != tt.want {
				t.Fatalf("conflict %q, want %q", table.Conflict, tt.want)
			}
			back, err := Decode(Encode(c))
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := back.Lookup("orders"); got.Conflict != tt.want {
				t.Fatalf("after a round trip: conflict %q, want %q", got.Conflict, tt.want)
			}
		})
	}
}

// A catalog written before conflict types existed names none: its eventual
// tables keep siblings, as they did; a stored conflict type a strong table
// cannot have is refused.
func TestDecodeConflict(t *testing.T) {
	for _, tt := range []struct {
		rule        string
		consistency string
		conflict    string
		want        Conflict
		ok          bool
	}{
		{"an eventual table without one keeps siblings", "eventual", "", Siblings, true},
		{"an eventual table keeps lww", "eventual", "lww", LWW, true},
		{"a strong table with lww is refused", "strong", "lww", "", false},
		{"an unknown type is refused", "eventual", "sideways", "", false},
	} {
		t.Run(tt.rule, func(t *testing.T) {
			b, err := proto.Marshal(&internalpb.CatalogValue{NextId: 2, Tables: []*internalpb.CatalogTable{{Name: "orders", Id: 1, Consistency: tt.consistency, Conflict: tt.conflict}}})
			if err != nil {
				t.Fatal(err)
			}
			c, err := Decode(b)
			if (err == nil) != tt.ok {
				t.Fatalf("Decode: %v, want ok %v", err, tt.ok)
			}
			if err == nil && c.Tables[0].Conflict != tt.want {
				t.Fatalf("conflict %q, want %q", c.Tables[0].Conflict, tt.want)
			}
		})
	}
}

func TestCheckVersions(t *testing.T) {
	lww := Key(Table{ID: 1, Consistency: Eventual, Conflict: LWW}, []byte("k"))
	crdtKey := Key(Table{ID: 2, Consistency: Eventual, Conflict: CRDT}, []byte("k"))
	plain := Key(Table{ID: 3, Consistency: Eventual, Conflict: Siblings}, []byte("k"))
	for _, tt := range []struct {
		rule string
		key  []byte
		k    VersionKinds
		ok   bool
	}{
		{"a table that keeps siblings takes plain versions", plain, VersionKinds{Plain: true}, true},
		{"the default table too", []byte("k"), VersionKinds{Plain: true}, true},
		{"it refuses stamped ones", plain, VersionKinds{Stamped: true}, false},
		{"and CRDT states", []byte("k"), VersionKinds{Datatype: true}, false},
		{"a last-writer-wins table takes stamped versions", lww, VersionKinds{Stamped: true}, true},
		{"it refuses plain ones", lww, VersionKinds{Plain: true, Stamped: true}, false},
		{"and CRDT states", lww, VersionKinds{Datatype: true}, false},
		{"a CRDT table takes CRDT states", crdtKey, VersionKinds{Datatype: true}, true},
		{"it refuses plain versions", crdtKey, VersionKinds{Plain: true}, false},
		{"and stamped ones", crdtKey, VersionKinds{Stamped: true, Datatype: true}, false},
	} {
		t.Run(tt.rule, func(t *testing.T) {
			if err := CheckVersions(tt.key, tt.k); (err == nil) != tt.ok {
				t.Fatalf("CheckVersions: %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// schemaIf is a key schema when items, none otherwise.
func schemaIf(items bool) item.KeySchema {
	if !items {
		return item.KeySchema{}
	}
	return item.KeySchema{Partition: item.KeyAttribute{Name: "user", Type: item.TypeS}}
}
