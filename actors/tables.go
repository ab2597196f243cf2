package actors

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/harmoniakv/harmonia/actors/gossip"
	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/internal/wallclock"
)

// The node's side of the table catalog (cluster/catalog holds the rules):
// the catalog lives in one strong register (catalog.CatalogKey) and is
// changed only by compare-and-set; every node caches the newest catalog it
// has seen (catalogHolder, also on disk), publishes its revision by gossip
// (membership.KeyCatalog) and reads the register again when a peer
// publishes a newer one or a request names a table it does not know.
// Deleted tables' data is removed in the background (purge).

// TablesConfig tunes the catalog.
type TablesConfig struct {
	// Limits bound the catalog (catalog.DefaultLimits: 256 tables).
	Limits catalog.Limits
	// RefreshTimeout bounds a read of the catalog's register made because
	// a peer published a newer revision. Default 5 s.
	RefreshTimeout time.Duration
}

// DefaultTablesConfig returns the documented defaults.
func DefaultTablesConfig() TablesConfig {
	return TablesConfig{Limits: catalog.DefaultLimits(), RefreshTimeout: 5 * time.Second}
}

// catalogHolder is the newest catalog this node has seen, shared by the
// request path and the vnodes (which refuse data of deleted tables).
type catalogHolder struct {
	p atomic.Pointer[catalog.Catalog]
}

// Load returns the catalog; the empty one before any is known.
func (h *catalogHolder) Load() catalog.Catalog {
	if c := h.p.Load(); c != nil {
		return *c
	}
	return catalog.Catalog{}
}

// StrongError is a strong request that ended without doing what it asked:
// its condition failed (the register is Result.Value), other proposals
// kept outbidding it, or a majority did not answer. Result.Accepted says
// whether a write may still take effect.
type StrongError struct{ paxos.Result }

// Unwrap is the error an update refused the write with, if any.
func (e *StrongError) Unwrap() error { return e.Err }

func (e *StrongError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	if e.Outcome == paxos.OutcomeConditionFailed {
		return "condition failed"
	}
	msg := e.Outcome.String()
	if e.Why != "" {
		msg += ": " + e.Why
	}
	if e.Accepted {
		msg += " (the write may still take effect)"
	}
	return msg
}

// Tables is the node's table service: the catalog's changes and lookups.
type Tables struct {
	sys    *System
	cfg    TablesConfig
	holder *catalogHolder
	// adoptMu orders adoptions, so the cache only moves forward.
	adoptMu sync.Mutex
	// reading admits one read of the register at a time; lastRead is when
	// the last successful one began and lastCatalog what it read, which
	// answers every Refresh called before that (a burst of requests for
	// an unknown table costs one consensus read, not one each).
	reading     chan struct{}
	lastRead    time.Time
	lastCatalog catalog.Catalog
	// refreshing counts the Refresh calls under way (a test waits for a
	// burst of them).
	refreshing atomic.Int64
	// refresh and purge wake their goroutines (buffered, one pending).
	refresh, purge chan struct{}
}

func newTables(s *System, cfg TablesConfig, holder *catalogHolder) *Tables {
	return &Tables{sys: s, cfg: cfg, holder: holder, refresh: make(chan struct{}, 1), purge: make(chan struct{}, 1), reading: make(chan struct{}, 1)}
}

// loadCatalog reads the catalog this node saved last, before the vnodes
// start: they refuse data of tables deleted before it stopped.
func loadCatalog(s *System) (*catalogHolder, error) {
	h := &catalogHolder{}
	b, err := s.store.Catalog()
	if err != nil || b == nil {
		return h, err
	}
	c, err := catalog.Decode(b)
	if err != nil {
		return h, fmt.Errorf("saved catalog: %w", err)
	}
	h.p.Store(&c)
	return h, nil
}

// Tables returns the node's table service.
func (s *System) Tables() *Tables { return s.tables }

// Catalog is the newest catalog this node has seen.
func (t *Tables) Catalog() catalog.Catalog { return t.holder.Load() }

// start publishes the cached revision and runs the refresh and purge loops
// until the node stops.
func (t *Tables) start() {
	t.sys.gossip.RegisterEventHandler(gossip.EventHandlerFunc(func(e membership.Event) {
		if e.Kind != membership.EventStateChanged || e.Key != membership.KeyCatalog {
			return
		}
		if rev, err := strconv.ParseUint(e.Value, 10, 64); err == nil && rev > t.Catalog().Revision {
			wake(t.refresh)
		}
	}))
	t.sys.control.Set(membership.KeyCatalog, strconv.FormatUint(t.Catalog().Revision, 10))
	go t.loop(t.refresh, func() {
		ctx, cancel := context.WithTimeout(context.Background(), t.cfg.RefreshTimeout)
		defer cancel()
		if _, err := t.Refresh(ctx); err != nil {
			t.sys.log.Info("catalog refresh", "err", err)
		}
	})
	go t.loop(t.purge, t.purgeDeleted)
	wake(t.purge) // a purge a stop interrupted goes on
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (t *Tables) loop(ch chan struct{}, run func()) {
	for {
		select {
		case <-t.sys.stopped:
			return
		case <-ch:
			run()
		}
	}
}

// read reads the catalog's register linearizably.
func (t *Tables) read(ctx context.Context) (catalog.Catalog, paxos.Value, error) {
	res, err := t.sys.Strong(ctx, catalog.CatalogKey, paxos.Op{Kind: paxos.OpGet})
	if err != nil {
		return catalog.Catalog{}, paxos.Value{}, fmt.Errorf("read the catalog: %w", err)
	}
	if res.Outcome != paxos.OutcomeOK {
		return catalog.Catalog{}, paxos.Value{}, fmt.Errorf("read the catalog: %w", &StrongError{res})
	}
	c, err := decodeRegister(res.Value)
	return c, res.Value, err
}

func decodeRegister(v paxos.Value) (catalog.Catalog, error) {
	if !v.Exists {
		return catalog.Catalog{}, nil
	}
	c, err := catalog.Decode(v.Data)
	if err != nil {
		return catalog.Catalog{}, fmt.Errorf("the catalog's register: %w", err)
	}
	return c, nil
}

// Refresh reads the catalog and adopts it. A read that began after this
// call did answers it: it reflects every change made before the call.
func (t *Tables) Refresh(ctx context.Context) (catalog.Catalog, error) {
	asked := time.Now()
	t.refreshing.Add(1)
	defer t.refreshing.Add(-1)
	select {
	case t.reading <- struct{}{}:
	case <-ctx.Done():
		return t.Catalog(), fmt.Errorf("read the catalog: %w", ctx.Err())
	}
	defer func() { <-t.reading }()
	if t.lastRead.After(asked) {
		return t.lastCatalog, nil
	}
	began := time.Now()
	c, _, err := t.read(ctx)
	if err != nil {
		return t.Catalog(), err
	}
	t.lastRead, t.lastCatalog = began, c
	t.adopt(c)
	return c, nil
}

// adopt makes c this node's catalog if it is newer than the one it has:
// saved, published by gossip, and its deleted tables purged.
func (t *Tables) adopt(c catalog.Catalog) {
	t.adoptMu.Lock()
	defer t.adoptMu.Unlock()
	if cur := t.holder.p.Load(); cur != nil && c.Revision <= cur.Revision {
		return
	}
	t.holder.p.Store(&c)
	if err := t.sys.store.SaveCatalog(catalog.Encode(c)); err != nil {
		t.sys.log.Warn("save catalog", "err", err) // the register keeps it; a restart reads it again
	}
	t.sys.control.Set(membership.KeyCatalog, strconv.FormatUint(c.Revision, 10))
	wake(t.purge)
}

// Lookup returns the table called name, reading the register when this
// node does not know it (it may have been created elsewhere a moment
// ago). The default table is not in the catalog; callers handle it.
func (t *Tables) Lookup(ctx context.Context, name string) (catalog.Table, error) {
	if tb, err := t.Catalog().Lookup(name); err == nil {
		return tb, nil
	}
	c, err := t.Refresh(ctx)
	if err != nil {
		return catalog.Table{}, err
	}
	return c.Lookup(name)
}

// List returns every table, from a linearizable read of the catalog.
func (t *Tables) List(ctx context.Context) ([]catalog.Table, error) {
	c, err := t.Refresh(ctx)
	return c.Tables, err
}

// Create adds a table by compare-and-set on the catalog's register.
func (t *Tables) Create(ctx context.Context, spec catalog.Spec) (catalog.Table, error) {
	var table catalog.Table
	err := t.change(ctx, func(c catalog.Catalog) (catalog.Catalog, error) {
		next, tb, err := c.Create(spec, wallclock.Now().UnixNano(), t.cfg.Limits)
		table = tb
		return next, err
	})
	return table, err
}

// Delete removes a table by compare-and-set on the catalog's register; its
// data goes in the background.
func (t *Tables) Delete(ctx context.Context, name string) (catalog.Table, error) {
	var table catalog.Table
	err := t.change(ctx, func(c catalog.Catalog) (catalog.Catalog, error) {
		next, tb, err := c.Delete(name)
		table = tb
		return next, err
	})
	return table, err
}

// ChangeTTL enables or disables a table's TTL (catalog.ChangeTTL) by
// compare-and-set on the catalog's register.
func (t *Tables) ChangeTTL(ctx context.Context, name, attribute string, enable bool) (catalog.Table, error) {
	var table catalog.Table
	err := t.change(ctx, func(c catalog.Catalog) (catalog.Catalog, error) {
		next, tb, err := c.ChangeTTL(name, attribute, enable)
		table = tb
		return next, err
	})
	return table, err
}

// change applies f to the register's catalog by compare-and-set, reading
// again and re-applying f while another change wins the race.
func (t *Tables) change(ctx context.Context, f func(catalog.Catalog) (catalog.Catalog, error)) error {
	cur, v, err := t.read(ctx)
	if err != nil {
		return err
	}
	for {
		t.adopt(cur)
		next, err := f(cur)
		if err != nil {
			return err
		}
		op := paxos.Op{Kind: paxos.OpPut, Data: catalog.Encode(next), Cond: paxos.CondAbsent}
		if v.Exists {
			op.Cond, op.Version = paxos.CondVersion, v.Version
		}
		res, err := t.sys.Strong(ctx, catalog.CatalogKey, op)
		if err != nil {
			return fmt.Errorf("write the catalog: %w", err)
		}
		switch res.Outcome {
		case paxos.OutcomeOK:
			t.adopt(next)
			return nil
		case paxos.OutcomeConditionFailed:
			// Another change came first: apply f to the catalog it made.
			if cur, err = decodeRegister(res.Value); err != nil {
				return err
			}
			v = res.Value
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("write the catalog: %w", err)
			}
		default:
			return fmt.Errorf("write the catalog: %w", &StrongError{res})
		}
	}
}

// purgeTable asks a vnode to remove every key starting with one of
// prefixes (a deleted table's), answering on done.
type purgeTable struct {
	prefixes [][]byte
	done     chan error
}

// purgeDeleted removes the data of every deleted table this node has not
// purged yet, partition by partition, then marks it purged; a stop or a
// failure leaves it unmarked, and the next start or catalog goes on.
func (t *Tables) purgeDeleted() {
	c := t.Catalog()
	for _, id := range c.DeletedIDs() {
		if done, err := t.sys.store.Purged(id); err != nil || done {
			continue
		}
		if err := t.purgeTable(id); err != nil {
			t.sys.log.Warn("remove a deleted table's data", "table id", id, "err", err)
			return
		}
		if err := t.sys.store.MarkPurged(id); err != nil {
			return
		}
		t.sys.log.Info("removed a deleted table's data", "table id", id)
	}
}

// Purging lists the deleted tables whose data this node has not removed
// yet.
func (t *Tables) Purging() []uint32 {
	var out []uint32
	for _, id := range t.Catalog().DeletedIDs() {
		if done, err := t.sys.store.Purged(id); err != nil || !done {
			out = append(out, id)
		}
	}
	return out
}

func (t *Tables) purgeTable(id uint32) error {
	prefixes := catalog.Prefixes(id)
	v := t.sys.View()
	for p := 0; p < t.sys.cfg.Partitions; p++ {
		done := make(chan error, 1)
		t.sys.actors.Root.Send(v.localVnodePID(p), purgeTable{prefixes: prefixes, done: done})
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("partition %d: %w", p, err)
			}
		case <-t.sys.stopped:
			return errors.New("the node is stopping")
		}
	}
	return nil
}
