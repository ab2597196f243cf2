package actors

import (
	"bytes"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/actors/actorkit"
	"github.com/harmoniakv/harmonia/cluster/antientropy"
	"github.com/harmoniakv/harmonia/cluster/merkle"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxospb"
	"github.com/harmoniakv/harmonia/cluster/reap"
	"github.com/harmoniakv/harmonia/internal/wallclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/proto"
)

type (
	exchangeTimeout struct{}
	exchangePump    struct{}
)

// exchange runs one anti-entropy exchange of a partition with a peer: the
// decisions are cluster/antientropy's (the tree walk, the bucket pages, the
// repair writes and their pace, the acceptor pass, the progress deadline);
// this actor decodes each reply into a step of that core, and sends what
// it returns to its own vnode, the peer's, or the node's coordinator (the
// completion of an unsettled strong key). A crash loses nothing: every
// write it makes is an idempotent merge.
type exchange struct {
	faults    Faults // injected to test recovery (Config.Faults); never nil
	cfg       RepairConfig
	reap      reap.Config
	view      *View
	partition int
	peer      string

	core         *antientropy.Exchange
	mine, theirs *actor.PID // the two vnodes
	// sizes are the object bytes of the repair writes in flight, by id,
	// counted into Bytes once acknowledged.
	sizes         map[uint64]int
	bytes         uint64
	timeout, pace actorkit.SelfTimer // the progress deadline; the pump's wait
}

// exchangeConfig is the core's share of the repair settings.
func exchangeConfig(cfg RepairConfig, rule reap.Config) antientropy.Config {
	stale := cfg.AcceptorStaleAfter
	if stale <= 0 {
		stale = acceptorStaleAfterDefault
	}
	return antientropy.Config{Tree: merkle.DefaultConfig(), PageKeys: cfg.PageKeys, WriteWindow: cfg.WriteWindow,
		MaxKeysPerSecond: cfg.MaxKeysPerSecond, Timeout: cfg.Timeout, AcceptorStaleAfter: stale, Reap: rule}
}

func (e *exchange) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*actor.Stopping); ok {
		e.timeout.Stop()
		e.pace.Stop()
		return
	}
	if e.core != nil && e.core.Done() {
		return // replies still in flight; the parent stops this actor
	}
	now, wall := time.Now(), wallclock.Now()
	var eff antientropy.Effects
	switch m := ctx.Message().(type) {
	case *actor.Started:
		e.mine, e.theirs = e.view.localVnodePID(e.partition), e.view.vnodePID(e.peer, e.partition)
		e.sizes = map[uint64]int{}
		e.core, eff = antientropy.New(exchangeConfig(e.cfg, e.reap), now, e.view.Up(e.peer))
	case *internalpb.TreeLevelReply:
		side, ok := e.side(m.Node)
		if !ok {
			return
		}
		eff = e.core.Level(now, side, levelReply(m))
	case *internalpb.BucketKeysReply:
		side, ok := e.side(m.Node)
		if !ok {
			return
		}
		eff = e.core.Buckets(now, wall, side, bucketPage(m))
	case *internalpb.ReplicaPutReply:
		e.faults.RepairWriteAcked(e.partition, e.peer)
		if m.Error == "" {
			e.bytes += uint64(e.sizes[m.RequestId])
			delete(e.sizes, m.RequestId)
		}
		eff = e.core.Written(now, m.RequestId, replyErrorOf(m.Node, m.Error))
	case exchangePump:
		eff = e.core.Pump(now)
	case *internalpb.HandoffBatch:
		side, ok := e.side(m.Node)
		if !ok {
			return
		}
		eff = e.core.AcceptorPage(now, wall, side, acceptorPage(m))
	case *internalpb.HandoffApplyReply:
		eff = e.core.Synced(now, replyError(m.Error))
	case strongAnswered:
		eff = e.core.Completed(now, m.attempt, completionError(m.res))
	case exchangeTimeout:
		eff = e.core.Tick(now)
	default:
		return
	}
	e.execute(ctx, eff)
}

// side is the side a reply comes from: this node's vnode, or the peer's;
// a reply that names any other node is no side's.
func (e *exchange) side(node string) (antientropy.Side, bool) {
	switch node {
	case e.view.Self:
		return antientropy.Mine, true
	case e.peer:
		return antientropy.Theirs, true
	}
	return 0, false
}

func (e *exchange) pid(s antientropy.Side) *actor.PID {
	if s == antientropy.Mine {
		return e.mine
	}
	return e.theirs
}

func replyErrorOf(node, msg string) error {
	if msg == "" {
		return nil
	}
	return fmt.Errorf("%s: %s", node, msg)
}

func (e *exchange) execute(ctx actor.Context, eff antientropy.Effects) {
	if a := eff.AskLevel; a != nil {
		req := &internalpb.TreeLevel{Partition: uint32(e.partition), Level: uint32(a.Level)}
		for _, n := range a.Nodes {
			req.Nodes = append(req.Nodes, uint32(n))
		}
		ctx.Request(e.mine, req)
		ctx.Request(e.theirs, req)
	}
	for _, f := range eff.Fetch {
		req := &internalpb.BucketKeys{Partition: uint32(e.partition), AfterKey: f.After, MaxKeys: uint32(e.core.PageKeys())}
		for _, b := range f.Buckets {
			req.Buckets = append(req.Buckets, uint32(b))
		}
		ctx.Request(e.pid(f.Side), req)
	}
	for _, w := range eff.Writes {
		put := &internalpb.ReplicaPut{Partition: uint32(e.partition), Key: w.Key, Object: object.ToProto(w.Merged), RequestId: w.ID, Sender: e.view.sender()}
		e.sizes[w.ID] = proto.Size(put.Object)
		ctx.Request(e.pid(w.Side), put)
	}
	if f := eff.FetchAcceptors; f != nil {
		if e.view.Transition == nil {
			e.execute(ctx, e.core.Fail(fmt.Errorf("acceptor states: no ring transition to read them in")))
			return
		}
		req := &internalpb.HandoffFetch{Partition: uint32(e.partition), AfterKey: f.After, MaxKeys: uint32(e.core.PageKeys()),
			MaxBytes: bucketPageBytes, AcceptorStates: true, Transition: e.view.Transition.Fingerprint}
		ctx.Request(e.mine, req)
		ctx.Request(e.theirs, req)
	}
	for _, s := range eff.Syncs {
		sync := &internalpb.AcceptorSync{Partition: uint32(e.partition), Sender: e.view.sender()}
		for _, t := range s.States {
			sync.States = append(sync.States, &internalpb.AcceptorEntry{Key: t.Key, State: paxospb.StateToProto(t.State)})
		}
		ctx.Request(e.pid(s.To), sync)
	}
	if eff.Complete != nil {
		askStrong(ctx, &StrongRequest{Key: eff.Complete, Op: paxos.Op{Kind: paxos.OpComplete}, Timeout: e.cfg.Timeout / 2}, eff.Attempt)
	}
	if eff.PumpAfter > 0 {
		e.pace.After(ctx, eff.PumpAfter, exchangePump{})
	}
	if eff.CheckAfter > 0 {
		e.timeout.After(ctx, eff.CheckAfter, exchangeTimeout{})
	}
	if eff.Done {
		ctx.Send(ctx.Parent(), exchangeDone{pid: ctx.Self(), result: ExchangeResult{Partition: e.partition, Peer: e.peer,
			Result: e.core.Result(), Bytes: e.bytes, Err: eff.Err}})
	}
}

// levelReply decodes a side's hashes. One not of a tree hash's size fails
// the exchange (its conversion would panic); the core checks the count.
func levelReply(r *internalpb.TreeLevelReply) antientropy.LevelReply {
	if r.Error != "" {
		return antientropy.LevelReply{Err: fmt.Errorf("%s: %s", r.Node, r.Error)}
	}
	out := antientropy.LevelReply{Ready: r.Ready, Hashes: make([]merkle.Hash, len(r.Hashes))}
	for i, b := range r.Hashes {
		if len(b) != len(out.Hashes[i]) {
			return antientropy.LevelReply{Err: fmt.Errorf("%s: hash of %d bytes, not %d", r.Node, len(b), len(out.Hashes[i]))}
		}
		out.Hashes[i] = merkle.Hash(b)
	}
	return out
}

// bucketPage decodes a side's page of objects; one that does not convert
// fails the exchange.
func bucketPage(m *internalpb.BucketKeysReply) antientropy.BucketPage {
	if m.Error != "" {
		return antientropy.BucketPage{Err: fmt.Errorf("%s: %s", m.Node, m.Error)}
	}
	p := antientropy.BucketPage{More: m.More, Last: m.LastKey, Entries: make([]antientropy.Entry, 0, len(m.Entries))}
	for _, en := range m.Entries {
		set, err := object.FromProto(en.Object)
		if err != nil {
			return antientropy.BucketPage{Err: fmt.Errorf("%s: key %.64q: %w", m.Node, en.Key, err)}
		}
		p.Entries = append(p.Entries, antientropy.Entry{Key: en.Key, Set: set})
	}
	return p
}

// acceptorPage decodes a side's page of acceptor states, in increasing key
// order or refused.
func acceptorPage(m *internalpb.HandoffBatch) antientropy.AcceptorPage {
	fail := func(err error) antientropy.AcceptorPage { return antientropy.AcceptorPage{Err: err} }
	if m.Error != "" {
		return fail(fmt.Errorf("%s: %s", m.Node, m.Error))
	}
	if !m.OfAcceptorStates {
		return fail(fmt.Errorf("%s sent a batch of objects for acceptor states", m.Node))
	}
	floor, err := paxospb.BallotFromProto(m.Floor)
	if err != nil {
		return fail(fmt.Errorf("%s sent floor %v: %w", m.Node, m.Floor, err))
	}
	p := antientropy.AcceptorPage{Floor: floor, Done: m.Done, States: map[string]paxos.State{}}
	for _, en := range m.AcceptorStates {
		if n := len(p.Keys); n > 0 && bytes.Compare(en.Key, p.Keys[n-1]) <= 0 {
			return fail(fmt.Errorf("%s sent register %.64q after %.64q: out of order", m.Node, en.Key, p.Keys[n-1]))
		}
		st, err := paxospb.StateFromProto(en.State)
		if err != nil {
			return fail(fmt.Errorf("%s sent register %.64q: %w", m.Node, en.Key, err))
		}
		p.Keys = append(p.Keys, en.Key)
		p.States[string(en.Key)] = st
	}
	return p
}

// acceptorStaleAfterDefault is RepairConfig.AcceptorStaleAfter's default:
// well past the longest a proposer runs (its request's timeout).
const acceptorStaleAfterDefault = time.Minute
