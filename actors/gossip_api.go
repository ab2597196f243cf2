package actors

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/membership"
)

// GossipConfig tunes membership gossip.
type GossipConfig struct {
	// Interval between gossip rounds. Default 1 s.
	Interval time.Duration
	// CheckInterval is how often liveness is evaluated besides every round,
	// so that a member is marked down when its phi crosses the threshold,
	// not up to a round later. Default 250 ms.
	CheckInterval time.Duration
	Membership    membership.Config
	// Seeds are cluster addresses to gossip with when no member is live,
	// and now and then anyway (so that split groups find each other).
	Seeds []string
}

// Messages from the Gossiper handle and the transport to the actor
// (in-process only).
type (
	gossipTick   struct{}
	gossipCheck  struct{}
	endpointLost struct{ addr string }
	gossipStart  struct{}
	gossipStop   struct{}
	// gossipJoin adds seeds and gossips with them at once; answered gets
	// the address of each seed that answers (once, until cancelled).
	gossipJoin struct {
		seeds    []string
		answered chan string
	}
	gossipJoinDone  struct{ answered chan string }
	gossipUpdate    struct{ key, value string }
	gossipGet       struct{ key string }
	gossipSubscribe struct {
		id      uint64
		handler func(membership.Event)
	}
	gossipUnsubscribe struct{ id uint64 }
)

// Gossiper is the Go face of the gossiper actor: the seed design's API.
// Every method only sends a message; none blocks on the network.
type Gossiper struct {
	root     *actor.RootContext
	pid      *actor.PID
	handlers atomic.Uint64 // the last handler id given out
}

// Start begins periodic gossip rounds (a node's System starts them).
func (g *Gossiper) Start() { g.root.Send(g.pid, gossipStart{}) }

// Stop pauses gossip rounds; the node then looks dead to its peers.
func (g *Gossiper) Stop() { g.root.Send(g.pid, gossipStop{}) }

// Join adds seeds (cluster addresses, as the seeds advertise them) and
// gossips with them at once. It returns how many answered before ctx ended
// or all did, and an error naming the silent ones if none did: an
// unreachable or refusing seed does not fail silently.
func (g *Gossiper) Join(ctx context.Context, seeds []string) (int, error) {
	if len(seeds) == 0 {
		return 0, errors.New("join: no seed given")
	}
	answered := make(chan string, len(seeds))
	g.root.Send(g.pid, gossipJoin{seeds: seeds, answered: answered})
	defer g.root.Send(g.pid, gossipJoinDone{answered: answered})
	heard := map[string]bool{}
	for len(heard) < len(seeds) {
		select {
		case addr := <-answered:
			heard[addr] = true
		case <-ctx.Done():
			if len(heard) > 0 {
				return len(heard), nil
			}
			return 0, fmt.Errorf("join: no seed of %v answered: %w", seeds, ctx.Err())
		}
	}
	return len(heard), nil
}

// UpdateState publishes a value of this node's user state to the cluster.
// User keys live in a namespace of their own (membership.UserKeyPrefix):
// no key given here can change what the node itself publishes, such as its
// place in the ring.
func (g *Gossiper) UpdateState(key, value string) {
	g.setControl(membership.UserKeyPrefix+key, value)
}

// setControl publishes a control key of this node (membership.Key*).
func (g *Gossiper) setControl(key, value string) {
	g.root.Send(g.pid, gossipUpdate{key: key, value: value})
}

// GetState returns every known node's value for user key, by node id.
func (g *Gossiper) GetState(key string) (map[string]string, error) {
	res, err := g.root.RequestFuture(g.pid, gossipGet{key: membership.UserKeyPrefix + key}, 5*time.Second).Result()
	if err != nil {
		return nil, fmt.Errorf("gossiper: %w", err)
	}
	return res.(map[string]string), nil
}

// RegisterEventHandler calls handler for every membership event: joined,
// up, suspect, down, left, restarted, ring-changed, and state-changed (Key
// is a control key, or a user key with membership.UserKeyPrefix). Handlers
// run on the gossiper's goroutine and must not block. The returned function
// removes the handler: events the gossiper handles after the removal do not
// reach it.
func (g *Gossiper) RegisterEventHandler(handler func(membership.Event)) (remove func()) {
	id := g.handlers.Add(1)
	g.root.Send(g.pid, gossipSubscribe{id: id, handler: handler})
	return func() { g.root.Send(g.pid, gossipUnsubscribe{id: id}) }
}
