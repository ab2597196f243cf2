package actors

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/quorum"
	"github.com/harmoniakv/harmonia/cluster/reap"
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

// QuorumError says a request could not gather enough replicas.
type QuorumError struct {
	Op       string
	Summary  string // from quorum.Tally
	TimedOut bool
}

func (e *QuorumError) Error() string {
	if e.TimedOut {
		return fmt.Sprintf("%s timed out: %s", e.Op, e.Summary)
	}
	return fmt.Sprintf("%s failed: %s", e.Op, e.Summary)
}

// ErrNoReplica means no replica of the key is up to coordinate a write.
var ErrNoReplica = errors.New("no replica of the key is up")

// CoordinatorConfig tunes request handling.
type CoordinatorConfig struct {
	N int
	// ReadRepairWindow is how long a get keeps waiting, after it has
	// answered, for the remaining replicas so it can repair stale ones.
	ReadRepairWindow time.Duration
	// ReplicaTimeout is how long a put keeps waiting, after it has
	// answered, for the remaining replicas; those that have not acked by
	// then get a hint kept by this node. Default 1 s.
	ReplicaTimeout time.Duration
	// Reap is the node's reaping rule; read repair follows its Spread.
	// Start copies Config.Reap here.
	Reap reap.Config
}

// coordinator accepts client requests and spawns one state machine per
// request, so a slow replica never blocks other requests.
type coordinator struct {
	cfg  CoordinatorConfig
	view *viewHolder
	seq  atomic.Uint64
}

type deadline struct{}

func (c *coordinator) Receive(ctx actor.Context) {
	var props *actor.Props
	var name string
	switch m := ctx.Message().(type) {
	case *PutRequest:
		name = "put-"
		props = actor.PropsFromProducer(func() actor.Actor {
			return &putFSM{cfg: c.cfg, view: c.view.Load(), req: m, client: ctx.Sender()}
		})
	case *GetRequest:
		name = "get-"
		props = actor.PropsFromProducer(func() actor.Actor {
			return &getFSM{cfg: c.cfg, view: c.view.Load(), req: m, client: ctx.Sender()}
		})
	case *ReplicasRequest:
		name = "replicas-"
		props = actor.PropsFromProducer(func() actor.Actor {
			return &replicasFSM{view: c.view.Load(), n: c.cfg.N, req: m, client: ctx.Sender()}
		})
	default:
		return
	}
	// A failing request state machine is stopped, not restarted: its client
	// sees the future time out rather than a half-replayed request.
	props = props.Configure(stopOnCrash())
	ctx.SpawnNamed(props, name+itoa(int(c.seq.Add(1))))
}

// Kinds of ReplicaPut a put sends, told apart in replies by request id.
const (
	putPrimary   uint64 = iota // to a replica of the preference list
	putFallback                // to a fallback, holding a hint for a down replica
	putLocalHint               // to this node, keeping a hint that does not count
)

// putFSM coordinates one write: a replica issues the new version, then the
// resulting object goes to the other replicas, or for a down replica to a
// fallback that keeps it as a hint (sloppy quorum). It answers after W acks
// (and PW of them from primaries); replicas still silent after that get a
// hint kept by this node.
type putFSM struct {
	cfg       CoordinatorConfig
	view      *View
	req       *PutRequest
	client    *actor.PID
	partition int
	pref      []string // current replicas: their acks count toward W
	extra     []string // replicas of the next ring during a transition
	tally     *quorum.Tally
	primaries int // primary acks, for PW
	hinted    int
	object    *internalpb.Object
	hintedFor map[string]bool // replicas something already holds a hint for
	history   vclock.Clock
	answered  bool
	done      bool
}

type replicaDeadline struct{}

func (f *putFSM) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		f.start(ctx)
	case *internalpb.CoordinatePutReply:
		f.coordinated(ctx, m)
	case *internalpb.ReplicaPutReply:
		f.replied(m)
		f.progress(ctx)
	case deadline:
		f.finish(ctx, &QuorumError{Op: "put", Summary: f.tally.Summary(), TimedOut: !f.impossible()})
	case replicaDeadline:
		f.finish(ctx, nil)
	}
}

func (f *putFSM) replied(m *internalpb.ReplicaPutReply) {
	switch m.RequestId {
	case putPrimary:
		if !slices.Contains(f.pref, m.Node) {
			return // an extra replica of the next ring: its ack does not count
		}
		if m.Error != "" {
			f.tally.Fail(m.Node, errors.New(m.Error))
		} else if f.tally.Ack(m.Node) {
			f.primaries++
		}
	case putFallback:
		if m.Error != "" {
			f.tally.Fail(m.HintFor, fmt.Errorf("fallback %s: %s", m.Node, m.Error))
		} else if f.tally.Ack(m.HintFor) {
			f.hinted++
		}
	}
}

func (f *putFSM) start(ctx actor.Context) {
	f.partition = f.view.Ring.PartitionForKey(f.req.Key)
	f.pref, f.extra = f.view.Transition.WriteReplicas(f.partition)
	w := min(f.req.W, len(f.pref))
	f.tally = quorum.NewTally(len(f.pref), max(w, 1))
	f.hintedFor = map[string]bool{}
	sendSelfAfter(ctx, f.req.Timeout, deadline{})
	// Prefer this node as the coordinating replica: no extra hop.
	coord := ""
	for _, id := range f.pref {
		if id == f.view.Self {
			coord = id
			break
		}
		if coord == "" && f.view.Up(id) {
			coord = id
		}
	}
	if coord == "" {
		f.finish(ctx, fmt.Errorf("put: %w (%d replicas: %v)", ErrNoReplica, len(f.pref), f.pref))
		return
	}
	ctx.Request(f.view.vnodePID(coord, f.partition), &internalpb.CoordinatePut{
		Partition: uint32(f.partition), Key: f.req.Key, Value: f.req.Value, Deleted: f.req.Deleted,
		Context: object.ClockToProto(f.req.Context), WrittenAt: time.Now().UnixNano(),
	})
}

func (f *putFSM) coordinated(ctx actor.Context, m *internalpb.CoordinatePutReply) {
	if m.Error != "" {
		f.finish(ctx, fmt.Errorf("put: replica %s: %s", m.Node, m.Error))
		return
	}
	if f.tally.Ack(m.Node) {
		f.primaries++
	}
	f.object = m.Object
	dot := object.DotFromProto(m.Dot)
	f.history = vclock.Advance(f.req.Context, dot, time.Now().UnixNano())
	put := func(to string, kind uint64, hintFor string) {
		ctx.Request(f.view.vnodePID(to, f.partition), &internalpb.ReplicaPut{
			Partition: uint32(f.partition), Key: f.req.Key, Object: m.Object, HintFor: hintFor, RequestId: kind, Sender: f.view.sender(),
		})
	}
	for _, id := range f.extra {
		if f.view.Up(id) {
			put(id, putPrimary, "")
		}
	}
	standIns := f.view.standIns(f.partition, f.pref)
	for _, id := range f.pref {
		switch {
		case id == m.Node:
		case f.view.Up(id):
			put(id, putPrimary, "")
		case standIns[id] != "":
			put(standIns[id], putFallback, id)
			f.hintedFor[id] = true
		default:
			// No node outside the preference list is up (a 3-node cluster
			// with N=3): keep the hint here; it does not count toward W.
			f.localHint(ctx, id)
			f.tally.Fail(id, fmt.Errorf("down; hint kept by %s", f.view.Self))
		}
	}
	f.progress(ctx)
}

// localHint keeps the write on this node for replica id.
func (f *putFSM) localHint(ctx actor.Context, id string) {
	if f.hintedFor[id] || f.object == nil {
		return
	}
	f.hintedFor[id] = true
	ctx.Request(f.view.localVnodePID(f.partition), &internalpb.ReplicaPut{
		Partition: uint32(f.partition), Key: f.req.Key, Object: f.object, HintFor: id, HintOnly: true, RequestId: putLocalHint, Sender: f.view.sender(),
	})
}

func (f *putFSM) pwMet() bool { return f.primaries >= f.req.PW }

// impossible reports that W (or PW) can no longer be reached.
func (f *putFSM) impossible() bool {
	return f.tally.Impossible() || f.primaries+f.tally.Pending() < f.req.PW
}

func (f *putFSM) progress(ctx actor.Context) {
	switch {
	case f.tally.Met() && f.pwMet():
		if !f.answered {
			f.answer(ctx, nil)
			if f.tally.Pending() > 0 {
				sendSelfAfter(ctx, f.cfg.ReplicaTimeout, replicaDeadline{})
			}
		}
		if f.tally.Pending() == 0 {
			f.finish(ctx, nil)
		}
	case f.impossible() && f.tally.Pending() == 0:
		// Failing only once every replica has answered makes the error
		// report the true count; the deadline bounds the wait.
		f.finish(ctx, &QuorumError{Op: "put", Summary: f.putSummary()})
	}
}

func (f *putFSM) putSummary() string {
	if f.req.PW > 0 && !f.pwMet() {
		return fmt.Sprintf("%d of %d primaries acknowledged (pw needed %d); %s", f.primaries, len(f.pref), f.req.PW, f.tally.Summary())
	}
	return f.tally.Summary()
}

func (f *putFSM) answer(ctx actor.Context, err error) {
	if f.answered {
		return
	}
	f.answered = true
	res := &PutResult{Err: err}
	if f.tally != nil {
		res.Acks, res.Hinted = f.tally.Acks(), f.hinted
	}
	if err == nil {
		res.Context = f.history
	}
	ctx.Send(f.client, res)
}

// finish answers (if not yet answered), keeps a hint here for every replica
// that has neither acked nor a hint elsewhere, and stops.
func (f *putFSM) finish(ctx actor.Context, err error) {
	if f.done {
		return
	}
	f.done = true
	f.answer(ctx, err)
	for _, id := range f.pref {
		if f.tally != nil && !f.tally.Acked(id) {
			f.localHint(ctx, id)
		}
	}
	ctx.Stop(ctx.Self())
}

// getFSM asks every replica, answers after R replies with the reconciled
// object, then waits briefly for the rest and repairs stale replicas.
type getFSM struct {
	cfg       CoordinatorConfig
	view      *View
	req       *GetRequest
	client    *actor.PID
	partition int
	pref      []string
	tally     *quorum.Tally
	replies   map[string][]object.Sibling
	standsFor map[string]string // fallback -> the down primary it answers for
	merged    []object.Sibling
	answered  bool
	stopped   bool
}

type repairWindowOver struct{}

func (f *getFSM) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		f.partition = f.view.Ring.PartitionForKey(f.req.Key)
		f.pref = f.view.Ring.PreferenceListForPartition(f.partition, f.cfg.N)
		f.tally = quorum.NewTally(len(f.pref), max(min(f.req.R, len(f.pref)), 1))
		f.replies = map[string][]object.Sibling{}
		f.standsFor = map[string]string{}
		sendSelfAfter(ctx, f.req.Timeout, deadline{})
		// A fallback that took writes for a down primary answers in its place.
		standIns := f.view.standIns(f.partition, f.pref)
		get := &internalpb.ReplicaGet{Partition: uint32(f.partition), Key: f.req.Key}
		for _, id := range f.pref {
			switch {
			case f.view.Up(id):
				ctx.Request(f.view.vnodePID(id, f.partition), get)
			case standIns[id] != "":
				f.standsFor[standIns[id]] = id
				ctx.Request(f.view.vnodePID(standIns[id], f.partition), get)
			default:
				f.tally.Fail(id, errors.New("down"))
			}
		}
		f.progress(ctx)
	case *internalpb.ReplicaGetReply:
		set, err := object.FromProto(m.Object)
		if m.Error != "" {
			err = errors.New(m.Error)
		}
		replica := m.Node
		if target, ok := f.standsFor[m.Node]; ok {
			replica = target
		}
		if err != nil {
			f.tally.Fail(replica, err)
		} else if f.tally.Ack(replica) {
			f.replies[m.Node] = set
			f.merged = object.Merge(f.merged, set)
		}
		f.progress(ctx)
	case deadline:
		if !f.answered {
			f.answered = true
			ctx.Send(f.client, &GetResult{Replied: f.tally.Acks(), Err: &QuorumError{Op: "get", Summary: f.tally.Summary(), TimedOut: !f.tally.Impossible()}})
		}
		f.repairAndStop(ctx)
	case repairWindowOver:
		f.repairAndStop(ctx)
	}
}

func (f *getFSM) progress(ctx actor.Context) {
	switch {
	case f.tally.Met() && !f.answered:
		f.answered = true
		ctx.Send(f.client, &GetResult{Siblings: f.merged, Replied: f.tally.Acks()})
		if f.tally.Pending() > 0 {
			sendSelfAfter(ctx, f.cfg.ReadRepairWindow, repairWindowOver{})
			return
		}
		f.repairAndStop(ctx)
	case f.tally.Impossible() && f.tally.Pending() == 0 && !f.answered:
		f.answered = true
		ctx.Send(f.client, &GetResult{Replied: f.tally.Acks(), Err: &QuorumError{Op: "get", Summary: f.tally.Summary()}})
		f.repairAndStop(ctx)
	case f.answered && f.tally.Pending() == 0:
		f.repairAndStop(ctx)
	}
}

// repairAndStop sends the reconciled object to every replica that answered
// with less than it (read repair), then stops.
func (f *getFSM) repairAndStop(ctx actor.Context) {
	if f.stopped {
		return
	}
	f.stopped = true
	if len(f.merged) > 0 {
		obj := object.ToProto(f.merged)
		now := time.Now()
		for id, set := range f.replies {
			if f.cfg.Reap.Spread(f.merged, set, now) {
				ctx.Send(f.view.vnodePID(id, f.partition), &internalpb.ReplicaPut{Partition: uint32(f.partition), Key: f.req.Key, Object: obj, Sender: f.view.sender()})
			}
		}
	}
	f.replies = nil
	ctx.Stop(ctx.Self())
}

// replicasFSM reads each replica of a key as it is, for inspection.
type replicasFSM struct {
	view      *View
	n         int
	req       *ReplicasRequest
	client    *actor.PID
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
		ctx.Send(f.client, f.result)
		ctx.Stop(ctx.Self())
	}
}
