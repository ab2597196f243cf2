// Package expr owns DynamoDB's expression language: one hand-written
// recursive-descent parser for ConditionExpression and FilterExpression,
// KeyConditionExpression, ProjectionExpression and UpdateExpression, the
// substitution of ExpressionAttributeNames (#n) and ExpressionAttributeValues
// (:v), and evaluation over cluster/item values with DynamoDB's semantics.
//
// Parsing does every check that needs no item (syntax, reserved words,
// undefined placeholders, operand types of constants, overlapping update
// paths, DynamoDB's limits), so evaluation cannot fail except where
// DynamoDB's own evaluation fails (an update that adds to a string, say).
// The package is pure: the node parses a request's expressions once and
// evaluates them against the items it reads.
package expr

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/harmoniakv/harmonia/cluster/item"
)

// DynamoDB's limits on expressions (developer guide, "Constraints":
// expression parameters).
const (
	// MaxExpressionLength is the longest expression string: 4 KB.
	MaxExpressionLength = 4 * 1024
	// MaxPlaceholderLength is the longest expression attribute name or
	// value placeholder, "#" or ":" included: 255 bytes.
	MaxPlaceholderLength = 255
	// MaxSubstitutionSize bounds the lengths of all ExpressionAttributeNames
	// and ExpressionAttributeValues together: 2 MB.
	MaxSubstitutionSize = 2 * 1024 * 1024
	// MaxOperators is the most operators and functions one expression may
	// use: 300. DynamoDB documents it for UpdateExpression; it is applied
	// to every expression here, which only refuses expressions no
	// DynamoDB user can rely on.
	MaxOperators = 300
	// MaxInOperands is the most operands of IN's list: 100.
	MaxInOperands = 100
	// MaxPathDepth is the most elements of one document path: a path of n
	// elements names a value n levels deep, and no value is deeper than
	// item.MaxDepth.
	MaxPathDepth = item.MaxDepth
)

// ErrInvalid reports an expression or substitution that DynamoDB refuses
// before reading any item (a ValidationException).
var ErrInvalid = errors.New("invalid expression")

// ErrUpdate reports an update that cannot apply to the item it was given
// (also a ValidationException in DynamoDB): adding to something that is not
// a number or a set, arithmetic on non-numbers, list_append on non-lists,
// a nested path whose parent is missing, an operand that names a missing
// attribute, or a result that is not a valid item.
var ErrUpdate = errors.New("update cannot apply to the item")

// errorf is an error of kind whose text is what a client is told
// (item.Errorf).
func errorf(kind error, format string, args ...any) error {
	return item.Errorf(kind, format, args...)
}

// Attributes are a request's ExpressionAttributeNames and
// ExpressionAttributeValues. Every expression of the request is parsed with
// the same Attributes, which remember the placeholders used; Unused then
// reports those no expression used, which DynamoDB refuses.
type Attributes struct {
	names      map[string]string
	values     map[string]item.Value
	usedNames  map[string]bool
	usedValues map[string]bool
}

// NewAttributes checks a request's substitutions: placeholders well formed
// ("#" or ":" then letters, digits or "_") and at most 255 bytes, names
// non-empty, values valid, and all of them together at most 2 MB.
func NewAttributes(names map[string]string, values map[string]item.Value) (*Attributes, error) {
	total := 0
	for k, v := range names {
		if !validPlaceholder(k, '#') {
			return nil, errorf(ErrInvalid, "ExpressionAttributeNames contains invalid key: Syntax error; key: %.64q", k)
		}
		if v == "" {
			return nil, errorf(ErrInvalid, "ExpressionAttributeNames contains invalid value: Empty attribute name for key %s", k)
		}
		total += len(k) + len(v)
	}
	for k, v := range values {
		if !validPlaceholder(k, ':') {
			return nil, errorf(ErrInvalid, "ExpressionAttributeValues contains invalid key: Syntax error; key: %.64q", k)
		}
		if err := item.Validate(v); err != nil {
			return nil, errorf(ErrInvalid, "ExpressionAttributeValues contains invalid value for key %s: %v", k, err)
		}
		total += len(k) + item.ValueSize(v)
	}
	if total > MaxSubstitutionSize {
		return nil, errorf(ErrInvalid, "ExpressionAttributeNames and ExpressionAttributeValues together are %d bytes, more than %d", total, MaxSubstitutionSize)
	}
	return &Attributes{names: names, values: values, usedNames: map[string]bool{}, usedValues: map[string]bool{}}, nil
}

func validPlaceholder(s string, first byte) bool {
	if len(s) < 2 || len(s) > MaxPlaceholderLength || s[0] != first {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isWordByte(s[i]) {
			return false
		}
	}
	return true
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

func (a *Attributes) name(ph string) (string, error) {
	if a == nil || a.names[ph] == "" {
		return "", errorf(ErrInvalid, "An expression attribute name used in the document path is not defined; attribute name: %s", ph)
	}
	a.usedNames[ph] = true
	return a.names[ph], nil
}

func (a *Attributes) value(ph string) (item.Value, error) {
	v, ok := item.Value(nil), false
	if a != nil {
		v, ok = a.values[ph]
	}
	if !ok {
		return nil, errorf(ErrInvalid, "An expression attribute value used in expression is not defined; attribute value: %s", ph)
	}
	a.usedValues[ph] = true
	return v, nil
}

// Unused refuses names or values that no expression parsed with a used,
// as DynamoDB does; call it after parsing all of a request's expressions.
func (a *Attributes) Unused() error {
	if a == nil {
		return nil
	}
	var names, values []string
	for k := range a.names {
		if !a.usedNames[k] {
			names = append(names, k)
		}
	}
	for k := range a.values {
		if !a.usedValues[k] {
			values = append(values, k)
		}
	}
	slices.Sort(names)
	slices.Sort(values)
	switch {
	case len(names) > 0:
		return errorf(ErrInvalid, "Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}", strings.Join(names, ", "))
	case len(values) > 0:
		return errorf(ErrInvalid, "Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}", strings.Join(values, ", "))
	}
	return nil
}

// PathElem is one step of a document path: a map key (or top-level
// attribute name), or a list index when IsIndex.
type PathElem struct {
	Name    string
	Index   int
	IsIndex bool
}

// Path is a document path: a top-level attribute name, then map keys and
// list indexes.
type Path []PathElem

// String writes p as DynamoDB's messages do: [a, b, [3]].
func (p Path) String() string {
	parts := make([]string, len(p))
	for i, e := range p {
		if e.IsIndex {
			parts[i] = "[" + strconv.Itoa(e.Index) + "]"
		} else {
			parts[i] = e.Name
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// overlaps reports whether one path is a prefix of the other (equal
// paths included).
func overlaps(a, b Path) bool {
	n := min(len(a), len(b))
	return slices.Equal(a[:n], b[:n])
}

// Get is the value at p in it, nil when there is none (a missing
// attribute, a key missing from a map, an index past a list's end, or a
// step into a value that is not a map or list).
func Get(it item.Item, p Path) item.Value {
	if len(p) == 0 {
		return nil
	}
	v := it[p[0].Name]
	for _, e := range p[1:] {
		v = step(v, e)
	}
	return v
}

func step(v item.Value, e PathElem) item.Value {
	switch c := v.(type) {
	case item.M:
		if !e.IsIndex {
			return c[e.Name]
		}
	case item.L:
		if e.IsIndex && e.Index < len(c) {
			return c[e.Index]
		}
	}
	return nil
}
