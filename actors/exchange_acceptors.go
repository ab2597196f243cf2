package actors

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxospb"
	"github.com/harmoniakv/harmonia/internal/wallclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

// The anti-entropy of strong keys. Once an exchange has compared the
// partition's eventual data, it pages through both sides' acceptor states
// in key order (HandoffFetch of acceptor states, in this node's view of the
// ring transition) and, register by register, does what paxos.SyncOf
// decides: each side is sent the settled states of the other that it
// knows less of (an AcceptorSync, applied as commits and durable before it
// is acknowledged), and a proposal accepted but known chosen by neither
// is completed by a strong read through this node's coordinator once it
// is older than RepairConfig.AcceptorStaleAfter. A register one side has
// never heard of is thereby given its committed value without any client
// reading it, so the key's value is held by every voter again.
//
// Each page is bounded by PageKeys on both sides; the page covers the keys
// up to the lower of the two sides' last keys, so no key is judged on one
// side's word alone. The whole states of the peer cross the network once
// per exchange: there is no tree of acceptor states yet.

// exchangeAcceptors is the acceptor pass of one exchange.
type exchangeAcceptors struct {
	started      bool
	after        []byte
	mine, theirs *internalpb.HandoffBatch
	pending      int      // AcceptorSyncs not yet acknowledged
	complete     [][]byte // registers to complete, one at a time
	completing   int      // the attempt of the completion in flight
	attempts     int
	more         bool // a page follows this one
	// Completions that failed (contention, no quorum, a table deleted
	// meanwhile): the pass goes on, and the exchange reports the first.
	failed   int
	firstErr error
}

// startAcceptors begins the acceptor pass at the partition's first key.
func (e *exchange) startAcceptors(ctx actor.Context) {
	e.acc = exchangeAcceptors{started: true}
	e.fetchAcceptorPage(ctx)
}

func (e *exchange) fetchAcceptorPage(ctx actor.Context) {
	e.acc.mine, e.acc.theirs = nil, nil
	if e.view.Transition == nil {
		e.finish(ctx, errors.New("no ring transition to read acceptor states in"))
		return
	}
	req := &internalpb.HandoffFetch{Partition: uint32(e.partition), AfterKey: e.acc.after, MaxKeys: uint32(max(e.cfg.PageKeys, 1)),
		MaxBytes: bucketPageBytes, AcceptorStates: true, Transition: e.view.Transition.Fingerprint}
	ctx.Request(e.mine.vnode, req)
	ctx.Request(e.theirs.vnode, req)
}

// acceptorPage takes one side's page; with both, it compares them.
func (e *exchange) acceptorPage(ctx actor.Context, m *internalpb.HandoffBatch) {
	if m.Node == e.view.Self && e.acc.mine == nil {
		e.acc.mine = m
	} else {
		e.acc.theirs = m
	}
	if e.acc.mine == nil || e.acc.theirs == nil {
		return
	}
	if err := e.syncAcceptors(ctx); err != nil {
		e.finish(ctx, fmt.Errorf("acceptor states: %w", err))
	}
}

// acceptorSide is one side's page, decoded.
type acceptorSide struct {
	node   string
	floor  paxos.Ballot
	keys   [][]byte
	states map[string]paxos.State
	protos map[string]*internalpb.PaxosState
}

func decodeAcceptorPage(m *internalpb.HandoffBatch) (acceptorSide, error) {
	s := acceptorSide{node: m.Node, states: map[string]paxos.State{}, protos: map[string]*internalpb.PaxosState{}}
	if m.Error != "" {
		return s, fmt.Errorf("%s: %s", m.Node, m.Error)
	}
	if !m.OfAcceptorStates {
		return s, fmt.Errorf("%s sent a batch of objects for acceptor states", m.Node)
	}
	var err error
	if s.floor, err = paxospb.BallotFromProto(m.Floor); err != nil {
		return s, fmt.Errorf("%s sent floor %v: %w", m.Node, m.Floor, err)
	}
	for _, en := range m.AcceptorStates {
		if n := len(s.keys); n > 0 && bytes.Compare(en.Key, s.keys[n-1]) <= 0 {
			return s, fmt.Errorf("%s sent register %.64q after %.64q: out of order", m.Node, en.Key, s.keys[n-1])
		}
		st, err := paxospb.StateFromProto(en.State)
		if err != nil {
			return s, fmt.Errorf("%s sent register %.64q: %w", m.Node, en.Key, err)
		}
		s.keys = append(s.keys, en.Key)
		s.states[string(en.Key)] = st
		s.protos[string(en.Key)] = en.State
	}
	return s, nil
}

// pageEnd is the last key both sides' pages cover: a side with more to
// come covers only up to its last key (nil: both pages are the end).
func pageEnd(mine, theirs acceptorSide, mineMore, theirsMore bool) (end []byte, more bool) {
	for _, s := range []struct {
		side acceptorSide
		more bool
	}{{mine, mineMore}, {theirs, theirsMore}} {
		if !s.more || len(s.side.keys) == 0 {
			continue
		}
		last := s.side.keys[len(s.side.keys)-1]
		if end == nil || bytes.Compare(last, end) < 0 {
			end = last
		}
		more = true
	}
	return end, more
}

// syncAcceptors compares the two pages register by register and sends
// what SyncOf decides.
func (e *exchange) syncAcceptors(ctx actor.Context) error {
	mine, err := decodeAcceptorPage(e.acc.mine)
	if err != nil {
		return err
	}
	theirs, err := decodeAcceptorPage(e.acc.theirs)
	if err != nil {
		return err
	}
	end, more := pageEnd(mine, theirs, !e.acc.mine.Done, !e.acc.theirs.Done)
	e.acc.more, e.acc.after = more, end
	staleAfter := e.cfg.AcceptorStaleAfter
	if staleAfter <= 0 {
		staleAfter = acceptorStaleAfterDefault
	}
	stale := uint64(wallclock.Now().Add(-staleAfter).UnixMicro())
	toMine := &internalpb.AcceptorSync{Partition: uint32(e.partition), Sender: e.view.sender()}
	toTheirs := &internalpb.AcceptorSync{Partition: uint32(e.partition), Sender: e.view.sender()}
	for _, key := range mergeKeys(mine.keys, theirs.keys, end) {
		a, ok := mine.states[string(key)]
		if !ok {
			a = paxos.EmptyAt(mine.floor)
		}
		b, ok := theirs.states[string(key)]
		if !ok {
			b = paxos.EmptyAt(theirs.floor)
		}
		s := paxos.SyncOf(a, b, stale)
		if s.ToA.Commit {
			toMine.States = append(toMine.States, &internalpb.AcceptorEntry{Key: key, State: theirs.protos[string(key)]})
		}
		if s.ToB.Commit {
			toTheirs.States = append(toTheirs.States, &internalpb.AcceptorEntry{Key: key, State: mine.protos[string(key)]})
		}
		if s.Complete {
			e.acc.complete = append(e.acc.complete, key)
		}
	}
	e.acc.mine, e.acc.theirs = nil, nil
	for _, m := range []struct {
		to   *actor.PID
		sync *internalpb.AcceptorSync
	}{{e.mine.vnode, toMine}, {e.theirs.vnode, toTheirs}} {
		if len(m.sync.States) > 0 {
			ctx.Request(m.to, m.sync)
			e.acc.pending++
		}
	}
	e.result.AcceptorsLocal += uint64(len(toMine.States))
	e.result.AcceptorsRemote += uint64(len(toTheirs.States))
	e.acceptorsNext(ctx)
	return nil
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

// acceptorSynced takes a side's acknowledgement of an AcceptorSync.
func (e *exchange) acceptorSynced(ctx actor.Context, m *internalpb.HandoffApplyReply) {
	if m.Error != "" {
		e.finish(ctx, fmt.Errorf("acceptor states: carrying committed values: %s", m.Error))
		return
	}
	e.acc.pending--
	e.acceptorsNext(ctx)
}

// acceptorsNext goes on once the page's syncs are durable: the next
// completion, else the next page, else the end of the exchange.
func (e *exchange) acceptorsNext(ctx actor.Context) {
	switch {
	case e.acc.pending > 0 || e.acc.completing > 0:
	case len(e.acc.complete) > 0:
		e.acc.attempts++
		e.acc.completing = e.acc.attempts
		askStrong(ctx, &StrongRequest{Key: e.acc.complete[0], Op: paxos.Op{Kind: paxos.OpComplete}, Timeout: e.cfg.Timeout / 2}, e.acc.attempts)
	case e.acc.more:
		e.fetchAcceptorPage(ctx)
	case e.acc.failed > 0:
		e.finish(ctx, fmt.Errorf("acceptor states: %d registers not completed, e.g. %w", e.acc.failed, e.acc.firstErr))
	default:
		e.finish(ctx, nil)
	}
}

func (e *exchange) acceptorCompletedRead(ctx actor.Context, m strongAnswered) {
	if m.attempt != e.acc.completing {
		return
	}
	e.acc.completing = 0
	if err := completionError(m.res); err != nil {
		if e.acc.failed++; e.acc.firstErr == nil {
			e.acc.firstErr = fmt.Errorf("register %.64q: %w", e.acc.complete[0], err)
		}
	} else {
		e.result.AcceptorsCompleted++
	}
	e.acc.complete = e.acc.complete[1:]
	e.acceptorsNext(ctx)
}

// acceptorStaleAfterDefault is RepairConfig.AcceptorStaleAfter's default:
// well past the longest a proposer runs (its request's timeout).
const acceptorStaleAfterDefault = time.Minute
