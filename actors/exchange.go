package actors

import (
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/merkle"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/pace"
	"github.com/harmoniakv/harmonia/cluster/reap"
	"github.com/harmoniakv/harmonia/cluster/reconcile"
	"github.com/harmoniakv/harmonia/internal/wallclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/proto"
)

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
	faults    Faults // injected to test recovery (Config.Faults); never nil
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
	pacer         *pace.Pacer // MaxKeysPerSecond of repair writes
	pumpPending   bool        // an exchangePump is scheduled
	lastProgress  time.Time   // of the latest reply
	result        ExchangeResult
	finished      bool
	acc           exchangeAcceptors // the pass over strong keys, after the trees
	timeout, pace selfTimer         // the progress deadline; the pump's wait
}

func (e *exchange) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*actor.Stopping); ok {
		e.timeout.stop()
		e.pace.stop()
		return
	}
	if e.finished {
		return // replies still in flight; the parent stops this actor
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		e.result = ExchangeResult{Partition: e.partition, Peer: e.peer}
		e.mine.vnode, e.theirs.vnode = e.view.localVnodePID(e.partition), e.view.vnodePID(e.peer, e.partition)
		e.lastProgress = time.Now()
		e.timeout.after(ctx, e.cfg.Timeout, exchangeTimeout{})
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
		e.faults.RepairWriteAcked(e.partition, e.peer)
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
	case *internalpb.HandoffBatch:
		e.lastProgress = time.Now()
		e.acceptorPage(ctx, m)
	case *internalpb.HandoffApplyReply:
		e.lastProgress = time.Now()
		e.acceptorSynced(ctx, m)
	case strongAnswered:
		e.lastProgress = time.Now()
		e.acceptorCompletedRead(ctx, m)
	case exchangeTimeout:
		if idle := time.Since(e.lastProgress); idle < e.cfg.Timeout {
			e.timeout.after(ctx, e.cfg.Timeout-idle, exchangeTimeout{})
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
	mine, err := levelHashes(e.local, len(e.nodes))
	var theirs []merkle.Hash
	if err == nil {
		theirs, err = levelHashes(e.remote, len(e.nodes))
	}
	if err != nil {
		e.finish(ctx, err)
		return
	}
	cfg := merkle.DefaultConfig()
	next := cfg.Step(e.level, e.nodes, mine, theirs)
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

// levelHashes takes r's hashes of the nodes asked. A reply with a hash
// missing, or one not of a tree hash's size, fails the exchange: Step
// would take a missing hash for an equal one, and the conversion of a
// short one panics.
func levelHashes(r *internalpb.TreeLevelReply, nodes int) ([]merkle.Hash, error) {
	if len(r.Hashes) != nodes {
		return nil, fmt.Errorf("%s: %d hashes for %d nodes", r.Node, len(r.Hashes), nodes)
	}
	out := make([]merkle.Hash, nodes)
	for i, b := range r.Hashes {
		if len(b) != len(out[i]) {
			return nil, fmt.Errorf("%s: hash of %d bytes, not %d", r.Node, len(b), len(out[i]))
		}
		out[i] = merkle.Hash(b)
	}
	return out, nil
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
	for _, r := range reconcile.Replicas(e.mine.objs, e.theirs.objs, e.reap, wallclock.Now()) {
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
	e.pump(ctx)
}

// pump keeps up to WriteWindow repair writes outstanding, no faster than
// MaxKeysPerSecond, and finishes once all are acknowledged.
func (e *exchange) pump(ctx actor.Context) {
	for e.sent < len(e.writes) && e.sent-e.acked < max(e.cfg.WriteWindow, 1) {
		now := time.Now()
		if wait := e.pacer.Due(now); wait > 0 {
			if !e.pumpPending {
				e.pumpPending = true
				e.pace.after(ctx, wait, exchangePump{})
			}
			return
		}
		e.pacer.Take(now, 1)
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
	if err == nil && !e.acc.started {
		e.startAcceptors(ctx) // the eventual data is compared; the strong keys next
		return
	}
	e.finished = true
	e.result.Err = err
	ctx.Send(ctx.Parent(), exchangeDone{pid: ctx.Self(), result: e.result})
}
