package crdt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/harmoniakv/harmonia/cluster/vclock"
)

// ErrMalformed reports bytes that Encode or EncodeContext did not produce.
var ErrMalformed = errors.New("malformed CRDT encoding")

// The encoding starts with a tag (what follows) and a format version:
//
//	state:   'S' 1 actors context kind value
//	context: 'C' 1 actors context
//
// actors is the sorted list of actors the rest refers to by index (count,
// then node as length-prefixed bytes and incarnation each); a context is its
// clock (count, then actor index and counter each) and its cloud (count,
// then dots); a dot is actor index and counter. Integers are varints
// (timestamps zigzag). A value is kind 0 for a state of no kind, else:
//
//	counter:     count, then dot, increments, decrements each
//	set:         count, then element bytes and a dot list each
//	flag:        a dot list
//	mvregister:  count, then dot and value bytes each
//	lwwregister: count, then dot, timestamp and value bytes each
//	map:         count, then name bytes, kind and value each
//
// Every list is sorted and the encoding is canonical, so equal states encode
// to equal bytes.
const (
	stateTag      = 'S'
	contextTag    = 'C'
	formatVersion = 1
)

// Encode returns the canonical encoding of s.
func Encode(s State) []byte {
	var dots []vclock.Dot
	if s.value != nil {
		dots = s.value.appendDots(nil)
	}
	e := newEncoder(stateTag, s.ctx, dots)
	if s.value == nil {
		e.byte(0)
	} else {
		e.byte(byte(s.value.Kind()))
		s.value.encode(e)
	}
	return e.buf
}

// EncodeContext returns the canonical encoding of c, for a client to carry.
func EncodeContext(c Context) []byte { return newEncoder(contextTag, c, nil).buf }

// Decode parses what Encode produced.
func Decode(b []byte, lim Limits) (State, error) {
	d, ctx, err := newDecoder(b, stateTag, lim)
	if err != nil {
		return State{}, fmt.Errorf("decode CRDT state: %w", err)
	}
	s := State{ctx: ctx}
	if s.value, err = d.topValue(); err != nil {
		return State{}, fmt.Errorf("decode CRDT state: %w", d.at(err))
	}
	if s.value != nil {
		for _, dot := range s.value.appendDots(nil) {
			if !ctx.Covers(dot) {
				return State{}, fmt.Errorf("decode CRDT state: dot %v outside the context: %w", dot, ErrMalformed)
			}
		}
	}
	if err := d.end(b, Encode(s)); err != nil {
		return State{}, fmt.Errorf("decode CRDT state: %w", err)
	}
	return s, nil
}

// DecodeContext parses what EncodeContext produced.
func DecodeContext(b []byte, lim Limits) (Context, error) {
	d, ctx, err := newDecoder(b, contextTag, lim)
	if err == nil {
		err = d.end(b, EncodeContext(ctx))
	}
	if err != nil {
		return Context{}, fmt.Errorf("decode CRDT context: %w", err)
	}
	return ctx, nil
}

type encoder struct {
	buf []byte
	// actors are the state's actors, sorted: a dot names its actor by its
	// index here (a binary search: states hold few actors, and a map
	// built for every encoding cost more than the lookups it saved).
	actors []vclock.Actor
}

// newEncoder writes the header, the actor table of c and dots, and c.
func newEncoder(tag byte, c Context, dots []vclock.Dot) *encoder {
	for _, en := range c.clock {
		dots = append(dots, vclock.Dot{Actor: en.Actor})
	}
	dots = append(dots, c.cloud...)
	actors := make([]vclock.Actor, len(dots))
	for i, d := range dots {
		actors[i] = d.Actor
	}
	slices.SortFunc(actors, compareActors)
	actors = slices.Compact(actors)

	e := &encoder{buf: []byte{tag, formatVersion}, actors: actors}
	e.uvarint(uint64(len(actors)))
	for _, a := range actors {
		e.string(a.Node)
		e.uvarint(a.Incarnation)
	}
	e.uvarint(uint64(len(c.clock)))
	for _, en := range c.clock {
		e.dot(vclock.Dot{Actor: en.Actor, Counter: en.Counter})
	}
	e.dots(c.cloud)
	return e
}

func compareActors(a, b vclock.Actor) int {
	return vclock.CompareDots(vclock.Dot{Actor: a}, vclock.Dot{Actor: b})
}

func (e *encoder) byte(b byte)      { e.buf = append(e.buf, b) }
func (e *encoder) uvarint(n uint64) { e.buf = binary.AppendUvarint(e.buf, n) }
func (e *encoder) varint(n int64)   { e.buf = binary.AppendVarint(e.buf, n) }
func (e *encoder) dot(d vclock.Dot) {
	i, _ := slices.BinarySearchFunc(e.actors, d.Actor, compareActors)
	e.uvarint(uint64(i))
	e.uvarint(d.Counter)
}
func (e *encoder) string(s string) { e.uvarint(uint64(len(s))); e.buf = append(e.buf, s...) }
func (e *encoder) dots(ds []vclock.Dot) {
	e.uvarint(uint64(len(ds)))
	for _, d := range ds {
		e.dot(d)
	}
}

func (c Counter) encode(e *encoder) {
	e.uvarint(uint64(len(c.entries)))
	for _, en := range c.entries {
		e.dot(en.dot)
		e.uvarint(en.inc)
		e.uvarint(en.dec)
	}
}

func (s Set) encode(e *encoder) {
	e.uvarint(uint64(len(s.elems)))
	for _, el := range s.elems {
		e.string(el.value)
		e.dots(el.dots)
	}
}

func (f Flag) encode(e *encoder) { e.dots(f.dots) }

func (r MVRegister) encode(e *encoder) {
	e.uvarint(uint64(len(r.entries)))
	for _, en := range r.entries {
		e.dot(en.dot)
		e.string(en.value)
	}
}

func (r LWWRegister) encode(e *encoder) {
	e.uvarint(uint64(len(r.entries)))
	for _, en := range r.entries {
		e.dot(en.dot)
		e.varint(en.timestamp)
		e.string(en.value)
	}
}

func (m Map) encode(e *encoder) {
	e.uvarint(uint64(len(m.fields)))
	for _, f := range m.fields {
		e.string(f.key.Name)
		e.byte(byte(f.key.Kind))
		f.value.encode(e)
	}
}

// decoder reads an encoding front to back. Every read checks the bytes left
// and every count is bounded before anything is allocated for it, so no
// input can panic it or make it allocate much more than the input's size.
type decoder struct {
	buf         []byte // what is left
	size        int    // of the whole input, for error offsets
	actors      []vclock.Actor
	maxElements int
	maxDepth    int
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrMalformed)
}

// newDecoder reads the header, the actor table and the context.
func newDecoder(b []byte, tag byte, lim Limits) (*decoder, Context, error) {
	if maxBytes := lim.MaxBytes * lim.Headroom; len(b) > maxBytes {
		return nil, Context{}, fmt.Errorf("%d bytes, more than %d: %w", len(b), maxBytes, ErrLimit)
	}
	d := &decoder{buf: b, size: len(b), maxElements: lim.MaxElements * lim.Headroom, maxDepth: lim.MaxDepth}
	ctx, err := d.header(tag)
	return d, ctx, d.at(err)
}

// at adds the offset the decoder reached to err.
func (d *decoder) at(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("at byte %d: %w", d.size-len(d.buf), err)
}

// end checks that the input is used up and is exactly the canonical
// encoding of what was read, which rules out overlong varints and unused
// actors and makes re-encoding give back the same bytes.
func (d *decoder) end(input, canonical []byte) error {
	if len(d.buf) > 0 {
		return d.at(malformed("%d trailing bytes", len(d.buf)))
	}
	if !bytes.Equal(input, canonical) {
		return malformed("not in canonical form")
	}
	return nil
}

func (d *decoder) header(tag byte) (Context, error) {
	t, err := d.byte()
	if err != nil {
		return Context{}, err
	}
	if t != tag {
		return Context{}, malformed("tag %q, want %q", t, tag)
	}
	v, err := d.byte()
	if err != nil {
		return Context{}, err
	}
	if v != formatVersion {
		return Context{}, malformed("format version %d, want %d", v, formatVersion)
	}
	n, err := d.count()
	if err != nil {
		return Context{}, err
	}
	for range n {
		node, err := d.string()
		if err != nil {
			return Context{}, err
		}
		inc, err := d.uvarint()
		if err != nil {
			return Context{}, err
		}
		a := vclock.Actor{Node: node, Incarnation: inc}
		if k := len(d.actors); k > 0 && compareActors(d.actors[k-1], a) >= 0 {
			return Context{}, malformed("actor %s out of order", a)
		}
		d.actors = append(d.actors, a)
	}
	return d.context()
}

func (d *decoder) context() (Context, error) {
	n, err := d.count()
	if err != nil {
		return Context{}, err
	}
	var c Context
	for range n {
		dot, err := d.dot()
		if err != nil {
			return Context{}, err
		}
		if k := len(c.clock); k > 0 && compareActors(c.clock[k-1].Actor, dot.Actor) >= 0 {
			return Context{}, malformed("clock entry %v out of order", dot)
		}
		c.clock = append(c.clock, vclock.Entry{Actor: dot.Actor, Counter: dot.Counter})
	}
	if c.cloud, err = d.dotList(); err != nil {
		return Context{}, err
	}
	for _, dot := range c.cloud {
		// Canonical: the clock would have taken a dot it covers or the one
		// right after it.
		if dot.Counter <= c.clock.Get(dot.Actor)+1 {
			return Context{}, malformed("cloud dot %v next to the clock", dot)
		}
	}
	return c, nil
}

func (d *decoder) topValue() (Value, error) {
	k, err := d.byte()
	if err != nil || k == 0 {
		return nil, err
	}
	return d.value(Kind(k), 0)
}

// value reads a value of kind k inside depth maps.
func (d *decoder) value(k Kind, depth int) (Value, error) {
	switch k {
	case KindCounter:
		return d.counter()
	case KindSet:
		return d.set()
	case KindFlag:
		ds, err := d.dotList()
		return Flag{dots: ds}, err
	case KindMVRegister:
		return d.mvRegister()
	case KindLWWRegister:
		return d.lwwRegister()
	case KindMap:
		if depth+1 > d.maxDepth {
			return nil, fmt.Errorf("maps nested more than %d deep: %w", d.maxDepth, ErrLimit)
		}
		return d.mapValue(depth + 1)
	default:
		return nil, malformed("unknown kind %d", k)
	}
}

func (d *decoder) counter() (Value, error) {
	n, err := d.count()
	if err != nil {
		return nil, err
	}
	var c Counter
	for range n {
		var e counterEntry
		if e.dot, err = d.dot(); err != nil {
			return nil, err
		}
		if e.inc, err = d.uvarint(); err != nil {
			return nil, err
		}
		if e.dec, err = d.uvarint(); err != nil {
			return nil, err
		}
		if k := len(c.entries); k > 0 && vclock.CompareDots(c.entries[k-1].dot, e.dot) >= 0 {
			return nil, malformed("counter entry %v out of order", e.dot)
		}
		c.entries = append(c.entries, e)
	}
	return c, nil
}

func (d *decoder) set() (Value, error) {
	n, err := d.count()
	if err != nil {
		return nil, err
	}
	var s Set
	for range n {
		var e setElem
		if e.value, err = d.string(); err != nil {
			return nil, err
		}
		if k := len(s.elems); k > 0 && s.elems[k-1].value >= e.value {
			return nil, malformed("set element %q out of order", e.value)
		}
		if e.dots, err = d.dotList(); err != nil {
			return nil, err
		}
		if len(e.dots) == 0 {
			return nil, malformed("set element %q without a dot", e.value)
		}
		s.elems = append(s.elems, e)
	}
	return s, nil
}

func (d *decoder) mvRegister() (Value, error) {
	n, err := d.count()
	if err != nil {
		return nil, err
	}
	var r MVRegister
	for range n {
		var e mvEntry
		if e.dot, err = d.dot(); err != nil {
			return nil, err
		}
		if k := len(r.entries); k > 0 && vclock.CompareDots(r.entries[k-1].dot, e.dot) >= 0 {
			return nil, malformed("register entry %v out of order", e.dot)
		}
		if e.value, err = d.string(); err != nil {
			return nil, err
		}
		r.entries = append(r.entries, e)
	}
	return r, nil
}

func (d *decoder) lwwRegister() (Value, error) {
	n, err := d.count()
	if err != nil {
		return nil, err
	}
	var r LWWRegister
	for range n {
		var e lwwEntry
		if e.dot, err = d.dot(); err != nil {
			return nil, err
		}
		if k := len(r.entries); k > 0 && vclock.CompareDots(r.entries[k-1].dot, e.dot) >= 0 {
			return nil, malformed("register entry %v out of order", e.dot)
		}
		if e.timestamp, err = d.varint(); err != nil {
			return nil, err
		}
		if e.value, err = d.string(); err != nil {
			return nil, err
		}
		r.entries = append(r.entries, e)
	}
	return r, nil
}

// mapValue reads a map at depth.
func (d *decoder) mapValue(depth int) (Value, error) {
	n, err := d.count()
	if err != nil {
		return nil, err
	}
	var m Map
	for range n {
		var f mapField
		if f.key.Name, err = d.string(); err != nil {
			return nil, err
		}
		k, err := d.byte()
		if err != nil {
			return nil, err
		}
		f.key.Kind = Kind(k)
		if !f.key.Kind.valid() {
			return nil, malformed("field %q of unknown kind %d", f.key.Name, k)
		}
		if i := len(m.fields); i > 0 && compareFields(m.fields[i-1].key, f.key) >= 0 {
			return nil, malformed("field %s out of order", f.key)
		}
		if f.value, err = d.value(f.key.Kind, depth); err != nil {
			return nil, fmt.Errorf("field %s: %w", f.key, err)
		}
		if f.value.isEmpty() {
			return nil, malformed("field %s is empty", f.key)
		}
		m.fields = append(m.fields, f)
	}
	return m, nil
}

// dotList reads a sorted list of dots.
func (d *decoder) dotList() ([]vclock.Dot, error) {
	n, err := d.count()
	if err != nil {
		return nil, err
	}
	var ds []vclock.Dot
	for range n {
		dot, err := d.dot()
		if err != nil {
			return nil, err
		}
		if k := len(ds); k > 0 && vclock.CompareDots(ds[k-1], dot) >= 0 {
			return nil, malformed("dot %v out of order", dot)
		}
		ds = append(ds, dot)
	}
	return ds, nil
}

func (d *decoder) dot() (vclock.Dot, error) {
	i, err := d.uvarint()
	if err != nil {
		return vclock.Dot{}, err
	}
	if i >= uint64(len(d.actors)) {
		return vclock.Dot{}, malformed("actor index %d of %d", i, len(d.actors))
	}
	n, err := d.uvarint()
	if err != nil {
		return vclock.Dot{}, err
	}
	if n == 0 {
		return vclock.Dot{}, malformed("dot with counter 0")
	}
	return vclock.Dot{Actor: d.actors[i], Counter: n}, nil
}

// count reads the length of a list. Each entry takes at least one byte, so
// a count beyond the bytes left is malformed before it is too large.
func (d *decoder) count() (int, error) {
	n, err := d.uvarint()
	if err != nil {
		return 0, err
	}
	if n > uint64(len(d.buf)) {
		return 0, malformed("%d entries in %d bytes", n, len(d.buf))
	}
	if n > uint64(d.maxElements) {
		return 0, fmt.Errorf("%d entries, more than %d: %w", n, d.maxElements, ErrLimit)
	}
	return int(n), nil
}

func (d *decoder) byte() (byte, error) {
	if len(d.buf) == 0 {
		return 0, malformed("truncated")
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b, nil
}

func (d *decoder) uvarint() (uint64, error) {
	n, k := binary.Uvarint(d.buf)
	if k <= 0 {
		return 0, malformed("bad varint")
	}
	d.buf = d.buf[k:]
	return n, nil
}

func (d *decoder) varint() (int64, error) {
	n, k := binary.Varint(d.buf)
	if k <= 0 {
		return 0, malformed("bad varint")
	}
	d.buf = d.buf[k:]
	return n, nil
}

func (d *decoder) string() (string, error) {
	n, err := d.uvarint()
	if err != nil {
		return "", err
	}
	if n > uint64(len(d.buf)) {
		return "", malformed("%d bytes of string in %d", n, len(d.buf))
	}
	s := string(d.buf[:n])
	d.buf = d.buf[n:]
	return s, nil
}
