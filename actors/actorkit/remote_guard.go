package actorkit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The cluster port serves protoactor's remote layer to peers only: these
// interceptors keep any input on it from ending the process.

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

// inboundGate ends the cluster port's inbound streams before protoactor's
// graceful shutdown. That shutdown sets a flag that every stream handler
// reads after each message without a lock: a data race whenever a peer is
// still sending, which is always the case in a cluster. Each handler holds
// the gate's read lock from the moment a message arrives until it asks for
// the next one; close takes the write lock, so it waits for every handler
// to finish the message in hand, and from then on an arriving message ends
// its stream instead of being handled.
type inboundGate struct {
	mu     sync.RWMutex
	closed bool
}

func (g *inboundGate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

func (g *inboundGate) interceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		gs := &gatedStream{ServerStream: ss, gate: g}
		defer gs.release()
		return handler(srv, gs)
	}
}

// gatedStream is one inbound stream under an inboundGate. Only its
// handler's goroutine receives on it.
type gatedStream struct {
	grpc.ServerStream
	gate *inboundGate
	held bool // the gate's read lock, held while a message is handled
}

func (s *gatedStream) release() {
	if s.held {
		s.held = false
		s.gate.mu.RUnlock()
	}
}

func (s *gatedStream) RecvMsg(m any) error {
	s.release()
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	s.gate.mu.RLock()
	if s.gate.closed {
		s.gate.mu.RUnlock()
		return status.Error(codes.Unavailable, "this node is stopping")
	}
	s.held = true
	return nil
}
