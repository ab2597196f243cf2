package hlc

import "bytes"

// Version is one write of a key in a last-writer-wins table: a value or a
// tombstone, and the stamp its coordinator gave it. The zero Version is no
// write: it loses to every stamped one.
type Version struct {
	Stamp   Timestamp
	Deleted bool // a tombstone
	Value   []byte
}

// CompareVersions orders versions by stamp: the last-writer-wins rule.
//
// Distinct writes do not share a stamp: a clock never issues a hybrid time
// twice and node ids are unique. One case escapes: a node restarted with
// its physical time behind stamps it issued before may reissue one of
// their hybrid times. Versions that share a stamp are then ordered so that
// every replica still picks the same one: a tombstone above a value (a
// delete is not undone by a write it tied with), then by value bytes, the
// greater above. Versions that compare equal are the same write.
func CompareVersions(a, b Version) int {
	if c := Compare(a.Stamp, b.Stamp); c != 0 {
		return c
	}
	if a.Deleted != b.Deleted {
		if a.Deleted {
			return 1
		}
		return -1
	}
	return bytes.Compare(a.Value, b.Value)
}

// Winner returns the one of a and b that wins, the higher by
// CompareVersions. CompareVersions is a total order, so Winner is
// commutative, associative and idempotent: replicas that receive the same
// versions in any order, any number of times, keep the same one.
func Winner(a, b Version) Version {
	if CompareVersions(a, b) >= 0 {
		return a
	}
	return b
}

// Resolve returns the winner among vs, the zero Version if vs is empty.
// It is what every replica keeps of a key, whether the versions came from
// writes, read repair, hints or anti-entropy, and what a client reads: a
// last-writer-wins table has no siblings.
func Resolve(vs []Version) Version {
	var w Version
	for _, v := range vs {
		w = Winner(w, v)
	}
	return w
}
