package item

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// DynamoDB's limits on items (developer guide, "Constraints"; 1 KB is 1024
// bytes there).
const (
	// MaxItemSize is the largest item, as Size computes it: 400 KB.
	MaxItemSize = 400 * 1024
	// MaxPartitionKeySize is the largest partition key value: 2048 bytes.
	MaxPartitionKeySize = 2048
	// MaxSortKeySize is the largest sort key value: 1024 bytes.
	MaxSortKeySize = 1024
	// MaxDepth is how many levels deep a value may be: 32. A top-level
	// attribute's value is level 1 and the elements of a list or map at
	// level n are at level n+1, so at most 31 lists and maps nest around a
	// scalar (users measured DynamoDB accepting 31 and refusing 32).
	MaxDepth = 32
	// MaxAttributeNameSize is the longest attribute name or map key in
	// UTF-8 bytes: 65535 (the API reference's key length constraint; the
	// constraints page says "64 KB").
	MaxAttributeNameSize = 65535
)

// What DynamoDB charges for a value beyond its bytes (developer guide,
// "Item sizes and formats").
const (
	// sizeScalar is the size of a BOOL or NULL.
	sizeScalar = 1
	// sizeContainer is the overhead of a list or a map.
	sizeContainer = 3
	// sizeElement is the overhead of each element of a list or map.
	sizeElement = 1
)

// ErrInvalid reports a value or item DynamoDB would refuse; the message
// after it is what a ValidationException would say.
var ErrInvalid = errors.New("one or more parameter values were invalid")

// ErrTooDeep reports a value nested deeper than MaxDepth; it is returned
// as it is, so its text is DynamoDB's message.
var ErrTooDeep = errors.New("Nesting Levels have exceeded supported limits")

// clientError is an error whose text is what a client is told (DynamoDB's
// ValidationException wording where practical, with no Go prefix), and
// which errors.Is matches with its kind and with any error it wraps.
type clientError struct {
	kind error
	err  error
}

func (e *clientError) Error() string   { return e.err.Error() }
func (e *clientError) Unwrap() []error { return []error{e.kind, e.err} }

// errorf is an error of kind with the message format makes (%w wraps).
func errorf(kind error, format string, args ...any) error {
	return &clientError{kind: kind, err: fmt.Errorf(format, args...)}
}

// Errorf is an error of kind whose text is the message format makes, what
// a client is told, and which errors.Is matches with kind and with what
// it wraps: the shape of every error of this package and of cluster/expr.
func Errorf(kind error, format string, args ...any) error { return errorf(kind, format, args...) }

// invalidf is an ErrInvalid with DynamoDB's prefix for invalid parameter
// values.
func invalidf(format string, args ...any) error {
	return errorf(ErrInvalid, "One or more parameter values were invalid: "+format, args...)
}

// Validate checks one value by DynamoDB's rules: strings valid UTF-8, sets
// non-empty without duplicates (NS compared numerically), map keys valid
// names, at most MaxDepth levels deep, no nil element.
// Numbers are valid by construction.
func Validate(v Value) error { return validate(v, 0) }

// validate checks v, which lists and maps enclose level times.
func validate(v Value, level int) error {
	if level >= MaxDepth {
		return ErrTooDeep
	}
	switch v := v.(type) {
	case nil:
		return invalidf("A value is missing")
	case S:
		if !utf8.ValidString(string(v)) {
			return invalidf("A string is not valid UTF-8")
		}
	case L:
		for _, e := range v {
			if err := validate(e, level+1); err != nil {
				return err
			}
		}
	case M:
		for k, e := range v {
			if err := checkName(k); err != nil {
				return err
			}
			if err := validate(e, level+1); err != nil {
				return fmt.Errorf("%.64q: %w", k, err)
			}
		}
	case SS:
		for _, s := range v {
			if !utf8.ValidString(s) {
				return invalidf("A string in a string set is not valid UTF-8")
			}
		}
		return checkSet(TypeSS, len(v), hasDuplicates(sortedCopy(v, strings.Compare), strings.Compare))
	case NS:
		return checkSet(TypeNS, len(v), hasDuplicates(sortedCopy(v, Number.Cmp), Number.Cmp))
	case BS:
		return checkSet(TypeBS, len(v), hasDuplicates(sortedCopy(v, bytes.Compare), bytes.Compare))
	}
	return nil
}

func checkSet(t Type, n int, dup bool) error {
	if n == 0 {
		return invalidf("An %s set may not be empty", t)
	}
	if dup {
		return invalidf("Input collection of type %s contains duplicates", t)
	}
	return nil
}

func checkName(name string) error {
	switch {
	case name == "":
		return invalidf("An attribute name may not be empty")
	case len(name) > MaxAttributeNameSize:
		return invalidf("An attribute name is longer than %d bytes", MaxAttributeNameSize)
	case !utf8.ValidString(name):
		return invalidf("An attribute name is not valid UTF-8")
	}
	return nil
}

// ValueSize is what a value counts toward its item's size by DynamoDB's
// rules: a string's UTF-8 bytes, a binary's raw bytes, a number one byte
// per two significant digits plus one, BOOL and NULL one byte, a list or
// map 3 bytes plus each element's size and 1 byte (a map's element size
// includes its name), a set the sum of its elements' sizes.
func ValueSize(v Value) int {
	switch v := v.(type) {
	case S:
		return len(v)
	case Number:
		return v.size()
	case B:
		return len(v)
	case Bool, Null:
		return sizeScalar
	case L:
		n := sizeContainer
		for _, e := range v {
			n += sizeElement + ValueSize(e)
		}
		return n
	case M:
		n := sizeContainer
		for k, e := range v {
			n += sizeElement + len(k) + ValueSize(e)
		}
		return n
	case SS:
		n := 0
		for _, s := range v {
			n += len(s)
		}
		return n
	case NS:
		n := 0
		for _, x := range v {
			n += x.size()
		}
		return n
	case BS:
		n := 0
		for _, b := range v {
			n += len(b)
		}
		return n
	}
	return 0
}

// Size is an item's size as DynamoDB computes it: the sum of its
// attribute names' UTF-8 bytes and its values' sizes.
func Size(it Item) int {
	n := 0
	for k, v := range it {
		n += len(k) + ValueSize(v)
	}
	return n
}

// KeyAttribute is one attribute of a table's primary key.
type KeyAttribute struct {
	Name string
	// Type is TypeS, TypeN or TypeB.
	Type Type
}

// KeySchema is a table's primary key: a partition key and an optional sort
// key (Sort.Name == "" when the table has none).
type KeySchema struct {
	Partition KeyAttribute
	Sort      KeyAttribute
}

// HasSort reports whether the table has a sort key.
func (s KeySchema) HasSort() bool { return s.Sort.Name != "" }

// Check refuses a malformed schema: names empty or equal, types other
// than S, N and B.
func (s KeySchema) Check() error {
	if !s.HasSort() && s.Sort != (KeyAttribute{}) {
		return invalidf("The sort key of type %q has no name", s.Sort.Type)
	}
	attrs := []KeyAttribute{s.Partition}
	if s.HasSort() {
		if s.Sort.Name == s.Partition.Name {
			return invalidf("The partition key and the sort key are both named %.64q", s.Sort.Name)
		}
		attrs = append(attrs, s.Sort)
	}
	for _, a := range attrs {
		if err := checkName(a.Name); err != nil {
			return fmt.Errorf("key schema: %w", err)
		}
		if !isKeyType(a.Type) {
			return invalidf("Key attribute %.64q has type %q: a key is of type S, N or B", a.Name, a.Type)
		}
	}
	return nil
}

func isKeyType(t Type) bool { return t == TypeS || t == TypeN || t == TypeB }

// Key is an item's primary key: its partition key value and, when the table
// has a sort key, its sort key value (nil otherwise).
type Key struct {
	Partition Value
	Sort      Value
}

// Key extracts and checks an item's key (or a request's Key map, which holds
// only the key attributes): each key attribute present, of the declared
// type, non-empty and within its size limit.
func (s KeySchema) Key(it Item) (Key, error) {
	pk, err := keyValue(s.Partition, it[s.Partition.Name], MaxPartitionKeySize, "partition")
	if err != nil {
		return Key{}, err
	}
	k := Key{Partition: pk}
	if s.HasSort() {
		if k.Sort, err = keyValue(s.Sort, it[s.Sort.Name], MaxSortKeySize, "sort"); err != nil {
			return Key{}, err
		}
	}
	return k, nil
}

// CheckKeyValue checks one value given for a key attribute: its type, that
// it is not empty, and its size.
func (s KeySchema) CheckKeyValue(a KeyAttribute, v Value) error {
	limit, which := MaxPartitionKeySize, "partition"
	if a.Name == s.Sort.Name && s.HasSort() {
		limit, which = MaxSortKeySize, "sort"
	}
	_, err := keyValue(a, v, limit, which)
	return err
}

func keyValue(a KeyAttribute, v Value, limit int, which string) (Value, error) {
	if v == nil {
		return nil, invalidf("Missing the key %s in the item", a.Name)
	}
	if v.Type() != a.Type {
		return nil, invalidf("Type mismatch for key %s expected: %s actual: %s", a.Name, a.Type, v.Type())
	}
	if err := Validate(v); err != nil {
		return nil, err
	}
	size := ValueSize(v)
	switch {
	case size == 0:
		return nil, invalidf("The AttributeValue for a key attribute cannot contain an empty %s value. Key: %s", map[Type]string{TypeS: "string", TypeB: "binary"}[a.Type], a.Name)
	case size > limit:
		return nil, invalidf("Size of %s key %.64q (%d bytes) has exceeded the maximum size limit of %d bytes", which, a.Name, size, limit)
	}
	return v, nil
}

// ValidateItem checks a whole item for a table with schema s: every name
// and value valid, the key attributes present and well typed, and the
// item at most MaxItemSize.
func (s KeySchema) ValidateItem(it Item) error {
	if _, err := s.Key(it); err != nil {
		return err
	}
	return ValidateItem(it)
}

// ValidateItem checks an item's names and values and its size, without a
// key schema (for items of expression results, and values of updates).
func ValidateItem(it Item) error {
	for k, v := range it {
		if err := checkName(k); err != nil {
			return err
		}
		if err := Validate(v); err != nil {
			return fmt.Errorf("attribute %.64q: %w", k, err)
		}
	}
	if n := Size(it); n > MaxItemSize {
		return invalidf("Item size has exceeded the maximum allowed size (%d bytes, the limit is %d)", n, MaxItemSize)
	}
	return nil
}
