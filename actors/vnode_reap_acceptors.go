package actors

import (
	"bytes"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxospb"
	"github.com/harmoniakv/harmonia/internal/wallclock"
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
	scan := paxos.NewReapScan(m.now, m.rule.Grace, m.max)
	for _, e := range entries {
		if scan.Full() {
			break
		}
		st, err := paxospb.StateFromProto(e.State)
		if err != nil {
			continue
		}
		_, staged := v.acceptors[string(e.Key)]
		switch scan.Choose(st, staged, tables.CheckStrongKey(e.Key) == nil) {
		case paxos.ReapDrop:
			out.drop = append(out.drop, &internalpb.ReapEntry{Key: e.Key, Digest: paxospb.TombstoneDigest(st), Erased: paxospb.BallotToProto(st.Committed)})
		case paxos.ReapErase:
			out.erase = append(out.erase, eraseCandidate{key: bytes.Clone(e.Key), version: st.Value.Version})
		}
	}
	return out
}

// erasedEntry is the erased state a reap entry names: its ballot, checked
// against the digest the asker computed of the state it holds; zero when
// the two disagree or the ballot does not decode.
func erasedEntry(e *internalpb.ReapEntry) paxos.Ballot {
	b, err := paxospb.BallotFromProto(e.Erased)
	if err != nil || b.IsZero() {
		return paxos.Ballot{}
	}
	if !bytes.Equal(paxospb.TombstoneDigest(paxos.State{Promised: b, Accepted: b, Committed: b}), e.Digest) {
		return paxos.Ballot{}
	}
	return b
}

// checkAcceptorReap refuses a reap of acceptor states unless the asker's
// ring transition is this node's, stable, with this node one of the
// partition's voters, which it counts: then the replicas the asker asks
// are the voters every proposal of this node's view counts, and a drop
// agreed by all of them leaves no voter of a quorum holding what the
// others dropped.
func (v *vnode) checkAcceptorReap(m *internalpb.Reap) error {
	view := v.view.Load()
	if view == nil || view.Transition == nil {
		return fmt.Errorf("node %s has no ring yet", v.self.Node)
	}
	if m.Transition != view.Transition.Fingerprint || !view.Transition.Stable() {
		return fmt.Errorf("acceptor reap from a node in ring transition %016x, but node %s is in transition %016x (%s, stable %v): only voters of one stable ring agree on a drop",
			m.Transition, v.self.Node, view.Transition.Fingerprint, view.Transition.Key, view.Transition.Stable())
	}
	if !view.Transition.IsVoter(v.partition, v.self.Node) {
		return fmt.Errorf("acceptor reap: node %s is not a voter of partition %d", v.self.Node, v.partition)
	}
	if err := v.store.AcceptorsVoting(v.partition); err != nil {
		return fmt.Errorf("acceptor reap: node %s does not vote yet: %w", v.self.Node, err)
	}
	return nil
}

// reapAcceptors answers which of the asked registers this vnode holds
// alike (or not at all, its floor raised above their erase:
// paxos.AgreeToDrop) and, on a commit, drops their state in one synced
// batch with the raised floor.
func (v *vnode) reapAcceptors(ctx actor.Context, m *internalpb.Reap) {
	reply := &internalpb.ReapReply{Node: v.self.Node, Holds: make([]bool, len(m.Entries))}
	if int(m.Partition) != v.partition {
		reply.Error = fmt.Sprintf("acceptor reap for partition %d sent to the vnode of partition %d", m.Partition, v.partition)
		ctx.Respond(reply)
		return
	}
	if err := v.checkAcceptorReap(m); err != nil {
		reply.Error = err.Error()
		ctx.Respond(reply)
		return
	}
	if v.part.Pending() || len(v.acceptors) > 0 {
		v.flush(ctx) // what is staged is compared (and dropped) as durable state
	}
	floor := v.floor
	tables := v.catalog.Load()
	now := wallclock.Now()
	var drop [][]byte
	for i, e := range m.Entries {
		if tables.CheckStrongKey(e.Key) != nil {
			continue // not a live strong table's: its table's purge removes it
		}
		erased := erasedEntry(e)
		if paxos.TooFarAhead(erased, now, maxFloorAhead) {
			continue // a ballot far ahead of this node's clock would stall the partition under the floor
		}
		st, _, err := v.acceptorState(e.Key)
		if err != nil {
			reply.Error = err.Error()
			break
		}
		vote := paxos.VoteToReap(st, floor, erased, m.Commit)
		reply.Holds[i], floor = vote.Holds, vote.Floor
		if vote.Drop {
			drop = append(drop, e.Key)
		}
	}
	if reply.Error == "" && (len(drop) > 0 || v.floor != floor) {
		// One synced batch, before the answer: a voter that said it holds
		// nothing refuses the register's past from then on.
		if err := v.store.DropAcceptors(v.partition, drop, floor); err != nil {
			reply.Error = err.Error()
			reply.Holds = make([]bool, len(m.Entries))
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
