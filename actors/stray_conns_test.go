package actors

import (
	"bytes"
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/internal/testport"
)

// strayConnWait bounds how long a test waits for an earlier test's gRPC
// client connections to end.
const strayConnWait = 15 * time.Second

// waitForStrayConns waits, in race builds, until no gRPC client connection
// of an earlier test's actor system is still connecting. protoactor's
// Remote.Start replaces grpc's global logger, which such a connection
// reads as it changes state, and the race detector reports the pair
// (PROTOACTOR-NOTES); one system per process, as in production, never
// meets it.
func waitForStrayConns(t *testing.T) {
	t.Helper()
	if !raceEnabled {
		return
	}
	start := time.Now()
	for {
		if grpcClientConns() == 0 {
			return
		}
		if time.Since(start) > strayConnWait {
			t.Logf("gRPC connections of an earlier test still open after %v; starting anyway", strayConnWait)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// grpcClientConns counts the goroutines of gRPC client connections.
func grpcClientConns() int {
	buf := make([]byte, 8<<20)
	n := runtime.Stack(buf, true)
	return bytes.Count(buf[:n], []byte("google.golang.org/grpc.(*addrConn)"))
}

// A running node that fails to reach a peer closes every connection it
// opened for it: none stays behind redialling the dead address.
func TestUnreachablePeerLeavesNoConnection(t *testing.T) {
	sys := startSingle(t, t.TempDir())
	// Connections of earlier tests' stopped systems may still be closing.
	before := grpcClientConns()
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := sys.Gossiper().Join(ctx, []string{testport.For(t)}) // nothing listens there
		cancel()
		if err == nil {
			t.Fatal("join of an unreachable seed: no error")
		}
	}
	// The endpoint writer sleeps 2 s after its failed try before it gives
	// up and closes the connection; a leaked one never closes.
	deadline := time.Now().Add(30 * time.Second)
	for grpcClientConns() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d gRPC client connection goroutines open, %d before the node tried unreachable peers", grpcClientConns(), before)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
