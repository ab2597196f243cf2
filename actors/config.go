package actors

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/harmoniakv/harmonia/actors/gossip"
	"github.com/harmoniakv/harmonia/cluster/hlc"
	"github.com/harmoniakv/harmonia/cluster/reap"
	"github.com/harmoniakv/harmonia/internal/connlimits"
)

// Config describes one node. Start from DefaultConfig.
type Config struct {
	// Stamps tunes the hybrid logical clock that stamps the writes of
	// last-writer-wins tables (its bound on a received stamp's lead).
	Stamps      hlc.Config
	NodeID      string
	ClusterAddr string // host:port the remote layer listens on
	// AdvertiseAddr is the host:port peers reach the remote layer at; empty:
	// ClusterAddr. It names this node in every message it sends.
	AdvertiseAddr string
	// RemoteServerTLS and RemoteDialTLS, both set, make the cluster port
	// mutual TLS (internal/certs' NodeConfig): peers must present a node
	// certificate of the cluster CA. Default nil: plain.
	RemoteServerTLS, RemoteDialTLS *tls.Config
	// ConnLimits bound each connection to the cluster port (handshake and
	// idle timeouts, streams at once); the client API takes the same.
	ConnLimits connlimits.Limits
	ClientAddr string // host:port the client API listens on
	// AdvertiseClientAddr is the client API's address as peers and status
	// show it; empty: ClientAddr.
	AdvertiseClientAddr string
	Partitions          int // Q, default 64; every node of a cluster must agree
	N                   int // replicas per key, default 3
	R, W                int // default read and write quorums, default 2 and 2
	// RequestTimeout bounds a client request that gives no timeout. Default 5 s.
	RequestTimeout time.Duration
	// MaxClockEntries bounds vector clocks (see vclock.Prune).
	MaxClockEntries int
	Coordinator     CoordinatorConfig
	// Faults are injected to test recovery (Faults); nil, the default,
	// injects none.
	Faults  Faults
	Gossip  gossip.Config
	Handoff HandoffConfig
	Hints   HintConfig
	Repair  RepairConfig
	Reap    reap.Config
	Tables  TablesConfig
	TTL     TTLConfig
	// TreeRebuildRate bounds the stored keys per second the node reads to
	// rebuild its Merkle trees after a start, so a restart does not flood
	// the disk (0: unbounded). Default 100,000.
	TreeRebuildRate int
	// MaxMessageSize bounds one remote batch; it must hold
	// RemoteBatchSize objects of the largest allowed value.
	MaxMessageSize  int
	RemoteBatchSize int
	// RemoteQueueSize bounds each peer's outgoing queue (protoactor
	// preallocates it).
	RemoteQueueSize int
	Logger          *slog.Logger
	// LibraryLogger receives protoactor's own logs, which report every
	// failed connection attempt to a down peer; nil discards them.
	LibraryLogger *slog.Logger

	// SecretFingerprints name the cluster secrets this node opens client
	// contexts with, the one it seals with first, one-way
	// (causal.Sealer.Fingerprints; server.Start sets them). Nodes that
	// cannot open each other's contexts must not form one cluster.
	SecretFingerprints []string
}

// advertised is the cluster address peers reach this node at.
func (c Config) advertised() string {
	if c.AdvertiseAddr != "" {
		return c.AdvertiseAddr
	}
	return c.ClusterAddr
}

func (c Config) advertisedClient() string {
	if c.AdvertiseClientAddr != "" {
		return c.AdvertiseClientAddr
	}
	return c.ClientAddr
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Partitions:      64,
		N:               3,
		R:               2,
		W:               2,
		RequestTimeout:  5 * time.Second,
		MaxClockEntries: 64,
		Coordinator: CoordinatorConfig{ReadRepairWindow: 200 * time.Millisecond, ReplicaTimeout: time.Second, SpeculativeRetry: 50 * time.Millisecond,
			Strong: DefaultStrongConfig()},
		Gossip:          gossip.DefaultConfig(),
		Handoff:         DefaultHandoffConfig(),
		Hints:           DefaultHintConfig(),
		Repair:          DefaultRepairConfig(),
		Reap:            reap.DefaultConfig(),
		Tables:          DefaultTablesConfig(),
		TTL:             DefaultTTLConfig(),
		Stamps:          hlc.DefaultConfig(),
		TreeRebuildRate: 100_000,
		MaxMessageSize:  256 << 20,
		RemoteBatchSize: 64,
		RemoteQueueSize: 100_000,
		ConnLimits:      connlimits.Default(),
	}
}
