// Package catalog owns the list of tables and the rules that change it: a
// table's name, its id (the prefix of its keys in storage and placement),
// its properties, and which ids name data that must be removed.
//
// The catalog is one value: nodes keep it in a strong register and change
// it only by compare-and-set on the version they read (a node that loses
// the race reads again and re-applies its change, so two nodes can never
// create two tables of one name). This package is pure: it validates and
// applies changes to a Catalog value, lays out the keys of tables
// (keys.go) and encodes the catalog (codec.go); storing and spreading it
// is the node's.
package catalog

import (
	"errors"
	"fmt"
	"slices"

	"github.com/harmoniakv/harmonia/cluster/item"
)

// Consistency is how a table's keys are replicated.
type Consistency string

const (
	// Eventual: Dynamo's path (sloppy quorum, hints, vector clocks and
	// siblings).
	Eventual Consistency = "eventual"
	// Strong: each key is a consensus register over its primary replicas
	// (cluster/paxos): linearizable reads and compare-and-set.
	Strong Consistency = "strong"
)

// ParseConsistency reads a consistency as users write it.
func ParseConsistency(s string) (Consistency, error) {
	switch c := Consistency(s); c {
	case Eventual, Strong:
		return c, nil
	}
	return "", fmt.Errorf("consistency %q: use %q or %q", s, Eventual, Strong)
}

// Conflict is how an eventual table settles concurrent writes of one key.
type Conflict string

const (
	// Siblings: every concurrent write is kept and handed to the client,
	// which resolves them with its next write (Dynamo's way, the default).
	Siblings Conflict = "siblings"
	// LWW: last writer wins. Each write carries a hybrid logical timestamp
	// (cluster/hlc) and the highest wins on every replica: no siblings, and
	// of concurrent writes all but one are lost by design. A write made with
	// the context of an earlier read or write still wins over it, however
	// far apart the nodes' clocks are.
	LWW Conflict = "lww"
	// CRDT: every value is a map of typed fields (counters, sets, flags,
	// registers, maps) that merge without loss (cluster/crdt); clients
	// Fetch and Update it with operations instead of Get and Put.
	CRDT Conflict = "crdt"
)

// ParseConflict reads a conflict type as users write it; "" is Siblings.
func ParseConflict(s string) (Conflict, error) {
	switch c := Conflict(s); c {
	case "":
		return Siblings, nil
	case Siblings, LWW, CRDT:
		return c, nil
	}
	return "", fmt.Errorf("%w: conflict %.40q: use %q, %q or %q", ErrBadConflict, s, Siblings, LWW, CRDT)
}

// Table is one table's entry.
type Table struct {
	Name        string
	ID          uint32
	Consistency Consistency
	// Conflict is how an eventual table settles concurrent writes
	// (Siblings, LWW or CRDT); "" on a strong table, which has no
	// concurrent versions.
	Conflict Conflict
	// Schema is the primary key of a table of items (the table service);
	// its zero value marks a table of opaque keys and values (the KV API).
	Schema item.KeySchema
	// CreatedUnixNanos is when the table was created, by the creating
	// node's clock (informational).
	CreatedUnixNanos int64
	// TTLAttribute names the attribute whose number of Unix seconds
	// expires an item of a table of items ("": items never expire);
	// ChangeTTL changes it.
	TTLAttribute string
}

// HasItems reports whether the table holds items under a key schema
// rather than opaque keys and values.
func (t Table) HasItems() bool { return t.Schema.Partition.Name != "" }

// Spec is what a new table is made of.
type Spec struct {
	Name        string
	Consistency Consistency
	// Conflict: for an eventual table, "" is Siblings; a strong table
	// takes none.
	Conflict Conflict
	// Schema: a table of items when set, of opaque keys when zero.
	Schema item.KeySchema
}

// Limits are the bounds the catalog enforces.
type Limits struct {
	// MaxTables bounds the tables a cluster holds: the catalog is one
	// value, read and written whole.
	MaxTables int
}

// DefaultLimits are the documented defaults: 256 tables.
func DefaultLimits() Limits { return Limits{MaxTables: 256} }

// Catalog is every table of a cluster.
type Catalog struct {
	Tables []Table // sorted by name
	// NextID is the id the next table gets. Ids are never reused, so data
	// of a deleted table can never be read as a new one's, and every id
	// below NextID that names no table names a deleted one (Deleted).
	NextID uint32
	// Revision counts the changes; nodes gossip the revision they hold so
	// that the others learn a change without polling.
	Revision uint64
}

// DefaultTable is the built-in table the plain KV API reads and writes
// (eventual, siblings). It is not in the catalog: its keys carry no table
// prefix, as they did before tables existed.
const DefaultTable = "default"

// FirstID is the first id a created table gets; 0 is the system's (the
// catalog's own register).
const FirstID = 1

// Errors a change can end with; each is wrapped with the table's name.
var (
	ErrExists   = errors.New("table already exists")
	ErrNotFound = errors.New("table not found")
	ErrTooMany  = errors.New("too many tables")
	ErrBadName  = errors.New("invalid table name")
	// ErrBadSchema: a key schema that item.KeySchema.Check refuses.
	ErrBadSchema = errors.New("invalid key schema")
	// ErrBadConflict: a conflict type that is unknown, or given to a
	// strong table.
	ErrBadConflict = errors.New("invalid conflict type")
)

// validName reports whether name follows DynamoDB's rule for table
// names: 3 to 255 letters, digits, '_', '-' and '.'. (A loop, not a
// regular expression: every item request names its table.)
func validName(name string) bool {
	if len(name) < 3 || len(name) > 255 {
		return false
	}
	for i := range len(name) {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// CheckName refuses a table name that is not 3 to 255 letters, digits,
// '_', '-' or '.', or that names the built-in table.
func CheckName(name string) error {
	if !validName(name) {
		return fmt.Errorf("%w %.80q: use 3 to 255 letters, digits, '_', '-' and '.'", ErrBadName, name)
	}
	if name == DefaultTable {
		return fmt.Errorf("%w %q: it is the built-in table of the KV API", ErrBadName, name)
	}
	return nil
}

// Lookup returns the table called name.
func (c Catalog) Lookup(name string) (Table, error) {
	i, ok := c.find(name)
	if !ok {
		return Table{}, fmt.Errorf("%w: %.80q", ErrNotFound, name)
	}
	return c.Tables[i], nil
}

// ByID returns the table with id.
func (c Catalog) ByID(id uint32) (Table, bool) {
	i := slices.IndexFunc(c.Tables, func(t Table) bool { return t.ID == id })
	if i < 0 {
		return Table{}, false
	}
	return c.Tables[i], true
}

// Deleted reports whether id names a table that was deleted: an id this
// catalog has handed out that no table holds any more. An id at or above
// NextID is not known yet (a newer catalog may hold it) and is not
// deleted.
func (c Catalog) Deleted(id uint32) bool {
	if id < FirstID || id >= c.NextID {
		return false
	}
	_, ok := c.ByID(id)
	return !ok
}

// DeletedIDs lists every deleted id, lowest first.
func (c Catalog) DeletedIDs() []uint32 {
	var out []uint32
	for id := uint32(FirstID); id < c.NextID; id++ {
		if c.Deleted(id) {
			out = append(out, id)
		}
	}
	return out
}

func (c Catalog) find(name string) (int, bool) {
	return slices.BinarySearchFunc(c.Tables, name, func(t Table, n string) int {
		switch {
		case t.Name < n:
			return -1
		case t.Name > n:
			return 1
		}
		return 0
	})
}

func (c Catalog) clone() Catalog {
	c.Tables = slices.Clone(c.Tables)
	return c
}

// Create adds a table; the catalog it returns is c's successor.
func (c Catalog) Create(spec Spec, now int64, limits Limits) (Catalog, Table, error) {
	name, consistency := spec.Name, spec.Consistency
	if err := CheckName(name); err != nil {
		return c, Table{}, err
	}
	if _, err := ParseConsistency(string(consistency)); err != nil {
		return c, Table{}, err
	}
	conflict, err := conflictOf(consistency, spec.Conflict, spec.Schema != (item.KeySchema{}))
	if err != nil {
		return c, Table{}, fmt.Errorf("table %q: %w", name, err)
	}
	if spec.Schema != (item.KeySchema{}) {
		if err := spec.Schema.Check(); err != nil {
			return c, Table{}, fmt.Errorf("%w %q: %w", ErrBadSchema, name, err)
		}
	}
	i, ok := c.find(name)
	if ok {
		return c, Table{}, fmt.Errorf("%w: %q", ErrExists, name)
	}
	if len(c.Tables) >= limits.MaxTables {
		return c, Table{}, fmt.Errorf("%w: %d tables (at most %d)", ErrTooMany, len(c.Tables), limits.MaxTables)
	}
	if c.NextID == MaxID {
		return c, Table{}, fmt.Errorf("%w: every table id up to %d was used", ErrTooMany, MaxID)
	}
	out := c.clone()
	if out.NextID < FirstID {
		out.NextID = FirstID
	}
	t := Table{Name: name, ID: out.NextID, Consistency: consistency, Conflict: conflict, Schema: spec.Schema, CreatedUnixNanos: now}
	out.NextID++
	out.Revision++
	out.Tables = slices.Insert(out.Tables, i, t)
	return out, t, nil
}

// conflictOf is the conflict type a table of consistency gets when asked
// for asked: an eventual table's ("" is Siblings, or LWW for a table of
// items); none for a strong table, whose keys are registers with one
// value. An eventual table of items settles by the last writer or merges
// CRDT states (its items are maps of CRDT fields, cluster/crdtitem), never
// keeps siblings: an item is one value, and neither DynamoDB's API nor its
// clients have a way to show siblings.
func conflictOf(consistency Consistency, asked Conflict, items bool) (Conflict, error) {
	if consistency == Strong {
		if asked != "" {
			return "", fmt.Errorf("%w: a strong table has no concurrent versions to settle, so it takes no conflict type (got %.40q)", ErrBadConflict, asked)
		}
		return "", nil
	}
	if items {
		switch asked {
		case "", LWW:
			return LWW, nil
		case CRDT:
			return CRDT, nil
		case Siblings:
			return "", fmt.Errorf("%w: an eventual table of items settles concurrent writes by the last writer (%q) or merges them (%q); %q is not offered for items", ErrBadConflict, LWW, CRDT, asked)
		}
	}
	return ParseConflict(string(asked))
}

// Delete removes a table: it is gone for clients at once, its name is free
// again, and its id is deleted (Deleted), so nodes remove its data in the
// background and refuse any that still arrives.
func (c Catalog) Delete(name string) (Catalog, Table, error) {
	i, ok := c.find(name)
	if !ok {
		return c, Table{}, fmt.Errorf("%w: %.80q", ErrNotFound, name)
	}
	out := c.clone()
	t := out.Tables[i]
	out.Tables = slices.Delete(out.Tables, i, i+1)
	out.Revision++
	return out, t, nil
}
