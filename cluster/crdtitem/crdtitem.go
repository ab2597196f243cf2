// Package crdtitem owns how an item of a table with conflict = crdt is a
// CRDT map (cluster/crdt), so that concurrent writes to one item merge
// instead of one overwriting the other: which fields hold an attribute,
// how a state renders as the item clients read, and which operations turn
// the item a client observed into the item it wrote.
//
// An attribute is held in up to three fields of its name:
//
//   - a register (crdt.MVRegister) holding the attribute's value, encoded
//     (itempb.AttributeValue): what PutItem, SET and REMOVE write of any
//     attribute but a set. A write replaces the values its client observed;
//     concurrent writes are all kept until the next write that observed
//     them, and a read shows one of them, the same on every replica (the
//     greatest encoding).
//   - a counter (crdt.Counter) beside a number's register: UpdateItem's
//     ADD increments it, so concurrent ADDs all count. A number reads as
//     its register's value (0 when none) plus its counter; a write of the
//     number (SET, PutItem) sets the register and removes the counter it
//     observed. ADD takes integers (the counter is an int64).
//   - a set (crdt.Set, add-wins, no tombstones) holds a string, number or
//     binary set, however it is written: a write adds the elements it
//     lacks and removes those it observed and no longer holds, so
//     concurrent adds all stay and a removal takes only what its client
//     saw.
//
// Only concurrent writes of two types leave a name with a set and a
// register that holds no number; a read then shows the set.
//
// An item exists while its state holds any field. Its key attributes are
// registers too (a PutItem writes them), but a read takes them from the
// item's key, so an update that raced a delete and survived it (add wins)
// still reads as an item with its key.
//
// The package is pure: it reads states and returns operations
// (messages/datatypepb) that the coordinating replica applies.
package crdtitem

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"

	"github.com/harmoniakv/harmonia/cluster/crdt"
	"github.com/harmoniakv/harmonia/cluster/datatype"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/messages/datatypepb"
	"github.com/harmoniakv/harmonia/messages/itempb"
	"google.golang.org/protobuf/proto"
)

// ErrNotACounter reports an ADD whose result a counter cannot hold: not
// an integer, or beyond int64.
var ErrNotACounter = errors.New("not a counter's value")

// The field types of an attribute (datatype's names).
const (
	typeRegister = "register"
	typeCounter  = "counter"
	typeSet      = "set"
)

// Set elements carry their set's type in their first byte, so a set of
// strings and one of numbers never share an element.
var elementTags = map[item.Type]byte{item.TypeSS: 'S', item.TypeNS: 'N', item.TypeBS: 'B'}

// isElementTag reports whether b is the tag of a set type.
func isElementTag(b byte) bool {
	for _, tag := range elementTags {
		if b == tag {
			return true
		}
	}
	return false
}

// setTypes is the order a read picks a set's type in, when concurrent
// ADDs left elements of two types under one name.
var setTypes = []item.Type{item.TypeSS, item.TypeNS, item.TypeBS}

// attribute is what a state holds under one name.
type attribute struct {
	register []string // encoded values, sorted
	counter  *int64
	set      []string // tagged elements, sorted
	// shown and err are value's answer, once it has run (rendered):
	// rendering an item and computing a write's operations from it both
	// need it, and it decodes.
	shown    item.Value
	err      error
	rendered bool
}

// State is an item's CRDT state read attribute by attribute.
type State struct {
	attrs map[string]*attribute
}

// Read reads an item's state; a state that holds a field an item does not
// have (a flag, a map, a set element without its type) is an error, and
// so is, when Item renders it, a register value that does not decode.
func Read(st crdt.State) (State, error) {
	out := State{attrs: map[string]*attribute{}}
	v := st.Value()
	if v == nil {
		return out, nil
	}
	m, ok := v.(crdt.Map)
	if !ok {
		return State{}, fmt.Errorf("an item's state is a map, not a %s", v.Kind())
	}
	for _, f := range m.Fields() {
		fv, _ := m.Get(f)
		a := out.attrs[f.Name]
		if a == nil {
			a = &attribute{}
			out.attrs[f.Name] = a
		}
		switch fv := fv.(type) {
		case crdt.MVRegister:
			a.register = fv.Values()
		case crdt.Counter:
			total := fv.Total()
			a.counter = &total
		case crdt.Set:
			a.set = fv.Members()
			for _, e := range a.set {
				if len(e) == 0 || !isElementTag(e[0]) {
					return State{}, fmt.Errorf("attribute %.64q: a set element without its type", f.Name)
				}
			}
		default:
			return State{}, fmt.Errorf("attribute %.64q: a %s field, which no item attribute is", f.Name, f.Kind)
		}
	}
	return out, nil
}

// Empty reports whether the state holds no attribute: no item.
func (s State) Empty() bool {
	for _, a := range s.attrs {
		if a.counter != nil || len(a.set) > 0 || len(a.register) > 0 {
			return false
		}
	}
	return true
}

// Item is the item the state holds, with key's attributes (the item's key
// attributes, from where it is stored) over its own; nil when it holds
// none.
func (s State) Item(key item.Item) (item.Item, error) {
	if s.Empty() {
		return nil, nil
	}
	out := make(item.Item, len(s.attrs)+len(key))
	for name, a := range s.attrs {
		v, err := a.value()
		if err != nil {
			return nil, fmt.Errorf("attribute %.64q: %w", name, err)
		}
		if v != nil {
			out[name] = v
		}
	}
	for name, v := range key {
		out[name] = v
	}
	return out, nil
}

// value is the attribute as a read shows it (nil when the name holds
// nothing): its set, else its register's value, plus its counter when
// that is a number (or there is none). It is worked out once.
func (a *attribute) value() (item.Value, error) {
	if !a.rendered {
		a.shown, a.err = a.render()
		a.rendered = true
	}
	return a.shown, a.err
}

func (a *attribute) render() (item.Value, error) {
	if len(a.set) > 0 {
		for _, t := range setTypes {
			if v, err := setOf(t, a.set); v != nil || err != nil {
				return v, err
			}
		}
	}
	var reg item.Value
	if len(a.register) > 0 {
		var err error
		if reg, err = decodeValue(a.register[len(a.register)-1]); err != nil {
			return nil, err
		}
	}
	if a.counter == nil {
		return reg, nil
	}
	base, ok := reg.(item.Number)
	if reg != nil && !ok {
		return reg, nil
	}
	n := numberOf(*a.counter)
	if ok {
		return base.Add(n)
	}
	return n, nil
}

// numberOf is n as an item's number.
func numberOf(n int64) item.Number { return item.MustNumber(strconv.FormatInt(n, 10)) }

// addend is the int64 an ADD of n to attribute name increments a counter
// by, or ErrNotACounter: a counter counts integers.
func addend(n item.Number, name string) (int64, error) {
	by, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: ADD of %s to %s: a crdt table's ADD takes an integer (an int64)", ErrNotACounter, n, name)
	}
	return by, nil
}

// setOf is the set of type t made of the elements tagged t (nil when
// none).
func setOf(t item.Type, elements []string) (item.Value, error) {
	tag := elementTags[t]
	var ss []string
	var ns []item.Number
	var bs [][]byte
	for _, e := range elements {
		if e[0] != tag {
			continue
		}
		switch t {
		case item.TypeSS:
			ss = append(ss, e[1:])
		case item.TypeNS:
			n, err := item.ParseNumber(e[1:])
			if err != nil {
				return nil, fmt.Errorf("a number set's element: %w", err)
			}
			ns = append(ns, n)
		case item.TypeBS:
			bs = append(bs, []byte(e[1:]))
		}
	}
	switch {
	case len(ss) > 0:
		return item.SS(ss), nil
	case len(ns) > 0:
		return item.NS(ns), nil
	case len(bs) > 0:
		return item.BS(bs), nil
	}
	return nil, nil
}

// elements are a set value's elements, tagged with its type.
func elements(v item.Value) []string {
	var out []string
	switch v := v.(type) {
	case item.SS:
		for _, e := range v {
			out = append(out, "S"+e)
		}
	case item.NS:
		for _, e := range v {
			out = append(out, "N"+e.String())
		}
	case item.BS:
		for _, e := range v {
			out = append(out, "B"+string(e))
		}
	}
	sort.Strings(out)
	return out
}

func encodeValue(v item.Value) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(item.ToProto(v))
	if err != nil {
		panic(fmt.Sprintf("marshal an attribute value: %v", err)) // cannot fail for a valid value
	}
	return b
}

func decodeValue(enc string) (item.Value, error) {
	var pb itempb.AttributeValue
	if err := proto.Unmarshal([]byte(enc), &pb); err != nil {
		return nil, fmt.Errorf("a register's value: %w", err)
	}
	v, err := item.FromProto(&pb)
	if err != nil {
		return nil, fmt.Errorf("a register's value: %w", err)
	}
	return v, nil
}

// Ops are the operations that turn the item s holds into next (nil: the
// item deleted), made with the context of s: an attribute next does not
// have is removed as observed; one whose value did not change is left
// alone; a set gets adds and removes of its elements; a number that an
// UpdateItem's ADD changed (named in merges) gets its counter
// incremented; any other attribute gets its register written. None when
// nothing changes.
func (s State) Ops(key item.Item, next item.Item, merges map[string]bool) ([]*datatypepb.DatatypeOp, error) {
	cur, err := s.Item(key)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(s.attrs)+len(next))
	for n := range s.attrs {
		names = append(names, n)
	}
	for n := range next {
		if _, ok := s.attrs[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var ops []*datatypepb.DatatypeOp
	for _, name := range names {
		a := s.attrs[name]
		if a == nil {
			a = &attribute{}
		}
		v, ok := next[name]
		switch {
		case !ok:
			ops = a.remove(ops, name, "", "")
		case cur[name] != nil && item.Equal(cur[name], v):
		case elementTags[v.Type()] != 0:
			ops = a.changeSet(ops, name, elements(v))
		case merges[name] && v.Type() == item.TypeN:
			if ops, err = a.add(ops, name, cur[name], v.(item.Number)); err != nil {
				return nil, err
			}
		default:
			ops = append(ops, &datatypepb.DatatypeOp{Path: datatype.Path(typeRegister, name), Op: &datatypepb.DatatypeOp_AssignBytes{AssignBytes: encodeValue(v)}})
			ops = a.remove(ops, name, typeRegister, "")
		}
	}
	return ops, nil
}

// remove appends the removal of every field a holds but those of types
// keep1 and keep2.
func (a *attribute) remove(ops []*datatypepb.DatatypeOp, name, keep1, keep2 string) []*datatypepb.DatatypeOp {
	for _, f := range []struct {
		typ  string
		held bool
	}{{typeRegister, len(a.register) > 0}, {typeCounter, a.counter != nil}, {typeSet, len(a.set) > 0}} {
		if f.held && f.typ != keep1 && f.typ != keep2 {
			ops = append(ops, datatype.RemoveField(f.typ, name))
		}
	}
	return ops
}

// add appends the increment that takes the number from cur (nil: none)
// to sum, an ADD's result: by its counter, beside the number's register.
func (a *attribute) add(ops []*datatypepb.DatatypeOp, name string, cur item.Value, sum item.Number) ([]*datatypepb.DatatypeOp, error) {
	from, ok := cur.(item.Number)
	if !ok {
		from = item.MustNumber("0")
	}
	diff, err := sum.Sub(from)
	if err != nil {
		return nil, fmt.Errorf("%w: ADD to %s: %v", ErrNotACounter, name, err)
	}
	by, err := addend(diff, name)
	if err != nil {
		return nil, err
	}
	var held int64
	if a.counter != nil {
		held = *a.counter
	}
	if total := held + by; (by > 0 && total < held) || (by < 0 && total > held) {
		return nil, fmt.Errorf("%w: ADD of %d to %s takes its counter (%d) beyond an int64", ErrNotACounter, by, name, held)
	}
	ops = append(ops, datatype.Increment(by, name))
	return a.remove(ops, name, typeCounter, typeRegister), nil
}

// changeSet appends what makes the attribute the set of elements (tagged,
// sorted): adds of what it lacks, removes of what it holds beyond.
func (a *attribute) changeSet(ops []*datatypepb.DatatypeOp, name string, want []string) []*datatypepb.DatatypeOp {
	path := datatype.Path(typeSet, name)
	i, j := 0, 0
	for i < len(a.set) || j < len(want) {
		switch c := compareHeads(a.set, i, want, j); {
		case c < 0:
			ops = append(ops, &datatypepb.DatatypeOp{Path: path, Op: &datatypepb.DatatypeOp_RemoveBytes{RemoveBytes: []byte(a.set[i])}})
			i++
		case c > 0:
			ops = append(ops, &datatypepb.DatatypeOp{Path: path, Op: &datatypepb.DatatypeOp_AddBytes{AddBytes: []byte(want[j])}})
			j++
		default:
			i, j = i+1, j+1
		}
	}
	return a.remove(ops, name, typeSet, "")
}

// compareHeads orders a[i] and b[j], an exhausted side last.
func compareHeads(a []string, i int, b []string, j int) int {
	switch {
	case i >= len(a):
		return 1
	case j >= len(b):
		return -1
	}
	return cmp.Compare(a[i], b[j])
}

// Adds are the operations of an update made of ADDs alone (operands by
// attribute: a number, or a string, number or binary set), which need
// nothing of the item: an increment of each number's counter, an add of
// each set element. Unlike Ops they check nothing against the item: an
// ADD of a number to an attribute that holds a string makes a counter
// that the string's register hides until a write of the attribute
// removes both. A number must be an integer within int64.
func Adds(adds map[string]item.Value) ([]*datatypepb.DatatypeOp, error) {
	names := slices.Sorted(maps.Keys(adds))
	var ops []*datatypepb.DatatypeOp
	for _, name := range names {
		switch v := adds[name].(type) {
		case item.Number:
			by, err := addend(v, name)
			if err != nil {
				return nil, err
			}
			ops = append(ops, datatype.Increment(by, name))
		case item.SS, item.NS, item.BS:
			ops = (&attribute{}).changeSet(ops, name, elements(v))
		default:
			return nil, fmt.Errorf("ADD of a %s to %s: ADD takes a number or a set", v.Type(), name)
		}
	}
	return ops, nil
}
