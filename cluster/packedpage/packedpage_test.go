package packedpage

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestEntriesReadsWhatAppendPacked(t *testing.T) {
	var page []byte
	var keys, values [][]byte
	for i := range 5 {
		k, v := []byte(fmt.Sprint("key-", i)), bytes.Repeat([]byte{byte(i)}, i*60) // lengths of one and two bytes
		before := len(page)
		page = Append(page, k, v)
		if len(page)-before != Size(k, v) {
			t.Fatalf("Size %d, Append added %d", Size(k, v), len(page)-before)
		}
		keys, values = append(keys, k), append(values, v)
	}
	gotKeys, gotValues, err := Entries(page, len(keys))
	if err != nil {
		t.Fatal(err)
	}
	for i := range keys {
		if !bytes.Equal(gotKeys[i], keys[i]) || !bytes.Equal(gotValues[i], values[i]) {
			t.Fatalf("entry %d: %q=%q, want %q=%q", i, gotKeys[i], gotValues[i], keys[i], values[i])
		}
	}
	_ = append(gotKeys[0], "overwrite"...)
	if !bytes.Equal(gotValues[0], values[0]) {
		t.Fatal("appending to a key wrote over its value")
	}
	if k, v, err := Entries(nil, 0); err != nil || len(k) != 0 || len(v) != 0 {
		t.Fatalf("an empty page: %v %v %v", k, v, err)
	}
}

func TestEntriesRefusesWhatIsNotAPageOfItsCount(t *testing.T) {
	page := Append(Append(nil, []byte("a"), []byte("x")), []byte("b"), []byte("y"))
	for _, tc := range []struct {
		rule  string
		page  []byte
		count int
	}{
		{"fewer entries than the count", page, 3},
		{"more entries than the count", page, 1},
		{"a negative count", page, -1},
		{"a count no page of its size can hold", page, 1 << 40},
		{"an entry cut short", page[:len(page)-1], 2},
		{"a length past the end", []byte{0x05, 'a'}, 1},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			if _, _, err := Entries(tc.page, tc.count); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
}

// Pages come from peers: whatever the bytes and count, Entries never
// panics, and what it reads packs into a page that reads the same.
func FuzzEntries(f *testing.F) {
	f.Add(Append(Append(nil, []byte("a"), []byte("x")), []byte("b"), nil), 2)
	f.Add([]byte{0xff, 0xff, 0xff}, 1)
	f.Fuzz(func(t *testing.T, page []byte, count int) {
		keys, values, err := Entries(page, count)
		if err != nil {
			return
		}
		var again []byte
		for i := range keys {
			again = Append(again, keys[i], values[i])
		}
		k2, v2, err := Entries(again, count)
		if err != nil {
			t.Fatalf("%d entries read from %x pack to %x, which is refused: %v", count, page, again, err)
		}
		for i := range keys {
			if !bytes.Equal(k2[i], keys[i]) || !bytes.Equal(v2[i], values[i]) {
				t.Fatalf("entry %d reads back as %q=%q, not %q=%q", i, k2[i], v2[i], keys[i], values[i])
			}
		}
	})
}
