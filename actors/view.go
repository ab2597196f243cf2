// Package actors owns HarmoniaKV's actor tree on one node: the vnodes that
// hold replicas, the coordinator and its per-request get/put state machines,
// and the node's use of the gossiper (actors/gossip), which spreads
// membership. Actors stay thin: they turn
// messages into calls on the pure packages under cluster/ and the store under
// persistence/, and results back into messages.
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
