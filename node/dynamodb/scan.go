package dynamodb

import (
	"github.com/harmoniakv/harmonia/cluster/item"
)

// The scanner owns decode's fast path for the requests the endpoint
// serves most: it reads a body that is a JSON object of members the
// request names, each once and each with a value of its type (no JSON
// null), by scanning the bytes once (item.JSONScanner). On anything else
// (malformed JSON, a member it does not know, a legacy parameter, a
// duplicate, an item it gives up on) it gives up, and encoding/json
// decodes the body and words any error. What it accepts it decodes as
// encoding/json would; FuzzRequestScanner checks that.

// memberScanner is a request the scanner reads.
type memberScanner interface {
	// scanMember reads the value of the member name, or reports false
	// when the request has no such member or the value is not one the
	// scanner reads.
	scanMember(s *item.JSONScanner, name string) bool
	// reset makes the request zero again, after the scanner gave up.
	reset()
}

// maxScannedMembers bounds the members a scanned request may have: as
// many as the largest request it reads names.
const maxScannedMembers = 8

// scanRequest reads body into in and reports whether it could.
func scanRequest(body []byte, in memberScanner) bool {
	s := item.NewJSONScanner(body)
	if !s.Consume('{') {
		return false
	}
	var seen [maxScannedMembers]string
	n := 0
	if !s.Consume('}') {
		for {
			name, ok := s.Name()
			if !ok || n == len(seen) || !s.Consume(':') {
				return false
			}
			for _, earlier := range seen[:n] {
				if earlier == name {
					return false // encoding/json's rule for a repeated member is not worth copying
				}
			}
			seen[n] = name
			n++
			if !in.scanMember(s, name) {
				return false
			}
			if s.Consume('}') {
				break
			}
			if !s.Consume(',') {
				return false
			}
		}
	}
	return s.End()
}

// str, boolean and itemOf read a member's value into v.
func str(s *item.JSONScanner, v *string) (ok bool) {
	*v, ok = s.Str()
	return ok
}

func boolean(s *item.JSONScanner, v *bool) (ok bool) {
	*v, ok = s.Bool()
	return ok
}

func itemOf(s *item.JSONScanner, v *item.ItemJSON) bool {
	it, ok := s.Item()
	*v = item.ItemJSON(it)
	return ok
}

func (in *getItemInput) scanMember(s *item.JSONScanner, name string) bool {
	switch name {
	case "TableName":
		return str(s, &in.TableName)
	case "Key":
		return itemOf(s, &in.Key)
	case "ProjectionExpression":
		return str(s, &in.ProjectionExpression)
	case "ConsistentRead":
		return boolean(s, &in.ConsistentRead)
	}
	return false
}

func (in *getItemInput) reset() { *in = getItemInput{} }

func (in *putItemInput) scanMember(s *item.JSONScanner, name string) bool {
	switch name {
	case "TableName":
		return str(s, &in.TableName)
	case "Item":
		return itemOf(s, &in.Item)
	case "ConditionExpression":
		return str(s, &in.ConditionExpression)
	case "ReturnValues":
		return str(s, &in.ReturnValues)
	}
	return false
}

func (in *putItemInput) reset() { *in = putItemInput{} }
