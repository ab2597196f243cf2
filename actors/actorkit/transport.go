package actorkit

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/harmoniakv/harmonia/internal/connlimits"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Transport describes an actor system's remote endpoint: a node's, or a
// gossip-only member's (gossip.NewMember).
type Transport struct {
	Addr      string // host:port to listen on
	Advertise string // host:port peers reach it at; empty: Addr
	// ServerTLS and DialTLS, when set, make the port mutual TLS: what it
	// accepts, and what it presents and checks when it dials a peer.
	ServerTLS, DialTLS *tls.Config
	// Limits bound each accepted connection; the zero value leaves gRPC's
	// defaults (a gossip-only member's).
	Limits     connlimits.Limits
	BatchSize  int // 0: protoactor's default
	QueueSize  int // 0: protoactor's default
	MaxMessage int // 0: grpc's default
	Logger     *slog.Logger
	// LibraryLogger receives protoactor's own logs; nil discards them.
	LibraryLogger *slog.Logger
}

// StartTransport starts an actor system and its remote endpoint on t.Addr,
// guarded so that no input on the port ends the process (remote_guard.go).
// The returned stop ends both, closing the inbound gate first (inboundGate).
func StartTransport(t Transport) (*actor.ActorSystem, *remote.Remote, func(), error) {
	host, portStr, err := net.SplitHostPort(t.Addr)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("cluster address %q: %w", t.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("cluster address %q: bad port", t.Addr)
	}
	logger, libLogger := t.Logger, t.LibraryLogger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if libLogger == nil {
		libLogger = slog.New(slog.DiscardHandler)
	}
	// WithServerOptions and WithDialOptions replace earlier lists: one each.
	gate := &inboundGate{}
	server := []grpc.ServerOption{
		grpc.ChainStreamInterceptor(recoverStream(logger), gate.interceptor()),
		grpc.ChainUnaryInterceptor(refuseUnary(logger)),
	}
	if t.Limits != (connlimits.Limits{}) {
		server = append(server, t.Limits.ServerOptions()...)
	}
	dial := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithChainStreamInterceptor(closeOnStreamError)}
	if t.ServerTLS != nil && t.DialTLS != nil {
		server = append(server, grpc.Creds(credentials.NewTLS(t.ServerTLS)))
		dial[0] = grpc.WithTransportCredentials(credentials.NewTLS(t.DialTLS))
	}
	if t.MaxMessage > 0 {
		server = append(server, grpc.MaxRecvMsgSize(t.MaxMessage))
		dial = append(dial, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(t.MaxMessage), grpc.MaxCallSendMsgSize(t.MaxMessage)))
	}
	opts := []remote.ConfigOption{
		remote.WithServerOptions(server...),
		remote.WithDialOptions(dial...),
		// Give up on an unreachable peer after two tries instead of five:
		// the gossiper, not the transport, decides liveness. The second
		// try, 2 s after the first, carries what was sent to a peer
		// while it restarted (closeOnStreamError keeps the first try's
		// connection from leaking).
		func(c *remote.Config) { c.MaxRetryCount = 2 },
	}
	if t.Advertise != "" {
		opts = append(opts, remote.WithAdvertisedHost(t.Advertise))
	}
	if t.BatchSize > 0 {
		opts = append(opts, remote.WithEndpointWriterBatchSize(t.BatchSize))
	}
	if t.QueueSize > 0 {
		opts = append(opts, remote.WithEndpointWriterQueueSize(t.QueueSize), remote.WithEndpointManagerQueueSize(t.QueueSize))
	}
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return libLogger }))
	r := remote.NewRemote(sys, remote.Configure(host, port, opts...))
	if err := startRemote(r); err != nil {
		sys.Shutdown()
		return nil, nil, nil, fmt.Errorf("listen on %s: %w", t.Addr, err)
	}
	stop := func() {
		gate.close()
		r.Shutdown(true)
		sys.Shutdown()
	}
	return sys, r, stop, nil
}

// closeOnStreamError closes a connection to a peer once its stream fails.
// protoactor's endpoint writer keeps each connection try in one field and
// closes only the last when it stops, so a failed try's connection would
// stay open, redialling a dead peer for the life of the process
// (actors' TestUnreachablePeerLeavesNoConnection); the writer gives up a
// connection whose stream failed in any case.
func closeOnStreamError(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		cc.Close()
		return nil, err
	}
	return &closingStream{ClientStream: s, cc: cc}, nil
}

// closingStream closes its connection when a send or receive fails.
type closingStream struct {
	grpc.ClientStream
	cc *grpc.ClientConn
}

func (s *closingStream) SendMsg(m any) error {
	err := s.ClientStream.SendMsg(m)
	if err != nil {
		s.cc.Close()
	}
	return err
}

func (s *closingStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		s.cc.Close()
	}
	return err
}

// startRemote starts r; protoactor panics when it cannot listen.
func startRemote(r *remote.Remote) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	r.Start()
	return nil
}
