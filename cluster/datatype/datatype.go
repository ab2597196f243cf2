// Package datatype owns how clients see the CRDT values of tables with
// conflict = crdt (messages/datatypepb): every value is a map of typed
// fields; an operation names its field by a path from the top of the value
// and is checked against the field's type before it becomes a
// cluster/crdt operation; a value renders as typed fields. It is pure.
package datatype

import (
	"errors"
	"fmt"
	"slices"

	"github.com/harmoniakv/harmonia/cluster/crdt"
	"github.com/harmoniakv/harmonia/messages/datatypepb"
)

// ErrInvalid reports an operation a client sent that cannot apply: no
// path, a type that does not exist, an operation that does not fit its
// field's type.
var ErrInvalid = errors.New("invalid CRDT operation")

// Limits bound what one update may ask.
const (
	// MaxOps bounds the operations of one update.
	MaxOps = 1000
	// MaxNameLen bounds a field's name, in bytes.
	MaxNameLen = 255
	// MaxElementLen bounds a set element or a register value, in bytes.
	MaxElementLen = 64 << 10
)

// The field types clients name, and the CRDT kind of each.
var kinds = map[string]crdt.Kind{
	"counter":      crdt.KindCounter,
	"set":          crdt.KindSet,
	"flag":         crdt.KindFlag,
	"register":     crdt.KindMVRegister,
	"lww-register": crdt.KindLWWRegister,
	"map":          crdt.KindMap,
}

// TypeName is the name clients use for kind k ("" for a kind they cannot
// name).
func TypeName(k crdt.Kind) string {
	for n, kk := range kinds {
		if kk == k {
			return n
		}
	}
	return ""
}

// Ops converts a client's operations into operations on the top-level map
// of a value, refusing (ErrInvalid) any that does not fit, and the
// operations with elements of any bytes (add_bytes, remove_bytes,
// assign_bytes): a client reads a value's elements as strings.
func Ops(ops []*datatypepb.DatatypeOp) ([]crdt.Op, error) {
	return convertAll(ops, opRules{maxElement: MaxElementLen})
}

// ItemOps converts the operations the table service made of an item
// write on a crdt table (cluster/crdtitem): those with elements of any
// bytes are taken, each element up to maxElement bytes (an item's bound),
// and only the fields an item has: a counter, a set or a register of a
// top-level attribute. Anything else would leave a state no read could
// render, so a peer that sends it is refused.
func ItemOps(ops []*datatypepb.DatatypeOp, maxElement int) ([]crdt.Op, error) {
	return convertAll(ops, opRules{anyBytes: true, itemFields: true, maxElement: maxElement})
}

// itemKinds are the kinds of an item's fields (cluster/crdtitem).
var itemKinds = []crdt.Kind{crdt.KindCounter, crdt.KindSet, crdt.KindMVRegister}

// opRules are what a list of operations may hold.
type opRules struct {
	// anyBytes: elements of any bytes are taken (an item's values).
	anyBytes bool
	// itemFields: only an item's fields (itemKinds, at the top level).
	itemFields bool
	maxElement int
}

func convertAll(ops []*datatypepb.DatatypeOp, rules opRules) ([]crdt.Op, error) {
	if len(ops) == 0 {
		return nil, fmt.Errorf("%w: an update needs at least one operation", ErrInvalid)
	}
	if len(ops) > MaxOps {
		return nil, fmt.Errorf("%w: %d operations in one update, at most %d", ErrInvalid, len(ops), MaxOps)
	}
	out := make([]crdt.Op, len(ops))
	for i, op := range ops {
		o, err := convert(op, rules)
		if err != nil {
			return nil, fmt.Errorf("operation %d: %w", i+1, err)
		}
		out[i] = o
	}
	return out, nil
}

// convert turns one operation into an operation on the top-level map.
func convert(op *datatypepb.DatatypeOp, rules opRules) (crdt.Op, error) {
	path := op.GetPath()
	if len(path) == 0 {
		return nil, fmt.Errorf("%w: no field named (path is empty)", ErrInvalid)
	}
	fields := make([]crdt.Field, len(path))
	last := len(path) - 1
	for i, f := range path {
		if len(f.GetName()) == 0 || len(f.GetName()) > MaxNameLen {
			return nil, fmt.Errorf("%w: field name of %d bytes (1 to %d)", ErrInvalid, len(f.GetName()), MaxNameLen)
		}
		fields[i].Name = f.GetName()
		switch {
		case i < last && f.GetType() != "" && f.GetType() != "map":
			return nil, fmt.Errorf("%w: field %q holds fields, so it is a map, not a %s", ErrInvalid, f.GetName(), f.GetType())
		case i < last:
			fields[i].Kind = crdt.KindMap
		case f.GetType() != "":
			k, ok := kinds[f.GetType()]
			if !ok {
				return nil, fmt.Errorf("%w: field %q has type %q: use counter, set, flag, register, lww-register or map", ErrInvalid, f.GetName(), f.GetType())
			}
			fields[i].Kind = k
		}
	}
	leaf, kind, err := leafOp(op, rules)
	if err != nil {
		return nil, err
	}
	f := &fields[last]
	switch {
	case leaf == nil && f.Kind == 0: // remove_field
		return nil, fmt.Errorf("%w: removing field %q needs its type", ErrInvalid, f.Name)
	case leaf != nil && f.Kind != 0 && f.Kind != kind:
		return nil, fmt.Errorf("%w: %s on field %q, a %s (it takes %s)", ErrInvalid, opName(op), f.Name, TypeName(f.Kind), opsOf(f.Kind))
	case leaf != nil:
		f.Kind = kind
	}
	if rules.itemFields && (last > 0 || !slices.Contains(itemKinds, f.Kind)) {
		return nil, fmt.Errorf("%w: field %q (a %s, %d deep) is no attribute of an item", ErrInvalid, f.Name, f.Kind, last+1)
	}
	// Built inside out: the last field's operation, then each map above.
	var out crdt.Op
	if leaf == nil {
		out = crdt.RemoveField{Field: *f}
	} else {
		out = crdt.UpdateField{Field: *f, Op: leaf}
	}
	for i := last - 1; i >= 0; i-- {
		out = crdt.UpdateField{Field: fields[i], Op: out}
	}
	return out, nil
}

// leafOp is the operation on the last field and the kind it needs; nil
// for remove_field.
func leafOp(op *datatypepb.DatatypeOp, rules opRules) (crdt.Op, crdt.Kind, error) {
	element := func(e string) error {
		if len(e) > rules.maxElement {
			return fmt.Errorf("%w: element of %d bytes, at most %d", ErrInvalid, len(e), rules.maxElement)
		}
		return nil
	}
	switch op.GetOp().(type) {
	case *datatypepb.DatatypeOp_AddBytes, *datatypepb.DatatypeOp_RemoveBytes, *datatypepb.DatatypeOp_AssignBytes:
		if !rules.anyBytes {
			return nil, 0, fmt.Errorf("%w: %s with an element of bytes is for the items of a table, not a key's value", ErrInvalid, opName(op))
		}
	}
	switch o := op.GetOp().(type) {
	case *datatypepb.DatatypeOp_Increment:
		return crdt.Increment{By: o.Increment}, crdt.KindCounter, nil
	case *datatypepb.DatatypeOp_Add:
		return setOp(crdt.Add{Element: o.Add}, element(o.Add))
	case *datatypepb.DatatypeOp_AddBytes:
		return setOp(crdt.Add{Element: string(o.AddBytes)}, element(string(o.AddBytes)))
	case *datatypepb.DatatypeOp_Remove:
		return setOp(crdt.Remove{Element: o.Remove}, element(o.Remove))
	case *datatypepb.DatatypeOp_RemoveBytes:
		return setOp(crdt.Remove{Element: string(o.RemoveBytes)}, element(string(o.RemoveBytes)))
	case *datatypepb.DatatypeOp_Enable:
		if o.Enable {
			return crdt.Enable{}, crdt.KindFlag, nil
		}
		return crdt.Disable{}, crdt.KindFlag, nil
	case *datatypepb.DatatypeOp_Assign:
		return registerOp(crdt.Assign{Value: o.Assign}, element(o.Assign))
	case *datatypepb.DatatypeOp_AssignBytes:
		return registerOp(crdt.Assign{Value: string(o.AssignBytes)}, element(string(o.AssignBytes)))
	case *datatypepb.DatatypeOp_AssignLww:
		if err := element(o.AssignLww); err != nil {
			return nil, 0, err
		}
		// Timestamp 0: the applying replica stamps it (crdt.Stamp).
		return crdt.AssignAt{Value: o.AssignLww}, crdt.KindLWWRegister, nil
	case *datatypepb.DatatypeOp_RemoveField:
		if !o.RemoveField {
			return nil, 0, fmt.Errorf("%w: remove_field is false", ErrInvalid)
		}
		return nil, 0, nil
	}
	return nil, 0, fmt.Errorf("%w: no operation set", ErrInvalid)
}

func setOp(op crdt.Op, err error) (crdt.Op, crdt.Kind, error) {
	if err != nil {
		return nil, 0, err
	}
	return op, crdt.KindSet, nil
}

func registerOp(op crdt.Op, err error) (crdt.Op, crdt.Kind, error) {
	if err != nil {
		return nil, 0, err
	}
	return op, crdt.KindMVRegister, nil
}

func opName(op *datatypepb.DatatypeOp) string {
	switch op.GetOp().(type) {
	case *datatypepb.DatatypeOp_Increment:
		return "an increment"
	case *datatypepb.DatatypeOp_Add, *datatypepb.DatatypeOp_AddBytes:
		return "an add"
	case *datatypepb.DatatypeOp_Remove, *datatypepb.DatatypeOp_RemoveBytes:
		return "a remove"
	case *datatypepb.DatatypeOp_Enable:
		return "an enable or disable"
	case *datatypepb.DatatypeOp_Assign, *datatypepb.DatatypeOp_AssignBytes, *datatypepb.DatatypeOp_AssignLww:
		return "an assign"
	}
	return "an operation"
}

func opsOf(k crdt.Kind) string {
	switch k {
	case crdt.KindCounter:
		return "increments"
	case crdt.KindSet:
		return "adds and removes"
	case crdt.KindFlag:
		return "enables and disables"
	case crdt.KindMVRegister, crdt.KindLWWRegister:
		return "assigns"
	case crdt.KindMap:
		return "operations on its fields"
	}
	return "nothing"
}

// View renders a state's value for a client: a map (the empty map when the
// state holds nothing).
func View(s crdt.State) *datatypepb.DatatypeValue {
	if s.Value() == nil {
		return &datatypepb.DatatypeValue{Value: &datatypepb.DatatypeValue_Map{Map: &datatypepb.DatatypeMap{}}}
	}
	return value(s.Value())
}

func value(v crdt.Value) *datatypepb.DatatypeValue {
	switch v := v.(type) {
	case crdt.Counter:
		return &datatypepb.DatatypeValue{Value: &datatypepb.DatatypeValue_Counter{Counter: v.Total()}}
	case crdt.Set:
		return &datatypepb.DatatypeValue{Value: &datatypepb.DatatypeValue_Set{Set: &datatypepb.StringList{Values: v.Members()}}}
	case crdt.Flag:
		return &datatypepb.DatatypeValue{Value: &datatypepb.DatatypeValue_Flag{Flag: v.Enabled()}}
	case crdt.MVRegister:
		vals := slices.Clone(v.Values())
		slices.Sort(vals)
		return &datatypepb.DatatypeValue{Value: &datatypepb.DatatypeValue_Register{Register: &datatypepb.StringList{Values: vals}}}
	case crdt.LWWRegister:
		winner, _, _ := v.Value()
		return &datatypepb.DatatypeValue{Value: &datatypepb.DatatypeValue_LwwRegister{LwwRegister: winner}}
	case crdt.Map:
		m := &datatypepb.DatatypeMap{}
		for _, f := range v.Fields() {
			fv, _ := v.Get(f)
			m.Entries = append(m.Entries, &datatypepb.DatatypeEntry{Field: &datatypepb.DatatypeField{Name: f.Name, Type: TypeName(f.Kind)}, Value: value(fv)})
		}
		return &datatypepb.DatatypeValue{Value: &datatypepb.DatatypeValue_Map{Map: m}}
	}
	return &datatypepb.DatatypeValue{}
}

// Field returns the value of the field at path (names and types from the
// top) in a rendered map, nil when absent.
func Field(v *datatypepb.DatatypeValue, path ...*datatypepb.DatatypeField) *datatypepb.DatatypeValue {
	for _, f := range path {
		m := v.GetMap()
		if m == nil {
			return nil
		}
		v = nil
		for _, e := range m.Entries {
			if e.GetField().GetName() == f.GetName() && e.GetField().GetType() == f.GetType() {
				v = e.GetValue()
			}
		}
		if v == nil {
			return nil
		}
	}
	return v
}

// Path names a field by the names from the top of the value down: every
// field but the last is a map; the last one's type comes from the
// operation (typ, or "" to let the operation imply it).
func Path(typ string, names ...string) []*datatypepb.DatatypeField {
	out := make([]*datatypepb.DatatypeField, len(names))
	for i, n := range names {
		out[i] = &datatypepb.DatatypeField{Name: n, Type: "map"}
	}
	if len(out) > 0 {
		out[len(out)-1].Type = typ
	}
	return out
}

// Increment adds by to the counter at names.
func Increment(by int64, names ...string) *datatypepb.DatatypeOp {
	return &datatypepb.DatatypeOp{Path: Path("counter", names...), Op: &datatypepb.DatatypeOp_Increment{Increment: by}}
}

// Add adds element to the set at names.
func Add(element string, names ...string) *datatypepb.DatatypeOp {
	return &datatypepb.DatatypeOp{Path: Path("set", names...), Op: &datatypepb.DatatypeOp_Add{Add: element}}
}

// Remove removes element, as the context saw it, from the set at names.
func Remove(element string, names ...string) *datatypepb.DatatypeOp {
	return &datatypepb.DatatypeOp{Path: Path("set", names...), Op: &datatypepb.DatatypeOp_Remove{Remove: element}}
}

// Enable enables (or, false, disables) the flag at names.
func Enable(on bool, names ...string) *datatypepb.DatatypeOp {
	return &datatypepb.DatatypeOp{Path: Path("flag", names...), Op: &datatypepb.DatatypeOp_Enable{Enable: on}}
}

// Assign sets the register at names to value.
func Assign(value string, names ...string) *datatypepb.DatatypeOp {
	return &datatypepb.DatatypeOp{Path: Path("register", names...), Op: &datatypepb.DatatypeOp_Assign{Assign: value}}
}

// AssignLWW sets the last-writer-wins register at names to value.
func AssignLWW(value string, names ...string) *datatypepb.DatatypeOp {
	return &datatypepb.DatatypeOp{Path: Path("lww-register", names...), Op: &datatypepb.DatatypeOp_AssignLww{AssignLww: value}}
}

// RemoveField removes what the context saw of the field of type typ at
// names.
func RemoveField(typ string, names ...string) *datatypepb.DatatypeOp {
	return &datatypepb.DatatypeOp{Path: Path(typ, names...), Op: &datatypepb.DatatypeOp_RemoveField{RemoveField: true}}
}
