package paxos

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// OpKind is what a request does to the register.
type OpKind int

const (
	// OpGet reads the value.
	OpGet OpKind = iota
	// OpPut writes Op.Data.
	OpPut
	// OpDelete writes a tombstone.
	OpDelete
	// OpComplete reads the value as a get does, but always through a
	// prepare and an accept of the newest value at a new ballot, even when
	// a quorum agrees: the accept and the commit go to every voter, so a
	// proposal that some acceptor holds unsettled is settled there too
	// (anti-entropy's completing round; a get stops at a quorum that
	// agrees and leaves the others as they are).
	OpComplete
	// OpErase replaces the tombstone of version Op.Version, if it is still
	// the register's value, with the erased value (Value{}: no version),
	// so that its acceptor state can be dropped without changing what the
	// register reads (gc.go). Only the node's reaping runs it.
	OpErase
	// OpUpdate writes what Op.Update computes from the register's current
	// value: a condition on it, a change of it, or both (an item's
	// condition and update expressions), in one atomic step.
	OpUpdate
)

// Update computes an OpUpdate's write from the register's current value:
// the data to write and whether the key exists after it (false writes a
// tombstone). An error refuses the write: ErrConditionFailed (wrapped or
// not) ends the request OutcomeConditionFailed, any other
// OutcomeInvalid. It must be a pure function of current: the proposer may
// call it more than once, once per round it runs.
type Update func(current Value) (data []byte, exists bool, err error)

// ErrConditionFailed is what an Update returns when its condition does
// not hold.
var ErrConditionFailed = errors.New("condition failed")

// reads reports whether the op only reads the value (and completes the
// newest proposal) rather than write one of its own.
func (k OpKind) reads() bool { return k == OpGet || k == OpComplete }

// CondKind is the condition a write has.
type CondKind int

const (
	// CondNone: unconditional.
	CondNone CondKind = iota
	// CondAbsent: the key has no value (never written, or deleted).
	CondAbsent
	// CondVersion: the value's version is Op.Version (the version a strong
	// get returned; a deleted key's tombstone has one too).
	CondVersion
)

// Op is one request on the register.
type Op struct {
	Kind    OpKind
	Data    []byte // for OpPut
	Cond    CondKind
	Version Ballot // for CondVersion
	Update  Update // for OpUpdate
}

// holds reports whether current meets the op's condition (for every kind
// but OpUpdate, whose Update decides).
func (op Op) holds(current Value) bool {
	if op.Kind == OpErase {
		return !current.Exists && current.Version == op.Version
	}
	switch op.Cond {
	case CondAbsent:
		return !current.Exists
	case CondVersion:
		return current.Version == op.Version
	}
	return true
}

// decide is the value the write writes at ballot b over current, or why
// it does not (ErrConditionFailed, or an OpUpdate's own error).
func (op Op) decide(b Ballot, current Value) (Value, error) {
	if op.Kind == OpUpdate {
		data, exists, err := op.Update(current)
		if err != nil {
			return Value{}, err
		}
		v := Value{Exists: exists, Version: b, Prev: current.Version, HasPrev: true}
		if exists {
			v.Data = data
		}
		return v, nil
	}
	if !op.holds(current) {
		return Value{}, ErrConditionFailed
	}
	if op.Kind == OpErase {
		return Value{}, nil
	}
	v := Value{Exists: op.Kind != OpDelete, Version: b, Prev: current.Version, HasPrev: true}
	if v.Exists {
		v.Data = op.Data
	}
	return v, nil
}

// failure is the outcome of a write that decide refused with err.
func failure(err error) Outcome {
	if errors.Is(err, ErrConditionFailed) {
		return OutcomeConditionFailed
	}
	return OutcomeInvalid
}

// builtOn reports whether v was written over the value of version base.
// A write whose own proposal was lost (outbid after its accept reached
// some voters) and that then finds such a value goes on: its proposal was
// never chosen, since every value proposed above a chosen one is built on
// that one (or is it, completed), never on what it replaced; the write
// answers only once the value it decides on is chosen, above its lost
// proposal, which can then never be chosen. Any other value could have
// been built on its lost proposal: the outcome is unknown. Not for a base
// of nothing (a write over an empty register): a register whose deleted
// value's tombstone was dropped (gc.go) holds nothing again, so a value
// written over nothing may still descend from the lost proposal.
func builtOn(v Value, base Ballot) bool { return v.HasPrev && !base.IsZero() && v.Prev == base }

// Outcome is how a request ended.
type Outcome int

const (
	// OutcomeOK: the read or the write was done (linearizably).
	OutcomeOK Outcome = iota
	// OutcomeConditionFailed: the condition did not hold; Result.Value is
	// the current value, which the write did not change.
	OutcomeConditionFailed
	// OutcomeContention: other proposals kept outbidding this one until
	// the deadline. A write may still have taken effect if it reached the
	// accept round.
	OutcomeContention
	// OutcomeUnavailable: a quorum did not answer before the deadline. A
	// write may still have taken effect if it reached the accept round.
	OutcomeUnavailable
	// OutcomeInvalid: an OpUpdate's Update refused the current value
	// (Result.Err says why); Result.Value is the current value, which the
	// write did not change.
	OutcomeInvalid
)

func (o Outcome) String() string {
	return [...]string{"ok", "condition failed", "contention", "unavailable", "invalid"}[o]
}

// Result is a finished request.
type Result struct {
	Outcome Outcome
	// Value: the value read, the value written, or (condition failed) the
	// current value.
	Value Value
	// Accepted: the request reached the accept round with a value of its
	// own, so a write that did not finish OK may still take effect, with
	// one of Versions as its version.
	Accepted bool
	Versions []Ballot
	// Why says what went wrong, for the error a client gets.
	Why string
	// Err is the error an OpUpdate's Update refused the write with
	// (OutcomeConditionFailed or OutcomeInvalid).
	Err error
	// Held: the write chose its value with every accept promising the
	// proposer's next ballot, which the node's next write of the register
	// may start from (Config.Held).
	Held *Held
}

// Held is a ballot a majority of every voter group promised a proposer
// along with their accept of Value (AcceptNext): until some other proposer
// prepares above it, no value but Value can be chosen below it, so the
// proposer's node may start its next write of the register with an accept
// at Ballot, computed from Value, and skip the prepare: one round trip
// instead of two (CASPaxos's piggybacked prepare). When another proposer
// did come in between, the accept is refused and the write goes on with a
// prepare of its own, one round later.
type Held struct {
	Ballot Ballot
	Value  Value
	// Voters are the groups that promised: a held ballot serves only a
	// proposer with the same groups.
	Voters [][]string
}

// MsgKind is a message a proposer sends to acceptors.
type MsgKind int

const (
	MsgRead MsgKind = iota
	MsgPrepare
	MsgAccept
	MsgCommit
)

func (k MsgKind) String() string { return [...]string{"read", "prepare", "accept", "commit"}[k] }

// Message is one message to one acceptor.
type Message struct {
	To     string
	Kind   MsgKind
	Ballot Ballot
	Value  Value // for accept and commit
	// Next, on an accept of the proposer's own write, is the ballot the
	// acceptor promises with it (AcceptNext): the proposer's Held.
	Next Ballot
}

// Effects are what the proposer's actor does after a step: send the
// messages; when NeedBallot, call Proposer.Retry after Wait; when Done,
// answer the client with Result (and still send Send: the commits).
type Effects struct {
	Send []Message
	// HeldBack: the round just started asked a majority first and held
	// this many voters back (Config.First); the actor calls Hedge if its
	// answers are slow.
	HeldBack int
	// NeedBallot: call Retry with a new sequence number from the node's
	// durable counter, after Wait.
	NeedBallot bool
	Wait       time.Duration
	Done       bool
	Result
}

// Config is what a proposer needs besides its op.
type Config struct {
	// Node and Incarnation name this proposer's node in its ballots.
	Node        string
	Incarnation uint64
	// Voters are the groups whose majorities must each answer: one group
	// (the key's N primary replicas) on a stable ring; the current and the
	// next replicas while its partition moves.
	Voters [][]string
	// Backoff is the base of the randomized exponential backoff after a
	// lost round: the n-th retry waits a random time up to Backoff·2^n,
	// at most MaxBackoff. Defaults: DefaultConfig's.
	Backoff, MaxBackoff time.Duration
	// Rand returns a number in [0, 1) for the backoff.
	Rand func() float64
	// FirstRound is the least round of the proposer's ballots: a clock
	// reading (the node's wall clock in microseconds), so that a new
	// proposal outbids the key's older ones at once instead of losing a
	// round to each of them. A clock behind costs one round, never
	// safety: a refused round retries above the ballot that refused it.
	FirstRound uint64
	// Held, from the result of this node's last write of the register,
	// lets a write start at its accept (see Held). It is used when its
	// voters are this proposer's and the op's condition holds on its
	// value; otherwise (a condition that fails on what may be stale must be
	// checked by a prepare) the write prepares as usual.
	Held *Held
	// Hold: the accepts of the write's own value ask the acceptors to
	// promise its successor (State.AcceptNext), so that its result holds
	// a ballot for the node's next write (Result.Held). Off, accepts carry
	// nothing more and no result holds anything.
	Hold bool
	// First, when set, makes each round of a get, put, delete or update
	// (its read, prepare and accept) ask only a majority of every voter
	// group at first, taking the voters in this order (the proposer's own
	// node and the live ones first: the actor orders them; voters it
	// leaves out come after, in group order): when they answer, which is
	// the common case, a round costs a majority's messages and writes
	// instead of every voter's. The others are asked when one of the
	// first refuses, or when the actor calls Hedge because an answer is
	// slow. Commits go to every voter, so the others learn the chosen
	// value. A completing round (OpComplete) and an erase always ask
	// every voter: their point is to settle every acceptor. Empty: every
	// round asks every voter at once.
	First []string
}

// DefaultBackoff and DefaultMaxBackoff are the documented defaults of a
// proposer's backoff: a few milliseconds is a round trip on a LAN, and
// clashing proposers on one key spread out within a few rounds.
const (
	DefaultBackoff    = 2 * time.Millisecond
	DefaultMaxBackoff = 100 * time.Millisecond
)

// ErrNoVoters: a proposer needs at least one non-empty voter group.
var ErrNoVoters = errors.New("paxos: no voters")

type phase int

const (
	phaseRead phase = iota
	phasePrepare
	phaseAccept
	phaseDone
)

// Proposer runs one request on one key: a read (one round when a majority
// agrees on a committed value), or a prepare and an accept. It retries
// lost rounds with a higher ballot after a randomized backoff, until its
// actor calls Deadline. Replies from nodes outside the voter groups, for
// another ballot or phase, or repeated, are ignored; one refusal ends the
// round.
type Proposer struct {
	cfg      Config
	voters   []string // every distinct node of every voter group
	op       Op
	phase    phase
	ballot   Ballot
	highest  Ballot // the highest ballot seen in any reply
	attempts int
	// The replies of the current phase, by node, and the voters that
	// refused it (an error, not a higher ballot).
	replied, refused map[string]bool
	// outbids counts the rounds lost to higher ballots (refusals aside).
	outbids int
	// betweenRounds: the proposer waits for a ballot (Effects.NeedBallot);
	// only then may its voters change (Regroup).
	betweenRounds bool
	// What the prepare or read quorum reported.
	best      Value  // value at the highest accepted ballot
	bestAt    Ballot // that ballot
	settled   bool   // every reply had best committed and nothing newer
	proposing Value  // the value being accepted
	// refusal is why decide refused the write over the value this round
	// read (nil when it did not): the answer once that value is chosen.
	refusal error
	// own are the versions this request proposed in earlier rounds: a
	// round that finds one of them current finds its own write, partly
	// accepted before the round was lost, and completes it (rather than
	// fail its condition on it, or write it twice).
	own []Ballot
	// base is the version of the value the last own proposal replaced. A
	// later round that finds another value current cannot tell whether
	// the own one was chosen and then built upon (a second write would
	// apply the op twice), unless the current value is still this one:
	// then the own proposal was neither chosen nor built upon.
	base    Ballot
	lastWhy string
	// next is the ballot the current accept of an own write asks its
	// acceptors to promise (zero: none).
	next Ballot
	// held back are the voters the current round has not asked yet
	// (Config.First): Hedge or a refusal asks them.
	heldBack []string
	// heldMsg is the current round's message, for them.
	heldMsg Message
}

// Successor is the ballot a proposer asks to be promised with its accept
// at b: the next round, in the same proposer's name and sequence number.
// It is unique for the register: only the node's next write of it, taking
// the Held, proposes at it, and that one asks for its own successor.
func Successor(b Ballot) Ballot {
	b.Round++
	return b
}

// sameGroups reports whether two voter configurations are the same.
func sameGroups(a, b [][]string) bool {
	return slices.EqualFunc(a, b, func(x, y []string) bool { return slices.Equal(x, y) })
}

func (p *Proposer) isOwn(v Value) bool {
	for _, b := range p.own {
		if v.Version == b {
			return true
		}
	}
	return false
}

// NewProposer starts op. A read starts with a read round; a write with a
// prepare at seq (from the node's durable counter).
func NewProposer(cfg Config, op Op, seq uint64) (*Proposer, Effects, error) {
	if len(cfg.Voters) == 0 {
		return nil, Effects{}, ErrNoVoters
	}
	for _, g := range cfg.Voters {
		if len(g) == 0 {
			return nil, Effects{}, ErrNoVoters
		}
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.Rand == nil {
		cfg.Rand = func() float64 { return 0.5 }
	}
	p := &Proposer{cfg: cfg, op: op, voters: distinctVoters(cfg.Voters)}
	if op.Kind == OpGet {
		return p, p.start(phaseRead, Ballot{}), nil
	}
	if h := cfg.Held; h != nil && (op.Kind == OpPut || op.Kind == OpDelete || op.Kind == OpUpdate) {
		p.see(h.Ballot) // a majority promised it: a prepare must be above it
		if v, err := op.decide(h.Ballot, h.Value); !h.Ballot.IsZero() && sameGroups(h.Voters, cfg.Voters) && err == nil {
			p.proposing = v
			p.base = h.Value.Version
			p.own = append(p.own, h.Ballot)
			if cfg.Hold {
				p.next = Successor(h.Ballot)
			}
			return p, p.start(phaseAccept, h.Ballot), nil
		}
	}
	return p, p.start(phasePrepare, p.nextBallot(seq)), nil
}

// Ballot is the ballot of the current round (zero in a read round).
func (p *Proposer) Ballot() Ballot { return p.ballot }

// Done reports whether the request has its result.
func (p *Proposer) Done() bool { return p.phase == phaseDone }

func (p *Proposer) nextBallot(seq uint64) Ballot {
	return Ballot{Round: max(p.highest.Round+1, p.cfg.FirstRound), Node: p.cfg.Node, Incarnation: p.cfg.Incarnation, Seq: seq}
}

// distinctVoters are every distinct node of every group, in order.
func distinctVoters(groups [][]string) []string {
	var out []string
	for _, g := range groups {
		for _, n := range g {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

func (p *Proposer) start(ph phase, b Ballot) Effects {
	p.phase, p.ballot, p.betweenRounds = ph, b, false
	p.replied, p.refused, p.heldBack = map[string]bool{}, map[string]bool{}, nil
	p.best, p.bestAt, p.settled = Value{}, Ballot{}, true
	m := Message{Ballot: b}
	switch ph {
	case phaseRead:
		m.Kind = MsgRead
	case phasePrepare:
		m.Kind = MsgPrepare
		p.next = Ballot{}
	case phaseAccept:
		m.Kind, m.Value, m.Next = MsgAccept, p.proposing, p.next
	}
	if len(p.cfg.First) > 0 && p.op.Kind != OpComplete && p.op.Kind != OpErase {
		first, rest := p.majorityFirst()
		p.heldBack, p.heldMsg = rest, m
		return Effects{Send: sendTo(first, m), HeldBack: len(rest)}
	}
	return Effects{Send: p.sendAll(m)}
}

// sendAll is m to every voter.
func (p *Proposer) sendAll(m Message) []Message { return sendTo(p.voters, m) }

// sendTo is m to each of nodes.
func sendTo(nodes []string, m Message) []Message {
	out := make([]Message, len(nodes))
	for i, n := range nodes {
		m.To = n
		out[i] = m
	}
	return out
}

// majorityFirst splits the voters into a majority of every group, taken
// in Config.First's order (then the groups'), and the rest.
func (p *Proposer) majorityFirst() (first, rest []string) {
	order := make([]string, 0, len(p.voters))
	for _, n := range p.cfg.First {
		if slices.Contains(p.voters, n) && !slices.Contains(order, n) {
			order = append(order, n)
		}
	}
	for _, n := range p.voters {
		if !slices.Contains(order, n) {
			order = append(order, n)
		}
	}
	chosen := map[string]bool{}
	for _, n := range order {
		if Quorum(p.cfg.Voters, chosen) {
			rest = append(rest, n)
			continue
		}
		if p.lacksMajority(n, chosen) {
			chosen[n] = true
			first = append(first, n)
		} else {
			rest = append(rest, n)
		}
	}
	return first, rest
}

// lacksMajority reports whether n is in a group that chosen does not yet
// hold a majority of.
func (p *Proposer) lacksMajority(n string, chosen map[string]bool) bool {
	for _, g := range p.cfg.Voters {
		if !slices.Contains(g, n) {
			continue
		}
		if !Quorum([][]string{g}, chosen) {
			return true
		}
	}
	return false
}

// Hedge asks the voters the current round held back (Config.First): the
// actor calls it when the first ones are slow to answer. Between rounds,
// when done, or when every voter was asked, it does nothing.
func (p *Proposer) Hedge() Effects {
	if p.phase == phaseDone || p.betweenRounds || len(p.heldBack) == 0 {
		return Effects{}
	}
	rest := p.heldBack
	p.heldBack = nil
	return Effects{Send: sendTo(rest, p.heldMsg)}
}

// quorum reports whether every group has a majority in set.
func (p *Proposer) quorum(set map[string]bool) bool { return Quorum(p.cfg.Voters, set) }

// Quorum reports whether set holds a majority of every voter group.
func Quorum(voters [][]string, set map[string]bool) bool {
	for _, g := range voters {
		n := 0
		for _, m := range g {
			if set[m] {
				n++
			}
		}
		if 2*n <= len(g) {
			return false
		}
	}
	return true
}

// isVoter reports whether node is in a voter group: a reply from any other
// node is not counted (a fallback never votes).
func (p *Proposer) isVoter(node string) bool {
	for _, g := range p.cfg.Voters {
		for _, m := range g {
			if m == node {
				return true
			}
		}
	}
	return false
}

func (p *Proposer) see(b Ballot) {
	if p.highest.Less(b) {
		p.highest = b
	}
}

// observe folds one acceptor's report into the quorum's: the value at the
// highest accepted ballot is the register's current value; the quorum is
// settled when every report has that ballot, committed.
func (p *Proposer) observe(accepted Ballot, v Value, committed Ballot) {
	p.see(accepted)
	p.see(committed)
	first := len(p.replied) == 1
	if accepted != committed || (!first && accepted != p.bestAt) {
		p.settled = false
	}
	if first || p.bestAt.Less(accepted) {
		p.best, p.bestAt = v, accepted
	}
}

// ReadReply takes an acceptor's answer to this proposer's read round.
func (p *Proposer) ReadReply(from string, r Reading) Effects {
	if p.phase != phaseRead || !p.isVoter(from) || p.replied[from] {
		return Effects{}
	}
	p.replied[from] = true
	p.observe(r.Accepted, r.Value, r.Committed)
	if !p.quorum(p.replied) {
		return Effects{}
	}
	if p.settled {
		return p.finish(Result{Outcome: OutcomeOK, Value: p.best}, nil)
	}
	// Something newer than the committed value is in flight, or the
	// replicas disagree: a value one read returned must not vanish from
	// the next, so the read completes the newest proposal first, with a
	// ballot of its own.
	p.lastWhy = "replicas disagreed; the read completes the newest proposal"
	p.phase, p.ballot, p.betweenRounds = phasePrepare, Ballot{}, true
	return Effects{NeedBallot: true}
}

// PrepareReply takes an acceptor's answer to this proposer's prepare.
func (p *Proposer) PrepareReply(from string, b Ballot, r Promise) Effects {
	if p.phase != phasePrepare || b != p.ballot || p.ballot.IsZero() || !p.isVoter(from) || p.replied[from] {
		return Effects{}
	}
	if !r.OK {
		p.lastWhy = fmt.Sprintf("outbid by ballot %s at %s", r.Promised, from)
		return p.outbid(r.Promised)
	}
	p.replied[from] = true
	p.observe(r.Accepted, r.Value, r.Committed)
	if !p.quorum(p.replied) {
		return Effects{}
	}
	current := p.best
	if !p.op.Kind.reads() && p.isOwn(current) {
		p.proposing = current
		p.holdNext()
		return p.start(phaseAccept, p.ballot)
	}
	if len(p.own) > 0 && current.Version != p.base && !builtOn(current, p.base) {
		return p.finish(Result{Outcome: OutcomeContention,
			Why: fmt.Sprintf("contention: the write lost its accept round to ballot %s and may or may not have taken effect", p.highest)}, nil)
	}
	if p.op.Kind.reads() {
		if p.settled && p.op.Kind == OpGet {
			return p.finish(Result{Outcome: OutcomeOK, Value: current}, nil)
		}
		p.proposing = current // complete the newest proposal, then answer it
		return p.start(phaseAccept, p.ballot)
	}
	next, err := p.op.decide(p.ballot, current)
	if err != nil {
		p.refusal = err
		if p.settled {
			return p.finish(p.refusedResult(current), nil)
		}
		// The value the condition failed on must be chosen before the
		// failure is answered, or the next read might not see it.
		p.proposing = current
		return p.start(phaseAccept, p.ballot)
	}
	p.refusal = nil
	p.proposing = next
	p.base = current.Version
	p.own = append(p.own, p.ballot)
	p.holdNext()
	return p.start(phaseAccept, p.ballot)
}

// refusedResult is the result of a write that decide refused over current
// (p.refusal; a plain condition failure when it is unset).
func (p *Proposer) refusedResult(current Value) Result {
	if p.refusal == nil {
		return Result{Outcome: OutcomeConditionFailed, Value: current}
	}
	return Result{Outcome: failure(p.refusal), Value: current, Err: p.refusal}
}

// holdNext asks the coming accept of the write's own value to promise the
// successor of its ballot, when the proposer holds ballots (Config.Hold).
func (p *Proposer) holdNext() {
	if p.cfg.Hold {
		p.next = Successor(p.ballot)
	}
}

// AcceptReply takes an acceptor's answer to this proposer's accept.
func (p *Proposer) AcceptReply(from string, b Ballot, r Acceptance) Effects {
	if p.phase != phaseAccept || b != p.ballot || !p.isVoter(from) || p.replied[from] {
		return Effects{}
	}
	if !r.OK {
		p.lastWhy = fmt.Sprintf("outbid by ballot %s at %s", r.Promised, from)
		return p.outbid(r.Promised)
	}
	p.replied[from] = true
	if !p.quorum(p.replied) {
		return Effects{}
	}
	chosen := p.proposing
	res := Result{Outcome: OutcomeOK, Value: chosen}
	if !p.op.Kind.reads() && !p.isOwn(chosen) && (p.op.Kind != OpErase || !chosen.Equal(Value{})) {
		// The accept completed another proposal, whose value failed the
		// condition.
		res = p.refusedResult(chosen)
	}
	if res.Outcome == OutcomeOK && !p.next.IsZero() && p.op.Kind != OpErase {
		// Every accept counted promised next with it.
		res.Held = &Held{Ballot: p.next, Value: chosen, Voters: p.cfg.Voters}
	}
	return p.finish(res, p.sendAll(Message{Kind: MsgCommit, Ballot: p.ballot, Value: chosen}))
}

// phaseOf is the phase whose round sends kind.
var phaseOf = map[MsgKind]phase{MsgRead: phaseRead, MsgPrepare: phasePrepare, MsgAccept: phaseAccept}

// Refused takes an acceptor's refusal of this round's step for a reason
// other than a higher ballot (it does not count itself a voter in its
// view of the ring, it is rebuilding its state, its storage failed): not
// a vote. Once the refusals leave some voter group without a possible
// majority, the round is lost and retried after a backoff, rather than
// waited out to the deadline.
func (p *Proposer) Refused(from string, kind MsgKind, b Ballot, why string) Effects {
	ph, ok := phaseOf[kind]
	if !ok || p.phase != ph || b != p.ballot || !p.isVoter(from) || p.replied[from] || p.refused[from] {
		return Effects{}
	}
	p.refused[from] = true
	p.lastWhy = fmt.Sprintf("%s refused: %s", from, why)
	if eff := p.Hedge(); len(eff.Send) > 0 {
		return eff // the voters held back may yet make the majority
	}
	for _, g := range p.cfg.Voters {
		possible := 0
		for _, m := range g {
			if !p.refused[m] {
				possible++
			}
		}
		if 2*possible <= len(g) {
			return p.backoff()
		}
	}
	return Effects{}
}

// Regroup changes the voter groups for the rounds to come, when the
// actor's view of the ring changed while the proposer waited for a
// ballot (after Effects.NeedBallot, before Retry); a round in flight keeps
// its groups, so its votes are counted against the groups it was sent to.
func (p *Proposer) Regroup(voters [][]string) error {
	if !p.betweenRounds {
		return errors.New("paxos: regroup during a round")
	}
	if len(voters) == 0 || slices.ContainsFunc(voters, func(g []string) bool { return len(g) == 0 }) {
		return ErrNoVoters
	}
	p.cfg.Voters = voters
	p.voters = distinctVoters(voters)
	return nil
}

// outbid ends a round that an acceptor refused for a higher ballot: the
// round cannot be waited out (the waiting would outlast a down replica),
// and its next ballot must beat what the refusal named.
func (p *Proposer) outbid(promised Ballot) Effects {
	p.outbids++
	p.see(promised)
	return p.backoff()
}

func (p *Proposer) finish(res Result, send []Message) Effects {
	p.phase = phaseDone
	res.Accepted = len(p.own) > 0
	res.Versions = p.own
	return Effects{Send: send, Done: true, Result: res}
}

// backoff ends a lost round: the actor calls Retry after a random wait
// that doubles with each lost round.
func (p *Proposer) backoff() Effects {
	p.attempts++
	limit := p.cfg.Backoff << min(p.attempts, 20)
	if limit > p.cfg.MaxBackoff || limit <= 0 {
		limit = p.cfg.MaxBackoff
	}
	p.phase = phasePrepare
	p.ballot = Ballot{}
	p.betweenRounds = true
	return Effects{NeedBallot: true, Wait: time.Duration(p.cfg.Rand() * float64(limit))}
}

// Retry starts a new prepare with a ballot above every one seen, at seq.
func (p *Proposer) Retry(seq uint64) Effects {
	if p.phase == phaseDone {
		return Effects{}
	}
	p.proposing = Value{}
	return p.start(phasePrepare, p.nextBallot(seq))
}

// Deadline ends the request: it could not finish in time.
func (p *Proposer) Deadline() Effects {
	if p.phase == phaseDone {
		return Effects{}
	}
	res := Result{Outcome: OutcomeUnavailable, Why: "no quorum of the key's replicas answered in time"}
	switch {
	case p.outbids > 0:
		res = Result{Outcome: OutcomeContention, Why: fmt.Sprintf("contention: %d rounds lost to other proposals (%s)", p.attempts, p.lastWhy)}
	case p.attempts > 0:
		res.Why = fmt.Sprintf("no quorum of the key's replicas could take it in %d rounds (%s)", p.attempts, p.lastWhy)
	}
	return p.finish(res, nil)
}
