package item

import (
	"bytes"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/harmoniakv/harmonia/messages/itempb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// DecodeItem reads an encoded itempb.Item into an Item: what
// proto.Unmarshal and ItemFromProto make of the bytes, the item or the
// error. An item in the form protobuf encoders write (each field once,
// no unknown fields) is read straight from the bytes, without the
// intermediate messages protobuf's map and oneof decoding allocate, which
// were most of a client's cost of reading a page of items; any other
// form, and any item refused, is left to proto.Unmarshal and
// ItemFromProto, whose answer is the one given.
func DecodeItem(b []byte) (Item, error) { return (*Decoder)(nil).DecodeItem(b) }

// Decoder decodes items as DecodeItem does, allocating each attribute
// name once across the items it decodes (up to maxInternedNames of
// them): the items of one page mostly share their names, and their
// strings were a quarter of a client's allocations reading a page. The
// zero Decoder is ready; a nil one interns nothing. Not safe for
// concurrent use.
type Decoder struct {
	names map[string]string
	// shared and its text are what Share was given.
	shared []byte
	text   string
}

// Share makes the items d decodes from parts of buf share its memory
// instead of copying them: strings (S, SS and numbers' digits) are cut
// from one string copy of buf, one allocation for a page of items
// instead of one for each, and binaries (B, BS) are buf's own bytes, each
// cut to its length, so that appending to one copies it. buf must not be
// written to while the items are in use, and an item kept keeps all of
// buf and its copy alive: for a page read from the network, held while
// its items are. Items decoded from other bytes copy, as without it.
func (d *Decoder) Share(buf []byte) {
	d.shared, d.text = buf, string(buf)
}

// sharedAt is where b lies in the bytes Share was given; ok is false when
// it lies elsewhere (or is empty: nothing to share).
func (d *Decoder) sharedAt(b []byte) (at int, ok bool) {
	if d == nil || len(b) == 0 {
		return 0, false
	}
	at = cap(d.shared) - cap(b)
	return at, at >= 0 && at+len(b) <= len(d.shared) && &d.shared[at] == &b[0]
}

// str is b as a string: cut from Share's copy when b lies in its bytes.
func (d *Decoder) str(b []byte) string {
	if at, ok := d.sharedAt(b); ok {
		return d.text[at : at+len(b)]
	}
	return string(b)
}

// bin is b as a binary of its own: Share's bytes when b lies in them.
func (d *Decoder) bin(b []byte) []byte {
	if _, ok := d.sharedAt(b); ok {
		return b[:len(b):len(b)]
	}
	return append([]byte{}, b...)
}

// maxInternedNames bounds a Decoder's names, so that a page of items
// with ever new names costs no more than without it.
const maxInternedNames = 256

// name is b as a string, the one kept when d has seen it before.
func (d *Decoder) name(b []byte) string {
	if d == nil {
		return string(b)
	}
	if s, ok := d.names[string(b)]; ok {
		return s
	}
	s := string(b)
	if d.names == nil {
		d.names = make(map[string]string)
	}
	if len(d.names) < maxInternedNames {
		d.names[s] = s
	}
	return s
}

// DecodeItem is DecodeItem, with d's names.
func (d *Decoder) DecodeItem(b []byte) (Item, error) {
	if it, ok := d.readItem(b); ok {
		return it, nil
	}
	var pb itempb.Item
	if err := proto.Unmarshal(b, &pb); err != nil {
		return nil, err
	}
	return ItemFromProto(&pb)
}

// readItem is DecodeItem's direct reading: ok is false for anything it
// does not read exactly as ItemFromProto would.
func (d *Decoder) readItem(b []byte) (Item, bool) {
	it := Item{}
	for len(b) > 0 {
		entry, rest, ok := nextField(b, wireItemAttributes, protowire.BytesType)
		if !ok {
			return nil, false
		}
		b = rest
		k, v, ok := d.readEntry(entry, 0)
		if _, dup := it[k]; !ok || dup {
			return nil, false
		}
		it[k] = v
	}
	return it, true
}

// nextField reads the next field of b, which must be number num of wire
// type typ, holding a length-delimited value.
func nextField(b []byte, num protowire.Number, typ protowire.Type) (value, rest []byte, ok bool) {
	n, t, l := protowire.ConsumeTag(b)
	if l < 0 || n != num || t != typ {
		return nil, nil, false
	}
	value, m := protowire.ConsumeBytes(b[l:])
	if m < 0 {
		return nil, nil, false
	}
	return value, b[l+m:], true
}

// readEntry reads a map entry (key 1, value 2, each once, in that order)
// whose value lists and maps enclose level times.
func (d *Decoder) readEntry(b []byte, level int) (string, Value, bool) {
	key, b, ok := nextField(b, wireEntryKey, protowire.BytesType)
	if !ok || !utf8.Valid(key) || checkName(string(key)) != nil {
		return "", nil, false
	}
	value, b, ok := nextField(b, wireEntryValue, protowire.BytesType)
	if !ok || len(b) > 0 {
		return "", nil, false
	}
	v, ok := d.readValue(value, level)
	return d.name(key), v, ok
}

// readValue reads an AttributeValue (exactly one of its fields, once)
// that lists and maps enclose level times, refusing what Validate refuses
// (so an item it reads needs no Validate after it).
func (d *Decoder) readValue(b []byte, level int) (Value, bool) {
	if level >= MaxDepth {
		return nil, false
	}
	num, typ, l := protowire.ConsumeTag(b)
	if l < 0 {
		return nil, false
	}
	b = b[l:]
	var v Value
	switch {
	case typ == protowire.VarintType && (num == wireBool || num == wireNull):
		x, n := protowire.ConsumeVarint(b)
		if n < 0 || n != len(b) {
			return nil, false
		}
		switch {
		case num == wireBool:
			v = Bool(x != 0)
		case x == 0:
			return nil, false // NULL false: ItemFromProto's error
		default:
			v = Null{}
		}
		return v, true
	case typ != protowire.BytesType:
		return nil, false
	}
	body, n := protowire.ConsumeBytes(b)
	if n < 0 || n != len(b) {
		return nil, false
	}
	switch num {
	case wireS:
		if !utf8.Valid(body) {
			return nil, false
		}
		v = S(d.str(body))
	case wireN:
		n, err := ParseNumber(d.str(body))
		if err != nil {
			return nil, false
		}
		v = n
	case wireB:
		v = B(d.bin(body))
	case wireL:
		l := L{}
		for len(body) > 0 {
			e, rest, ok := nextField(body, wireListValues, protowire.BytesType)
			if !ok {
				return nil, false
			}
			body = rest
			ev, ok := d.readValue(e, level+1)
			if !ok {
				return nil, false
			}
			l = append(l, ev)
		}
		v = l
	case wireM:
		m := M{}
		for len(body) > 0 {
			entry, rest, ok := nextField(body, wireMapValues, protowire.BytesType)
			if !ok {
				return nil, false
			}
			body = rest
			k, ev, ok := d.readEntry(entry, level+1)
			if _, dup := m[k]; !ok || dup {
				return nil, false
			}
			m[k] = ev
		}
		v = m
	case wireSS, wireNS, wireBS:
		var ss SS
		var ns NS
		var bs BS
		for len(body) > 0 {
			e, rest, ok := nextField(body, wireSetValues, protowire.BytesType)
			if !ok {
				return nil, false
			}
			body = rest
			switch num {
			case wireSS, wireNS:
				if !utf8.Valid(e) {
					return nil, false
				}
				if num == wireSS {
					ss = append(ss, d.str(e))
					continue
				}
				n, err := ParseNumber(d.str(e))
				if err != nil {
					return nil, false
				}
				ns = append(ns, n)
			default:
				bs = append(bs, d.bin(e))
			}
		}
		// Validate's rules for a set: not empty, no duplicates (in the
		// canonical order sortSet gives, which the set takes).
		var refused bool
		switch num {
		case wireSS:
			slices.SortFunc(ss, strings.Compare)
			v, refused = ss, len(ss) == 0 || hasDuplicates(ss, strings.Compare)
		case wireNS:
			slices.SortFunc(ns, Number.Cmp)
			v, refused = ns, len(ns) == 0 || hasDuplicates(ns, Number.Cmp)
		default:
			slices.SortFunc(bs, bytes.Compare)
			v, refused = bs, len(bs) == 0 || hasDuplicates(bs, bytes.Compare)
		}
		if refused {
			return nil, false
		}
	default:
		return nil, false
	}
	return v, true
}

// The field numbers readItem reads, from the messages' descriptors.
var (
	wireItemAttributes = wireField(&itempb.Item{}, "attributes")
	wireEntryKey       = (&itempb.Item{}).ProtoReflect().Descriptor().Fields().ByName("attributes").MapKey().Number()
	wireEntryValue     = (&itempb.Item{}).ProtoReflect().Descriptor().Fields().ByName("attributes").MapValue().Number()
	wireS              = wireField(&itempb.AttributeValue{}, "s")
	wireN              = wireField(&itempb.AttributeValue{}, "n")
	wireB              = wireField(&itempb.AttributeValue{}, "b")
	wireBool           = wireField(&itempb.AttributeValue{}, "bool")
	wireNull           = wireField(&itempb.AttributeValue{}, "null")
	wireL              = wireField(&itempb.AttributeValue{}, "l")
	wireM              = wireField(&itempb.AttributeValue{}, "m")
	wireSS             = wireField(&itempb.AttributeValue{}, "ss")
	wireNS             = wireField(&itempb.AttributeValue{}, "ns")
	wireBS             = wireField(&itempb.AttributeValue{}, "bs")
	wireListValues     = wireField(&itempb.ListValue{}, "values")
	wireMapValues      = wireField(&itempb.MapValue{}, "values")
	// StringSet, NumberSet and BinarySet each hold field 1, values.
	wireSetValues = wireField(&itempb.StringSet{}, "values")
)

func wireField(m proto.Message, name protoreflect.Name) protowire.Number {
	return m.ProtoReflect().Descriptor().Fields().ByName(name).Number()
}

func init() {
	// readValue reads the three sets' values as one field number.
	if wireField(&itempb.NumberSet{}, "values") != wireSetValues || wireField(&itempb.BinarySet{}, "values") != wireSetValues {
		panic("item: the sets' values are not one field number")
	}
}
