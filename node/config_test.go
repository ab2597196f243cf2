package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/internal/testport"
	"github.com/harmoniakv/harmonia/node/dynamodb/sigv4"
)

func TestValidate(t *testing.T) {
	good := func() Config {
		c := DefaultConfig()
		c.Node.NodeID, c.DataDir = "n1", t.TempDir()
		return c
	}
	for _, tc := range []struct {
		rule   string
		change func(*Config)
		want   string // "" valid
	}{
		{"the defaults with an id and a directory are valid", func(*Config) {}, ""},
		{"a node needs an id", func(c *Config) { c.Node.NodeID = "" }, "--node-id and --data-dir"},
		{"and a data directory", func(c *Config) { c.DataDir = "" }, "--node-id and --data-dir"},
		{"an id of odd bytes is refused", func(c *Config) { c.Node.NodeID = "n/1" }, "--node-id"},
		{"reaping needs a positive interval", func(c *Config) { c.Node.Reap.Grace, c.Node.Reap.Interval = time.Hour, 0 }, "--reap-interval"},
		{"N is at least 1", func(c *Config) { c.Node.N = 0 }, "at least 1"},
		{"so are the partitions", func(c *Config) { c.Node.Partitions = 0 }, "at least 1"},
		{"a negative free-disk bound is refused", func(c *Config) { c.Store.MinFreeBytes = -1 }, "--min-free-disk"},
		{"a negative hedge is refused", func(c *Config) { c.Node.Coordinator.Strong.Hedge = -time.Millisecond }, "--strong-hedge"},
		{"a negative speculative retry is refused", func(c *Config) { c.Node.Coordinator.SpeculativeRetry = -time.Millisecond }, "--speculative-retry"},
		{"DynamoDB credentials need the endpoint", func(c *Config) {
			c.DynamoDBCredentials = sigv4.Credentials{"AKID": {Secret: "0123456789abcdef", Admin: true}}
		}, "--dynamodb-credentials needs --dynamodb"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			c := good()
			tc.change(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
	c := good()
	c.Node.N, c.Node.R, c.Node.W = 2, 3, 3
	if err := c.Validate(); err != nil || c.Node.R != 2 || c.Node.W != 2 {
		t.Fatalf("R and W above N: %v, R=%d W=%d; want both clamped to 2", err, c.Node.R, c.Node.W)
	}
	c.Node.NodeID = ""
	if _, err := Start(c); !errors.As(err, new(*ConfigError)) {
		t.Fatalf("Start of an invalid configuration: %v, want a ConfigError", err)
	}
}

// A program runs a node in its own process: Start, a client's put and
// get through its API, Stop.
func TestEmbeddedNodeServesClients(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Node.NodeID, cfg.DataDir = "n1", t.TempDir()
	cfg.Node.ClusterAddr, cfg.Node.ClientAddr = testport.For(t), testport.For(t)
	cfg.Node.N, cfg.Node.R, cfg.Node.W = 1, 1, 1
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	cl, err := client.Dial(cfg.Node.ClientAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var putErr error
	for ctx.Err() == nil { // until the node has formed its one-node ring
		if _, putErr = cl.Put(ctx, []byte("k"), []byte("v"), nil, client.Options{}); putErr == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if putErr != nil {
		t.Fatalf("put: %v", putErr)
	}
	res, err := cl.Get(ctx, []byte("k"), client.Options{})
	if err != nil || len(res.Siblings) != 1 || string(res.Siblings[0]) != "v" {
		t.Fatalf("get: %+v %v", res, err)
	}
}
