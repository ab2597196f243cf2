package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/actors/actorkit"
	"github.com/harmoniakv/harmonia/cluster/hlc"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/reap"
	"github.com/harmoniakv/harmonia/cluster/request"
	"github.com/harmoniakv/harmonia/cluster/vclock"
	"github.com/harmoniakv/harmonia/persistence"
)

// Requests the coordinator accepts from the client API (in-process only).
type (
	// PutRequest writes Value (or a tombstone) with the causal Context read.
	PutRequest struct {
		Key, Value []byte
		Deleted    bool
		Context    vclock.Clock
		// After is the stamp the client's context carried, for a key of a
		// last-writer-wins table: the write is stamped above it.
		After hlc.Timestamp
		// JustAfter stamps the write just above After, not at the
		// coordinator's clock: it wins over the version read and over no
		// write made later (the expiry of an item).
		JustAfter bool
		// DatatypeOps, for a key of a crdt table, are the operations
		// (datatypepb.DatatypeOps, encoded) its coordinator applies with
		// DatatypeContext (crdt.EncodeContext) instead of a value.
		DatatypeOps, DatatypeContext []byte
		// DatatypeBase is a state (crdt.Encode) read from other
		// replicas, which the coordinator merges into its own first.
		DatatypeBase []byte
		W            int
		// PW is how many of the acks must come from primaries; 0: none.
		PW      int
		Timeout time.Duration
	}
	PutResult struct {
		Acks    int          // toward W, primaries and fallbacks
		Hinted  int          // acks from fallbacks holding the write for a down primary
		Context vclock.Clock // history of the write just made
		// Stamp, for a key of a last-writer-wins table, is the highest
		// stamp the key had after the write: the write's own, unless a
		// higher one was there.
		Stamp hlc.Timestamp
		// Datatype, for a key of a crdt table, is the coordinating
		// replica's state just after the update (crdt.Encode).
		Datatype []byte
		Err      error
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
	// StrongRequest and StrongResult: strong_fsm.go.
)

// ErrRequestCrashed is the answer of a request whose state machine
// crashed: it was stopped, not restarted (a restart would send the write
// again), so the request may or may not have taken effect.
var ErrRequestCrashed = errors.New("the request's state machine crashed")

// ErrOverloaded reports a request refused, without having run, because
// too many others wait for the same resource.
var ErrOverloaded = errors.New("overloaded")

// CoordinatorConfig tunes request handling.
type CoordinatorConfig struct {
	// ReadRepairWindow is how long a get keeps waiting, after it has
	// answered, for the remaining replicas so it can repair stale ones.
	ReadRepairWindow time.Duration
	// ReplicaTimeout is how long a put keeps waiting, after it has
	// answered, for the remaining replicas; those that have not acked by
	// then get a hint kept by this node. Default 1 s.
	ReplicaTimeout time.Duration
	// AskAllReplicas makes a get, and a range read of an eventual table's
	// items, ask every replica at once, as Dynamo and Riak do, so that each
	// read repairs all of them. Default off: a read asks R replicas, its
	// own first, and anti-entropy repairs the rest.
	AskAllReplicas bool
	// SpeculativeRetry is how long a get or a range read waits for the
	// replicas it asked before it asks one more; 0: only when one fails.
	// Default 50 ms.
	SpeculativeRetry time.Duration
	// WholeRangeReads makes every replica a range read of an eventual
	// table's items asks answer with its objects. Default off: one
	// replica answers with its objects and the others with their objects'
	// versions (object.AppendEncodedVersions), read whole only when those
	// differ (itemop.ResolveVersions), so a page crosses the network once.
	WholeRangeReads bool
	// Strong tunes the proposers of strong keys.
	Strong StrongConfig
}

// coordinator accepts client requests and spawns one state machine per
// request, so a slow replica never blocks other requests. It supervises
// them (SupervisorStrategy): a state machine that crashes is stopped and
// its client told, never restarted to run its request a second time.
type coordinator struct {
	faults   Faults // injected to test recovery (Config.Faults); never nil
	cfg      CoordinatorConfig
	reap     reap.Config // the node's reaping rule: read repair follows its Spread
	view     *viewHolder
	store    *persistence.Store // the durable counter strong proposers take ballots from
	log      *slog.Logger
	failures *failureTable
	counters *requestCounters
	seq      uint64
	inflight map[string]*client // by state machine, until it stops
	// strong holds, by register key, the requests waiting behind the one
	// proposer this node runs for the key (strongKeys maps that
	// proposer's name to its key): a node's proposers never duel each
	// other for one key.
	strong     *request.KeyQueue[queuedStrong]
	strongKeys map[string]string
	held       *heldBallots
	// dispatcher runs the state machines' mailboxes.
	dispatcher actor.Dispatcher
}

// clientRequest is a request of this node's client API (System.Put, Get,
// Replicas) with the channel its one answer goes to: in-process only, so
// no future actor is registered and removed per request.
type clientRequest struct {
	req   any      // *PutRequest, *GetRequest, *StrongRequest or *ReplicasRequest
	reply chan any // buffered for the one answer
}

// client is whom a request state machine answers, and whether it has.
type client struct {
	reply    chan<- any
	answered atomic.Bool // the state machine and the coordinator race to answer
	request  any         // *PutRequest, *GetRequest, *StrongRequest or *ReplicasRequest
}

// failed is the result that tells the client its request failed.
func (c *client) failed(err error) any {
	switch c.request.(type) {
	case *PutRequest:
		return &PutResult{Err: err}
	case *GetRequest:
		return &GetResult{Err: err}
	case *StrongRequest:
		return &StrongResult{Err: err}
	}
	return &ReplicasResult{}
}

// answer gives the client msg unless it has had its answer.
func (c *client) answer(msg any) {
	if c.answered.CompareAndSwap(false, true) {
		c.reply <- msg
	}
}

type deadline struct{}

// requestCounters count what request state machines did for their
// replicas, for metrics.
type requestCounters struct {
	putReplicaTimeouts atomic.Uint64 // replicas that had not acked a put by the replica timeout
	speculativeAsks    atomic.Uint64 // replicas a get asked because those asked were slow
	readRepairs        atomic.Uint64 // replicas a get sent the reconciled object to
	// rangeRereads counts the replicas a range read read whole because
	// their versions differed from the page of objects it had.
	rangeRereads atomic.Uint64
	// strong counts strong requests by how they ended (paxos.Outcome);
	// strongRounds the rounds they lost and retried.
	strong       [numOutcomes]atomic.Uint64
	strongRounds atomic.Uint64
	strongHedges atomic.Uint64 // voters a strong round asked because those it asked first were slow
	// strongReadRounds counts the strong gets their read round settled
	// from the caller, without a state machine (strong_read.go).
	strongReadRounds atomic.Uint64
}

// numOutcomes is how many paxos.Outcome values there are.
const numOutcomes = int(paxos.OutcomeInvalid) + 1

// RequestCounts are requestCounters' values.
type RequestCounts struct {
	PutReplicaTimeouts, SpeculativeAsks, ReadRepairs uint64
	// RangeRereads counts the replicas range reads read whole because
	// their pages of versions differed from the page of objects read.
	RangeRereads uint64
	// Strong counts strong requests by outcome (paxos.Outcome's String);
	// StrongRoundsLost the rounds they lost and retried.
	Strong           map[string]uint64
	StrongRoundsLost uint64
	// StrongHedges counts the voters strong rounds asked because the
	// majority they asked first had not answered after StrongConfig.Hedge.
	StrongHedges uint64
	// StrongReadRounds counts the strong gets settled by their read round
	// alone, run from the caller without a state machine (a majority
	// agreed on a committed value).
	StrongReadRounds uint64
	// StampsNotFollowed counts the stamps of last-writer-wins writes this
	// node stored but did not advance its clock to: too far ahead of its
	// own (hlc.Config.MaxForwardDrift). A count that grows says a node's
	// clock is wrong.
	StampsNotFollowed uint64
}

func (c *coordinator) Receive(ctx actor.Context) {
	var producer actor.Producer
	var name string
	var cl *client
	switch m := ctx.Message().(type) {
	case clientRequest:
		view := c.view.Load()
		cl = &client{reply: m.reply, request: m.req}
		switch r := m.req.(type) {
		case *PutRequest:
			name, producer = "put-", func() actor.Actor {
				return &putFSM{cfg: c.cfg, view: view, req: r, client: cl, counters: c.counters, faults: c.faults}
			}
		case *GetRequest:
			name, producer = "get-", func() actor.Actor {
				return &getFSM{cfg: c.cfg, reap: c.reap, view: view, req: r, client: cl, counters: c.counters}
			}
		case *StrongRequest:
			c.queueStrong(ctx, queuedStrong{req: r, client: cl})
			return
		case *ReplicasRequest:
			name, producer = "replicas-", func() actor.Actor { return &replicasFSM{view: view, n: view.N, req: r, client: cl} }
		default:
			cl.answer(fmt.Errorf("unknown request %T", m.req))
			return
		}
	case *actor.Terminated:
		delete(c.inflight, m.Who.Id)
		if key, ok := c.strongKeys[m.Who.Id]; ok {
			delete(c.strongKeys, m.Who.Id)
			c.nextStrong(ctx, key)
		}
		return
	default:
		return
	}
	c.seq++
	pid, err := ctx.SpawnNamed(actorkit.Props(producer, actor.WithDispatcher(c.dispatcher)), name+itoa(int(c.seq)))
	if err != nil {
		cl.answer(cl.failed(fmt.Errorf("start the request: %w", err)))
		return
	}
	if c.inflight == nil {
		c.inflight = map[string]*client{}
	}
	c.inflight[pid.Id] = cl
}

// queuedStrong is a strong request waiting for its key's proposer.
type queuedStrong struct {
	req    *StrongRequest
	client *client
}

// queueStrong starts q's proposer, or queues q behind the one running for
// its key (request.KeyQueue).
func (c *coordinator) queueStrong(ctx actor.Context, q queuedStrong) {
	key := string(q.req.Key)
	if c.strong == nil {
		c.strong, c.strongKeys = request.NewKeyQueue[queuedStrong](c.cfg.Strong.MaxQueuedPerKey), map[string]string{}
	}
	switch c.strong.Enqueue(key, q, q.req.Timeout, time.Now()) {
	case request.QueueFull:
		q.client.answer(&StrongResult{Err: fmt.Errorf("%d requests already wait for this key on this node (StrongConfig.MaxQueuedPerKey): %w", c.strong.Waiting(key), ErrOverloaded)})
	case request.RunNow:
		c.startStrong(ctx, key, q)
	}
}

// nextStrong starts the next request waiting for key, once its proposer
// has stopped; a request whose time ran out while it waited ends without
// having run.
func (c *coordinator) nextStrong(ctx actor.Context, key string) {
	turn := c.strong.Done(key, time.Now())
	for _, q := range turn.Expired {
		q.client.answer(&StrongResult{Err: fmt.Errorf("waited %v behind other requests for this key and did not run: %w", q.req.Timeout, context.DeadlineExceeded)})
	}
	if !turn.Run {
		return
	}
	q := turn.Next
	r := *q.req
	r.Timeout = turn.Left
	q.req = &r
	c.startStrong(ctx, key, q)
}

func (c *coordinator) startStrong(ctx actor.Context, key string, q queuedStrong) {
	view := c.view.Load()
	if c.held == nil && c.cfg.Strong.HeldBallots > 0 {
		c.held = &heldBallots{max: c.cfg.Strong.HeldBallots}
	}
	c.seq++
	pid, err := ctx.SpawnNamed(actorkit.Props(func() actor.Actor {
		return &strongFSM{cfg: c.cfg.Strong, view: view, views: c.view, store: c.store, req: q.req, client: q.client, counters: c.counters, held: c.held}
	}, actor.WithDispatcher(c.dispatcher)), "strong-"+itoa(int(c.seq)))
	if err != nil {
		q.client.answer(q.client.failed(fmt.Errorf("start the request: %w", err)))
		c.nextStrong(ctx, key)
		return
	}
	if c.inflight == nil {
		c.inflight = map[string]*client{}
	}
	c.inflight[pid.Id] = q.client
	c.strongKeys[pid.Id] = key
}

// HandleFailure decides for the coordinator's children, as protoactor asks
// a child's parent: the crashed state machine is stopped, and its client
// gets ErrRequestCrashed unless it had its answer.
func (c *coordinator) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, msg any) {
	sup.StopChildren(child)
	c.failures.add(child.Id, actor.StopDirective.String())
	c.log.Warn("request state machine crashed and was stopped", "actor", child.Id, "reason", fmt.Sprint(reason), "message", fmt.Sprintf("%T", msg))
	if cl := c.inflight[child.Id]; cl != nil {
		cl.answer(cl.failed(fmt.Errorf("%w (%v): it may or may not have taken effect", ErrRequestCrashed, reason)))
	}
}
