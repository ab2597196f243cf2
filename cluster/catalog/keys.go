package catalog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/harmoniakv/harmonia/cluster/item"
)

// Where a table's keys live. Every mechanism of the store (placement,
// replicas, hints, Merkle trees, transfers, reaping) works on one byte
// string per key; a table's key is laid out so that it can never be one of
// another table's:
//
//	default table:  the client's key as it is (it may not start with 0x00)
//	created table:  0x00 | kind | table id (4 bytes, big-endian) | the client's key
//	table of items: 0x00 | kind | table id | len(pk) (2 bytes, big-endian) | pk | sk
//
// pk and sk are the order-preserving encodings of the item's partition and
// sort keys (cluster/item). kind is 'e' for an eventual table, 'l' for an
// eventual table whose last writer wins (conflict = lww), 'c' for one of
// CRDT values (conflict = crdt) and 's' for a strong one; 'E' (last
// writer wins), 'C' (CRDT states) and 'S' (strong) for tables of items, so a vnode can refuse an
// eventual-path write to a strong key, or a consensus step on an eventual
// one, and stamp an lww write, from the key alone, without asking the
// catalog (which may not have reached it yet). The ring places
// the whole byte string of an opaque key, so one table's keys spread over
// every partition; it places an item by its table and partition key alone
// (PlacementKey), so all items of one partition key share a partition and
// a Query reads one preference list. The length before pk is what lets
// the placement find pk's end without knowing its type, and keeps every
// item of one partition key in one contiguous range, ordered by sort key.
// The catalog's own register is a strong key of id 0.

// Key kinds, the byte after Reserved.
const (
	kindEventual      = 'e'
	kindLWW           = 'l'
	kindCRDT          = 'c'
	kindStrong        = 's'
	kindEventualItems = 'E'
	kindStrongItems   = 'S'
	kindCRDTItems     = 'C'
)

// itemHeader is the bytes of an item's key before pk: the prefix and
// pk's length.
const itemHeader = KeyOverhead + 2

// MaxItemKeySize bounds the stored key of an item: the header, then a
// partition key of item.MaxPartitionKeySize bytes and a sort key of
// item.MaxSortKeySize bytes, each of which its encoding may double (every
// 0x00 byte escaped) and end with two bytes.
const MaxItemKeySize = itemHeader + 2*item.MaxPartitionKeySize + 2 + 2*item.MaxSortKeySize + 2

// Reserved is the first byte of every key of a created table; keys of the
// default table may not start with it.
const Reserved = 0x00

// KeyOverhead is how many bytes a created table adds to a client's key.
const KeyOverhead = 6

// MaxID is the largest table id.
const MaxID = ^uint32(0)

// ErrReservedKey reports a key of the default table that starts with the
// byte reserved for created tables.
var ErrReservedKey = errors.New("keys of the default table may not start with the byte 0x00 (reserved for the keys of created tables)")

// ErrBadKey reports a stored or sent key whose table prefix is malformed.
var ErrBadKey = errors.New("malformed table key")

// CatalogKey is the register that holds the catalog.
var CatalogKey = append(Prefix(0, Strong), "catalog"...)

// Prefix is the first KeyOverhead bytes of every key of table id with
// consistency c, a table of opaque keys.
func Prefix(id uint32, c Consistency) []byte {
	kind := byte(kindEventual)
	if c == Strong {
		kind = kindStrong
	}
	return binary.BigEndian.AppendUint32([]byte{Reserved, kind}, id)
}

// Prefixes are the prefixes every key of table id may have, whatever its
// consistency and kind: what a deleted table's purge removes.
func Prefixes(id uint32) [][]byte {
	var out [][]byte
	for _, kind := range []byte{kindEventual, kindLWW, kindCRDT, kindStrong, kindEventualItems, kindStrongItems, kindCRDTItems} {
		out = append(out, binary.BigEndian.AppendUint32([]byte{Reserved, kind}, id))
	}
	return out
}

// Key is where the client's key lives in table t, a table of opaque keys.
func Key(t Table, key []byte) []byte {
	switch t.Conflict {
	case LWW:
		return append(binary.BigEndian.AppendUint32([]byte{Reserved, kindLWW}, t.ID), key...)
	case CRDT:
		return append(binary.BigEndian.AppendUint32([]byte{Reserved, kindCRDT}, t.ID), key...)
	}
	return append(Prefix(t.ID, t.Consistency), key...)
}

// PartitionPrefix is how every stored key of the items of table t with
// partition key pk (its encoding, item.AppendKey) begins; pk must be at
// most item.MaxPartitionKeySize bytes before encoding.
func PartitionPrefix(t Table, pk []byte) []byte {
	return append(itemHeaderOf(t, len(pk)), pk...)
}

// itemHeaderOf is the header of table t's item keys whose partition key's
// encoding is n bytes long.
func itemHeaderOf(t Table, n int) []byte {
	b := binary.BigEndian.AppendUint32([]byte{Reserved, itemKind(t.Consistency, t.Conflict)}, t.ID)
	return binary.BigEndian.AppendUint16(b, uint16(n))
}

// ItemKey is where the item of key k lives in table t.
func ItemKey(t Table, k item.Key) ([]byte, error) {
	pk, err := item.AppendKey(nil, k.Partition)
	if err != nil {
		return nil, err
	}
	b := PartitionPrefix(t, pk)
	if k.Sort == nil {
		return b, nil
	}
	return item.AppendKey(b, k.Sort)
}

// ItemRange is the range of stored keys of table t's items of partition
// key pk whose sort key meets c.
func ItemRange(t Table, pk item.Value, c item.SortCondition) (item.Range, error) {
	r, err := item.SortRange(pk, c)
	if err != nil {
		return item.Range{}, err
	}
	enc, err := item.AppendKey(nil, pk)
	if err != nil {
		return item.Range{}, err
	}
	return r.WithPrefix(itemHeaderOf(t, len(enc))), nil
}

// itemKind is the kind byte of the item keys of a table of consistency
// and conflict: strong, last writer wins or CRDT states.
func itemKind(consistency Consistency, conflict Conflict) byte {
	switch {
	case consistency == Strong:
		return kindStrongItems
	case conflict == CRDT:
		return kindCRDTItems
	}
	return kindEventualItems
}

// TableItems is the range of every stored key of table t's items: what
// a Scan reads, a part of it in each partition, since the ring spreads
// one table's partition keys over all of them.
func TableItems(t Table) item.Range {
	lower := itemHeaderOf(t, 0)[:KeyOverhead]
	return item.Range{Lower: lower, Upper: tablePrefixEnd(lower)}
}

// tablePrefixEnd is the smallest key above every key that starts with
// prefix, a table's prefix: the next table id's, or the next kind's after
// the largest id.
func tablePrefixEnd(prefix []byte) []byte {
	if id := binary.BigEndian.Uint32(prefix[2:KeyOverhead]); id < MaxID {
		return binary.BigEndian.AppendUint32([]byte{Reserved, prefix[1]}, id+1)
	}
	return []byte{Reserved, prefix[1] + 1}
}

// CheckItemRange refuses a range read of [lower, upper) unless it is a
// range of one table's items of consistency c (a part of TableItems) and
// that table is not deleted: the bounds of a Scan's read of one
// partition. lower is the table's prefix or an item's key (where a page
// resumes); upper is at most the table's end.
func (c Catalog) CheckItemRange(lower, upper []byte, consistency Consistency) error {
	bad := fmt.Errorf("%w: %.64q to %.64q is not a range of one table's items (of a %s table)", ErrBadKey, lower, upper, consistency)
	if len(lower) < KeyOverhead || lower[0] != Reserved || !isItemKind(lower[1], consistency) || bytes.Compare(lower, upper) >= 0 || len(upper) > MaxItemKeySize+1 {
		return bad
	}
	prefix := lower[:KeyOverhead]
	if len(lower) > KeyOverhead {
		if _, err := ParseKey(lower); err != nil {
			return fmt.Errorf("range of items: lower bound: %w", err)
		}
	}
	if !bytes.HasPrefix(upper, prefix) && !bytes.Equal(upper, tablePrefixEnd(prefix)) {
		return bad
	}
	return c.checkLive(KeyInfo{ID: binary.BigEndian.Uint32(prefix[2:]), Consistency: consistency, Items: true})
}

// CheckEventualItemKey refuses key unless it is an item's key of an
// eventual table that is not deleted: where a Query of one partition key
// of an eventual table starts.
func (c Catalog) CheckEventualItemKey(key []byte) error {
	info, err := ParseKey(key)
	if err != nil {
		return err
	}
	if !info.Items || info.Consistency != Eventual {
		return fmt.Errorf("%w: %.64q is not an item's key of an eventual table", ErrBadKey, key)
	}
	return c.checkLive(info)
}

// IsItemKey reports whether key is laid out as an item's key.
func IsItemKey(key []byte) bool {
	return len(key) >= itemHeader && key[0] == Reserved && (isItemKind(key[1], Strong) || isItemKind(key[1], Eventual))
}

// isItemKind reports whether kind is the kind of item keys of a table of
// consistency.
func isItemKind(kind byte, consistency Consistency) bool {
	if consistency == Strong {
		return kind == kindStrongItems
	}
	return kind == kindEventualItems || kind == kindCRDTItems
}

// PlacementKey is the part of key that the ring hashes to place it: an
// item's table and partition key, any other key whole. A malformed item
// key is placed whole; every path refuses it (ParseKey).
func PlacementKey(key []byte) []byte {
	if !IsItemKey(key) {
		return key
	}
	end := itemHeader + int(binary.BigEndian.Uint16(key[KeyOverhead:itemHeader]))
	if end > len(key) {
		return key
	}
	return key[:end]
}

// DefaultKey checks a client's key of the default table, which is stored
// as it is.
func DefaultKey(key []byte) ([]byte, error) {
	if len(key) > 0 && key[0] == Reserved {
		return nil, ErrReservedKey
	}
	return key, nil
}

// KeyInfo says which table a stored key belongs to.
type KeyInfo struct {
	// Default: the key belongs to the default table; ID and Consistency
	// are unset.
	Default     bool
	ID          uint32
	Consistency Consistency
	// Conflict is how an eventual key's concurrent writes are settled
	// (Siblings or LWW); "" for a strong key.
	Conflict Conflict
	// Items: the key is an item's, and Key is its partition key's
	// encoding followed by its sort key's.
	Items bool
	// Key is the client's key (an item's encoded key).
	Key []byte
}

// ParseKey reads the table of a stored or sent key.
func ParseKey(key []byte) (KeyInfo, error) {
	if len(key) == 0 || key[0] != Reserved {
		return KeyInfo{Default: true, Consistency: Eventual, Conflict: Siblings, Key: key}, nil
	}
	if len(key) < KeyOverhead {
		return KeyInfo{}, fmt.Errorf("%w: %d bytes, shorter than a table prefix", ErrBadKey, len(key))
	}
	info := KeyInfo{ID: binary.BigEndian.Uint32(key[2:KeyOverhead]), Key: key[KeyOverhead:]}
	switch key[1] {
	case kindEventual:
		info.Consistency, info.Conflict = Eventual, Siblings
	case kindLWW:
		info.Consistency, info.Conflict = Eventual, LWW
	case kindCRDT:
		info.Consistency, info.Conflict = Eventual, CRDT
	case kindStrong:
		info.Consistency = Strong
	case kindEventualItems, kindStrongItems, kindCRDTItems:
		info.Consistency, info.Conflict, info.Items = Eventual, LWW, true
		switch key[1] {
		case kindStrongItems:
			info.Consistency, info.Conflict = Strong, ""
		case kindCRDTItems:
			info.Conflict = CRDT
		}
		if len(key) < itemHeader {
			return KeyInfo{}, fmt.Errorf("%w: %d bytes, shorter than an item key's header", ErrBadKey, len(key))
		}
		n := int(binary.BigEndian.Uint16(key[KeyOverhead:itemHeader]))
		if n == 0 || itemHeader+n > len(key) {
			return KeyInfo{}, fmt.Errorf("%w: partition key of %d bytes in an item key of %d", ErrBadKey, n, len(key))
		}
		info.Key = key[itemHeader:]
	default:
		return KeyInfo{}, fmt.Errorf("%w: unknown kind 0x%02x", ErrBadKey, key[1])
	}
	return info, nil
}

// CheckEventualWrite refuses an eventual-path write (a replica write, a
// hint, read repair, anti-entropy, a transfer) of key: a key of a strong
// table (consensus alone writes those; any other write would void its
// guarantee) or of a deleted table.
func (c Catalog) CheckEventualWrite(key []byte) error {
	info, err := ParseKey(key)
	if err != nil {
		return err
	}
	if info.Consistency == Strong {
		return fmt.Errorf("key %.64q is of strong table %d: only consensus writes it, never a replica write, hint, repair or transfer of the eventual path", info.Key, info.ID)
	}
	return c.checkLive(info)
}

// VersionKinds says which kinds of version an object holds: plain ones
// (a table that keeps siblings), stamped ones (last writer wins) and CRDT
// states (conflict = crdt).
type VersionKinds struct{ Plain, Stamped, Datatype bool }

// CheckVersions refuses versions of key that do not fit its table: a key
// of a last-writer-wins table takes only stamped versions (an unstamped
// one would lose to every stamped write, whatever it superseded), a key of
// a CRDT table only CRDT states, any other key only plain versions.
func CheckVersions(key []byte, k VersionKinds) error {
	info, err := ParseKey(key)
	if err != nil {
		return err
	}
	want := VersionKinds{Plain: info.Conflict != LWW && info.Conflict != CRDT, Stamped: info.Conflict == LWW, Datatype: info.Conflict == CRDT}
	switch {
	case k.Plain && !want.Plain:
		return fmt.Errorf("key %.64q is of %s table %d: a plain version (without a stamp or a CRDT state) is refused", info.Key, info.Conflict, info.ID)
	case k.Stamped && !want.Stamped:
		return fmt.Errorf("key %.64q is not of a last-writer-wins table: a stamped version is refused", info.Key)
	case k.Datatype && !want.Datatype:
		return fmt.Errorf("key %.64q is not of a crdt table: a CRDT state is refused", info.Key)
	}
	return nil
}

// CheckStrongKey refuses a consensus step on key unless it is a key of a
// strong table (or the catalog's) that is not deleted.
func (c Catalog) CheckStrongKey(key []byte) error {
	info, err := ParseKey(key)
	if err != nil {
		return err
	}
	if info.Consistency != Strong {
		return fmt.Errorf("key %.64q is not of a strong table: consensus steps are refused for it", info.Key)
	}
	return c.checkLive(info)
}

func (c Catalog) checkLive(info KeyInfo) error {
	if !info.Default && c.Deleted(info.ID) {
		return fmt.Errorf("%w: table %d was deleted", ErrNotFound, info.ID)
	}
	return nil
}
