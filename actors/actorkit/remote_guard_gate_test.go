package actorkit

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// chanStream is a server stream whose messages come from a channel.
type chanStream struct {
	grpc.ServerStream
	in chan struct{}
}

func (s *chanStream) Context() context.Context { return context.Background() }
func (s *chanStream) RecvMsg(any) error {
	if _, ok := <-s.in; !ok {
		return context.Canceled
	}
	return nil
}

// The gate's close waits for a handler to finish the message in hand, and
// a message that arrives after it ends the stream with Unavailable instead
// of being handled: protoactor's shutdown flag is then never read while it
// is written.
func TestInboundGateEndsStreamsAfterTheMessageInHand(t *testing.T) {
	g := &inboundGate{}
	in := make(chan struct{}, 2)
	handling, finish := make(chan struct{}), make(chan struct{})
	var handled int
	result := make(chan error, 1)
	go func() {
		result <- g.interceptor()(nil, &chanStream{in: in}, &grpc.StreamServerInfo{}, func(_ any, ss grpc.ServerStream) error {
			for {
				if err := ss.RecvMsg(nil); err != nil {
					return err
				}
				handled++
				if handled == 1 {
					close(handling)
					<-finish
				}
			}
		})
	}()
	in <- struct{}{}
	<-handling
	closed := make(chan struct{})
	go func() {
		g.close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("close returned while a message was being handled")
	case <-time.After(50 * time.Millisecond):
	}
	close(finish)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("close never returned after the handler finished its message")
	}
	in <- struct{}{}
	select {
	case err := <-result:
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("stream ended with %v, want Unavailable", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream went on after the gate closed")
	}
	if handled != 1 {
		t.Fatalf("%d messages handled, want the 1 before close", handled)
	}
}
