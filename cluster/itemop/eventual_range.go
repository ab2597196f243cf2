package itemop

import (
	"bytes"
	"fmt"

	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/paxos"
)

// ReplicaPage is one replica's answer to a range read of an eventual
// table's items: the objects it stores of the keys of the range, in the
// read's order, tombstones included, as stored (object.Encode), and whether
// the range holds more past its last key. Replicas that agree hold the same
// bytes, and the merge decodes those once.
type ReplicaPage struct {
	From    string
	Keys    [][]byte
	Objects [][]byte
	More    bool
	// Versions: Objects holds each object's versions instead
	// (object.AppendEncodedVersions: a read of versions' answer), which
	// only ResolveVersions takes.
	Versions bool
}

// ResolveVersions settles the pages of a range read in which some
// replicas answered with their objects' versions, as Cassandra's digest
// reads do: one replica sends its objects, the others only what tells
// whether they hold the same. A page of versions that names the same
// keys as the first page of objects, each with that object's versions,
// and ends where it ends, is that page under its own replica's name
// (resolved); the replicas of the others (and of every page of versions,
// when no page holds objects) are to be read whole (reread), and their
// pages merged with the resolved ones, so that the merge and its read
// repairs see what each replica holds.
func ResolveVersions(pages []ReplicaPage) (resolved []ReplicaPage, reread []string) {
	full := -1
	for i, p := range pages {
		if !p.Versions {
			resolved = append(resolved, p)
			if full < 0 {
				full = i
			}
		}
	}
	var versions [][]byte // of the page of objects, once
	for _, p := range pages {
		if !p.Versions {
			continue
		}
		if full < 0 {
			reread = append(reread, p.From)
			continue
		}
		f := pages[full]
		if versions == nil {
			versions = versionsOf(f.Objects)
		}
		if !agrees(f, versions, p) {
			reread = append(reread, p.From)
			continue
		}
		resolved = append(resolved, ReplicaPage{From: p.From, Keys: f.Keys, Objects: f.Objects, More: f.More})
	}
	return resolved, reread
}

// versionsSize is what versionsOf's buffer holds for each object at
// first: an object of one version has versions of about 20 bytes.
const versionsSize = 24

// versionsOf is each object's versions, cut from one buffer.
func versionsOf(objects [][]byte) [][]byte {
	buf := make([]byte, 0, versionsSize*len(objects))
	ends := make([]int, len(objects))
	for i, o := range objects {
		buf = object.AppendEncodedVersions(buf, o)
		ends[i] = len(buf)
	}
	versions := make([][]byte, len(objects))
	from := 0
	for i, end := range ends {
		versions[i] = buf[from:end:end]
		from = end
	}
	return versions
}

// agrees reports whether page of versions v holds what page of objects f
// (whose objects' versions are fv) holds: the same keys, in the same
// order, each with its object's versions, and the same end.
func agrees(f ReplicaPage, fv [][]byte, v ReplicaPage) bool {
	if v.More != f.More || len(v.Keys) != len(f.Keys) || len(v.Objects) != len(v.Keys) {
		return false
	}
	for i, k := range v.Keys {
		if !bytes.Equal(k, f.Keys[i]) || !bytes.Equal(v.Objects[i], fv[i]) {
			return false
		}
	}
	return true
}

// RangeRepair is a read repair a range read found due: replica To holds
// less of Key than Versions, the merge of every page.
type RangeRepair struct {
	To       string
	Key      []byte
	Versions []object.Sibling
}

// MergeEventualRange merges the pages R replicas answered to one range
// read into one page, in the read's order (descending keys when
// reverse). The page ends where the shortest page ends: a replica whose
// page stopped early has not said what lies past its last key, so nothing
// there is answered (the next read starts after the page). Each key is the
// merge of the versions every replica holds of it, so the newest write any
// of them took wins, and a tombstone on one replica hides an older item on
// another (the item is then in the page as a register without a value,
// which takes no place in a Limit: a page of fewer items reads on rather
// than leave a gap). complete reports that no page had more. For every
// key of the page, each replica whose page holds less of it than the
// merge, by stale (reap.Config.Spread's rule: nil asks for no repair),
// gets a repair: a replica's page says what it holds of every key up to
// the page's end, so a key missing from it is one it lacks. current is
// what a key's merged versions hold (nil: the last writer's, Current; a
// table of CRDT items renders its state, CRDTCurrent).
func MergeEventualRange(pages []ReplicaPage, reverse bool, current func(key []byte, versions []object.Sibling) (paxos.Value, error), stale func(merged, held []object.Sibling) bool) (entries []Stored, repairs []RangeRepair, complete bool, err error) {
	lastWriter := current == nil
	if current == nil {
		current = func(_ []byte, versions []object.Sibling) (paxos.Value, error) { return Current(versions) }
	}
	before := func(a, b []byte) bool { // a comes before b in the read's order
		if reverse {
			return bytes.Compare(a, b) > 0
		}
		return bytes.Compare(a, b) < 0
	}
	seen := map[string]bool{}
	var end []byte // the page's last key, when some page stopped early
	complete = true
	for _, p := range pages {
		if seen[p.From] || len(p.Keys) != len(p.Objects) || (p.More && len(p.Keys) == 0) || p.Versions {
			return nil, nil, false, fmt.Errorf("range read: a malformed page from %s, a second one, or one of versions", p.From)
		}
		seen[p.From] = true
		for i := 1; i < len(p.Keys); i++ {
			if !before(p.Keys[i-1], p.Keys[i]) {
				return nil, nil, false, fmt.Errorf("range read: %s's page is out of order at %.64q", p.From, p.Keys[i])
			}
		}
		if p.More {
			complete = false
			if last := p.Keys[len(p.Keys)-1]; end == nil || before(last, end) {
				end = last
			}
		}
	}
	// One cursor per page: each step takes the next key in order and
	// merges the versions of the pages that hold it.
	pos := make([]int, len(pages))
	longest := 0
	for _, p := range pages {
		longest = max(longest, len(p.Keys))
	}
	entries = make([]Stored, 0, longest)
	// What each page holds of the key at hand, reused from key to key:
	// a page of 100 items would otherwise allocate them 100 times.
	held := make([][]object.Sibling, len(pages))
	encs := make([][]byte, len(pages))
	holds := make([]bool, len(pages))
	for {
		var next []byte
		for i, p := range pages {
			if pos[i] < len(p.Keys) && (next == nil || before(p.Keys[pos[i]], next)) {
				next = p.Keys[pos[i]]
			}
		}
		if next == nil || (end != nil && before(end, next)) {
			return entries, repairs, complete, nil
		}
		var merged []object.Sibling
		clear(held)
		clear(encs)
		clear(holds)
		agreed := true // every page holds the key, all the same bytes
		for i, p := range pages {
			if pos[i] >= len(p.Keys) || !bytes.Equal(p.Keys[pos[i]], next) {
				agreed = false
				continue
			}
			encs[i], holds[i] = p.Objects[pos[i]], true
			pos[i]++
			agreed = agreed && bytes.Equal(encs[i], encs[0])
		}
		// Replicas mostly agree on a last-writer-wins key's one version:
		// its value is then read from the object's bytes without decoding
		// every field, and no replica is stale.
		if agreed && lastWriter {
			if value, deleted, ok := object.SoleVersion(encs[0]); ok {
				v := paxos.Value{}
				if !deleted {
					v = paxos.Value{Exists: true, Data: value}
				}
				entries = append(entries, Stored{Key: next, Value: v})
				continue
			}
		}
	pages:
		for i, p := range pages {
			if !holds[i] {
				continue
			}
			for j := range i {
				if held[j] != nil && bytes.Equal(encs[j], encs[i]) {
					held[i] = held[j] // the same object as a page before: merged already
					continue pages
				}
			}
			versions, err := object.Decode(encs[i])
			if err != nil {
				return nil, nil, false, fmt.Errorf("range read: %s: key %.64q: %w", p.From, next, err)
			}
			if versions == nil {
				versions = []object.Sibling{} // held, though empty: not "lacks it"
			}
			held[i] = versions
			if merged == nil {
				merged = versions // as decoded, merged already; nothing changes it
			} else {
				merged = object.Merge(merged, versions)
			}
		}
		v, err := current(next, merged)
		if err != nil {
			return nil, nil, false, fmt.Errorf("range read: key %.64q: %w", next, err)
		}
		entries = append(entries, Stored{Key: next, Value: v})
		if stale == nil {
			continue
		}
		for i, p := range pages {
			if stale(merged, held[i]) {
				repairs = append(repairs, RangeRepair{To: p.From, Key: next, Versions: merged})
			}
		}
	}
}
