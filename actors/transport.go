package actors

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

// transport describes an actor system's remote endpoint: a node's, or a
// gossip-only member's (NewMember).
type transport struct {
	addr      string // host:port to listen on
	advertise string // host:port peers reach it at; empty: addr
	// serverTLS and dialTLS, when set, make the port mutual TLS: what it
	// accepts, and what it presents and checks when it dials a peer.
	serverTLS, dialTLS *tls.Config
	// limits bound each accepted connection; the zero value leaves gRPC's
	// defaults (a gossip-only member's).
	limits     connlimits.Limits
	batchSize  int // 0: protoactor's default
	queueSize  int // 0: protoactor's default
	maxMessage int // 0: grpc's default
	logger     *slog.Logger
	// libraryLogger receives protoactor's own logs; nil discards them.
	libraryLogger *slog.Logger
}

// startTransport starts an actor system and its remote endpoint, guarded
// so that no input on the port ends the process (remote_guard.go).
// startTransport starts an actor system and its remote layer on t.addr. The
// returned stop ends both, closing the inbound gate first (inboundGate).
func startTransport(t transport) (*actor.ActorSystem, *remote.Remote, func(), error) {
	host, portStr, err := net.SplitHostPort(t.addr)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("cluster address %q: %w", t.addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("cluster address %q: bad port", t.addr)
	}
	logger, libLogger := t.logger, t.libraryLogger
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
	if t.limits != (connlimits.Limits{}) {
		server = append(server, t.limits.ServerOptions()...)
	}
	dial := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithChainStreamInterceptor(closeOnStreamError)}
	if t.serverTLS != nil && t.dialTLS != nil {
		server = append(server, grpc.Creds(credentials.NewTLS(t.serverTLS)))
		dial[0] = grpc.WithTransportCredentials(credentials.NewTLS(t.dialTLS))
	}
	if t.maxMessage > 0 {
		server = append(server, grpc.MaxRecvMsgSize(t.maxMessage))
		dial = append(dial, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(t.maxMessage), grpc.MaxCallSendMsgSize(t.maxMessage)))
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
	if t.advertise != "" {
		opts = append(opts, remote.WithAdvertisedHost(t.advertise))
	}
	if t.batchSize > 0 {
		opts = append(opts, remote.WithEndpointWriterBatchSize(t.batchSize))
	}
	if t.queueSize > 0 {
		opts = append(opts, remote.WithEndpointWriterQueueSize(t.queueSize), remote.WithEndpointManagerQueueSize(t.queueSize))
	}
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return libLogger }))
	r := remote.NewRemote(sys, remote.Configure(host, port, opts...))
	if err := startRemote(r); err != nil {
		sys.Shutdown()
		return nil, nil, nil, fmt.Errorf("listen on %s: %w", t.addr, err)
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
// (TestUnreachablePeerLeavesNoConnection); the writer gives up a
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
