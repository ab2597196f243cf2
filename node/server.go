package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"strings"
	"time"

	"github.com/harmoniakv/harmonia/actors"
	"github.com/harmoniakv/harmonia/cluster/causal"
	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/internal/certs"
	"github.com/harmoniakv/harmonia/internal/wallclock"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"github.com/harmoniakv/harmonia/node/dynamodb"
	"github.com/harmoniakv/harmonia/node/dynamodb/sigv4"
	"github.com/harmoniakv/harmonia/node/metrics"
	"github.com/harmoniakv/harmonia/node/statuspage"
	"github.com/harmoniakv/harmonia/persistence"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// Config is a node's whole configuration.
type Config struct {
	DataDir  string
	HTTPAddr string // empty: no HTTP endpoint
	// DynamoDBAddr is where the DynamoDB-compatible endpoint listens
	// (node/dynamodb); empty: none. Without
	// DynamoDBCredentials it verifies no signatures, so it must be a
	// loopback address unless Insecure.
	DynamoDBAddr string
	// DynamoDBCredentials are the access keys the DynamoDB endpoint
	// verifies each request's signature (AWS SigV4) against; with them
	// it may listen on any address. Default none: no verification.
	DynamoDBCredentials sigv4.Credentials
	// UnsafeTestWrites enables the test-only admin calls: WriteReplica,
	// which writes one replica alone (tests make replicas diverge with
	// it), and CrashVnode. Default off.
	UnsafeTestWrites bool
	// ClockOffset sets this node's wall clock that far from the machine's
	// (internal/wallclock), for tests of clock skew; it needs
	// UnsafeTestWrites. Default 0.
	ClockOffset time.Duration
	// ClusterSecrets authenticate the causal contexts handed to clients
	// (cluster/causal): the first seals, every one is accepted, and every
	// node of a cluster needs the same list. Default: the built-in
	// causal.DefaultSecret, which is fit for local clusters and tests only.
	ClusterSecrets [][]byte
	// APIStreamWorkers are goroutines kept to serve client calls; a call
	// that finds none idle gets a goroutine of its own. Kept goroutines
	// keep their grown stacks (grpc.NumStreamWorkers), but only between
	// two garbage collections: the runtime halves the stack of a
	// goroutine that is idle when one runs, and grpc hands calls to its
	// idle workers in turn, so the more workers the more calls find their
	// stack shrunk and grow it again (with 256, nearly every Query did:
	// 5% of a node's CPU). Default 32: more than the calls a node usually
	// serves at once (64 clients over 3 nodes).
	APIStreamWorkers int
	// TLS turns on mutual TLS for the client API: clients must present a
	// certificate of TLS.CA, and admin calls need the admin role (see
	// internal/certs). Default off: plain gRPC, every caller trusted.
	TLS certs.Files
	// Insecure lets a node without TLS bind a cluster or client address
	// that is not loopback; without it such a node is refused at Start
	// (see Security). Default off.
	Insecure bool
	Store    persistence.Options
	Node     actors.Config
}

// DefaultAPIStreamWorkers is Config.APIStreamWorkers' default.
const DefaultAPIStreamWorkers = 32

// DefaultConfig returns the documented defaults of every part.
func DefaultConfig() Config {
	return Config{ClusterSecrets: [][]byte{[]byte(causal.DefaultSecret)}, APIStreamWorkers: DefaultAPIStreamWorkers, Store: persistence.DefaultOptions(), Node: actors.DefaultConfig()}
}

// Validate checks a configuration before Start, naming each setting by
// its flag, and settles what follows from others: R and W are at most N.
// Start runs it too; a program that embeds a node may call it first to
// tell a bad configuration from a failure to start.
func (c *Config) Validate() error {
	switch {
	case c.Node.NodeID == "" || c.DataDir == "":
		return errors.New("a node needs --node-id and --data-dir")
	case c.Node.Reap.Grace > 0 && c.Node.Reap.Interval <= 0:
		return errors.New("--reap-interval must be positive while --tombstone-grace is")
	case c.Node.N < 1 || c.Node.Partitions < 1 || c.Node.Handoff.Concurrency < 1 || c.Node.Handoff.BatchKeys < 1:
		return errors.New("--n, --partitions, --handoff-concurrency and --handoff-batch-keys must be at least 1")
	case c.Store.MinFreeBytes < 0:
		return fmt.Errorf("--min-free-disk must be 0 (no check) or more bytes, not %d", c.Store.MinFreeBytes)
	case c.Node.Coordinator.SpeculativeRetry < 0 || c.Node.Coordinator.Strong.Hedge < 0:
		return errors.New("--speculative-retry and --strong-hedge must be 0 (off) or more")
	case c.DynamoDBCredentials != nil && c.DynamoDBAddr == "":
		return errors.New("--dynamodb-credentials needs --dynamodb")
	}
	if err := membership.CheckID(c.Node.NodeID); err != nil {
		return fmt.Errorf("--node-id: %w", err)
	}
	if err := c.TLS.Check(); err != nil {
		return err
	}
	if err := c.Node.ConnLimits.Check(); err != nil {
		return err
	}
	c.Node.R = min(c.Node.R, c.Node.N)
	c.Node.W = min(c.Node.W, c.Node.N)
	return nil
}

// ConfigError reports a configuration Validate refused.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Server is a running node.
type Server struct {
	cfg   Config
	store *persistence.Store
	sys   *actors.System
	grpc  *grpc.Server
	http  *http.Server
	// dynamo serves the DynamoDB-compatible endpoint (nil without one).
	dynamo    *http.Server
	dynamoLis net.Listener
	lis       net.Listener
	log       *slog.Logger
	tls       *certs.Server // nil without TLS
	peers     *certs.Client // what the node presents to its peers; nil without TLS
}

// Start opens the store, starts the actors and begins serving clients.
func Start(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, &ConfigError{err}
	}
	log := cfg.Node.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
		cfg.Node.Logger = log
	}
	cfg.Store.Logger = log
	// Before anything is opened: a node that would trust callers from
	// other machines without being told to does not start.
	security, exposed, err := Security(context.Background(),
		[]Binding{{"--listen", cfg.Node.ClusterAddr}, {"--client", cfg.Node.ClientAddr}},
		cfg.TLS.Enabled(), cfg.Insecure, DefaultResolver)
	if err != nil {
		return nil, err
	}
	if err := DynamoDBSecurity(context.Background(), cfg.DynamoDBAddr, len(cfg.DynamoDBCredentials) > 0, cfg.Insecure, DefaultResolver); err != nil {
		return nil, err
	}
	if security == SecurityInsecure {
		log.Warn("running insecure (--insecure): no TLS, and other machines can reach this node, so every caller is trusted, admin calls included; give --tls-cert, --tls-key and --tls-ca outside a trusted network",
			"reachable", strings.Join(exposed, ", "))
	}
	if cfg.ClockOffset != 0 {
		if !cfg.UnsafeTestWrites {
			return nil, errors.New("--unsafe-test-clock-offset is for tests: give --unsafe-test-writes too")
		}
		if err := CheckClockOffset(cfg.ClockOffset); err != nil {
			return nil, err
		}
		log.Warn("this node's wall clock is set off the machine's for a test", "offset", cfg.ClockOffset)
	}
	wallclock.SetOffset(cfg.ClockOffset)
	sealer, err := causal.NewSealer(cfg.ClusterSecrets)
	if err != nil {
		return nil, err
	}
	if slices.ContainsFunc(cfg.ClusterSecrets, func(s []byte) bool { return string(s) == causal.DefaultSecret }) {
		log.Warn("contexts are authenticated with the built-in secret, so anyone can forge them; set --cluster-secret-file outside local tests")
	}
	cfg.Node.SecretFingerprints = sealer.Fingerprints()
	var tlsServer *certs.Server
	var tlsPeers *certs.Client
	if cfg.TLS.Enabled() {
		// The same files secure both ports: the client API, and the
		// cluster port, where peers must present node certificates.
		if tlsServer, err = certs.NewServer(cfg.TLS, log); err != nil {
			return nil, err
		}
		if tlsPeers, err = certs.NewClient(cfg.TLS, log); err != nil {
			return nil, err
		}
		cfg.Node.RemoteServerTLS, cfg.Node.RemoteDialTLS = tlsServer.NodeConfig(), tlsPeers.NodeConfig()
	}
	store, err := persistence.Open(cfg.DataDir, cfg.Node.NodeID, cfg.Store)
	if err != nil {
		return nil, err
	}
	if err := store.BindRing(cfg.Node.Partitions, cfg.Node.N); err != nil {
		store.Close()
		return nil, err
	}
	lis, err := net.Listen("tcp", cfg.Node.ClientAddr)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("listen for clients on %s: %w", cfg.Node.ClientAddr, err)
	}
	sys, err := actors.Start(cfg.Node, store)
	if err != nil {
		lis.Close()
		store.Close()
		return nil, err
	}
	s := &Server{cfg: cfg, store: store, sys: sys, lis: lis, log: log, tls: tlsServer, peers: tlsPeers}
	// Room for a maximal value plus key and context.
	maxMsg := cfg.Store.MaxValueSize + cfg.Store.MaxKeySize + 1<<20
	// One table service behind both front doors: the gRPC Table service's
	// item calls and the DynamoDB endpoint.
	tables := &tableService{sys: sys}
	a := &api{sys: sys, items: tables, sealer: sealer, unsafeTestWrites: cfg.UnsafeTestWrites, security: security}
	interceptors := []grpc.UnaryServerInterceptor{recoverUnary(log), refuseWhenFenced(sys)}
	serverOpts := cfg.Node.ConnLimits.ServerOptions()
	if s.tls != nil {
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(s.tls.Config())))
		interceptors = append(interceptors, authorize)
	}
	var reg *metrics.Registry
	if cfg.HTTPAddr != "" {
		src := metrics.Source{
			Status:        func(ctx context.Context) (*kvpb.StatusResponse, error) { return a.Status(ctx, &kvpb.StatusRequest{}) },
			ActorFailures: sys.ActorFailures,
			Requests:      sys.RequestCounts,
			Store:         store.Metrics,
			Presence:      store.PresenceStats,
		}
		if s.tls != nil {
			src.TLSRefused = func() map[string]uint64 {
				return map[string]uint64{"incoming": s.tls.Refused(), "outgoing": s.peers.Refused()}
			}
			src.TLSExpiry = s.tls.NotAfter
		}
		reg = metrics.New(src)
		// Outermost, so that it counts the calls the others fail too.
		interceptors = append([]grpc.UnaryServerInterceptor{reg.Interceptor()}, interceptors...)
	}
	s.grpc = grpc.NewServer(append(serverOpts, grpc.MaxRecvMsgSize(maxMsg), grpc.MaxSendMsgSize(cfg.Node.MaxMessageSize),
		grpc.NumStreamWorkers(uint32(max(cfg.APIStreamWorkers, 0))),
		grpc.ChainUnaryInterceptor(interceptors...))...)
	kvpb.RegisterKVServer(s.grpc, a)
	kvpb.RegisterAdminServer(s.grpc, a)
	kvpb.RegisterTableServer(s.grpc, a)
	go func() {
		if err := s.grpc.Serve(lis); err != nil {
			log.Error("client API stopped", "err", err)
		}
	}()
	if cfg.HTTPAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		mux.Handle("/metrics", reg.Handler())
		statuspage.Register(mux, func(ctx context.Context) (*kvpb.StatusResponse, error) { return a.Status(ctx, &kvpb.StatusRequest{}) })
		// Profiles for operators chasing latency; the HTTP address is opt-in.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		hl, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			s.Stop()
			return nil, fmt.Errorf("listen for HTTP on %s: %w", cfg.HTTPAddr, err)
		}
		// Every route is a GET: a request has its whole header and body
		// within ReadTimeout. No WriteTimeout, as a CPU profile streams for
		// its duration.
		s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
			IdleTimeout: cfg.Node.ConnLimits.IdleTimeout, MaxHeaderBytes: 64 << 10}
		go func() {
			if err := s.http.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("HTTP stopped", "err", err)
			}
		}()
	}
	if cfg.DynamoDBAddr != "" {
		dl, err := net.Listen("tcp", cfg.DynamoDBAddr)
		if err != nil {
			s.Stop()
			return nil, fmt.Errorf("listen for the DynamoDB endpoint on %s: %w", cfg.DynamoDBAddr, err)
		}
		s.dynamoLis = dl
		if len(cfg.DynamoDBCredentials) > 0 {
			log.Info("the DynamoDB endpoint verifies request signatures", "access_keys", len(cfg.DynamoDBCredentials))
		}
		dcfg := dynamodb.DefaultConfig()
		dcfg.Credentials, dcfg.Now = cfg.DynamoDBCredentials, wallclock.Now
		s.dynamo = &http.Server{Handler: dynamodb.New(tables, dcfg, log),
			ReadHeaderTimeout: dynamoReadTimeout, ReadTimeout: dynamoReadTimeout, IdleTimeout: cfg.Node.ConnLimits.IdleTimeout, MaxHeaderBytes: 64 << 10}
		go func() {
			if err := s.dynamo.Serve(dl); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("DynamoDB endpoint stopped", "err", err)
			}
		}()
	}
	return s, nil
}

// dynamoReadTimeout bounds how long a DynamoDB request may take to arrive,
// header and body (16 MiB at most).
const dynamoReadTimeout = 30 * time.Second

// DynamoDBAddr is where the DynamoDB-compatible endpoint listens ("" when
// there is none).
func (s *Server) DynamoDBAddr() string {
	if s.dynamoLis == nil {
		return ""
	}
	return s.dynamoLis.Addr().String()
}

// ReloadTLS reads the TLS files again (on SIGHUP); without TLS it does
// nothing. A failed reload keeps the certificates in use.
func (s *Server) ReloadTLS() error {
	if s.tls == nil {
		return nil
	}
	// Both read the same files: one error says it.
	if err := s.tls.Reload(); err != nil {
		return err
	}
	return s.peers.Reload()
}

// recoverUnary turns a panic in a client API handler into an Internal error
// for that call: no request may end the process.
func recoverUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("client API handler panicked", "method", info.FullMethod, "panic", r)
				resp, err = nil, status.Errorf(codes.Internal, "%s failed: internal error", info.FullMethod)
			}
		}()
		return handler(ctx, req)
	}
}

// refuseWhenFenced answers every call but Status with FailedPrecondition
// once this process is fenced: another process holds its node id, and
// peers send that one the traffic meant for the id.
func refuseWhenFenced(sys *actors.System) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if reason := sys.View().Fenced; reason != "" && info.FullMethod != kvpb.Admin_Status_FullMethodName {
			return nil, status.Errorf(codes.FailedPrecondition, "this process no longer serves: %s; stop it", reason)
		}
		return handler(ctx, req)
	}
}

// Fatal delivers an error when the node cannot go on (the cluster refused
// it at join); the caller should Stop and report it.
func (s *Server) Fatal() <-chan error { return s.sys.Fatal() }

// ClientAddr is where the client API listens.
func (s *Server) ClientAddr() string { return s.lis.Addr().String() }

// Stop stops serving, stops the actors and closes the store.
func (s *Server) Stop() {
	for _, h := range []*http.Server{s.http, s.dynamo} {
		if h != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			h.Shutdown(ctx)
			cancel()
		}
	}
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		s.grpc.Stop()
	}
	s.sys.Stop()
	if err := s.store.Close(); err != nil {
		s.log.Error("close store", "err", err)
	}
}
