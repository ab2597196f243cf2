package item

import (
	"encoding/base64"
	"encoding/json"
	"unicode/utf8"
)

// jsonScanner owns the fast path of DecodeJSON and DecodeJSONItem: it
// reads DynamoDB's JSON by scanning the bytes once, where jsonDecoder
// reads encoding/json tokens one at a time. It accepts only what
// jsonDecoder accepts, with the same values, and gives up (ok false) on
// anything else: malformed JSON, a value DynamoDB refuses, or a spelling
// it does not bother with (JSON null, a duplicate name). The caller then
// runs jsonDecoder, which accepts or says why not in its own words, so
// the errors are jsonDecoder's on every input; FuzzJSONScanner checks the
// agreement.
type jsonScanner struct {
	data []byte
	pos  int
}

// scanJSONItem is DecodeJSONItem's fast path.
func scanJSONItem(data []byte) (Item, bool) {
	s := jsonScanner{data: data}
	m, ok := s.object(0)
	if !ok || !s.end() {
		return nil, false
	}
	return Item(m), true
}

// JSONScanner reads a larger JSON document whose members hold items (the
// DynamoDB endpoint's requests) by the same scan as DecodeJSONItem's fast
// path: a caller reads the document's own punctuation and members with
// it and the items inside with Item. Any false means it gave up
// (malformed JSON, a value DynamoDB refuses, a spelling it does not
// bother with), and the caller must decode the document another way,
// which accepts or words the error; what it reads is what encoding/json
// and DecodeJSONItem read.
type JSONScanner struct{ s jsonScanner }

// NewJSONScanner scans data from its start.
func NewJSONScanner(data []byte) *JSONScanner { return &JSONScanner{s: jsonScanner{data: data}} }

// Consume reads c after whitespace.
func (j *JSONScanner) Consume(c byte) bool { return j.s.consume(c) }

// End reports whether only whitespace is left.
func (j *JSONScanner) End() bool { return j.s.end() }

// Name reads a JSON string that holds no escape and is UTF-8 (the name of
// a member a caller matches exactly), and gives up on any other: for an
// escaped name encoding/json's own matching decides.
func (j *JSONScanner) Name() (string, bool) {
	raw, plain, ok := j.s.literal()
	return string(raw), ok && plain
}

// Str reads a JSON string's value, as encoding/json unquotes it.
func (j *JSONScanner) Str() (string, bool) { return j.s.str() }

// Bool reads true or false.
func (j *JSONScanner) Bool() (bool, bool) { return j.s.boolean() }

// Item reads an item: what DecodeJSONItem returns for its bytes.
func (j *JSONScanner) Item() (Item, bool) {
	m, ok := j.s.object(0)
	return Item(m), ok
}

// scanJSON is DecodeJSON's fast path.
func scanJSON(data []byte) (Value, bool) {
	s := jsonScanner{data: data}
	v, ok := s.value(0)
	if !ok || !s.end() {
		return nil, false
	}
	return v, true
}

// ws skips JSON's whitespace.
func (s *jsonScanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek is the next byte after whitespace, or 0 at the end.
func (s *jsonScanner) peek() byte {
	s.ws()
	if s.pos == len(s.data) {
		return 0
	}
	return s.data[s.pos]
}

// consume reads c after whitespace.
func (s *jsonScanner) consume(c byte) bool {
	if s.peek() != c {
		return false
	}
	s.pos++
	return true
}

// end reports whether only whitespace is left.
func (s *jsonScanner) end() bool { return s.peek() == 0 && s.pos == len(s.data) }

// literal reads the bytes of a JSON string after whitespace, quotes
// excluded; plain is false when they hold an escape or bytes that are
// not UTF-8, whose value only encoding/json's unquoting gives.
func (s *jsonScanner) literal() (raw []byte, plain, ok bool) {
	if !s.consume('"') {
		return nil, false, false
	}
	start := s.pos
	plain = true
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			raw = s.data[start:s.pos]
			s.pos++
			return raw, plain && utf8.Valid(raw), true
		case c == '\\':
			plain = false
			s.pos += len(`\"`) // the escaped byte cannot end the string
		case c < ' ':
			return nil, false, false // control characters must be escaped
		default:
			s.pos++
		}
	}
	return nil, false, false
}

// str reads a JSON string's value, as encoding/json unquotes it.
func (s *jsonScanner) str() (string, bool) {
	start := s.pos
	raw, plain, ok := s.literal()
	if !ok {
		return "", false
	}
	if plain {
		return string(raw), true
	}
	var v string
	if err := json.Unmarshal(s.data[start:s.pos], &v); err != nil {
		return "", false
	}
	return v, true
}

// boolean reads true or false.
func (s *jsonScanner) boolean() (bool, bool) {
	s.ws()
	for _, lit := range [...]struct {
		text string
		v    bool
	}{{"true", true}, {"false", false}} {
		if len(s.data)-s.pos >= len(lit.text) && string(s.data[s.pos:s.pos+len(lit.text)]) == lit.text {
			s.pos += len(lit.text)
			return lit.v, true
		}
	}
	return false, false
}

// list reads the elements of a JSON array with elem, which reads one.
func (s *jsonScanner) list(elem func() bool) bool {
	if !s.consume('[') {
		return false
	}
	if s.consume(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if s.consume(']') {
			return true
		}
		if !s.consume(',') {
			return false
		}
	}
}

// object reads {"name": AttributeValue, ...}; level is how many lists and
// maps enclose its values, as in jsonDecoder.object.
func (s *jsonScanner) object(level int) (map[string]Value, bool) {
	if !s.consume('{') {
		return nil, false
	}
	m := map[string]Value{}
	if s.consume('}') {
		return m, true
	}
	for {
		k, ok := s.str()
		if !ok || checkName(k) != nil || !s.consume(':') {
			return nil, false
		}
		if _, dup := m[k]; dup {
			return nil, false
		}
		if m[k], ok = s.value(level); !ok {
			return nil, false
		}
		if s.consume('}') {
			return m, true
		}
		if !s.consume(',') {
			return nil, false
		}
	}
}

// value reads one AttributeValue, which lists and maps enclose level
// times. Only a top-level one (level 0) is validated: Validate checks
// the values inside it too, which jsonDecoder checks one by one.
func (s *jsonScanner) value(level int) (Value, bool) {
	if level >= MaxDepth || !s.consume('{') {
		return nil, false
	}
	key, ok := s.str()
	if !ok || !s.consume(':') {
		return nil, false
	}
	v, ok := s.typed(Type(key), level)
	if !ok || !s.consume('}') {
		return nil, false
	}
	if level == 0 && Validate(v) != nil {
		return nil, false
	}
	return v, true
}

func (s *jsonScanner) typed(t Type, level int) (Value, bool) {
	switch t {
	case TypeS:
		v, ok := s.str()
		return S(v), ok
	case TypeN:
		v, ok := s.str()
		if !ok {
			return nil, false
		}
		n, err := ParseNumber(v)
		return n, err == nil
	case TypeB:
		return s.binary()
	case TypeBOOL:
		b, ok := s.boolean()
		return Bool(b), ok
	case TypeNULL:
		b, ok := s.boolean()
		return Null{}, ok && b
	case TypeL:
		l := L{}
		ok := s.list(func() bool {
			v, ok := s.value(level + 1)
			l = append(l, v)
			return ok
		})
		return l, ok
	case TypeM:
		m, ok := s.object(level + 1)
		return M(m), ok
	case TypeSS:
		var ss SS
		ok := s.list(func() bool {
			v, ok := s.str()
			ss = append(ss, v)
			return ok
		})
		return sortSet(ss), ok
	case TypeNS:
		var ns NS
		ok := s.list(func() bool {
			v, ok := s.str()
			if !ok {
				return false
			}
			n, err := ParseNumber(v)
			ns = append(ns, n)
			return err == nil
		})
		return sortSet(ns), ok
	case TypeBS:
		var bs BS
		ok := s.list(func() bool {
			b, ok := s.binary()
			bs = append(bs, b)
			return ok
		})
		return sortSet(bs), ok
	}
	return nil, false
}

// binary reads a B: strict standard base64, decoded from the string's
// bytes when it has no escapes.
func (s *jsonScanner) binary() (B, bool) {
	start := s.pos
	raw, plain, ok := s.literal()
	if !ok {
		return nil, false
	}
	if !plain {
		s.pos = start
		v, ok := s.str()
		if !ok {
			return nil, false
		}
		raw = []byte(v)
	}
	b := make([]byte, base64.StdEncoding.DecodedLen(len(raw)))
	n, err := base64.StdEncoding.Strict().Decode(b, raw)
	if err != nil {
		return nil, false
	}
	return B(b[:n]), true
}
