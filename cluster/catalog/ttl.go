package catalog

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrBadTTL is every refused change of a table's TTL attribute: a table of
// opaque keys, an invalid attribute name, enabling TTL where it is on or
// disabling it where it is off. Its errors' text is DynamoDB's, so a
// front door can show it as it is.
var ErrBadTTL = errors.New("invalid time to live change")

// ttlError is a refusal that matches ErrBadTTL and reads as its message
// alone.
type ttlError string

func (e ttlError) Error() string        { return string(e) }
func (e ttlError) Is(target error) bool { return target == ErrBadTTL }

// MaxTTLAttributeBytes bounds a TTL attribute's name, as DynamoDB.
const MaxTTLAttributeBytes = 255

// CheckTTLAttribute refuses a TTL attribute name that is empty, longer
// than MaxTTLAttributeBytes or not UTF-8.
func CheckTTLAttribute(name string) error {
	if name == "" || len(name) > MaxTTLAttributeBytes || !utf8.ValidString(name) {
		return ttlError(fmt.Sprintf("TimeToLiveSpecification.AttributeName %.80q is invalid: use 1 to %d bytes of UTF-8", name, MaxTTLAttributeBytes))
	}
	return nil
}

// ChangeTTL enables TTL on the table called name with attribute (enable),
// or disables it (attribute must then be the one enabled). As DynamoDB,
// it refuses to enable TTL that is already enabled, even on another
// attribute (disable it first), and to disable TTL that is not enabled.
func (c Catalog) ChangeTTL(name, attribute string, enable bool) (Catalog, Table, error) {
	i, ok := c.find(name)
	if !ok {
		return c, Table{}, fmt.Errorf("%w: %.80q", ErrNotFound, name)
	}
	t := c.Tables[i]
	if !t.HasItems() {
		return c, Table{}, ttlError(fmt.Sprintf("table %q holds opaque keys and values, not items: only a table of items has a TTL attribute", name))
	}
	if err := CheckTTLAttribute(attribute); err != nil {
		return c, Table{}, err
	}
	switch {
	case enable && t.TTLAttribute == attribute:
		return c, Table{}, ttlError("TimeToLive is already enabled")
	case enable && t.TTLAttribute != "":
		return c, Table{}, ttlError(fmt.Sprintf("TimeToLive is already enabled on the attribute %q: disable it first", t.TTLAttribute))
	case !enable && t.TTLAttribute == "":
		return c, Table{}, ttlError("TimeToLive is already disabled")
	case !enable && t.TTLAttribute != attribute:
		return c, Table{}, ttlError(fmt.Sprintf("TimeToLive is enabled on a different attribute: %q", t.TTLAttribute))
	}
	t.TTLAttribute = ""
	if enable {
		t.TTLAttribute = attribute
	}
	out := c.clone()
	out.Tables[i] = t
	out.Revision++
	return out, t, nil
}
