package item

import (
	"bytes"
	"errors"
	"fmt"
)

// The key encoding. A table's items are stored under
//
//	encode(partition key) [encode(sort key)]
//
// (the node puts the table's prefix in front) so that bytes.Compare on two
// stored keys orders them as DynamoDB orders their keys, and all items of
// one partition key are one contiguous range. Each encoding is
// self-delimiting and prefix-free, which is what keeps one partition key's
// range free of another's items:
//
//	S, B:  the bytes with 0x00 escaped as 0x00 0xFF, then 0x00 0x01.
//	       The terminator sorts below any escaped byte that can follow a
//	       shorter value's last byte, so "ab" < "ab\x00" < "abc".
//	N:     one tag byte (negative, zero, positive); for nonzero numbers the
//	       exponent of 0.ddd × 10^exp as one byte (exp - minNumberExp fits
//	       in 0..255) and one byte per digit (d+1), ended by 0x00. A
//	       negative number has its exponent and digit bytes inverted
//	       (255 - b) and ends with 0xFF, so larger magnitudes sort first.
//
// A key's type is the table's, so no type byte is stored.
const (
	escByte       = 0x00
	escEscaped    = 0xFF
	escTerminator = 0x01

	numNegative = 0x01
	numZero     = 0x02
	numPositive = 0x03
	// numDigitBase is added to a digit (0-9) to make its byte, keeping
	// every digit byte above the positive terminator 0x00.
	numDigitBase = 1
	numEndPos    = 0x00
	numEndNeg    = 0xFF
)

// ErrKey reports a stored key that is not a well-formed encoding.
var ErrKey = errors.New("malformed item key")

// AppendKey appends the order-preserving encoding of a key value (S, N or
// B) to dst.
func AppendKey(dst []byte, v Value) ([]byte, error) {
	switch v := v.(type) {
	case S:
		return appendEscaped(dst, []byte(v)), nil
	case B:
		return appendEscaped(dst, v), nil
	case Number:
		return appendNumber(dst, v), nil
	case nil:
		return nil, invalidf("No key value is given")
	}
	return nil, invalidf("A key value is of type S, N or B, not %s", v.Type())
}

func escape(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, c)
		if c == escByte {
			dst = append(dst, escEscaped)
		}
	}
	return dst
}

func appendEscaped(dst, b []byte) []byte {
	return append(escape(dst, b), escByte, escTerminator)
}

func appendNumber(dst []byte, n Number) []byte {
	if n.Sign() == 0 {
		return append(dst, numZero)
	}
	e := byte(n.exp - minNumberExp)
	if !n.neg {
		dst = append(dst, numPositive, e)
		for i := 0; i < len(n.digits); i++ {
			dst = append(dst, n.digits[i]-'0'+numDigitBase)
		}
		return append(dst, numEndPos)
	}
	dst = append(dst, numNegative, ^e)
	for i := 0; i < len(n.digits); i++ {
		dst = append(dst, ^(n.digits[i] - '0' + numDigitBase))
	}
	return append(dst, numEndNeg)
}

// DecodeKey reads one key value of type t from the front of b and returns
// it with the bytes after it. It accepts exactly what AppendKey writes.
func DecodeKey(t Type, b []byte) (Value, []byte, error) {
	switch t {
	case TypeS, TypeB:
		raw, rest, err := decodeEscaped(b)
		if err != nil {
			return nil, nil, err
		}
		if t == TypeS {
			return S(raw), rest, nil
		}
		return B(raw), rest, nil
	case TypeN:
		return decodeNumber(b)
	}
	return nil, nil, fmt.Errorf("%w: a key is of type S, N or B, not %q", ErrKey, t)
}

func decodeEscaped(b []byte) ([]byte, []byte, error) {
	out := []byte{}
	for i := 0; i < len(b); i++ {
		if b[i] != escByte {
			out = append(out, b[i])
			continue
		}
		if i+1 == len(b) {
			break
		}
		switch b[i+1] {
		case escEscaped:
			out = append(out, escByte)
			i++
		case escTerminator:
			return out, b[i+2:], nil
		default:
			return nil, nil, fmt.Errorf("%w: byte 0x%02x after 0x00 at offset %d", ErrKey, b[i+1], i+1)
		}
	}
	return nil, nil, fmt.Errorf("%w: no terminator", ErrKey)
}

func decodeNumber(b []byte) (Value, []byte, error) {
	if len(b) == 0 {
		return nil, nil, fmt.Errorf("%w: empty number", ErrKey)
	}
	var neg bool
	switch b[0] {
	case numZero:
		return Zero, b[1:], nil
	case numNegative:
		neg = true
	case numPositive:
	default:
		return nil, nil, fmt.Errorf("%w: number tag 0x%02x", ErrKey, b[0])
	}
	if len(b) < 2 {
		return nil, nil, fmt.Errorf("%w: number without exponent", ErrKey)
	}
	flip := func(c byte) byte {
		if neg {
			return ^c
		}
		return c
	}
	n := Number{neg: neg, exp: int(flip(b[1])) + minNumberExp}
	end := byte(numEndPos)
	if neg {
		end = numEndNeg
	}
	digits := make([]byte, 0, MaxNumberDigits)
	for i := 2; i < len(b); i++ {
		if b[i] == end {
			if len(digits) == 0 || digits[0] == '0' || digits[len(digits)-1] == '0' {
				return nil, nil, fmt.Errorf("%w: number digits not canonical", ErrKey)
			}
			if n.exp > maxNumberExp {
				return nil, nil, fmt.Errorf("%w: number exponent out of range", ErrKey)
			}
			n.digits = string(digits)
			return n, b[i+1:], nil
		}
		d := flip(b[i]) - numDigitBase
		if d > 9 || len(digits) == MaxNumberDigits {
			return nil, nil, fmt.Errorf("%w: number digit byte 0x%02x at offset %d", ErrKey, b[i], i)
		}
		digits = append(digits, '0'+d)
	}
	return nil, nil, fmt.Errorf("%w: number without end", ErrKey)
}

// AppendStorageKey appends the stored key of an item with key k: the
// partition key's encoding, then the sort key's when there is one.
func AppendStorageKey(dst []byte, k Key) ([]byte, error) {
	dst, err := AppendKey(dst, k.Partition)
	if err != nil || k.Sort == nil {
		return dst, err
	}
	return AppendKey(dst, k.Sort)
}

// StorageKey is the stored key (without the table's prefix) of the item
// with key attributes it, checked against the schema.
func (s KeySchema) StorageKey(it Item) ([]byte, error) {
	k, err := s.Key(it)
	if err != nil {
		return nil, err
	}
	return AppendStorageKey(nil, k)
}

// ParseStorageKey reads a stored key (without the table's prefix) of a
// table with schema s.
func (s KeySchema) ParseStorageKey(b []byte) (Key, error) {
	pk, rest, err := DecodeKey(s.Partition.Type, b)
	if err != nil {
		return Key{}, fmt.Errorf("partition key: %w", err)
	}
	k := Key{Partition: pk}
	if s.HasSort() {
		if k.Sort, rest, err = DecodeKey(s.Sort.Type, rest); err != nil {
			return Key{}, fmt.Errorf("sort key: %w", err)
		}
	}
	if len(rest) != 0 {
		return Key{}, fmt.Errorf("%w: %d bytes after the key", ErrKey, len(rest))
	}
	return k, nil
}

// Item is the key as an item of its key attributes (for LastEvaluatedKey).
func (s KeySchema) Item(k Key) Item {
	it := Item{s.Partition.Name: k.Partition}
	if s.HasSort() && k.Sort != nil {
		it[s.Sort.Name] = k.Sort
	}
	return it
}

// Range is a span of stored keys: Lower inclusive, Upper exclusive, as a
// pebble iterator's LowerBound and UpperBound take them.
type Range struct {
	Lower, Upper []byte
}

// Contains reports whether key lies in r.
func (r Range) Contains(key []byte) bool {
	return bytes.Compare(key, r.Lower) >= 0 && bytes.Compare(key, r.Upper) < 0
}

// Empty reports whether r holds no key.
func (r Range) Empty() bool { return bytes.Compare(r.Lower, r.Upper) >= 0 }

// WithPrefix is r for keys stored behind prefix (the table's).
func (r Range) WithPrefix(prefix []byte) Range {
	return Range{
		Lower: append(append([]byte{}, prefix...), r.Lower...),
		Upper: append(append([]byte{}, prefix...), r.Upper...),
	}
}

// After is the part of r above key: where a forward page resumes after
// the last key it returned (ExclusiveStartKey).
func (r Range) After(key []byte) Range {
	if s := successor(key); bytes.Compare(s, r.Lower) > 0 {
		r.Lower = s
	}
	return r
}

// Before is the part of r below key: where a reverse page (ScanIndexForward
// false) resumes before the last key it returned.
func (r Range) Before(key []byte) Range {
	if bytes.Compare(key, r.Upper) < 0 {
		r.Upper = bytes.Clone(key)
	}
	return r
}

// prefixEnd is the smallest key greater than every key starting with p; p
// must hold a byte other than 0xFF (every key encoding does).
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	panic("item: prefixEnd of a key of only 0xFF bytes") // no encoding is
}

// successor is the smallest key greater than k.
func successor(k []byte) []byte { return append(bytes.Clone(k), 0) }

// PartitionRange is the range of every item of partition key pk.
func PartitionRange(pk Value) (Range, error) {
	p, err := AppendKey(nil, pk)
	if err != nil {
		return Range{}, err
	}
	return Range{Lower: p, Upper: prefixEnd(p)}, nil
}

// SortOp is a KeyConditionExpression's operator on the sort key.
type SortOp int

// The sort key conditions.
const (
	// SortAny: no condition, the whole partition.
	SortAny SortOp = iota
	SortEQ
	SortLT
	SortLE
	SortGT
	SortGE
	SortBetween
	SortBeginsWith
)

// SortCondition is a condition on the sort key: Value is its operand
// (BETWEEN's lower bound); Upper is BETWEEN's upper bound.
type SortCondition struct {
	Op    SortOp
	Value Value
	Upper Value
}

// SortRange is the range of the items of partition key pk whose sort key
// meets c. A BETWEEN whose lower bound is above its upper bound, and a
// begins_with on a number, are refused as DynamoDB refuses them.
func SortRange(pk Value, c SortCondition) (Range, error) {
	part, err := PartitionRange(pk)
	if err != nil || c.Op == SortAny {
		return part, err
	}
	p := part.Lower
	if c.Op == SortBeginsWith {
		switch v := c.Value.(type) {
		case S:
			lo := escape(bytes.Clone(p), []byte(v))
			return Range{Lower: lo, Upper: prefixEnd(lo)}, nil
		case B:
			lo := escape(bytes.Clone(p), v)
			return Range{Lower: lo, Upper: prefixEnd(lo)}, nil
		case nil:
			return Range{}, errorf(ErrInvalid, "begins_with without an operand")
		}
		return Range{}, errorf(ErrInvalid, "Incorrect operand type for operator or function; operator or function: begins_with, operand type: %s", c.Value.Type())
	}
	k, err := AppendKey(bytes.Clone(p), c.Value)
	if err != nil {
		return Range{}, err
	}
	switch c.Op {
	case SortEQ:
		return Range{Lower: k, Upper: successor(k)}, nil
	case SortLT:
		return Range{Lower: p, Upper: k}, nil
	case SortLE:
		return Range{Lower: p, Upper: successor(k)}, nil
	case SortGT:
		return Range{Lower: successor(k), Upper: part.Upper}, nil
	case SortGE:
		return Range{Lower: k, Upper: part.Upper}, nil
	case SortBetween:
		if cmp, ok := Compare(c.Value, c.Upper); !ok || cmp > 0 {
			if !ok {
				return Range{}, errorf(ErrInvalid, "The BETWEEN operator requires bounds of one type")
			}
			return Range{}, errorf(ErrInvalid, "The BETWEEN operator requires upper bound to be greater than or equal to lower bound")
		}
		hi, err := AppendKey(bytes.Clone(p), c.Upper)
		if err != nil {
			return Range{}, err
		}
		return Range{Lower: k, Upper: successor(hi)}, nil
	}
	return Range{}, errorf(ErrInvalid, "Unknown sort key operator %d", c.Op)
}
