package actors

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/crdt"
	"github.com/harmoniakv/harmonia/cluster/itemop"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/pace"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxospb"
	"github.com/harmoniakv/harmonia/internal/wallclock"
	"github.com/harmoniakv/harmonia/messages/datatypepb"
	"github.com/harmoniakv/harmonia/persistence"
	"google.golang.org/protobuf/proto"
)

// The deletion of expired items (cluster/itemop's Expired): reads never
// return an expired item, and this pass removes it for good through the
// table's delete path (a consensus step, or on an eventual table a
// tombstone), so that anti-entropy copies the deletion rather than bring
// the item back. Every interval, a node goes
// through each partition whose first voter it is (one node per partition
// in a settled view), over the local acceptor states of each table with a
// TTL attribute, and deletes each committed expired item with
// itemop.ExpiryDelete, which deletes only an item still expired when
// consensus runs it.

// TTLConfig tunes the deletion of expired items.
type TTLConfig struct {
	// Interval is how often a pass starts (0: never; expired items are
	// still never returned). Default 30 s.
	Interval time.Duration
	// MaxDeletesPerSecond bounds the deletions a node makes, so a table
	// whose items all expire at once does not crowd out client writes
	// (0: unbounded). Default 100.
	MaxDeletesPerSecond int
}

// DefaultTTLConfig returns the documented defaults.
func DefaultTTLConfig() TTLConfig {
	return TTLConfig{Interval: 30 * time.Second, MaxDeletesPerSecond: 100}
}

// ttlScanKeys and ttlScanBytes bound one read of local acceptor states:
// a pass reads a partition's part of a table a page at a time.
const (
	ttlScanKeys  = 256
	ttlScanBytes = 1 << 20
)

// expiry is the pass's state: the deletions made since the process
// started.
type expiry struct {
	deleted atomic.Uint64
}

// ExpiredItemsDeleted counts the expired items this node deleted since it
// started.
func (s *System) ExpiredItemsDeleted() uint64 { return s.expiry.deleted.Load() }

// runExpiry runs a pass every interval until the node stops.
func (s *System) runExpiry() {
	if s.cfg.TTL.Interval <= 0 {
		return
	}
	tick := time.NewTicker(s.cfg.TTL.Interval)
	defer tick.Stop()
	for {
		select {
		case <-s.stopped:
			return
		case <-tick.C:
			s.expirePass()
		}
	}
}

// expiresPartition reports whether self runs the expiry pass of a
// partition with voters: the first voter of the current ring's group.
func expiresPartition(voters [][]string, self string) bool {
	return len(voters) > 0 && len(voters[0]) > 0 && voters[0][0] == self
}

// ttlTables are the tables of items with a TTL attribute.
func ttlTables(c catalog.Catalog) []catalog.Table {
	var out []catalog.Table
	for _, t := range c.Tables {
		if t.HasItems() && t.TTLAttribute != "" {
			out = append(out, t)
		}
	}
	return out
}

// expirePass deletes the expired items of the partitions this node is
// the first voter of.
func (s *System) expirePass() {
	v := s.view.Load()
	if v == nil || v.Ring == nil || v.Transition == nil || len(ttlTables(s.tables.Catalog())) == 0 {
		return
	}
	pacer := pace.New(s.cfg.TTL.MaxDeletesPerSecond)
	for p := 0; p < v.Ring.Partitions(); p++ {
		if !expiresPartition(v.Transition.Voters(p), v.Self) {
			continue
		}
		for _, t := range ttlTables(s.tables.Catalog()) {
			if err := s.expireTable(p, t, pacer); err != nil {
				s.log.Debug("ttl: pass over a partition of a table cut short", "partition", p, "table", t.Name, "err", err)
			}
		}
	}
}

// errStopping ends a pass when the node stops.
var errStopping = errors.New("the node is stopping")

// expireTable deletes the expired items of table t that partition p's
// local acceptor states hold (of a strong table) or its local objects (of
// an eventual one), reading only the table's own range.
func (s *System) expireTable(p int, t catalog.Table, pacer *pace.Pacer) error {
	r := catalog.TableItems(t)
	if t.Consistency != catalog.Strong {
		// Each item with a tombstone stamped just above the versions
		// found (PutRequest.JustAfter), so that a write of the item made
		// since, here or on another replica, wins over the deletion.
		return walkExpiring(s, t, pacer, func(lower []byte) ([]persistence.RawEntry, bool, error) {
			return s.store.ScanRange(p, lower, r.Upper, false, ttlScanKeys, ttlScanBytes)
		}, func(e persistence.RawEntry) []byte { return e.Key }, func(cur catalog.Table, e persistence.RawEntry, now time.Time) (func(), error) {
			versions, err := object.Decode(e.Value)
			if err != nil {
				return nil, err
			}
			if cur.Conflict == catalog.CRDT {
				// Every attribute the replica holds removed as observed:
				// an update it has not seen survives.
				ops, st, err := itemop.ExpiredCRDTItem(cur, e.Key, versions, now)
				if err != nil || ops == nil {
					return nil, err
				}
				return func() { s.expireState(e.Key, cur, ops, st) }, nil
			}
			expired, err := itemop.ExpiredVersions(cur, versions, now)
			if err != nil || !expired {
				return nil, err
			}
			return func() { s.expireVersions(e.Key, cur, versions) }, nil
		})
	}
	return walkExpiring(s, t, pacer, func(lower []byte) ([]persistence.AcceptorEntry, bool, error) {
		return s.store.ScanAcceptorRange(p, lower, r.Upper, false, ttlScanKeys, ttlScanBytes)
	}, func(e persistence.AcceptorEntry) []byte { return e.Key }, func(cur catalog.Table, e persistence.AcceptorEntry, now time.Time) (func(), error) {
		st, err := paxospb.StateFromProto(e.State)
		if err != nil {
			return nil, err
		}
		expired, err := itemop.ExpiredRegister(cur, st, now)
		if err != nil || !expired {
			return nil, err
		}
		return func() { s.expire(e.Key, cur, now) }, nil
	})
}

// walkExpiring pages through table t's local entries with scan (from a
// lower bound) and runs, paced, the deletion expired returns for each
// entry that holds an expired item. Each page follows the newest catalog:
// the table may have been deleted, or its TTL turned off, while the pass
// ran.
func walkExpiring[E any](s *System, t catalog.Table, pacer *pace.Pacer, scan func(lower []byte) ([]E, bool, error), key func(E) []byte,
	expired func(cur catalog.Table, e E, now time.Time) (func(), error)) error {
	lower := catalog.TableItems(t).Lower
	for {
		entries, more, err := scan(lower)
		if err != nil {
			return err
		}
		cur, ok := s.tables.Catalog().ByID(t.ID)
		if !ok || cur.TTLAttribute == "" {
			return nil
		}
		now := wallclock.Now()
		for _, e := range entries {
			del, err := expired(cur, e, now)
			if err != nil {
				return fmt.Errorf("key %.64q: %w", key(e), err)
			}
			if del == nil {
				continue
			}
			if !pacer.Wait(1, s.stopped) {
				return errStopping
			}
			del()
		}
		if !more || len(entries) == 0 {
			return nil
		}
		lower = append(key(entries[len(entries)-1]), 0) // the next key, at least
	}
}

// expire deletes one expired item through consensus.
func (s *System) expire(key []byte, t catalog.Table, now time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
	defer cancel()
	res, err := s.Strong(ctx, key, itemop.ExpiryDelete(t, now))
	switch {
	case err == nil && res.Outcome == paxos.OutcomeOK:
		s.expiry.deleted.Add(1)
		s.log.Debug("ttl: expired item deleted", "table", t.Name, "key", fmt.Sprintf("%.64q", key))
	case err == nil && res.Outcome == paxos.OutcomeConditionFailed:
		// Written again, or deleted, since the pass read it: it stays.
	default:
		s.log.Debug("ttl: expired item not deleted (the next pass tries again)", "table", t.Name, "key", fmt.Sprintf("%.64q", key),
			"outcome", res.Outcome.String(), "err", err)
	}
}

// expireVersions deletes one expired item of an eventual table.
func (s *System) expireVersions(key []byte, t catalog.Table, versions []object.Sibling) {
	s.expirePut(t, PutRequest{Key: key, Deleted: true, Context: object.Context(versions), After: object.MaxStamp(versions), JustAfter: true}, nil)
}

// expireState deletes one expired item of a table of CRDT items: ops
// remove every attribute of st, the state the pass found.
func (s *System) expireState(key []byte, t catalog.Table, ops []*datatypepb.DatatypeOp, st crdt.State) {
	enc, err := proto.Marshal(&datatypepb.DatatypeOps{Ops: ops})
	s.expirePut(t, PutRequest{Key: key, DatatypeOps: enc, DatatypeContext: crdt.EncodeContext(st.Context()), DatatypeBase: crdt.Encode(st)}, err)
}

// expirePut makes the put that deletes an expired item of an eventual
// table, unless building it failed (err), and counts it.
func (s *System) expirePut(t catalog.Table, put PutRequest, err error) {
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
		defer cancel()
		_, err = s.Put(ctx, put)
	}
	if err != nil {
		s.log.Debug("ttl: expired item not deleted (the next pass tries again)", "table", t.Name, "key", fmt.Sprintf("%.64q", put.Key), "err", err)
		return
	}
	s.expiry.deleted.Add(1)
	s.log.Debug("ttl: expired item deleted", "table", t.Name, "key", fmt.Sprintf("%.64q", put.Key))
}
