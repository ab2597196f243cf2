// Package actors owns HarmoniaKV's actor tree on one node: the vnodes that
// hold replicas, the coordinator and its per-request get/put state machines,
// and the gossiper that spreads membership. Actors stay thin: they turn
// messages into calls on the pure packages under cluster/ and the store under
// persistence/, and results back into messages.
package actors

import (
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/ring"
)

// Stable actor names, so that peers address each other's actors as
// PID{address, name} without lookups.
const (
	nodeName        = "node"
	vnodesName      = nodeName + "/vnodes"
	coordinatorName = nodeName + "/coordinator"
	gossiperName    = nodeName + "/gossiper"
)

func vnodeName(partition int) string { return vnodesName + "/" + vnodeChild(partition) }

func vnodeChild(partition int) string { return "vnode-" + itoa(partition) }

// MemberView is one member as this node sees it.
type MemberView struct {
	ID           string
	ClusterAddr  string
	ClientAddr   string
	Incarnation  uint64
	Up           bool
	HeartbeatAge time.Duration
}

// View is an immutable snapshot of membership and ring that the gossiper
// publishes and request state machines read.
type View struct {
	Self    string
	Ring    *ring.Ring
	Members map[string]MemberView
}

// Up reports whether node id is believed alive.
func (v *View) Up(id string) bool { return v.Members[id].Up }

// vnodePID addresses partition p's vnode on node id.
func (v *View) vnodePID(id string, p int) *actor.PID {
	return actor.NewPID(v.Members[id].ClusterAddr, vnodeName(p))
}

// viewHolder shares the current View between actors and API goroutines.
type viewHolder struct{ p atomic.Pointer[View] }

func (h *viewHolder) Load() *View   { return h.p.Load() }
func (h *viewHolder) Store(v *View) { h.p.Store(v) }
