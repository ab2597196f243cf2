package actors

import (
	"errors"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/actors/actorkit"
	"github.com/harmoniakv/harmonia/cluster/hlc"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/request"
	"github.com/harmoniakv/harmonia/cluster/vclock"
	"github.com/harmoniakv/harmonia/internal/wallclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

// putFSM drives one request.Put: it sends what the core decides and feeds
// it the replies and timers.
type putFSM struct {
	faults    Faults // injected to test recovery (Config.Faults); never nil
	timers    actorkit.SelfTimers
	sends     actorkit.Redelivery // sends again what the remote layer could not deliver
	cfg       CoordinatorConfig
	view      *View
	req       *PutRequest
	client    *client
	core      *request.Put
	partition int
	object    *internalpb.Object // the version the coordinating replica made
	history   vclock.Clock       // the context of the write, for the client
	stamp     hlc.Timestamp      // a last-writer-wins key's highest stamp after the write
	datatype  []byte             // a CRDT key's state at its coordinator after the update
	counters  *requestCounters
}

type replicaDeadline struct{}

func (f *putFSM) Receive(ctx actor.Context) {
	f.faults.PutStep(ctx.Message())
	if f.sends.Receive(ctx, &f.timers) {
		return
	}
	var eff request.PutEffects
	switch m := ctx.Message().(type) {
	case *actor.Stopping:
		f.timers.Stop()
		return
	case *actor.Started:
		f.partition = f.view.Ring.PartitionForKey(f.req.Key)
		pref, extra := f.view.Transition.WriteReplicas(f.partition)
		f.core, eff = request.NewPut(f.view.placement(f.partition, pref, extra), f.req.W, f.req.PW)
		if !eff.Done {
			f.timers.After(ctx, f.req.Timeout, deadline{})
		}
	case *internalpb.CoordinatePutReply:
		if m.Node != f.core.Coordinator() {
			return
		}
		if m.Error == "" {
			f.object = m.Object
			f.history = vclock.Advance(f.req.Context, object.DotFromProto(m.Dot), wallclock.Now().UnixNano())
			// From the coordinating replica, which stamped the write: a bad
			// stamp is only lost to the client's next context.
			f.stamp, _ = object.StampFromProto(m.Stamp)
			f.datatype = m.DatatypeState
		}
		err := replyError(m.Error)
		if m.ErrorKind != "" {
			err = &DatatypeError{Kind: m.ErrorKind, Msg: m.Error}
		}
		eff = f.core.Coordinated(m.Node, err)
	case *internalpb.ReplicaPutReply:
		eff = f.core.Replied(request.CopyKind(m.RequestId), m.Node, m.HintFor, replyError(m.Error))
	case deadline:
		eff = f.core.Deadline()
	case replicaDeadline:
		eff = f.core.StragglersDeadline()
		f.counters.putReplicaTimeouts.Add(uint64(len(eff.LocalHints)))
	default:
		return
	}
	f.execute(ctx, eff)
}

func (f *putFSM) execute(ctx actor.Context, eff request.PutEffects) {
	if eff.Coordinate != "" {
		f.sends.Request(ctx, f.view.vnodePID(eff.Coordinate, f.partition), &internalpb.CoordinatePut{
			Partition: uint32(f.partition), Key: f.req.Key, Value: f.req.Value, Deleted: f.req.Deleted,
			Context: object.ClockToProto(f.req.Context), WrittenAt: wallclock.Now().UnixNano(), AfterStamp: object.StampToProto(f.req.After), JustAfter: f.req.JustAfter,
			DatatypeOps: f.req.DatatypeOps, DatatypeContext: f.req.DatatypeContext, DatatypeBase: f.req.DatatypeBase,
		})
	}
	for _, c := range eff.Copies {
		f.sends.Request(ctx, f.view.vnodePID(c.To, f.partition), &internalpb.ReplicaPut{
			Partition: uint32(f.partition), Key: f.req.Key, Object: f.object, HintFor: c.HintFor, RequestId: uint64(c.Kind), Sender: f.view.sender(),
		})
	}
	for _, id := range eff.LocalHints {
		ctx.Request(f.view.localVnodePID(f.partition), &internalpb.ReplicaPut{
			Partition: uint32(f.partition), Key: f.req.Key, Object: f.object, HintFor: id, HintOnly: true, RequestId: uint64(request.ToLocalHint), Sender: f.view.sender(),
		})
	}
	if a := eff.Answer; a != nil {
		res := &PutResult{Acks: a.Acks, Hinted: a.Hinted, Err: a.Err}
		if a.Err == nil {
			res.Context, res.Stamp, res.Datatype = f.history, f.stamp, f.datatype
		}
		f.client.answer(res)
	}
	if eff.WaitForStragglers {
		f.timers.After(ctx, f.cfg.ReplicaTimeout, replicaDeadline{})
	}
	if eff.Done {
		ctx.Stop(ctx.Self())
	}
}

// replyError turns a reply's error text into an error (nil for none).
func replyError(msg string) error {
	if msg == "" {
		return nil
	}
	return errors.New(msg)
}
