// Package catalog owns the list of tables and the rules that change it: a
// table's name, its id (the prefix of its keys in storage and placement),
// its properties, and its life from creation to the removal of its data.
//
// The catalog is one value: nodes keep it in a strong register and change
// it only by compare-and-set on the version they read (a node that loses
// the race reads again and re-applies its change, so two nodes can never
// create two tables of one name). This package is pure: it validates and
// applies changes to a Catalog value; storing and spreading it is the
// node's.
package catalog

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
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

// State is where a table is in its life.
type State string

const (
	// Active: the table serves requests.
	Active State = "active"
	// Deleting: the table is gone for clients (NotFound) while its data is
	// removed in the background; its name may not be reused until then,
	// since its id still names data on disk.
	Deleting State = "deleting"
)

// Table is one table's entry.
type Table struct {
	Name        string
	ID          uint32
	Consistency Consistency
	State       State
	// CreatedUnixNanos is when the table was created, by the creating
	// node's clock (informational).
	CreatedUnixNanos int64
}

// Limits are the bounds the catalog enforces.
type Limits struct {
	// MaxTables bounds the tables a cluster holds, deleting ones included:
	// the catalog is one value, read and written whole.
	MaxTables int
}

// DefaultLimits are the documented defaults: 256 tables.
func DefaultLimits() Limits { return Limits{MaxTables: 256} }

// Catalog is every table of a cluster.
type Catalog struct {
	Tables []Table // sorted by name
	// NextID is the id the next table gets: ids are never reused, so data
	// of a deleted table can never be read as a new one's.
	NextID uint32
}

// DefaultTable is the built-in table the plain KV API reads and writes
// (eventual, siblings). It is not in the catalog: its keys carry no table
// prefix, as they did before tables existed.
const DefaultTable = "default"

// FirstID is the first id a created table gets; 0 is the default table's.
const FirstID = 1

// Errors a change can end with; each is wrapped with the table's name.
var (
	ErrExists   = errors.New("table already exists")
	ErrNotFound = errors.New("table not found")
	ErrTooMany  = errors.New("too many tables")
	ErrBadName  = errors.New("invalid table name")
)

// validName is DynamoDB's rule for table names: 3 to 255 letters, digits,
// '_', '-' and '.'.
var validName = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,255}$`)

// CheckName refuses a table name that is not 3 to 255 letters, digits,
// '_', '-' or '.', or that names the built-in table.
func CheckName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("%w %.80q: use 3 to 255 letters, digits, '_', '-' and '.'", ErrBadName, name)
	}
	if name == DefaultTable {
		return fmt.Errorf("%w %q: it is the built-in table of the KV API", ErrBadName, name)
	}
	return nil
}

// Lookup returns the active table called name.
func (c Catalog) Lookup(name string) (Table, error) {
	i, ok := c.find(name)
	if !ok || c.Tables[i].State != Active {
		return Table{}, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return c.Tables[i], nil
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

// Create adds an active table; the catalog it returns is c's successor.
func (c Catalog) Create(name string, consistency Consistency, now int64, limits Limits) (Catalog, Table, error) {
	if err := CheckName(name); err != nil {
		return c, Table{}, err
	}
	if _, err := ParseConsistency(string(consistency)); err != nil {
		return c, Table{}, err
	}
	i, ok := c.find(name)
	if ok {
		if c.Tables[i].State == Deleting {
			return c, Table{}, fmt.Errorf("%w: %q is still being deleted", ErrExists, name)
		}
		return c, Table{}, fmt.Errorf("%w: %q", ErrExists, name)
	}
	if len(c.Tables) >= limits.MaxTables {
		return c, Table{}, fmt.Errorf("%w: %d tables (at most %d, deleting ones included)", ErrTooMany, len(c.Tables), limits.MaxTables)
	}
	out := c.clone()
	if out.NextID < FirstID {
		out.NextID = FirstID
	}
	t := Table{Name: name, ID: out.NextID, Consistency: consistency, State: Active, CreatedUnixNanos: now}
	out.NextID++
	out.Tables = slices.Insert(out.Tables, i, t)
	return out, t, nil
}

// Delete marks an active table deleting: it is gone for clients at once,
// and its data is removed in the background (Drop ends it).
func (c Catalog) Delete(name string) (Catalog, Table, error) {
	i, ok := c.find(name)
	if !ok || c.Tables[i].State != Active {
		return c, Table{}, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	out := c.clone()
	out.Tables[i].State = Deleting
	return out, out.Tables[i], nil
}

// Drop removes a deleting table whose data is gone everywhere; its name is
// free again, its id never is.
func (c Catalog) Drop(id uint32) (Catalog, error) {
	i := slices.IndexFunc(c.Tables, func(t Table) bool { return t.ID == id })
	if i < 0 || c.Tables[i].State != Deleting {
		return c, fmt.Errorf("%w: no deleting table with id %d", ErrNotFound, id)
	}
	out := c.clone()
	out.Tables = slices.Delete(out.Tables, i, i+1)
	return out, nil
}

// Deleting lists the tables whose data is being removed.
func (c Catalog) Deleting() []Table {
	var out []Table
	for _, t := range c.Tables {
		if t.State == Deleting {
			out = append(out, t)
		}
	}
	return out
}
