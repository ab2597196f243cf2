package gossip

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/harmoniakv/harmonia/cluster/membership"
)

// Config tunes membership gossip. Start from DefaultConfig.
type Config struct {
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

// DefaultConfig returns the documented defaults: a round every second,
// liveness evaluated every 250 ms, membership.DefaultConfig, no seeds.
func DefaultConfig() Config {
	return Config{Interval: time.Second, CheckInterval: 250 * time.Millisecond, Membership: membership.DefaultConfig()}
}

// Messages from the Gossiper handle and the transport to the actor
// (in-process only).
type (
	gossipTick   struct{}
	gossipCheck  struct{}
	endpointLost struct{ addr string }
	gossipStart  struct{}
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
		handler EventHandler
	}
	gossipUnsubscribe struct{ id uint64 }
)

// Gossiper is the Go face of the gossiper actor: membership as a library,
// as a node uses it (Attach) or on its own (NewMember). Methods
// other than Join, GetState and Stop only send a message; none blocks on
// the network.
type Gossiper struct {
	root     *actor.RootContext
	pid      *actor.PID
	handlers atomic.Uint64 // the last handler id given out
	// shutdown ends what the handle owns besides the actor (a member's
	// actor system and endpoint); nil for a node's gossiper.
	shutdown func()
	stopOnce sync.Once
	stopped  chan struct{}
}

// ErrGossiperStopped is returned by calls after Stop.
var ErrGossiperStopped = errors.New("gossiper stopped")

func newGossiperHandle(root *actor.RootContext, pid *actor.PID, shutdown func()) *Gossiper {
	return &Gossiper{root: root, pid: pid, shutdown: shutdown, stopped: make(chan struct{})}
}

// Attach returns the handle of the gossiper actor at pid, which the node
// that spawned it (NewActor) uses, and the node's control of it. It
// forwards the losses of remote endpoints in sys to the gossiper.
func Attach(sys *actor.ActorSystem, pid *actor.PID) (*Gossiper, Control) {
	watchTransport(sys, pid)
	g := newGossiperHandle(sys.Root, pid, nil)
	return g, Control{g: g}
}

// watchTransport tells the gossiper at pid of every remote endpoint sys
// loses, so that it stops waiting for answers from there.
func watchTransport(sys *actor.ActorSystem, pid *actor.PID) {
	sys.EventStream.Subscribe(func(evt any) {
		if e, ok := evt.(*remote.EndpointTerminatedEvent); ok {
			sys.Root.Send(pid, endpointLost{addr: e.Address})
		}
	})
}

// Control publishes a node's control keys (membership.Key*: its place in
// the ring, its transfers, its hint count, its catalog revision), which
// only the node that runs the gossiper sets; users' keys go through
// Gossiper.UpdateState.
type Control struct{ g *Gossiper }

// Set publishes control key of this node.
func (c Control) Set(key, value string) { c.g.setControl(key, value) }

// Start begins periodic gossip rounds (a node's System starts them once
// its handlers are registered; NewMember starts them itself).
func (g *Gossiper) Start() { g.root.Send(g.pid, gossipStart{}) }

// Stop ends the gossiper for good: no more rounds or answers (peers soon
// see this member down), handlers hear nothing more, and a member made by
// NewMember closes its port. Join and GetState then return
// ErrGossiperStopped. Stop may be called more than once.
func (g *Gossiper) Stop() {
	g.stopOnce.Do(func() {
		close(g.stopped)
		_ = g.root.StopFuture(g.pid).Wait()
		if g.shutdown != nil {
			g.shutdown()
		}
	})
}

func (g *Gossiper) isStopped() bool {
	select {
	case <-g.stopped:
		return true
	default:
		return false
	}
}

// Join adds seeds (cluster addresses, as the seeds advertise them) and
// gossips with them at once. It returns how many answered before ctx ended
// or all did, and an error naming the silent ones if none did: an
// unreachable or refusing seed does not fail silently.
func (g *Gossiper) Join(ctx context.Context, seeds []string) (int, error) {
	if len(seeds) == 0 {
		return 0, errors.New("join: no seed given")
	}
	if g.isStopped() {
		return 0, ErrGossiperStopped
	}
	answered := make(chan string, len(seeds))
	g.root.Send(g.pid, gossipJoin{seeds: seeds, answered: answered})
	defer g.root.Send(g.pid, gossipJoinDone{answered: answered})
	heard := map[string]bool{}
	for len(heard) < len(seeds) {
		select {
		case addr := <-answered:
			heard[addr] = true
		case <-g.stopped:
			return len(heard), ErrGossiperStopped
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
	if g.isStopped() {
		return nil, ErrGossiperStopped
	}
	res, err := g.root.RequestFuture(g.pid, gossipGet{key: membership.UserKeyPrefix + key}, 5*time.Second).Result()
	if err != nil {
		return nil, fmt.Errorf("gossiper: %w", err)
	}
	return res.(map[string]string), nil
}

// EventHandler receives membership events: joined, up, suspect, down,
// left, restarted, ring-changed, place-taken-back, and state-changed (Key
// is a control key, or a user key with membership.UserKeyPrefix).
// HandleEvent runs on the gossiper's goroutine and must not block.
type EventHandler interface {
	HandleEvent(membership.Event)
}

// EventHandlerFunc is a function as an EventHandler.
type EventHandlerFunc func(membership.Event)

// HandleEvent calls f.
func (f EventHandlerFunc) HandleEvent(e membership.Event) { f(e) }

// EventChannel is an EventHandler that delivers events to a channel
// without ever blocking the gossiper: an event that finds the channel full
// is dropped and counted (size the buffer for bursts).
type EventChannel struct {
	c       chan<- membership.Event
	dropped atomic.Uint64
}

// NewEventChannel returns a handler that sends each event to c.
func NewEventChannel(c chan<- membership.Event) *EventChannel { return &EventChannel{c: c} }

// HandleEvent sends e, or drops it if the channel is full.
func (c *EventChannel) HandleEvent(e membership.Event) {
	select {
	case c.c <- e:
	default:
		c.dropped.Add(1)
	}
}

// Dropped counts the events that found the channel full.
func (c *EventChannel) Dropped() uint64 { return c.dropped.Load() }

// RegisterEventHandler passes every membership event the gossiper handles
// from now on to handler. The returned function removes the handler:
// events the gossiper handles after the removal do not reach it.
func (g *Gossiper) RegisterEventHandler(handler EventHandler) (remove func()) {
	id := g.handlers.Add(1)
	g.root.Send(g.pid, gossipSubscribe{id: id, handler: handler})
	return func() { g.root.Send(g.pid, gossipUnsubscribe{id: id}) }
}
