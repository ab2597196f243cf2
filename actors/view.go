// Package actors owns HarmoniaKV's actor tree on one node: the vnodes that
// hold replicas, the coordinator and its per-request get, put and strong
// state machines, handoff, hint replay, anti-entropy, reaping, and the
// node's use of the gossiper (actors/gossip), which spreads membership.
// Actors stay thin: they decode messages, step the pure cores under
// cluster/ (docs/architecture.md, "Where the decisions live") and carry
// out what those return, with the store under persistence/.
//
// What stays here needs the store, the actor context or a goroutine, not
// a rule a core could hold: whether a vnode votes (a durable mark) and the
// record of its entry into a transition, the acceptor cache and the group
// commit that holds replies until their batch is durable, the bounded
// cache of held ballots, the range reads' fan-out over futures (decided by
// paxos.Quorum and the range merges), the TTL pass's walk and the
// catalog's compare-and-set retry loop.
package actors

import (
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/request"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

// Stable actor names, so that peers address each other's actors as
// PID{address, name} without lookups.
const (
	nodeName        = "node"
	vnodesName      = nodeName + "/vnodes"
	coordinatorName = nodeName + "/coordinator"
	handoffName     = nodeName + "/handoff"
	hintsName       = nodeName + "/hints"
	repairName      = nodeName + "/repair"
)

func vnodeName(partition int) string { return vnodesName + "/" + vnodeChild(partition) }

func vnodeChild(partition int) string { return "vnode-" + itoa(partition) }

// View is the membership and ring the gossiper publishes
// (membership.View), with what the node's actors ask of it: who is up,
// where a partition's requests go, whom to admit data from.
type View struct{ membership.View }

// Up reports whether requests should be sent to node id: a suspect member is
// skipped like a down one, so requests do not wait on a node that is probably
// gone.
func (v *View) Up(id string) bool { return v.Members[id].Status.Live() }

// placement is what this view says about partition p for a request whose
// replicas are pref (and extra, replicas of the next ring): which are down,
// and which fallbacks stand in for them.
func (v *View) placement(p int, pref, extra []string) request.Placement {
	pl := request.Placement{Self: v.Self, Replicas: pref, Extra: extra}
	for _, ids := range [2][]string{pref, extra} {
		for _, id := range ids {
			if !v.Up(id) {
				if pl.Down == nil {
					pl.Down = map[string]bool{}
				}
				pl.Down[id] = true
			}
		}
	}
	if pl.Down != nil {
		pl.StandIns = v.StandIns(p, pref)
	}
	return pl
}

// sender names this node in the data it sends, so that replicas can check
// it is a member in good standing (Admits).
func (v *View) sender() *internalpb.Sender {
	return &internalpb.Sender{Node: v.Self, Incarnation: v.Members[v.Self].Incarnation}
}

// Admits says whether this node takes data from sender
// (membership.View.Admits, on the sender's node id and incarnation).
func (v *View) Admits(sender *internalpb.Sender) error {
	return v.View.Admits(sender.GetNode(), sender.GetIncarnation())
}

// vnodePID addresses partition p's vnode on node id.
func (v *View) vnodePID(id string, p int) *actor.PID {
	return actor.NewPID(v.Members[id].ClusterAddr, vnodeName(p))
}

// localVnodePID addresses partition p's vnode on this node.
func (v *View) localVnodePID(p int) *actor.PID { return v.vnodePID(v.Self, p) }

// viewHolder shares the current View between actors and API goroutines.
type viewHolder struct{ p atomic.Pointer[View] }

func (h *viewHolder) Load() *View   { return h.p.Load() }
func (h *viewHolder) Store(v *View) { h.p.Store(v) }
