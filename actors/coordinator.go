package actors

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/reap"
	"github.com/harmoniakv/harmonia/cluster/request"
	"github.com/harmoniakv/harmonia/cluster/vclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

// Requests the coordinator accepts from the client API (in-process only).
type (
	// PutRequest writes Value (or a tombstone) with the causal Context read.
	PutRequest struct {
		Key, Value []byte
		Deleted    bool
		Context    vclock.Clock
		W          int
		// PW is how many of the acks must come from primaries; 0: none.
		PW      int
		Timeout time.Duration
	}
	PutResult struct {
		Acks    int          // toward W, primaries and fallbacks
		Hinted  int          // acks from fallbacks holding the write for a down primary
		Context vclock.Clock // history of the write just made
		Err     error
	}
	// GetRequest reads Key at read quorum R.
	GetRequest struct {
		Key     []byte
		R       int
		Timeout time.Duration
	}
	GetResult struct {
		Siblings []object.Sibling // reconciled, tombstones included
		Replied  int
		Err      error
	}
	// ReplicasRequest reads every replica of Key directly, without merging.
	ReplicasRequest struct {
		Key     []byte
		Timeout time.Duration
	}
	ReplicaState struct {
		Node     string
		Answered bool
		Err      string
		Siblings []object.Sibling
	}
	ReplicasResult struct {
		Partition int
		Replicas  []ReplicaState
	}
)

// ErrRequestCrashed is the answer of a request whose state machine
// crashed: it was stopped, not restarted (a restart would send the write
// again), so the request may or may not have taken effect.
var ErrRequestCrashed = errors.New("the request's state machine crashed")

// CoordinatorConfig tunes request handling.
type CoordinatorConfig struct {
	// ReadRepairWindow is how long a get keeps waiting, after it has
	// answered, for the remaining replicas so it can repair stale ones.
	ReadRepairWindow time.Duration
	// ReplicaTimeout is how long a put keeps waiting, after it has
	// answered, for the remaining replicas; those that have not acked by
	// then get a hint kept by this node. Default 1 s.
	ReplicaTimeout time.Duration
}

// coordinator accepts client requests and spawns one state machine per
// request, so a slow replica never blocks other requests. It supervises
// them (SupervisorStrategy): a state machine that crashes is stopped and
// its client told, never restarted to run its request a second time.
type coordinator struct {
	cfg      CoordinatorConfig
	reap     reap.Config // the node's reaping rule: read repair follows its Spread
	view     *viewHolder
	log      *slog.Logger
	seq      uint64
	inflight map[string]*client // by state machine, until it stops
}

// client is whom a request state machine answers, and whether it has.
type client struct {
	pid      *actor.PID
	answered atomic.Bool // the state machine and the coordinator race to answer
	request  any         // *PutRequest, *GetRequest or *ReplicasRequest
}

// failed is the result that tells the client its request failed.
func (c *client) failed(err error) any {
	switch c.request.(type) {
	case *PutRequest:
		return &PutResult{Err: err}
	case *GetRequest:
		return &GetResult{Err: err}
	}
	return &ReplicasResult{}
}

// answer sends msg to the client unless it has had its answer.
func (c *client) answer(ctx actor.SenderContext, msg any) {
	if c.answered.CompareAndSwap(false, true) {
		ctx.Send(c.pid, msg)
	}
}

type deadline struct{}

// testHookPut, set by tests only, runs before a put state machine handles
// each message: a panic there is a crash of the state machine.
var testHookPut atomic.Pointer[func(msg any)]

func (c *coordinator) Receive(ctx actor.Context) {
	var producer actor.Producer
	var name string
	var cl *client
	switch m := ctx.Message().(type) {
	case *PutRequest:
		view := c.view.Load()
		cl = &client{pid: ctx.Sender(), request: m}
		name, producer = "put-", func() actor.Actor { return &putFSM{cfg: c.cfg, view: view, req: m, client: cl} }
	case *GetRequest:
		view := c.view.Load()
		cl = &client{pid: ctx.Sender(), request: m}
		name, producer = "get-", func() actor.Actor { return &getFSM{cfg: c.cfg, reap: c.reap, view: view, req: m, client: cl} }
	case *ReplicasRequest:
		view := c.view.Load()
		cl = &client{pid: ctx.Sender(), request: m}
		name, producer = "replicas-", func() actor.Actor { return &replicasFSM{view: view, n: view.N, req: m, client: cl} }
	case *actor.Terminated:
		delete(c.inflight, m.Who.Id)
		return
	default:
		return
	}
	c.seq++
	pid, err := ctx.SpawnNamed(actor.PropsFromProducer(producer), name+itoa(int(c.seq)))
	if err != nil {
		cl.answer(ctx, cl.failed(fmt.Errorf("start the request: %w", err)))
		return
	}
	if c.inflight == nil {
		c.inflight = map[string]*client{}
	}
	c.inflight[pid.Id] = cl
}

// HandleFailure decides for the coordinator's children, as protoactor asks
// a child's parent: the crashed state machine is stopped, and its client
// gets ErrRequestCrashed unless it had its answer.
func (c *coordinator) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, msg any) {
	sup.StopChildren(child)
	c.log.Warn("request state machine crashed and was stopped", "actor", child.Id, "reason", fmt.Sprint(reason), "message", fmt.Sprintf("%T", msg))
	if cl := c.inflight[child.Id]; cl != nil {
		cl.answer(sys.Root, cl.failed(fmt.Errorf("%w (%v): it may or may not have taken effect", ErrRequestCrashed, reason)))
	}
}

// putFSM drives one request.Put: it sends what the core decides and feeds
// it the replies and timers.
type putFSM struct {
	cfg       CoordinatorConfig
	view      *View
	req       *PutRequest
	client    *client
	core      *request.Put
	partition int
	object    *internalpb.Object // the version the coordinating replica made
	history   vclock.Clock       // the context of the write, for the client
}

type replicaDeadline struct{}

func (f *putFSM) Receive(ctx actor.Context) {
	if h := testHookPut.Load(); h != nil {
		(*h)(ctx.Message())
	}
	var eff request.PutEffects
	switch m := ctx.Message().(type) {
	case *actor.Started:
		f.partition = f.view.Ring.PartitionForKey(f.req.Key)
		pref, extra := f.view.Transition.WriteReplicas(f.partition)
		f.core, eff = request.NewPut(f.view.placement(f.partition, pref, extra), f.req.W, f.req.PW)
		if !eff.Done {
			sendSelfAfter(ctx, f.req.Timeout, deadline{})
		}
	case *internalpb.CoordinatePutReply:
		if m.Node != f.core.Coordinator() {
			return
		}
		if m.Error == "" {
			f.object = m.Object
			f.history = vclock.Advance(f.req.Context, object.DotFromProto(m.Dot), time.Now().UnixNano())
		}
		eff = f.core.Coordinated(m.Node, replyError(m.Error))
	case *internalpb.ReplicaPutReply:
		eff = f.core.Replied(request.CopyKind(m.RequestId), m.Node, m.HintFor, replyError(m.Error))
	case deadline:
		eff = f.core.Deadline()
	case replicaDeadline:
		eff = f.core.StragglersDeadline()
	default:
		return
	}
	f.execute(ctx, eff)
}

func (f *putFSM) execute(ctx actor.Context, eff request.PutEffects) {
	if eff.Coordinate != "" {
		ctx.Request(f.view.vnodePID(eff.Coordinate, f.partition), &internalpb.CoordinatePut{
			Partition: uint32(f.partition), Key: f.req.Key, Value: f.req.Value, Deleted: f.req.Deleted,
			Context: object.ClockToProto(f.req.Context), WrittenAt: time.Now().UnixNano(),
		})
	}
	for _, c := range eff.Copies {
		ctx.Request(f.view.vnodePID(c.To, f.partition), &internalpb.ReplicaPut{
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
			res.Context = f.history
		}
		f.client.answer(ctx, res)
	}
	if eff.WaitForStragglers {
		sendSelfAfter(ctx, f.cfg.ReplicaTimeout, replicaDeadline{})
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

// getFSM drives one request.Get.
type getFSM struct {
	cfg       CoordinatorConfig
	reap      reap.Config
	view      *View
	req       *GetRequest
	client    *client
	core      *request.Get
	partition int
}

type repairWindowOver struct{}

func (f *getFSM) Receive(ctx actor.Context) {
	var eff request.GetEffects
	switch m := ctx.Message().(type) {
	case *actor.Started:
		f.partition = f.view.Ring.PartitionForKey(f.req.Key)
		pref := f.view.Ring.PreferenceListForPartition(f.partition, f.view.N)
		f.core, eff = request.NewGet(f.view.placement(f.partition, pref, nil), f.req.R, f.reap, time.Now())
		if !eff.Done {
			sendSelfAfter(ctx, f.req.Timeout, deadline{})
		}
	case *internalpb.ReplicaGetReply:
		set, err := object.FromProto(m.Object)
		if m.Error != "" {
			err = errors.New(m.Error)
		}
		eff = f.core.Replied(m.Node, set, err)
	case deadline:
		eff = f.core.Deadline()
	case repairWindowOver:
		eff = f.core.RepairWindowOver()
	default:
		return
	}
	f.execute(ctx, eff)
}

func (f *getFSM) execute(ctx actor.Context, eff request.GetEffects) {
	if len(eff.Asks) > 0 {
		get := &internalpb.ReplicaGet{Partition: uint32(f.partition), Key: f.req.Key}
		for _, a := range eff.Asks {
			ctx.Request(f.view.vnodePID(a.To, f.partition), get)
		}
	}
	if a := eff.Answer; a != nil {
		f.client.answer(ctx, &GetResult{Siblings: a.Siblings, Replied: a.Replied, Err: a.Err})
	}
	if eff.WaitForRepair {
		sendSelfAfter(ctx, f.cfg.ReadRepairWindow, repairWindowOver{})
	}
	if len(eff.Repair) > 0 {
		obj := object.ToProto(f.core.Merged())
		for _, id := range eff.Repair {
			ctx.Send(f.view.vnodePID(id, f.partition), &internalpb.ReplicaPut{Partition: uint32(f.partition), Key: f.req.Key, Object: obj, Sender: f.view.sender()})
		}
	}
	if eff.Done {
		ctx.Stop(ctx.Self())
	}
}

// replicasFSM reads each replica of a key as it is, for inspection.
type replicasFSM struct {
	view      *View
	n         int
	req       *ReplicasRequest
	client    *client
	partition int
	result    *ReplicasResult
	pending   int
}

func (f *replicasFSM) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		f.partition = f.view.Ring.PartitionForKey(f.req.Key)
		f.result = &ReplicasResult{Partition: f.partition}
		for _, id := range f.view.Ring.PreferenceListForPartition(f.partition, f.n) {
			st := ReplicaState{Node: id}
			if f.view.Up(id) {
				ctx.Request(f.view.vnodePID(id, f.partition), &internalpb.ReplicaGet{Partition: uint32(f.partition), Key: f.req.Key})
				f.pending++
			} else {
				st.Err = "down"
			}
			f.result.Replicas = append(f.result.Replicas, st)
		}
		sendSelfAfter(ctx, f.req.Timeout, deadline{})
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
		f.client.answer(ctx, f.result)
		ctx.Stop(ctx.Self())
	}
}
