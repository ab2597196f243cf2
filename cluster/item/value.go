// Package item owns DynamoDB's data model as HarmoniaKV stores it: typed
// attribute values (S, N, B, BOOL, NULL, L, M, SS, NS, BS) and items, the
// rules an item must keep (DynamoDB's sizes, key types, sets, nesting), the
// order-preserving encoding of partition and sort keys that makes a Query
// one bounded iterator, and the value's two wire forms: DynamoDB's JSON
// and protobuf (messages/itempb).
//
// The package is pure: no I/O, no actors. cluster/expr evaluates
// expressions over these values; the node stores and moves them.
package item

import (
	"bytes"
	"slices"
	"strings"
)

// Type is a DynamoDB attribute type, spelled as DynamoDB's JSON spells it.
type Type string

// DynamoDB's attribute types.
const (
	TypeS    Type = "S"
	TypeN    Type = "N"
	TypeB    Type = "B"
	TypeBOOL Type = "BOOL"
	TypeNULL Type = "NULL"
	TypeL    Type = "L"
	TypeM    Type = "M"
	TypeSS   Type = "SS"
	TypeNS   Type = "NS"
	TypeBS   Type = "BS"
)

// Types lists every type, in DynamoDB's documentation order.
var Types = []Type{TypeS, TypeN, TypeB, TypeBOOL, TypeNULL, TypeL, TypeM, TypeSS, TypeNS, TypeBS}

// ParseType reads a type name ("S", "NS", ...); ok is false for any other
// string.
func ParseType(s string) (Type, bool) {
	t := Type(s)
	return t, slices.Contains(Types, t)
}

// Value is one attribute value: S, Number, B, Bool, Null, L, M, SS, NS or
// BS. It is a closed sum of small Go types rather than one struct with a
// field per type: a type switch names every case, a nil Value means "no
// attribute" (as a missing path does in expressions), and a value costs
// only what its type needs. Values are immutable by convention: functions
// here never modify a Value they were given.
type Value interface {
	// Type is the value's DynamoDB type.
	Type() Type
	value()
}

// The value types.
type (
	// S is a string (UTF-8).
	S string
	// B is a binary value.
	B []byte
	// Bool is a BOOL.
	Bool bool
	// Null is DynamoDB's NULL (always true).
	Null struct{}
	// L is a list of values of any types.
	L []Value
	// M is a map from names to values.
	M map[string]Value
	// SS is a string set: non-empty, no duplicates; order carries no
	// meaning.
	SS []string
	// NS is a number set: non-empty, no two numerically equal elements.
	NS []Number
	// BS is a binary set: non-empty, no duplicates.
	BS [][]byte
)

// Type implementations.
func (S) Type() Type      { return TypeS }
func (Number) Type() Type { return TypeN }
func (B) Type() Type      { return TypeB }
func (Bool) Type() Type   { return TypeBOOL }
func (Null) Type() Type   { return TypeNULL }
func (L) Type() Type      { return TypeL }
func (M) Type() Type      { return TypeM }
func (SS) Type() Type     { return TypeSS }
func (NS) Type() Type     { return TypeNS }
func (BS) Type() Type     { return TypeBS }

func (S) value()      {}
func (Number) value() {}
func (B) value()      {}
func (Bool) value()   {}
func (Null) value()   {}
func (L) value()      {}
func (M) value()      {}
func (SS) value()     {}
func (NS) value()     {}
func (BS) value()     {}

// Item is one item: attribute names to values.
type Item map[string]Value

// Equal reports whether a and b are equal as DynamoDB's = compares them:
// of one type and deeply equal, numbers by value, sets regardless of order.
// Two nil Values (missing attributes) are not equal to anything, as a
// comparison with a missing attribute is false in DynamoDB.
func Equal(a, b Value) bool {
	if a == nil || b == nil || a.Type() != b.Type() {
		return false
	}
	switch a := a.(type) {
	case S:
		return a == b.(S)
	case Number:
		return a == b.(Number)
	case B:
		return bytes.Equal(a, b.(B))
	case Bool:
		return a == b.(Bool)
	case Null:
		return true
	case L:
		return slices.EqualFunc(a, b.(L), Equal)
	case M:
		bm := b.(M)
		if len(a) != len(bm) {
			return false
		}
		for k, v := range a {
			if !Equal(v, bm[k]) {
				return false
			}
		}
		return true
	case SS:
		return slices.Equal(sortedCopy(a, strings.Compare), sortedCopy(b.(SS), strings.Compare))
	case NS:
		return slices.Equal(sortedCopy(a, Number.Cmp), sortedCopy(b.(NS), Number.Cmp))
	case BS:
		return slices.EqualFunc(sortedCopy(a, bytes.Compare), sortedCopy(b.(BS), bytes.Compare), bytes.Equal)
	}
	return false
}

// EqualItems reports whether two items have the same attributes with Equal
// values.
func EqualItems(a, b Item) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// Compare orders a and b as DynamoDB's <, <=, > and >= do: only two values
// of one scalar type S, N or B compare (strings and binaries by bytes,
// numbers by value); ok is false for any other pair, and the comparison is
// then false in a condition.
func Compare(a, b Value) (c int, ok bool) {
	if a == nil || b == nil || a.Type() != b.Type() {
		return 0, false
	}
	switch a := a.(type) {
	case S:
		return strings.Compare(string(a), string(b.(S))), true
	case Number:
		return a.Cmp(b.(Number)), true
	case B:
		return bytes.Compare(a, b.(B)), true
	}
	return 0, false
}

func sortedCopy[T any](s []T, f func(a, b T) int) []T {
	c := slices.Clone(s)
	slices.SortFunc(c, f)
	return c
}

// sortSet returns a set value with its elements in their canonical order
// (strings and binaries by bytes, numbers by value), so that stored and
// encoded sets are deterministic. Other values are returned as they are.
func sortSet(v Value) Value {
	switch v := v.(type) {
	case SS:
		return SS(sortedCopy(v, strings.Compare))
	case NS:
		return NS(sortedCopy(v, Number.Cmp))
	case BS:
		return BS(sortedCopy(v, bytes.Compare))
	}
	return v
}

// hasDuplicates reports whether a sorted slice has two equal neighbours.
func hasDuplicates[T any](sorted []T, f func(a, b T) int) bool {
	for i := 1; i < len(sorted); i++ {
		if f(sorted[i-1], sorted[i]) == 0 {
			return true
		}
	}
	return false
}
