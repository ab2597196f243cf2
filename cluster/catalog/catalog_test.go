package catalog

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/proto"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		rule string
		name string
		ok   bool
	}{
		{"letters, digits, '_', '-' and '.' are allowed", "Orders_2026-v1.0", true},
		{"three characters is the shortest name", "abc", true},
		{"two characters are too few", "ab", false},
		{"255 characters is the longest name", strings.Repeat("a", 255), true},
		{"256 characters are too many", strings.Repeat("a", 256), false},
		{"a space is refused", "my table", false},
		{"a slash is refused", "a/b", false},
		{"non-ASCII letters are refused", "tablé", false},
		{"a NUL byte is refused", "ab\x00c", false},
		{"the built-in table's name is refused", DefaultTable, false},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			err := CheckName(tt.name)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckName(%.40q) = %v", tt.name, err)
			}
			if err != nil && !errors.Is(err, ErrBadName) {
				t.Fatalf("error %v is not ErrBadName", err)
			}
		})
	}
}

func TestCatalogChanges(t *testing.T) {
	limits := Limits{MaxTables: 3}
	var c Catalog
	c, orders, err := c.Create(Spec{Name: "orders", Consistency: Strong}, 1, limits)
	if err != nil || orders.ID != FirstID || orders.Consistency != Strong || c.Revision != 1 {
		t.Fatalf("create orders: %+v, %+v, %v", orders, c, err)
	}

	t.Run("a name taken by a table is refused", func(t *testing.T) {
		if _, _, err := c.Create(Spec{Name: "orders", Consistency: Eventual}, 2, limits); !errors.Is(err, ErrExists) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("an unknown consistency is refused", func(t *testing.T) {
		if _, _, err := c.Create(Spec{Name: "carts", Consistency: "causal"}, 2, limits); err == nil {
			t.Fatal("created a table with consistency causal")
		}
	})
	t.Run("a deleted table's name is free at once, its id never is", func(t *testing.T) {
		c2, a, _ := c.Create(Spec{Name: "aaa", Consistency: Eventual}, 2, limits)
		c2, gone, err := c2.Delete("aaa")
		if err != nil || gone.ID != a.ID {
			t.Fatalf("delete aaa: %+v %v", gone, err)
		}
		if _, err := c2.Lookup("aaa"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("lookup of a deleted table: %v", err)
		}
		if !c2.Deleted(a.ID) || c2.Deleted(orders.ID) {
			t.Fatalf("Deleted(%d)=%v Deleted(%d)=%v", a.ID, c2.Deleted(a.ID), orders.ID, c2.Deleted(orders.ID))
		}
		c2, again, err := c2.Create(Spec{Name: "aaa", Consistency: Strong}, 3, limits)
		if err != nil || again.ID == a.ID {
			t.Fatalf("create aaa again: %+v %v", again, err)
		}
		if c2.Tables[0].Name != "aaa" || c2.Tables[1].Name != "orders" {
			t.Fatalf("tables not sorted by name: %+v", c2.Tables)
		}
		if got := c2.DeletedIDs(); len(got) != 1 || got[0] != a.ID {
			t.Fatalf("DeletedIDs = %v, want [%d]", got, a.ID)
		}
		if c2.Revision != c.Revision+3 {
			t.Fatalf("revision %d after three changes from %d", c2.Revision, c.Revision)
		}
	})
	t.Run("an id not handed out yet is not deleted", func(t *testing.T) {
		if c.Deleted(c.NextID) || c.Deleted(0) {
			t.Fatal("an unknown id or the system's id counts as deleted")
		}
	})
	t.Run("deleting an unknown table is NotFound", func(t *testing.T) {
		if _, _, err := c.Delete("nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("the table limit is enforced", func(t *testing.T) {
		c2, _, _ := c.Create(Spec{Name: "bbb", Consistency: Eventual}, 2, limits)
		c2, _, _ = c2.Create(Spec{Name: "ccc", Consistency: Eventual}, 2, limits)
		if _, _, err := c2.Create(Spec{Name: "ddd", Consistency: Eventual}, 2, limits); !errors.Is(err, ErrTooMany) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("changes leave the catalog they were applied to as it was", func(t *testing.T) {
		before := Encode(c)
		c.Create(Spec{Name: "eee", Consistency: Eventual}, 2, limits)
		c.Delete("orders")
		if !bytes.Equal(Encode(c), before) {
			t.Fatal("a change modified its receiver")
		}
	})
}

func TestCodec(t *testing.T) {
	var c Catalog
	c, _, _ = c.Create(Spec{Name: "zeta", Consistency: Strong}, 5, DefaultLimits())
	c, _, _ = c.Create(Spec{Name: "alpha", Consistency: Eventual}, 6, DefaultLimits())
	got, err := Decode(Encode(c))
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, c)
	}
	if empty, err := Decode(nil); err != nil || len(empty.Tables) != 0 {
		t.Fatalf("empty: %+v %v", empty, err)
	}
	bad := []struct {
		rule string
		pb   *internalpb.CatalogValue
	}{
		{"an id at or above next id is refused", &internalpb.CatalogValue{NextId: 2, Tables: []*internalpb.CatalogTable{{Name: "abc", Id: 2, Consistency: "strong"}}}},
		{"id 0 is the system's", &internalpb.CatalogValue{NextId: 2, Tables: []*internalpb.CatalogTable{{Name: "abc", Id: 0, Consistency: "strong"}}}},
		{"an id used twice is refused", &internalpb.CatalogValue{NextId: 3, Tables: []*internalpb.CatalogTable{{Name: "abc", Id: 1, Consistency: "strong"}, {Name: "abd", Id: 1, Consistency: "strong"}}}},
		{"a name listed twice is refused", &internalpb.CatalogValue{NextId: 3, Tables: []*internalpb.CatalogTable{{Name: "abc", Id: 1, Consistency: "strong"}, {Name: "abc", Id: 2, Consistency: "strong"}}}},
		{"an invalid name is refused", &internalpb.CatalogValue{NextId: 2, Tables: []*internalpb.CatalogTable{{Name: "a b", Id: 1, Consistency: "strong"}}}},
		{"an unknown consistency is refused", &internalpb.CatalogValue{NextId: 2, Tables: []*internalpb.CatalogTable{{Name: "abc", Id: 1, Consistency: "causal"}}}},
	}
	for _, tt := range bad {
		t.Run(tt.rule, func(t *testing.T) {
			b, _ := proto.Marshal(tt.pb)
			if _, err := Decode(b); err == nil {
				t.Fatal("decoded")
			}
		})
	}
	if _, err := Decode([]byte{0xff, 0xff}); err == nil {
		t.Fatal("decoded garbage")
	}
}

func TestKeys(t *testing.T) {
	strong := Table{Name: "orders", ID: 7, Consistency: Strong}
	eventual := Table{Name: "carts", ID: 9, Consistency: Eventual}
	c := Catalog{Tables: []Table{eventual, strong}, NextID: 10}
	tests := []struct {
		rule              string
		key               []byte
		eventualOK, strOK bool
	}{
		{"a default-table key takes eventual writes", []byte("k"), true, false},
		{"an eventual table's key takes eventual writes", Key(eventual, []byte("k")), true, false},
		{"a strong table's key takes only consensus steps", Key(strong, []byte("k")), false, true},
		{"the catalog's register is a strong key", CatalogKey, false, true},
		{"a deleted table's key takes nothing", Key(Table{ID: 3, Consistency: Eventual}, []byte("k")), false, false},
		{"a deleted strong table's key takes nothing", Key(Table{ID: 3, Consistency: Strong}, []byte("k")), false, false},
		{"a table not known yet takes writes (a newer catalog may hold it)", Key(Table{ID: 12, Consistency: Eventual}, []byte("k")), true, false},
		{"a short table prefix is malformed", []byte{Reserved, 'e', 0}, false, false},
		{"an unknown kind is malformed", []byte{Reserved, 'x', 0, 0, 0, 1, 'k'}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			if err := c.CheckEventualWrite(tt.key); (err == nil) != tt.eventualOK {
				t.Errorf("CheckEventualWrite: %v", err)
			}
			if err := c.CheckStrongKey(tt.key); (err == nil) != tt.strOK {
				t.Errorf("CheckStrongKey: %v", err)
			}
		})
	}
	info, err := ParseKey(Key(strong, []byte("user")))
	if err != nil || info.Default || info.ID != 7 || info.Consistency != Strong || string(info.Key) != "user" {
		t.Fatalf("ParseKey: %+v %v", info, err)
	}
	if _, err := DefaultKey([]byte{0, 'a'}); !errors.Is(err, ErrReservedKey) {
		t.Fatalf("DefaultKey of a reserved key: %v", err)
	}
	if k, err := DefaultKey([]byte("a\x00")); err != nil || string(k) != "a\x00" {
		t.Fatalf("DefaultKey: %q %v", k, err)
	}
}

// The catalog's register is read from consensus, written by any node of
// the cluster: Decode must never panic, and what it accepts must encode
// back to a catalog that decodes the same.
func FuzzDecode(f *testing.F) {
	var c Catalog
	c, _, _ = c.Create(Spec{Name: "orders", Consistency: Strong}, 1, DefaultLimits())
	c, _, _ = c.Create(Spec{Name: "carts", Consistency: Eventual}, 2, DefaultLimits())
	f.Add(Encode(c))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Decode(Encode(got))
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("decoded %+v, which re-encodes to %+v (%v)", got, again, err)
		}
		for _, tb := range got.Tables {
			if CheckName(tb.Name) != nil || tb.ID < FirstID || tb.ID >= got.NextID {
				t.Fatalf("accepted an invalid table %+v", tb)
			}
		}
	})
}

// Keys come from peers and clients: ParseKey must never panic, and a key
// it reads as a table's is that table's prefix and the client's key.
func FuzzParseKey(f *testing.F) {
	f.Add(Key(Table{ID: 3, Consistency: Strong}, []byte("k")))
	f.Add([]byte("plain"))
	f.Add([]byte{Reserved, 'x'})
	f.Fuzz(func(t *testing.T, key []byte) {
		info, err := ParseKey(key)
		if err != nil {
			return
		}
		if info.Default {
			if !bytes.Equal(info.Key, key) {
				t.Fatalf("default key %x read as %x", key, info.Key)
			}
			return
		}
		if again := Key(Table{ID: info.ID, Consistency: info.Consistency}, info.Key); !bytes.Equal(again, key) {
			t.Fatalf("%x read as %+v, which lays out as %x", key, info, again)
		}
	})
}
