package catalog

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/item"
)

var itemSchema = item.KeySchema{Partition: item.KeyAttribute{Name: "user", Type: item.TypeS}, Sort: item.KeyAttribute{Name: "at", Type: item.TypeN}}

func mustItemKey(t *testing.T, tb Table, pk string, sk string) []byte {
	t.Helper()
	k, err := ItemKey(tb, item.Key{Partition: item.S(pk), Sort: item.MustNumber(sk)})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestItemKeysPlaceByPartitionKeyAndSortBySortKey(t *testing.T) {
	strong := Table{ID: 4, Consistency: Strong, Schema: itemSchema}
	a1, a2, a3 := mustItemKey(t, strong, "ann", "-5"), mustItemKey(t, strong, "ann", "3"), mustItemKey(t, strong, "ann", "20")
	b := mustItemKey(t, strong, "ann\x00", "3")
	if !bytes.Equal(PlacementKey(a1), PlacementKey(a3)) {
		t.Error("two items of one partition key are placed apart")
	}
	if bytes.Equal(PlacementKey(a1), PlacementKey(b)) {
		t.Error("two partition keys are placed as one")
	}
	if !slices.IsSortedFunc([][]byte{a1, a2, a3}, bytes.Compare) {
		t.Error("items of one partition key are not stored in sort key order")
	}
	opaque := Key(Table{ID: 4, Consistency: Strong}, []byte("ann"))
	if !bytes.Equal(PlacementKey(opaque), opaque) || !bytes.Equal(PlacementKey([]byte("plain")), []byte("plain")) {
		t.Error("an opaque key is not placed whole")
	}
	r, err := ItemRange(strong, item.S("ann"), item.SortCondition{Op: item.SortGE, Value: item.MustNumber("3")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		key  []byte
		want bool
	}{{a1, false}, {a2, true}, {a3, true}, {b, false}} {
		if r.Contains(tt.key) != tt.want {
			t.Errorf("range at sort key >= 3 contains %q: %v", tt.key, !tt.want)
		}
	}
	info, err := ParseKey(a2)
	if err != nil || !info.Items || info.Consistency != Strong || info.ID != 4 {
		t.Fatalf("parse an item key: %+v %v", info, err)
	}
	if k, err := itemSchema.ParseStorageKey(info.Key); err != nil || !item.Equal(k.Partition, item.S("ann")) || !item.Equal(k.Sort, item.MustNumber("3")) {
		t.Fatalf("an item key's key: %+v %v", k, err)
	}
	eventual := Table{ID: 4, Consistency: Eventual, Schema: itemSchema}
	if info, _ := ParseKey(mustItemKey(t, eventual, "ann", "3")); info.Consistency != Eventual || !info.Items {
		t.Fatalf("an eventual table's item key: %+v", info)
	}
	crdtItems := Table{ID: 4, Consistency: Eventual, Conflict: CRDT, Schema: itemSchema}
	c1 := mustItemKey(t, crdtItems, "ann", "3")
	if info, _ := ParseKey(c1); info.Consistency != Eventual || info.Conflict != CRDT || !info.Items || !IsItemKey(c1) {
		t.Fatalf("a crdt table's item key: %+v", info)
	}
	if !bytes.Equal(PlacementKey(c1)[KeyOverhead:], PlacementKey(a2)[KeyOverhead:]) || bytes.Equal(c1, a2) {
		t.Error("a crdt table's item key is not placed by its partition key, or is another kind's")
	}
	if CheckVersions(c1, VersionKinds{Datatype: true}) != nil || CheckVersions(c1, VersionKinds{Stamped: true}) == nil {
		t.Error("a crdt table's item key does not take CRDT states alone")
	}
	if c := (Catalog{Tables: []Table{{Name: "events", ID: 4, Consistency: Strong, Schema: itemSchema}}, NextID: 5}); c.CheckEventualWrite(a2) == nil || c.CheckStrongKey(a2) != nil {
		t.Error("a strong item's key is not kept to consensus")
	}
}

func TestMalformedItemKeysAreRefused(t *testing.T) {
	good := mustItemKey(t, Table{ID: 4, Consistency: Strong, Schema: itemSchema}, "ann", "3")
	for _, tt := range []struct {
		name string
		key  []byte
	}{
		{"shorter than the header", good[:KeyOverhead+1]},
		{"a partition key longer than the key", append(slices.Clone(good[:KeyOverhead]), 0xFF, 0xFF, 'a')},
		{"an empty partition key", append(slices.Clone(good[:KeyOverhead]), 0, 0, 'a')},
	} {
		if _, err := ParseKey(tt.key); !errors.Is(err, ErrBadKey) {
			t.Errorf("%s: %v", tt.name, err)
		}
		_ = PlacementKey(tt.key) // never panics
	}
}

func TestTableOfItemsRoundTrips(t *testing.T) {
	c, tb, err := Catalog{}.Create(Spec{Name: "events", Consistency: Strong, Schema: itemSchema}, 1, DefaultLimits())
	if err != nil || !tb.HasItems() {
		t.Fatalf("create a table of items: %+v %v", tb, err)
	}
	back, err := Decode(Encode(c))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := back.Lookup("events"); got != tb {
		t.Fatalf("decoded %+v, want %+v", got, tb)
	}
	for name, bad := range map[string]item.KeySchema{
		"a key of type BOOL":     {Partition: item.KeyAttribute{Name: "k", Type: item.TypeBOOL}},
		"keys of one name":       {Partition: item.KeyAttribute{Name: "k", Type: item.TypeS}, Sort: item.KeyAttribute{Name: "k", Type: item.TypeS}},
		"a sort key of no name":  {Partition: item.KeyAttribute{Name: "k", Type: item.TypeS}, Sort: item.KeyAttribute{Type: item.TypeS}},
		"no partition key given": {Sort: item.KeyAttribute{Name: "k", Type: item.TypeS}},
	} {
		if _, _, err := (Catalog{}).Create(Spec{Name: "bad", Consistency: Strong, Schema: bad}, 1, DefaultLimits()); !errors.Is(err, ErrBadSchema) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestTableItemsHoldEveryItemOfTheTableAndNoOther(t *testing.T) {
	strong := Table{ID: 4, Consistency: Strong, Schema: itemSchema}
	r := TableItems(strong)
	for _, pk := range []string{"", "ann", "\xff\xff\xff"} {
		if k := mustItemKey(t, strong, pk+"x", "1"); !r.Contains(k) {
			t.Errorf("item %q of the table is outside %q", k, r)
		}
	}
	for _, other := range [][]byte{
		mustItemKey(t, Table{ID: 5, Consistency: Strong, Schema: itemSchema}, "ann", "1"),
		mustItemKey(t, Table{ID: 3, Consistency: Strong, Schema: itemSchema}, "ann", "1"),
		mustItemKey(t, Table{ID: 4, Consistency: Eventual, Schema: itemSchema}, "ann", "1"),
		mustItemKey(t, Table{ID: 4, Consistency: Eventual, Conflict: CRDT, Schema: itemSchema}, "ann", "1"),
		Key(strong, []byte("ann")),
	} {
		if r.Contains(other) {
			t.Errorf("key %q of another table is inside %q", other, r)
		}
	}
	last := TableItems(Table{ID: MaxID, Consistency: Strong, Schema: itemSchema})
	if k := mustItemKey(t, Table{ID: MaxID, Consistency: Strong, Schema: itemSchema}, "ann", "1"); !last.Contains(k) || last.Empty() {
		t.Errorf("the last table id's items %q are not in %q", k, last)
	}
}

func TestCheckItemRangeTakesOnlyRangesOfOneLiveTableOfTheConsistencyRead(t *testing.T) {
	strong := Table{Name: "events", ID: 4, Consistency: Strong, Schema: itemSchema}
	c := Catalog{Tables: []Table{strong}, NextID: 5}
	whole := TableItems(strong)
	ann := mustItemKey(t, strong, "ann", "1")
	eventual := TableItems(Table{ID: 4, Consistency: Eventual, Schema: itemSchema})
	cases := []struct {
		rule         string
		lower, upper []byte
		ok           bool
	}{
		{"the whole table", whole.Lower, whole.Upper, true},
		{"after an item (a page resumed)", append(slices.Clone(ann), 0), whole.Upper, true},
		{"one partition key's items", ann, append(slices.Clone(ann), 0xFF), true},
		{"an eventual table's items", eventual.Lower, eventual.Upper, false},
		{"opaque keys of a strong table", Prefix(4, Strong), whole.Upper, false},
		{"past the table's end", whole.Lower, append(slices.Clone(whole.Upper), 0), false},
		{"into the next table", whole.Lower, mustItemKey(t, Table{ID: 5, Consistency: Strong, Schema: itemSchema}, "a", "1"), false},
		{"empty", ann, ann, false},
		{"a lower bound that is no item's key", append(slices.Clone(whole.Lower), 0, 9), whole.Upper, false},
		{"an upper bound past the longest key", whole.Lower, append(slices.Clone(whole.Lower), make([]byte, MaxItemKeySize)...), false},
	}
	for _, c2 := range cases {
		if err := c.CheckItemRange(c2.lower, c2.upper, Strong); (err == nil) != c2.ok {
			t.Errorf("%s: %v, want ok=%v", c2.rule, err, c2.ok)
		}
	}
	if err := c.CheckItemRange(eventual.Lower, eventual.Upper, Eventual); err != nil {
		t.Errorf("an eventual table's items read as eventual: %v", err)
	}
	if crdtItems := TableItems(Table{ID: 4, Consistency: Eventual, Conflict: CRDT, Schema: itemSchema}); c.CheckItemRange(crdtItems.Lower, crdtItems.Upper, Eventual) != nil || c.CheckItemRange(crdtItems.Lower, crdtItems.Upper, Strong) == nil {
		t.Error("a crdt table's items are not read as an eventual table's")
	}
	if err := c.CheckItemRange(whole.Lower, whole.Upper, Eventual); err == nil {
		t.Error("a strong table's items were taken as an eventual table's")
	}
	if err := c.CheckEventualItemKey(mustItemKey(t, Table{ID: 4, Consistency: Eventual, Schema: itemSchema}, "ann", "1")); err != nil {
		t.Errorf("an eventual table's item key: %v", err)
	}
	if err := c.CheckEventualItemKey(ann); err == nil {
		t.Error("a strong table's item key was taken as an eventual table's")
	}
	deleted, _, err := c.Delete("events")
	if err != nil {
		t.Fatal(err)
	}
	if err := deleted.CheckItemRange(whole.Lower, whole.Upper, Strong); !errors.Is(err, ErrNotFound) {
		t.Errorf("a deleted table's items: %v, want not found", err)
	}
}
