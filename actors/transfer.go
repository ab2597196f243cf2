package actors

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/actors/actorkit"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxospb"
	"github.com/harmoniakv/harmonia/cluster/ring"
	xfer "github.com/harmoniakv/harmonia/cluster/transfer"
	"github.com/harmoniakv/harmonia/internal/wallclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"github.com/harmoniakv/harmonia/persistence"
)

// One partition's transfer to this node in a ring transition: the handoff
// actor's child transfer-<p>.
//
// It carries the partition's objects and the acceptor states of its strong
// keys (paxos repair). The joint voter groups of a ring change make every
// value chosen during the change known to a majority of the next replicas;
// a value chosen before it is known only to a majority of the current
// ones, and once the change ends, a majority of the next replicas alone
// decides. So before this node reports the partition in, every value
// chosen before the change must be known to a majority of the next
// replicas. Why it is:
//
//   - Every acceptor of the current replicas that the transfer reads is in
//     the change's view of the ring (a source in another refuses the read),
//     so it refuses proposers that are not (acceptors take steps only from
//     proposers of their own view): no value is chosen by the current
//     replicas alone after it is read.
//   - The transfer reads the acceptor states of enough current replicas
//     to meet every majority of them (paxos.CoveringReads, 2 of 3), so for
//     each value chosen before the change, one of the states read holds it
//     or a later one. Staged states are committed before they are read.
//   - A settled state (its value known chosen) is applied here as
//     Commit(committed ballot, value), which is safe at any acceptor at any
//     time (paxos.Carry). A state accepted above what it knows committed
//     is completed, not shipped: a strong read of the key through this
//     node's proposer, with the change's joint voter groups, finishes the
//     newest proposal at a majority of each group before it answers, so the
//     key's latest value is then held by a majority of the next replicas.
//   - Each next replica that is new receives its own transfer; the next
//     replicas that were current ones and missed a value are at most the
//     current replicas outside the quorum that chose it, a minority, so
//     with every new one holding it a majority of the next replicas does
//     (when the next ring has at least as many replicas of the partition
//     as the current one).
//
// The transfer is not complete, and the node does not report the partition
// in, until its acceptor states are carried and completed.

type (
	transferFetch struct{ attempt int }
	transferRetry struct{}
	// strongAnswered is the result of a strong request an actor ran
	// through its node's coordinator (askStrong), with the attempt it was
	// made for: a transfer's or a rebuild's completing read, an exchange's
	// completing round, a reap round's erase.
	strongAnswered struct {
		attempt int
		res     *StrongResult
	}
)

// transfer pulls one partition from every live current replica in acked
// batches (the decisions are cluster/transfer's) and saves a cursor after
// each, so a crash or a restart of the node resumes where it stopped.
//
// With rebuild set, it is instead the rebuild of the partition's acceptor
// state on a node that lost it (acceptor_rebuild.go): it reads only
// acceptor states, of the other voters in groups, raises its promises to
// theirs as well, saves no cursor (a rebuild that stops starts over: every
// step of it is idempotent) and shows in no transfer table.
type transfer struct {
	cfg   HandoffConfig
	key   string
	move  ring.Move
	store *persistence.Store
	view  *viewHolder
	// tables says which registers are live strong keys; nil: all are.
	tables *catalogHolder
	table  *transferTable
	log    *slog.Logger

	rebuild bool
	groups  [][]string // the partition's voter groups, for a rebuild
	self    string

	core    *xfer.Transfer
	done    bool
	from    string // the source of the last applied batch
	asked   string // the source of the outstanding fetch
	attempt int
	batch   *internalpb.HandoffBatch
	// applying: the batch was sent to the vnode, which has not answered.
	applying bool
	// complete are the registers of the acceptor batch being carried that
	// are still to be completed, in order.
	complete [][]byte
	fetched  uint64
	lastErr  string
	timer    actorkit.SelfTimer // the outstanding request's deadline, or the retry's wait
}

func (t *transfer) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Stopping:
		t.timer.Stop()
	case *actor.Started:
		if t.rebuild {
			t.core = xfer.NewRebuild(t.groups, t.self)
			t.step(ctx)
			return
		}
		var saved []xfer.Pass
		if c, err := t.store.HandoffCursor(t.move.Partition); err == nil && c != nil && c.Transition == t.key {
			saved, t.done, t.from = passesFromProto(c.Passes), c.Done, c.From
		}
		t.core = xfer.New(t.move.From, saved)
		t.publish()
		if t.done {
			t.finish(ctx)
			return
		}
		t.step(ctx)
	case *internalpb.HandoffBatch:
		first := firstKey(m)
		if t.batch != nil || m.Node != t.asked || !t.core.Expects(m.Node, m.OfAcceptorStates, first) {
			return // the late answer of a request already retried
		}
		if m.Error != "" {
			t.refuse(ctx, fmt.Errorf("%s: %s", m.Node, m.Error))
			return
		}
		t.batch, t.applying = m, true
		if !m.OfAcceptorStates {
			ctx.Request(t.view.Load().localVnodePID(t.move.Partition), applyBatch{&internalpb.HandoffApply{Partition: m.Partition, Entries: m.Entries}})
			t.arm(ctx)
			return
		}
		apply, complete, err := t.checkCarried(m)
		if err != nil {
			t.refuse(ctx, err)
			return
		}
		t.complete = complete
		ctx.Request(t.view.Load().localVnodePID(t.move.Partition), apply)
		t.arm(ctx)
	case *internalpb.HandoffApplyReply:
		if t.batch == nil || !t.applying {
			return // the late answer of an apply already retried
		}
		t.applying = false
		if m.Error != "" {
			t.refuse(ctx, fmt.Errorf("apply a batch from %s here: %s", t.batch.Node, m.Error))
			return
		}
		t.completeNext(ctx)
	case strongAnswered:
		if m.attempt != t.attempt || t.batch == nil || len(t.complete) == 0 {
			return // the late answer of a batch already retried
		}
		if err := completionError(m.res); err != nil {
			t.refuse(ctx, fmt.Errorf("complete register %q: %w", t.complete[0], err))
			return
		}
		t.complete = t.complete[1:]
		t.completeNext(ctx)
	case transferFetch:
		if m.attempt == t.attempt { // the request of this attempt timed out
			t.refuse(ctx, fmt.Errorf("no answer from %s within %v", t.asked, t.cfg.RequestTimeout))
		}
	case transferRetry:
		t.step(ctx)
	}
}

func firstKey(m *internalpb.HandoffBatch) []byte {
	switch {
	case m.OfAcceptorStates && len(m.AcceptorStates) > 0:
		return m.AcceptorStates[0].Key
	case !m.OfAcceptorStates && len(m.Entries) > 0:
		return m.Entries[0].Key
	}
	return nil
}

// checkCarried checks an acceptor batch from a peer and decides, register
// by register, what is carried (paxos.CheckPage, of a transfer's or a
// rebuild's page): the commits to apply here (and for a rebuild the
// promises to raise), and the registers to complete. A register outside
// the partition, out of order, over the key limit or with a malformed
// state refuses the whole batch: a transfer must not skip a register.
func (t *transfer) checkCarried(m *internalpb.HandoffBatch) (applyAcceptors, [][]byte, error) {
	v := t.view.Load()
	kind := paxos.TransferPage
	if t.rebuild {
		kind = paxos.RebuildPage
	}
	apply := applyAcceptors{kind: kind}
	floor, err := paxospb.BallotFromProto(m.Floor)
	if err != nil {
		return apply, nil, fmt.Errorf("%s sent floor %v: %w", m.Node, m.Floor, err)
	}
	rules := paxos.PageRules{
		Partition:   t.move.Partition,
		PartitionOf: func(key []byte) int { return v.Ring.PartitionForKey(key) },
		CheckKey:    t.store.CheckKey,
		Now:         wallclock.Now(), MaxFloorAhead: maxFloorAhead,
	}
	if t.tables != nil {
		rules.Live = func(key []byte) error { return t.tables.Load().CheckStrongKey(key) }
	}
	page, err := paxos.CheckPage(kind, paxos.Page{Floor: floor, Registers: pageRegisters(m.AcceptorStates)}, rules)
	if page.Skipped > 0 && t.log != nil {
		t.log.Warn("acceptor states not carried: their registers are of no live strong table", "partition", t.move.Partition,
			"from", m.Node, "registers", page.Skipped, "e.g.", page.SkipWhy)
	}
	if err != nil {
		return apply, nil, fmt.Errorf("%s sent %w", m.Node, err)
	}
	apply.floor = floor
	apply.entries = carriedOf(page.Carried)
	return apply, page.Complete, nil
}

// pageRegisters decodes a peer's acceptor states for paxos.CheckPage, each
// state's decoding error kept for the check to report in turn.
func pageRegisters(entries []*internalpb.AcceptorEntry) []paxos.PageRegister {
	out := make([]paxos.PageRegister, len(entries))
	for i, e := range entries {
		out[i].Key = e.Key
		out[i].State, out[i].StateErr = paxospb.StateFromProto(e.State)
	}
	return out
}

// carriedOf is what a checked page carries, for applyAcceptors.
func carriedOf(page []paxos.RegisterCarry) []carried {
	var out []carried
	for _, c := range page {
		out = append(out, carried{key: c.Key, carry: c.Carry})
	}
	return out
}

// completeNext runs the completing read of the next register of the
// acceptor batch, or, when none is left, records the batch applied.
func (t *transfer) completeNext(ctx actor.Context) {
	b := t.batch
	if b.OfAcceptorStates && len(t.complete) > 0 {
		t.attempt++
		attempt := t.attempt
		askStrong(ctx, &StrongRequest{Key: t.complete[0], Op: paxos.Op{Kind: paxos.OpGet}, Timeout: t.cfg.RequestTimeout}, attempt)
		return
	}
	t.batch, t.complete = nil, nil
	if b.OfAcceptorStates {
		var last []byte
		if n := len(b.AcceptorStates); n > 0 {
			last = b.AcceptorStates[n-1].Key
		}
		t.core.AppliedAcceptors(b.Node, last, len(b.AcceptorStates), b.Done)
	} else {
		var last []byte
		if n := len(b.Entries); n > 0 {
			last = b.Entries[n-1].Key
		}
		t.core.Applied(b.Node, last, len(b.Entries), b.Done)
		t.fetched++
	}
	t.from = b.Node
	t.step(ctx)
}

// askStrong runs a strong request through this node's coordinator, as the
// client API does, and delivers its result to the calling actor as a
// strongAnswered of attempt: the state machine answers by its timeout, and
// a coordinator that never does (the node stopping) is answered for after
// a grace.
func askStrong(ctx actor.Context, req *StrongRequest, attempt int) {
	const grace = time.Second
	reply := make(chan any, 1)
	self, sys := ctx.Self(), ctx.ActorSystem()
	ctx.Send(actor.NewPID(self.Address, coordinatorName), clientRequest{req: req, reply: reply})
	go func() {
		t := time.NewTimer(req.Timeout + grace)
		defer t.Stop()
		res := &StrongResult{Err: fmt.Errorf("coordinator did not answer within %v", req.Timeout+grace)}
		select {
		case r := <-reply:
			var ok bool
			if res, ok = r.(*StrongResult); !ok {
				res = &StrongResult{Err: fmt.Errorf("coordinator answered %v", r)}
			}
		case <-t.C:
		}
		sys.Root.Send(self, strongAnswered{attempt: attempt, res: res})
	}()
}

// completionError is why a completing read did not complete its register.
func completionError(res *StrongResult) error {
	switch {
	case res.Err != nil:
		return res.Err
	case res.Outcome != paxos.OutcomeOK:
		return fmt.Errorf("%v: %s", res.Outcome, res.Why)
	}
	return nil
}

// step saves the progress and does what the core decides next: fetch a
// batch, finish, or wait for a source to come up.
func (t *transfer) step(ctx actor.Context) {
	v := t.view.Load()
	next := t.core.Next(v.Up)
	t.done = next.Complete
	if !t.rebuild {
		if err := t.store.SaveHandoffCursor(t.move.Partition, t.cursor()); err != nil {
			t.refuse(ctx, fmt.Errorf("save the progress: %w", err))
			return
		}
	}
	t.publish()
	switch {
	case next.Complete:
		t.finish(ctx)
	case next.Wait:
		t.retry(ctx)
	default:
		t.asked = next.Source
		ctx.Request(v.vnodePID(next.Source, t.move.Partition), &internalpb.HandoffFetch{
			Partition: uint32(t.move.Partition), AfterKey: next.AfterKey,
			MaxKeys: uint32(t.cfg.BatchKeys), MaxBytes: uint32(t.cfg.BatchBytes), AcceptorStates: next.Acceptors, Transition: ring.Fingerprint(t.key),
		})
		t.arm(ctx)
	}
}

// arm bounds the outstanding request; replies of older attempts are told
// apart by the attempt number.
func (t *transfer) arm(ctx actor.Context) {
	t.attempt++
	t.timer.After(ctx, t.cfg.RequestTimeout, transferFetch{attempt: t.attempt})
}

// refuse gives up the outstanding request, saying why (a peer's batch
// that does not check is refused loudly); the next try starts with
// another source.
func (t *transfer) refuse(ctx actor.Context, err error) {
	if t.log != nil && err.Error() != t.lastErr {
		what := "partition transfer: batch failed; retrying"
		if t.rebuild {
			what = "acceptor state rebuild: batch failed; retrying"
		}
		t.log.Warn(what, "partition", t.move.Partition, "err", err)
	}
	t.lastErr = err.Error()
	t.publish()
	t.core.Failed(t.asked)
	t.retry(ctx)
}

func (t *transfer) retry(ctx actor.Context) {
	t.batch, t.asked, t.complete, t.applying = nil, "", nil, false
	t.attempt++
	t.timer.After(ctx, t.cfg.RetryDelay, transferRetry{})
}

func (t *transfer) cursor() *internalpb.HandoffCursor {
	keys, batches, _ := t.core.Totals()
	c := &internalpb.HandoffCursor{Transition: t.key, Keys: keys, Batches: batches, Done: t.done, From: t.from}
	for _, p := range t.core.Passes() {
		c.Passes = append(c.Passes, &internalpb.TransferPass{Source: p.Source, AfterKey: p.AfterKey, Keys: p.Keys, Batches: p.Batches, Done: p.Done,
			AcceptorsAfterKey: p.AcceptorsAfter, AcceptorStates: p.AcceptorStates, AcceptorsDone: p.AcceptorsDone})
	}
	return c
}

func passesFromProto(ps []*internalpb.TransferPass) []xfer.Pass {
	out := make([]xfer.Pass, 0, len(ps))
	for _, p := range ps {
		out = append(out, xfer.Pass{Source: p.Source, AfterKey: p.AfterKey, Keys: p.Keys, Batches: p.Batches, Done: p.Done,
			AcceptorsAfter: p.AcceptorsAfterKey, AcceptorStates: p.AcceptorStates, AcceptorsDone: p.AcceptorsDone})
	}
	return out
}

func (t *transfer) publish() {
	if t.rebuild {
		return
	}
	keys, batches, done := t.core.Totals()
	t.table.set(TransferProgress{Partition: t.move.Partition, From: t.from, Keys: keys, AcceptorStates: t.core.AcceptorStates(),
		Batches: batches, Done: t.done, BatchesThisRun: t.fetched, SourcesDone: done, LastError: t.lastErr})
}

func (t *transfer) finish(ctx actor.Context) {
	ctx.Send(ctx.Parent(), transferDone{partition: t.move.Partition, key: t.key})
	ctx.Stop(ctx.Self())
}
