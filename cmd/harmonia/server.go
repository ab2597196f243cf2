package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/harmoniakv/harmonia/actors"
	"github.com/harmoniakv/harmonia/cluster/causal"
	"github.com/harmoniakv/harmonia/cmd/harmonia/internal/config"
	"github.com/harmoniakv/harmonia/node"
	"github.com/harmoniakv/harmonia/node/dynamodb/sigv4"
	"github.com/spf13/cobra"
)

func serverCmd() *cobra.Command {
	cfg := node.DefaultConfig()
	var join, secretFile, dynamoCredsFile, advertise, advertiseClient, configFile string
	var verbose bool
	c := &cobra.Command{
		Use:   "server",
		Short: "run one node",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := config.Apply(cmd.Flags(), configFile, os.Environ()); err != nil {
				return usageErr("%v", err)
			}
			var err error
			if cfg.Node.AdvertiseAddr, cfg.Node.AdvertiseClientAddr, err = node.Advertised(cfg.Node.ClusterAddr, advertise, cfg.Node.ClientAddr, advertiseClient); err != nil {
				return usageErr("%v", err)
			}
			if join != "" {
				cfg.Node.Gossip.Seeds = strings.Split(join, ",")
			}
			if secretFile != "" {
				secrets, err := readSecrets(secretFile)
				if err != nil {
					return err
				}
				cfg.ClusterSecrets = secrets
			}
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelInfo
			}
			cfg.Node.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("node", cfg.Node.NodeID)
			if verbose {
				cfg.Node.LibraryLogger = cfg.Node.Logger.With("lib", "protoactor")
			}
			// Test-only fault injection: make a replay worker or an
			// anti-entropy exchange panic once.
			var faults actors.PanicOnce
			for name, into := range map[string]*int64{
				"HARMONIA_FAULT_REPLAY_PANIC_AFTER":   &faults.ReplayAfter,
				"HARMONIA_FAULT_EXCHANGE_PANIC_AFTER": &faults.ExchangeAfter,
			} {
				if v := os.Getenv(name); v != "" {
					n, err := strconv.ParseInt(v, 10, 64)
					if err != nil {
						return usageErr("%s: %v", name, err)
					}
					*into = n
					cfg.Node.Faults = &faults
				}
			}
			if dynamoCredsFile != "" {
				if cfg.DynamoDBAddr == "" { // before the file is read: the flags are wrong
					return usageErr("--dynamodb-credentials needs --dynamodb")
				}
				creds, warning, err := readDynamoCredentials(dynamoCredsFile)
				if err != nil {
					return err
				}
				if warning != "" {
					cfg.Node.Logger.Warn(warning)
				}
				cfg.DynamoDBCredentials = creds
			}
			if err := cfg.Validate(); err != nil {
				return usageErr("%v", err)
			}
			s, err := node.Start(cfg)
			if se := (*node.SecurityError)(nil); errors.As(err, &se) {
				return usageErr("%v", se)
			}
			if err != nil {
				return err
			}
			fmt.Printf("node %s: cluster %s, client %s, data %s\n", cfg.Node.NodeID, cfg.Node.AdvertiseAddr, cfg.Node.AdvertiseClientAddr, cfg.DataDir)
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			for {
				select {
				case got := <-sig:
					if got == syscall.SIGHUP {
						if err := s.ReloadTLS(); err != nil {
							cfg.Node.Logger.Error("TLS files not reloaded; the certificates in use stay", "err", err)
						} else {
							cfg.Node.Logger.Info("TLS files reloaded")
						}
						continue
					}
				case err := <-s.Fatal():
					s.Stop()
					return err
				}
				break
			}
			s.Stop()
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.Node.NodeID, "node-id", "", "this node's id, unique in the cluster (required)")
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory of this node's pebble database (required)")
	f.StringVar(&cfg.Node.ClusterAddr, "listen", "127.0.0.1:7001", "node-to-node address host:port to bind")
	f.StringVar(&advertise, "advertise", "", "node-to-node address host:port peers reach this node at (default: --listen; required when --listen binds 0.0.0.0 or ::)")
	f.StringVar(&cfg.Node.ClientAddr, "client", "127.0.0.1:8001", "client API (gRPC) address host:port to bind")
	f.StringVar(&advertiseClient, "advertise-client", "", "client API address host:port shown to peers and in status (default: --client, or --advertise's host with --client's port when --client binds every interface)")
	f.StringVar(&cfg.HTTPAddr, "http", "", "HTTP address for the status page (/), /healthz, /metrics (Prometheus) and /debug/pprof (optional)")
	f.StringVar(&cfg.DynamoDBAddr, "dynamodb", "", "address of the DynamoDB-compatible endpoint, for the AWS SDKs and CLI (optional; without --dynamodb-credentials it verifies no signatures, so it must be loopback unless --insecure)")
	f.StringVar(&dynamoCredsFile, "dynamodb-credentials", "", "file of the access keys of the DynamoDB endpoint, one 'ACCESS_KEY_ID SECRET_ACCESS_KEY' a line, # comments: every request must then be signed (AWS Signature Version 4) with one of them, and --dynamodb may bind any address (default: none, no signature verified)")
	f.DurationVar(&cfg.Node.ConnLimits.HandshakeTimeout, "handshake-timeout", cfg.Node.ConnLimits.HandshakeTimeout, "close a connection (either port) that has not finished its TLS and HTTP/2 handshake in this time")
	f.DurationVar(&cfg.Node.ConnLimits.IdleTimeout, "idle-timeout", cfg.Node.ConnLimits.IdleTimeout, "close a connection (either port) that has had no open call for this long")
	f.Uint32Var(&cfg.Node.ConnLimits.MaxStreams, "max-streams", cfg.Node.ConnLimits.MaxStreams, "calls open at once on one connection (either port); more are refused")
	f.StringVar(&join, "join", "", "comma-separated cluster addresses of nodes to join through")
	f.IntVar(&cfg.Node.Partitions, "partitions", cfg.Node.Partitions, "number of partitions Q (the same on every node)")
	f.IntVar(&cfg.Node.N, "n", cfg.Node.N, "replicas per key N")
	f.IntVar(&cfg.Node.R, "r", cfg.Node.R, "default read quorum")
	f.IntVar(&cfg.Node.W, "w", cfg.Node.W, "default write quorum")
	f.DurationVar(&cfg.Node.RequestTimeout, "request-timeout", cfg.Node.RequestTimeout, "default request timeout")
	f.BoolVar(&cfg.Node.Coordinator.AskAllReplicas, "read-all-replicas", cfg.Node.Coordinator.AskAllReplicas, "a get, and a range read of an eventual table, asks every replica, so each read repairs all of them (default: R replicas, its own first; anti-entropy repairs the rest)")
	f.DurationVar(&cfg.Node.Coordinator.SpeculativeRetry, "speculative-retry", cfg.Node.Coordinator.SpeculativeRetry, "how long a get waits for the replicas it asked before asking one more (0: only when one fails)")
	f.IntVar(&cfg.Node.Coordinator.Strong.HeldBallots, "strong-held-ballots", cfg.Node.Coordinator.Strong.HeldBallots, "strong tables: keys whose next write from this node may skip its prepare, the ballot promised with its last accept (0: none; helps one writer per key, costs a lost round when writers on several nodes share keys)")
	f.DurationVar(&cfg.Node.Coordinator.Strong.Hedge, "strong-hedge", cfg.Node.Coordinator.Strong.Hedge, "strong tables: ask a majority of a key's voters first in each consensus round, and the others after this long or at a refusal (0: every voter at once)")
	f.DurationVar(&cfg.Node.Gossip.Interval, "gossip-interval", cfg.Node.Gossip.Interval, "time between gossip rounds")
	f.Float64Var(&cfg.Node.Gossip.Membership.Failure.Threshold, "phi-threshold", cfg.Node.Gossip.Membership.Failure.Threshold, "phi at which a silent member is down (phi-accrual failure detector)")
	f.IntVar(&cfg.Node.Handoff.Concurrency, "handoff-concurrency", cfg.Node.Handoff.Concurrency, "partitions received at once during a ring change")
	f.IntVar(&cfg.Node.Handoff.BatchKeys, "handoff-batch-keys", cfg.Node.Handoff.BatchKeys, "keys per handoff batch")
	f.BoolVar(&cfg.Node.Hints.Enabled, "hint-replay", cfg.Node.Hints.Enabled, "replay hinted writes to their replicas when they come back")
	f.IntVar(&cfg.Node.Hints.MaxPerSecond, "hint-replay-rate", cfg.Node.Hints.MaxPerSecond, "hints replayed per second to one node at most (0: no bound)")
	f.Int64Var(&cfg.Store.MaxHintBytes, "max-hint-bytes", cfg.Store.MaxHintBytes, "bytes of hints kept per target node; past it writes rely on repair")
	f.DurationVar(&cfg.Store.MaxHintAge, "max-hint-age", cfg.Store.MaxHintAge, "hints older than this are dropped (counted)")
	f.DurationVar(&cfg.Node.Repair.Interval, "repair-interval", cfg.Node.Repair.Interval, "how often each partition is compared with each other replica (0: only manual repair)")
	f.IntVar(&cfg.Node.TreeRebuildRate, "tree-rebuild-rate", cfg.Node.TreeRebuildRate, "keys per second read to rebuild the Merkle trees after a start (0: unbounded)")
	f.IntVar(&cfg.Node.Repair.MaxKeysPerSecond, "repair-rate", cfg.Node.Repair.MaxKeysPerSecond, "keys anti-entropy writes per second at most (0: unbounded)")
	f.DurationVar(&cfg.Node.Reap.Grace, "tombstone-grace", cfg.Node.Reap.Grace, "least time a delete's tombstone is kept; it is reaped only once every replica holds it and no hint is pending (0: keep tombstones forever)")
	f.DurationVar(&cfg.Node.Reap.Interval, "reap-interval", cfg.Node.Reap.Interval, "how often a node looks for tombstones to reap")
	f.DurationVar(&cfg.Node.Reap.Settle, "reap-settle", cfg.Node.Reap.Settle, "how long membership must be unchanged, every member up, before tombstones are reaped")
	f.DurationVar(&cfg.Node.TTL.Interval, "ttl-interval", cfg.Node.TTL.Interval, "how often a node deletes the expired items (TTL) of the partitions it is the first voter of (0: never; expired items are still never returned)")
	f.IntVar(&cfg.Node.TTL.MaxDeletesPerSecond, "ttl-delete-rate", cfg.Node.TTL.MaxDeletesPerSecond, "expired items a node deletes per second at most (0: unbounded)")
	f.StringVar(&secretFile, "cluster-secret-file", "", "file holding the cluster secret: one secret per line, the first seals contexts, all are accepted; every node of a cluster needs the same file (default: a built-in secret, for local tests only)")
	f.BoolVar(&cfg.UnsafeTestWrites, "unsafe-test-writes", false, "allow the test-only admin calls: WriteReplica, which writes one replica alone, CrashVnode and SetClockOffset (never in production)")
	f.DurationVar(&cfg.ClockOffset, "unsafe-test-clock-offset", 0, "set this node's wall clock (versions' times, tombstone reaping, hint ages, generations) this far from the machine's, to test clock skew; needs --unsafe-test-writes (never in production)")
	f.IntVar(&cfg.Store.MaxKeySize, "max-key-size", cfg.Store.MaxKeySize, "largest key in bytes")
	f.IntVar(&cfg.Store.MaxValueSize, "max-value-size", cfg.Store.MaxValueSize, "largest value in bytes")
	f.BoolVar(&cfg.Store.Sync, "sync", cfg.Store.Sync, "fsync each write batch before acknowledging it")
	f.Int64Var(&cfg.Store.MinFreeBytes, "min-free-disk", cfg.Store.MinFreeBytes, "bytes that must stay free on the data directory's filesystem: below it writes are refused (never acknowledged) until there is space again; 0: no check")
	f.Int64Var(&cfg.Store.BlockCacheBytes, "block-cache-bytes", cfg.Store.BlockCacheBytes, "bytes of pebble's block cache (uncompressed blocks of stored objects); 0: pebble's default of 8 MiB")
	f.BoolVar(&cfg.Store.PresenceFilters, "presence-filters", cfg.Store.PresenceFilters, "keep in memory a filter of the keys each partition holds (about 1.25 bytes a key, filled by a scan of the keys at start), so a write of a new key skips the read of what it replaces")
	f.IntVar(&cfg.Store.BloomBitsPerKey, "bloom-bits-per-key", cfg.Store.BloomBitsPerKey, "bits per key of each table's bloom filter, which lets reads skip tables; 0: no filters")
	f.BoolVar(&verbose, "verbose", false, "log membership changes and other information")
	f.StringVar(&cfg.TLS.Cert, "tls-cert", "", "PEM file of this node's certificate: turns on mutual TLS for the client API (with --tls-key and --tls-ca; see harmonia cert)")
	f.StringVar(&cfg.TLS.Key, "tls-key", "", "PEM file of the node certificate's private key")
	f.StringVar(&cfg.TLS.CA, "tls-ca", "", "PEM file of the cluster CA: clients must present a certificate it signed; admin calls need the admin role")
	f.BoolVar(&cfg.Insecure, "insecure", false, "run without TLS although --listen or --client binds an address other machines can reach (not loopback): every caller is trusted, admin calls included; without it such a node refuses to start")
	f.StringVar(&configFile, "config", "", "TOML file of settings: keys are these flags' names (see `harmonia config print`); flags override it, HARMONIA_* environment variables override both")
	return c
}

func configCmd() *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "the server's settings"}
	c.AddCommand(&cobra.Command{
		Use:   "print [server flags, --config FILE]",
		Short: "print the settings a server given these flags, this file and this environment would run with, as a file --config accepts",
		// The server's own flags, parsed below.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			sc := serverCmd()
			fs := sc.Flags()
			if err := fs.Parse(args); err != nil {
				return usageErr("%v", err)
			}
			if fs.NArg() > 0 {
				return usageErr("config print: unexpected argument %q", fs.Arg(0))
			}
			file, _ := fs.GetString("config")
			if err := config.Apply(fs, file, os.Environ()); err != nil {
				return usageErr("%v", err)
			}
			return config.Print(os.Stdout, fs)
		},
	})
	return c
}

// readDynamoCredentials reads --dynamodb-credentials (format: see
// sigv4.ParseCredentials). A file other users of the machine may read is
// taken, with a warning to return: refusing it would stop a node over a
// mode that a container's secret mount may impose.
func readDynamoCredentials(path string) (creds sigv4.Credentials, warning string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", usageErr("--dynamodb-credentials: %v", err)
	}
	if creds, err = sigv4.ParseCredentials(b); err != nil {
		return nil, "", usageErr("--dynamodb-credentials %s, %v", path, err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&worldReadable != 0 {
		warning = fmt.Sprintf("--dynamodb-credentials %s is readable by every user of this machine (mode %v): its secret keys sign DynamoDB requests; chmod 600 it", path, st.Mode().Perm())
	}
	return creds, warning, nil
}

// worldReadable is the permission bit that lets any user read a file.
const worldReadable = 0o004

// readSecrets reads --cluster-secret-file: one secret per line, surrounding
// space trimmed and blank lines skipped, so that an editor's trailing
// newline does not change the secret.
func readSecrets(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErr("--cluster-secret-file: %v", err)
	}
	var secrets [][]byte
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		// The secret itself is never printed.
		if len(line) < causal.MinSecretLen {
			return nil, usageErr("--cluster-secret-file %s, line %d: a secret of %d bytes; at least %d are needed", path, i+1, len(line), causal.MinSecretLen)
		}
		secrets = append(secrets, []byte(line))
	}
	if len(secrets) == 0 {
		return nil, usageErr("--cluster-secret-file %s holds no secret", path)
	}
	return secrets, nil
}
