package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/quorum"
	"github.com/harmoniakv/harmonia/cluster/vclock"
	"github.com/harmoniakv/harmonia/internal/wallclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

// The requests the client API makes of a node: puts, gets and replica
// reads through the coordinator, and the test-only replica write.

func (s *System) timeout(ctx context.Context, d time.Duration) time.Duration {
	if d <= 0 {
		d = s.cfg.RequestTimeout
	}
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl))
	}
	return max(d, time.Millisecond)
}

// ask sends req to the coordinator and waits for its answer; the state
// machine enforces timeout, and ask waits a little longer so the state
// machine's own answer (with its count of replies) wins.
func (s *System) ask(req any, timeout time.Duration) (any, error) {
	const grace = time.Second
	reply := make(chan any, 1)
	s.actors.Root.Send(s.coordinator, clientRequest{req: req, reply: reply})
	t := time.NewTimer(timeout + grace)
	defer t.Stop()
	select {
	case res := <-reply:
		if err, ok := res.(error); ok {
			return nil, err
		}
		return res, nil
	case <-t.C:
		return nil, fmt.Errorf("coordinator did not answer within %v: %w", timeout+grace, context.DeadlineExceeded)
	case <-s.stopped:
		return nil, errors.New("the node is stopping")
	}
}

// Quorum parses a quorum spec against this node's N with the given default.
func (s *System) Quorum(spec string, def int) (int, error) { return quorum.Parse(spec, s.cfg.N, def) }

// Put runs a write through the coordinator.
func (s *System) Put(ctx context.Context, req PutRequest) (*PutResult, error) {
	if req.W == 0 {
		req.W = s.cfg.W
	}
	req.Timeout = s.timeout(ctx, req.Timeout)
	res, err := s.ask(&req, req.Timeout)
	if err != nil {
		return nil, err
	}
	out := res.(*PutResult)
	return out, out.Err
}

// Get runs a read through the coordinator.
func (s *System) Get(ctx context.Context, req GetRequest) (*GetResult, error) {
	if req.R == 0 {
		req.R = s.cfg.R
	}
	req.Timeout = s.timeout(ctx, req.Timeout)
	res, err := s.ask(&req, req.Timeout)
	if err != nil {
		return nil, err
	}
	out := res.(*GetResult)
	return out, out.Err
}

// Strong runs op on the consensus register of key (issue 21): its
// partition's primary replicas agree on it by Paxos (cluster/paxos). The
// result's Outcome says how it ended; an error means it could not run (a
// bad key or value, a node stopping: no effect) or its state machine
// crashed (it may or may not have taken effect, like OutcomeUnavailable).
func (s *System) Strong(ctx context.Context, key []byte, op paxos.Op) (paxos.Result, error) {
	if err := s.store.CheckKey(key); err != nil {
		return paxos.Result{}, err
	}
	if err := s.tables.Catalog().CheckStrongKey(key); err != nil {
		return paxos.Result{}, err
	}
	if err := s.store.CheckValue(op.Data); err != nil {
		return paxos.Result{}, err
	}
	if err := op.CheckFromClient(); err != nil {
		return paxos.Result{}, err
	}
	req := &StrongRequest{Key: key, Op: op, Timeout: s.timeout(ctx, 0)}
	if op.Kind == paxos.OpGet {
		started := time.Now()
		if out, settled := s.strongRead(key, op, req.Timeout); settled {
			return out.Result, out.Err
		}
		req.Timeout = max(req.Timeout-time.Since(started), time.Millisecond)
	}
	res, err := s.ask(req, req.Timeout)
	if err != nil {
		return paxos.Result{}, err
	}
	out := res.(*StrongResult)
	return out.Result, out.Err
}

// Replicas reads every replica of a key as it is.
func (s *System) Replicas(ctx context.Context, key []byte) (*ReplicasResult, error) {
	req := &ReplicasRequest{Key: key, Timeout: s.timeout(ctx, 2*time.Second)}
	res, err := s.ask(req, req.Timeout)
	if err != nil {
		return nil, err
	}
	return res.(*ReplicasResult), nil
}

// Alone reports whether this node must not serve keys yet
// (membership.View.Alone): it knows other members, or was given seeds, but
// has heard from none since it started.
func (s *System) Alone() bool {
	return s.view.Load().Alone(s.cfg.Gossip.Seeds, s.ownAddrs...)
}

// WriteReplica writes a version of key to this node's replica alone, as a
// put coordinated here whose other replicas were all unreachable; it
// returns the context of the version written. Tests use it to make replicas
// diverge.
func (s *System) WriteReplica(key, value []byte, clock vclock.Clock, deleted bool) (vclock.Clock, error) {
	p := s.view.Load().Ring.PartitionForKey(key)
	now := wallclock.Now().UnixNano()
	req := &internalpb.CoordinatePut{Partition: uint32(p), Key: key, Value: value, Deleted: deleted,
		Context: object.ClockToProto(clock), WrittenAt: now}
	res, err := s.actors.Root.RequestFuture(actor.NewPID(s.actors.Address(), vnodeName(p)), req, s.cfg.RequestTimeout).Result()
	if err != nil {
		return nil, fmt.Errorf("vnode %d did not answer: %w", p, err)
	}
	reply := res.(*internalpb.CoordinatePutReply)
	if reply.Error != "" {
		return nil, errors.New(reply.Error)
	}
	return vclock.Advance(clock, object.DotFromProto(reply.Dot), now), nil
}
