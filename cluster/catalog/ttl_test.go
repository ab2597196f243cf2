package catalog

import (
	"errors"
	"strings"
	"testing"

	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/proto"
)

func TestChangeTTL(t *testing.T) {
	base, _, _ := Catalog{}.Create(Spec{Name: "events", Consistency: Strong, Schema: itemSchema}, 1, DefaultLimits())
	base, _, _ = base.Create(Spec{Name: "opaque", Consistency: Strong}, 1, DefaultLimits())
	base, _, _ = base.Create(Spec{Name: "feed", Consistency: Eventual, Schema: itemSchema}, 1, DefaultLimits())
	enabled, _, err := base.ChangeTTL("events", "expires", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		rule      string
		from      Catalog
		table     string
		attribute string
		enable    bool
		want      string // the TTL attribute after; unused when err is set
		err       error
		msg       string // part of the refusal's text
	}{
		{"enabling sets the attribute", base, "events", "expires", true, "expires", nil, ""},
		{"disabling clears it", enabled, "events", "expires", false, "", nil, ""},
		{"enabling twice is refused", enabled, "events", "expires", true, "", ErrBadTTL, "TimeToLive is already enabled"},
		{"enabling another attribute while enabled is refused", enabled, "events", "other", true, "", ErrBadTTL, "TimeToLive is already enabled"},
		{"disabling where it is off is refused", base, "events", "expires", false, "", ErrBadTTL, "TimeToLive is already disabled"},
		{"disabling another attribute is refused", enabled, "events", "other", false, "", ErrBadTTL, "different attribute"},
		{"a table of opaque keys has no TTL", base, "opaque", "expires", true, "", ErrBadTTL, "not items"},
		{"an eventual table of items has one too", base, "feed", "expires", true, "expires", nil, ""},
		{"an empty attribute name is refused", base, "events", "", true, "", ErrBadTTL, "invalid"},
		{"a too long attribute name is refused", base, "events", strings.Repeat("a", MaxTTLAttributeBytes+1), true, "", ErrBadTTL, "invalid"},
		{"an attribute name not UTF-8 is refused", base, "events", "\xff", true, "", ErrBadTTL, "invalid"},
		{"an unknown table is not found", base, "nothing", "expires", true, "", ErrNotFound, ""},
	} {
		t.Run(tt.rule, func(t *testing.T) {
			next, tb, err := tt.from.ChangeTTL(tt.table, tt.attribute, tt.enable)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("err %v, want %v with %q", err, tt.err, tt.msg)
				}
				if next.Revision != tt.from.Revision {
					t.Fatal("a refused change moved the revision")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := next.Lookup(tt.table)
			if got.TTLAttribute != tt.want || tb != got || next.Revision != tt.from.Revision+1 {
				t.Fatalf("table %+v (returned %+v), revision %d after %d", got, tb, next.Revision, tt.from.Revision)
			}
			if was, _ := tt.from.Lookup(tt.table); was.TTLAttribute == got.TTLAttribute {
				t.Fatal("the change modified the catalog it was made on")
			}
		})
	}
}

func TestTTLAttributeRoundTrips(t *testing.T) {
	c, _, _ := Catalog{}.Create(Spec{Name: "events", Consistency: Strong, Schema: itemSchema}, 1, DefaultLimits())
	c, tb, _ := c.ChangeTTL("events", "expires", true)
	back, err := Decode(Encode(c))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := back.Lookup("events"); got != tb {
		t.Fatalf("decoded %+v, want %+v", got, tb)
	}
	for _, tt := range []struct {
		rule string
		pb   *internalpb.CatalogTable
	}{
		{"a table of opaque keys with a TTL attribute is refused", &internalpb.CatalogTable{Name: "abc", Id: 1, Consistency: "strong", TtlAttribute: "expires"}},
		{"an invalid TTL attribute is refused", &internalpb.CatalogTable{Name: "abc", Id: 1, Consistency: "strong", PartitionKey: "k", PartitionKeyType: "S", TtlAttribute: strings.Repeat("a", MaxTTLAttributeBytes+1)}},
	} {
		t.Run(tt.rule, func(t *testing.T) {
			b, err := proto.Marshal(&internalpb.CatalogValue{NextId: 2, Tables: []*internalpb.CatalogTable{tt.pb}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Decode(b); err == nil {
				t.Fatal("decoded")
			}
		})
	}
}
