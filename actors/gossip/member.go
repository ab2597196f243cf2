package gossip

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/actors/actorkit"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/proto"
)

// memoryMembers is a Store that forgets at the end of the process.
type memoryMembers struct {
	mu   sync.Mutex
	snap *internalpb.MembershipSnapshot
}

func (m *memoryMembers) Members() (*internalpb.MembershipSnapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.snap == nil {
		return &internalpb.MembershipSnapshot{}, nil
	}
	return proto.Clone(m.snap).(*internalpb.MembershipSnapshot), nil
}

func (m *memoryMembers) SaveMembers(s *internalpb.MembershipSnapshot) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.snap = proto.Clone(s).(*internalpb.MembershipSnapshot)
	return nil
}

// MemberConfig describes a gossip member that runs without the rest of a
// node (NewMember): no vnodes, no store, no ring. Start from
// DefaultMemberConfig.
type MemberConfig struct {
	// ID names the member; it must be unique in the cluster.
	ID string
	// Addr is the host:port the member listens on; peers reach it there,
	// so it is advertised verbatim (use a routable host, not 0.0.0.0).
	Addr string
	// Gossip tunes rounds and failure detection; Gossip.Seeds are joined
	// at start without waiting for them (Join waits).
	Gossip Config
	// Params must be equal on every member: gossip with a peer whose
	// parameters differ is refused both ways. Partitions 0: no ring.
	Params membership.Params
	// State is the member's user state at start (see UpdateState).
	State map[string]string
	// Logger receives membership events; nil discards them.
	Logger *slog.Logger
}

// DefaultMemberConfig returns the documented defaults for member id
// listening on addr: gossip every second, failure detection as
// membership.DefaultConfig, no seeds.
func DefaultMemberConfig(id, addr string) MemberConfig {
	return MemberConfig{ID: id, Addr: addr, Gossip: DefaultConfig()}
}

// startTimeout bounds how long NewMember waits for its gossiper to start.
const startTimeout = 10 * time.Second

// NewMember starts a gossip member on an actor system and remote endpoint
// of its own and begins its rounds. It takes part in membership like a
// node's gossiper (Scuttlebutt rounds, phi-accrual failure detection,
// identity and parameter checks) but holds no data. Stop ends it and
// closes its port.
func NewMember(cfg MemberConfig) (*Gossiper, error) {
	if cfg.ID == "" {
		return nil, errors.New("member: empty id")
	}
	if cfg.Params.Partitions != 0 {
		return nil, errors.New("member: a gossip-only member has no ring; leave Params.Partitions 0")
	}
	if cfg.Gossip.Interval <= 0 {
		return nil, fmt.Errorf("member %s: gossip interval %v must be positive", cfg.ID, cfg.Gossip.Interval)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sys, _, shutdown, err := actorkit.StartTransport(actorkit.Transport{Addr: cfg.Addr, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("member %s: %w", cfg.ID, err)
	}
	app := map[string]string{
		membership.KeyClusterAddr: cfg.Addr,
		membership.KeyProtocol:    strconv.Itoa(membership.ProtocolVersion),
	}
	for k, v := range cfg.State {
		app[membership.UserKeyPrefix+k] = v
	}
	ready := actorkit.NewReadySignal()
	g := NewActor(ActorConfig{Config: cfg.Gossip, Self: cfg.ID, App: app, Generation: time.Now().UnixNano(),
		Params: cfg.Params, Members: &memoryMembers{}, Log: logger, Ready: ready})
	pid, err := sys.Root.SpawnNamed(actorkit.Props(func() actor.Actor { return g }), Name)
	if err != nil {
		shutdown()
		return nil, fmt.Errorf("member %s: spawn gossiper: %w", cfg.ID, err)
	}
	watchTransport(sys, pid)
	select {
	case <-ready.C():
	case <-time.After(startTimeout):
		shutdown()
		return nil, fmt.Errorf("member %s: gossiper did not start within %v", cfg.ID, startTimeout)
	}
	h := newGossiperHandle(sys.Root, pid, shutdown)
	h.Start()
	return h, nil
}
