package crdt

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/harmoniakv/harmonia/cluster/vclock"
)

// Field names a map field: a name and the kind of value it holds, so a
// counter "n" and a set "n" are two fields.
type Field struct {
	Name string
	Kind Kind
}

func (f Field) String() string { return fmt.Sprintf("%q (%s)", f.Name, f.Kind) }

func compareFields(a, b Field) int {
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return cmp.Compare(a.Kind, b.Kind)
}

// Map is an observed-remove map of fields to values of any kind, nested maps
// included. All values share the map's context; a field is present while
// its value holds a dot. See the package doc for what a removal does to
// concurrent updates.
type Map struct {
	fields []mapField // sorted by key, values not empty
}

type mapField struct {
	key   Field
	value Value // of kind key.Kind
}

// UpdateField applies Op to Field, creating the field if absent. Op must be
// of the field's kind.
type UpdateField struct {
	Field Field
	Op    Op
}

// RemoveField removes what the client saw of Field.
type RemoveField struct{ Field Field }

func (UpdateField) Kind() Kind { return KindMap }
func (RemoveField) Kind() Kind { return KindMap }
func (Map) Kind() Kind         { return KindMap }

// Fields returns the present fields, sorted by name, then kind.
func (m Map) Fields() []Field {
	out := make([]Field, len(m.fields))
	for i, f := range m.fields {
		out[i] = f.key
	}
	return out
}

// Get returns the value of field f.
func (m Map) Get(f Field) (Value, bool) {
	if i, ok := m.find(f); ok {
		return m.fields[i].value, true
	}
	return nil, false
}

func (m Map) find(f Field) (int, bool) {
	return slices.BinarySearchFunc(m.fields, f, func(e mapField, f Field) int { return compareFields(e.key, f) })
}

func (m Map) apply(op Op, u *update) (Value, []vclock.Dot, error) {
	switch op := op.(type) {
	case UpdateField:
		f := op.Field
		if op.Op == nil || op.Op.Kind() != f.Kind || !f.Kind.valid() {
			return nil, nil, fmt.Errorf("field %s: operation %T: %w", f, op.Op, ErrKind)
		}
		nested := zero(f.Kind)
		if i, ok := m.find(f); ok {
			nested = m.fields[i].value
		} else if err := u.grow(len(m.fields)); err != nil {
			return nil, nil, fmt.Errorf("field %s: %w", f, err)
		}
		inner := *u
		if f.Kind == KindMap {
			if inner.depth++; inner.depth > u.lim.MaxDepth {
				return nil, nil, fmt.Errorf("field %s: maps nested more than %d deep: %w", f, u.lim.MaxDepth, ErrLimit)
			}
		}
		dv, dots, err := nested.apply(op.Op, &inner)
		if err != nil {
			return nil, nil, fmt.Errorf("field %s: %w", f, err)
		}
		if dv.isEmpty() {
			return Map{}, dots, nil
		}
		return Map{fields: []mapField{{key: f, value: dv}}}, dots, nil
	case RemoveField:
		var dots []vclock.Dot
		if i, ok := m.find(op.Field); ok {
			dots = m.fields[i].value.appendDots(nil)
		}
		gone, err := u.removable(dots)
		if err == nil && len(gone) == 0 {
			err = ErrNotObserved
		}
		if err != nil {
			return nil, nil, fmt.Errorf("remove field %s: %w", op.Field, err)
		}
		return Map{}, gone, nil
	default:
		return nil, nil, fmt.Errorf("%T on a map: %w", op, ErrKind)
	}
}

func (m Map) join(own Context, o Value, theirs Context) Value {
	return Map{fields: mapFields(own, theirs).merge(m.fields, o.(Map).fields)}
}

func (m Map) leq(own Context, o Value, theirs Context) bool {
	return mapFields(own, theirs).all(m.fields, o.(Map).fields)
}

func mapFields(own, theirs Context) keyed[Field, mapField] {
	// values returns both sides' values of one field, the empty value for a
	// missing side.
	values := func(a, b *mapField) (Field, Value, Value) {
		if a == nil {
			return b.key, zero(b.key.Kind), b.value
		}
		if b == nil {
			return a.key, a.value, zero(a.key.Kind)
		}
		return a.key, a.value, b.value
	}
	return keyed[Field, mapField]{
		key:     func(e mapField) Field { return e.key },
		compare: compareFields,
		join: func(a, b *mapField) (mapField, bool) {
			f, x, y := values(a, b)
			v := x.join(own, y, theirs)
			return mapField{key: f, value: v}, !v.isEmpty()
		},
		leq: func(a, b *mapField) bool {
			_, x, y := values(a, b)
			return x.leq(own, y, theirs)
		},
	}
}

func (m Map) appendDots(ds []vclock.Dot) []vclock.Dot {
	for _, f := range m.fields {
		ds = f.value.appendDots(ds)
	}
	return ds
}

func (m Map) isEmpty() bool { return len(m.fields) == 0 }
