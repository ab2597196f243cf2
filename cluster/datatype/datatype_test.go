package datatype

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/crdt"
	"github.com/harmoniakv/harmonia/cluster/vclock"
	"github.com/harmoniakv/harmonia/messages/datatypepb"
)

var actor = vclock.Actor{Node: "n1~1", Incarnation: 9}

func apply(t *testing.T, s crdt.State, ctx crdt.Context, ops ...*datatypepb.DatatypeOp) (crdt.State, error) {
	t.Helper()
	converted, err := Ops(ops)
	if err != nil {
		return s, err
	}
	next, _, err := crdt.Apply(s, crdt.Update{Actor: actor, Context: ctx, Ops: converted}, crdt.DefaultLimits)
	if err != nil {
		return s, err
	}
	return next, nil
}

func TestOps(t *testing.T) {
	field := func(name, typ string) *datatypepb.DatatypeField {
		return &datatypepb.DatatypeField{Name: name, Type: typ}
	}
	for _, tc := range []struct {
		rule string
		op   *datatypepb.DatatypeOp
		want string // "" ok, else a part of the error
	}{
		{"an increment makes a counter field", Increment(3, "views"), ""},
		{"an add makes a set field in a nested map", Add("go", "profile", "tags"), ""},
		{"a flag and a register", Enable(true, "active"), ""},
		{"a last-writer-wins register", AssignLWW("blue", "profile", "color"), ""},
		{"a last-writer-wins assignment on a register is refused", &datatypepb.DatatypeOp{Path: Path("register", "r"), Op: &datatypepb.DatatypeOp_AssignLww{AssignLww: "x"}}, `an assign on field "r", a register`},
		{"the leaf type may be left to the operation", &datatypepb.DatatypeOp{Path: []*datatypepb.DatatypeField{field("n", "")}, Op: &datatypepb.DatatypeOp_Increment{Increment: 1}}, ""},
		{"an increment on a set is refused, naming both", &datatypepb.DatatypeOp{Path: Path("set", "tags"), Op: &datatypepb.DatatypeOp_Increment{Increment: 1}}, `an increment on field "tags", a set`},
		{"an add on a counter is refused", &datatypepb.DatatypeOp{Path: Path("counter", "n"), Op: &datatypepb.DatatypeOp_Add{Add: "x"}}, `an add on field "n", a counter`},
		{"a field under a non-map is refused", &datatypepb.DatatypeOp{Path: []*datatypepb.DatatypeField{field("n", "counter"), field("x", "set")}, Op: &datatypepb.DatatypeOp_Add{Add: "a"}}, "it is a map, not a counter"},
		{"an unknown type is refused", RemoveField("bag", "x"), `type "bag"`},
		{"removing a field needs its type", RemoveField("", "x"), "needs its type"},
		{"an empty path is refused", &datatypepb.DatatypeOp{Op: &datatypepb.DatatypeOp_Increment{Increment: 1}}, "path is empty"},
		{"an empty name is refused", Increment(1, ""), "field name of 0 bytes"},
		{"a name too long is refused", Increment(1, strings.Repeat("x", MaxNameLen+1)), "field name of 256 bytes"},
		{"an element too long is refused", Add(strings.Repeat("x", MaxElementLen+1), "s"), "element of"},
		{"no operation is refused", &datatypepb.DatatypeOp{Path: Path("counter", "n")}, "no operation"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			_, err := Ops([]*datatypepb.DatatypeOp{tc.op})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid)):
				t.Fatalf("got %v, want ErrInvalid containing %q", err, tc.want)
			}
		})
	}
	binary := &datatypepb.DatatypeOp{Path: Path("set", "s"), Op: &datatypepb.DatatypeOp_AddBytes{AddBytes: []byte{0xff, 0}}}
	if _, err := Ops([]*datatypepb.DatatypeOp{binary}); err == nil || !strings.Contains(err.Error(), "for the items of a table") {
		t.Errorf("a key's value took an element of bytes (clients read them as strings): %v", err)
	}
	if ops, err := ItemOps([]*datatypepb.DatatypeOp{binary}, 2); err != nil || len(ops) != 1 {
		t.Errorf("an item's operation of bytes was refused: %v", err)
	}
	if _, err := ItemOps([]*datatypepb.DatatypeOp{binary}, 1); err == nil || !strings.Contains(err.Error(), "element of 2 bytes, at most 1") {
		t.Errorf("an item's element over its bound was taken: %v", err)
	}
	for _, notAnAttribute := range []*datatypepb.DatatypeOp{Enable(true, "f"), AssignLWW("v", "r"), Add("x", "nested", "s"), RemoveField("map", "m")} {
		if _, err := ItemOps([]*datatypepb.DatatypeOp{notAnAttribute}, 100); !errors.Is(err, ErrInvalid) {
			t.Errorf("an item's operation on %v, no field an item has, was taken: %v", notAnAttribute.GetPath(), err)
		}
	}
	if _, err := Ops(nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no operations: %v", err)
	}
	if _, err := Ops(make([]*datatypepb.DatatypeOp, MaxOps+1)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("%d operations: %v", MaxOps+1, err)
	}
}

// Operations apply where their path says, and the view shows every field
// with its type.
func TestApplyAndView(t *testing.T) {
	s, err := apply(t, crdt.State{}, crdt.Context{},
		Increment(5, "views"), Increment(-2, "views"), Add("go", "profile", "tags"), Add("rust", "profile", "tags"),
		Enable(true, "active"), Assign("alice", "profile", "name"))
	if err != nil {
		t.Fatal(err)
	}
	v := View(s)
	if got := Field(v, Path("counter", "views")...).GetCounter(); got != 3 {
		t.Fatalf("views = %d, want 3", got)
	}
	if got := Field(v, Path("set", "profile", "tags")...).GetSet().GetValues(); !slices.Equal(got, []string{"go", "rust"}) {
		t.Fatalf("tags = %v", got)
	}
	if !Field(v, Path("flag", "active")...).GetFlag() {
		t.Fatal("active is not enabled")
	}
	if got := Field(v, Path("register", "profile", "name")...).GetRegister().GetValues(); !slices.Equal(got, []string{"alice"}) {
		t.Fatalf("name = %v", got)
	}
	if Field(v, Path("counter", "nothing")...) != nil || Field(v, Path("set", "views")...) != nil {
		t.Fatal("a field that is not there, or of another type, was found")
	}
	// A removal takes what the context saw; without a context, nothing.
	if _, err := apply(t, s, crdt.Context{}, Remove("go", "profile", "tags")); !errors.Is(err, crdt.ErrNotObserved) {
		t.Fatalf("a remove without a context: %v, want ErrNotObserved", err)
	}
	s, err = apply(t, s, s.Context(), Remove("go", "profile", "tags"), RemoveField("counter", "views"))
	if err != nil {
		t.Fatal(err)
	}
	v = View(s)
	if got := Field(v, Path("set", "profile", "tags")...).GetSet().GetValues(); !slices.Equal(got, []string{"rust"}) {
		t.Fatalf("after the remove: tags = %v", got)
	}
	if Field(v, Path("counter", "views")...) != nil {
		t.Fatal("the removed counter field is still there")
	}
	if got := View(crdt.State{}).GetMap(); got == nil || len(got.Entries) != 0 {
		t.Fatalf("the empty state renders as %v, want the empty map", got)
	}
}

// A set keeps no tombstones: after 1,000 adds from three replicas and as
// many removes, the state is its context alone, one entry per replica.
// (With n = 10,000: 179,658 bytes full, 34 after, docs/benchmarks.md; each
// update encodes the whole state, so that run takes a minute.)
func TestSetKeepsNoTombstones(t *testing.T) {
	actors := []vclock.Actor{{Node: "n1~1", Incarnation: 1}, {Node: "n2~1", Incarnation: 1}, {Node: "n3~1", Incarnation: 1}}
	var s crdt.State
	const n = 1_000
	for i := range n {
		ops, err := Ops([]*datatypepb.DatatypeOp{Add(fmt.Sprintf("element-%05d", i), "s")})
		if err != nil {
			t.Fatal(err)
		}
		if s, _, err = crdt.Apply(s, crdt.Update{Actor: actors[i%3], Ops: ops}, crdt.DefaultLimits); err != nil {
			t.Fatal(err)
		}
	}
	full := len(crdt.Encode(s))
	for i := range n {
		ops, err := Ops([]*datatypepb.DatatypeOp{Remove(fmt.Sprintf("element-%05d", i), "s")})
		if err != nil {
			t.Fatal(err)
		}
		if s, _, err = crdt.Apply(s, crdt.Update{Actor: actors[i%3], Context: s.Context(), Ops: ops}, crdt.DefaultLimits); err != nil {
			t.Fatal(err)
		}
	}
	empty := len(crdt.Encode(s))
	t.Logf("a set of %d elements: %d bytes; after removing them all: %d bytes", n, full, empty)
	if members := Field(View(s), Path("set", "s")...).GetSet().GetValues(); len(members) != 0 {
		t.Fatalf("%d members left", len(members))
	}
	if empty > 100 {
		t.Fatalf("after %d removes the state is %d bytes: it keeps something of what it removed", n, empty)
	}
}

// A last-writer-wins register shows its winner; the replica that applies
// an assignment stamps it (crdt.Stamp), so the later one wins.
func TestLWWRegisterShowsTheNewestAssignment(t *testing.T) {
	var s crdt.State
	for i, v := range []string{"red", "blue"} {
		ops, err := Ops([]*datatypepb.DatatypeOp{AssignLWW(v, "color")})
		if err != nil {
			t.Fatal(err)
		}
		if s, _, err = crdt.Apply(s, crdt.Update{Actor: actor, Context: s.Context(), Ops: crdt.Stamp(s, ops, int64(100-i))}, crdt.DefaultLimits); err != nil {
			t.Fatal(err)
		}
	}
	got := Field(View(s), Path("lww-register", "color")...)
	if got.GetLwwRegister() != "blue" {
		t.Fatalf("the register shows %v after red then blue (from a clock behind)", got)
	}
}
