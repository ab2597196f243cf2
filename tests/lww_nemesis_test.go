package tests

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"google.golang.org/grpc/codes"
)

// The last-writer-wins workload: on an eventual table with conflict = lww,
// each writer owns a few keys and writes or deletes them one at a time
// through random members, each write with the context its previous
// acknowledged write of the key returned. So every acknowledged write
// causally follows every write acknowledged before it, however far apart
// the clocks of the members that stamped them, and must win over all of
// them: the key's final value is its last acknowledged write (or nothing,
// after an acknowledged delete). Only a write of unknown outcome may end
// above it: the writer never learned of it, so the two are concurrent and
// last-writer-wins keeps either (checkLWW).
const (
	lwwTable   = "lww-registers"
	lwwWriters = 4
	lwwKeys    = 25 // per writer: each key's last write is checked
)

func lwwKey(writer, k int) string { return fmt.Sprintf("l-%d-%d", writer, k) }

func createLWWTable(c *testCluster) {
	c.t.Helper()
	c.eventually(30*time.Second, "lww table created", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.nodes[0].client.Tables().CreateTable(ctx, &kvpb.CreateTableRequest{Name: lwwTable, Conflict: "lww"})
		if client.Code(err) == codes.AlreadyExists { // an earlier try took effect
			return nil
		}
		return err
	})
}

// runLWW starts the writers; each keeps, per key, the context its last
// acknowledged write returned.
func (w *workload) runLWW(ctx context.Context, seed uint64) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range lwwWriters {
		contexts := map[string][]byte{}
		w.spawn(ctx, &wg, seed, func(id int, rng *rand.Rand, n int) {
			key := lwwKey(id, rng.IntN(lwwKeys))
			kind := "write"
			if rng.IntN(10) < 3 {
				kind = "delete"
			}
			reply, answered := w.lwwWrite(id, w.pick(rng), fmt.Sprintf("w%d-%d", id, n), kind, key, contexts[key])
			if reply != nil {
				contexts[key] = reply
			}
			if !answered {
				time.Sleep(50 * time.Millisecond) // a failing node answers at once
			}
		})
	}
	return &wg
}

// lwwWrite puts (its value is its id) or deletes key through client i
// with causal, and records it. It returns the context an acknowledged
// write returned, and whether the write was answered.
func (w *workload) lwwWrite(worker, i int, id, kind, key string, causal []byte) ([]byte, bool) {
	value := id
	if kind == "delete" {
		value = ""
	}
	w.hist.record(op{ID: id, Worker: worker, Kind: kind, Key: key, Value: value, Status: "invoke", Node: fmt.Sprint(i), Context: causal})
	ctx, cancel := w.ctx()
	defer cancel()
	o := client.Options{Quorum: "quorum", Table: lwwTable}
	var reply []byte
	var err error
	if kind == "delete" {
		var res *kvpb.DeleteResponse
		res, err = w.clients[i].KV().Delete(ctx, &kvpb.DeleteRequest{Key: []byte(key), Context: causal, W: o.Quorum, Table: lwwTable})
		if err == nil {
			reply = res.Context
		}
	} else {
		reply, err = w.clients[i].Put(ctx, []byte(key), []byte(value), causal, o)
	}
	status, msg := outcome(err)
	w.hist.record(op{ID: id, Worker: worker, Kind: kind, Key: key, Value: value, Status: status, Node: fmt.Sprint(i), Reply: reply, Err: msg})
	return reply, client.Code(err) != codes.Unavailable && client.Code(err) != codes.DeadlineExceeded
}

// lwwFinal reads key at R=all through every member once the replicas
// converged, and records each read with the values it returned.
func (n *nemesis) lwwFinal(key string) {
	for _, i := range n.hosts() {
		var res *client.Result
		n.c.eventually(30*time.Second, "final read of "+key, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var err error
			res, err = n.w.clients[i].Get(ctx, []byte(key), client.Options{Quorum: "all", Table: lwwTable})
			return err
		})
		n.w.hist.record(op{ID: fmt.Sprintf("final-%s-%d", key, i), Worker: -1, Kind: "final", Key: key, Status: "ok", Node: fmt.Sprint(i),
			Siblings: len(res.Siblings), Versions: strs(res.Siblings)})
	}
}

// lwwCounts summarises a history's writes.
type lwwCounts struct{ okWrites, okDeletes, unknown, total int }

// checkLWW judges the final reads of each key against its writes, in the
// order its one writer made them: every final read holds at most one
// value, they agree, and that value (or its absence) is the last
// acknowledged write's, or one of a write of unknown outcome. An earlier
// acknowledged write in its place is a causally later write lost; a
// failed write's value, or one never written, is made up. It returns the
// problems and how many keys it judged.
func checkLWW(ops []op) (problems []string, checked int, counts lwwCounts) {
	type keyOps struct {
		last    *op // the last acknowledged write or delete
		acked   map[string]bool
		failed  map[string]bool
		unknown map[string]bool // values of writes of unknown outcome; "" a delete
		finals  []op
	}
	keys := map[string]*keyOps{}
	var order []string
	for _, o := range ops {
		if o.Status == "invoke" {
			continue
		}
		k := keys[o.Key]
		if k == nil {
			k = &keyOps{acked: map[string]bool{}, failed: map[string]bool{}, unknown: map[string]bool{}}
			keys[o.Key] = k
			order = append(order, o.Key)
		}
		switch {
		case o.Kind == "final":
			k.finals = append(k.finals, o)
			continue
		case o.Status == "ok":
			o := o
			k.last = &o
			if o.Kind == "write" {
				k.acked[o.Value] = true
				counts.okWrites++
			} else {
				counts.okDeletes++
			}
		case o.Status == "unknown":
			k.unknown[o.Value] = true
			counts.unknown++
		default:
			k.failed[o.Value] = true
		}
		counts.total++
	}
	for _, key := range order {
		k := keys[key]
		if len(k.finals) == 0 {
			problems = append(problems, fmt.Sprintf("%s: no final read", key))
			continue
		}
		final := ""
		for i, f := range k.finals {
			if len(f.Versions) > 1 {
				problems = append(problems, fmt.Sprintf("%s: the final read through host %s holds %d values %v: a last-writer-wins key has one", key, f.Node, len(f.Versions), f.Versions))
				continue
			}
			v := ""
			if len(f.Versions) == 1 {
				v = f.Versions[0]
			}
			if i == 0 {
				final = v
			} else if v != final {
				problems = append(problems, fmt.Sprintf("%s: final reads disagree: %q through host %s, %q through host %s", key, final, k.finals[0].Node, v, f.Node))
			}
		}
		want := ""
		if k.last != nil {
			want = k.last.Value
			checked++
		}
		switch {
		case final == want, k.unknown[final]:
		case k.acked[final]:
			problems = append(problems, fmt.Sprintf("%s: ends with acknowledged write %s, not the last acknowledged %s, which causally follows it: a later write lost", key, final, describeLast(k.last)))
		case final == "":
			problems = append(problems, fmt.Sprintf("%s: ends absent, but the last acknowledged write is %s and no delete's outcome is unknown", key, describeLast(k.last)))
		case k.failed[final]:
			problems = append(problems, fmt.Sprintf("%s: ends with %s, a write that failed", key, final))
		default:
			problems = append(problems, fmt.Sprintf("%s: ends with %q, which no write made", key, final))
		}
	}
	return problems, checked, counts
}

func describeLast(o *op) string {
	switch {
	case o == nil:
		return "none"
	case o.Kind == "delete":
		return "a delete (" + o.ID + ")"
	}
	return o.Value
}

// lwwMinimums are what a last-writer-wins run must have done, for it to
// prove anything.
type lwwMinimums struct {
	OKWrites, OKDeletes, KeysChecked int
	MaxUnknownShare                  float64
}

var ciLWWMinimums = lwwMinimums{OKWrites: 300, OKDeletes: 50, KeysChecked: lwwWriters * lwwKeys, MaxUnknownShare: 0.5}

// lwwRun is the last-writer-wins workload as one of a run's workloads.
func lwwRun(m lwwMinimums) eventualWorkload {
	return eventualWorkload{
		name:   "lww",
		owns:   func(key string) bool { return strings.HasPrefix(key, "l-") },
		create: createLWWTable,
		run:    (*workload).runLWW,
		final:  func(n *nemesis, key string) { n.lwwFinal(key) },
		judge: func(ops []op) (string, []string, []string) {
			problems, checked, counts := checkLWW(ops)
			summary := fmt.Sprintf("lww: %d writes (%d puts and %d deletes acknowledged, %d unknown), %d keys checked",
				counts.total, counts.okWrites, counts.okDeletes, counts.unknown, checked)
			short := counts.okWrites < m.OKWrites || counts.okDeletes < m.OKDeletes || checked < m.KeysChecked
			return summary, thinHistory("lww", short, m, counts.unknown, counts.total, m.MaxUnknownShare), problems
		},
	}
}

// The configurable run, with TestNemesisLong's flags: go test ./tests -run
// '^TestLWWNemesisLong$' -timeout 0 -args -nemesis.duration 10m
// -nemesis.nodes 5 -nemesis.kinds kill,pause,clock ...
func TestLWWNemesisLong(t *testing.T) {
	if *nemesisDuration == 0 {
		t.Skip("set -nemesis.duration to run it")
	}
	seed, pace := longRun(t)
	runEventualNemesis(t, "TestLWWNemesisLong", *nemesisNodes, strings.Split(*nemesisKinds, ","), *nemesisDuration, seed, pace, *nemesisSkew, lwwRun(ciLWWMinimums))
}

// The checker's rules, on made-up histories: a checker that passes what
// it should refuse proves nothing.
func TestLWWChecker(t *testing.T) {
	wr := func(id, status string) op {
		return op{ID: id, Kind: "write", Key: "k", Value: id, Status: status}
	}
	del := func(id, status string) op { return op{ID: id, Kind: "delete", Key: "k", Status: status} }
	final := func(values ...string) op {
		return op{Kind: "final", Key: "k", Status: "ok", Node: "0", Siblings: len(values), Versions: values}
	}
	for _, tc := range []struct {
		rule string
		ops  []op
		ok   bool
	}{
		{"the last acknowledged write is the final value", []op{wr("a", "ok"), wr("b", "ok"), final("b")}, true},
		{"an earlier acknowledged write in its place: a later write lost", []op{wr("a", "ok"), wr("b", "ok"), final("a")}, false},
		{"a write of unknown outcome may win", []op{wr("a", "ok"), wr("u", "unknown"), final("u")}, true},
		{"a write of unknown outcome before the last may win too: the writer never saw it", []op{wr("u", "unknown"), wr("a", "ok"), final("u")}, true},
		{"a failed write never wins", []op{wr("a", "ok"), wr("f", "fail"), final("f")}, false},
		{"a value no write made", []op{wr("a", "ok"), final("zzz")}, false},
		{"an acknowledged delete leaves nothing", []op{wr("a", "ok"), del("d", "ok"), final()}, true},
		{"the write before an acknowledged delete is lost to it", []op{wr("a", "ok"), del("d", "ok"), final("a")}, false},
		{"absent while the last acknowledged write is a value", []op{wr("a", "ok"), final()}, false},
		{"absent after a delete of unknown outcome", []op{wr("a", "ok"), del("d", "unknown"), final()}, true},
		{"two values: siblings on a last-writer-wins key", []op{wr("a", "ok"), wr("b", "unknown"), final("a", "b")}, false},
		{"final reads that disagree", []op{wr("a", "ok"), wr("b", "unknown"), final("a"), {Kind: "final", Key: "k", Status: "ok", Node: "1", Versions: []string{"b"}}}, false},
		{"a key without a final read", []op{wr("a", "ok")}, false},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			problems, _, _ := checkLWW(tc.ops)
			if (len(problems) == 0) != tc.ok {
				t.Fatalf("problems %q, want ok=%v", problems, tc.ok)
			}
		})
	}
}
