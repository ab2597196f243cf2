package actors

import (
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/harmoniakv/harmonia/actors/actorkit"
	"github.com/harmoniakv/harmonia/actors/gossip"
	"github.com/harmoniakv/harmonia/cluster/hlc"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/ring"
	"github.com/harmoniakv/harmonia/internal/wallclock"
	"github.com/harmoniakv/harmonia/persistence"
)

// System is one node's actor system, remote endpoint and actor tree. Its
// methods are how the client API talks to the actors.
type System struct {
	cfg Config
	// ownAddrs are this node's cluster addresses, as it listens and as it
	// advertises itself: seeds of its own that Alone does not wait for.
	ownAddrs []string
	store    *persistence.Store
	actors   *actor.ActorSystem
	remote   *remote.Remote
	// stopTransport ends the remote layer and the actor system (actorkit.StartTransport).
	stopTransport func()
	view          *viewHolder
	root          *actor.PID
	// coordinator is the coordinator's PID, resolved once.
	coordinator *actor.PID
	log         *slog.Logger
	// stamps is the node's hybrid logical clock (last-writer-wins tables).
	stamps *stampClock

	gossip  *gossip.Gossiper
	control gossip.Control
	// dispatcher runs the request path's mailboxes (vnodes, coordinator,
	// request state machines) on long-lived goroutines.
	dispatcher   *workerDispatcher
	transfers    *transferTable
	hintCounters *hintCounters
	restarts     atomic.Uint64
	failures     failureTable
	requests     requestCounters
	strongReads  strongReads
	repairs      *repairTable
	counters     *vnodeCounters
	reaps        *reapTable
	tables       *Tables
	expiry       expiry

	rootReady, vnodesReady, gossiperReady *actorkit.ReadySignal
	// fatal receives the one error that ends the node (refused at join).
	fatal     chan error
	fatalOnce sync.Once
	// stopped is closed by Stop, for the goroutines the node starts.
	stopped  chan struct{}
	stopOnce sync.Once
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

func (n *nodeRoot) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*actor.Started); !ok {
		return
	}
	s := n.sys
	id := s.store.Identity()
	// The generation changes with every start of the process.
	generation := wallclock.Now().UnixNano()
	// Vnodes restart on failure; they reload from pebble, so a restart loses
	// nothing. Ten failures within ten seconds stop the vnode.
	vnodeSupervision := actor.WithSupervisor(actor.NewOneForOneStrategy(10, 10*time.Second, actor.DefaultDecider))
	spawn := func(p *actor.Props, name string) {
		if _, err := ctx.SpawnNamed(p, name); err != nil {
			panic(fmt.Sprintf("spawn %s: %v", name, err))
		}
	}
	spawn(actorkit.Props(func() actor.Actor {
		return &vnodes{dispatcher: s.dispatcher, partitions: s.cfg.Partitions, store: s.store, view: s.view, catalog: s.tables.holder, maxEntries: s.cfg.MaxClockEntries, counters: s.counters, stamps: s.stamps, treeRebuildRate: s.cfg.TreeRebuildRate, ready: s.vnodesReady}
	}, vnodeSupervision), "vnodes")
	spawn(actorkit.Props(func() actor.Actor {
		return &coordinator{cfg: s.cfg.Coordinator, reap: s.cfg.Reap, view: s.view, store: s.store, log: s.log, failures: &s.failures, counters: &s.requests, dispatcher: s.dispatcher, faults: faultsOf(s.cfg)}
	}, actor.WithDispatcher(s.dispatcher)), "coordinator")
	// Strong gets settled by their read round are answered here; the
	// actor keeps no state, so it restarts on failure.
	spawn(actorkit.Props(func() actor.Actor { return strongReadsActor{reads: &s.strongReads} }, actor.WithDispatcher(s.dispatcher)), "strong-reads")
	// A crashed transfer restarts and resumes from its saved cursor.
	transferSupervision := actor.WithSupervisor(actor.NewOneForOneStrategy(10, 10*time.Second, actor.DefaultDecider))
	spawn(actorkit.Props(func() actor.Actor {
		return &handoff{cfg: s.cfg.Handoff, self: id.NodeID, log: s.log, store: s.store, view: s.view, tables: s.tables.holder, control: s.control, table: s.transfers}
	}, transferSupervision), "handoff")
	// A crashed exchange or reap round is stopped, not restarted in place;
	// its parent starts a new one.
	spawn(actorkit.Props(func() actor.Actor {
		return &repair{cfg: s.cfg.Repair, reap: s.cfg.Reap, view: s.view, table: s.repairs, maxPairs: s.cfg.Partitions * max(s.cfg.N-1, 1), faults: faultsOf(s.cfg)}
	}, actorkit.StopOnCrash()), "repair")
	// A crashed rebuild is stopped, and started again under a new PID.
	spawn(actorkit.Props(func() actor.Actor {
		return &acceptorRebuild{cfg: s.cfg.Handoff, self: id.NodeID, store: s.store, view: s.view, tables: s.tables.holder, log: s.log}
	}, actorkit.StopOnCrash()), "acceptor-rebuild")
	spawn(actorkit.Props(func() actor.Actor {
		return &reaper{cfg: s.cfg.Reap, view: s.view, store: s.store, control: s.control, table: s.reaps}
	}, actorkit.StopOnCrash()), "reaper")
	if s.cfg.Hints.Enabled {
		// A crashed replay worker restarts and reads the durable queue again.
		replaySupervision := actor.WithSupervisor(actor.NewOneForOneStrategy(10, 10*time.Second, actor.DefaultDecider))
		spawn(actorkit.Props(func() actor.Actor {
			return &hints{cfg: s.cfg.Hints, store: s.store, view: s.view, catalog: s.tables.holder, counters: s.hintCounters, faults: faultsOf(s.cfg)}
		}, replaySupervision), "hints")
	}
	spawn(actorkit.Props(func() actor.Actor {
		handoff := actor.NewPID(s.actors.Address(), handoffName)
		return gossip.NewActor(gossip.ActorConfig{Ready: s.gossiperReady, Config: s.cfg.Gossip,
			Params: membership.Params{Partitions: s.cfg.Partitions, Replicas: s.cfg.N, SecretFingerprints: s.cfg.SecretFingerprints}, Fail: s.failWith,
			Members: s.store, Acceptors: s.store, HintCount: s.store.HintCount, Log: s.log, Self: id.NodeID, Generation: generation,
			Publish: func(v *membership.View) { s.view.Store(&View{View: *v}) },
			Transition: func(t *ring.Transition, allSeen bool) {
				s.actors.Root.Send(handoff, transitionUpdate{t: t, ready: allSeen})
			},
			App: map[string]string{
				membership.KeyClusterAddr: s.cfg.advertised(),
				membership.KeyClientAddr:  s.cfg.advertisedClient(),
				membership.KeyIncarnation: strconv.FormatUint(id.Incarnation, 10),
				membership.KeyProtocol:    strconv.Itoa(membership.ProtocolVersion),
				membership.KeyStatus:      "normal",
			}})
	}), "gossiper")
	s.rootReady.Done()
}

// startTimeout bounds how long spawning the actor tree may take.
const startTimeout = 10 * time.Second

// Start brings up the node's actors on an open store.
func Start(cfg Config, store *persistence.Store) (*System, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Stamps == (hlc.Config{}) {
		cfg.Stamps = hlc.DefaultConfig()
	}
	stamps, err := newStampClock(store.Identity().NodeID, cfg.Stamps)
	if err != nil {
		return nil, err
	}
	sys, r, stopTransport, err := actorkit.StartTransport(actorkit.Transport{Addr: cfg.ClusterAddr, Advertise: cfg.AdvertiseAddr, ServerTLS: cfg.RemoteServerTLS, DialTLS: cfg.RemoteDialTLS, Limits: cfg.ConnLimits, BatchSize: cfg.RemoteBatchSize, QueueSize: cfg.RemoteQueueSize,
		MaxMessage: cfg.MaxMessageSize, Logger: cfg.Logger, LibraryLogger: cfg.LibraryLogger})
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	s := &System{cfg: cfg, store: store, actors: sys, remote: r, stopTransport: stopTransport, view: &viewHolder{}, log: logger, stamps: stamps, dispatcher: newWorkerDispatcher(dispatcherThroughput),
		rootReady: actorkit.NewReadySignal(), vnodesReady: actorkit.NewReadySignal(), gossiperReady: actorkit.NewReadySignal(),
		transfers: &transferTable{m: map[int]TransferProgress{}}, hintCounters: &hintCounters{replayed: map[string]int64{}}, repairs: &repairTable{},
		counters: &vnodeCounters{refused: refusals{log: logger}}, reaps: &reapTable{}, fatal: make(chan error, 1), stopped: make(chan struct{}),
		ownAddrs: []string{cfg.advertised(), cfg.ClusterAddr}}
	s.gossip, s.control = gossip.Attach(sys, actor.NewPID(sys.Address(), gossip.Name))
	holder, err := loadCatalog(s)
	if err != nil {
		stopTransport()
		return nil, err
	}
	s.tables = newTables(s, cfg.Tables, holder)
	root, err := sys.Root.SpawnNamed(actorkit.Props(func() actor.Actor { return &nodeRoot{sys: s} }), nodeName)
	if err != nil {
		stopTransport()
		return nil, fmt.Errorf("spawn node: %w", err)
	}
	s.root = root
	s.coordinator = actor.NewPID(sys.Address(), coordinatorName)
	sys.EventStream.Subscribe(func(evt any) {
		switch e := evt.(type) {
		case *actor.SupervisorEvent:
			if e.Directive == actor.RestartDirective {
				s.restarts.Add(1)
			}
			s.failures.add(e.Child.Id, e.Directive.String())
			logger.Warn("actor failed", "actor", e.Child.Id, "directive", e.Directive.String(), "reason", fmt.Sprint(e.Reason))
		}
	})
	// Wait until every actor is spawned and the gossiper has published the
	// first view.
	timeout := time.After(startTimeout)
	for _, ready := range []*actorkit.ReadySignal{s.rootReady, s.vnodesReady, s.gossiperReady} {
		select {
		case <-ready.C():
		case <-timeout:
			s.Stop()
			return nil, fmt.Errorf("node did not start within %v", startTimeout)
		}
	}
	// Handlers before the first round: a rejoining node learns at its
	// first exchange that it takes its place back.
	s.gossip.RegisterEventHandler(gossip.EventHandlerFunc(func(e membership.Event) {
		if e.Kind == membership.EventPlaceTakenBack {
			go s.rebuild()
		}
	}))
	if cfg.Hints.Enabled {
		hintsPID := actor.NewPID(sys.Address(), hintsName)
		s.gossip.RegisterEventHandler(gossip.EventHandlerFunc(func(e membership.Event) {
			if e.Kind == membership.EventUp {
				sys.Root.Send(hintsPID, hintCheck{})
			}
		}))
	}
	s.tables.start()
	go s.runExpiry()
	s.gossip.Start()
	return s, nil
}

// rebuild copies this node's replicas back after it took its place in the
// ring back with an empty data directory: a repair round of every partition
// it holds with every other replica, then again until a round has every
// exchange done (the first may come before it hears its peers up, or
// before they know its new incarnation and take its writes).
func (s *System) rebuild() {
	retry := time.NewTicker(max(2*s.cfg.Gossip.Interval, time.Second))
	defer retry.Stop()
	for round := 1; ; round++ {
		select {
		case <-s.stopped:
			return
		case <-retry.C:
		}
		results, err := s.Repair(-1, "", time.Hour)
		failed, keys := 0, uint64(0)
		for _, r := range results {
			if r.Err != nil {
				failed++
			}
			keys += r.KeysLocal
		}
		if err == nil && len(results) > 0 && failed == 0 {
			s.log.Info("replicas copied back after taking its place back", "rounds", round, "keys copied in the last round", keys)
			return
		}
		s.log.Info("copying replicas back", "round", round, "exchanges", len(results), "failed", failed, "keys copied", keys, "err", err)
	}
}

// Stop stops the gossiper (peers see the node down while the rest closes),
// then the other actors through the tree, then the remote layer, then the
// actor system. The store stays open; the caller closes it.
func (s *System) Stop() {
	s.stopOnce.Do(func() { close(s.stopped) })
	s.gossip.Stop()
	if s.root != nil {
		_ = s.actors.Root.StopFuture(s.root).Wait()
	}
	s.stopTransport()
}
