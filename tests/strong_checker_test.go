package tests

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/harmoniakv/harmonia/cluster/catalog"
	"github.com/harmoniakv/harmonia/cluster/causal"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// strongHistoryBuilder makes hand-made strong histories whose versions are
// sealed as a node seals them, timed one millisecond a record.
type strongHistoryBuilder struct {
	t      *testing.T
	sealer *causal.Sealer
	table  catalog.Table
	ops    []op
}

func newStrongHistoryBuilder(t *testing.T) *strongHistoryBuilder {
	sealer, err := causal.NewSealer([][]byte{[]byte(causal.DefaultSecret)})
	if err != nil {
		t.Fatal(err)
	}
	return &strongHistoryBuilder{t: t, sealer: sealer, table: catalog.Table{ID: 7, Consistency: catalog.Strong}}
}

// v is the sealed version of key k at sequence number seq.
func (b *strongHistoryBuilder) v(k string, seq uint64) []byte {
	return b.sealer.SealVersion(catalog.Key(b.table, []byte(k)), paxos.Ballot{Round: 10, Node: "n1", Incarnation: 1, Seq: seq})
}

func (b *strongHistoryBuilder) add(o op) {
	o.Time = time.Unix(1000, 0).Add(time.Duration(len(b.ops)) * time.Millisecond)
	b.ops = append(b.ops, o)
}

// call records the invocation of kind on key k by worker 0; cond and
// version are a write's condition.
func (b *strongHistoryBuilder) call(id, kind, k, cond string, version []byte) {
	o := op{ID: id, Kind: kind, Key: k, Status: "invoke", Cond: cond, Context: version}
	if kind == "put" {
		o.Value = id
	}
	b.add(o)
}

// end records id's completion: status, the value and version shown (a
// get's, a failed condition's), a put's reply, an unknown write's possible
// versions.
func (b *strongHistoryBuilder) end(id, kind, k, status, value string, version, reply []byte, possible ...[]byte) {
	o := op{ID: id, Kind: kind, Key: k, Status: status, Context: version, Reply: reply, Possible: possible}
	for _, inv := range b.ops {
		if inv.ID == id && inv.Status == "invoke" {
			o.Cond = inv.Cond // as a run records it
		}
	}
	if value != "" {
		o.Versions = []string{value}
	}
	b.add(o)
}

// done records an operation invoked and completed before the next one.
func (b *strongHistoryBuilder) done(id, kind, k, cond string, sent []byte, status, value string, version, reply []byte, possible ...[]byte) {
	b.call(id, kind, k, cond, sent)
	b.end(id, kind, k, status, value, version, reply, possible...)
}

// check runs the linearizability check on the history, keeping evidence
// in dir.
func (b *strongHistoryBuilder) check(dir string) *strongSummary {
	ops, err := strongOperations(b.ops, versionOpener(b.t, b.table))
	if err != nil {
		b.t.Fatal(err)
	}
	s := &strongSummary{}
	s.count(b.ops)
	s.checkLinearizable(ops, 10*time.Second, func() string { return dir })
	return s
}

// The strong checker judges hand-made histories as it should, through
// the records a run makes (sealed versions, open ends): a checker that
// cannot fail proves nothing.
func TestStrongChecker(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(b *strongHistoryBuilder)
		bad   []string
	}{
		{"puts, gets, a compare-and-set, deletes", func(b *strongHistoryBuilder) {
			b.done("s0-1", "put", "k", "absent", nil, "ok", "", nil, b.v("k", 1))
			b.done("s0-2", "get", "k", "", nil, "ok", "s0-1", b.v("k", 1), nil)
			b.done("s0-3", "put", "k", "version", b.v("k", 1), "ok", "", nil, b.v("k", 2))
			b.done("s0-4", "put", "k", "version", b.v("k", 1), "condition-failed", "s0-3", b.v("k", 2), nil)
			b.done("s0-5", "delete", "k", "version", b.v("k", 2), "ok", "", nil, nil)
			b.done("s0-6", "get", "k", "", nil, "ok", "", b.v("k", 3), nil)
			b.done("s0-7", "get", "j", "", nil, "ok", "", nil, nil) // never written
			b.done("s0-8", "put", "j", "", nil, "fail", "", nil, nil)
		}, nil},
		{"a stale read", func(b *strongHistoryBuilder) {
			b.done("s0-1", "put", "k", "", nil, "ok", "", nil, b.v("k", 1))
			b.done("s0-2", "put", "k", "", nil, "ok", "", nil, b.v("k", 2))
			b.done("s0-3", "get", "k", "", nil, "ok", "s0-1", b.v("k", 1), nil)
		}, []string{"k"}},
		{"a compare-and-set won at a version the key no longer had", func(b *strongHistoryBuilder) {
			b.done("s0-1", "put", "k", "", nil, "ok", "", nil, b.v("k", 1))
			b.done("s0-2", "delete", "k", "", nil, "ok", "", nil, nil)
			b.done("s0-3", "put", "k", "version", b.v("k", 1), "ok", "", nil, b.v("k", 2))
		}, []string{"k"}},
		{"a deleted value comes back, on one key of two", func(b *strongHistoryBuilder) {
			b.done("s0-1", "put", "j", "", nil, "ok", "", nil, b.v("j", 1))
			b.done("s0-2", "put", "k", "", nil, "ok", "", nil, b.v("k", 1))
			b.done("s0-3", "delete", "k", "version", b.v("k", 1), "ok", "", nil, nil)
			b.done("s0-4", "get", "k", "", nil, "ok", "s0-2", b.v("k", 1), nil)
		}, []string{"k"}},
		{"a delete answers its tombstone's version", func(b *strongHistoryBuilder) {
			b.done("s0-1", "put", "k", "", nil, "ok", "", nil, b.v("k", 1))
			b.done("s0-2", "delete", "k", "version", b.v("k", 1), "ok", "", nil, b.v("k", 2))
			b.done("s0-3", "get", "k", "", nil, "ok", "", b.v("k", 2), nil)
			b.done("s0-4", "put", "k", "version", b.v("k", 2), "ok", "", nil, b.v("k", 3))
		}, nil},
		{"a get shows another tombstone than the delete answered", func(b *strongHistoryBuilder) {
			b.done("s0-1", "put", "k", "", nil, "ok", "", nil, b.v("k", 1))
			b.done("s0-2", "delete", "k", "", nil, "ok", "", nil, b.v("k", 2))
			b.done("s0-3", "get", "k", "", nil, "ok", "", b.v("k", 3), nil)
		}, []string{"k"}},
		{"a dropped tombstone reads as never written, and stays so", func(b *strongHistoryBuilder) {
			b.done("s0-1", "put", "k", "", nil, "ok", "", nil, b.v("k", 1))
			b.done("s0-2", "delete", "k", "", nil, "ok", "", nil, b.v("k", 2))
			b.done("s0-3", "get", "k", "", nil, "ok", "", nil, nil)
			b.done("s0-4", "get", "k", "", nil, "ok", "", b.v("k", 2), nil)
		}, []string{"k"}},
		{"a write the node never answered takes effect later", func(b *strongHistoryBuilder) {
			b.done("s0-1", "put", "k", "", nil, "unknown", "", nil, nil)
			b.done("s0-2", "get", "k", "", nil, "ok", "", nil, nil)
			b.done("s0-3", "get", "k", "", nil, "ok", "s0-1", b.v("k", 9), nil)
		}, nil},
		{"a write never completed takes effect", func(b *strongHistoryBuilder) {
			b.call("s0-1", "delete", "k", "", nil)
			b.done("s1-1", "get", "k", "", nil, "ok", "", b.v("k", 9), nil)
		}, nil},
		{"an Indeterminate write takes effect at one of its versions", func(b *strongHistoryBuilder) {
			b.done("s0-1", "put", "k", "", nil, "unknown", "", nil, nil, b.v("k", 4), b.v("k", 5))
			b.done("s0-2", "get", "k", "", nil, "ok", "s0-1", b.v("k", 5), nil)
		}, nil},
		{"an Indeterminate write takes effect at another version", func(b *strongHistoryBuilder) {
			b.done("s0-1", "put", "k", "", nil, "unknown", "", nil, nil, b.v("k", 4), b.v("k", 5))
			b.done("s0-2", "get", "k", "", nil, "ok", "s0-1", b.v("k", 6), nil)
		}, []string{"k"}},
		{"a write that certainly failed takes effect", func(b *strongHistoryBuilder) {
			b.done("s0-1", "put", "k", "", nil, "fail", "", nil, nil)
			b.done("s0-2", "get", "k", "", nil, "ok", "s0-1", b.v("k", 1), nil)
		}, []string{"k"}},
		{"concurrent writes, read in either order", func(b *strongHistoryBuilder) {
			b.call("s0-1", "put", "k", "", nil)
			b.call("s1-1", "put", "k", "", nil)
			b.end("s1-1", "put", "k", "ok", "", nil, b.v("k", 2))
			b.end("s0-1", "put", "k", "ok", "", nil, b.v("k", 1))
			b.done("s0-2", "get", "k", "", nil, "ok", "s0-1", b.v("k", 1), nil)
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newStrongHistoryBuilder(t)
			tc.build(b)
			dir := t.TempDir()
			s := b.check(dir)
			if !slices.Equal(s.BadKeys, tc.bad) || (s.Result == porcupine.Ok) != (tc.bad == nil) {
				t.Fatalf("%s, bad keys %v; want bad keys %v (%v)", s.Result, s.BadKeys, tc.bad, s.problems)
			}
			if tc.bad == nil {
				return
			}
			keys, err := os.ReadFile(filepath.Join(dir, "strong-keys.txt"))
			if err != nil || !strings.Contains(string(keys), "key k: Illegal") {
				t.Fatalf("strong-keys.txt: %v\n%s", err, keys)
			}
			if html, err := os.ReadFile(filepath.Join(dir, "strong-linearizability.html")); err != nil || len(html) == 0 {
				t.Fatalf("no visualization: %v", err)
			}
			if len(s.problems) != 1 || !strings.Contains(s.problems[0], dir) {
				t.Fatalf("problems %v, want one naming %s", s.problems, dir)
			}
		})
	}
}

// A history whose records do not fit together, or whose versions this
// cluster did not seal, cannot be checked, and says why.
func TestStrongCheckerRefusesBadRecords(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(b *strongHistoryBuilder)
		want  string
	}{
		{"a completion never invoked", func(b *strongHistoryBuilder) {
			b.end("s0-1", "put", "k", "ok", "", nil, b.v("k", 1))
		}, "not invoked"},
		{"a completion twice", func(b *strongHistoryBuilder) {
			b.done("s0-1", "put", "k", "", nil, "ok", "", nil, b.v("k", 1))
			b.end("s0-1", "put", "k", "ok", "", nil, b.v("k", 1))
		}, "completed twice"},
		{"a version of another key", func(b *strongHistoryBuilder) {
			b.done("s0-1", "put", "k", "", nil, "ok", "", nil, b.v("j", 1))
		}, "not issued"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newStrongHistoryBuilder(t)
			tc.build(b)
			if _, err := strongOperations(b.ops, versionOpener(t, b.table)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// A run that did too little, or whose writes mostly ended unknown, is
// refused; a host that served no write after the heal is a problem.
func TestStrongCheckerVacuousRun(t *testing.T) {
	m := strongMinimums{OKWrites: 2, OKGets: 1, OKIfVersion: 1, ConditionFailed: 1, MaxUnknownShare: 0.5}
	b := newStrongHistoryBuilder(t)
	b.done("s0-1", "put", "k", "absent", nil, "ok", "", nil, b.v("k", 1))
	b.done("s0-2", "get", "k", "", nil, "ok", "s0-1", b.v("k", 1), nil)
	b.done("s0-3", "put", "k", "version", b.v("k", 1), "ok", "", nil, b.v("k", 2))
	b.done("s0-4", "put", "k", "absent", nil, "condition-failed", "s0-3", b.v("k", 2), nil)
	b.done("s0-5", "delete", "k", "", nil, "unknown", "", nil, nil)
	s := &strongSummary{}
	s.count(b.ops)
	s.checkNotVacuous(m)
	if len(s.refusals) > 0 || s.Unknown != 1 || s.Open != 1 || s.UnknownShare != 0.25 {
		t.Fatalf("refused a healthy run, or miscounted: %v %+v", s.refusals, s)
	}
	for i := range 4 {
		b.done(fmt.Sprint("s1-", i), "put", "k", "", nil, "unknown", "", nil, nil, b.v("k", uint64(10+i)))
	}
	s = &strongSummary{}
	s.count(b.ops)
	s.checkNotVacuous(strongMinimums{OKWrites: 3, OKGets: 2, OKIfVersion: 2, ConditionFailed: 2, MaxUnknownShare: 0.5})
	if len(s.refusals) != 5 {
		t.Fatalf("refusals %v, want too few of each kind and too many unknowns (5 of 8)", s.refusals)
	}

	heal := time.Unix(2000, 0)
	var calm []op
	for i, node := range []string{"0", "1", "0", "2"} {
		id := fmt.Sprint("s2-", i)
		at := heal.Add(time.Duration(i) * time.Second)
		if node == "2" {
			at = heal.Add(-time.Second) // invoked before the heal
		}
		calm = append(calm, op{ID: id, Kind: "put", Key: "k", Node: node, Status: "invoke", Time: at},
			op{ID: id, Kind: "put", Key: "k", Node: node, Status: "ok", Time: at.Add(time.Millisecond)})
	}
	s = &strongSummary{}
	s.checkCalm(calm, heal, []int{0, 1, 2})
	if len(s.problems) != 1 || !strings.Contains(s.problems[0], "host 2") || s.CalmWrites["0"] != 2 {
		t.Fatalf("calm writes %v, problems %v; want host 2 reported", s.CalmWrites, s.problems)
	}
}

// Which strong errors leave the key unchanged for certain, and which may
// hide a write that took effect.
func TestStrongOutcome(t *testing.T) {
	withDetail := func(code codes.Code, msg string, detail *kvpb.Indeterminate) error {
		st, err := status.New(code, msg).WithDetails(detail)
		if err != nil {
			t.Fatal(err)
		}
		return st.Err()
	}
	cf, err := status.New(codes.FailedPrecondition, "condition failed").WithDetails(&kvpb.ConditionFailed{Exists: true, Value: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, kind string
		err        error
		want       string
		possible   int
	}{
		{"ok", "put", nil, "ok", 0},
		{"a failed condition", "delete", cf.Err(), "condition-failed", 0},
		{"lost its accept round", "put", withDetail(codes.Aborted, "contention: lost", &kvpb.Indeterminate{Contexts: [][]byte{{1}, {2}}}), "unknown", 2},
		{"timed out after its accept round", "delete", withDetail(codes.Unavailable, "unavailable: timed out", &kvpb.Indeterminate{Contexts: [][]byte{{1}}}), "unknown", 1},
		{"no quorum before its accept round", "put", status.Error(codes.Unavailable, "unavailable: no quorum of the key's replicas answered in time"), "fail", 0},
		{"contention before its accept round", "put", status.Error(codes.Aborted, "contention: contention: outbid"), "fail", 0},
		{"a node alone", "put", status.Error(codes.Unavailable, "this node has not heard from any other member since it started; retry shortly"), "fail", 0},
		{"never dialled", "put", status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 10.0.0.1:8000: connect: connection refused"`), "fail", 0},
		{"no server preface", "delete", status.Error(codes.Unavailable, `connection error: desc = "error reading server preface: connection reset by peer"`), "fail", 0},
		{"a refusal", "put", status.Error(codes.InvalidArgument, "bad"), "fail", 0},
		{"no room in the key's queue", "delete", status.Error(codes.ResourceExhausted, "overloaded"), "fail", 0},
		{"the node died mid-request", "put", status.Error(codes.Unavailable, "error reading from server: connection reset by peer"), "unknown", 0},
		{"the client's deadline", "delete", status.Error(codes.DeadlineExceeded, "context deadline exceeded"), "unknown", 0},
		{"the node's request machinery failed", "put", status.Error(codes.Internal, "state machine crashed"), "unknown", 0},
		{"not a status", "put", errors.New("eof"), "unknown", 0},
		{"a get that timed out", "get", status.Error(codes.DeadlineExceeded, "context deadline exceeded"), "fail", 0},
	} {
		got, possible, detail := strongOutcome(tc.kind, tc.err)
		if got != tc.want || len(possible) != tc.possible || (detail != nil) != (got == "condition-failed") {
			t.Errorf("%s: %s with %d versions (detail %v), want %s with %d", tc.name, got, len(possible), detail, tc.want, tc.possible)
		}
	}
}
