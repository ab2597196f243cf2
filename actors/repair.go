package actors

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/merkle"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/reap"
	"github.com/harmoniakv/harmonia/cluster/reconcile"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/proto"
)

// RepairConfig tunes anti-entropy.
type RepairConfig struct {
	// Interval is how often each (partition, peer) pair this node holds is
	// compared; the exchanges are spread evenly over it. 0 disables the
	// schedule (manual repair still works). Default 10 min.
	Interval time.Duration
	// Concurrency bounds exchanges running at once. Default 1.
	Concurrency int
	// PageKeys bounds the stored keys one vnode reads to answer one request
	// for the objects of differing buckets, so an exchange of a fully
	// diverged partition reads it once, a page per mailbox turn. Default
	// 1,000.
	PageKeys int
	// WriteWindow bounds the repair writes an exchange has outstanding, so
	// they interleave with foreground requests. Default 64.
	WriteWindow int
	// MaxKeysPerSecond bounds the repair writes of one exchange, so that
	// refilling a wiped replica leaves foreground latency close to normal
	// (0: unbounded). Default 2,000.
	MaxKeysPerSecond int
	// Timeout ends an exchange that has made no progress (no reply from
	// either side) for that long. Default 60 s.
	Timeout time.Duration
	// MaxAttempts bounds how often a crashed exchange is started again
	// before it is reported failed. Default 3.
	MaxAttempts int
	// PanicAfter makes an exchange panic once, after this process's
	// exchanges have had that many repair writes acknowledged, to test
	// supervision (0: never). Test-only.
	PanicAfter int64
}

// DefaultRepairConfig returns the documented defaults.
func DefaultRepairConfig() RepairConfig {
	return RepairConfig{Interval: 10 * time.Minute, Concurrency: 1, PageKeys: 1000, WriteWindow: 64, MaxKeysPerSecond: 2000, Timeout: time.Minute, MaxAttempts: 3}
}

// ExchangeResult is what one exchange found and moved.
type ExchangeResult struct {
	Partition             int
	Peer                  string
	Hashes                uint64 // tree hashes each side sent
	KeysLocal, KeysRemote uint64 // keys written to this node / to the peer
	Bytes                 uint64 // object bytes sent
	Err                   error
}

// RepairTotals sums the exchanges of this process.
type RepairTotals struct {
	Exchanges, KeysRepaired, Bytes, Hashes uint64
	// Restarted counts exchanges started again after a crash.
	Restarted uint64
}

type repairTable struct {
	mu     sync.Mutex
	totals RepairTotals
	// writesAcked and panicked drive RepairConfig.PanicAfter.
	writesAcked atomic.Int64
	panicked    atomic.Bool
}

func (t *repairTable) restarted() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.totals.Restarted++
}

func (t *repairTable) add(r ExchangeResult) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.totals.Exchanges++
	t.totals.KeysRepaired += r.KeysLocal + r.KeysRemote
	t.totals.Bytes += r.Bytes
	t.totals.Hashes += r.Hashes
}

func (t *repairTable) get() RepairTotals {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.totals
}

type (
	repairTick struct{}
	// RepairNow runs exchanges immediately; Partition -1 means every
	// partition this node holds, Peer "" every other replica.
	repairNow struct {
		partition int
		peer      string
		reply     chan []ExchangeResult
	}
	exchangeDone struct {
		pid    *actor.PID // the exchange
		result ExchangeResult
	}
	pair struct {
		partition int
		peer      string
		run       *manualRun // nil for a scheduled exchange
		attempt   int
	}
)

// repair schedules Merkle exchanges between this node and the other
// replicas of each partition it holds, at most Concurrency at a time.
type repair struct {
	cfg  RepairConfig
	reap reap.Config // repairs follow its Spread
	// maxPairs bounds the pairs this node compares (Q × (N-1)); the
	// schedule divides Interval by it.
	maxPairs int
	view     *viewHolder
	table    *repairTable
	cancel   func()

	next    int
	queue   []pair
	running map[string]pair // by the exchange's PID id
	seq     int
}

type manualRun struct {
	waiting int
	results []ExchangeResult
	reply   chan []ExchangeResult
}

// pairs lists the (partition, peer) pairs this node compares.
// With keep nil the schedule's pairs are listed, each compared by one side
// only (the smaller id); keep chooses pairs for a manual run instead.
func pairs(v *View, keep func(p int, peer string) bool) []pair {
	if keep == nil {
		keep = func(_ int, peer string) bool { return v.Self < peer }
	}
	var out []pair
	for p := 0; p < v.Ring.Partitions(); p++ {
		pref := v.Ring.PreferenceListForPartition(p, v.N)
		if !slices.Contains(pref, v.Self) {
			continue
		}
		for _, peer := range pref {
			if peer != v.Self && keep(p, peer) {
				out = append(out, pair{partition: p, peer: peer})
			}
		}
	}
	return out
}

func (r *repair) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		r.running = map[string]pair{}
		if r.cfg.Interval > 0 {
			r.startTicker(ctx)
		}
	case *actor.Stopping:
		if r.cancel != nil {
			r.cancel()
		}
	case repairTick:
		if r.view.Load() == nil {
			return
		}
		ps := pairs(r.view.Load(), nil)
		if len(ps) == 0 || len(r.running) >= r.cfg.Concurrency {
			return
		}
		r.next %= len(ps)
		r.queue = append(r.queue, ps[r.next])
		r.next++
		r.fill(ctx)
	case repairNow:
		v := r.view.Load()
		run := &manualRun{reply: m.reply}
		if v == nil {
			m.reply <- nil
			return
		}
		for _, pr := range pairs(v, func(p int, peer string) bool {
			return (m.partition < 0 || p == m.partition) && (m.peer == "" || m.peer == peer)
		}) {
			pr.run = run
			r.queue = append(r.queue, pr)
			run.waiting++
		}
		if run.waiting == 0 {
			m.reply <- nil
			return
		}
		r.fill(ctx)
	case exchangeDone:
		// The parent stops a finished exchange, so its Terminated (a system
		// message, which overtakes this one) cannot be taken for a crash.
		pr := r.running[m.pid.Id]
		delete(r.running, m.pid.Id)
		ctx.Stop(m.pid)
		r.record(m.result, pr.run)
		r.fill(ctx)
	case *actor.Terminated:
		// An exchange that stops without reporting crashed (its supervisor
		// stops it rather than restarting it in place, so no reply meant for
		// the crashed one reaches the next). Start it again from the roots:
		// what it wrote were whole merges, so nothing is half-applied.
		pr, crashed := r.running[m.Who.Id]
		if !crashed {
			return
		}
		delete(r.running, m.Who.Id)
		if pr.attempt++; pr.attempt < r.cfg.MaxAttempts {
			r.table.restarted()
			r.queue = append([]pair{pr}, r.queue...)
		} else {
			r.record(ExchangeResult{Partition: pr.partition, Peer: pr.peer, Err: fmt.Errorf("crashed %d times", pr.attempt)}, pr.run)
		}
		r.fill(ctx)
	}
}

// record counts a finished exchange and completes a manual run with it.
func (r *repair) record(result ExchangeResult, run *manualRun) {
	r.table.add(result)
	if run != nil {
		run.results = append(run.results, result)
		if run.waiting--; run.waiting == 0 {
			run.reply <- run.results
		}
	}
}

func (r *repair) startTicker(ctx actor.Context) {
	// Spread the pairs over the interval: one exchange every interval/pairs.
	every := max(r.cfg.Interval/time.Duration(max(r.maxPairs, 1)), 100*time.Millisecond)
	r.cancel = tickSelf(ctx, every, repairTick{})
}

func (r *repair) fill(ctx actor.Context) {
	for len(r.running) < r.cfg.Concurrency && len(r.queue) > 0 {
		pr := r.queue[0]
		r.queue = r.queue[1:]
		r.seq++
		props := actor.PropsFromProducer(func() actor.Actor {
			return &exchange{cfg: r.cfg, reap: r.reap, view: r.view.Load(), partition: pr.partition, peer: pr.peer, table: r.table}
		})
		pid, err := ctx.SpawnNamed(props, fmt.Sprintf("exchange-%d-%s-%d", pr.partition, pr.peer, r.seq))
		if err != nil {
			r.record(ExchangeResult{Partition: pr.partition, Peer: pr.peer, Err: err}, pr.run)
			continue
		}
		r.running[pid.Id] = pr
	}
}

type (
	exchangeTimeout struct{}
	exchangePump    struct{}
)

// exchangeSide is one side of an exchange: its vnode, and for the bucket
// fetch its page cursor and the objects read so far.
type exchangeSide struct {
	vnode *actor.PID
	after []byte
	done  bool
	objs  map[string][]object.Sibling
}

// repairWrite is one merge an exchange sends to one side; its request id
// is its index in the exchange's writes.
type repairWrite struct {
	to    *actor.PID
	local bool
	put   *internalpb.ReplicaPut
}

// exchange compares one partition's trees on this node and a peer, level by
// level, then reads the objects of differing leaf buckets from both, a page
// at a time, and writes the merge to whichever side lacked something, at
// most WriteWindow writes at a time. A crash loses nothing: every write it
// makes is an idempotent merge.
type exchange struct {
	cfg       RepairConfig
	reap      reap.Config
	view      *View
	partition int
	peer      string
	table     *repairTable

	level         int
	nodes         []int
	local, remote *internalpb.TreeLevelReply
	buckets       []uint32
	mine, theirs  exchangeSide
	writes        []repairWrite
	sent, acked   int
	writeStart    time.Time
	pumpPending   bool      // an exchangePump is scheduled
	lastProgress  time.Time // of the latest reply
	result        ExchangeResult
	finished      bool
}

func (e *exchange) Receive(ctx actor.Context) {
	if e.finished {
		return // replies still in flight; the parent stops this actor
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		e.result = ExchangeResult{Partition: e.partition, Peer: e.peer}
		e.mine.vnode, e.theirs.vnode = e.view.localVnodePID(e.partition), e.view.vnodePID(e.peer, e.partition)
		e.lastProgress = time.Now()
		sendSelfAfter(ctx, e.cfg.Timeout, exchangeTimeout{})
		if !e.view.Up(e.peer) {
			e.finish(ctx, errors.New("peer is down"))
			return
		}
		e.nodes = []int{0}
		e.askLevel(ctx)
	case *internalpb.TreeLevelReply:
		e.lastProgress = time.Now()
		if m.Node == e.view.Self && e.local == nil {
			e.local = m
		} else {
			e.remote = m
		}
		if e.local != nil && e.remote != nil {
			e.compareLevel(ctx)
		}
	case *internalpb.BucketKeysReply:
		e.lastProgress = time.Now()
		e.collect(ctx, m)
	case *internalpb.ReplicaPutReply:
		e.lastProgress = time.Now()
		if e.cfg.PanicAfter > 0 {
			if acked := e.table.writesAcked.Add(1); acked >= e.cfg.PanicAfter && e.table.panicked.CompareAndSwap(false, true) {
				panic(fmt.Sprintf("exchange of partition %d with %s: fault injected after %d repair writes", e.partition, e.peer, acked))
			}
		}
		if m.Error != "" || m.RequestId >= uint64(len(e.writes)) {
			e.finish(ctx, fmt.Errorf("repair write to %s: %s", m.Node, m.Error))
			return
		}
		// Keys and bytes count once written, so a failed exchange reports
		// only what it moved.
		w := e.writes[m.RequestId]
		if w.local {
			e.result.KeysLocal++
		} else {
			e.result.KeysRemote++
		}
		e.result.Bytes += uint64(proto.Size(w.put.Object))
		e.acked++
		e.pump(ctx)
	case exchangePump:
		e.pumpPending = false
		e.pump(ctx)
	case exchangeTimeout:
		if idle := time.Since(e.lastProgress); idle < e.cfg.Timeout {
			sendSelfAfter(ctx, e.cfg.Timeout-idle, exchangeTimeout{})
			return
		}
		e.finish(ctx, fmt.Errorf("no progress for %v", e.cfg.Timeout))
	}
}

func (e *exchange) askLevel(ctx actor.Context) {
	e.local, e.remote = nil, nil
	req := &internalpb.TreeLevel{Partition: uint32(e.partition), Level: uint32(e.level)}
	for _, n := range e.nodes {
		req.Nodes = append(req.Nodes, uint32(n))
	}
	ctx.Request(e.mine.vnode, req)
	ctx.Request(e.theirs.vnode, req)
}

func (e *exchange) compareLevel(ctx actor.Context) {
	for _, r := range []*internalpb.TreeLevelReply{e.local, e.remote} {
		switch {
		case r.Error != "":
			e.finish(ctx, fmt.Errorf("%s: %s", r.Node, r.Error))
			return
		case !r.Ready:
			e.finish(ctx, fmt.Errorf("%s: tree still being rebuilt", r.Node))
			return
		}
	}
	e.result.Hashes += uint64(len(e.nodes))
	toHashes := func(bs [][]byte) []merkle.Hash {
		out := make([]merkle.Hash, len(bs))
		for i, b := range bs {
			out[i] = merkle.Hash(b)
		}
		return out
	}
	cfg := merkle.DefaultConfig()
	next := cfg.Step(e.level, e.nodes, toHashes(e.local.Hashes), toHashes(e.remote.Hashes))
	if len(next) == 0 {
		e.finish(ctx, nil)
		return
	}
	if e.level == cfg.Depth {
		for _, b := range next {
			e.buckets = append(e.buckets, uint32(b))
		}
		e.mine.objs, e.theirs.objs = map[string][]object.Sibling{}, map[string][]object.Sibling{}
		e.fetch(ctx, &e.mine)
		e.fetch(ctx, &e.theirs)
		return
	}
	e.level++
	e.nodes = next
	e.askLevel(ctx)
}

// fetch asks one side for its next page of the differing buckets.
func (e *exchange) fetch(ctx actor.Context, s *exchangeSide) {
	ctx.Request(s.vnode, &internalpb.BucketKeys{Partition: uint32(e.partition), Buckets: e.buckets,
		AfterKey: s.after, MaxKeys: uint32(max(e.cfg.PageKeys, 1))})
}

func (e *exchange) collect(ctx actor.Context, m *internalpb.BucketKeysReply) {
	if m.Error != "" {
		e.finish(ctx, fmt.Errorf("%s: %s", m.Node, m.Error))
		return
	}
	s := &e.theirs
	if m.Node == e.view.Self {
		s = &e.mine
	}
	for _, en := range m.Entries {
		set, err := object.FromProto(en.Object)
		if err != nil {
			e.finish(ctx, err)
			return
		}
		s.objs[string(en.Key)] = set
	}
	if m.More {
		s.after = m.LastKey
		e.fetch(ctx, s)
		return
	}
	s.done = true
	if e.mine.done && e.theirs.done {
		e.reconcile(ctx)
	}
}

// reconcile queues the writes reconcile.Replicas decides: the merge of
// both sides, to each side that lacked part of it.
func (e *exchange) reconcile(ctx actor.Context) {
	for _, r := range reconcile.Replicas(e.mine.objs, e.theirs.objs, e.reap, time.Now()) {
		obj := object.ToProto(r.Merged)
		queue := func(local bool, to *actor.PID) {
			e.writes = append(e.writes, repairWrite{to: to, local: local, put: &internalpb.ReplicaPut{
				Partition: uint32(e.partition), Key: []byte(r.Key), Object: obj, RequestId: uint64(len(e.writes)), Sender: e.view.sender()}})
		}
		if r.Local {
			queue(true, e.mine.vnode)
		}
		if r.Remote {
			queue(false, e.theirs.vnode)
		}
	}
	e.mine.objs, e.theirs.objs = nil, nil
	e.writeStart = time.Now()
	e.pump(ctx)
}

// pump keeps up to WriteWindow repair writes outstanding, no faster than
// MaxKeysPerSecond, and finishes once all are acknowledged.
func (e *exchange) pump(ctx actor.Context) {
	for e.sent < len(e.writes) && e.sent-e.acked < max(e.cfg.WriteWindow, 1) {
		if rate := e.cfg.MaxKeysPerSecond; rate > 0 {
			due := e.writeStart.Add(time.Duration(e.sent) * time.Second / time.Duration(rate))
			if wait := time.Until(due); wait > 0 {
				if !e.pumpPending {
					e.pumpPending = true
					sendSelfAfter(ctx, wait, exchangePump{})
				}
				return
			}
		}
		w := e.writes[e.sent]
		ctx.Request(w.to, w.put)
		e.sent++
	}
	if e.acked >= len(e.writes) {
		e.finish(ctx, nil)
	}
}

func (e *exchange) finish(ctx actor.Context, err error) {
	if e.finished {
		return
	}
	e.finished = true
	e.result.Err = err
	ctx.Send(ctx.Parent(), exchangeDone{pid: ctx.Self(), result: e.result})
}
