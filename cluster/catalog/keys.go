package catalog

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Where a table's keys live. Every mechanism of the store (placement,
// replicas, hints, Merkle trees, transfers, reaping) works on one byte
// string per key; a table's key is laid out so that it can never be one of
// another table's:
//
//	default table:  the client's key as it is (it may not start with 0x00)
//	created table:  0x00 | kind | table id (4 bytes, big-endian) | the client's key
//
// kind is 'e' for an eventual table and 's' for a strong one, so a vnode
// can refuse an eventual-path write to a strong key, or a consensus step
// on an eventual one, from the key alone, without asking the catalog. The
// ring places the whole byte string, so one table's keys spread over every
// partition. The catalog's own register is a strong key of id 0.

// Key kinds, the byte after Reserved.
const (
	kindEventual = 'e'
	kindStrong   = 's'
)

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
// consistency c.
func Prefix(id uint32, c Consistency) []byte {
	kind := byte(kindEventual)
	if c == Strong {
		kind = kindStrong
	}
	return binary.BigEndian.AppendUint32([]byte{Reserved, kind}, id)
}

// Key is where the client's key lives in table t.
func Key(t Table, key []byte) []byte {
	return append(Prefix(t.ID, t.Consistency), key...)
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
	// Key is the client's key.
	Key []byte
}

// ParseKey reads the table of a stored or sent key.
func ParseKey(key []byte) (KeyInfo, error) {
	if len(key) == 0 || key[0] != Reserved {
		return KeyInfo{Default: true, Consistency: Eventual, Key: key}, nil
	}
	if len(key) < KeyOverhead {
		return KeyInfo{}, fmt.Errorf("%w: %d bytes, shorter than a table prefix", ErrBadKey, len(key))
	}
	info := KeyInfo{ID: binary.BigEndian.Uint32(key[2:KeyOverhead]), Key: key[KeyOverhead:]}
	switch key[1] {
	case kindEventual:
		info.Consistency = Eventual
	case kindStrong:
		info.Consistency = Strong
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
