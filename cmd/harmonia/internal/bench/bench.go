// Package bench is harmonia bench's YCSB-style load generator for a
// running cluster.
//
// The key space (keys "bench-%08d", 0..--keys-1) is first loaded with
// --clients concurrent writers (unless --no-load). Then --clients workers
// each pick a uniformly random key (per-worker math/rand/v2 source) and an
// operation by the workload's mix, for --warmup (not recorded) plus
// --duration (recorded):
//
//   - read: a Get with --r; the context it returns is simply dropped.
//   - update: a Get with --r, then a Put of a fresh random --value-size
//     value with the context that Get returned and --w. A blind put (nil
//     context) would be concurrent with every stored version and so leave one
//     more sibling per update; reading first makes the Put supersede what it
//     read, so siblings only appear when two workers update the same key at
//     the same time (and the next update of that key folds them back in).
//     The latency recorded for an update is the Put's alone.
//   - write (workload w only): a blind Put (no context) of a key no run has
//     written before (the key prefix, a random run tag, and a sequence number
//     shared by the workers), so it never makes a sibling; like etcd's
//     benchmark put over a large key space. Workload w loads nothing and
//     ignores --keys.
//
// With --table T the load goes to table T. On a strong table every write
// is a compare-and-set: a load or an update writes at the version its get
// read (if absent when it read none), and workload w's writes are
// put-if-absent of new keys (as etcd's txn-put); two workers that update
// one key at once make one of them fail its condition
// (FailedPrecondition, counted as an error).
//
// A worker whose node answers Unavailable (down, or not reachable) moves on
// to the next address, as a client with several endpoints does; so a run
// that outlives a node keeps its full concurrency on the survivors.
//
// With --timeline, every second of the measured run is also counted apart
// (successes, failures, slowest success), to show a fault's effect.
//
// Latencies of successful operations go into one HdrHistogram per operation
// type (microseconds, 1us..60s, 3 significant figures); failed operations are
// counted by gRPC status code. When the run ends (deadline, --ops reached or
// Ctrl-C) the run context is cancelled: operations still in flight either
// finish (and count) or fail because of that cancellation and are not
// counted at all. Every worker has returned before the report is printed.
package bench

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/cluster/datatype"
	"github.com/harmoniakv/harmonia/cluster/quorum"
	"github.com/harmoniakv/harmonia/messages/datatypepb"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"github.com/spf13/pflag"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// benchOp is an operation type of the workload.
type benchOp int

const (
	opRead benchOp = iota
	opUpdate
	opWrite
	numBenchOps
)

func (o benchOp) String() string {
	switch o {
	case opRead:
		return "read"
	case opUpdate:
		return "update"
	case opWrite:
		return "write"
	}
	return fmt.Sprintf("op(%d)", int(o))
}

// Histogram range: 1us..60s at 3 significant figures.
const (
	histMinUs   = 1
	histMaxUs   = 60_000_000
	histSigFigs = 3
)

// errorBackoff is how long a worker pauses after a failed operation, so an
// unreachable cluster is not hammered in a tight loop.
const errorBackoff = 10 * time.Millisecond

// workloadReadPercent returns the percentage of reads of a YCSB core
// workload (a = 50/50 read/update, b = 95/5, c = read only), or of workload
// w (blind writes only: 0).
func workloadReadPercent(w string) (int, bool) {
	switch w {
	case "a":
		return 50, true
	case "b":
		return 95, true
	case "c":
		return 100, true
	case "w":
		return 0, true
	case "q": // items mode only: a Query
		return 100, true
	case "i": // items mode only: an UpdateItem ADD
		return 0, true
	}
	return 0, false
}

// chooseOp picks the operation of workload w for a roll uniform in [0, 100).
func chooseOp(workload string, readPercent, roll int) benchOp {
	switch {
	case workload == "w":
		return opWrite
	case roll < readPercent:
		return opRead
	}
	return opUpdate
}

// benchKey is the i-th key of the bench key space.
func benchKey(prefix string, i int) []byte { return appendBenchKey(nil, prefix, i) }

// appendBenchKey appends the i-th key to dst (to reuse a buffer).
func appendBenchKey(dst []byte, prefix string, i int) []byte {
	return fmt.Appendf(dst, "%s%08d", prefix, i)
}

// fillRandom overwrites b with bytes from rng.
func fillRandom(rng *rand.Rand, b []byte) {
	var w [8]byte
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(w[:], rng.Uint64())
		copy(b[i:], w[:])
	}
}

// parseAddrs splits a comma-separated host:port list.
func parseAddrs(s string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			return nil, usageErr("--addr %q: empty address in the list", s)
		}
		out = append(out, a)
	}
	return out, nil
}

// connAddrs is the address of each of conns connections, round-robin
// over addrs (one per address when conns is 0): a comparison with another
// system is only fair at equal connection counts.
func connAddrs(addrs []string, conns int) []string {
	if conns <= 0 {
		return addrs
	}
	out := make([]string, conns)
	for i := range out {
		out[i] = addrs[i%len(addrs)]
	}
	return out
}

// Config is the validated flag set of a run.
type Config struct {
	addrs       []string
	conns       int // client connections in all, spread over addrs (0: one per address)
	workload    string
	readPercent int
	clients     int
	duration    time.Duration
	warmup      time.Duration
	timeout     time.Duration // per request; 0 leaves it to the server
	valueSize   int
	keys        int
	keyPrefix   string
	maxOps      int64 // measured operations to stop after; 0: no limit
	r, w        string
	load        bool
	timeline    bool // count each second apart
	// runTag makes workload w's keys new to this run.
	runTag string
	// table is the table (empty: the default one); strong is set when it
	// is a strong table, datatype when it holds CRDT values, whose writes
	// are counter increments (Main asks the cluster).
	datatype bool
	table    string
	strong   bool
	// schema is the table's key schema when it is a table of items
	// (items mode, items.go); items is how many items each partition key
	// holds there.
	schema itemSchema
	items  int
}

// validate checks the flags and fills readPercent.
func (c *Config) validate() error {
	if len(c.addrs) == 0 {
		return usageErr("--addr: at least one address is needed")
	}
	p, ok := workloadReadPercent(c.workload)
	if !ok {
		return usageErr("--workload %q: must be a, b, c, w or (a table of items) q or i", c.workload)
	}
	c.readPercent = p
	if c.workload == "w" {
		c.load = false // its keys are new: nothing to load
		if c.runTag == "" {
			c.runTag = fmt.Sprintf("w%08x-", rand.Uint32())
		}
	}
	switch {
	case c.clients < 1:
		return usageErr("--clients %d: must be at least 1", c.clients)
	case c.duration <= 0:
		return usageErr("--duration %s: must be positive", c.duration)
	case c.warmup < 0:
		return usageErr("--warmup %s: must not be negative", c.warmup)
	case c.timeout < 0:
		return usageErr("--timeout %s: must not be negative", c.timeout)
	case c.valueSize < 0:
		return usageErr("--value-size %d: must not be negative", c.valueSize)
	case c.keys < 1:
		return usageErr("--keys %d: must be at least 1", c.keys)
	case c.maxOps < 0:
		return usageErr("--ops %d: must not be negative", c.maxOps)
	case c.conns < 0:
		return usageErr("--conns %d: must not be negative", c.conns)
	}
	// N is not known here: only the form is checked, the server checks 1..N.
	for _, q := range []struct{ flag, spec string }{{"--r", c.r}, {"--w", c.w}} {
		if _, err := quorum.Parse(q.spec, math.MaxInt32, 1); err != nil {
			return usageErr("%s %q: must be one, quorum, all or a positive number", q.flag, q.spec)
		}
	}
	return nil
}

func (c *Config) readOpts() client.Options {
	return client.Options{Quorum: c.r, Timeout: c.timeout, Table: c.table}
}

func (c *Config) writeOpts() client.Options {
	return client.Options{Quorum: c.w, Timeout: c.timeout, Table: c.table}
}

// put writes val to key: with the context read on the eventual path, at
// the version read (if absent for none) on a strong table; on a table of
// CRDT values, it increments the key's counter instead (blind).
func (c *Config) put(ctx context.Context, kv KV, key, val, read []byte) error {
	if c.datatype {
		_, err := kv.Update(ctx, key, nil, []*datatypepb.DatatypeOp{datatype.Increment(1, "n")}, c.writeOpts())
		return err
	}
	if c.strong {
		_, err := kv.PutIf(ctx, key, val, read, c.writeOpts())
		return err
	}
	_, err := kv.Put(ctx, key, val, read, c.writeOpts())
	return err
}

// opContext bounds one request: the server's timeout plus a second for its
// answer to arrive, so a slow quorum shows up as the server's error.
func (c *Config) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.timeout+time.Second)
}

// KV is the part of *client.Client bench uses (a fake in tests).
type KV interface {
	Get(ctx context.Context, key []byte, o client.Options) (*client.Result, error)
	Put(ctx context.Context, key, value, causal []byte, o client.Options) ([]byte, error)
	PutIf(ctx context.Context, key, value, version []byte, o client.Options) ([]byte, error)
	Fetch(ctx context.Context, key []byte, o client.Options) (*kvpb.FetchResponse, error)
	Update(ctx context.Context, key, causal []byte, ops []*datatypepb.DatatypeOp, o client.Options) (*kvpb.UpdateResponse, error)
}

// opStats are one worker's (or, merged, the run's) figures for an op type.
type opStats struct {
	hist     *hdrhistogram.Histogram // latency of successes, microseconds
	errs     map[codes.Code]int64
	notFound int64 // successful reads of a missing key
}

func newOpStats() *opStats {
	return &opStats{hist: hdrhistogram.New(histMinUs, histMaxUs, histSigFigs), errs: map[codes.Code]int64{}}
}

// record adds a success of latency d, clamped into the histogram's range.
func (s *opStats) record(d time.Duration) {
	us := max(min(d.Microseconds(), histMaxUs), histMinUs)
	_ = s.hist.RecordValue(us) // cannot fail: us is in range
}

func (s *opStats) merge(o *opStats) {
	s.hist.Merge(o.hist)
	for c, n := range o.errs {
		s.errs[c] += n
	}
	s.notFound += o.notFound
}

// benchResult is what a measured run produced.
type benchResult struct {
	elapsed     time.Duration // measured time (after warmup)
	interrupted bool          // the parent context ended the run early
	ops         [numBenchOps]*opStats
	seconds     *timeline // nil without --timeline
}

// timeline counts each second of the measured run apart; workers record
// into it at once, so its counters are atomic.
type timeline struct {
	start time.Time
	secs  []secondCounts
}

type secondCounts struct {
	ok, failed atomic.Int64
	maxUs      atomic.Int64 // slowest success
}

func newTimeline(start time.Time, d time.Duration) *timeline {
	return &timeline{start: start, secs: make([]secondCounts, int(d/time.Second)+2)}
}

// record counts an operation that ended at end, taking lat, failed or not.
func (t *timeline) record(end time.Time, lat time.Duration, failed bool) {
	if t == nil {
		return
	}
	i := int(end.Sub(t.start) / time.Second)
	if i < 0 || i >= len(t.secs) {
		return
	}
	c := &t.secs[i]
	if failed {
		c.failed.Add(1)
		return
	}
	c.ok.Add(1)
	us := lat.Microseconds()
	for {
		m := c.maxUs.Load()
		if us <= m || c.maxUs.CompareAndSwap(m, us) {
			return
		}
	}
}

// Second is one second of a --timeline run.
type Second struct {
	Second int     `json:"second"` // since the measurement started
	Ops    int64   `json:"ops"`
	Errors int64   `json:"errors"`
	MaxMs  float64 `json:"max_ms"`
}

// report lists the seconds up to the last one the run reached.
func (t *timeline) report(elapsed time.Duration) []Second {
	n := min(int((elapsed+time.Second-1)/time.Second), len(t.secs))
	out := make([]Second, n)
	for i := range n {
		c := &t.secs[i]
		out[i] = Second{Second: i, Ops: c.ok.Load(), Errors: c.failed.Load(), MaxMs: usToMs(c.maxUs.Load())}
	}
	return out
}

// loadKeys writes every key of the key space once, with cfg.clients
// concurrent writers spread over kvs. Each write reads the key first and
// supersedes what it finds, so loading again does not pile up siblings. It
// stops at the first error.
func loadKeys(ctx context.Context, cfg *Config, kvs []KV) error {
	return loadAll(ctx, cfg, int64(cfg.keys), func(ctx context.Context, writer int, rng *rand.Rand, n int64) error {
		key := benchKey(cfg.keyPrefix, int(n))
		val := make([]byte, cfg.valueSize)
		fillRandom(rng, val)
		if err := getPut(ctx, cfg, kvs[writer%len(kvs)], key, val, nil); err != nil {
			return fmt.Errorf("load %s: %w", key, err)
		}
		return nil
	})
}

// loadAll runs min(cfg.clients, total) writers, which call write for
// 0 .. total-1, each number once; the first error stops them all.
func loadAll(ctx context.Context, cfg *Config, total int64, write func(ctx context.Context, writer int, rng *rand.Rand, n int64) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for i := range int(min(int64(cfg.clients), total)) {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
			for ctx.Err() == nil {
				n := next.Add(1) - 1
				if n >= total {
					return
				}
				if err := write(ctx, i, rng, n); err != nil {
					errOnce.Do(func() {
						firstErr = err
						cancel()
					})
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// getPut reads key and writes val with the context read. With putLatency it
// stores how long the Put alone took.
func getPut(ctx context.Context, cfg *Config, kv KV, key, val []byte, putLatency *time.Duration) error {
	octx, cancel := cfg.opContext(ctx)
	defer cancel()
	if cfg.datatype {
		// An increment needs no read: it is blind, and merges with every
		// concurrent one.
		start := time.Now()
		err := cfg.put(octx, kv, key, val, nil)
		if putLatency != nil {
			*putLatency = time.Since(start)
		}
		return err
	}
	res, err := kv.Get(octx, key, cfg.readOpts())
	if err != nil {
		return err
	}
	start := time.Now()
	err = cfg.put(octx, kv, key, val, res.Context)
	if putLatency != nil {
		*putLatency = time.Since(start)
	}
	return err
}

// runBench runs the workload against kvs (workers spread round-robin) for
// cfg.warmup + cfg.duration, or until cfg.maxOps measured operations were
// started or ctx ends. All workers have returned when it does.
func runBench(ctx context.Context, cfg *Config, kvs []KV) *benchResult {
	start := time.Now()
	measureStart := start.Add(cfg.warmup)
	runCtx, cancel := context.WithDeadline(ctx, measureStart.Add(cfg.duration))
	defer cancel()

	var (
		issued  atomic.Int64
		written atomic.Int64 // workload w's key sequence
		wg      sync.WaitGroup
	)
	var seconds *timeline
	if cfg.timeline {
		seconds = newTimeline(measureStart, cfg.duration)
	}
	perWorker := make([][numBenchOps]*opStats, cfg.clients)
	for i := range cfg.clients {
		for op := range numBenchOps {
			perWorker[i][op] = newOpStats()
		}
		w := &worker{cfg: cfg, kvs: kvs, items: itemKVs(kvs), at: i % len(kvs), measureStart: measureStart, issued: &issued, written: &written,
			stats: &perWorker[i], seconds: seconds}
		wg.Go(func() { w.run(runCtx) })
	}
	wg.Wait()
	end := time.Now()

	res := &benchResult{elapsed: max(end.Sub(measureStart), 0), interrupted: ctx.Err() != nil, seconds: seconds}
	for op := range numBenchOps {
		res.ops[op] = newOpStats()
		for i := range perWorker {
			res.ops[op].merge(perWorker[i][op])
		}
	}
	return res
}

// worker is one client of the run.
type worker struct {
	cfg             *Config
	kvs             []KV
	items           []ItemKV // the same clients, in items mode
	at              int      // the address it sends to, until that one is unavailable
	measureStart    time.Time
	issued, written *atomic.Int64 // shared: measured ops started, workload w's key sequence
	stats           *[numBenchOps]*opStats
	seconds         *timeline
}

func (w *worker) run(runCtx context.Context) {
	cfg := w.cfg
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	val := make([]byte, cfg.valueSize)
	end, hasEnd := runCtx.Deadline()
	var key []byte
	for runCtx.Err() == nil {
		begin := time.Now()
		measured := !begin.Before(w.measureStart)
		if measured && cfg.maxOps > 0 && w.issued.Add(1) > cfg.maxOps {
			return
		}
		op := chooseOp(cfg.workload, cfg.readPercent, rng.IntN(100))
		if op == opWrite {
			key = appendBenchKey(key[:0], cfg.keyPrefix+cfg.runTag, int(w.written.Add(1)-1))
		} else {
			key = appendBenchKey(key[:0], cfg.keyPrefix, rng.IntN(cfg.keys))
		}

		var (
			lat      time.Duration
			err      error
			notFound bool
		)
		kv := w.kvs[w.at]
		switch {
		case cfg.schema.partition.Name != "":
			notFound, err = w.itemOp(runCtx, op, rng)
			lat = time.Since(begin)
		case op == opRead:
			octx, cancel := cfg.opContext(runCtx)
			if cfg.datatype {
				var res *kvpb.FetchResponse
				res, err = kv.Fetch(octx, key, cfg.readOpts())
				notFound = err == nil && !res.Found
			} else {
				var res *client.Result
				res, err = kv.Get(octx, key, cfg.readOpts())
				notFound = err == nil && !res.Found
			}
			lat = time.Since(begin)
			cancel()
		case op == opUpdate:
			fillRandom(rng, val)
			err = getPut(runCtx, cfg, kv, key, val, &lat)
		case op == opWrite:
			fillRandom(rng, val)
			octx, cancel := cfg.opContext(runCtx)
			err = cfg.put(octx, kv, key, val, nil)
			lat = time.Since(begin)
			cancel()
		}

		if err != nil {
			// gRPC fails a call whose deadline has passed before the
			// context's own timer marks it done, so check the clock too.
			if runCtx.Err() != nil || (hasEnd && !time.Now().Before(end)) {
				return // cut short by the end of the run: not an error
			}
			if measured {
				w.stats[op].errs[status.Code(err)]++
				w.seconds.record(time.Now(), 0, true)
			}
			if status.Code(err) == codes.Unavailable {
				w.at = (w.at + 1) % len(w.kvs) // its node is down or unreachable
			}
			select {
			case <-runCtx.Done():
				return
			case <-time.After(errorBackoff):
			}
			continue
		}
		if measured {
			w.stats[op].record(lat)
			w.seconds.record(begin.Add(lat), lat, false)
			if notFound {
				w.stats[op].notFound++
			}
		}
	}
}

// opReport is the report of one operation type; latencies in milliseconds.
type opReport struct {
	Count        int64            `json:"count"`
	Errors       int64            `json:"errors"`
	ErrorsByCode map[string]int64 `json:"errors_by_code,omitempty"`
	NotFound     int64            `json:"not_found"`
	MeanMs       float64          `json:"mean_ms"`
	P50Ms        float64          `json:"p50_ms"`
	P99Ms        float64          `json:"p99_ms"`
	P999Ms       float64          `json:"p99_9_ms"`
	MaxMs        float64          `json:"max_ms"`
}

// benchReport is the whole run, as printed (text) or encoded (--json).
type benchReport struct {
	Workload     string   `json:"workload"`
	Table        string   `json:"table,omitempty"`
	Datatype     bool     `json:"datatype,omitempty"`
	Strong       bool     `json:"strong,omitempty"`
	ReadPercent  int      `json:"read_percent"`
	Addrs        []string `json:"addrs"`
	Clients      int      `json:"clients"`
	Keys         int      `json:"keys"`
	ValueSize    int      `json:"value_size"`
	R            string   `json:"r,omitempty"`
	W            string   `json:"w,omitempty"`
	Loaded       bool     `json:"loaded"`
	WarmupS      float64  `json:"warmup_s"`
	DurationS    float64  `json:"duration_s"`
	Interrupted  bool     `json:"interrupted,omitempty"`
	TotalOps     int64    `json:"total_ops"`
	TotalErrors  int64    `json:"total_errors"`
	OpsPerSecond float64  `json:"ops_per_sec"`
	Read         opReport `json:"read"`
	Update       opReport `json:"update"`
	Write        opReport `json:"write"`
	// Servers is the nodes' CPU and memory over the run, when their status
	// could be read before and after it.
	Servers *serverUsage `json:"servers,omitempty"`
	// Timeline has each second of the run, with --timeline.
	Timeline []Second `json:"timeline,omitempty"`
}

// round2 rounds to two decimals.
func round2(x float64) float64 { return math.Round(x*100) / 100 }

func usToMs(us int64) float64 { return round2(float64(us) / 1000) }

// buildOpReport summarizes merged stats.
func buildOpReport(s *opStats) opReport {
	r := opReport{Count: s.hist.TotalCount(), NotFound: s.notFound}
	for c, n := range s.errs {
		if n == 0 {
			continue
		}
		if r.ErrorsByCode == nil {
			r.ErrorsByCode = map[string]int64{}
		}
		r.ErrorsByCode[c.String()] += n
		r.Errors += n
	}
	if r.Count > 0 {
		r.MeanMs = round2(s.hist.Mean() / 1000)
		r.P50Ms = usToMs(s.hist.ValueAtQuantile(50))
		r.P99Ms = usToMs(s.hist.ValueAtQuantile(99))
		r.P999Ms = usToMs(s.hist.ValueAtQuantile(99.9))
		r.MaxMs = usToMs(s.hist.Max())
	}
	return r
}

// buildReport turns a run's result into its report. Total ops and ops/s
// count successful operations; failures are in the errors figures.
func buildReport(cfg *Config, res *benchResult) benchReport {
	rep := benchReport{
		Workload:    cfg.workload,
		Table:       cfg.table,
		Datatype:    cfg.datatype,
		Strong:      cfg.strong,
		ReadPercent: cfg.readPercent,
		Addrs:       slices.Clone(cfg.addrs),
		Clients:     cfg.clients,
		Keys:        cfg.keys,
		ValueSize:   cfg.valueSize,
		R:           cfg.r,
		W:           cfg.w,
		Loaded:      cfg.load,
		WarmupS:     round2(cfg.warmup.Seconds()),
		DurationS:   round2(res.elapsed.Seconds()),
		Interrupted: res.interrupted,
		Read:        buildOpReport(res.ops[opRead]),
		Update:      buildOpReport(res.ops[opUpdate]),
		Write:       buildOpReport(res.ops[opWrite]),
	}
	if res.seconds != nil {
		rep.Timeline = res.seconds.report(res.elapsed)
	}
	rep.TotalOps = rep.Read.Count + rep.Update.Count + rep.Write.Count
	rep.TotalErrors = rep.Read.Errors + rep.Update.Errors + rep.Write.Errors
	if s := res.elapsed.Seconds(); s > 0 {
		rep.OpsPerSecond = round2(float64(rep.TotalOps) / s)
	}
	return rep
}

// writeText prints the report for people.
func (r benchReport) writeText(w io.Writer) {
	mix := fmt.Sprintf("%d%% read / %d%% update", r.ReadPercent, 100-r.ReadPercent)
	switch r.Workload {
	case "w":
		mix = "100% blind write"
	case "i":
		mix = "100% UpdateItem ADD n :one"
	}
	if r.Strong {
		mix += fmt.Sprintf(", strong table %s: linearizable reads, writes by compare-and-set", r.Table)
	} else if r.Datatype {
		mix += fmt.Sprintf(", crdt table %s: writes are counter increments, reads fetches", r.Table)
	} else if r.Table != "" {
		mix += ", table " + r.Table
	}
	fmt.Fprintf(w, "workload %s (%s), %d clients over %s\n", r.Workload, mix, r.Clients, strings.Join(r.Addrs, ","))
	fmt.Fprintf(w, "%d keys, %d-byte values, r=%s w=%s, warmup %.2fs\n",
		r.Keys, r.ValueSize, quorumOrDefault(r.R), quorumOrDefault(r.W), r.WarmupS)
	note := ""
	if r.Interrupted {
		note = " (interrupted)"
	}
	fmt.Fprintf(w, "duration %.2fs%s: %d ops, %.2f ops/s, %d errors\n", r.DurationS, note, r.TotalOps, r.OpsPerSecond, r.TotalErrors)
	if u := r.Servers; u != nil {
		fmt.Fprintf(w, "servers: %d nodes, %.2f s CPU, %.3f ms CPU per op, largest RSS %.1f MiB\n", u.Nodes, u.CPUSeconds, u.CPUMsPerOp, u.MaxRSSMiB)
	}
	fmt.Fprintf(w, "%-8s %10s %8s %10s %10s %10s %10s %10s\n", "OP", "COUNT", "ERRORS", "NOT FOUND", "P50 ms", "P99 ms", "P99.9 ms", "MAX ms")
	for _, o := range []struct {
		name string
		rep  opReport
	}{{opRead.String(), r.Read}, {opUpdate.String(), r.Update}, {opWrite.String(), r.Write}} {
		fmt.Fprintf(w, "%-8s %10d %8d %10d %10.2f %10.2f %10.2f %10.2f\n",
			o.name, o.rep.Count, o.rep.Errors, o.rep.NotFound, o.rep.P50Ms, o.rep.P99Ms, o.rep.P999Ms, o.rep.MaxMs)
	}
	for _, o := range []struct {
		name string
		rep  opReport
	}{{opRead.String(), r.Read}, {opUpdate.String(), r.Update}, {opWrite.String(), r.Write}} {
		if len(o.rep.ErrorsByCode) == 0 {
			continue
		}
		names := make([]string, 0, len(o.rep.ErrorsByCode))
		for c := range o.rep.ErrorsByCode {
			names = append(names, c)
		}
		sort.Strings(names)
		parts := make([]string, len(names))
		for i, c := range names {
			parts[i] = fmt.Sprintf("%s=%d", c, o.rep.ErrorsByCode[c])
		}
		fmt.Fprintf(w, "%s errors: %s\n", o.name, strings.Join(parts, " "))
	}
	if len(r.Timeline) > 0 {
		fmt.Fprintf(w, "%6s %8s %8s %10s\n", "SECOND", "OPS", "ERRORS", "MAX ms")
		for _, sec := range r.Timeline {
			fmt.Fprintf(w, "%6d %8d %8d %10.2f\n", sec.Second, sec.Ops, sec.Errors, sec.MaxMs)
		}
	}
}

func quorumOrDefault(q string) string {
	if q == "" {
		return "default"
	}
	return q
}

// UsageError is a bad flag value: the command reports it as a usage error.
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

func usageErr(format string, args ...any) error {
	return &UsageError{msg: fmt.Sprintf(format, args...)}
}

// Flags binds a run's settings to f; defaultAddr is --addr's default.
// Finish must be called after the flags are parsed.
type Flags struct {
	cfg    Config
	addrs  string
	noLoad bool
}

// AddFlags registers bench's flags on f.
func (fl *Flags) AddFlags(f *pflag.FlagSet, defaultAddr string) {
	cfg := &fl.cfg
	f.StringVar(&fl.addrs, "addr", defaultAddr, "client addresses (host:port,host:port,...); clients are spread over them")
	f.StringVar(&cfg.workload, "workload", "a", "workload: YCSB a (50% read/50% update), b (95/5), c (100% read), w (100% blind writes of new keys), or on a table of items q (100% Query of one partition key)")
	f.IntVar(&cfg.clients, "clients", 16, "concurrent clients (also the number of loading writers)")
	f.IntVar(&cfg.conns, "conns", 0, "client connections in all, round-robin over --addr (0: one per address)")
	f.DurationVar(&cfg.duration, "duration", 30*time.Second, "measured run time")
	f.DurationVar(&cfg.warmup, "warmup", 0, "unrecorded run time before the measurement")
	f.DurationVar(&cfg.timeout, "timeout", 5*time.Second, "per-request timeout (0: the server's default)")
	f.IntVar(&cfg.valueSize, "value-size", 100, "bytes per value")
	f.IntVar(&cfg.keys, "keys", 10000, "key space size (a table of items: partition keys)")
	f.IntVar(&cfg.items, "items", 100, "a table of items with a sort key: items per partition key (what workload q reads)")
	f.StringVar(&cfg.keyPrefix, "key-prefix", "bench-", "prefix of the key space's keys (runs with different prefixes use disjoint keys)")
	f.Int64Var(&cfg.maxOps, "ops", 0, "stop after this many measured operations (0: run for --duration)")
	f.StringVar(&cfg.r, "r", "", "read quorum: one, quorum, all or a number (default: the server's)")
	f.StringVar(&cfg.w, "w", "", "write quorum: one, quorum, all or a number (default: the server's)")
	f.BoolVar(&fl.noLoad, "no-load", false, "skip loading the key space")
	f.StringVar(&cfg.table, "table", "", "table to load (default: the built-in table); on a strong table every write is a compare-and-set")
	f.BoolVar(&cfg.timeline, "timeline", false, "also report each second of the run apart (ops, errors, slowest op)")
}

// Config checks the parsed flags and returns the run's settings; a bad
// value is a *UsageError.
func (fl *Flags) Config() (*Config, error) {
	cfg := fl.cfg
	var err error
	if cfg.addrs, err = parseAddrs(fl.addrs); err != nil {
		return nil, err
	}
	cfg.load = !fl.noLoad
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// Main runs bench against cfg's addresses until ctx ends or the run is
// over (Ctrl-C ends it early and still reports): load, run, then the
// report on stdout, as JSON with asJSON; progress goes to stderr.
func Main(ctx context.Context, cfg *Config, asJSON bool, stdout, stderr io.Writer) error {
	parent := ctx
	ctx, stop := signal.NotifyContext(parent, os.Interrupt)
	defer stop()

	kvs := make([]KV, 0, len(cfg.addrs))
	var first *client.Client
	for _, a := range connAddrs(cfg.addrs, cfg.conns) {
		cl, err := client.Dial(a)
		if err != nil {
			return err
		}
		defer cl.Close()
		kvs = append(kvs, cl)
		if first == nil {
			first = cl
		}
	}
	if cfg.table != "" {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		d, err := first.Tables().DescribeTable(tctx, &kvpb.DescribeTableRequest{Name: cfg.table})
		cancel()
		if err != nil {
			return fmt.Errorf("--table %s: %w", cfg.table, err)
		}
		cfg.strong = d.Table.Consistency == "strong"
		cfg.datatype = d.Table.Conflict == "crdt"
		if err := cfg.takeSchema(d.Table); err != nil {
			return err
		}
		if cfg.strong && cfg.schema.partition.Name == "" && (cfg.r != "" || cfg.w != "") {
			return usageErr("--table %s is strong: a majority of each key's replicas decides; --r and --w do not apply", cfg.table)
		}
	}
	if cfg.table == "" && (cfg.workload == "q" || cfg.workload == "i") {
		return usageErr("--workload %s is of a table of items: give --table", cfg.workload)
	}
	if cfg.load {
		t := time.Now()
		if !asJSON {
			fmt.Fprintf(stderr, "loading %d keys with %d writers...\n", cfg.keys, min(cfg.clients, cfg.keys))
		}
		load := loadKeys
		if cfg.schema.partition.Name != "" {
			load = func(ctx context.Context, cfg *Config, kvs []KV) error { return loadItems(ctx, cfg, itemKVs(kvs)) }
		}
		if err := load(ctx, cfg, kvs); err != nil {
			if ctx.Err() != nil && parent.Err() == nil {
				return fmt.Errorf("load interrupted")
			}
			return err
		}
		if !asJSON {
			fmt.Fprintf(stderr, "loaded in %.2fs\n", time.Since(t).Seconds())
		}
	}
	if !asJSON {
		fmt.Fprintf(stderr, "running workload %s for %s (warmup %s)...\n", cfg.workload, cfg.duration, cfg.warmup)
	}
	before, sampleErr := sampleNodes(ctx, cfg.addrs[0])
	rep := buildReport(cfg, runBench(ctx, cfg, kvs))
	if sampleErr == nil {
		var after map[string]*kvpb.ProcessStats
		if after, sampleErr = sampleNodes(parent, cfg.addrs[0]); sampleErr == nil {
			rep.Servers, sampleErr = usageBetween(before, after, rep.TotalOps)
		}
	}
	if sampleErr != nil && !asJSON {
		fmt.Fprintf(stderr, "server CPU not measured: %v\n", sampleErr)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.writeText(stdout)
	return nil
}
