package actors

import (
	"context"
	"fmt"
	"log/slog"

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
