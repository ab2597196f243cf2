package replica

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/hlc"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/vclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

func TestApplyHandoff(t *testing.T) {
	peer := vclock.Actor{Node: "n2", Incarnation: 1}
	v := object.Sibling{Value: []byte("v"), Dot: vclock.Dot{Actor: peer, Counter: 1}}
	stamped := v
	stamped.Stamp = hlc.Timestamp{Wall: 5, Node: "n2"}
	lwwKey := catalog.Key(catalog.Table{ID: 3, Consistency: catalog.Eventual, Conflict: catalog.LWW}, []byte("k"))
	strongKey := catalog.Key(catalog.Table{ID: 4, Consistency: catalog.Strong}, []byte("k"))
	goneKey := catalog.Key(catalog.Table{ID: 5, Consistency: catalog.Eventual, Conflict: catalog.Siblings}, []byte("k"))
	tables := catalog.Catalog{Tables: []catalog.Table{{Name: "orders", ID: 3, Consistency: catalog.Eventual, Conflict: catalog.LWW},
		{Name: "ledger", ID: 4, Consistency: catalog.Strong}}, NextID: 6}.CheckEventualWrite // table 5 was deleted
	if tables(goneKey) == nil || tables(lwwKey) != nil {
		t.Fatal("the test's catalog does not refuse table 5 alone")
	}
	entry := func(key string, set ...object.Sibling) *internalpb.HandoffEntry {
		return &internalpb.HandoffEntry{Key: []byte(key), Object: object.ToProto(set)}
	}
	noDot := &internalpb.HandoffEntry{Key: []byte("bad"), Object: object.ToProto([]object.Sibling{{Value: []byte("v")}})}
	for _, tc := range []struct {
		rule    string
		stored  map[string][]object.Sibling // the keys' objects before the batch
		entries []*internalpb.HandoffEntry
		hold    bool
		err     string   // the exact refusal; "" for none
		is      error    // what the refusal wraps, if anything
		staged  []string // keys staged after the batch, in order
	}{
		{rule: "an empty batch stages nothing and is answered at once"},
		{rule: "a batch of new versions is staged and its reply waits for the batch",
			entries: []*internalpb.HandoffEntry{entry("a", v), entry(string(lwwKey), stamped)}, hold: true, staged: []string{string(lwwKey), "a"}},
		{rule: "a batch the replica already holds stages nothing and is answered at once",
			stored: map[string][]object.Sibling{"a": {v}}, entries: []*internalpb.HandoffEntry{entry("a", v)}},
		{rule: "a deleted table's key is skipped, not refused",
			entries: []*internalpb.HandoffEntry{entry(string(goneKey), v), entry("a", v)}, hold: true, staged: []string{"a"}},
		{rule: "a strong table's key is skipped, not refused",
			entries: []*internalpb.HandoffEntry{entry(string(strongKey), v)}},
		{rule: "a skipped key's object is not decoded",
			entries: []*internalpb.HandoffEntry{{Key: goneKey, Object: noDot.Object}}},
		{rule: "an object that does not decode is refused, naming its key",
			entries: []*internalpb.HandoffEntry{noDot}, err: `key "bad": sibling 0: ` + object.ErrNoDot.Error(), is: object.ErrNoDot},
		{rule: "versions of a kind that does not fit the key's table are refused, naming the key",
			entries: []*internalpb.HandoffEntry{entry(string(lwwKey), v)},
			err:     fmt.Sprintf(`key %q: key "k" is of lww table 3: a plain version (without a stamp or a CRDT state) is refused`, lwwKey)},
		{rule: "mixed version kinds are refused",
			entries: []*internalpb.HandoffEntry{entry("a", v, object.Sibling{Value: []byte("w"), Dot: vclock.Dot{Actor: peer, Counter: 2}, Stamp: stamped.Stamp})},
			err:     `key "a": key "a" is not of a last-writer-wins table: a stamped version is refused`},
		{rule: "the first error stops the batch; what came before stays staged, but the reply goes at once",
			entries: []*internalpb.HandoffEntry{entry("a", v), noDot, entry("b", v)}, err: `key "bad": sibling 0: ` + object.ErrNoDot.Error(), staged: []string{"a"}},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			s := store{}
			for k, set := range tc.stored {
				s[k] = encode(t, set...)
			}
			p := newPartition(t, s)
			hold, err := p.ApplyHandoff(tc.entries, tables)
			refused := tc.err != "" || tc.is != nil
			switch {
			case !refused && err != nil:
				t.Fatalf("refused: %v", err)
			case refused && err == nil:
				t.Fatal("applied, want a refusal")
			case tc.err != "" && err.Error() != tc.err:
				t.Fatalf("refusal %q, want %q", err, tc.err)
			case tc.is != nil && !errors.Is(err, tc.is):
				t.Fatalf("refusal %v does not wrap %v", err, tc.is)
			case hold != tc.hold:
				t.Fatalf("hold %v, want %v", hold, tc.hold)
			}
			writes, _ := p.Batch()
			var staged []string
			for _, w := range writes {
				staged = append(staged, string(w.Key))
			}
			if slices.Sort(staged); !slices.Equal(staged, tc.staged) {
				t.Fatalf("staged %q, want %q", staged, tc.staged)
			}
		})
	}
}
