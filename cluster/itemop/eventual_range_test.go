package itemop

import (
	"fmt"
	"slices"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/hlc"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/vclock"
)

// version is a stamped version of an item whose attribute v is val; a
// tombstone when val is "".
func version(wall int64, val string) []object.Sibling {
	if val == "" {
		return []object.Sibling{{Deleted: true, Stamp: hlc.Timestamp{Wall: wall, Node: "n1"}, Dot: vclock.Dot{Actor: vclock.Actor{Node: "n1"}, Counter: uint64(wall)}}}
	}
	return []object.Sibling{{Value: Encode(with(key("ann", "1"), "v", item.S(val))), Stamp: hlc.Timestamp{Wall: wall, Node: "n1"}, Dot: vclock.Dot{Actor: vclock.Actor{Node: "n1"}, Counter: uint64(wall)}}}
}

func page(from string, more bool, kv ...any) ReplicaPage {
	p := ReplicaPage{From: from, More: more}
	for i := 0; i < len(kv); i += 2 {
		enc, err := object.Encode(kv[i+1].([]object.Sibling))
		if err != nil {
			panic(err)
		}
		p.Keys = append(p.Keys, []byte(kv[i].(string)))
		p.Objects = append(p.Objects, enc)
	}
	return p
}

// summary shows a merged page as key=v (or key=- for no item).
func summary(t *testing.T, entries []Stored) []string {
	t.Helper()
	var out []string
	for _, e := range entries {
		if !e.Value.Exists {
			out = append(out, string(e.Key)+"=-")
			continue
		}
		it, err := Decode(e.Value.Data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s=%s", e.Key, it["v"].(item.S)))
	}
	return out
}

func TestMergeEventualRange(t *testing.T) {
	tests := []struct {
		rule     string
		pages    []ReplicaPage
		reverse  bool
		want     []string
		complete bool
		bad      bool
	}{
		{"replicas that agree give their items", []ReplicaPage{
			page("a", false, "k1", version(1, "x"), "k2", version(1, "y")),
			page("b", false, "k1", version(1, "x"), "k2", version(1, "y"))},
			false, []string{"k1=x", "k2=y"}, true, false},
		{"an item only one replica holds is in the page", []ReplicaPage{
			page("a", false, "k1", version(1, "x")),
			page("b", false, "k1", version(1, "x"), "k2", version(1, "y"))},
			false, []string{"k1=x", "k2=y"}, true, false},
		{"the newest write of any replica wins", []ReplicaPage{
			page("a", false, "k1", version(1, "old")),
			page("b", false, "k1", version(2, "new"))},
			false, []string{"k1=new"}, true, false},
		{"a newer tombstone on one replica hides the item another holds", []ReplicaPage{
			page("a", false, "k1", version(1, "x")),
			page("b", false, "k1", version(2, ""))},
			false, []string{"k1=-"}, true, false},
		{"an older tombstone loses to a newer item", []ReplicaPage{
			page("a", false, "k1", version(3, "back")),
			page("b", false, "k1", version(2, ""))},
			false, []string{"k1=back"}, true, false},
		{"the page ends where the shortest page ends", []ReplicaPage{
			page("a", true, "k1", version(1, "x"), "k2", version(1, "y")),
			page("b", false, "k1", version(1, "x"), "k2", version(1, "y"), "k3", version(1, "z"))},
			false, []string{"k1=x", "k2=y"}, false, false},
		{"what a replica that stopped early may hide past its last key is not answered", []ReplicaPage{
			page("a", true, "k1", version(1, "x"), "k3", version(1, "z")),
			page("b", true, "k1", version(1, "x"), "k2", version(1, "y"))},
			false, []string{"k1=x", "k2=y"}, false, false},
		{"reverse pages merge in descending order", []ReplicaPage{
			page("a", false, "k3", version(1, "z"), "k1", version(1, "x")),
			page("b", true, "k3", version(1, "z"), "k2", version(1, "y"))},
			true, []string{"k3=z", "k2=y"}, false, false},
		{"no replica holds anything: an empty, complete page", []ReplicaPage{page("a", false), page("b", false)},
			false, nil, true, false},
		{"a page out of order is refused", []ReplicaPage{page("a", false, "k2", version(1, "y"), "k1", version(1, "x"))},
			false, nil, false, true},
		{"a page with more but no key is refused", []ReplicaPage{page("a", true)}, false, nil, false, true},
		{"two pages from one replica are refused", []ReplicaPage{page("a", false), page("a", false)}, false, nil, false, true},
		{"an object that does not decode is refused", []ReplicaPage{{From: "a", Keys: [][]byte{[]byte("k1")}, Objects: [][]byte{{0xff, 0xff}}}}, false, nil, false, true},
		{"replicas that agree on a tombstone answer no item", []ReplicaPage{
			page("a", false, "k1", version(2, ""), "k2", version(1, "y")),
			page("b", false, "k1", version(2, ""), "k2", version(1, "y"))},
			false, []string{"k1=-", "k2=y"}, true, false},
		{"an object that does not decode is refused though every replica holds it", []ReplicaPage{
			{From: "a", Keys: [][]byte{[]byte("k1")}, Objects: [][]byte{{0xff, 0xff}}},
			{From: "b", Keys: [][]byte{[]byte("k1")}, Objects: [][]byte{{0xff, 0xff}}}}, false, nil, false, true},
		{"a version without a dot is refused though every replica holds it", []ReplicaPage{
			page("a", false, "k1", []object.Sibling{{Value: []byte("x"), Stamp: hlc.Timestamp{Wall: 1, Node: "n1"}}}),
			page("b", false, "k1", []object.Sibling{{Value: []byte("x"), Stamp: hlc.Timestamp{Wall: 1, Node: "n1"}}})}, false, nil, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			entries, _, complete, err := MergeEventualRange(tt.pages, tt.reverse, nil, nil)
			if tt.bad {
				if err == nil {
					t.Fatal("a malformed reply was merged")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(t, entries); !slices.Equal(got, tt.want) || complete != tt.complete {
				t.Fatalf("page %v complete=%v, want %v complete=%v", got, complete, tt.want, tt.complete)
			}
		})
	}
}

// A replica whose page holds less of a key than the merge gets the merge:
// one that lacks the key, or holds an older version; one that holds the
// merge does not, nor do keys past the page's end.
func TestMergeEventualRangeRepairsWhatIsStale(t *testing.T) {
	pages := []ReplicaPage{
		page("a", false, "k1", version(1, "x"), "k2", version(1, "old"), "k4", version(1, "w")),
		page("b", true, "k2", version(2, "new"), "k3", version(1, "z")),
	}
	stale := func(merged, held []object.Sibling) bool { return !object.SameVersions(merged, held) }
	entries, repairs, _, err := MergeEventualRange(pages, false, nil, stale)
	if err != nil {
		t.Fatal(err)
	}
	if got := summary(t, entries); !slices.Equal(got, []string{"k1=x", "k2=new", "k3=z"}) {
		t.Fatalf("page %v", got)
	}
	var got []string
	for _, r := range repairs {
		got = append(got, r.To+":"+string(r.Key))
		if !object.SameVersions(r.Versions, version(1, "x")) && !object.SameVersions(r.Versions, version(2, "new")) && !object.SameVersions(r.Versions, version(1, "z")) {
			t.Errorf("repair of %s to %s carries %v, not the merge", r.Key, r.To, r.Versions)
		}
	}
	if want := []string{"b:k1", "a:k2", "a:k3"}; !slices.Equal(got, want) {
		t.Fatalf("repairs %v, want %v", got, want)
	}
}

// versionsPage is p as a read of its replica's versions answers it.
func versionsPage(p ReplicaPage) ReplicaPage {
	v := ReplicaPage{From: p.From, Keys: p.Keys, More: p.More, Versions: true}
	for _, o := range p.Objects {
		v.Objects = append(v.Objects, object.AppendEncodedVersions(nil, o))
	}
	return v
}

func TestResolveVersions(t *testing.T) {
	a := page("a", false, "k1", version(1, "x"), "k2", version(1, "y"))
	same := func(from string, p ReplicaPage) ReplicaPage { p.From = from; return p }
	tests := []struct {
		rule     string
		pages    []ReplicaPage
		resolved []string // the replicas whose pages are resolved, in order
		reread   []string
	}{
		{"a page of versions that matches every key, object and end stands for the page of objects",
			[]ReplicaPage{a, versionsPage(same("b", a))}, []string{"a", "b"}, nil},
		{"the page of objects may come after the pages of versions",
			[]ReplicaPage{versionsPage(same("b", a)), a}, []string{"a", "b"}, nil},
		{"pages of objects only need nothing resolved",
			[]ReplicaPage{a, same("b", a)}, []string{"a", "b"}, nil},
		{"an object that differs sends its replica to be read whole",
			[]ReplicaPage{a, versionsPage(page("b", false, "k1", version(1, "x"), "k2", version(2, "y2")))}, []string{"a"}, []string{"b"}},
		{"a key the page of objects lacks sends its replica to be read whole",
			[]ReplicaPage{a, versionsPage(page("b", false, "k1", version(1, "x"), "k2", version(1, "y"), "k3", version(1, "z")))}, []string{"a"}, []string{"b"}},
		{"a key the page of versions lacks sends its replica to be read whole",
			[]ReplicaPage{a, versionsPage(page("b", false, "k1", version(1, "x")))}, []string{"a"}, []string{"b"}},
		{"the same key under another key sends its replica to be read whole",
			[]ReplicaPage{a, versionsPage(page("b", false, "k1", version(1, "x"), "k3", version(1, "y")))}, []string{"a"}, []string{"b"}},
		{"a page that ends elsewhere sends its replica to be read whole",
			[]ReplicaPage{a, versionsPage(page("b", true, "k1", version(1, "x"), "k2", version(1, "y")))}, []string{"a"}, []string{"b"}},
		{"versions cut short never agree",
			[]ReplicaPage{a, func() ReplicaPage {
				v := versionsPage(same("b", a))
				v.Objects[1] = v.Objects[1][:len(v.Objects[1])-1]
				return v
			}()}, []string{"a"}, []string{"b"}},
		{"an object's bytes that differ in what its dot fixes still agree",
			[]ReplicaPage{a, versionsPage(page("b", false, "k1", version(1, "x"), "k2", func() []object.Sibling {
				v := version(1, "y")
				v[0].WrittenAt = 7 // never so for one write: the row shows what is compared
				return v
			}()))}, []string{"a", "b"}, nil},
		{"without a page of objects every page of versions is read whole",
			[]ReplicaPage{versionsPage(same("b", a)), versionsPage(same("c", a))}, nil, []string{"b", "c"}},
		{"each page of versions is weighed on its own",
			[]ReplicaPage{a, versionsPage(same("b", a)), versionsPage(page("c", false, "k1", version(1, "x")))}, []string{"a", "b"}, []string{"c"}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			resolved, reread := ResolveVersions(tt.pages)
			var from []string
			for _, p := range resolved {
				from = append(from, p.From)
				if p.Versions {
					t.Fatalf("%s's resolved page is of versions", p.From)
				}
			}
			if !slices.Equal(from, tt.resolved) || !slices.Equal(reread, tt.reread) {
				t.Fatalf("resolved %v reread %v, want %v and %v", from, reread, tt.resolved, tt.reread)
			}
			// A resolved page merges as the replica's own page of objects
			// would: the same items, nothing to repair.
			if len(resolved) > 0 && len(reread) == 0 {
				entries, repairs, _, err := MergeEventualRange(resolved, false, nil, func(merged, held []object.Sibling) bool { return !object.SameVersions(merged, held) })
				if err != nil || len(repairs) > 0 {
					t.Fatalf("the resolved pages merge with %v, repairs %v", err, repairs)
				}
				if got := summary(t, entries); !slices.Equal(got, []string{"k1=x", "k2=y"}) {
					t.Fatalf("the resolved pages merge to %v", got)
				}
			}
		})
	}
	// A page of versions is not merged as if it held objects.
	if _, _, _, err := MergeEventualRange([]ReplicaPage{a, versionsPage(same("b", a))}, false, nil, nil); err == nil {
		t.Fatal("a page of versions was merged")
	}
}
