package itemop

import (
	"fmt"
	"time"

	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/paxos"
)

// Expiry is the TTL rule, stricter than DynamoDB's (which may return an
// item for days after it expired): an item of a table with a TTL
// attribute is expired at now when that attribute is a number of Unix
// seconds (fractions allowed) at or before now; of any other type, or
// absent, it never expires. From that moment every operation sees the
// item as absent, and a background pass deletes it (ExpiryDelete).
// now is the node's wall clock, passed in so that the rule is pure.

// Expired reports whether it is expired at now in table t.
func Expired(t catalog.Table, it item.Item, now time.Time) bool {
	if t.TTLAttribute == "" || it == nil {
		return false
	}
	at, ok := it[t.TTLAttribute].(item.Number)
	return ok && at.Cmp(unixSeconds(now)) <= 0
}

// unixSeconds is now as a number of Unix seconds, to the nanosecond.
func unixSeconds(now time.Time) item.Number {
	ns := now.UnixNano()
	sign := ""
	if ns < 0 {
		sign, ns = "-", -ns
	}
	return item.MustNumber(fmt.Sprintf("%s%d.%09d", sign, ns/int64(time.Second), ns%int64(time.Second)))
}

// live is it as the table shows it at now: nil when expired.
func live(t catalog.Table, it item.Item, now time.Time) item.Item {
	if Expired(t, it, now) {
		return nil
	}
	return it
}

// ExpiredRegister reports whether one acceptor's state of a register of
// table t holds a committed item expired at now: what the background
// pass deletes. A state with a write in flight is left to the next pass.
func ExpiredRegister(t catalog.Table, st paxos.State, now time.Time) (bool, error) {
	if !st.Settled() || !st.Value.Exists {
		return false, nil
	}
	it, err := Decode(st.Value.Data)
	if err != nil {
		return false, err
	}
	return Expired(t, it, now), nil
}

// ExpiryDelete is the consensus operation that deletes an expired item of
// table t: it deletes only if the item it sees is still expired at now,
// and otherwise refuses with paxos.ErrConditionFailed, so an item written
// again (or whose TTL attribute moved into the future) since the pass
// read it survives.
func ExpiryDelete(t catalog.Table, now time.Time) paxos.Op {
	return paxos.Op{Kind: paxos.OpUpdate, Update: func(v paxos.Value) ([]byte, bool, error) {
		it, err := current(v)
		if err != nil {
			return nil, false, err
		}
		if it == nil || !Expired(t, it, now) {
			return nil, false, fmt.Errorf("the item is no longer expired: %w", paxos.ErrConditionFailed)
		}
		return nil, false, nil
	}}
}

// ExpiredVersions reports whether the versions a replica stores of an
// item of eventual table t hold a live item expired at now: what the
// background pass deletes, with a tombstone stamped just above them (so a
// write made since, on any replica, wins over the deletion).
func ExpiredVersions(t catalog.Table, versions []object.Sibling, now time.Time) (bool, error) {
	v, err := Current(versions)
	if err != nil || !v.Exists {
		return false, err
	}
	it, err := Decode(v.Data)
	if err != nil {
		return false, err
	}
	return Expired(t, it, now), nil
}
