package actors

import (
	"errors"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/actors/actorkit"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/reap"
	"github.com/harmoniakv/harmonia/cluster/request"
	"github.com/harmoniakv/harmonia/internal/wallclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

// getFSM drives one request.Get.
type getFSM struct {
	timers    actorkit.SelfTimers
	sends     actorkit.Redelivery // asks replicas again that the remote layer could not reach
	cfg       CoordinatorConfig
	reap      reap.Config
	view      *View
	req       *GetRequest
	client    *client
	core      *request.Get
	partition int
	counters  *requestCounters
}

type (
	repairWindowOver struct{}
	speculate        struct{}
)

func (f *getFSM) Receive(ctx actor.Context) {
	if f.sends.Receive(ctx, &f.timers) {
		return
	}
	var eff request.GetEffects
	switch m := ctx.Message().(type) {
	case *actor.Stopping:
		f.timers.Stop()
		return
	case *actor.Started:
		f.partition = f.view.Ring.PartitionForKey(f.req.Key)
		pref := f.view.Ring.PreferenceListForPartition(f.partition, f.view.N)
		f.core, eff = request.NewGet(f.view.placement(f.partition, pref, nil), f.req.R, f.cfg.AskAllReplicas, f.reap, wallclock.Now())
		if !eff.Done {
			f.timers.After(ctx, f.req.Timeout, deadline{})
		}
	case *internalpb.ReplicaGetReply:
		set, err := replySet(m)
		eff = f.core.Replied(m.Node, set, err)
	case deadline:
		eff = f.core.Deadline()
	case repairWindowOver:
		eff = f.core.RepairWindowOver()
	case speculate:
		eff = f.core.Speculate()
		f.counters.speculativeAsks.Add(uint64(len(eff.Asks)))
	default:
		return
	}
	f.execute(ctx, eff)
}

func (f *getFSM) execute(ctx actor.Context, eff request.GetEffects) {
	if len(eff.Asks) > 0 {
		get := &internalpb.ReplicaGet{Partition: uint32(f.partition), Key: f.req.Key, Encoded: true}
		for _, a := range eff.Asks {
			f.sends.Request(ctx, f.view.vnodePID(a.To, f.partition), get)
		}
	}
	if a := eff.Answer; a != nil {
		f.client.answer(&GetResult{Siblings: a.Siblings, Replied: a.Replied, Err: a.Err})
	}
	if eff.WaitForRepair {
		f.timers.After(ctx, f.cfg.ReadRepairWindow, repairWindowOver{})
	}
	if eff.Speculate && f.cfg.SpeculativeRetry > 0 {
		f.timers.After(ctx, f.cfg.SpeculativeRetry, speculate{})
	}
	if len(eff.Repair) > 0 {
		f.counters.readRepairs.Add(uint64(len(eff.Repair)))
		obj := object.ToProto(f.core.Merged())
		for _, id := range eff.Repair {
			ctx.Send(f.view.vnodePID(id, f.partition), &internalpb.ReplicaPut{Partition: uint32(f.partition), Key: f.req.Key, Object: obj, Sender: f.view.sender()})
		}
	}
	if eff.Done {
		ctx.Stop(ctx.Self())
	}
}

// replySet is the object a replica answered, or its error.
func replySet(m *internalpb.ReplicaGetReply) ([]object.Sibling, error) {
	if m.Error != "" {
		return nil, errors.New(m.Error)
	}
	if len(m.Encoded) > 0 {
		return object.Decode(m.Encoded)
	}
	return object.FromProto(m.Object)
}

// replicasFSM reads each replica of a key as it is, for inspection.
type replicasFSM struct {
	timers    actorkit.SelfTimers
	sends     actorkit.Redelivery
	view      *View
	n         int
	req       *ReplicasRequest
	client    *client
	partition int
	result    *ReplicasResult
	pending   int
}

func (f *replicasFSM) Receive(ctx actor.Context) {
	if f.sends.Receive(ctx, &f.timers) {
		return
	}
	switch m := ctx.Message().(type) {
	case *actor.Stopping:
		f.timers.Stop()
	case *actor.Started:
		f.partition = f.view.Ring.PartitionForKey(f.req.Key)
		f.result = &ReplicasResult{Partition: f.partition}
		for _, id := range f.view.Ring.PreferenceListForPartition(f.partition, f.n) {
			st := ReplicaState{Node: id}
			if f.view.Up(id) {
				f.sends.Request(ctx, f.view.vnodePID(id, f.partition), &internalpb.ReplicaGet{Partition: uint32(f.partition), Key: f.req.Key})
				f.pending++
			} else {
				st.Err = "down"
			}
			f.result.Replicas = append(f.result.Replicas, st)
		}
		f.timers.After(ctx, f.req.Timeout, deadline{})
		f.maybeDone(ctx)
	case *internalpb.ReplicaGetReply:
		for i := range f.result.Replicas {
			r := &f.result.Replicas[i]
			if r.Node != m.Node || r.Answered {
				continue
			}
			r.Answered = true
			r.Err = m.Error
			set, err := object.FromProto(m.Object)
			if err != nil {
				r.Err = err.Error()
			}
			r.Siblings = set
			f.pending--
		}
		f.maybeDone(ctx)
	case deadline:
		for i := range f.result.Replicas {
			if r := &f.result.Replicas[i]; !r.Answered && r.Err == "" {
				r.Err = "no answer before the deadline"
			}
		}
		f.pending = 0
		f.maybeDone(ctx)
	}
}

func (f *replicasFSM) maybeDone(ctx actor.Context) {
	if f.pending == 0 {
		f.client.answer(f.result)
		ctx.Stop(ctx.Self())
	}
}
