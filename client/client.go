// Package client is the Go client of HarmoniaKV's gRPC API.
//
//	c, err := client.Dial("127.0.0.1:8001")
//	res, err := c.Get(ctx, []byte("k"), client.Options{})
//	_, err = c.Put(ctx, []byte("k"), []byte("v"), res.Context, client.Options{})
//
// A Get returns every concurrent version (sibling) and an opaque context; a
// Put with that context supersedes them. Resolve reads, merges siblings with
// the caller's function and writes the result back.
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/harmoniakv/harmonia/internal/certs"
	"github.com/harmoniakv/harmonia/messages/datatypepb"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Client talks to one node; any node coordinates any request.
type Client struct {
	conn   *grpc.ClientConn
	kv     kvpb.KVClient
	admin  kvpb.AdminClient
	tables kvpb.TableClient
}

// MaxMessageSize is the largest response the client accepts.
const MaxMessageSize = 256 << 20

// Dial connects to a node's client address (host:port).
func Dial(addr string, opts ...grpc.DialOption) (*Client, error) {
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)),
	}, opts...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return &Client{conn: conn, kv: kvpb.NewKVClient(conn), admin: kvpb.NewAdminClient(conn), tables: kvpb.NewTableClient(conn)}, nil
}

// TLSFiles name a client certificate, its key and the cluster CA, as the
// CLI's --tls-cert, --tls-key and --tls-ca (or HARMONIA_TLS_*) do.
type TLSFiles struct {
	Cert, Key, CA string
}

// DialMutualTLS connects to a node's client address presenting the client
// certificate in f and accepting only nodes the CA in f signed. The files
// are read again when they change, so a long-lived client follows a
// rotation.
func DialMutualTLS(addr string, f TLSFiles, opts ...grpc.DialOption) (*Client, error) {
	tc, err := certs.NewClient(certs.Files{Cert: f.Cert, Key: f.Key, CA: f.CA}, nil)
	if err != nil {
		return nil, err
	}
	return DialTLS(addr, tc.Config(), opts...)
}

// DialTLS connects to a node's client address over TLS with cfg (for
// mutual TLS, cfg presents this client's certificate; DialMutualTLS makes
// one from files). A cfg without a ServerName checks the server's
// certificate against the host of addr.
func DialTLS(addr string, cfg *tls.Config, opts ...grpc.DialOption) (*Client, error) {
	return Dial(addr, append([]grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}, opts...)...)
}

// KV is the raw generated KV client, for callers that want whole responses.
func (c *Client) KV() kvpb.KVClient { return c.kv }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Options are per-request settings; zero values use the server's defaults.
type Options struct {
	// Quorum is R for reads and W for writes: "one", "quorum", "all" or a
	// number up to N.
	Quorum  string
	Timeout time.Duration
	// Table names the table; empty: the default table. On a strong table
	// Quorum must be empty, and the context is the key's version.
	Table string
}

func (o Options) timeoutMs() uint32 { return uint32(o.Timeout / time.Millisecond) }

// Result is what a Get returns.
type Result struct {
	Found    bool
	Siblings [][]byte // concurrent values; one when there is no conflict
	Context  []byte
	Replied  int
}

// ErrNotFound is returned by Value for a missing key.
var ErrNotFound = errors.New("not found")

// Get reads a key.
func (c *Client) Get(ctx context.Context, key []byte, o Options) (*Result, error) {
	res, err := c.kv.Get(ctx, &kvpb.GetRequest{Key: key, R: o.Quorum, TimeoutMs: o.timeoutMs(), Table: o.Table})
	if err != nil {
		return nil, err
	}
	out := &Result{Found: res.Found, Context: res.Context, Replied: int(res.Replied)}
	for _, s := range res.Siblings {
		out.Siblings = append(out.Siblings, s.Value)
	}
	return out, nil
}

// Put writes value; pass the context of the Get it replaces (nil for a blind
// write). It returns the context of the new version.
func (c *Client) Put(ctx context.Context, key, value, causal []byte, o Options) ([]byte, error) {
	res, err := c.kv.Put(ctx, &kvpb.PutRequest{Key: key, Value: value, Context: causal, W: o.Quorum, TimeoutMs: o.timeoutMs(), Table: o.Table})
	if err != nil {
		return nil, err
	}
	return res.Context, nil
}

// Fetch reads the CRDT value of key in a table created with --conflict
// crdt: a map of typed fields (datatype.Field picks one) and the context
// to update with.
func (c *Client) Fetch(ctx context.Context, key []byte, o Options) (*kvpb.FetchResponse, error) {
	return c.kv.Fetch(ctx, &kvpb.FetchRequest{Key: key, R: o.Quorum, TimeoutMs: o.timeoutMs(), Table: o.Table})
}

// Update applies ops (cluster/datatype builds them: Increment, Add,
// Remove, ...) to the CRDT value of key, all or none. causal is the
// context of a Fetch or an Update of key; removals take away only what it
// saw. nil makes a blind update, which removes nothing.
func (c *Client) Update(ctx context.Context, key, causal []byte, ops []*datatypepb.DatatypeOp, o Options) (*kvpb.UpdateResponse, error) {
	return c.kv.Update(ctx, &kvpb.UpdateRequest{Key: key, Context: causal, Ops: ops, W: o.Quorum, TimeoutMs: o.timeoutMs(), Table: o.Table})
}

// Delete writes a tombstone superseding what causal names.
func (c *Client) Delete(ctx context.Context, key, causal []byte, o Options) error {
	_, err := c.kv.Delete(ctx, &kvpb.DeleteRequest{Key: key, Context: causal, W: o.Quorum, TimeoutMs: o.timeoutMs(), Table: o.Table})
	return err
}

// MergeFunc combines concurrent values into one.
type MergeFunc func(siblings [][]byte) []byte

// Resolve reads key and, when it has siblings, merges them with merge and
// writes the result back with the context read, so later reads see one value.
// It returns the resolved value, or ErrNotFound.
func (c *Client) Resolve(ctx context.Context, key []byte, merge MergeFunc, o Options) ([]byte, error) {
	res, err := c.Get(ctx, key, o)
	if err != nil {
		return nil, err
	}
	switch len(res.Siblings) {
	case 0:
		return nil, ErrNotFound
	case 1:
		return res.Siblings[0], nil
	}
	v := merge(res.Siblings)
	if _, err := c.Put(ctx, key, v, res.Context, o); err != nil {
		return nil, fmt.Errorf("write back merged value: %w", err)
	}
	return v, nil
}

// Status returns the node's view of the cluster.
func (c *Client) Status(ctx context.Context) (*kvpb.StatusResponse, error) {
	return c.admin.Status(ctx, &kvpb.StatusRequest{})
}

// Admin is the raw generated Admin client.
func (c *Client) Admin() kvpb.AdminClient { return c.admin }

// Replicas reads each replica of key of the default table directly.
func (c *Client) Replicas(ctx context.Context, key []byte) (*kvpb.ReplicasResponse, error) {
	return c.ReplicasIn(ctx, key, "")
}

// ReplicasIn reads each replica of key of an eventual table directly.
func (c *Client) ReplicasIn(ctx context.Context, key []byte, table string) (*kvpb.ReplicasResponse, error) {
	return c.admin.Replicas(ctx, &kvpb.ReplicasRequest{Key: key, Table: table})
}

// Tables is the raw generated Table client: create, describe, list and
// delete tables.
func (c *Client) Tables() kvpb.TableClient { return c.tables }

// PutIf writes value to key of a strong table only if the key has no value
// (version nil) or its version is version (the context a Get returned).
// It returns the new version. A failed condition is an error for which
// ConditionFailed reports the key's current value.
func (c *Client) PutIf(ctx context.Context, key, value, version []byte, o Options) ([]byte, error) {
	req := &kvpb.PutRequest{Key: key, Value: value, IfVersion: version, IfAbsent: len(version) == 0, TimeoutMs: o.timeoutMs(), Table: o.Table}
	res, err := c.kv.Put(ctx, req)
	if err != nil {
		return nil, err
	}
	return res.Context, nil
}

// DeleteIf deletes key of a strong table only if its version is version.
func (c *Client) DeleteIf(ctx context.Context, key, version []byte, o Options) error {
	if len(version) == 0 {
		return errors.New("DeleteIf needs the version a Get returned")
	}
	_, err := c.kv.Delete(ctx, &kvpb.DeleteRequest{Key: key, IfVersion: version, TimeoutMs: o.timeoutMs(), Table: o.Table})
	return err
}

// ConditionFailed reports whether err is a strong write's failed
// condition, and the key's current value it carries.
func ConditionFailed(err error) (*kvpb.ConditionFailed, bool) {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.FailedPrecondition {
		return nil, false
	}
	for _, d := range st.Details() {
		if cf, ok := d.(*kvpb.ConditionFailed); ok {
			return cf, true
		}
	}
	return nil, false
}

// Indeterminate reports whether err is a strong write that may still take
// effect (it timed out or lost to contention after its accept round), and
// the versions it would have if it does (none for an item write: items show
// no versions). An Aborted or Unavailable write without it changed nothing.
func Indeterminate(err error) ([][]byte, bool) {
	st, ok := status.FromError(err)
	if !ok {
		return nil, false
	}
	for _, d := range st.Details() {
		if in, ok := d.(*kvpb.Indeterminate); ok {
			return in.Contexts, true
		}
	}
	return nil, false
}

// Code returns the gRPC status code of err (codes.OK for nil).
func Code(err error) codes.Code { return status.Code(err) }
