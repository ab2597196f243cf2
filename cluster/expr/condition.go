package expr

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/harmoniakv/harmonia/cluster/item"
)

// operand is a value in a condition: a path, a :value, or size(path).
type operand interface {
	// value is the operand's value in it; nil when it refers to nothing.
	value(it item.Item) item.Value
}

type pathOp struct{ p Path }

type valueOp struct {
	v    item.Value
	name string
}

type sizeOp struct{ p Path }

func (o *pathOp) value(it item.Item) item.Value { return Get(it, o.p) }
func (o *valueOp) value(item.Item) item.Value   { return o.v }
func (o *sizeOp) value(it item.Item) item.Value { return size(Get(it, o.p)) }

// size is DynamoDB's size(): a string's length in UTF-16 code units (as
// Java counts a string's length; users measured DynamoDB giving 3 for
// "é𝄞"), a binary's bytes, the elements of a set, list or map; nil (no
// value, so every comparison with it is false) for other types and
// missing attributes.
func size(v item.Value) item.Value {
	n := -1
	switch v := v.(type) {
	case item.S:
		n = 0
		for _, r := range string(v) {
			n += utf16.RuneLen(r)
		}
	case item.B:
		n = len(v)
	case item.SS:
		n = len(v)
	case item.NS:
		n = len(v)
	case item.BS:
		n = len(v)
	case item.L:
		n = len(v)
	case item.M:
		n = len(v)
	}
	if n < 0 {
		return nil
	}
	return item.MustNumber(strconv.Itoa(n))
}

// cond is a condition node.
type cond interface {
	eval(it item.Item) bool
}

type andCond struct{ a, b cond }
type orCond struct{ a, b cond }
type notCond struct{ a cond }

// cmpCond is a comparison: = <> < <= > >=.
type cmpCond struct {
	op   string
	a, b operand
}

type betweenCond struct{ a, lo, hi operand }

type inCond struct {
	a    operand
	list []operand
}

// funcCond is a boolean function: attribute_exists, attribute_not_exists,
// attribute_type, begins_with, contains.
type funcCond struct {
	fn   string
	a    operand
	arg  operand
	typ  item.Type
	path Path
}

func (c *andCond) eval(it item.Item) bool { return c.a.eval(it) && c.b.eval(it) }
func (c *orCond) eval(it item.Item) bool  { return c.a.eval(it) || c.b.eval(it) }
func (c *notCond) eval(it item.Item) bool { return !c.a.eval(it) }

func (c *cmpCond) eval(it item.Item) bool {
	a, b := c.a.value(it), c.b.value(it)
	switch c.op {
	case "=":
		return item.Equal(a, b)
	case "<>":
		// The negation of =: true when either side is missing.
		return !item.Equal(a, b)
	}
	n, ok := item.Compare(a, b)
	if !ok {
		return false
	}
	switch c.op {
	case "<":
		return n < 0
	case "<=":
		return n <= 0
	case ">":
		return n > 0
	}
	return n >= 0
}

func (c *betweenCond) eval(it item.Item) bool {
	a := c.a.value(it)
	lo, ok1 := item.Compare(a, c.lo.value(it))
	hi, ok2 := item.Compare(a, c.hi.value(it))
	return ok1 && ok2 && lo >= 0 && hi <= 0
}

func (c *inCond) eval(it item.Item) bool {
	a := c.a.value(it)
	return slices.ContainsFunc(c.list, func(o operand) bool { return item.Equal(a, o.value(it)) })
}

func (c *funcCond) eval(it item.Item) bool {
	switch c.fn {
	case "attribute_exists":
		return Get(it, c.path) != nil
	case "attribute_not_exists":
		return Get(it, c.path) == nil
	case "attribute_type":
		v := Get(it, c.path)
		return v != nil && v.Type() == c.typ
	case "begins_with":
		switch a := c.a.value(it).(type) {
		case item.S:
			p, ok := c.arg.value(it).(item.S)
			return ok && strings.HasPrefix(string(a), string(p))
		case item.B:
			p, ok := c.arg.value(it).(item.B)
			return ok && bytes.HasPrefix(a, p)
		}
		return false
	case "contains":
		return contains(c.a.value(it), c.arg.value(it))
	}
	return false
}

// contains is DynamoDB's contains(): a substring of a string, a
// subsequence of a binary, an element of a set of the operand's type, or
// an element of a list equal to the operand.
func contains(a, x item.Value) bool {
	switch a := a.(type) {
	case item.S:
		s, ok := x.(item.S)
		return ok && strings.Contains(string(a), string(s))
	case item.B:
		b, ok := x.(item.B)
		return ok && bytes.Contains(a, b)
	case item.SS:
		s, ok := x.(item.S)
		return ok && slices.Contains(a, string(s))
	case item.NS:
		n, ok := x.(item.Number)
		return ok && slices.Contains(a, n)
	case item.BS:
		b, ok := x.(item.B)
		return ok && slices.ContainsFunc(a, func(e []byte) bool { return bytes.Equal(e, b) })
	case item.L:
		return slices.ContainsFunc(a, func(e item.Value) bool { return item.Equal(e, x) })
	}
	return false
}

// Condition is a parsed ConditionExpression or FilterExpression.
type Condition struct {
	root  cond
	names []string
}

// ParseCondition parses a ConditionExpression.
func ParseCondition(s string, attrs *Attributes) (*Condition, error) {
	return parseCondition(KindCondition, s, attrs)
}

// ParseFilter parses a FilterExpression (the same language as a
// ConditionExpression).
func ParseFilter(s string, attrs *Attributes) (*Condition, error) {
	return parseCondition(KindFilter, s, attrs)
}

func parseCondition(kind Kind, s string, attrs *Attributes) (*Condition, error) {
	p, root, err := parseWhole(kind, s, attrs)
	if err != nil {
		return nil, err
	}
	return &Condition{root: root, names: p.topNames()}, nil
}

// parseWhole parses s, the whole of it, as a condition of kind.
func parseWhole(kind Kind, s string, attrs *Attributes) (*parser, cond, error) {
	p, err := newParser(kind, s, attrs)
	if err != nil {
		return nil, nil, err
	}
	root, err := p.or()
	if err == nil {
		err = p.end()
	}
	return p, root, err
}

// Eval is whether it meets the condition. A comparison with a missing
// attribute, or between values of types that do not compare, is false, not
// an error. An absent item is an empty (or nil) Item.
func (c *Condition) Eval(it item.Item) bool { return c.root.eval(it) }

// Names are the top-level attribute names the condition refers to (a
// FilterExpression may not refer to key attributes).
func (c *Condition) Names() []string { return slices.Clone(c.names) }

func (p *parser) or() (cond, error) {
	a, err := p.and()
	for err == nil && p.isKeyword("OR") {
		p.next()
		if err = p.operator(); err != nil {
			break
		}
		var b cond
		if b, err = p.and(); err == nil {
			a = &orCond{a, b}
		}
	}
	return a, err
}

func (p *parser) and() (cond, error) {
	a, err := p.not()
	for err == nil && p.isKeyword("AND") {
		p.next()
		if err = p.operator(); err != nil {
			break
		}
		var b cond
		if b, err = p.not(); err == nil {
			a = &andCond{a, b}
		}
	}
	return a, err
}

func (p *parser) not() (cond, error) {
	if p.isKeyword("NOT") {
		p.next()
		if err := p.operator(); err != nil {
			return nil, err
		}
		a, err := p.not()
		if err != nil {
			return nil, err
		}
		return &notCond{a}, nil
	}
	return p.primary()
}

var comparators = []string{"=", "<>", "<", "<=", ">", ">="}

func (p *parser) primary() (cond, error) {
	if p.isPunct("(") {
		p.next()
		c, err := p.or()
		if err != nil {
			return nil, err
		}
		return c, p.expect(")")
	}
	if p.isFunction() {
		switch fn := p.peek().text; fn {
		case "attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains":
			return p.boolFunction()
		case "size":
			// an operand: a comparison follows
		default:
			return nil, p.functionError(fn)
		}
	}
	a, err := p.operand()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	switch {
	case t.kind == tPunct && slices.Contains(comparators, t.text):
		p.next()
		if err := p.operator(); err != nil {
			return nil, err
		}
		b, err := p.operand()
		if err != nil {
			return nil, err
		}
		if t.text != "=" && t.text != "<>" {
			if err := p.checkOrdered(t.text, a, b); err != nil {
				return nil, err
			}
		}
		return &cmpCond{op: t.text, a: a, b: b}, nil
	case p.isKeyword("BETWEEN"):
		p.next()
		if err := p.operator(); err != nil {
			return nil, err
		}
		lo, err := p.operand()
		if err != nil {
			return nil, err
		}
		if !p.isKeyword("AND") {
			return nil, p.syntax(p.peek())
		}
		p.next()
		hi, err := p.operand()
		if err != nil {
			return nil, err
		}
		if err := p.checkOrdered("BETWEEN", a, lo, hi); err != nil {
			return nil, err
		}
		if lv, ok := lo.(*valueOp); ok {
			if hv, ok := hi.(*valueOp); ok {
				if c, ok := item.Compare(lv.v, hv.v); !ok || c > 0 {
					return nil, p.errorf("The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: %s, upper bound operand: %s", lv.name, hv.name)
				}
			}
		}
		return &betweenCond{a: a, lo: lo, hi: hi}, nil
	case p.isKeyword("IN"):
		p.next()
		if err := p.operator(); err != nil {
			return nil, err
		}
		if err := p.expect("("); err != nil {
			return nil, err
		}
		var list []operand
		for {
			o, err := p.operand()
			if err != nil {
				return nil, err
			}
			list = append(list, o)
			if len(list) > MaxInOperands {
				return nil, p.errorf("The IN operator is provided with too many operands; number of operands: more than %d", MaxInOperands)
			}
			if !p.isPunct(",") {
				break
			}
			p.next()
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		return &inCond{a: a, list: list}, nil
	}
	return nil, p.syntax(t)
}

// operand reads a path, a :value or size(path).
func (p *parser) operand() (operand, error) {
	t := p.peek()
	switch {
	case t.kind == tValue:
		return p.value()
	case p.isFunction():
		if t.text != "size" {
			return nil, p.functionError(t.text)
		}
		p.next()
		if err := p.operator(); err != nil {
			return nil, err
		}
		var o *sizeOp
		err := p.args("size", 1, func(int) error {
			path, err := p.path()
			o = &sizeOp{path}
			return err
		})
		return o, err
	case t.kind == tIdent || t.kind == tName:
		path, err := p.path()
		return &pathOp{path}, err
	}
	return nil, p.syntax(t)
}

func (p *parser) functionError(fn string) error {
	switch fn {
	case "attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains", "size", "if_not_exists", "list_append":
		return p.errorf("The function is not allowed to be used this way in an expression; function: %s", fn)
	}
	return p.errorf("Invalid function name; function: %.64s", fn)
}

// checkOrdered refuses a :value operand of <, <=, >, >= or BETWEEN whose
// type is not S, N or B: such a comparison can never be true.
func (p *parser) checkOrdered(op string, ops ...operand) error {
	for _, o := range ops {
		if v, ok := o.(*valueOp); ok {
			if t := v.v.Type(); t != item.TypeS && t != item.TypeN && t != item.TypeB {
				return p.errorf("Incorrect operand type for operator or function; operator or function: %s, operand type: %s", op, t)
			}
		}
	}
	return nil
}

func (p *parser) boolFunction() (cond, error) {
	fn := p.next().text
	if err := p.operator(); err != nil {
		return nil, err
	}
	c := &funcCond{fn: fn}
	switch fn {
	case "attribute_exists", "attribute_not_exists":
		return c, p.args(fn, 1, func(int) error {
			var err error
			c.path, err = p.path()
			return err
		})
	case "attribute_type":
		err := p.args(fn, 2, func(i int) error {
			if i == 0 {
				var err error
				c.path, err = p.path()
				return err
			}
			v, err := p.value()
			if err != nil {
				return err
			}
			s, ok := v.v.(item.S)
			if !ok {
				return p.errorf("Incorrect operand type for operator or function; operator or function: attribute_type, operand type: %s", v.v.Type())
			}
			if c.typ, ok = item.ParseType(string(s)); !ok {
				return p.errorf("Invalid type provided as argument to attribute_type function; type: %.16q, valid types: S, N, B, BOOL, NULL, L, M, SS, NS, BS", string(s))
			}
			return nil
		})
		return c, err
	}
	// begins_with and contains: (operand, operand).
	err := p.args(fn, 2, func(i int) error {
		o, err := p.operand()
		if i == 0 {
			c.a = o
		} else {
			c.arg = o
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if pa, ok := c.a.(*pathOp); ok {
		if pb, ok := c.arg.(*pathOp); ok && slices.Equal(pa.p, pb.p) {
			return nil, p.errorf("The first and second operands of %s must be distinct; path: %s", fn, pa.p)
		}
	}
	if fn == "begins_with" {
		for _, o := range []operand{c.a, c.arg} {
			if v, ok := o.(*valueOp); ok && v.v.Type() != item.TypeS && v.v.Type() != item.TypeB {
				return nil, p.errorf("Incorrect operand type for operator or function; operator or function: begins_with, operand type: %s", v.v.Type())
			}
		}
	}
	return c, nil
}
