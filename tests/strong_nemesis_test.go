package tests

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/causal"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The strong workload: concurrent clients on the keys of a strong table,
// through every member, under the nemesis; the history is checked for
// linearizability with porcupine (checkStrong).
const (
	strongTable   = "registers"
	strongWorkers = 6
	// Hot keys are few and shared by every worker (contention, failed
	// conditions); cold keys are many. Both rotate, so that each key's
	// history stays short enough for porcupine's search, which grows
	// exponentially with the operations of one key that overlap or stay
	// open (a write of unknown outcome may take effect at any later
	// time): hot keys every hotEpoch, cold keys every coldEpoch, long
	// enough for a key to live through faults and their heals.
	hotKeys   = 3
	hotEpoch  = 2 * time.Second
	coldKeys  = 64
	coldEpoch = 30 * time.Second
	// strongTimeout is the proposer's deadline at the node, past which a
	// write that reached its accept round answers the versions it may
	// still take effect with; the client waits strongDeadline, longer, so
	// that it gets that answer unless the node cannot send it (dead,
	// frozen, cut off from the client).
	strongTimeout  = 2 * time.Second
	strongDeadline = 4 * time.Second
	// strongCalm is how long the workload runs on once the faults are
	// healed and every member sees every other up.
	strongCalm = 5 * time.Second
)

// strongKeys picks a key: a hot one three times in five.
type strongKeys struct{ start time.Time }

func (k strongKeys) pick(rng *rand.Rand) string {
	since := time.Since(k.start)
	if rng.IntN(5) < 3 {
		return fmt.Sprintf("hot-%d-%d", since/hotEpoch, rng.IntN(hotKeys))
	}
	return fmt.Sprintf("cold-%d-%d", since/coldEpoch, rng.IntN(coldKeys))
}

// runStrong starts the strong workers on table.
func (w *workload) runStrong(ctx context.Context, seed uint64, table string, keys strongKeys) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range strongWorkers {
		seen := map[string][]byte{} // the worker's own
		w.spawn(ctx, &wg, seed, func(id int, rng *rand.Rand, n int) {
			if !w.strongOp(table, keys, id, rng, n, seen) {
				time.Sleep(50 * time.Millisecond) // a failing node answers at once
			}
		})
	}
	return &wg
}

// strongOp does worker id's n-th operation through a random member and
// records it: a get, a put if absent, a put or delete at the last version
// the worker saw of the key (a get instead if it saw none), or an
// unconditional put or delete. A put's value is its id. seen holds the
// worker's last version of each key: from a get, its own put or delete,
// or a failed condition. It reports whether the operation was answered.
func (w *workload) strongOp(table string, keys strongKeys, id int, rng *rand.Rand, n int, seen map[string][]byte) bool {
	key := keys.pick(rng)
	i := w.pick(rng)
	o := op{ID: fmt.Sprintf("s%d-%d", id, n), Worker: id, Key: key, Node: fmt.Sprint(i), Status: "invoke"}
	switch r := rng.IntN(20); {
	case r < 6:
		o.Kind = "get"
	case r < 9:
		o.Kind, o.Cond = "put", "absent"
	case r < 13:
		o.Kind, o.Cond = "put", "version"
	case r < 15:
		o.Kind, o.Cond = "delete", "version"
	case r < 18:
		o.Kind = "put"
	default:
		o.Kind = "delete"
	}
	if o.Cond == "version" {
		if o.Context = seen[key]; o.Context == nil {
			o.Kind, o.Cond = "get", ""
		}
	}
	if o.Kind == "put" {
		o.Value = o.ID
	}
	w.hist.record(o)
	ctx, cancel := context.WithTimeout(context.Background(), strongDeadline)
	defer cancel()
	cl, opts, k := w.clients[i], client.Options{Table: table, Timeout: strongTimeout}, []byte(key)
	var (
		err   error
		res   *client.Result
		reply []byte
	)
	switch {
	case o.Kind == "get":
		res, err = cl.Get(ctx, k, opts)
	case o.Kind == "put" && o.Cond == "":
		reply, err = cl.Put(ctx, k, []byte(o.Value), nil, opts)
	case o.Kind == "put":
		reply, err = cl.PutIf(ctx, k, []byte(o.Value), o.Context, opts) // no version: if absent
	default: // the raw call: the Go client's Delete answers no version
		var dr *kvpb.DeleteResponse
		dr, err = cl.KV().Delete(ctx, &kvpb.DeleteRequest{Key: k, IfVersion: o.Context, TimeoutMs: uint32(strongTimeout / time.Millisecond), Table: table})
		if err == nil {
			reply = dr.Context
		}
	}
	done := op{ID: o.ID, Worker: id, Kind: o.Kind, Key: key, Node: o.Node, Cond: o.Cond}
	var cf *kvpb.ConditionFailed
	done.Status, done.Possible, cf = strongOutcome(o.Kind, err)
	if err != nil {
		done.Err = err.Error()
	}
	switch {
	case done.Status == "ok" && o.Kind == "get":
		done.Context = res.Context
		done.Versions = strs(res.Siblings)
		remember(seen, key, res.Context)
	case done.Status == "ok": // a put's or a delete's new version
		done.Reply = reply
		remember(seen, key, reply)
	case cf != nil:
		done.Context = cf.Context
		if cf.Exists {
			done.Versions = []string{string(cf.Value)}
		}
		remember(seen, key, cf.Context)
	}
	w.hist.record(done)
	return done.Status == "ok" || done.Status == "condition-failed"
}

// remember keeps version as the last seen of key (none: the key was never
// written).
func remember(seen map[string][]byte, key string, version []byte) {
	if len(version) == 0 {
		delete(seen, key)
	} else {
		seen[key] = version
	}
}

// strongOutcome classifies a strong request's answer: ok; condition-failed
// (with the key's value); unknown, for a write that may still take effect
// (the versions it would have if the node said them, none otherwise); fail,
// for a request that certainly changed nothing (any failed get).
func strongOutcome(kind string, err error) (string, [][]byte, *kvpb.ConditionFailed) {
	if err == nil {
		return "ok", nil, nil
	}
	if cf, ok := client.ConditionFailed(err); ok {
		return "condition-failed", nil, cf
	}
	if possible, ok := client.Indeterminate(err); ok && kind != "get" {
		return "unknown", possible, nil
	}
	if kind == "get" || changedNothing(err) {
		return "fail", nil, nil
	}
	return "unknown", nil, nil
}

// changedNothing tells a strong write's error that certainly left its key
// as it was: the node answered it without an Indeterminate detail (a
// refusal, an overloaded node's queue that had no room for it, or a write that never reached its accept round, whose message
// is its outcome's, as actors.StrongError writes it, or the node's own
// refusal to serve before it hears from the cluster), or the client never
// sent it: it found no connection, as grpc-go makes a connection usable
// only once the server's preface has arrived, so a failed dial or
// preface means no request went out. Any other error may hide a write
// that took effect: the node did not answer (it died or froze
// mid-request, the client's deadline passed), or its request machinery
// failed (Internal, a crashed state machine).
func changedNothing(err error) bool {
	st, _ := status.FromError(err)
	msg := st.Message()
	switch st.Code() {
	case codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition, codes.Aborted, codes.ResourceExhausted:
		return true
	case codes.Unavailable:
		for _, answer := range []string{paxos.OutcomeUnavailable.String() + ":", paxos.OutcomeContention.String() + ":"} {
			if strings.HasPrefix(msg, answer) {
				return true
			}
		}
		for _, never := range []string{"has not heard from any other member since it started", "transport: Error while dialing", "error reading server preface"} {
			if strings.Contains(msg, never) {
				return true
			}
		}
	}
	return false
}

// createStrongTable creates the strong table through n1 and returns it.
func createStrongTable(c *testCluster, name string) catalog.Table {
	c.t.Helper()
	var desc *kvpb.TableDescription
	c.eventually(30*time.Second, "strong table "+name+" created", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := c.nodes[0].client.Tables().CreateTable(ctx, &kvpb.CreateTableRequest{Name: name, Consistency: string(catalog.Strong)})
		if client.Code(err) == codes.AlreadyExists { // an earlier try took effect
			d, err := c.nodes[0].client.Tables().DescribeTable(ctx, &kvpb.DescribeTableRequest{Name: name})
			if err != nil {
				return err
			}
			desc = d.Table
			return nil
		}
		if err != nil {
			return err
		}
		desc = res.Table
		return nil
	})
	if desc.Consistency != string(catalog.Strong) {
		c.t.Fatalf("table %s is %s", name, desc.Consistency)
	}
	return catalog.Table{Name: desc.Name, ID: desc.Id, Consistency: catalog.Strong}
}

// versionOpener opens the versions of table's keys: the nemesis runs'
// nodes have no --cluster-secret-file, so they seal with the built-in
// secret.
func versionOpener(t *testing.T, table catalog.Table) func(key string, version []byte) (paxos.Ballot, error) {
	sealer, err := causal.NewSealer([][]byte{[]byte(causal.DefaultSecret)})
	if err != nil {
		t.Fatal(err)
	}
	return func(key string, version []byte) (paxos.Ballot, error) {
		if len(version) == 0 {
			return paxos.Ballot{}, nil // never written
		}
		b, err := sealer.OpenVersion(catalog.Key(table, []byte(key)), version)
		if errors.Is(err, causal.ErrNotIssued) {
			err = fmt.Errorf("%w (do the nodes seal with the built-in secret?)", err)
		}
		return b, err
	}
}

// runStrongNemesis runs the strong workload on nodes hosts for d while
// injecting faults of kinds, heals, runs on for strongCalm, and checks
// that the history is linearizable, that it is not vacuous, and that
// every member served writes after the heal.
func runStrongNemesis(t *testing.T, nodes int, kinds []string, d time.Duration, seed uint64, pace pacing, skew time.Duration, m strongMinimums) *strongSummary {
	n, hist := startNemesis(t, "TestStrongNemesisLong", "strong-history", nodes, kinds, d, seed, pace, skew)
	c, w := n.c, n.w
	table := createStrongTable(c, strongTable)
	ctx, stop := context.WithCancel(context.Background())
	wg := w.runStrong(ctx, seed, table.Name, strongKeys{start: time.Now()})
	// Stopped on every way out, a failure included.
	defer func() { stop(); wg.Wait() }()
	n.inject(kinds, d, pace)
	n.h.heal()
	c.waitAllUp()
	n.note("healed; every member sees every other up")
	calmStart := time.Now()
	time.Sleep(strongCalm) // the calm phase's length
	stop()
	wg.Wait()
	all := hist.all()
	s := &strongSummary{}
	s.count(all)
	s.checkNotVacuous(m)
	s.checkCalm(all, calmStart, n.hosts())
	ops, err := strongOperations(all, versionOpener(t, table))
	if err != nil {
		t.Fatalf("seed %d: the history cannot be checked: %v", seed, err)
	}
	s.checkLinearizable(ops, strongCheckTimeout, n.evidence)
	t.Logf("strong nemesis seed %d: %s; faults:\n%s", seed, s, strings.Join(n.log, "\n"))
	if len(s.refusals) > 0 {
		t.Errorf("seed %d: the history proves nothing:\n%s", seed, strings.Join(s.refusals, "\n"))
	}
	if len(s.problems) > 0 {
		t.Errorf("seed %d: %s", seed, strings.Join(s.problems, "\n"))
	}
	return s
}

// ciStrongMinimums are what a strong run must have done, set for CI's
// short run with a wide margin (docs/reliability.md gives what runs
// record).
var ciStrongMinimums = strongMinimums{OKWrites: 1000, OKGets: 1000, OKIfVersion: 200, ConditionFailed: 200, MaxUnknownShare: 0.5}

// The short strong nemesis suite CI runs, each node in its own network
// namespace, at the short pace, with clocks off by up to ±ciSkew: on 3
// nodes, seed 1 through every fault kind at least once, and a random
// seed (printed, so that a failure can be replayed) through every kind
// but the wipes, whose heals wait for the wiped node's rebuild (up to a
// minute each: docs/reliability.md), to keep CI's time; and a random seed
// on 5 nodes weighted towards joins and leaves, the mix that found the
// holes of 2026-12-07 (overlapping ring changes, tombstones dropped
// around partial views: docs/reliability.md).
func TestStrongNemesis(t *testing.T) {
	for _, r := range []struct {
		nodes int
		seed  uint64
		kinds []string
	}{{3, 1, nemesisAll}, {3, rand.Uint64N(1 << 32), kindsButWipes()}, {5, rand.Uint64N(1 << 32), membershipHeavy}} {
		t.Run(fmt.Sprintf("%d-nodes-seed-%d", r.nodes, r.seed), func(t *testing.T) {
			runStrongNemesis(t, r.nodes, r.kinds, 40*time.Second, r.seed, shortPacing, ciSkew, ciStrongMinimums)
		})
	}
}

// membershipHeavy is a deck of faults where joins and leaves come twice
// as often as each other kind.
var membershipHeavy = []string{"join-leave", "kill", "partition", "pause", "majority", "join-leave", "ring"}

// The configurable run, with TestNemesisLong's flags: go test ./tests -run
// '^TestStrongNemesisLong$' -timeout 0 -args -nemesis.duration 10m
// -nemesis.nodes 5 -nemesis.kinds kill,pause ...
func TestStrongNemesisLong(t *testing.T) {
	if *nemesisDuration == 0 {
		t.Skip("set -nemesis.duration to run it")
	}
	seed, pace := longRun(t)
	s := runStrongNemesis(t, *nemesisNodes, strings.Split(*nemesisKinds, ","), *nemesisDuration, seed, pace, *nemesisSkew, ciStrongMinimums)
	report(t, s.markdownRow(*nemesisNodes, *nemesisKinds, *nemesisDuration, seed))
}
