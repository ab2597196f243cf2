package expr

import (
	"github.com/harmoniakv/harmonia/cluster/item"
)

// KeyCondition is a parsed KeyConditionExpression: the partition key's
// value and an optional condition on the sort key.
type KeyCondition struct {
	// Partition is the partition key's value.
	Partition item.Value
	// Sort is the sort-key condition (Op SortAny when there is none).
	Sort item.SortCondition
	rng  item.Range
}

// ParseKeyCondition parses a KeyConditionExpression for a table with
// schema: "pk = :v", optionally AND one sort-key condition (=, <, <=, >,
// >=, BETWEEN, begins_with), the key attributes named bare or by #name
// and the values by :value, of the types the schema declares.
func ParseKeyCondition(s string, attrs *Attributes, schema item.KeySchema) (*KeyCondition, error) {
	p, root, err := parseWhole(KindKeyCondition, s, attrs)
	if err != nil {
		return nil, err
	}
	var terms []cond
	if and, ok := root.(*andCond); ok {
		terms = []cond{and.a, and.b}
	} else {
		terms = []cond{root}
	}
	kc := &KeyCondition{}
	for _, t := range terms {
		name, c, err := keyTerm(p, t)
		if err != nil {
			return nil, err
		}
		switch {
		case name == schema.Partition.Name && kc.Partition == nil:
			if c.Op != item.SortEQ {
				return nil, p.errorf("Query key condition not supported")
			}
			if err := checkKeyValue(schema, schema.Partition, c.Value); err != nil {
				return nil, err
			}
			kc.Partition = c.Value
		case schema.HasSort() && name == schema.Sort.Name && kc.Sort.Op == item.SortAny:
			for _, v := range []item.Value{c.Value, c.Upper} {
				if v == nil {
					continue
				}
				if err := checkKeyValue(schema, schema.Sort, v); err != nil {
					return nil, err
				}
			}
			kc.Sort = c
		default:
			return nil, p.errorf("Query key condition not supported")
		}
	}
	if kc.Partition == nil {
		return nil, errorf(ErrInvalid, "Query condition missed key schema element: %s", schema.Partition.Name)
	}
	if kc.rng, err = item.SortRange(kc.Partition, kc.Sort); err != nil {
		return nil, errorf(ErrInvalid, "Invalid %s: %w", KindKeyCondition, err)
	}
	return kc, nil
}

func checkKeyValue(s item.KeySchema, a item.KeyAttribute, v item.Value) error {
	if v.Type() != a.Type {
		return errorf(ErrInvalid, "One or more parameter values were invalid: Condition parameter type does not match schema type (key %.64q is %s, the value is %s)", a.Name, a.Type, v.Type())
	}
	if err := s.CheckKeyValue(a, v); err != nil {
		return errorf(ErrInvalid, "%w", err) // item.ErrInvalid too
	}
	return nil
}

// keyTerm reads one term of a key condition: a top-level attribute
// compared with values, or begins_with(attribute, value).
func keyTerm(p *parser, c cond) (string, item.SortCondition, error) {
	name := func(o operand) (string, bool) {
		po, ok := o.(*pathOp)
		if !ok || len(po.p) != 1 {
			return "", false
		}
		return po.p[0].Name, true
	}
	val := func(o operand) (item.Value, bool) {
		v, ok := o.(*valueOp)
		if !ok {
			return nil, false
		}
		return v.v, true
	}
	unsupported := func(op string) (string, item.SortCondition, error) {
		return "", item.SortCondition{}, p.errorf("Invalid operator used in KeyConditionExpression: %s", op)
	}
	switch c := c.(type) {
	case *cmpCond:
		ops := map[string]item.SortOp{"=": item.SortEQ, "<": item.SortLT, "<=": item.SortLE, ">": item.SortGT, ">=": item.SortGE}
		op, ok := ops[c.op]
		if !ok {
			return unsupported(c.op)
		}
		n, ok1 := name(c.a)
		v, ok2 := val(c.b)
		if !ok1 || !ok2 {
			return "", item.SortCondition{}, p.errorf("A key condition compares a key attribute with a value")
		}
		return n, item.SortCondition{Op: op, Value: v}, nil
	case *betweenCond:
		n, ok1 := name(c.a)
		lo, ok2 := val(c.lo)
		hi, ok3 := val(c.hi)
		if !ok1 || !ok2 || !ok3 {
			return "", item.SortCondition{}, p.errorf("A key condition compares a key attribute with values")
		}
		return n, item.SortCondition{Op: item.SortBetween, Value: lo, Upper: hi}, nil
	case *funcCond:
		if c.fn != "begins_with" {
			return unsupported(c.fn)
		}
		n, ok1 := name(c.a)
		v, ok2 := val(c.arg)
		if !ok1 || !ok2 {
			return "", item.SortCondition{}, p.errorf("The function begins_with in a key condition takes a key attribute and a value")
		}
		return n, item.SortCondition{Op: item.SortBeginsWith, Value: v}, nil
	case *andCond:
		return unsupported("AND") // a third term
	case *orCond:
		return unsupported("OR")
	case *notCond:
		return unsupported("NOT")
	case *inCond:
		return unsupported("IN")
	}
	return unsupported("?")
}

// Range is the span of stored keys (without the table's prefix) that the
// condition selects: one bounded iterator.
func (k *KeyCondition) Range() item.Range { return k.rng }

// Match reports whether an item's key meets the condition (the range
// already selects exactly these; Match serves checks and tests).
func (k *KeyCondition) Match(key item.Key) bool {
	b, err := item.AppendStorageKey(nil, key)
	return err == nil && k.rng.Contains(b)
}
