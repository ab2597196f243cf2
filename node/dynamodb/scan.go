package dynamodb

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/harmoniakv/harmonia/cluster/item"
)

// requestScanner owns decode's fast path for the requests the endpoint
// serves most: it reads a body that is a JSON object of members the
// request names, each once and each with a value of its type (no JSON
// null), by scanning the bytes once. On anything else (malformed JSON,
// a member it does not know, a legacy parameter, a duplicate, an item it
// gives up on) it gives up, and encoding/json decodes the body and words
// any error. What it accepts it decodes as encoding/json would;
// FuzzRequestScanner checks that.
type requestScanner struct {
	data []byte
	pos  int
}

// memberScanner is a request the scanner reads.
type memberScanner interface {
	// scanMember reads the value of the member name, or reports false
	// when the request has no such member or the value is not one the
	// scanner reads.
	scanMember(s *requestScanner, name string) bool
	// reset makes the request zero again, after the scanner gave up.
	reset()
}

// maxScannedMembers bounds the members a scanned request may have: as
// many as the largest request it reads names.
const maxScannedMembers = 8

// scanRequest reads body into in and reports whether it could.
func scanRequest(body []byte, in memberScanner) bool {
	s := requestScanner{data: body}
	if !s.consume('{') {
		return false
	}
	var seen [maxScannedMembers]string
	n := 0
	if !s.consume('}') {
		for {
			name, ok := s.plain()
			if !ok || n == len(seen) || !s.consume(':') {
				return false
			}
			for _, earlier := range seen[:n] {
				if earlier == name {
					return false // encoding/json's rule for a repeated member is not worth copying
				}
			}
			seen[n] = name
			n++
			if !in.scanMember(&s, name) {
				return false
			}
			if s.consume('}') {
				break
			}
			if !s.consume(',') {
				return false
			}
		}
	}
	return s.end()
}

// ws skips JSON's whitespace.
func (s *requestScanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// consume reads c after whitespace.
func (s *requestScanner) consume(c byte) bool {
	s.ws()
	if s.pos == len(s.data) || s.data[s.pos] != c {
		return false
	}
	s.pos++
	return true
}

// end reports whether only whitespace is left.
func (s *requestScanner) end() bool {
	s.ws()
	return s.pos == len(s.data)
}

// plain reads a JSON string that has no escapes and is UTF-8, whose
// value is its bytes; it gives up on any other.
func (s *requestScanner) plain() (string, bool) {
	if !s.consume('"') {
		return "", false
	}
	start := s.pos
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; {
		case c == '"':
			raw := s.data[start:s.pos]
			s.pos++
			return string(raw), utf8.Valid(raw)
		case c == '\\' || c < ' ':
			return "", false
		}
		s.pos++
	}
	return "", false
}

// str reads a JSON string member into v; a string with escapes is
// unquoted by encoding/json itself.
func (s *requestScanner) str(v *string) bool {
	s.ws()
	start := s.pos
	if p, ok := s.plain(); ok {
		*v = p
		return true
	}
	s.pos = start
	if !s.consume('"') {
		return false
	}
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; {
		case c == '"':
			s.pos++
			return json.Unmarshal(s.data[start:s.pos], v) == nil
		case c == '\\':
			s.pos += len(`\"`) // the escaped byte cannot end the string
			continue
		}
		s.pos++
	}
	return false
}

// boolean reads a JSON true or false member into v.
func (s *requestScanner) boolean(v *bool) bool {
	s.ws()
	for _, lit := range [...]struct {
		text string
		v    bool
	}{{"true", true}, {"false", false}} {
		if len(s.data)-s.pos >= len(lit.text) && string(s.data[s.pos:s.pos+len(lit.text)]) == lit.text {
			s.pos += len(lit.text)
			*v = lit.v
			return true
		}
	}
	return false
}

// item reads an item member (Item, Key) into v by cluster/item's
// scanner.
func (s *requestScanner) item(v *item.ItemJSON) bool {
	it, n, ok := item.ScanJSONItem(s.data[s.pos:])
	if !ok {
		return false
	}
	s.pos += n
	*v = item.ItemJSON(it)
	return true
}

func (in *getItemInput) scanMember(s *requestScanner, name string) bool {
	switch name {
	case "TableName":
		return s.str(&in.TableName)
	case "Key":
		return s.item(&in.Key)
	case "ProjectionExpression":
		return s.str(&in.ProjectionExpression)
	case "ConsistentRead":
		return s.boolean(&in.ConsistentRead)
	}
	return false
}

func (in *getItemInput) reset() { *in = getItemInput{} }

func (in *putItemInput) scanMember(s *requestScanner, name string) bool {
	switch name {
	case "TableName":
		return s.str(&in.TableName)
	case "Item":
		return s.item(&in.Item)
	case "ConditionExpression":
		return s.str(&in.ConditionExpression)
	case "ReturnValues":
		return s.str(&in.ReturnValues)
	}
	return false
}

func (in *putItemInput) reset() { *in = putItemInput{} }
