package actors

import (
	"bytes"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxospb"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

// Dropping strong keys' tombstones (cluster/paxos's rules, gc.go): the reap
// round that reaps the partition's eventual tombstones erases, through
// consensus, the tombstones past grace one replica lists (OpErase), asks
// every replica about the erased registers one of them found droppable,
// then has them all drop those they hold alike, raising the partition's
// floor.

// acceptorReapScanFactor bounds the acceptor states one scan reads, as a
// multiple of the candidates it may return: a partition of many live
// registers is gone through over several rounds, from where the last
// stopped.
const acceptorReapScanFactor = 10

// acceptorScan is a vnode's answer to a reap round's scan of its strong
// keys: the tombstones past grace to erase, and the erased registers to
// ask every replica about.
type acceptorScan struct {
	erase []eraseCandidate
	drop  []*internalpb.ReapEntry
}

// eraseCandidate is a register whose settled tombstone (of Version) is past
// grace.
type eraseCandidate struct {
	key     []byte
	version paxos.Ballot
}

// acceptorReapCandidates lists registers of this partition to erase (a
// settled tombstone older than the grace) and to drop (settled on the
// erased value), at most m.max of each.
func (v *vnode) acceptorReapCandidates(m reapScan) acceptorScan {
	var out acceptorScan
	entries, more, err := v.store.ScanAcceptors(v.partition, v.reapFrom, m.max*acceptorReapScanFactor, bucketPageBytes)
	if err != nil {
		return out
	}
	v.reapFrom = nil
	if more && len(entries) > 0 {
		v.reapFrom = bytes.Clone(entries[len(entries)-1].Key)
	}
	tables := v.catalog.Load()
	for _, e := range entries {
		if len(out.drop) >= m.max && len(out.erase) >= m.max {
			break
		}
		if _, staged := v.acceptors[string(e.Key)]; staged {
			continue // changing in this batch
		}
		st, err := paxospb.StateFromProto(e.State)
		if err != nil {
			continue
		}
		switch {
		case paxos.Droppable(st) && len(out.drop) < m.max:
			out.drop = append(out.drop, &internalpb.ReapEntry{Key: e.Key, Digest: paxospb.TombstoneDigest(st)})
		case paxos.Erasable(st, m.now, m.rule.Grace) && len(out.erase) < m.max && tables.CheckStrongKey(e.Key) == nil:
			// A deleted table's registers are its purge's to remove.
			out.erase = append(out.erase, eraseCandidate{key: bytes.Clone(e.Key), version: st.Value.Version})
		}
	}
	return out
}

// holdsTombstone reports whether this vnode holds the register's erased
// state named by digest, or nothing of the register.
func holdsTombstone(st paxos.State, digest []byte) (holds, nothing bool) {
	if st.Accepted.IsZero() && st.Committed.IsZero() {
		return true, true
	}
	return !st.Value.Exists && st.Settled() && bytes.Equal(paxospb.TombstoneDigest(st), digest), false
}

// reapAcceptors answers which of the asked registers this vnode holds
// alike (or not at all) and, on a commit, drops their state in one synced
// batch with the raised floor.
func (v *vnode) reapAcceptors(ctx actor.Context, m *internalpb.Reap) {
	reply := &internalpb.ReapReply{Node: v.self.Node, Holds: make([]bool, len(m.Entries))}
	if int(m.Partition) != v.partition {
		reply.Error = fmt.Sprintf("acceptor reap for partition %d sent to the vnode of partition %d", m.Partition, v.partition)
		ctx.Respond(reply)
		return
	}
	if m.Commit && (v.part.Pending() || len(v.acceptors) > 0) {
		v.flush(ctx) // what is staged is compared and dropped as durable state
	}
	floor := v.floor
	tables := v.catalog.Load()
	var drop [][]byte
	for i, e := range m.Entries {
		if tables.CheckStrongKey(e.Key) != nil {
			continue // not a live strong table's: its table's purge removes it
		}
		st, _, err := v.acceptorState(e.Key)
		if err != nil {
			reply.Error = err.Error()
			break
		}
		holds, nothing := holdsTombstone(st, e.Digest)
		reply.Holds[i] = holds
		if m.Commit && holds && !nothing {
			drop = append(drop, e.Key)
			floor = paxos.RaiseFloor(floor, st)
		}
	}
	if reply.Error == "" && len(drop) > 0 {
		if err := v.store.DropAcceptors(v.partition, drop, floor); err != nil {
			reply.Error = err.Error()
		} else {
			v.floor = floor
			for _, k := range drop {
				delete(v.durable, string(k))
			}
			reply.Reaped = uint32(len(drop))
			v.counters.acceptorsDropped.Add(uint64(len(drop)))
		}
	}
	ctx.Respond(reply)
}
