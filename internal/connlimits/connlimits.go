// Package connlimits owns what one connection may hold on a node's gRPC
// ports (the client API and the cluster port): how long it may take to
// finish its handshake, how long it may sit with no call, how many streams
// it may have open at once, and how soon a peer that stops answering pings
// is dropped. Without these, a client that connects and sends nothing, or
// opens streams without end, holds a node's memory and goroutines forever.
package connlimits

import (
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Limits bound the connections of one gRPC server.
type Limits struct {
	// HandshakeTimeout bounds the time from accept to a finished TLS and
	// HTTP/2 handshake; a connection still silent then is closed.
	// Default 10 s.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection that has had no open call for this
	// long (with a GOAWAY, so a well-behaved client reconnects when it
	// needs to). Peers of the cluster port keep a stream open, so it only
	// closes strays. Default 5 min.
	IdleTimeout time.Duration
	// MaxStreams bounds the calls open at once on one connection; the
	// server refuses a stream past it (HTTP/2 REFUSED_STREAM), and gRPC
	// clients queue instead of sending it. Default 1024.
	MaxStreams uint32
	// PingInterval is how long a connection may be silent before the
	// server pings it, and PingTimeout how long it then waits for the
	// answer before closing it: a frozen or vanished client is dropped.
	// Defaults 1 min and 20 s.
	PingInterval, PingTimeout time.Duration
}

// Default returns the documented defaults.
func Default() Limits {
	return Limits{
		HandshakeTimeout: 10 * time.Second,
		IdleTimeout:      5 * time.Minute,
		MaxStreams:       1024,
		PingInterval:     time.Minute,
		PingTimeout:      20 * time.Second,
	}
}

// Check refuses limits a server cannot run with.
func (l Limits) Check() error {
	if l.HandshakeTimeout <= 0 || l.IdleTimeout <= 0 || l.PingInterval <= 0 || l.PingTimeout <= 0 {
		return fmt.Errorf("connection timeouts must be positive (handshake %s, idle %s, ping %s/%s)",
			l.HandshakeTimeout, l.IdleTimeout, l.PingInterval, l.PingTimeout)
	}
	if l.MaxStreams < 1 {
		return fmt.Errorf("streams per connection must be at least 1")
	}
	return nil
}

// ServerOptions are l as gRPC server options.
func (l Limits) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ConnectionTimeout(l.HandshakeTimeout),
		grpc.MaxConcurrentStreams(l.MaxStreams),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: l.IdleTimeout,
			Time:              l.PingInterval,
			Timeout:           l.PingTimeout,
		}),
	}
}
