package item

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"
)

// DynamoDB's JSON: an AttributeValue is an object with exactly one type key
// ({"S":"x"}, {"N":"1.5"}, {"B":"<base64>"}, {"BOOL":true}, {"NULL":true},
// {"L":[...]}, {"M":{...}}, {"SS":[...]}, {"NS":[...]}, {"BS":[...]}), and
// an item is an object of attribute names to AttributeValues. The decoder
// reads tokens rather than unmarshalling into maps so that a duplicate
// key is seen and refused, and so that nesting is bounded before it costs
// anything. A faster scanner of the bytes (jsonScanner) decodes what it
// can first; the token decoder decides the rest and words every error.

// ErrJSON reports DynamoDB JSON that is malformed or that holds a value
// DynamoDB refuses.
var ErrJSON = errors.New("invalid AttributeValue JSON")

// DecodeJSON reads one AttributeValue in DynamoDB's JSON. The value it
// returns passes Validate; sets are in canonical order.
func DecodeJSON(data []byte) (Value, error) {
	if v, ok := scanJSON(data); ok {
		return v, nil
	}
	return decodeJSONTokens(data)
}

// decodeJSONTokens is DecodeJSON by the token decoder.
func decodeJSONTokens(data []byte) (Value, error) {
	d := newJSONDecoder(data)
	v, err := d.value(0)
	if err == nil {
		err = d.end()
	}
	if err != nil {
		return nil, err
	}
	return v, nil
}

// DecodeJSONItem reads an item in DynamoDB's JSON ({"name": {...}, ...}).
// It checks every name and value but not the item's size or key (see
// KeySchema.ValidateItem).
func DecodeJSONItem(data []byte) (Item, error) {
	if it, ok := scanJSONItem(data); ok {
		return it, nil
	}
	return decodeJSONItemTokens(data)
}

// decodeJSONItemTokens is DecodeJSONItem by the token decoder.
func decodeJSONItemTokens(data []byte) (Item, error) {
	d := newJSONDecoder(data)
	it, err := d.object(0, "item")
	if err == nil {
		err = d.end()
	}
	if err != nil {
		return nil, err
	}
	return Item(it), nil
}

type jsonDecoder struct{ dec *json.Decoder }

func newJSONDecoder(data []byte) *jsonDecoder {
	return &jsonDecoder{dec: json.NewDecoder(bytes.NewReader(data))}
}

func (d *jsonDecoder) token() (json.Token, error) {
	t, err := d.dec.Token()
	if err == io.EOF {
		return nil, errorf(ErrJSON, "Unexpected end of input")
	}
	if err != nil {
		return nil, errorf(ErrJSON, "%v", err)
	}
	return t, nil
}

func (d *jsonDecoder) end() error {
	if _, err := d.dec.Token(); err != io.EOF {
		return errorf(ErrJSON, "Data after the value")
	}
	return nil
}

func (d *jsonDecoder) delim(want json.Delim, what string) error {
	t, err := d.token()
	if err != nil {
		return err
	}
	if t != want {
		return errorf(ErrJSON, "%s must be a JSON %s", what, map[json.Delim]string{'{': "object", '[': "array"}[want])
	}
	return nil
}

func (d *jsonDecoder) str(what string) (string, error) {
	t, err := d.token()
	if err != nil {
		return "", err
	}
	s, ok := t.(string)
	if !ok {
		return "", errorf(ErrJSON, "%s must be a JSON string", what)
	}
	return s, nil
}

func (d *jsonDecoder) boolean(what string) (bool, error) {
	t, err := d.token()
	if err != nil {
		return false, err
	}
	b, ok := t.(bool)
	if !ok {
		return false, errorf(ErrJSON, "%s must be a JSON boolean", what)
	}
	return b, nil
}

// object reads {"name": AttributeValue, ...}; level is how many lists and
// maps enclose its values.
func (d *jsonDecoder) object(level int, what string) (map[string]Value, error) {
	if err := d.delim('{', what); err != nil {
		return nil, err
	}
	m := map[string]Value{}
	for d.dec.More() {
		k, err := d.str("a name")
		if err != nil {
			return nil, err
		}
		if err := checkName(k); err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, errorf(ErrJSON, "%s has the name %.64q twice", what, k)
		}
		if m[k], err = d.value(level); err != nil {
			return nil, fmt.Errorf("%.64q: %w", k, err)
		}
	}
	_, err := d.token() // '}'
	return m, err
}

func (d *jsonDecoder) value(level int) (Value, error) {
	if level >= MaxDepth {
		return nil, ErrTooDeep // refused before it is read
	}
	if err := d.delim('{', "an AttributeValue"); err != nil {
		return nil, err
	}
	if !d.dec.More() {
		return nil, errorf(ErrJSON, "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
	}
	key, err := d.str("a type key")
	if err != nil {
		return nil, err
	}
	v, err := d.typed(key, level)
	if err != nil {
		return nil, err
	}
	if d.dec.More() {
		return nil, errorf(ErrJSON, "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
	}
	if _, err := d.token(); err != nil { // '}'
		return nil, err
	}
	if err := Validate(v); err != nil {
		return nil, err
	}
	return sortSet(v), nil
}

func (d *jsonDecoder) typed(key string, level int) (Value, error) {
	switch Type(key) {
	case TypeS:
		s, err := d.str("S")
		return S(s), err
	case TypeN:
		s, err := d.str("N")
		if err != nil {
			return nil, err
		}
		return ParseNumber(s)
	case TypeB:
		s, err := d.str("B")
		if err != nil {
			return nil, err
		}
		return decodeBase64(s)
	case TypeBOOL:
		b, err := d.boolean("BOOL")
		return Bool(b), err
	case TypeNULL:
		b, err := d.boolean("NULL")
		if err == nil && !b {
			err = errorf(ErrJSON, "Null attribute value types must have the value of true")
		}
		return Null{}, err
	case TypeL:
		if err := d.delim('[', "L"); err != nil {
			return nil, err
		}
		l := L{}
		for d.dec.More() {
			v, err := d.value(level + 1)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", len(l), err)
			}
			l = append(l, v)
		}
		_, err := d.token()
		return l, err
	case TypeM:
		m, err := d.object(level+1, "M")
		return M(m), err
	case TypeSS, TypeNS, TypeBS:
		return d.set(Type(key))
	}
	return nil, errorf(ErrJSON, "Unknown type key %.32q: use one of S, N, B, BOOL, NULL, L, M, SS, NS, BS", key)
}

func (d *jsonDecoder) set(t Type) (Value, error) {
	if err := d.delim('[', string(t)); err != nil {
		return nil, err
	}
	var ss SS
	var ns NS
	var bs BS
	for d.dec.More() {
		s, err := d.str("an element of " + string(t))
		if err != nil {
			return nil, err
		}
		switch t {
		case TypeSS:
			ss = append(ss, s)
		case TypeNS:
			n, err := ParseNumber(s)
			if err != nil {
				return nil, err
			}
			ns = append(ns, n)
		case TypeBS:
			b, err := decodeBase64(s)
			if err != nil {
				return nil, err
			}
			bs = append(bs, b)
		}
	}
	if _, err := d.token(); err != nil {
		return nil, err
	}
	switch t {
	case TypeSS:
		return ss, nil
	case TypeNS:
		return ns, nil
	}
	return bs, nil
}

func decodeBase64(s string) (B, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, errorf(ErrJSON, "Invalid base64 in a binary value: %v", err)
	}
	return B(b), nil
}

// EncodeJSON writes v in DynamoDB's JSON; map keys are in sorted order, so
// equal values give equal bytes when their sets are in canonical order.
func EncodeJSON(v Value) ([]byte, error) {
	if err := Validate(v); err != nil {
		return nil, err
	}
	return appendJSON(nil, v), nil
}

// EncodeJSONItem writes an item in DynamoDB's JSON.
func EncodeJSONItem(it Item) ([]byte, error) { return AppendJSONItem(nil, it) }

// AppendJSONItem appends an item in DynamoDB's JSON to dst, the bytes
// EncodeJSONItem returns, so that a caller may encode into a buffer it
// reuses.
func AppendJSONItem(dst []byte, it Item) ([]byte, error) {
	if err := ValidateItem(it); err != nil {
		return dst, err
	}
	return appendJSONObject(dst, it), nil
}

func appendJSONObject(dst []byte, m map[string]Value) []byte {
	dst = append(dst, '{')
	for i, k := range sortedKeys(m) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendJSON(dst, m[k])
	}
	return append(dst, '}')
}

func sortedKeys(m map[string]Value) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// appendJSONString appends s as encoding/json writes a string: quoted
// as it is when every byte is printable ASCII that needs no escape, and
// by encoding/json itself otherwise (escapes, HTML characters, bytes
// that are not UTF-8).
func appendJSONString(dst []byte, s string) []byte {
	for i := range len(s) {
		if !plainJSONByte(s[i]) {
			b, _ := json.Marshal(s) // cannot fail for a string
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// plainJSONByte reports whether encoding/json writes c in a string as it
// is: printable ASCII but the quote, the backslash and the characters it
// escapes for HTML.
func plainJSONByte(c byte) bool {
	switch c {
	case '"', '\\', '<', '>', '&':
		return false
	}
	return c >= ' ' && c < utf8.RuneSelf
}

// appendJSONBase64 appends b as a JSON string of its standard base64,
// whose characters need no escape.
func appendJSONBase64(dst []byte, b []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

func appendJSON(dst []byte, v Value) []byte {
	dst = append(dst, `{"`...)
	dst = append(dst, v.Type()...)
	dst = append(dst, `":`...)
	switch v := v.(type) {
	case S:
		dst = appendJSONString(dst, string(v))
	case Number:
		dst = appendJSONString(dst, v.String())
	case B:
		dst = appendJSONBase64(dst, v)
	case Bool:
		dst = strconv.AppendBool(dst, bool(v))
	case Null:
		dst = append(dst, "true"...)
	case L:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSON(dst, e)
		}
		dst = append(dst, ']')
	case M:
		dst = appendJSONObject(dst, v)
	case SS:
		dst = appendJSONArray(dst, len(v), func(i int) string { return v[i] })
	case NS:
		dst = appendJSONArray(dst, len(v), func(i int) string { return v[i].String() })
	case BS:
		dst = append(dst, '[')
		for i, b := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONBase64(dst, b)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

func appendJSONArray(dst []byte, n int, elem func(int) string) []byte {
	dst = append(dst, '[')
	for i := range n {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, elem(i))
	}
	return append(dst, ']')
}

// ItemJSON is an Item that encoding/json reads and writes in DynamoDB's
// JSON, for the fields of request and response structs (Item, Key,
// ExclusiveStartKey). A JSON null leaves it unset.
type ItemJSON Item

// MarshalJSON writes the item in DynamoDB's JSON.
func (it ItemJSON) MarshalJSON() ([]byte, error) { return EncodeJSONItem(Item(it)) }

// UnmarshalJSON reads an item in DynamoDB's JSON.
func (it *ItemJSON) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	v, err := DecodeJSONItem(b)
	if err != nil {
		return err
	}
	*it = ItemJSON(v)
	return nil
}

// ValueJSON is a Value that encoding/json reads and writes in DynamoDB's
// JSON (for ExpressionAttributeValues: map[string]ValueJSON).
type ValueJSON struct{ Value }

// MarshalJSON writes the value in DynamoDB's JSON.
func (v ValueJSON) MarshalJSON() ([]byte, error) { return EncodeJSON(v.Value) }

// UnmarshalJSON reads a value in DynamoDB's JSON.
func (v *ValueJSON) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	d, err := DecodeJSON(b)
	if err != nil {
		return err
	}
	v.Value = d
	return nil
}
