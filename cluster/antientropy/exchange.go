// Package antientropy holds the decisions of one anti-entropy exchange of a
// partition between this node's replica ("mine") and one peer's
// ("theirs"): which Merkle tree nodes to compare next, which buckets'
// objects to read and from where, which merges to write to which side and
// when (a window of writes in flight, a rate), which acceptor states of
// strong keys to teach each side and which registers to complete, and when
// the exchange is over or has stalled.
//
// An Exchange does no I/O and reads no clock: its actor (actors/exchange.go)
// decodes each reply, steps the Exchange with it and the time, and carries
// out the Effects it returns. Steps take the time twice where both matter:
// now, a monotonic reading that progress and pace are measured by, and
// wall, the node's wall clock that tombstones' grace and proposals' age
// are judged by. Every write it decides is an idempotent
// merge, so an exchange that fails or crashes midway loses nothing and can
// simply run again.
//
// The exchange runs in two passes. The first walks both trees from the
// root, one level at a time, down to the leaf buckets that differ, reads
// those buckets' objects from both sides a page at a time, and writes each
// key's merge (reconcile.Replicas) to the side that lacks part of it. The
// second pages through both sides' acceptor states in key order; for each
// register, paxos.SyncOf says which side to teach the other's settled
// state, and whether a proposal accepted but known chosen by neither,
// older than AcceptorStaleAfter, must be completed (by a strong read
// through the node's coordinator, one register at a time). A page covers
// the keys up to the lower of the two sides' last keys, so no register is
// judged on one side's word alone.
//
// It also holds the schedule of exchanges (Scheduled, Chosen, Rotation,
// Crashed): which (partition, peer) pairs a node compares, whose turn it
// is, and whether an exchange that crashed runs again; actors/repair.go
// runs it.
package antientropy

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/harmoniakv/harmonia/cluster/merkle"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/pace"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/reap"
	"github.com/harmoniakv/harmonia/cluster/reconcile"
)

// Config tunes one exchange (actors.RepairConfig documents the defaults).
type Config struct {
	// Tree is the shape both sides' Merkle trees have; zero:
	// merkle.DefaultConfig.
	Tree merkle.Config
	// PageKeys bounds the keys (objects or acceptor states) one side
	// sends per page; at least 1.
	PageKeys int
	// WriteWindow bounds the repair writes in flight; at least 1.
	WriteWindow int
	// MaxKeysPerSecond bounds the repair writes' rate; 0: unbounded.
	MaxKeysPerSecond int
	// Timeout ends an exchange that has heard nothing for that long.
	Timeout time.Duration
	// AcceptorStaleAfter is the age (by a ballot's clock reading) past
	// which an unsettled proposal is completed.
	AcceptorStaleAfter time.Duration
	// Reap is the tombstone rule the merges follow (reconcile.Replicas).
	Reap reap.Config
}

// Side is one side of the exchange.
type Side int

const (
	Mine Side = iota
	Theirs
)

func (s Side) String() string { return [...]string{"mine", "theirs"}[s] }

// Result is what the exchange found and moved so far.
type Result struct {
	Hashes                uint64 // tree hashes each side sent
	KeysLocal, KeysRemote uint64 // repair writes acknowledged by this node / the peer
	// Strong keys: settled states taught to this node and to the peer,
	// and unsettled proposals completed.
	AcceptorsLocal, AcceptorsRemote, AcceptorsCompleted uint64
}

// LevelAsk asks both sides for their hashes of Nodes on Level.
type LevelAsk struct {
	Level int
	Nodes []int
}

// BucketFetch asks Side for its next page of the objects in Buckets, after
// key After (nil: from the first).
type BucketFetch struct {
	Side    Side
	Buckets []int
	After   []byte
}

// Write is one repair write: the merge of Key, to Side; ID names it in
// Written.
type Write struct {
	ID     uint64
	Side   Side
	Key    []byte
	Merged []object.Sibling
}

// AcceptorFetch asks both sides for their next page of acceptor states,
// after register After (nil: from the first).
type AcceptorFetch struct{ After []byte }

// Sync teaches To the settled states the other side holds (from the page
// it just sent), to be applied as commits.
type Sync struct {
	To     Side
	States []Taught
}

// Taught is one register's settled state, as the other side holds it.
type Taught struct {
	Key   []byte
	State paxos.State
}

// Effects are what the actor does after a step, in this order: ask,
// fetch, write, sync, complete; arm the timers; and, when Done, report
// Result and Err.
type Effects struct {
	AskLevel       *LevelAsk
	Fetch          []BucketFetch
	Writes         []Write
	FetchAcceptors *AcceptorFetch
	Syncs          []Sync
	// Complete: complete this register by a strong read, and report it
	// to Completed with Attempt.
	Complete []byte
	Attempt  int
	// PumpAfter > 0: call Pump after this long (the write rate).
	PumpAfter time.Duration
	// CheckAfter > 0: call Tick after this long (the progress deadline).
	CheckAfter time.Duration
	Done       bool
	Err        error
}

// LevelReply is one side's hashes of the nodes asked, decoded. Err: the
// side refused or sent what does not decode (or not one hash per node).
type LevelReply struct {
	Err    error
	Ready  bool // false: the side's tree is still being rebuilt
	Hashes []merkle.Hash
}

// Entry is one stored object of a bucket page.
type Entry struct {
	Key []byte
	Set []object.Sibling
}

// BucketPage is one side's page of the differing buckets' objects.
type BucketPage struct {
	Err     error
	Entries []Entry
	More    bool
	Last    []byte // the key the next page starts after, with More
}

// AcceptorPage is one side's page of acceptor states, decoded and checked
// (keys in increasing order).
type AcceptorPage struct {
	Err    error
	Floor  paxos.Ballot // the state of a register the side does not list
	Keys   [][]byte
	States map[string]paxos.State
	Done   bool // no page follows
}

type phase int

const (
	phaseLevels phase = iota
	phaseBuckets
	phaseWrites
	phaseAcceptors
	phaseDone
)

// Exchange is one exchange. Use New.
type Exchange struct {
	cfg          Config
	pacer        *pace.Pacer
	phase        phase
	lastProgress time.Time
	result       Result

	// The tree walk: the level and nodes asked, and the replies so far.
	level  int
	nodes  []int
	hashes [2]*LevelReply

	// The bucket pages: the differing buckets, each side's cursor and
	// what it sent.
	buckets []int
	after   [2][]byte
	fetched [2]bool
	objs    [2]map[string][]object.Sibling

	// The repair writes, sent in order, and which of them were
	// acknowledged (a repeated acknowledgement counts once).
	writes      []Write
	sent, acked int
	ackedWrite  []bool
	pumpPending bool

	// The acceptor pass.
	accAfter   []byte
	pages      [2]*AcceptorPage
	accMore    bool
	pending    int      // syncs not yet acknowledged
	complete   [][]byte // registers to complete, in order
	completing int      // the attempt in flight; 0: none
	attempts   int
	failed     int
	firstErr   error
}

// New starts an exchange at now; peerUp false ends it at once.
func New(cfg Config, now time.Time, peerUp bool) (*Exchange, Effects) {
	if cfg.Tree == (merkle.Config{}) {
		cfg.Tree = merkle.DefaultConfig()
	}
	cfg.PageKeys, cfg.WriteWindow = max(cfg.PageKeys, 1), max(cfg.WriteWindow, 1)
	e := &Exchange{cfg: cfg, pacer: pace.New(cfg.MaxKeysPerSecond), lastProgress: now}
	if !peerUp {
		return e, e.finish(errors.New("peer is down"))
	}
	e.nodes = []int{0}
	return e, Effects{AskLevel: &LevelAsk{Level: 0, Nodes: e.nodes}, CheckAfter: cfg.Timeout}
}

// Result is what the exchange found and moved so far.
func (e *Exchange) Result() Result { return e.result }

// Done reports whether the exchange is over.
func (e *Exchange) Done() bool { return e.phase == phaseDone }

// PageKeys is the page size every fetch asks for.
func (e *Exchange) PageKeys() int { return e.cfg.PageKeys }

func (e *Exchange) finish(err error) Effects {
	if e.phase == phaseDone {
		return Effects{}
	}
	e.phase = phaseDone
	return Effects{Done: true, Err: err}
}

// Level takes one side's hashes of the nodes asked; with both, it compares
// them and goes down to the next level, or to the differing buckets'
// objects, or, when the trees agree, to the acceptor pass.
func (e *Exchange) Level(now time.Time, side Side, r LevelReply) Effects {
	if e.phase != phaseLevels || e.hashes[side] != nil {
		return Effects{}
	}
	e.lastProgress = now
	e.hashes[side] = &r
	if e.hashes[Mine] == nil || e.hashes[Theirs] == nil {
		return Effects{}
	}
	for _, s := range []Side{Mine, Theirs} {
		switch h := e.hashes[s]; {
		case h.Err != nil:
			return e.finish(h.Err)
		case !h.Ready:
			return e.finish(fmt.Errorf("%v: tree still being rebuilt", s))
		case len(h.Hashes) != len(e.nodes):
			return e.finish(fmt.Errorf("%v: %d hashes for %d nodes", s, len(h.Hashes), len(e.nodes)))
		}
	}
	e.result.Hashes += uint64(len(e.nodes))
	next := e.cfg.Tree.Step(e.level, e.nodes, e.hashes[Mine].Hashes, e.hashes[Theirs].Hashes)
	e.hashes = [2]*LevelReply{}
	switch {
	case len(next) == 0:
		return e.startAcceptors()
	case e.level == e.cfg.Tree.Depth:
		e.phase, e.buckets = phaseBuckets, next
		e.objs = [2]map[string][]object.Sibling{{}, {}}
		return Effects{Fetch: []BucketFetch{{Side: Mine, Buckets: e.buckets}, {Side: Theirs, Buckets: e.buckets}}}
	}
	e.level++
	e.nodes = next
	return Effects{AskLevel: &LevelAsk{Level: e.level, Nodes: e.nodes}}
}

// Buckets takes one side's page of the differing buckets' objects: it asks
// for the next page, or, once both sides have sent everything, decides the
// repair writes.
func (e *Exchange) Buckets(now, wall time.Time, side Side, p BucketPage) Effects {
	if e.phase != phaseBuckets || e.fetched[side] {
		return Effects{}
	}
	e.lastProgress = now
	if p.Err != nil {
		return e.finish(p.Err)
	}
	for _, en := range p.Entries {
		e.objs[side][string(en.Key)] = en.Set
	}
	if p.More {
		if len(p.Last) == 0 || (e.after[side] != nil && bytes.Compare(p.Last, e.after[side]) <= 0) {
			return e.finish(fmt.Errorf("%v: a page that does not move on (last key %q)", side, p.Last))
		}
		e.after[side] = p.Last
		return Effects{Fetch: []BucketFetch{{Side: side, Buckets: e.buckets, After: p.Last}}}
	}
	e.fetched[side] = true
	if !e.fetched[Mine] || !e.fetched[Theirs] {
		return Effects{}
	}
	for _, r := range reconcile.Replicas(e.objs[Mine], e.objs[Theirs], e.cfg.Reap, wall) {
		for _, w := range []struct {
			lacks bool
			side  Side
		}{{r.Local, Mine}, {r.Remote, Theirs}} {
			if w.lacks {
				e.writes = append(e.writes, Write{ID: uint64(len(e.writes)), Side: w.side, Key: []byte(r.Key), Merged: r.Merged})
			}
		}
	}
	e.objs = [2]map[string][]object.Sibling{}
	e.ackedWrite = make([]bool, len(e.writes))
	e.phase = phaseWrites
	return e.pump(now)
}

// Written takes a side's acknowledgement of repair write id (err: it was
// refused, which ends the exchange).
func (e *Exchange) Written(now time.Time, id uint64, err error) Effects {
	if e.phase != phaseWrites {
		return Effects{}
	}
	e.lastProgress = now
	if err != nil {
		return e.finish(fmt.Errorf("repair write: %w", err))
	}
	if id >= uint64(e.sent) {
		return e.finish(fmt.Errorf("an acknowledgement of repair write %d, of %d sent", id, e.sent))
	}
	if e.ackedWrite[id] {
		return Effects{}
	}
	e.ackedWrite[id] = true
	if e.writes[id].Side == Mine {
		e.result.KeysLocal++
	} else {
		e.result.KeysRemote++
	}
	e.acked++
	return e.pump(now)
}

// Pump goes on sending repair writes once the rate allows.
func (e *Exchange) Pump(now time.Time) Effects {
	e.pumpPending = false
	if e.phase != phaseWrites {
		return Effects{}
	}
	return e.pump(now)
}

// pump keeps up to WriteWindow repair writes in flight, no faster than
// MaxKeysPerSecond, and goes on to the acceptor pass once every one is
// acknowledged.
func (e *Exchange) pump(now time.Time) Effects {
	var eff Effects
	for e.sent < len(e.writes) && e.sent-e.acked < e.cfg.WriteWindow {
		if wait := e.pacer.Due(now); wait > 0 {
			if !e.pumpPending {
				e.pumpPending = true
				eff.PumpAfter = wait
			}
			return eff
		}
		e.pacer.Take(now, 1)
		eff.Writes = append(eff.Writes, e.writes[e.sent])
		e.sent++
	}
	if e.acked >= len(e.writes) {
		return e.startAcceptors()
	}
	return eff
}

func (e *Exchange) startAcceptors() Effects {
	e.writes, e.ackedWrite = nil, nil
	e.phase, e.accAfter = phaseAcceptors, nil
	return Effects{FetchAcceptors: &AcceptorFetch{}}
}

// AcceptorPage takes one side's page of acceptor states; with both, it
// decides, register by register up to the lower of their last keys, what
// to teach each side and what to complete.
func (e *Exchange) AcceptorPage(now, wall time.Time, side Side, p AcceptorPage) Effects {
	if e.phase != phaseAcceptors || e.pages[side] != nil || e.pending > 0 || e.completing > 0 {
		return Effects{}
	}
	e.lastProgress = now
	e.pages[side] = &p
	if e.pages[Mine] == nil || e.pages[Theirs] == nil {
		return Effects{}
	}
	mine, theirs := e.pages[Mine], e.pages[Theirs]
	e.pages = [2]*AcceptorPage{}
	for _, pg := range []*AcceptorPage{mine, theirs} {
		if pg.Err != nil {
			return e.finish(fmt.Errorf("acceptor states: %w", pg.Err))
		}
	}
	end, more := pageEnd(mine, theirs)
	if more && e.accAfter != nil && bytes.Compare(end, e.accAfter) <= 0 {
		return e.finish(fmt.Errorf("acceptor states: a page that does not move on (last key %q)", end))
	}
	e.accMore, e.accAfter = more, end
	stale := uint64(wall.Add(-e.cfg.AcceptorStaleAfter).UnixMicro())
	toMine, toTheirs := Sync{To: Mine}, Sync{To: Theirs}
	for _, key := range mergeKeys(mine.Keys, theirs.Keys, end) {
		a, ok := mine.States[string(key)]
		if !ok {
			a = paxos.EmptyAt(mine.Floor)
		}
		b, ok := theirs.States[string(key)]
		if !ok {
			b = paxos.EmptyAt(theirs.Floor)
		}
		s := paxos.SyncOf(a, b, stale)
		if s.ToA.Commit {
			toMine.States = append(toMine.States, Taught{Key: key, State: b})
		}
		if s.ToB.Commit {
			toTheirs.States = append(toTheirs.States, Taught{Key: key, State: a})
		}
		if s.Complete {
			e.complete = append(e.complete, key)
		}
	}
	var syncs []Sync
	for _, s := range []Sync{toMine, toTheirs} {
		if len(s.States) > 0 {
			syncs = append(syncs, s)
			e.pending++
		}
	}
	e.result.AcceptorsLocal += uint64(len(toMine.States))
	e.result.AcceptorsRemote += uint64(len(toTheirs.States))
	next := e.acceptorsNext()
	next.Syncs = syncs
	return next
}

// Synced takes a side's acknowledgement that a Sync is durable (err: it
// was refused, which ends the exchange).
func (e *Exchange) Synced(now time.Time, err error) Effects {
	if e.phase != phaseAcceptors || e.pending == 0 {
		return Effects{}
	}
	e.lastProgress = now
	if err != nil {
		return e.finish(fmt.Errorf("acceptor states: carrying committed values: %w", err))
	}
	e.pending--
	return e.acceptorsNext()
}

// Completed takes the end of completion attempt (err: the register was not
// completed; the pass goes on and the exchange reports the first such).
func (e *Exchange) Completed(now time.Time, attempt int, err error) Effects {
	if e.phase != phaseAcceptors || attempt != e.completing || attempt == 0 {
		return Effects{}
	}
	e.lastProgress = now
	e.completing = 0
	if err != nil {
		if e.failed++; e.firstErr == nil {
			e.firstErr = fmt.Errorf("register %.64q: %w", e.complete[0], err)
		}
	} else {
		e.result.AcceptorsCompleted++
	}
	e.complete = e.complete[1:]
	return e.acceptorsNext()
}

// acceptorsNext goes on once the page's syncs are durable: the next
// completion, else the next page, else the end of the exchange.
func (e *Exchange) acceptorsNext() Effects {
	switch {
	case e.pending > 0 || e.completing > 0:
		return Effects{}
	case len(e.complete) > 0:
		e.attempts++
		e.completing = e.attempts
		return Effects{Complete: e.complete[0], Attempt: e.attempts}
	case e.accMore:
		return Effects{FetchAcceptors: &AcceptorFetch{After: e.accAfter}}
	case e.failed > 0:
		return e.finish(fmt.Errorf("acceptor states: %d registers not completed, e.g. %w", e.failed, e.firstErr))
	}
	return e.finish(nil)
}

// Tick checks the progress deadline: an exchange that heard nothing for
// Timeout ends; otherwise Tick is due again when it would run out.
func (e *Exchange) Tick(now time.Time) Effects {
	if e.phase == phaseDone {
		return Effects{}
	}
	if idle := now.Sub(e.lastProgress); idle < e.cfg.Timeout {
		return Effects{CheckAfter: e.cfg.Timeout - idle}
	}
	return e.finish(fmt.Errorf("no progress for %v", e.cfg.Timeout))
}

// Fail ends the exchange with err (a reply that could not be sent or
// read, a failed completion request).
func (e *Exchange) Fail(err error) Effects { return e.finish(err) }

// pageEnd is the last key both pages cover: a side with more to come
// covers only up to its last key (nil: both pages are the end).
func pageEnd(mine, theirs *AcceptorPage) (end []byte, more bool) {
	for _, p := range []*AcceptorPage{mine, theirs} {
		if p.Done || len(p.Keys) == 0 {
			continue
		}
		last := p.Keys[len(p.Keys)-1]
		if end == nil || bytes.Compare(last, end) < 0 {
			end = last
		}
		more = true
	}
	return end, more
}

// mergeKeys is the keys of both sorted lists, once each, in order, up to
// end (nil: all).
func mergeKeys(a, b [][]byte, end []byte) [][]byte {
	var out [][]byte
	for len(a) > 0 || len(b) > 0 {
		var k []byte
		switch {
		case len(b) == 0 || len(a) > 0 && bytes.Compare(a[0], b[0]) < 0:
			k, a = a[0], a[1:]
		case len(a) == 0 || bytes.Compare(b[0], a[0]) < 0:
			k, b = b[0], b[1:]
		default:
			k, a, b = a[0], a[1:], b[1:]
		}
		if end != nil && bytes.Compare(k, end) > 0 {
			break
		}
		out = append(out, k)
	}
	return out
}
