package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/messages/datatypepb"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestWorkloadReadPercent(t *testing.T) {
	for _, tc := range []struct {
		w    string
		want int
		ok   bool
	}{
		{"a", 50, true},
		{"b", 95, true},
		{"c", 100, true},
		{"w", 0, true},
		{"q", 100, true},
		{"d", 0, false},
		{"A", 0, false},
		{"", 0, false},
	} {
		got, ok := workloadReadPercent(tc.w)
		if got != tc.want || ok != tc.ok {
			t.Errorf("workloadReadPercent(%q) = %d, %v; want %d, %v", tc.w, got, ok, tc.want, tc.ok)
		}
	}
}

func TestChooseOp(t *testing.T) {
	for _, tc := range []struct {
		readPercent, roll int
		want              benchOp
	}{
		{50, 0, opRead},
		{50, 49, opRead},
		{50, 50, opUpdate},
		{50, 99, opUpdate},
		{95, 94, opRead},
		{95, 95, opUpdate},
		{100, 0, opRead},
		{100, 99, opRead},
	} {
		if got := chooseOp("a", tc.readPercent, tc.roll); got != tc.want {
			t.Errorf("chooseOp(%d, %d) = %v, want %v", tc.readPercent, tc.roll, got, tc.want)
		}
	}
	// Over every roll the mix is exactly the workload's.
	for _, w := range []string{"a", "b", "c"} {
		p, _ := workloadReadPercent(w)
		reads := 0
		for roll := range 100 {
			if chooseOp(w, p, roll) == opRead {
				reads++
			}
		}
		if reads != p {
			t.Errorf("workload %s: %d reads in 100 rolls, want %d", w, reads, p)
		}
	}
	// Workload w only writes.
	for roll := range 100 {
		if op := chooseOp("w", 0, roll); op != opWrite {
			t.Fatalf("workload w rolled %v", op)
		}
	}
}

func TestBenchKey(t *testing.T) {
	for _, tc := range []struct {
		i    int
		want string
	}{
		{0, "bench-00000000"},
		{42, "bench-00000042"},
		{9999, "bench-00009999"},
		{123456789, "bench-123456789"},
	} {
		if got := string(benchKey("bench-", tc.i)); got != tc.want {
			t.Errorf("benchKey(%d) = %q, want %q", tc.i, got, tc.want)
		}
		if got := string(appendBenchKey([]byte("junk")[:0], "bench-", tc.i)); got != tc.want {
			t.Errorf("appendBenchKey(%d) = %q, want %q", tc.i, got, tc.want)
		}
	}
}

func TestParseAddrs(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"127.0.0.1:8001", []string{"127.0.0.1:8001"}, false},
		{"a:1, b:2,c:3", []string{"a:1", "b:2", "c:3"}, false},
		{"a:1,,b:2", nil, true},
		{"", nil, true},
	} {
		got, err := parseAddrs(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("parseAddrs(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			continue
		}
		if err != nil {
			if !isUsage(err) {
				t.Errorf("parseAddrs(%q) error %v is not a usage error", tc.in, err)
			}
			continue
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("parseAddrs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func validConfig() Config {
	return Config{
		addrs: []string{"127.0.0.1:8001"}, workload: "a", clients: 16, duration: 30 * time.Second,
		timeout: 5 * time.Second, valueSize: 100, keys: 10000, load: true,
	}
}

func TestBenchConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mod     func(*Config)
		wantErr string // substring; "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"workload b", func(c *Config) { c.workload = "b" }, ""},
		{"workload w", func(c *Config) { c.workload = "w" }, ""},
		{"zero value size", func(c *Config) { c.valueSize = 0 }, ""},
		{"quorums", func(c *Config) { c.r, c.w = "one", "3" }, ""},
		{"bad workload", func(c *Config) { c.workload = "e" }, "--workload"},
		{"no clients", func(c *Config) { c.clients = 0 }, "--clients"},
		{"zero duration", func(c *Config) { c.duration = 0 }, "--duration"},
		{"negative value size", func(c *Config) { c.valueSize = -1 }, "--value-size"},
		{"no keys", func(c *Config) { c.keys = 0 }, "--keys"},
		{"negative warmup", func(c *Config) { c.warmup = -time.Second }, "--warmup"},
		{"negative ops", func(c *Config) { c.maxOps = -1 }, "--ops"},
		{"bad r", func(c *Config) { c.r = "most" }, "--r"},
		{"zero w", func(c *Config) { c.w = "0" }, "--w"},
		{"no addrs", func(c *Config) { c.addrs = nil }, "--addr"},
	} {
		cfg := validConfig()
		tc.mod(&cfg)
		err := cfg.validate()
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%s: unexpected error %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !isUsage(err) {
			t.Errorf("%s: error = %v, want a usage error mentioning %s", tc.name, err, tc.wantErr)
		}
	}
}

func statsWith(latsUs []int64, errs map[codes.Code]int64, notFound int64) *opStats {
	s := newOpStats()
	for _, us := range latsUs {
		s.record(time.Duration(us) * time.Microsecond)
	}
	for c, n := range errs {
		s.errs[c] = n
	}
	s.notFound = notFound
	return s
}

func TestBuildReport(t *testing.T) {
	// 1000 reads: 1ms..1000ms in 1ms steps; no updates, 3 errors.
	var lats []int64
	for i := int64(1); i <= 1000; i++ {
		lats = append(lats, i*1000)
	}
	cfg := validConfig()
	cfg.workload, cfg.readPercent = "b", 95
	res := &benchResult{elapsed: 2 * time.Second}
	res.ops[opRead] = statsWith(lats, nil, 7)
	res.ops[opUpdate] = statsWith(nil, map[codes.Code]int64{codes.Unavailable: 2, codes.DeadlineExceeded: 1, codes.OK: 0}, 0)
	res.ops[opWrite] = newOpStats()

	rep := buildReport(&cfg, res)
	near := func(name string, got, want float64) {
		t.Helper()
		if got < want*0.999 || got > want*1.001 {
			t.Errorf("%s = %v, want ~%v", name, got, want)
		}
	}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"workload", rep.Workload, "b"},
		{"read percent", rep.ReadPercent, 95},
		{"total ops", rep.TotalOps, int64(1000)},
		{"total errors", rep.TotalErrors, int64(3)},
		{"ops/s", rep.OpsPerSecond, 500.0},
		{"duration", rep.DurationS, 2.0},
		{"read count", rep.Read.Count, int64(1000)},
		{"read not found", rep.Read.NotFound, int64(7)},
		{"read errors", rep.Read.Errors, int64(0)},
		{"read errors by code", len(rep.Read.ErrorsByCode), 0},
		{"update count", rep.Update.Count, int64(0)},
		{"update errors", rep.Update.Errors, int64(3)},
		{"update unavailable", rep.Update.ErrorsByCode["Unavailable"], int64(2)},
		{"update deadline", rep.Update.ErrorsByCode["DeadlineExceeded"], int64(1)},
		{"update codes", len(rep.Update.ErrorsByCode), 2},
		{"update p99", rep.Update.P99Ms, 0.0},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	near("p50", rep.Read.P50Ms, 500)
	near("p99", rep.Read.P99Ms, 990)
	near("p99.9", rep.Read.P999Ms, 999)
	near("max", rep.Read.MaxMs, 1000)
	near("mean", rep.Read.MeanMs, 500.5)

	// JSON: snake_case fields, both op types present.
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"workload", "clients", "duration_s", "total_ops", "ops_per_sec", "read", "update"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	read := m["read"].(map[string]any)
	for _, k := range []string{"count", "errors", "p50_ms", "p99_ms", "p99_9_ms", "max_ms"} {
		if _, ok := read[k]; !ok {
			t.Errorf("JSON read lacks %q: %s", k, b)
		}
	}

	var out bytes.Buffer
	rep.writeText(&out)
	text := out.String()
	for _, want := range []string{
		"workload b (95% read / 5% update), 16 clients",
		"duration 2.00s: 1000 ops, 500.00 ops/s, 3 errors",
		"update errors: DeadlineExceeded=1 Unavailable=2",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(text, "\nread ") || !strings.Contains(text, "\nupdate ") {
		t.Errorf("text lacks op rows:\n%s", text)
	}
}

func TestRecordClamps(t *testing.T) {
	s := newOpStats()
	s.record(0)
	s.record(2 * time.Minute)
	if s.hist.TotalCount() != 2 {
		t.Fatalf("count = %d, want 2", s.hist.TotalCount())
	}
	if s.hist.Max() < histMaxUs*999/1000 {
		t.Errorf("max = %d, want ~%d", s.hist.Max(), histMaxUs)
	}
}

// fakeKV is an in-memory KV. A non-nil block makes every call wait for
// its context; failEvery > 0 fails every failEvery-th Put with Unavailable.
type fakeKV struct {
	mu    sync.Mutex
	data  map[string][]byte
	gets  int
	puts  int
	blind int // puts without a context
	// conditional counts PutIf calls (a strong table's writes).
	conditional int
	// updates and fetches count a CRDT table's calls.
	updates, fetches int
	block            bool
	failEvery        int
}

func (f *fakeKV) Get(ctx context.Context, key []byte, _ client.Options) (*client.Result, error) {
	if f.block {
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	v, ok := f.data[string(key)]
	if !ok {
		return &client.Result{}, nil
	}
	return &client.Result{Found: true, Siblings: [][]byte{v}, Context: []byte("ctx")}, nil
}

// PutIf counts as a put with a context (a strong write at a version),
// or as a blind one for if-absent; the fake keeps no versions.
func (f *fakeKV) PutIf(ctx context.Context, key, value, version []byte, o client.Options) ([]byte, error) {
	f.mu.Lock()
	f.conditional++
	f.mu.Unlock()
	return f.Put(ctx, key, value, version, o)
}

// Fetch and Update stand for a table of CRDT values: an update counts as
// a blind put.
func (f *fakeKV) Fetch(ctx context.Context, key []byte, o client.Options) (*kvpb.FetchResponse, error) {
	f.mu.Lock()
	f.fetches++
	f.mu.Unlock()
	res, err := f.Get(ctx, key, o)
	if err != nil {
		return nil, err
	}
	return &kvpb.FetchResponse{Found: res.Found}, nil
}

func (f *fakeKV) Update(ctx context.Context, key, causal []byte, _ []*datatypepb.DatatypeOp, o client.Options) (*kvpb.UpdateResponse, error) {
	f.mu.Lock()
	f.updates++
	f.mu.Unlock()
	if _, err := f.Put(ctx, key, []byte("n"), causal, o); err != nil {
		return nil, err
	}
	return &kvpb.UpdateResponse{}, nil
}

func (f *fakeKV) Put(ctx context.Context, key, value, causal []byte, _ client.Options) ([]byte, error) {
	if f.block {
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts++
	if causal == nil {
		f.blind++
	}
	if f.failEvery > 0 && f.puts%f.failEvery == 0 {
		return nil, status.Error(codes.Unavailable, "nope")
	}
	if f.data == nil {
		f.data = map[string][]byte{}
	}
	f.data[string(key)] = bytes.Clone(value)
	return []byte("ctx"), nil
}

// waitGoroutines waits for the goroutine count to drop back to at most n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left, want at most %d", runtime.NumGoroutine(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// On a strong table every write is a compare-and-set: loads and updates
// at the version their get read, workload w's writes if absent.
func TestStrongTableWritesAreConditional(t *testing.T) {
	for _, workload := range []string{"a", "w"} {
		kv := &fakeKV{}
		cfg := validConfig()
		cfg.workload, cfg.clients, cfg.keys, cfg.maxOps, cfg.duration = workload, 2, 20, 200, 10*time.Second
		cfg.table, cfg.strong = "orders", true
		if err := cfg.validate(); err != nil {
			t.Fatal(err)
		}
		if cfg.load {
			if err := loadKeys(context.Background(), &cfg, []KV{kv}); err != nil {
				t.Fatal(err)
			}
		}
		runBench(context.Background(), &cfg, []KV{kv})
		if kv.puts == 0 || kv.conditional != kv.puts {
			t.Fatalf("workload %s: %d puts, %d of them conditional", workload, kv.puts, kv.conditional)
		}
	}
}

// On a table of CRDT values every write is a blind increment and every
// read a fetch.
func TestCRDTTableWritesAreIncrements(t *testing.T) {
	for _, workload := range []string{"a", "w"} {
		kv := &fakeKV{}
		cfg := validConfig()
		cfg.workload, cfg.clients, cfg.keys, cfg.maxOps, cfg.duration = workload, 2, 20, 200, 10*time.Second
		cfg.table, cfg.datatype = "counters", true
		if err := cfg.validate(); err != nil {
			t.Fatal(err)
		}
		if cfg.load {
			if err := loadKeys(context.Background(), &cfg, []KV{kv}); err != nil {
				t.Fatal(err)
			}
		}
		runBench(context.Background(), &cfg, []KV{kv})
		if kv.updates == 0 || kv.updates != kv.puts || kv.blind != kv.puts {
			t.Fatalf("workload %s: %d puts, %d of them increments, %d blind", workload, kv.puts, kv.updates, kv.blind)
		}
		if workload == "a" && kv.fetches == 0 {
			t.Fatalf("workload a: no fetch")
		}
	}
}

func TestLoadAndRunBounded(t *testing.T) {
	before := runtime.NumGoroutine()
	store := &fakeKV{} // two "connections" to one cluster
	kvs := []KV{store, store}
	cfg := validConfig()
	cfg.clients, cfg.keys, cfg.valueSize = 4, 50, 16
	cfg.duration, cfg.maxOps = 10*time.Second, 2000
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	if err := loadKeys(context.Background(), &cfg, kvs); err != nil {
		t.Fatal(err)
	}
	if loaded := len(store.data); loaded != cfg.keys {
		t.Fatalf("loaded %d keys, want %d", loaded, cfg.keys)
	}

	start := time.Now()
	res := runBench(context.Background(), &cfg, kvs)
	if time.Since(start) > 5*time.Second {
		t.Errorf("--ops bound did not stop the run early")
	}
	rep := buildReport(&cfg, res)
	if rep.TotalOps != cfg.maxOps || rep.TotalErrors != 0 {
		t.Errorf("total ops %d, errors %d; want %d, 0", rep.TotalOps, rep.TotalErrors, cfg.maxOps)
	}
	if rep.Read.Count == 0 || rep.Update.Count == 0 {
		t.Errorf("workload a ran reads %d, updates %d; want both", rep.Read.Count, rep.Update.Count)
	}
	if rep.Read.NotFound != 0 {
		t.Errorf("%d reads missed loaded keys", rep.Read.NotFound)
	}
	waitGoroutines(t, before)
}

func TestRunCountsErrorsByCode(t *testing.T) {
	before := runtime.NumGoroutine()
	kv := &fakeKV{failEvery: 3}
	cfg := validConfig()
	cfg.workload, cfg.clients, cfg.keys = "a", 2, 10
	cfg.duration, cfg.maxOps = 5*time.Second, 300
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	rep := buildReport(&cfg, runBench(context.Background(), &cfg, []KV{kv}))
	if rep.Update.Errors == 0 || rep.Update.ErrorsByCode["Unavailable"] != rep.Update.Errors {
		t.Errorf("update errors %d by code %v; want all Unavailable", rep.Update.Errors, rep.Update.ErrorsByCode)
	}
	if rep.Read.Errors != 0 {
		t.Errorf("read errors %d, want 0", rep.Read.Errors)
	}
	if got := rep.TotalOps + rep.TotalErrors; got != cfg.maxOps {
		t.Errorf("ops + errors = %d, want %d", got, cfg.maxOps)
	}
	waitGoroutines(t, before)
}

func TestRunEndCancelsInFlightWithoutErrors(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := validConfig()
	cfg.clients, cfg.duration, cfg.timeout = 8, 100*time.Millisecond, 0
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res := runBench(context.Background(), &cfg, []KV{&fakeKV{block: true}})
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("run took %s, want about %s", d, cfg.duration)
	}
	rep := buildReport(&cfg, res)
	if rep.TotalOps != 0 || rep.TotalErrors != 0 {
		t.Errorf("cancelled in-flight ops counted: ops %d, errors %d", rep.TotalOps, rep.TotalErrors)
	}
	if rep.DurationS < 0.1 {
		t.Errorf("duration %.2fs, want at least 0.1s", rep.DurationS)
	}
	waitGoroutines(t, before)
}

func TestRunInterruptedByParent(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := validConfig()
	cfg.clients, cfg.duration, cfg.warmup = 3, time.Minute, 0
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	res := runBench(ctx, &cfg, []KV{&fakeKV{}})
	if !res.interrupted {
		t.Error("run not marked interrupted")
	}
	if res.elapsed > 5*time.Second {
		t.Errorf("elapsed %s after a 50ms parent deadline", res.elapsed)
	}
	waitGoroutines(t, before)
}

func TestLoadStopsAtFirstError(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := validConfig()
	cfg.clients, cfg.keys = 4, 1000
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	kv := &fakeKV{failEvery: 10}
	err := loadKeys(context.Background(), &cfg, []KV{kv})
	if status.Code(errors.Unwrap(err)) != codes.Unavailable {
		t.Fatalf("load error = %v, want Unavailable", err)
	}
	if kv.puts >= cfg.keys {
		t.Errorf("load went on after the error: %d puts", kv.puts)
	}
	waitGoroutines(t, before)
}

// deadlineKV fails each call with DeadlineExceeded as soon as its context's
// deadline passes, without waiting for the context to be marked done, the
// way gRPC checks deadlines.
type deadlineKV struct{}

func (deadlineKV) wait(ctx context.Context) error {
	if dl, ok := ctx.Deadline(); ok {
		time.Sleep(time.Until(dl))
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	<-ctx.Done()
	return status.FromContextError(ctx.Err()).Err()
}

func (d deadlineKV) Get(ctx context.Context, _ []byte, _ client.Options) (*client.Result, error) {
	return nil, d.wait(ctx)
}

func (d deadlineKV) Fetch(ctx context.Context, _ []byte, _ client.Options) (*kvpb.FetchResponse, error) {
	return nil, d.wait(ctx)
}

func (d deadlineKV) Update(ctx context.Context, _, _ []byte, _ []*datatypepb.DatatypeOp, _ client.Options) (*kvpb.UpdateResponse, error) {
	return nil, d.wait(ctx)
}

func (d deadlineKV) Put(ctx context.Context, _, _, _ []byte, _ client.Options) ([]byte, error) {
	return nil, d.wait(ctx)
}

func (d deadlineKV) PutIf(ctx context.Context, _, _, _ []byte, _ client.Options) ([]byte, error) {
	return nil, d.wait(ctx)
}

func TestRunEndDeadlineIsNotAnError(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := validConfig()
	cfg.clients, cfg.duration, cfg.timeout = 32, 50*time.Millisecond, 0
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		rep := buildReport(&cfg, runBench(context.Background(), &cfg, []KV{deadlineKV{}}))
		if rep.TotalErrors != 0 {
			t.Fatalf("run-end deadline counted as %d errors: %v %v", rep.TotalErrors, rep.Read.ErrorsByCode, rep.Update.ErrorsByCode)
		}
	}
	waitGoroutines(t, before)
}

func isUsage(err error) bool {
	var ue *UsageError
	return errors.As(err, &ue)
}

// Workload w writes blind, never reads, never loads, and never writes a
// key twice, even across runs (no sibling is ever made).
func TestWorkloadWWritesNewKeysBlind(t *testing.T) {
	kv := &fakeKV{}
	for run := range 2 {
		cfg := validConfig()
		cfg.workload, cfg.clients, cfg.keys = "w", 4, 10
		cfg.duration, cfg.maxOps = 10*time.Second, 500
		if err := cfg.validate(); err != nil {
			t.Fatal(err)
		}
		if cfg.load {
			t.Fatal("workload w loads the key space")
		}
		rep := buildReport(&cfg, runBench(context.Background(), &cfg, []KV{kv}))
		if rep.Write.Count != 500 || rep.Read.Count != 0 || rep.Update.Count != 0 || rep.TotalOps != 500 {
			t.Fatalf("run %d: writes %d, reads %d, updates %d, total %d", run, rep.Write.Count, rep.Read.Count, rep.Update.Count, rep.TotalOps)
		}
	}
	if kv.gets != 0 || kv.blind != 1000 || len(kv.data) != 1000 {
		t.Fatalf("%d gets, %d blind puts, %d distinct keys; want 0, 1000, 1000", kv.gets, kv.blind, len(kv.data))
	}
}

func TestUsageBetween(t *testing.T) {
	st := func(cpu float64, rssMiB uint64) *kvpb.ProcessStats {
		return &kvpb.ProcessStats{CpuSeconds: cpu, RssBytes: rssMiB << 20}
	}
	before := map[string]*kvpb.ProcessStats{"n1": st(10, 50), "n2": st(20, 60)}
	for _, tc := range []struct {
		name  string
		after map[string]*kvpb.ProcessStats
		ops   int64
		want  serverUsage
		err   string
	}{
		{"CPU of every node is summed and charged to the operations",
			map[string]*kvpb.ProcessStats{"n1": st(12, 70), "n2": st(23, 120)}, 10000,
			serverUsage{Nodes: 2, CPUSeconds: 5, CPUMsPerOp: 0.5, MaxRSSMiB: 120}, ""},
		{"no operations: CPU without a per-op figure",
			map[string]*kvpb.ProcessStats{"n1": st(11, 50), "n2": st(20, 60)}, 0,
			serverUsage{Nodes: 2, CPUSeconds: 1, MaxRSSMiB: 60}, ""},
		{"a node missing after the run", map[string]*kvpb.ProcessStats{"n1": st(12, 70)}, 10, serverUsage{}, "n2 was not sampled"},
		{"a node that appeared during the run",
			map[string]*kvpb.ProcessStats{"n1": st(12, 70), "n2": st(23, 120), "n3": st(1, 1)}, 10, serverUsage{}, "2 nodes sampled before the run, 3 after"},
		{"a node that restarted", map[string]*kvpb.ProcessStats{"n1": st(1, 70), "n2": st(23, 120)}, 10, serverUsage{}, "n1 used -9.00 s of CPU: it restarted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := usageBetween(before, tc.after, tc.ops)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || *got != tc.want {
				t.Fatalf("usage = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	if _, err := usageBetween(nil, nil, 1); err == nil {
		t.Fatal("no node sampled: no error")
	}
}

// slowKV takes a millisecond a put, so that a timed run stays small.
type slowKV struct{ *fakeKV }

func (s *slowKV) Put(ctx context.Context, key, value, causal []byte, o client.Options) ([]byte, error) {
	time.Sleep(time.Millisecond)
	return s.fakeKV.Put(ctx, key, value, causal, o)
}

// downKV answers every call Unavailable, as a client of a dead node does.
type downKV struct{ calls atomic.Int64 }

func (d *downKV) Get(context.Context, []byte, client.Options) (*client.Result, error) {
	d.calls.Add(1)
	return nil, status.Error(codes.Unavailable, "connection refused")
}

func (d *downKV) Fetch(context.Context, []byte, client.Options) (*kvpb.FetchResponse, error) {
	d.calls.Add(1)
	return nil, status.Error(codes.Unavailable, "connection refused")
}

func (d *downKV) Update(context.Context, []byte, []byte, []*datatypepb.DatatypeOp, client.Options) (*kvpb.UpdateResponse, error) {
	d.calls.Add(1)
	return nil, status.Error(codes.Unavailable, "connection refused")
}

func (d *downKV) Put(context.Context, []byte, []byte, []byte, client.Options) ([]byte, error) {
	d.calls.Add(1)
	return nil, status.Error(codes.Unavailable, "connection refused")
}

func (d *downKV) PutIf(ctx context.Context, key, value, version []byte, o client.Options) ([]byte, error) {
	return d.Put(ctx, key, value, version, o)
}

// A worker whose node is down moves on to the next address, so the run
// keeps its clients busy on the survivors; the timeline counts each second.
func TestWorkersLeaveADownNodeAndTimelineCounts(t *testing.T) {
	live, down := &slowKV{fakeKV: &fakeKV{}}, &downKV{}
	cfg := validConfig()
	cfg.workload, cfg.clients, cfg.timeline = "w", 4, true
	cfg.duration = 300 * time.Millisecond // every worker gets to run
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	rep := buildReport(&cfg, runBench(context.Background(), &cfg, []KV{down, live}))
	// Workers 0 and 2 start on the down node: one failure each, then they
	// move to the live one for good.
	if n := down.calls.Load(); n != 2 {
		t.Errorf("%d calls to the down node, want 2 (one per worker that started there)", n)
	}
	if rep.Write.Errors != 2 || rep.Write.ErrorsByCode["Unavailable"] != 2 {
		t.Errorf("write errors %d %v, want 2 Unavailable", rep.Write.Errors, rep.Write.ErrorsByCode)
	}
	var ops, errs int64
	for i, s := range rep.Timeline {
		if s.Second != i {
			t.Fatalf("timeline second %d at index %d", s.Second, i)
		}
		ops += s.Ops
		errs += s.Errors
	}
	if len(rep.Timeline) == 0 || ops != rep.Write.Count || errs != rep.Write.Errors {
		t.Errorf("timeline of %d seconds counts %d ops and %d errors; the run %d and %d", len(rep.Timeline), ops, errs, rep.Write.Count, rep.Write.Errors)
	}
	var out bytes.Buffer
	rep.writeText(&out)
	if !strings.Contains(out.String(), "SECOND") {
		t.Errorf("text report has no timeline:\n%s", out.String())
	}
}

// fakeItems is an in-memory table of items keyed "user" (S) and "at" (N):
// PutItem, GetItem and a Query of one user's items (its equality only).
type fakeItems struct {
	fakeKV
	mu      sync.Mutex
	items   map[string]map[string]item.Item // user -> at -> item
	queries int
	adds    int
}

func (f *fakeItems) PutItem(_ context.Context, table string, it item.Item, _ client.ItemOptions) (item.Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, at := string(it["user"].(item.S)), it["at"].(item.Number).String()
	if f.items == nil {
		f.items = map[string]map[string]item.Item{}
	}
	if f.items[u] == nil {
		f.items[u] = map[string]item.Item{}
	}
	f.items[u][at] = it
	return nil, nil
}

func (f *fakeItems) GetItem(_ context.Context, _ string, key item.Item, _ client.ItemOptions) (item.Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	return f.items[string(key["user"].(item.S))][key["at"].(item.Number).String()], nil
}

func (f *fakeItems) UpdateItem(_ context.Context, _ string, key item.Item, update string, o client.ItemOptions) (item.Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	it := f.items[string(key["user"].(item.S))][key["at"].(item.Number).String()]
	if it == nil || update != "ADD n :one" {
		return nil, fmt.Errorf("update %q of %v", update, key)
	}
	n := item.MustNumber("0")
	if v, ok := it["n"].(item.Number); ok {
		n = v
	}
	sum, err := n.Add(o.Values[":one"].(item.Number))
	if err != nil {
		return nil, err
	}
	it["n"] = sum
	f.adds++
	return nil, nil
}

func (f *fakeItems) Query(_ context.Context, _ string, q client.Query) (*client.QueryPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries++
	page := &client.QueryPage{}
	for _, it := range f.items[string(q.Values[":p"].(item.S))] {
		page.Items = append(page.Items, it)
	}
	if len(page.Items) > q.Limit {
		return nil, fmt.Errorf("%d items for a limit of %d", len(page.Items), q.Limit)
	}
	return page, nil
}

// Items mode loads --keys partition keys of --items items each, and its
// workloads read them (GetItem, Query: none missing) or write new ones.
func TestItemsModeLoadsAndRunsItsWorkloads(t *testing.T) {
	schema := &kvpb.TableDescription{Name: "events", PartitionKey: &kvpb.KeyAttribute{Name: "user", Type: "S"}, SortKey: &kvpb.KeyAttribute{Name: "at", Type: "N"}}
	for _, workload := range []string{"c", "q", "w", "i"} {
		kv := &fakeItems{}
		cfg := validConfig()
		cfg.workload, cfg.clients, cfg.keys, cfg.items, cfg.maxOps, cfg.duration = workload, 3, 7, 5, 100, 10*time.Second
		cfg.table = "events"
		if err := cfg.validate(); err != nil {
			t.Fatal(err)
		}
		if err := cfg.takeSchema(schema); err != nil {
			t.Fatal(err)
		}
		if err := loadItems(context.Background(), &cfg, []ItemKV{kv}); err != nil {
			t.Fatal(err)
		}
		loaded := 0
		for _, its := range kv.items {
			loaded += len(its)
			if len(its) != cfg.items {
				t.Fatalf("a partition key of %d items, want %d", len(its), cfg.items)
			}
		}
		if len(kv.items) != cfg.keys || loaded != cfg.keys*cfg.items {
			t.Fatalf("loaded %d partition keys, %d items", len(kv.items), loaded)
		}
		rep := buildReport(&cfg, runBench(context.Background(), &cfg, []KV{kv}))
		if rep.TotalOps != cfg.maxOps || rep.TotalErrors != 0 || rep.Read.NotFound != 0 {
			t.Fatalf("workload %s: %d ops, %d errors, %d reads found nothing", workload, rep.TotalOps, rep.TotalErrors, rep.Read.NotFound)
		}
		switch workload {
		case "c":
			if kv.gets != int(cfg.maxOps) {
				t.Fatalf("workload c: %d GetItems", kv.gets)
			}
		case "q":
			if kv.queries != int(cfg.maxOps) {
				t.Fatalf("workload q: %d Queries", kv.queries)
			}
		case "w":
			if len(kv.items) != cfg.keys+int(cfg.maxOps) {
				t.Fatalf("workload w: %d partition keys after %d writes of new ones", len(kv.items), cfg.maxOps)
			}
		case "i":
			if kv.adds != int(cfg.maxOps) || rep.Update.Count != cfg.maxOps {
				t.Fatalf("workload i: %d ADDs, %d updates reported", kv.adds, rep.Update.Count)
			}
		}
	}
	// A Query short of the loaded items is a read that did not find them.
	kv := &fakeItems{}
	cfg := validConfig()
	cfg.workload, cfg.clients, cfg.keys, cfg.items, cfg.maxOps, cfg.duration = "q", 1, 1, 3, 5, 10*time.Second
	cfg.table = "events"
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	if err := cfg.takeSchema(schema); err != nil {
		t.Fatal(err)
	}
	if err := loadItems(context.Background(), &cfg, []ItemKV{kv}); err != nil {
		t.Fatal(err)
	}
	for _, its := range kv.items {
		delete(its, "0")
	}
	if rep := buildReport(&cfg, runBench(context.Background(), &cfg, []KV{kv})); rep.Read.NotFound != cfg.maxOps {
		t.Fatalf("%d of %d Queries short of the loaded items counted as not found", rep.Read.NotFound, cfg.maxOps)
	}
	cfg = validConfig()
	cfg.workload, cfg.table = "a", "events"
	if err := cfg.takeSchema(schema); err == nil {
		t.Fatal("workload a on a table of items was taken")
	}
	cfg.workload = "q"
	if err := cfg.takeSchema(&kvpb.TableDescription{Name: "kv"}); err == nil {
		t.Fatal("workload q on a table of keys was taken")
	}
}

// --conns spreads that many connections round-robin over the addresses;
// without it, one per address.
func TestConnAddrs(t *testing.T) {
	addrs := []string{"a", "b", "c"}
	if got := connAddrs(addrs, 0); !slices.Equal(got, addrs) {
		t.Errorf("no --conns: %v", got)
	}
	if got, want := connAddrs(addrs, 7), []string{"a", "b", "c", "a", "b", "c", "a"}; !slices.Equal(got, want) {
		t.Errorf("--conns 7: %v, want %v", got, want)
	}
	if got := connAddrs(addrs, 1); !slices.Equal(got, []string{"a"}) {
		t.Errorf("--conns 1: %v", got)
	}
}
