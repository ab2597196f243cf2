package catalog

import (
	"errors"
	"strings"
	"testing"
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
	c, orders, err := c.Create("orders", Strong, 1, limits)
	if err != nil || orders.ID != FirstID || orders.State != Active || orders.Consistency != Strong {
		t.Fatalf("create orders: %+v, %v", orders, err)
	}

	t.Run("a name taken by an active table is refused", func(t *testing.T) {
		if _, _, err := c.Create("orders", Eventual, 2, limits); !errors.Is(err, ErrExists) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("an unknown consistency is refused", func(t *testing.T) {
		if _, _, err := c.Create("carts", "causal", 2, limits); err == nil {
			t.Fatal("created a table with consistency causal")
		}
	})
	t.Run("ids are never reused, and tables stay sorted by name", func(t *testing.T) {
		c2, a, _ := c.Create("aaa", Eventual, 2, limits)
		c2, _ = mustDelete(t, c2, "aaa")
		c2, err := c2.Drop(a.ID)
		if err != nil {
			t.Fatal(err)
		}
		c2, b, err := c2.Create("aaa", Eventual, 3, limits)
		if err != nil || b.ID == a.ID || b.ID <= orders.ID {
			t.Fatalf("recreated aaa: %+v (first had id %d), %v", b, a.ID, err)
		}
		if c2.Tables[0].Name != "aaa" || c2.Tables[1].Name != "orders" {
			t.Fatalf("tables not sorted: %+v", c2.Tables)
		}
	})
	t.Run("a deleting table is not found, and its name stays taken until it is dropped", func(t *testing.T) {
		c2, del := mustDelete(t, c, "orders")
		if del.State != Deleting {
			t.Fatalf("%+v", del)
		}
		if _, err := c2.Lookup("orders"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("lookup of a deleting table: %v", err)
		}
		if _, _, err := c2.Delete("orders"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if _, _, err := c2.Create("orders", Strong, 5, limits); !errors.Is(err, ErrExists) {
			t.Fatalf("create while deleting: %v", err)
		}
		if got := c2.Deleting(); len(got) != 1 || got[0].ID != orders.ID {
			t.Fatalf("deleting: %+v", got)
		}
		c3, err := c2.Drop(orders.ID)
		if err != nil || len(c3.Tables) != 0 {
			t.Fatalf("drop: %+v, %v", c3, err)
		}
		if _, err := c.Drop(orders.ID); err == nil {
			t.Fatal("dropped an active table")
		}
	})
	t.Run("the limit counts deleting tables too", func(t *testing.T) {
		c2, _, _ := c.Create("bbb", Eventual, 2, limits)
		c2, _ = mustDelete(t, c2, "bbb")
		c2, _, _ = c2.Create("ccc", Eventual, 3, limits)
		if _, _, err := c2.Create("ddd", Eventual, 4, limits); !errors.Is(err, ErrTooMany) {
			t.Fatalf("a fourth table with a limit of 3: %v", err)
		}
	})
	t.Run("changes leave the catalog they were applied to unchanged", func(t *testing.T) {
		before := len(c.Tables)
		c.Create("zzz", Eventual, 2, limits)
		mustDelete(t, c, "orders")
		if len(c.Tables) != before || c.Tables[0].State != Active {
			t.Fatalf("the original catalog changed: %+v", c.Tables)
		}
	})
}

func mustDelete(t *testing.T, c Catalog, name string) (Catalog, Table) {
	t.Helper()
	out, tbl, err := c.Delete(name)
	if err != nil {
		t.Fatal(err)
	}
	return out, tbl
}
