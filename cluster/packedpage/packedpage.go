// Package packedpage owns the packed form of a replica's page of a range
// read: its entries (a key and the bytes stored under it) one after the
// other in one buffer, each key and value after its length as a protobuf
// varint. A replica appends to the buffer as it scans; the reader cuts
// the entries out of it without copying them.
package packedpage

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Append adds one entry to a packed page.
func Append(page, key, value []byte) []byte {
	page = protowire.AppendBytes(page, key)
	return protowire.AppendBytes(page, value)
}

// Size is how many bytes Append adds for an entry of this key and value.
func Size(key, value []byte) int {
	return protowire.SizeBytes(len(key)) + protowire.SizeBytes(len(value))
}

// ErrMalformed reports bytes that are not a packed page of the count
// given.
var ErrMalformed = errors.New("not a packed page")

// Entries cuts a packed page of count entries into its keys and values,
// which share the page's memory (each with its capacity cut to its end,
// so that appending to one never writes over the next). The page comes
// from a peer: anything but exactly count well-formed entries is refused.
func Entries(page []byte, count int) (keys, values [][]byte, err error) {
	// An entry takes at least two bytes (two zero lengths): a count
	// beyond that is refused before anything is allocated for it.
	if count < 0 || count > len(page)/2 {
		return nil, nil, fmt.Errorf("%w: %d entries in %d bytes", ErrMalformed, count, len(page))
	}
	keys, values = make([][]byte, count), make([][]byte, count)
	for i := range count {
		for _, into := range [2][][]byte{keys, values} {
			b, n := protowire.ConsumeBytes(page)
			if n < 0 {
				return nil, nil, fmt.Errorf("%w: entry %d is cut short", ErrMalformed, i)
			}
			into[i] = b[:len(b):len(b)]
			page = page[n:]
		}
	}
	if len(page) > 0 {
		return nil, nil, fmt.Errorf("%w: %d bytes after entry %d", ErrMalformed, len(page), count)
	}
	return keys, values, nil
}
