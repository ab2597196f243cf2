package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/quorum"
	"github.com/harmoniakv/harmonia/cluster/reap"
	"github.com/harmoniakv/harmonia/cluster/vclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"github.com/harmoniakv/harmonia/persistence"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Config describes one node. Start from DefaultConfig.
type Config struct {
	NodeID      string
	ClusterAddr string // host:port of the remote layer; advertised verbatim
	ClientAddr  string // advertised to peers for status output
	Partitions  int    // Q, default 64; every node of a cluster must agree
	N           int    // replicas per key, default 3
	R, W        int    // default read and write quorums, default 2 and 2
	// RequestTimeout bounds a client request that gives no timeout. Default 5 s.
	RequestTimeout time.Duration
	// MaxClockEntries bounds vector clocks (see vclock.Prune).
	MaxClockEntries int
	Coordinator     CoordinatorConfig
	Gossip          GossipConfig
	Handoff         HandoffConfig
	Hints           HintConfig
	Repair          RepairConfig
	Reap            reap.Config
	// TreeRebuildRate bounds the stored keys per second the node reads to
	// rebuild its Merkle trees after a start, so a restart does not flood
	// the disk (0: unbounded). Default 100,000.
	TreeRebuildRate int
	// MaxMessageSize bounds one remote batch; it must hold
	// RemoteBatchSize objects of the largest allowed value.
	MaxMessageSize  int
	RemoteBatchSize int
	// RemoteQueueSize bounds each peer's outgoing queue (protoactor
	// preallocates it).
	RemoteQueueSize int
	Logger          *slog.Logger
	// LibraryLogger receives protoactor's own logs, which report every
	// failed connection attempt to a down peer; nil discards them.
	LibraryLogger *slog.Logger

	// SecretFingerprints name the cluster secrets this node opens client
	// contexts with, the one it seals with first, one-way
	// (causal.Sealer.Fingerprints; server.Start sets them). Nodes that
	// cannot open each other's contexts must not form one cluster.
	SecretFingerprints []string
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Partitions:      64,
		N:               3,
		R:               2,
		W:               2,
		RequestTimeout:  5 * time.Second,
		MaxClockEntries: 64,
		Coordinator:     CoordinatorConfig{ReadRepairWindow: 200 * time.Millisecond, ReplicaTimeout: time.Second},
		Gossip:          GossipConfig{Interval: time.Second, CheckInterval: 250 * time.Millisecond, Membership: membership.DefaultConfig()},
		Handoff:         DefaultHandoffConfig(),
		Hints:           DefaultHintConfig(),
		Repair:          DefaultRepairConfig(),
		Reap:            reap.DefaultConfig(),
		TreeRebuildRate: 100_000,
		MaxMessageSize:  256 << 20,
		RemoteBatchSize: 64,
		RemoteQueueSize: 100_000,
	}
}

// System is one node's actor system, remote endpoint and actor tree. Its
// methods are how the client API talks to the actors.
type System struct {
	cfg    Config
	store  *persistence.Store
	actors *actor.ActorSystem
	remote *remote.Remote
	view   *viewHolder
	root   *actor.PID
	log    *slog.Logger

	gossip       *Gossiper
	transfers    *transferTable
	hintCounters *hintCounters
	restarts     atomic.Uint64
	repairs      *repairTable
	counters     *vnodeCounters
	reaps        *reapTable

	rootReady, vnodesReady, gossiperReady *readySignal
	// fatal receives the one error that ends the node (refused at join).
	fatal     chan error
	fatalOnce sync.Once
}

// Fatal delivers an error when the node cannot go on, e.g. the cluster
// refused it at join; the process should stop and report it.
func (s *System) Fatal() <-chan error { return s.fatal }

func (s *System) failWith(err error) {
	s.fatalOnce.Do(func() { s.fatal <- err })
}

// nodeRoot supervises the node's top-level actors.
type nodeRoot struct {
	sys *System
}

// readySignal is closed once; Start waits on it so that no request is sent
// to an actor whose spawn is still in progress.
type readySignal struct {
	once sync.Once
	ch   chan struct{}
}

func newReadySignal() *readySignal { return &readySignal{ch: make(chan struct{})} }

func (r *readySignal) done() { r.once.Do(func() { close(r.ch) }) }

func (n *nodeRoot) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*actor.Started); !ok {
		return
	}
	s := n.sys
	id := s.store.Identity()
	// The generation changes with every start of the process.
	generation := time.Now().UnixNano()
	// Vnodes restart on failure; they reload from pebble, so a restart loses
	// nothing. Ten failures within ten seconds stop the vnode.
	vnodeSupervision := actor.WithSupervisor(actor.NewOneForOneStrategy(10, 10*time.Second, actor.DefaultDecider))
	spawn := func(p *actor.Props, name string) {
		if _, err := ctx.SpawnNamed(p, name); err != nil {
			panic(fmt.Sprintf("spawn %s: %v", name, err))
		}
	}
	spawn(actor.PropsFromProducer(func() actor.Actor {
		return &vnodes{partitions: s.cfg.Partitions, store: s.store, view: s.view, maxEntries: s.cfg.MaxClockEntries, counters: s.counters, treeRebuildRate: s.cfg.TreeRebuildRate, ready: s.vnodesReady}
	}, vnodeSupervision), "vnodes")
	spawn(actor.PropsFromProducer(func() actor.Actor {
		return &coordinator{cfg: s.cfg.Coordinator, reap: s.cfg.Reap, view: s.view, log: s.log}
	}), "coordinator")
	// A crashed transfer restarts and resumes from its saved cursor.
	transferSupervision := actor.WithSupervisor(actor.NewOneForOneStrategy(10, 10*time.Second, actor.DefaultDecider))
	spawn(actor.PropsFromProducer(func() actor.Actor {
		return &handoff{cfg: s.cfg.Handoff, self: id.NodeID, store: s.store, view: s.view, gossip: s.gossip, table: s.transfers}
	}, transferSupervision), "handoff")
	// A crashed exchange or reap round is stopped, not restarted in place;
	// its parent starts a new one.
	spawn(actor.PropsFromProducer(func() actor.Actor {
		return &repair{cfg: s.cfg.Repair, reap: s.cfg.Reap, view: s.view, table: s.repairs, maxPairs: s.cfg.Partitions * max(s.cfg.N-1, 1)}
	}, stopOnCrash()), "repair")
	spawn(actor.PropsFromProducer(func() actor.Actor {
		return &reaper{cfg: s.cfg.Reap, view: s.view, store: s.store, gossip: s.gossip, table: s.reaps}
	}, stopOnCrash()), "reaper")
	if s.cfg.Hints.Enabled {
		// A crashed replay worker restarts and reads the durable queue again.
		replaySupervision := actor.WithSupervisor(actor.NewOneForOneStrategy(10, 10*time.Second, actor.DefaultDecider))
		spawn(actor.PropsFromProducer(func() actor.Actor {
			return &hints{cfg: s.cfg.Hints, store: s.store, view: s.view, counters: s.hintCounters}
		}, replaySupervision), "hints")
	}
	spawn(actor.PropsFromProducer(func() actor.Actor {
		return &gossiper{handoff: actor.NewPID(s.actors.Address(), handoffName), ready: s.gossiperReady, cfg: s.cfg.Gossip, partitions: s.cfg.Partitions, n: s.cfg.N,
			params: membership.Params{Partitions: s.cfg.Partitions, Replicas: s.cfg.N, SecretFingerprints: s.cfg.SecretFingerprints}, fail: s.failWith,
			store: s.store, view: s.view, log: s.log, self: id.NodeID, generation: generation,
			app: map[string]string{
				membership.KeyClusterAddr: s.cfg.ClusterAddr,
				membership.KeyClientAddr:  s.cfg.ClientAddr,
				membership.KeyIncarnation: strconv.FormatUint(id.Incarnation, 10),
				membership.KeyProtocol:    strconv.Itoa(membership.ProtocolVersion),
				membership.KeyStatus:      "normal",
			}}
	}), "gossiper")
	s.rootReady.done()
}

// startTimeout bounds how long spawning the actor tree may take.
const startTimeout = 10 * time.Second

// Start brings up the node's actors on an open store.
func Start(cfg Config, store *persistence.Store) (*System, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	host, portStr, err := net.SplitHostPort(cfg.ClusterAddr)
	if err != nil {
		return nil, fmt.Errorf("cluster address %q: %w", cfg.ClusterAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("cluster address %q: bad port", cfg.ClusterAddr)
	}
	logger := cfg.Logger
	libLogger := cfg.LibraryLogger
	if libLogger == nil {
		libLogger = slog.New(slog.DiscardHandler)
	}
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return libLogger }))
	r := remote.NewRemote(sys, remote.Configure(host, port,
		remote.WithEndpointWriterBatchSize(cfg.RemoteBatchSize),
		remote.WithEndpointWriterQueueSize(cfg.RemoteQueueSize),
		remote.WithEndpointManagerQueueSize(cfg.RemoteQueueSize),
		remote.WithServerOptions(
			grpc.MaxRecvMsgSize(cfg.MaxMessageSize),
			grpc.ChainStreamInterceptor(recoverStream(logger)),
			grpc.ChainUnaryInterceptor(refuseUnary(logger)),
		),
		remote.WithDialOptions(
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(cfg.MaxMessageSize), grpc.MaxCallSendMsgSize(cfg.MaxMessageSize)),
		),
		// Give up on an unreachable peer after two tries instead of five: the
		// gossiper, not the transport, decides liveness.
		func(c *remote.Config) { c.MaxRetryCount = 2 },
	))
	s := &System{cfg: cfg, store: store, actors: sys, remote: r, view: &viewHolder{}, log: logger,
		rootReady: newReadySignal(), vnodesReady: newReadySignal(), gossiperReady: newReadySignal(),
		transfers: &transferTable{m: map[int]TransferProgress{}}, hintCounters: &hintCounters{replayed: map[string]int64{}}, repairs: &repairTable{},
		counters: &vnodeCounters{refused: refusals{log: logger}}, reaps: &reapTable{}, fatal: make(chan error, 1)}
	r.Start()
	s.gossip = &Gossiper{root: sys.Root, pid: actor.NewPID(sys.Address(), gossiperName)}
	root, err := sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &nodeRoot{sys: s} }), nodeName)
	if err != nil {
		r.Shutdown(true)
		sys.Shutdown()
		return nil, fmt.Errorf("spawn node: %w", err)
	}
	s.root = root
	gossiperPID := actor.NewPID(sys.Address(), gossiperName)
	sys.EventStream.Subscribe(func(evt any) {
		switch e := evt.(type) {
		case *remote.EndpointTerminatedEvent:
			sys.Root.Send(gossiperPID, endpointLost{addr: e.Address})
		case *actor.SupervisorEvent:
			if e.Directive == actor.RestartDirective {
				s.restarts.Add(1)
			}
			logger.Warn("actor failed", "actor", e.Child.Id, "directive", e.Directive.String(), "reason", fmt.Sprint(e.Reason))
		}
	})
	// Wait until every actor is spawned and the gossiper has published the
	// first view.
	timeout := time.After(startTimeout)
	for _, ready := range []*readySignal{s.rootReady, s.vnodesReady, s.gossiperReady} {
		select {
		case <-ready.ch:
		case <-timeout:
			s.Stop()
			return nil, fmt.Errorf("node did not start within %v", startTimeout)
		}
	}
	s.gossip.Start()
	if cfg.Hints.Enabled {
		hintsPID := actor.NewPID(sys.Address(), hintsName)
		s.gossip.RegisterEventHandler(func(e membership.Event) {
			if e.Kind == membership.EventUp {
				sys.Root.Send(hintsPID, hintCheck{})
			}
		})
	}
	return s, nil
}

// Leave publishes that this node leaves the ring: its partitions move to
// the other members, then it is left.
func (s *System) Leave() { s.gossip.setControl(membership.KeyStatus, membership.RingLeaving) }

// Remove publishes that this node removes dead member id: its partitions
// are rebuilt on the other members, then it is left.
func (s *System) Remove(id string) {
	s.gossip.setControl(membership.KeyRemovedPrefix+id, membership.RingLeaving)
}

// CrashVnode makes partition p's vnode panic once (tests of supervision).
func (s *System) CrashVnode(p int) {
	s.actors.Root.Send(actor.NewPID(s.actors.Address(), vnodeName(p)), crashVnode{})
}

// Repair runs anti-entropy exchanges now (partition -1: all this node
// holds; peer "": every other replica) and returns their results.
func (s *System) Repair(partition int, peer string, timeout time.Duration) ([]ExchangeResult, error) {
	reply := make(chan []ExchangeResult, 1)
	s.actors.Root.Send(actor.NewPID(s.actors.Address(), repairName), repairNow{partition: partition, peer: peer, reply: reply})
	select {
	case res := <-reply:
		return res, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("repair did not finish within %v", timeout)
	}
}

// RepairTotals sums this process's anti-entropy exchanges.
func (s *System) RepairTotals() RepairTotals { return s.repairs.get() }

// Restarts counts actors restarted by their supervisors.
func (s *System) Restarts() uint64 { return s.restarts.Load() }

// HintsReplayed returns the hints this process delivered, per target.
func (s *System) HintsReplayed() map[string]int64 { return s.hintCounters.Replayed() }

// Transfers returns the transition under way and this node's incoming
// partition transfers.
func (s *System) Transfers() (string, []TransferProgress) { return s.transfers.Snapshot() }

// Gossiper returns the node's membership API.
func (s *System) Gossiper() *Gossiper { return s.gossip }

// recoverStream keeps a malformed or unknown message from crashing the node:
// protoactor's remote handler dereferences nil on an unregistered type.
func recoverStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("remote stream handler panicked", "method", info.FullMethod, "panic", r)
				err = fmt.Errorf("remote handler panic: %v", r)
			}
		}()
		return handler(srv, ss)
	}
}

// refuseUnary answers every unary call on the cluster port with
// Unimplemented: nodes talk over the Receive stream only, and protoactor's
// unary methods (ListProcesses, GetProcessDiagnostics) panic when called.
func refuseUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(_ context.Context, _ any, info *grpc.UnaryServerInfo, _ grpc.UnaryHandler) (any, error) {
		log.Warn("refused a unary call on the cluster port", "method", info.FullMethod)
		return nil, status.Errorf(codes.Unimplemented, "%s is not served by this node", info.FullMethod)
	}
}

// Stop stops the actors (vnodes first, through the tree), then the remote
// layer, then the actor system. The store stays open; the caller closes it.
func (s *System) Stop() {
	if s.root != nil {
		_ = s.actors.Root.StopFuture(s.root).Wait()
	}
	s.remote.Shutdown(true)
	s.actors.Shutdown()
}

// Config returns the node's configuration.
func (s *System) Config() Config { return s.cfg }

// View returns the current membership and ring.
func (s *System) View() *View { return s.view.Load() }

// CheckKey and CheckValue apply the store's size limits to a client's key
// and value. They are the one place limits are checked: a client's write is
// admitted (or not) before any replica sees it, and replicas take what
// another node admitted.
func (s *System) CheckKey(key []byte) error     { return s.store.CheckKey(key) }
func (s *System) CheckValue(value []byte) error { return s.store.CheckValue(value) }

// HintStats returns the hints this node keeps, by target.
func (s *System) HintStats() map[string]persistence.HintStats { return s.store.HintStats() }

// OldestHint returns when this node's oldest hint for target was kept.
func (s *System) OldestHint(target string) (time.Time, bool) { return s.store.OldestHint(target) }

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
// machine enforces timeout, and the future waits a little longer so the
// state machine's own answer (with its count of replies) wins.
func (s *System) ask(req any, timeout time.Duration) (any, error) {
	const grace = time.Second
	res, err := s.actors.Root.RequestFuture(actor.NewPID(s.actors.Address(), coordinatorName), req, timeout+grace).Result()
	if err != nil {
		return nil, fmt.Errorf("coordinator did not answer: %w", err)
	}
	return res, nil
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

// Replicas reads every replica of a key as it is.
func (s *System) Replicas(ctx context.Context, key []byte) (*ReplicasResult, error) {
	req := &ReplicasRequest{Key: key, Timeout: s.timeout(ctx, 2*time.Second)}
	res, err := s.ask(req, req.Timeout)
	if err != nil {
		return nil, err
	}
	return res.(*ReplicasResult), nil
}

// Alone reports whether this node must not serve keys yet: it knows other
// members, or was given seeds, but has heard from none since it started.
// Alone, its ring would hold only itself and take every key at a quorum of
// one; and a restarted node's saved view may be stale (it may even have
// been removed while it was down), so it waits for the cluster's word.
func (s *System) Alone() bool {
	v := s.view.Load()
	others := false
	for id, m := range v.Members {
		if id == v.Self || m.Status == membership.Left {
			continue
		}
		if m.HeartbeatAge >= 0 {
			return false
		}
		others = true
	}
	return others || slices.ContainsFunc(s.cfg.Gossip.Seeds, func(seed string) bool { return seed != s.cfg.ClusterAddr })
}

// WriteReplica writes a version of key to this node's replica alone, as a
// put coordinated here whose other replicas were all unreachable; it
// returns the context of the version written. Tests use it to make replicas
// diverge.
func (s *System) WriteReplica(key, value []byte, clock vclock.Clock, deleted bool) (vclock.Clock, error) {
	p := s.view.Load().Ring.PartitionForKey(key)
	now := time.Now().UnixNano()
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
