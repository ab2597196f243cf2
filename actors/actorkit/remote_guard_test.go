package actorkit

import (
	"context"
	"log/slog"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A stream handler that panics (protoactor's, on a message of an unknown
// type) ends its stream with an error, not the process.
func TestRecoverStreamTurnsAPanicIntoAnError(t *testing.T) {
	err := recoverStream(slog.New(slog.DiscardHandler))(nil, &chanStream{}, &grpc.StreamServerInfo{FullMethod: "/remote.Remoting/Receive"}, func(any, grpc.ServerStream) error {
		var p *int
		return func() error { _ = *p; return nil }()
	})
	if err == nil {
		t.Fatal("a panicking handler returned no error")
	}
}

// Unary calls on the cluster port are refused before protoactor's
// handlers, which panic, see them.
func TestRefuseUnaryAnswersUnimplemented(t *testing.T) {
	called := false
	_, err := refuseUnary(slog.New(slog.DiscardHandler))(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/remote.Remoting/ListProcesses"}, func(context.Context, any) (any, error) {
		called = true
		return nil, nil
	})
	if status.Code(err) != codes.Unimplemented || called {
		t.Fatalf("unary call: %v, handler called %v; want Unimplemented and no call", err, called)
	}
}

// A bad address is an error, not a panic; a port already in use too
// (protoactor panics when it cannot listen).
func TestStartTransportReportsBadAddresses(t *testing.T) {
	for _, addr := range []string{"no-port", "127.0.0.1:port"} {
		if _, _, _, err := StartTransport(Transport{Addr: addr}); err == nil {
			t.Errorf("StartTransport(%q): no error", addr)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, _, _, err := StartTransport(Transport{Addr: l.Addr().String()}); err == nil {
		t.Errorf("StartTransport(%s), a port in use: no error", l.Addr())
	}
}
