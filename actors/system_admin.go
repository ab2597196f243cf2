package actors

import (
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/actors/gossip"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/persistence"
)

// What a node's operators and its status page ask of it: ring changes,
// repairs on demand, and counters.

// Leave publishes that this node leaves the ring: its partitions move to
// the other members, then it is left.
func (s *System) Leave() { s.control.Set(membership.KeyStatus, membership.RingLeaving) }

// Remove publishes that this node removes dead member id: its partitions
// are rebuilt on the other members, then it is left.
func (s *System) Remove(id string) {
	s.control.Set(membership.KeyRemovedPrefix+id, membership.RingLeaving)
}

// CrashVnode makes partition p's vnode panic once (tests of supervision).
func (s *System) CrashVnode(p int) {
	s.actors.Root.Send(actor.NewPID(s.actors.Address(), vnodeName(p)), crashVnode{})
}

// Repair runs anti-entropy exchanges now (partition -1: all this node
// holds; peer "": every other replica) and returns their results.
func (s *System) Repair(partition int, peer string, timeout time.Duration) ([]ExchangeResult, error) {
	reply := make(chan []ExchangeResult, 1)
	s.actors.Root.Send(actor.NewPID(s.actors.Address(), repairName), repairNow{partition: partition, peer: peer, reply: reply})
	select {
	case res := <-reply:
		return res, nil
	case <-s.stopped:
		return nil, errors.New("repair: the node is stopping")
	case <-time.After(timeout):
		return nil, fmt.Errorf("repair did not finish within %v", timeout)
	}
}

// RepairTotals sums this process's anti-entropy exchanges.
func (s *System) RepairTotals() RepairTotals { return s.repairs.get() }

// Restarts counts actors restarted by their supervisors.
func (s *System) Restarts() uint64 { return s.restarts.Load() }

// ActorFailures counts the actors that failed since this process started,
// by kind and by what their supervisor did.
func (s *System) ActorFailures() []ActorFailure { return s.failures.snapshot() }

// RequestCounts counts what this node's requests did for their replicas
// since it started.
func (s *System) RequestCounts() RequestCounts {
	out := RequestCounts{PutReplicaTimeouts: s.requests.putReplicaTimeouts.Load(),
		SpeculativeAsks: s.requests.speculativeAsks.Load(), ReadRepairs: s.requests.readRepairs.Load(),
		RangeRereads: s.requests.rangeRereads.Load(),
		Strong:       map[string]uint64{}, StrongRoundsLost: s.requests.strongRounds.Load(), StrongHedges: s.requests.strongHedges.Load(), StrongReadRounds: s.requests.strongReadRounds.Load(), StampsNotFollowed: s.stamps.notFollowed()}
	for o := range numOutcomes {
		out.Strong[paxos.Outcome(o).String()] = s.requests.strong[o].Load()
	}
	return out
}

// HintsReplayed returns the hints this process delivered, per target.
func (s *System) HintsReplayed() map[string]int64 { return s.hintCounters.Replayed() }

// Transfers returns the transition under way and this node's incoming
// partition transfers.
func (s *System) Transfers() (string, []TransferProgress) { return s.transfers.Snapshot() }

// Gossiper returns the node's membership API.
func (s *System) Gossiper() *gossip.Gossiper { return s.gossip }

// Config returns the node's configuration.
func (s *System) Config() Config { return s.cfg }

// View returns the current membership and ring.
func (s *System) View() *View { return s.view.Load() }

// CheckKey and CheckValue apply the store's size limits to a client's key
// and value. They are the one place limits are checked: a client's write is
// admitted (or not) before any replica sees it, and replicas take what
// another node admitted.
func (s *System) CheckKey(key []byte) error       { return s.store.CheckKey(key) }
func (s *System) CheckClientKey(key []byte) error { return s.store.CheckClientKey(key) }
func (s *System) CheckValue(value []byte) error   { return s.store.CheckValue(value) }

// HintStats returns the hints this node keeps, by target.
func (s *System) HintStats() map[string]persistence.HintStats { return s.store.HintStats() }

// StorageHealth is this node's disk as its store sees it: failed, full,
// the errors counted.
func (s *System) StorageHealth() persistence.Health { return s.store.Health() }

// OldestHint returns when this node's oldest hint for target was kept.
func (s *System) OldestHint(target string) (time.Time, bool) { return s.store.OldestHint(target) }
