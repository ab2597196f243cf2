package paxos

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// net is a set of acceptors that answer a proposer at once; down nodes do
// not answer. It counts the rounds (batches of requests) a proposer sent.
// Rogue nodes answer every read and prepare round, first, with their
// state, though no request went to them.
type net struct {
	acceptors map[string]State
	down      map[string]bool
	refusing  map[string]bool // answer every request with an error
	rogue     map[string]State
	rounds    []MsgKind
	seq       uint64
	hold      bool // proposers hold ballots (Config.Hold)
}

func newNet(nodes ...string) *net {
	n := &net{acceptors: map[string]State{}, down: map[string]bool{}}
	for _, id := range nodes {
		n.acceptors[id] = State{}
	}
	return n
}

// run drives p from eff until it is done, and returns its result.
func (n *net) run(t *testing.T, p *Proposer, eff Effects) Result {
	t.Helper()
	for steps := 0; ; steps++ {
		if steps > 100 {
			t.Fatal("the proposer did not finish in 100 steps")
		}
		if eff.Done {
			n.deliver(p, eff.Send) // the commits
			return eff.Result
		}
		if eff.NeedBallot {
			n.seq++
			eff = p.Retry(n.seq)
			continue
		}
		if len(eff.Send) == 0 {
			return p.Deadline().Result
		}
		eff = n.deliver(p, eff.Send)
	}
}

// deliver hands msgs to their acceptors and the replies to p, returning the
// last non-empty effects.
func (n *net) deliver(p *Proposer, msgs []Message) Effects {
	var out Effects
	keep := func(eff Effects) {
		if eff.Done || eff.NeedBallot || len(eff.Send) > 0 {
			out = eff
		}
	}
	if len(msgs) > 0 && msgs[0].Kind != MsgCommit {
		n.rounds = append(n.rounds, msgs[0].Kind)
	}
	for id, s := range n.rogue {
		if len(msgs) == 0 {
			break
		}
		switch m := msgs[0]; m.Kind {
		case MsgRead:
			keep(p.ReadReply(id, s.Read()))
		case MsgPrepare:
			keep(p.PrepareReply(id, m.Ballot, Promise{OK: true, Promised: m.Ballot, Accepted: s.Accepted, Value: s.Value, Committed: s.Committed}))
		}
	}
	for _, m := range msgs {
		s, ok := n.acceptors[m.To]
		if !ok || n.down[m.To] {
			continue
		}
		if n.refusing[m.To] {
			keep(p.Refused(m.To, m.Kind, m.Ballot, "refusing"))
			continue
		}
		var eff Effects
		switch m.Kind {
		case MsgRead:
			eff = p.ReadReply(m.To, s.Read())
		case MsgPrepare:
			var r Promise
			s, r = s.Prepare(m.Ballot)
			eff = p.PrepareReply(m.To, m.Ballot, r)
		case MsgAccept:
			var r Acceptance
			s, r = s.AcceptNext(m.Ballot, m.Value, m.Next)
			eff = p.AcceptReply(m.To, m.Ballot, r)
		case MsgCommit:
			s = s.Commit(m.Ballot, m.Value)
		}
		n.acceptors[m.To] = s
		keep(eff)
	}
	return out
}

// propose runs op from a new proposer whose first round is above every
// promise the acceptors hold, as a clock reading is in a node (a write's
// accept promises its proposer's next round, which a proposer starting at
// round 1 would lose a round to).
func (n *net) propose(t *testing.T, node string, voters [][]string, op Op) Result {
	t.Helper()
	n.rounds = nil
	n.seq++
	var first uint64
	for _, st := range n.acceptors {
		first = max(first, st.Promised.Round+1)
	}
	p, eff, err := NewProposer(Config{Node: node, Incarnation: 1, Voters: voters, FirstRound: first, Hold: n.hold}, op, n.seq)
	if err != nil {
		t.Fatal(err)
	}
	return n.run(t, p, eff)
}

var abc = [][]string{{"a", "b", "c"}}

func TestProposer(t *testing.T) {
	put := func(data string) Op { return Op{Kind: OpPut, Data: []byte(data)} }
	get := Op{Kind: OpGet}

	t.Run("an uncontended write takes two rounds: prepare, then accept", func(t *testing.T) {
		n := newNet("a", "b", "c")
		res := n.propose(t, "a", abc, put("x"))
		if res.Outcome != OutcomeOK || string(res.Value.Data) != "x" {
			t.Fatalf("result %+v", res)
		}
		if !slices.Equal(n.rounds, []MsgKind{MsgPrepare, MsgAccept}) {
			t.Fatalf("rounds %v", n.rounds)
		}
	})

	t.Run("a read takes one round when a majority agrees on the committed value", func(t *testing.T) {
		n := newNet("a", "b", "c")
		w := n.propose(t, "a", abc, put("x"))
		res := n.propose(t, "b", abc, get)
		if res.Outcome != OutcomeOK || !res.Value.Equal(w.Value) {
			t.Fatalf("read %+v, wrote %+v", res, w)
		}
		if !slices.Equal(n.rounds, []MsgKind{MsgRead}) {
			t.Fatalf("rounds %v", n.rounds)
		}
	})

	t.Run("a read that sees an accepted but uncommitted value completes it before answering", func(t *testing.T) {
		n := newNet("a", "b", "c")
		n.propose(t, "a", abc, put("x"))
		// A write of y reached only c's accept before its proposer died.
		b := Ballot{Round: 5, Node: "z", Incarnation: 1, Seq: 99}
		st := n.acceptors["c"]
		st, _ = st.Accept(b, value("y", b))
		n.acceptors["c"] = st
		n.down["a"] = true // the read's majority is b and c
		res := n.propose(t, "b", abc, get)
		if res.Outcome != OutcomeOK || string(res.Value.Data) != "y" {
			t.Fatalf("read %+v, want y", res)
		}
		if !slices.Equal(n.rounds, []MsgKind{MsgRead, MsgPrepare, MsgAccept}) {
			t.Fatalf("rounds %v", n.rounds)
		}
		// y is now chosen: a read through a and b sees it too.
		n.down["a"], n.down["c"] = false, true
		if res := n.propose(t, "a", abc, get); string(res.Value.Data) != "y" {
			t.Fatalf("the next read %+v lost y", res)
		}
	})

	t.Run("a completing round settles a proposal that an acceptor outside the agreeing quorum holds unsettled", func(t *testing.T) {
		n := newNet("a", "b", "c")
		w := n.propose(t, "a", abc, put("x"))
		b := Ballot{Round: 0, Node: "z", Incarnation: 1, Seq: 99} // below x's: lost, never chosen
		st, _ := State{}.Accept(b, value("y", b))
		n.acceptors["c"] = st
		if res := n.propose(t, "b", abc, get); res.Outcome != OutcomeOK || !res.Value.Equal(w.Value) || n.acceptors["c"].Settled() {
			t.Fatalf("a get (%+v) that a and b answer leaves c as it is: %+v", res, n.acceptors["c"])
		}
		res := n.propose(t, "b", abc, Op{Kind: OpComplete})
		if res.Outcome != OutcomeOK || !res.Value.Equal(w.Value) {
			t.Fatalf("complete %+v, want x", res)
		}
		if !slices.Equal(n.rounds, []MsgKind{MsgPrepare, MsgAccept}) {
			t.Fatalf("rounds %v", n.rounds)
		}
		for id, st := range n.acceptors {
			if !st.Settled() || !st.Value.Equal(w.Value) {
				t.Fatalf("%s after completing: %+v, want x settled", id, st)
			}
		}
	})

	t.Run("a completed value keeps the version of the write that made it", func(t *testing.T) {
		n := newNet("a", "b", "c")
		b := Ballot{Round: 5, Node: "z", Incarnation: 1, Seq: 99}
		st, _ := n.acceptors["c"].Accept(b, value("y", b))
		n.acceptors["c"] = st
		n.down["a"] = true
		res := n.propose(t, "b", abc, get)
		if res.Value.Version != b {
			t.Fatalf("version %v, want the writer's %v", res.Value.Version, b)
		}
		n.down["a"] = false
		cas := n.propose(t, "a", abc, Op{Kind: OpPut, Data: []byte("z"), Cond: CondVersion, Version: b})
		if cas.Outcome != OutcomeOK {
			t.Fatalf("put-if-version of the version read: %+v", cas)
		}
	})

	t.Run("put-if-absent fails on a value, after the prepare alone when it is settled", func(t *testing.T) {
		n := newNet("a", "b", "c")
		w := n.propose(t, "a", abc, put("x"))
		res := n.propose(t, "b", abc, Op{Kind: OpPut, Data: []byte("y"), Cond: CondAbsent})
		if res.Outcome != OutcomeConditionFailed || !res.Value.Equal(w.Value) {
			t.Fatalf("result %+v", res)
		}
		if !slices.Equal(n.rounds, []MsgKind{MsgPrepare}) {
			t.Fatalf("rounds %v", n.rounds)
		}
	})

	t.Run("a failed condition on a value in flight completes that value before answering", func(t *testing.T) {
		n := newNet("a", "b", "c")
		b := Ballot{Round: 5, Node: "z", Incarnation: 1, Seq: 99}
		st, _ := n.acceptors["c"].Accept(b, value("y", b))
		n.acceptors["c"] = st
		n.down["a"] = true
		res := n.propose(t, "b", abc, Op{Kind: OpPut, Data: []byte("w"), Cond: CondAbsent})
		if res.Outcome != OutcomeConditionFailed || string(res.Value.Data) != "y" {
			t.Fatalf("result %+v", res)
		}
		if n.rounds[len(n.rounds)-1] != MsgAccept {
			t.Fatalf("rounds %v: the failure was answered before y was accepted at a majority", n.rounds)
		}
	})

	t.Run("put-if-version succeeds on the version read and fails on another", func(t *testing.T) {
		n := newNet("a", "b", "c")
		w := n.propose(t, "a", abc, put("x"))
		stale := Op{Kind: OpPut, Data: []byte("late"), Cond: CondVersion, Version: ballot(77, "q")}
		if res := n.propose(t, "b", abc, stale); res.Outcome != OutcomeConditionFailed {
			t.Fatalf("stale version: %+v", res)
		}
		ok := Op{Kind: OpPut, Data: []byte("y"), Cond: CondVersion, Version: w.Value.Version}
		if res := n.propose(t, "b", abc, ok); res.Outcome != OutcomeOK {
			t.Fatalf("current version: %+v", res)
		}
		if res := n.propose(t, "c", abc, ok); res.Outcome != OutcomeConditionFailed {
			t.Fatalf("the same version twice: %+v", res)
		}
	})

	t.Run("delete-if-version leaves a tombstone that put-if-absent may overwrite", func(t *testing.T) {
		n := newNet("a", "b", "c")
		w := n.propose(t, "a", abc, put("x"))
		del := n.propose(t, "b", abc, Op{Kind: OpDelete, Cond: CondVersion, Version: w.Value.Version})
		if del.Outcome != OutcomeOK || del.Value.Exists {
			t.Fatalf("delete %+v", del)
		}
		if res := n.propose(t, "c", abc, get); res.Value.Exists {
			t.Fatalf("read after delete %+v", res)
		}
		if res := n.propose(t, "c", abc, Op{Kind: OpPut, Data: []byte("again"), Cond: CondAbsent}); res.Outcome != OutcomeOK {
			t.Fatalf("put-if-absent after delete: %+v", res)
		}
	})

	t.Run("a fallback's reply is not counted", func(t *testing.T) {
		n := newNet("a", "b", "c")
		w := n.propose(t, "a", abc, put("x"))
		// f, not a voter, answers every round with a value it holds at a
		// ballot above every voter's. Counted, it would be the key's
		// newest value: the put-if-absent would fail on it and complete
		// it, and the read would return it.
		high := Ballot{Round: 1 << 40, Node: "f", Incarnation: 1, Seq: 1}
		n.rogue = map[string]State{"f": {Promised: high, Accepted: high, Value: value("evil", high), Committed: high}}
		n.down["c"] = true // a and b are the quorum
		n.seq++
		p, eff, err := NewProposer(Config{Node: "a", Incarnation: 1, Voters: abc}, Op{Kind: OpPut, Data: []byte("y"), Cond: CondAbsent}, n.seq)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range eff.Send {
			if m.To == "f" {
				t.Fatal("a prepare went to a node outside the voters")
			}
		}
		res := n.run(t, p, eff)
		if string(res.Value.Data) == "evil" || res.Value.Version == high {
			t.Fatalf("put-if-absent: a non-voter's value leaked into the result %+v", res)
		}
		if res.Outcome != OutcomeConditionFailed || !res.Value.Equal(w.Value) {
			t.Fatalf("put-if-absent on x: %+v", res)
		}
		for _, op := range []Op{get, put("z")} {
			if res := n.propose(t, "b", abc, op); string(res.Value.Data) == "evil" || res.Value.Version == high || res.Outcome != OutcomeOK {
				t.Fatalf("%v: a non-voter's value leaked into the result %+v", op.Kind, res)
			}
		}
	})

	t.Run("a duplicate reply counts once", func(t *testing.T) {
		// b answers twice, the second time with a value accepted at a
		// higher ballot. Counted, that value would be the key's current
		// one and the put-if-absent would fail on it; it must instead go
		// on to accept y on the empty register b first reported.
		p, _, _ := NewProposer(Config{Node: "a", Incarnation: 1, Voters: abc}, Op{Kind: OpPut, Data: []byte("y"), Cond: CondAbsent}, 1)
		_, r := State{}.Prepare(p.Ballot())
		if eff := p.PrepareReply("b", p.Ballot(), r); len(eff.Send) != 0 || eff.Done {
			t.Fatalf("one promise of three moved the proposer: %+v", eff)
		}
		high := Ballot{Round: 1 << 40, Node: "z", Incarnation: 1, Seq: 1}
		dup := Promise{OK: true, Promised: p.Ballot(), Accepted: high, Value: value("evil", high), Committed: high}
		if eff := p.PrepareReply("b", p.Ballot(), dup); len(eff.Send) != 0 || eff.Done {
			t.Fatalf("a second promise from b made a quorum: %+v", eff)
		}
		eff := p.PrepareReply("c", p.Ballot(), r)
		if eff.Done || len(eff.Send) == 0 {
			t.Fatalf("b and c promised, yet no accept round: %+v", eff)
		}
		for _, m := range eff.Send {
			if m.Kind != MsgAccept || string(m.Value.Data) != "y" {
				t.Fatalf("after b's duplicate, the proposer sent %+v, want an accept of y", m)
			}
		}
	})

	t.Run("during a ring change a majority of the current and of the next replicas is needed", func(t *testing.T) {
		n := newNet("a", "b", "c", "d")
		joint := [][]string{{"a", "b", "c"}, {"b", "c", "d"}}
		n.down["b"], n.down["d"] = true, true // a, c: a majority of the first group only
		if res := n.propose(t, "a", joint, put("x")); res.Outcome == OutcomeOK {
			t.Fatalf("a write without a majority of the next replicas: %+v", res)
		}
		n.down["d"] = false // a, c, d: majorities of both
		if res := n.propose(t, "a", joint, put("y")); res.Outcome != OutcomeOK {
			t.Fatalf("%+v", res)
		}
	})

	t.Run("a round outbid by a majority backs off and retries with a higher round", func(t *testing.T) {
		n := newNet("a", "b", "c")
		high := Ballot{Round: 40, Node: "z", Incarnation: 1, Seq: 1}
		for _, id := range []string{"b", "c"} {
			st, _ := n.acceptors[id].Prepare(high)
			n.acceptors[id] = st
		}
		p, eff, _ := NewProposer(Config{Node: "a", Incarnation: 1, Voters: abc, Rand: func() float64 { return 0.5 }}, put("x"), 1)
		eff = n.deliver(p, eff.Send)
		if !eff.NeedBallot || eff.Wait <= 0 {
			t.Fatalf("after a lost round: %+v", eff)
		}
		eff = p.Retry(2)
		if p.Ballot().Round <= high.Round {
			t.Fatalf("retry ballot %v is not above %v", p.Ballot(), high)
		}
		if res := n.run(t, p, eff); res.Outcome != OutcomeOK {
			t.Fatalf("%+v", res)
		}
	})

	t.Run("a retry that finds its own write partly accepted completes it and answers ok", func(t *testing.T) {
		n := newNet("a", "b", "c")
		p, eff, _ := NewProposer(Config{Node: "a", Incarnation: 1, Voters: abc}, Op{Kind: OpPut, Data: []byte("x"), Cond: CondAbsent}, 1)
		eff = n.deliver(p, eff.Send) // prepare
		// The accept reaches only c; a and b have promised a higher ballot.
		high := Ballot{Round: 9, Node: "z", Incarnation: 1, Seq: 1}
		for _, m := range eff.Send {
			if m.To == "c" {
				st, r := n.acceptors["c"].Accept(m.Ballot, m.Value)
				n.acceptors["c"] = st
				p.AcceptReply("c", m.Ballot, r)
			}
		}
		for _, id := range []string{"a", "b"} {
			st, _ := n.acceptors[id].Prepare(high)
			n.acceptors[id] = st
		}
		var ballot Ballot
		for _, m := range eff.Send {
			ballot = m.Ballot
		}
		for _, id := range []string{"a", "b"} {
			st, r := n.acceptors[id].Accept(ballot, Value{})
			n.acceptors[id] = st
			if e := p.AcceptReply(id, ballot, r); e.NeedBallot {
				eff = e
			}
		}
		if !eff.NeedBallot {
			t.Fatalf("the lost accept round did not back off: %+v", eff)
		}
		n.seq = 10
		if res := n.run(t, p, eff); res.Outcome != OutcomeOK || string(res.Value.Data) != "x" {
			t.Fatalf("put-if-absent that found its own write: %+v", res)
		}
	})

	t.Run("a write that lost its accept round to a write that may have built on it ends unknown, never twice", func(t *testing.T) {
		n := newNet("a", "b", "c")
		p, eff, _ := NewProposer(Config{Node: "a", Incarnation: 1, Voters: abc}, put("mine"), 1)
		eff = n.deliver(p, eff.Send) // prepare at a, b, c
		var mine Message
		for _, m := range eff.Send {
			if m.To == "c" {
				mine = m
			}
		}
		st, _ := n.acceptors["c"].Accept(mine.Ballot, mine.Value) // only c takes it; its reply is lost
		n.acceptors["c"] = st
		// Another writer reads through b and c, finds "mine" newest and
		// writes over it: "mine" took effect, under it.
		n.down["a"] = true
		if res := n.propose(t, "b", abc, put("theirs")); res.Outcome != OutcomeOK {
			t.Fatalf("%+v", res)
		}
		n.down["a"] = false
		for _, m := range eff.Send {
			if m.To != "c" {
				st, r := n.acceptors[m.To].Accept(m.Ballot, m.Value)
				n.acceptors[m.To] = st
				if e := p.AcceptReply(m.To, m.Ballot, r); e.NeedBallot {
					eff = e
				}
			}
		}
		n.seq = 50
		res := n.run(t, p, eff)
		if res.Outcome != OutcomeContention || !res.Accepted {
			t.Fatalf("result %+v, want contention with the write possibly applied", res)
		}
		if got := n.propose(t, "c", abc, get); string(got.Value.Data) != "theirs" {
			t.Fatalf("the write was applied again over theirs: %+v", got)
		}
	})

	t.Run("a first round from the clock outbids the key's older ballots at once", func(t *testing.T) {
		n := newNet("a", "b", "c")
		n.seq++
		p, eff, _ := NewProposer(Config{Node: "c", Incarnation: 1, Voters: abc, FirstRound: 1000}, put("x"), n.seq)
		n.run(t, p, eff)
		n.rounds = nil
		n.seq++
		p, eff, _ = NewProposer(Config{Node: "a", Incarnation: 1, Voters: abc, FirstRound: 2000}, put("y"), n.seq)
		if res := n.run(t, p, eff); res.Outcome != OutcomeOK || !slices.Equal(n.rounds, []MsgKind{MsgPrepare, MsgAccept}) {
			t.Fatalf("%+v in rounds %v", res, n.rounds)
		}
	})

	t.Run("a round whose refusals leave no possible majority backs off, and a deadline after refusals alone says unavailable", func(t *testing.T) {
		p, eff, _ := NewProposer(Config{Node: "a", Incarnation: 1, Voters: abc}, put("x"), 1)
		b := p.Ballot()
		if e := p.Refused("b", MsgPrepare, b, "rebuilding"); e.NeedBallot || e.Done {
			t.Fatalf("one refusal of three lost the round: %+v", e)
		}
		if e := p.Refused("b", MsgPrepare, b, "rebuilding"); e.NeedBallot {
			t.Fatalf("a repeated refusal counted twice: %+v", e)
		}
		if e := p.Refused("f", MsgPrepare, b, "not a voter"); e.NeedBallot {
			t.Fatalf("a non-voter's refusal counted: %+v", e)
		}
		if e := p.Refused("c", MsgAccept, b, "wrong step"); e.NeedBallot {
			t.Fatalf("a refusal of another step counted: %+v", e)
		}
		if e := p.Refused("c", MsgPrepare, ballot(99, "z"), "old"); e.NeedBallot {
			t.Fatalf("a refusal of another ballot counted: %+v", e)
		}
		e := p.Refused("c", MsgPrepare, b, "another ring view")
		if !e.NeedBallot {
			t.Fatalf("two refusals of three did not end the round: %+v", e)
		}
		_ = eff
		res := p.Deadline()
		if res.Outcome != OutcomeUnavailable || !strings.Contains(res.Why, "another ring view") {
			t.Fatalf("deadline after refusals: %+v", res)
		}
	})

	t.Run("refusals of a read round send it to a new round", func(t *testing.T) {
		n := newNet("a", "b", "c")
		n.propose(t, "a", abc, put("x"))
		p, eff, _ := NewProposer(Config{Node: "b", Incarnation: 1, Voters: abc}, get, 0)
		p.Refused("a", MsgRead, Ballot{}, "rebuilding")
		e := p.Refused("c", MsgRead, Ballot{}, "rebuilding")
		if !e.NeedBallot {
			t.Fatalf("%+v", e)
		}
		_ = eff
		if res := n.run(t, p, e); res.Outcome != OutcomeOK || string(res.Value.Data) != "x" {
			t.Fatalf("the read's next round: %+v", res)
		}
	})

	t.Run("a deadline after lost rounds says contention; without answers, unavailable", func(t *testing.T) {
		p, eff, _ := NewProposer(Config{Node: "a", Incarnation: 1, Voters: abc}, put("x"), 1)
		if res := p.Deadline(); res.Outcome != OutcomeUnavailable {
			t.Fatalf("%+v", res)
		}
		p, eff, _ = NewProposer(Config{Node: "a", Incarnation: 1, Voters: abc}, put("x"), 1)
		for _, m := range eff.Send {
			p.PrepareReply(m.To, m.Ballot, Promise{Promised: ballot(50, "z")})
		}
		if res := p.Deadline(); res.Outcome != OutcomeContention {
			t.Fatalf("%+v", res)
		}
	})
}

// End to end through acceptors that refuse (an error reply: an acceptor in
// another view of the ring, or rebuilding its state): a refusal is not a
// vote, a round whose remaining voters cannot make a quorum is lost and
// retried, and the voters may change between rounds only.
func TestProposerRefusals(t *testing.T) {
	put := Op{Kind: OpPut, Data: []byte("x")}
	tests := []struct {
		name     string
		refusing []string
		op       Op
		outcome  Outcome
		why      string
	}{
		{"a refusal is not a vote: the other voters make the quorum", []string{"c"}, put, OutcomeOK, ""},
		{"a read refused by one voter reads the others", []string{"a"}, Op{Kind: OpGet}, OutcomeOK, ""},
		{"refusals that leave no quorum lose every round: unavailable at the deadline, not contention", []string{"b", "c"}, put, OutcomeUnavailable, "could take it"},
		{"a read refused by a majority is unavailable", []string{"a", "b"}, Op{Kind: OpGet}, OutcomeUnavailable, "could take it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newNet("a", "b", "c")
			n.refusing = map[string]bool{}
			for _, id := range tt.refusing {
				n.refusing[id] = true
			}
			p, eff, err := NewProposer(Config{Node: "a", Incarnation: 1, Voters: abc}, tt.op, 1)
			if err != nil {
				t.Fatal(err)
			}
			var res Result
			for retries := 0; ; {
				eff = n.deliver(p, eff.Send)
				if eff.Done {
					res = eff.Result
					break
				}
				if !eff.NeedBallot {
					if len(eff.Send) == 0 {
						t.Fatalf("the round neither went on, finished nor was lost: %+v", eff)
					}
					continue
				}
				if retries++; retries == 3 {
					res = p.Deadline().Result
					break
				}
				eff = p.Retry(uint64(retries + 1))
			}
			if res.Outcome != tt.outcome || !strings.Contains(res.Why, tt.why) {
				t.Fatalf("outcome %v (%s), want %v with %q", res.Outcome, res.Why, tt.outcome, tt.why)
			}
		})
	}

	t.Run("regroup between rounds only: the next round goes to the new voters", func(t *testing.T) {
		// b and c moved to a view where the key's voters are a, b and d.
		n := newNet("a", "b", "c", "d")
		n.refusing = map[string]bool{"b": true, "c": true}
		p, eff, _ := NewProposer(Config{Node: "a", Incarnation: 1, Voters: abc}, put, 1)
		if err := p.Regroup([][]string{{"a", "b", "d"}}); err == nil {
			t.Fatal("regrouped a round in flight")
		}
		eff = n.deliver(p, eff.Send)
		if !eff.NeedBallot {
			t.Fatalf("the refused round was not lost: %+v", eff)
		}
		if err := p.Regroup([][]string{{"a", "b"}, {}}); err == nil {
			t.Fatal("regrouped to an empty group")
		}
		if err := p.Regroup([][]string{{"a", "b", "d"}}); err != nil {
			t.Fatal(err)
		}
		n.refusing = map[string]bool{"c": true} // c left; b is in the view now
		res := n.run(t, p, p.Retry(2))
		if res.Outcome != OutcomeOK || n.acceptors["d"].Committed.IsZero() || !n.acceptors["c"].Promised.IsZero() {
			t.Fatalf("after regrouping: %+v; d %+v, c %+v", res, n.acceptors["d"], n.acceptors["c"])
		}
	})
}

// A write's accept promises the proposer's next ballot (AcceptNext), and
// the node's next write of the register starts there (Config.Held): one
// round instead of two, unless another proposer came in between.
func TestProposerHeldBallots(t *testing.T) {
	put := func(data string, cond CondKind, version Ballot) Op {
		return Op{Kind: OpPut, Data: []byte(data), Cond: cond, Version: version}
	}
	withHeld := func(n *net, t *testing.T, node string, held *Held, op Op) Result {
		t.Helper()
		n.rounds = nil
		n.seq++
		p, eff, err := NewProposer(Config{Node: node, Incarnation: 1, Voters: abc, Held: held, Hold: true}, op, n.seq)
		if err != nil {
			t.Fatal(err)
		}
		return n.run(t, p, eff)
	}

	t.Run("a write held by its last write takes one round, and holds the next", func(t *testing.T) {
		n := newNet("a", "b", "c")
		n.hold = true
		w1 := n.propose(t, "a", abc, put("x", CondNone, Ballot{}))
		if w1.Held == nil || !w1.Held.Value.Equal(w1.Value) || !w1.Value.Version.Less(w1.Held.Ballot) {
			t.Fatalf("the first write holds %+v (wrote %+v)", w1.Held, w1.Value)
		}
		for id, st := range n.acceptors {
			if st.Promised != w1.Held.Ballot {
				t.Fatalf("%s promised %v, not the held ballot %v", id, st.Promised, w1.Held.Ballot)
			}
		}
		w2 := withHeld(n, t, "a", w1.Held, put("y", CondVersion, w1.Value.Version))
		if w2.Outcome != OutcomeOK || string(w2.Value.Data) != "y" || w2.Value.Version != w1.Held.Ballot {
			t.Fatalf("the held write: %+v", w2)
		}
		if !slices.Equal(n.rounds, []MsgKind{MsgAccept}) {
			t.Fatalf("rounds %v, want the accept alone", n.rounds)
		}
		if w2.Held == nil || w2.Held.Ballot != Successor(w1.Held.Ballot) {
			t.Fatalf("the held write holds %+v, want the next ballot", w2.Held)
		}
		if res := n.propose(t, "b", abc, Op{Kind: OpGet}); string(res.Value.Data) != "y" {
			t.Fatalf("a read after the held write: %+v", res)
		}
	})

	t.Run("a held ballot another proposer outbid costs a refused accept, then the write prepares and loses nothing", func(t *testing.T) {
		n := newNet("a", "b", "c")
		n.hold = true
		w1 := n.propose(t, "a", abc, put("x", CondNone, Ballot{}))
		n.acceptors["a"] = n.acceptors["a"] // b's write comes in between, at a higher ballot
		other := withHeld(n, t, "b", nil, Op{Kind: OpPut, Data: []byte("z"), Cond: CondVersion, Version: w1.Value.Version})
		if other.Outcome != OutcomeOK {
			t.Fatalf("the other write: %+v", other)
		}
		w2 := withHeld(n, t, "a", w1.Held, put("y", CondNone, Ballot{}))
		if w2.Outcome != OutcomeOK || string(w2.Value.Data) != "y" {
			t.Fatalf("the write after the outbid held ballot: %+v", w2)
		}
		if !slices.Equal(n.rounds, []MsgKind{MsgAccept, MsgPrepare, MsgAccept}) {
			t.Fatalf("rounds %v", n.rounds)
		}
		if !other.Value.Version.Less(w2.Value.Version) {
			t.Fatalf("the write's version %v is not after the other's %v", w2.Value.Version, other.Value.Version)
		}
	})

	t.Run("a condition that fails on the held value is checked by a prepare, not answered from it", func(t *testing.T) {
		n := newNet("a", "b", "c")
		n.hold = true
		w1 := n.propose(t, "a", abc, put("x", CondNone, Ballot{}))
		res := withHeld(n, t, "a", w1.Held, put("y", CondAbsent, Ballot{}))
		if res.Outcome != OutcomeConditionFailed || !res.Value.Equal(w1.Value) {
			t.Fatalf("put-if-absent on x: %+v", res)
		}
		if !slices.Equal(n.rounds, []MsgKind{MsgPrepare}) {
			t.Fatalf("rounds %v, want a prepare", n.rounds)
		}
	})

	t.Run("a held ballot of other voter groups is not used", func(t *testing.T) {
		n := newNet("a", "b", "c")
		n.hold = true
		w1 := n.propose(t, "a", abc, put("x", CondNone, Ballot{}))
		held := *w1.Held
		held.Voters = [][]string{{"a", "b", "d"}}
		if res := withHeld(n, t, "a", &held, put("y", CondNone, Ballot{})); res.Outcome != OutcomeOK {
			t.Fatalf("%+v", res)
		}
		if !slices.Equal(n.rounds, []MsgKind{MsgPrepare, MsgAccept}) {
			t.Fatalf("rounds %v, want a prepare first", n.rounds)
		}
	})

	t.Run("reads and failed writes hold nothing", func(t *testing.T) {
		n := newNet("a", "b", "c")
		n.hold = true
		w1 := n.propose(t, "a", abc, put("x", CondNone, Ballot{}))
		if res := n.propose(t, "a", abc, Op{Kind: OpGet}); res.Held != nil {
			t.Fatalf("a read holds %+v", res.Held)
		}
		if res := n.propose(t, "a", abc, put("y", CondAbsent, Ballot{})); res.Outcome != OutcomeConditionFailed || res.Held != nil {
			t.Fatalf("a failed condition: %+v", res)
		}
		_ = w1
	})
}

// Reaping erases a tombstone through consensus before dropping its state.
func TestProposerErase(t *testing.T) {
	erase := func(v Ballot) Op { return Op{Kind: OpErase, Cond: CondVersion, Version: v} }
	t.Run("a tombstone still current is replaced by the erased value, which reads as nothing", func(t *testing.T) {
		n := newNet("a", "b", "c")
		n.hold = true
		w := n.propose(t, "a", abc, Op{Kind: OpPut, Data: []byte("x")})
		del := n.propose(t, "b", abc, Op{Kind: OpDelete, Cond: CondVersion, Version: w.Value.Version})
		res := n.propose(t, "c", abc, erase(del.Value.Version))
		if res.Outcome != OutcomeOK || !res.Value.Equal(Value{}) || res.Held != nil {
			t.Fatalf("erase: %+v", res)
		}
		for id, st := range n.acceptors {
			if !Droppable(st) {
				t.Fatalf("%s after the erase holds %+v, not a droppable state", id, st)
			}
		}
		if got := n.propose(t, "a", abc, Op{Kind: OpGet}); got.Value.Exists || !got.Value.Version.IsZero() {
			t.Fatalf("a read after the erase: %+v", got)
		}
		if got := n.propose(t, "a", abc, Op{Kind: OpDelete, Cond: CondVersion, Version: del.Value.Version}); got.Outcome != OutcomeConditionFailed {
			t.Fatalf("a write at the erased tombstone's version: %+v", got)
		}
	})
	t.Run("a register written again since is left as it is", func(t *testing.T) {
		n := newNet("a", "b", "c")
		n.hold = true
		w := n.propose(t, "a", abc, Op{Kind: OpPut, Data: []byte("x")})
		del := n.propose(t, "b", abc, Op{Kind: OpDelete, Cond: CondVersion, Version: w.Value.Version})
		again := n.propose(t, "b", abc, Op{Kind: OpPut, Data: []byte("y")})
		if res := n.propose(t, "c", abc, erase(del.Value.Version)); res.Outcome != OutcomeConditionFailed || !res.Value.Equal(again.Value) {
			t.Fatalf("erase of an old tombstone: %+v", res)
		}
		if res := n.propose(t, "c", abc, erase(again.Value.Version)); res.Outcome != OutcomeConditionFailed {
			t.Fatalf("erase of a live value: %+v", res)
		}
	})
}

func TestProposerHoldsNothingUnlessAsked(t *testing.T) {
	n := newNet("a", "b", "c")
	w := n.propose(t, "a", abc, Op{Kind: OpPut, Data: []byte("x")})
	if w.Held != nil {
		t.Fatalf("a write of a proposer that holds no ballots holds %+v", w.Held)
	}
	for id, st := range n.acceptors {
		if st.Promised != w.Value.Version {
			t.Fatalf("%s promised %v beyond the write's ballot %v", id, st.Promised, w.Value.Version)
		}
	}
}

func TestProposerUpdate(t *testing.T) {
	// appendOrFail appends to the current value, refusing a value "stop"
	// (a condition) and a value "bad" (an update that cannot apply).
	errBad := errors.New("cannot apply to bad")
	appendOrFail := func(suffix string) Op {
		return Op{Kind: OpUpdate, Update: func(cur Value) ([]byte, bool, error) {
			switch string(cur.Data) {
			case "stop":
				return nil, false, fmt.Errorf("the item is stopped: %w", ErrConditionFailed)
			case "bad":
				return nil, false, errBad
			case "gone":
				return nil, false, nil
			}
			return append(slices.Clone(cur.Data), suffix...), true, nil
		}}
	}
	t.Run("an update writes what it computes from the chosen value", func(t *testing.T) {
		n := newNet("a", "b", "c")
		n.propose(t, "a", abc, Op{Kind: OpPut, Data: []byte("x")})
		res := n.propose(t, "b", abc, appendOrFail("y"))
		if res.Outcome != OutcomeOK || string(res.Value.Data) != "xy" {
			t.Fatalf("result %+v", res)
		}
		if got := n.propose(t, "c", abc, Op{Kind: OpGet}); string(got.Value.Data) != "xy" {
			t.Fatalf("read %+v", got)
		}
	})
	t.Run("an update may delete", func(t *testing.T) {
		n := newNet("a", "b", "c")
		n.propose(t, "a", abc, Op{Kind: OpPut, Data: []byte("gone")})
		if res := n.propose(t, "b", abc, appendOrFail("y")); res.Outcome != OutcomeOK || res.Value.Exists {
			t.Fatalf("result %+v", res)
		}
	})
	t.Run("an update's condition failure is a condition failure with its error", func(t *testing.T) {
		n := newNet("a", "b", "c")
		n.propose(t, "a", abc, Op{Kind: OpPut, Data: []byte("stop")})
		res := n.propose(t, "b", abc, appendOrFail("y"))
		if res.Outcome != OutcomeConditionFailed || !errors.Is(res.Err, ErrConditionFailed) || string(res.Value.Data) != "stop" {
			t.Fatalf("result %+v", res)
		}
	})
	t.Run("an update that cannot apply is invalid, and changes nothing", func(t *testing.T) {
		n := newNet("a", "b", "c")
		n.propose(t, "a", abc, Op{Kind: OpPut, Data: []byte("bad")})
		res := n.propose(t, "b", abc, appendOrFail("y"))
		if res.Outcome != OutcomeInvalid || !errors.Is(res.Err, errBad) {
			t.Fatalf("result %+v", res)
		}
		if got := n.propose(t, "c", abc, Op{Kind: OpGet}); string(got.Value.Data) != "bad" {
			t.Fatalf("read %+v", got)
		}
	})
	t.Run("an update refused over a value in flight completes that value before answering", func(t *testing.T) {
		n := newNet("a", "b", "c")
		b := Ballot{Round: 5, Node: "z", Incarnation: 1, Seq: 99}
		st, _ := n.acceptors["c"].Accept(b, value("bad", b))
		n.acceptors["c"] = st
		n.down["a"] = true
		res := n.propose(t, "b", abc, appendOrFail("y"))
		if res.Outcome != OutcomeInvalid || string(res.Value.Data) != "bad" || !errors.Is(res.Err, errBad) {
			t.Fatalf("result %+v", res)
		}
		if n.rounds[len(n.rounds)-1] != MsgAccept {
			t.Fatalf("rounds %v: the refusal was answered before bad was accepted at a majority", n.rounds)
		}
	})
}

// Config.First: a read round asks a majority first, the rest when one
// of those refuses or the actor hedges.
func TestProposerReadFirst(t *testing.T) {
	get := Op{Kind: OpGet}
	to := func(msgs []Message) []string {
		var out []string
		for _, m := range msgs {
			out = append(out, m.To)
		}
		return out
	}
	committed := func(t *testing.T) *net {
		n := newNet("a", "b", "c")
		n.propose(t, "a", abc, Op{Kind: OpPut, Data: []byte("x")})
		return n
	}

	t.Run("a read asks only a majority, in the given order, and one round of it answers when they agree", func(t *testing.T) {
		n := committed(t)
		p, eff, err := NewProposer(Config{Node: "b", Incarnation: 1, Voters: abc, First: []string{"b", "c", "a"}}, get, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := to(eff.Send); !slices.Equal(got, []string{"b", "c"}) {
			t.Fatalf("first asked %v, want b and c", got)
		}
		n.rounds = nil
		if res := n.run(t, p, eff); res.Outcome != OutcomeOK || string(res.Value.Data) != "x" {
			t.Fatalf("read %+v", res)
		}
		if !slices.Equal(n.rounds, []MsgKind{MsgRead}) {
			t.Fatalf("rounds %v", n.rounds)
		}
		if e := p.Hedge(); len(e.Send) > 0 {
			t.Fatalf("a finished read hedged to %v", to(e.Send))
		}
	})

	t.Run("voters the order leaves out come after it, in group order", func(t *testing.T) {
		_, eff, _ := NewProposer(Config{Node: "z", Incarnation: 1, Voters: abc, First: []string{"c", "z"}}, get, 0)
		if got := to(eff.Send); !slices.Equal(got, []string{"c", "a"}) {
			t.Fatalf("first asked %v, want c then a", got)
		}
	})

	t.Run("a hedge asks the voters held back, once", func(t *testing.T) {
		n := committed(t)
		n.down["a"] = true
		p, eff, _ := NewProposer(Config{Node: "b", Incarnation: 1, Voters: abc, First: []string{"a", "b", "c"}}, get, 0)
		if got := to(eff.Send); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("first asked %v", got)
		}
		if e := n.deliver(p, eff.Send); e.Done || len(e.Send) > 0 {
			t.Fatalf("one answer of three finished the read: %+v", e)
		}
		h := p.Hedge()
		if got := to(h.Send); !slices.Equal(got, []string{"c"}) {
			t.Fatalf("hedged to %v, want c", got)
		}
		if e := p.Hedge(); len(e.Send) > 0 {
			t.Fatalf("a second hedge sent %v", to(e.Send))
		}
		if res := n.run(t, p, h); res.Outcome != OutcomeOK || string(res.Value.Data) != "x" {
			t.Fatalf("read %+v", res)
		}
	})

	t.Run("a refusal among the first asks the voters held back at once, not a new round", func(t *testing.T) {
		n := committed(t)
		n.refusing = map[string]bool{"a": true}
		p, eff, _ := NewProposer(Config{Node: "b", Incarnation: 1, Voters: abc, First: []string{"a", "b", "c"}}, get, 0)
		n.rounds = nil
		if res := n.run(t, p, eff); res.Outcome != OutcomeOK || string(res.Value.Data) != "x" {
			t.Fatalf("read %+v", res)
		}
		if !slices.Equal(n.rounds, []MsgKind{MsgRead, MsgRead}) {
			t.Fatalf("rounds %v, want the read and its second ask", n.rounds)
		}
	})

	t.Run("between two rings the first ask holds a majority of each group", func(t *testing.T) {
		joint := [][]string{{"a", "b", "c"}, {"b", "c", "d"}}
		_, eff, _ := NewProposer(Config{Node: "a", Incarnation: 1, Voters: joint, First: []string{"a", "b", "c", "d"}}, get, 0)
		first := map[string]bool{}
		for _, n := range to(eff.Send) {
			first[n] = true
		}
		if !Quorum(joint, first) || len(first) == 4 {
			t.Fatalf("first asked %v: want a majority of each group, not every voter", to(eff.Send))
		}
	})

	t.Run("a write asks a majority in each round and commits to every voter", func(t *testing.T) {
		n := newNet("a", "b", "c")
		var sent []Message
		p, eff, _ := NewProposer(Config{Node: "a", Incarnation: 1, Voters: abc, First: []string{"a", "b", "c"}}, Op{Kind: OpPut, Data: []byte("x"), Cond: CondAbsent}, 1)
		for !eff.Done {
			if eff.HeldBack != 1 {
				t.Fatalf("a round held back %d voters, want 1: %+v", eff.HeldBack, eff)
			}
			sent = append(sent, eff.Send...)
			eff = n.deliver(p, eff.Send)
		}
		if eff.Outcome != OutcomeOK {
			t.Fatalf("write %+v", eff.Result)
		}
		if got := to(sent); !slices.Equal(got, []string{"a", "b", "a", "b"}) {
			t.Fatalf("prepare and accept went to %v, want a and b each", got)
		}
		if got := to(eff.Send); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("commits went to %v, want every voter", got)
		}
		n.deliver(p, eff.Send)
		if st := n.acceptors["c"]; !st.Settled() || string(st.Value.Data) != "x" {
			t.Fatalf("c, asked nothing but the commit: %+v, want x committed", st)
		}
	})

	t.Run("a write whose first majority is slow is hedged in its prepare and its accept", func(t *testing.T) {
		n := newNet("a", "b", "c")
		n.down["b"] = true
		p, eff, _ := NewProposer(Config{Node: "a", Incarnation: 1, Voters: abc, First: []string{"a", "b", "c"}}, Op{Kind: OpPut, Data: []byte("x")}, 1)
		rounds := 0
		for !eff.Done {
			if len(eff.Send) == 0 || rounds > 6 {
				t.Fatalf("stalled: %+v", eff)
			}
			rounds++
			e := n.deliver(p, eff.Send)
			if !e.Done && len(e.Send) == 0 {
				e = p.Hedge() // b does not answer
			}
			eff = e
		}
		if eff.Outcome != OutcomeOK || rounds != 4 {
			t.Fatalf("write %+v after %d sends, want ok after a prepare, its hedge, an accept and its hedge", eff.Result, rounds)
		}
	})

	t.Run("a completing round and an erase ask every voter", func(t *testing.T) {
		for _, op := range []Op{{Kind: OpComplete}, {Kind: OpErase, Version: ballot(1, "a")}} {
			_, eff, _ := NewProposer(Config{Node: "a", Incarnation: 1, Voters: abc, First: []string{"a", "b", "c"}}, op, 1)
			if got := to(eff.Send); len(got) != 3 || eff.HeldBack != 0 {
				t.Fatalf("op %v asked %v first", op.Kind, got)
			}
		}
	})

	t.Run("a read that must complete a proposal prepares and accepts at a majority", func(t *testing.T) {
		n := committed(t)
		b := Ballot{Round: 50, Node: "z", Incarnation: 1, Seq: 9}
		st, _ := n.acceptors["c"].Accept(b, value("y", b))
		n.acceptors["c"] = st
		p, eff, _ := NewProposer(Config{Node: "b", Incarnation: 1, Voters: abc, First: []string{"b", "c"}}, get, 0)
		e := n.deliver(p, eff.Send)
		if !e.NeedBallot {
			t.Fatalf("b and c disagree, yet %+v", e)
		}
		prep := p.Retry(1)
		if got := to(prep.Send); !slices.Equal(got, []string{"b", "c"}) {
			t.Fatalf("the completing prepare went to %v, want b and c first", got)
		}
		if res := n.run(t, p, prep); res.Outcome != OutcomeOK || string(res.Value.Data) != "y" {
			t.Fatalf("read %+v, want y", res)
		}
	})
}
