package expr

import (
	"bytes"
	"cmp"
	"slices"
	"strings"

	"github.com/harmoniakv/harmonia/cluster/item"
)

// setOperand is a value in a SET action: a path, a :value,
// if_not_exists(path, operand), list_append(operand, operand), or (at the
// top) operand + operand and operand - operand.
type setOperand any

type ifNotExistsOp struct {
	p   Path
	def setOperand
}

type listAppendOp struct{ a, b setOperand }

type arithOp struct {
	a, b setOperand
	sub  bool
}

// Action kinds, the clauses of an UpdateExpression.
const (
	clauseSet    = "SET"
	clauseRemove = "REMOVE"
	clauseAdd    = "ADD"
	clauseDelete = "DELETE"
)

type action struct {
	clause string
	path   Path
	set    setOperand // SET's value
	value  item.Value // ADD's and DELETE's value
}

// Update is a parsed UpdateExpression.
type Update struct {
	actions []action
}

// ParseUpdate parses an UpdateExpression: clauses SET, REMOVE, ADD and
// DELETE in any order, each at most once, each with one or more actions
// separated by commas. Two actions on one path, or on overlapping paths,
// are refused; so are constants of the wrong type (ADD of a string,
// DELETE of a non-set, arithmetic on a non-number, list_append of a
// non-list).
func ParseUpdate(s string, attrs *Attributes) (*Update, error) {
	p, err := newParser(KindUpdate, s, attrs)
	if err != nil {
		return nil, err
	}
	u := &Update{}
	seen := map[string]bool{}
	var paths []Path
	for p.peek().kind != tEOF {
		t := p.next()
		clause := strings.ToUpper(t.text)
		if t.kind != tIdent || !slices.Contains([]string{clauseSet, clauseRemove, clauseAdd, clauseDelete}, clause) {
			return nil, p.syntax(t)
		}
		if seen[clause] {
			return nil, p.errorf("The %q section can only be used once in an update expression", clause)
		}
		seen[clause] = true
		for {
			a, err := p.action(clause)
			if err != nil {
				return nil, err
			}
			if err := checkOverlap(p, paths, a.path); err != nil {
				return nil, err
			}
			paths = append(paths, a.path)
			u.actions = append(u.actions, a)
			if !p.isPunct(",") {
				break
			}
			p.next()
		}
	}
	return u, nil
}

func (p *parser) action(clause string) (action, error) {
	path, err := p.path()
	if err != nil {
		return action{}, err
	}
	a := action{clause: clause, path: path}
	switch clause {
	case clauseSet:
		if err := p.expect("="); err != nil {
			return action{}, err
		}
		a.set, err = p.setValue()
	case clauseAdd, clauseDelete:
		var v *valueOp
		if v, err = p.value(); err != nil {
			return action{}, err
		}
		a.value = v.v
		switch t := v.v.Type(); {
		case t == item.TypeSS || t == item.TypeNS || t == item.TypeBS:
		case t == item.TypeN && clause == clauseAdd:
		default:
			return action{}, p.errorf("Incorrect operand type for operator or function; operator: %s, operand type: %s", clause, t)
		}
	}
	return a, err
}

func (p *parser) setValue() (setOperand, error) {
	a, err := p.setOperand()
	if err != nil {
		return nil, err
	}
	// a + b - c: left to right.
	for p.isPunct("+") || p.isPunct("-") {
		op := p.next().text
		if err := p.operator(); err != nil {
			return nil, err
		}
		b, err := p.setOperand()
		if err != nil {
			return nil, err
		}
		for _, o := range []setOperand{a, b} {
			if v, ok := o.(*valueOp); ok && v.v.Type() != item.TypeN {
				return nil, p.errorf("Incorrect operand type for operator or function; operator or function: %s, operand type: %s", op, v.v.Type())
			}
		}
		a = &arithOp{a: a, b: b, sub: op == "-"}
	}
	return a, nil
}

func (p *parser) setOperand() (setOperand, error) {
	t := p.peek()
	switch {
	case t.kind == tValue:
		return p.value()
	case p.isFunction():
		p.next()
		if err := p.operator(); err != nil {
			return nil, err
		}
		switch t.text {
		case "if_not_exists":
			o := &ifNotExistsOp{}
			return o, p.args(t.text, 2, func(i int) error {
				var err error
				if i == 0 {
					o.p, err = p.path()
				} else {
					o.def, err = p.setOperand()
				}
				return err
			})
		case "list_append":
			o := &listAppendOp{}
			err := p.args(t.text, 2, func(i int) error {
				v, err := p.setOperand()
				if err != nil {
					return err
				}
				if c, ok := v.(*valueOp); ok && c.v.Type() != item.TypeL {
					return p.errorf("Incorrect operand type for operator or function; operator or function: list_append, operand type: %s", c.v.Type())
				}
				if i == 0 {
					o.a = v
				} else {
					o.b = v
				}
				return nil
			})
			return o, err
		}
		p.pos-- // point the error at the function's name
		return nil, p.functionError(t.text)
	case t.kind == tIdent || t.kind == tName:
		path, err := p.path()
		return &pathOp{path}, err
	}
	return nil, p.syntax(t)
}

// Paths are the document paths the update writes or removes, in the
// order of the expression (the node refuses an update of a key
// attribute).
func (u *Update) Paths() []Path {
	out := make([]Path, len(u.actions))
	for i, a := range u.actions {
		out[i] = a.path
	}
	return out
}

// Merges names the top-level attributes the update changes by ADD or
// DELETE of the whole attribute: on a table of CRDT items those become a
// counter's increment or a set's adds and removes, which merge with
// concurrent writes (cluster/crdtitem). No other action touches them: two
// actions on one path are refused.
func (u *Update) Merges() map[string]bool {
	out := map[string]bool{}
	for _, a := range u.actions {
		if (a.clause == clauseAdd || a.clause == clauseDelete) && len(a.path) == 1 {
			out[a.path[0].Name] = true
		}
	}
	return out
}

// OnlyAdds returns the operands of an update made of ADD actions on
// top-level attributes alone, by attribute (ok false for any other
// update): on a table of CRDT items such an update needs nothing of the
// item it changes (cluster/crdtitem.Adds).
func (u *Update) OnlyAdds() (adds map[string]item.Value, ok bool) {
	adds = map[string]item.Value{}
	for _, a := range u.actions {
		if a.clause != clauseAdd || len(a.path) != 1 {
			return nil, false
		}
		adds[a.path[0].Name] = a.value
	}
	return adds, len(adds) > 0
}

func updateErr(format string, args ...any) error { return errorf(ErrUpdate, format, args...) }

// Apply is the item after the update, or DynamoDB's error for it. Every
// operand reads the item as it was before the update (SET a = b, b = a
// swaps them); then SET, ADD and DELETE apply, and REMOVE last, list
// elements from the highest index down, so indexes name the elements of
// the original list. it is not modified; an absent item is an empty one.
// The result is checked as an item (nesting, sizes, 400 KB); the key
// schema is the caller's to check.
func (u *Update) Apply(it item.Item) (item.Item, error) {
	type write struct {
		a action
		v item.Value
	}
	var writes []write
	for _, a := range u.actions {
		if a.clause != clauseSet {
			writes = append(writes, write{a: a})
			continue
		}
		v, err := evalSet(a.set, it)
		if err != nil {
			return nil, err
		}
		writes = append(writes, write{a: a, v: v})
	}
	// SET and ADD first, appends to a list in index order. Then REMOVE and
	// DELETE (which removes a set it empties), from the last path to the
	// first, so a removal never shifts a list element another action
	// names: REMOVE l[0], l[1].x removes x from the original l[1].
	removes := func(w write) bool { return w.a.clause == clauseRemove || w.a.clause == clauseDelete }
	slices.SortStableFunc(writes, func(x, y write) int {
		rx, ry := removes(x), removes(y)
		switch {
		case rx != ry:
			return map[bool]int{true: 1, false: -1}[rx]
		case rx:
			return comparePaths(y.a.path, x.a.path)
		}
		return cmp.Compare(lastIndex(x.a.path), lastIndex(y.a.path))
	})
	// One deep copy, then writes in place: copying the containers along
	// each action's path instead would cost a large map's size per action.
	out := make(item.Item, len(it))
	for k, v := range it {
		out[k] = deepCopy(v)
	}
	for _, w := range writes {
		var err error
		switch w.a.clause {
		case clauseSet:
			// A copy: w.v may be part of it or of the request's values.
			err = put(out, w.a.path, func(item.Value) (item.Value, error) { return deepCopy(w.v), nil })
		case clauseRemove:
			err = remove(out, w.a.path)
		case clauseAdd:
			err = put(out, w.a.path, func(old item.Value) (item.Value, error) { return add(old, w.a.value) })
		case clauseDelete:
			err = put(out, w.a.path, func(old item.Value) (item.Value, error) { return del(old, w.a.value) })
		}
		if err != nil {
			return nil, err
		}
	}
	if err := item.ValidateItem(out); err != nil {
		return nil, errorf(ErrUpdate, "%w", err)
	}
	return out, nil
}

// lastIndex is the list index a path ends with, -1 when it ends with a
// name.
func lastIndex(p Path) int {
	if last := p[len(p)-1]; last.IsIndex {
		return last.Index
	}
	return -1
}

// comparePaths orders paths element by element (names by bytes, indexes
// by number, a name before an index), a path before the longer paths it
// begins.
func comparePaths(a, b Path) int {
	for i := range min(len(a), len(b)) {
		x, y := a[i], b[i]
		var c int
		switch {
		case x.IsIndex && y.IsIndex:
			c = cmp.Compare(x.Index, y.Index)
		case !x.IsIndex && !y.IsIndex:
			c = strings.Compare(x.Name, y.Name)
		case y.IsIndex:
			c = -1
		default:
			c = 1
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// evalPair evaluates the two operands of a binary SET operand.
func evalPair(a, b setOperand, it item.Item) (item.Value, item.Value, error) {
	va, err := evalSet(a, it)
	if err != nil {
		return nil, nil, err
	}
	vb, err := evalSet(b, it)
	return va, vb, err
}

func evalSet(o setOperand, it item.Item) (item.Value, error) {
	switch o := o.(type) {
	case *valueOp:
		return o.v, nil
	case *pathOp:
		v := Get(it, o.p)
		if v == nil {
			return nil, updateErr("The provided expression refers to an attribute that does not exist in the item; path: %s", o.p)
		}
		return v, nil
	case *ifNotExistsOp:
		if v := Get(it, o.p); v != nil {
			return v, nil
		}
		return evalSet(o.def, it)
	case *listAppendOp:
		a, b, err := evalPair(o.a, o.b, it)
		if err != nil {
			return nil, err
		}
		la, ok1 := a.(item.L)
		lb, ok2 := b.(item.L)
		if !ok1 || !ok2 {
			bad := a
			if ok1 {
				bad = b
			}
			return nil, updateErr("Incorrect operand type for operator or function; operator or function: list_append, operand type: %s", bad.Type())
		}
		return append(append(item.L{}, la...), lb...), nil
	case *arithOp:
		a, b, err := evalPair(o.a, o.b, it)
		if err != nil {
			return nil, err
		}
		na, ok1 := a.(item.Number)
		nb, ok2 := b.(item.Number)
		if !ok1 || !ok2 {
			return nil, updateErr("An operand in the update expression has an incorrect data type")
		}
		var r item.Number
		if o.sub {
			r, err = na.Sub(nb)
		} else {
			r, err = na.Add(nb)
		}
		if err != nil {
			return nil, errorf(ErrUpdate, "%w", err)
		}
		return r, nil
	}
	return nil, updateErr("unknown operand %T", o)
}

// add is ADD's result: a number plus a number, a set's union with a set of
// its type, or the value itself where there was none.
func add(old, v item.Value) (item.Value, error) {
	if old == nil {
		return v, nil
	}
	switch o := old.(type) {
	case item.Number:
		if n, ok := v.(item.Number); ok {
			r, err := o.Add(n)
			if err != nil {
				return nil, errorf(ErrUpdate, "%w", err)
			}
			return r, nil
		}
	case item.SS:
		if s, ok := v.(item.SS); ok {
			return item.SS(union(o, s, strings.Compare)), nil
		}
	case item.NS:
		if s, ok := v.(item.NS); ok {
			return item.NS(union(o, s, item.Number.Cmp)), nil
		}
	case item.BS:
		if s, ok := v.(item.BS); ok {
			return item.BS(union(o, s, bytes.Compare)), nil
		}
	}
	return nil, updateErr("An operand in the update expression has an incorrect data type (ADD of %s to %s)", v.Type(), old.Type())
}

// del is DELETE's result: the set without v's elements, nil (no
// attribute) when none are left or there was no set.
func del(old, v item.Value) (item.Value, error) {
	if old == nil {
		return nil, nil
	}
	var out item.Value
	switch o := old.(type) {
	case item.SS:
		if s, ok := v.(item.SS); ok {
			out = item.SS(minus(o, s, strings.Compare))
		}
	case item.NS:
		if s, ok := v.(item.NS); ok {
			out = item.NS(minus(o, s, item.Number.Cmp))
		}
	case item.BS:
		if s, ok := v.(item.BS); ok {
			out = item.BS(minus(o, s, bytes.Compare))
		}
	}
	if out == nil {
		return nil, updateErr("An operand in the update expression has an incorrect data type (DELETE of %s from %s)", v.Type(), old.Type())
	}
	if n, _ := size(out).(item.Number); n.Sign() == 0 {
		return nil, nil // an empty set is no attribute
	}
	return out, nil
}

// union is a ∪ b in f's order; minus is a \ b. Both sort and merge, so
// that adding a large set to a large set costs n log n, not n × m.
func union[T any](a, b []T, f func(x, y T) int) []T {
	a, b = sortedCopy(a, f), sortedCopy(b, f)
	out := make([]T, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		switch c := cmpHeads(a, b, f); {
		case c < 0:
			out, a = append(out, a[0]), a[1:]
		case c > 0:
			out, b = append(out, b[0]), b[1:]
		default:
			out, a, b = append(out, a[0]), a[1:], b[1:]
		}
	}
	return out
}

func minus[T any](a, b []T, f func(x, y T) int) []T {
	a, b = sortedCopy(a, f), sortedCopy(b, f)
	out := make([]T, 0, len(a))
	for len(a) > 0 {
		switch c := cmpHeads(a, b, f); {
		case c < 0:
			out, a = append(out, a[0]), a[1:]
		case c > 0:
			b = b[1:]
		default:
			a, b = a[1:], b[1:]
		}
	}
	return out
}

// cmpHeads compares the first elements of a and b; an empty slice sorts
// after everything.
func cmpHeads[T any](a, b []T, f func(x, y T) int) int {
	switch {
	case len(a) == 0:
		return 1
	case len(b) == 0:
		return -1
	}
	return f(a[0], b[0])
}

func sortedCopy[T any](s []T, f func(x, y T) int) []T {
	c := slices.Clone(s)
	slices.SortFunc(c, f)
	return c
}

var errBadPath = updateErr("The document path provided in the update expression is invalid for update")

// put replaces the value at path in it with f(old value); f returning nil
// removes it. The parent of a nested path must exist and be a map (for a
// name) or a list (for an index); an index past a list's end appends. It
// writes in place: it and its containers are Apply's own copy.
func put(it item.Item, path Path, f func(item.Value) (item.Value, error)) error {
	name := path[0].Name
	var v item.Value
	var err error
	if len(path) == 1 {
		v, err = f(it[name])
	} else {
		v, err = putIn(it[name], path[1:], f)
	}
	switch {
	case err != nil:
		return err
	case v == nil:
		delete(it, name)
	default:
		it[name] = v
	}
	return nil
}

// putIn applies f at path below parent and returns the parent as it now
// is (a list's slice changes when it grows or shrinks).
func putIn(parent item.Value, path Path, f func(item.Value) (item.Value, error)) (item.Value, error) {
	e := path[0]
	apply := func(child item.Value) (item.Value, error) {
		if len(path) == 1 {
			return f(child)
		}
		return putIn(child, path[1:], f)
	}
	switch c := parent.(type) {
	case item.M:
		if e.IsIndex {
			return nil, errBadPath
		}
		nv, err := apply(c[e.Name])
		if err != nil {
			return nil, err
		}
		if nv == nil {
			delete(c, e.Name)
		} else {
			c[e.Name] = nv
		}
		return c, nil
	case item.L:
		if !e.IsIndex {
			return nil, errBadPath
		}
		var child item.Value
		if e.Index < len(c) {
			child = c[e.Index]
		}
		nv, err := apply(child)
		if err != nil {
			return nil, err
		}
		switch {
		case nv == nil && e.Index < len(c):
			c = slices.Delete(c, e.Index, e.Index+1)
		case nv == nil:
		case e.Index < len(c):
			c[e.Index] = nv
		default:
			c = append(c, nv)
		}
		return c, nil
	}
	return nil, errBadPath
}

// deepCopy copies v's lists and maps (sets and scalars are never written
// in place, so they are shared).
func deepCopy(v item.Value) item.Value {
	switch c := v.(type) {
	case item.L:
		out := make(item.L, len(c))
		for i, e := range c {
			out[i] = deepCopy(e)
		}
		return out
	case item.M:
		out := make(item.M, len(c))
		for k, e := range c {
			out[k] = deepCopy(e)
		}
		return out
	}
	return v
}

// remove deletes the value at path: nothing happens when there is none
// there, but the parent of a nested path must exist (as for SET).
func remove(it item.Item, path Path) error {
	return put(it, path, func(item.Value) (item.Value, error) { return nil, nil })
}
