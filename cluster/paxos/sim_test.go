package paxos_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxostest"
)

// simMsg is a message in flight: a request to an acceptor, or its reply to
// a proposer.
type simMsg struct {
	client int
	op     int // the client's operation: a late reply to an earlier one is dropped, as a request's actor would
	key    string
	req    paxos.Message
	reply  bool
	from   string
	read   paxos.Reading
	prom   paxos.Promise
	acc    paxos.Acceptance
}

// simClient runs one operation at a time through a proposer.
type simClient struct {
	p        *paxos.Proposer
	in       paxostest.Input
	call     int64
	deadline int64
	retryAt  int64 // 0: no retry pending
	hedgeAt  int64 // 0: no hedge pending (a round that asked a majority first)
	done     int
	// held is, by key, the ballot this client's last write holds
	// (paxos.Held), which its next write of the key starts from.
	held map[string]*paxos.Held
}

// simRun is one simulated cluster: acceptors per key, clients issuing
// random operations, and a network that delivers in random order, loses
// and duplicates messages.
type simRun struct {
	rng *rand.Rand
	// views are the voter configurations clients hold: client i uses
	// views[i%len(views)], as nodes that have seen different ring
	// transitions would.
	views     [][][]string
	acceptors map[string]map[string]paxos.State // key -> node -> state
	pool      []simMsg
	clients   []*simClient
	seq       uint64
	now       int64
	history   []porcupine.Operation
	loss, dup float64
	versions  map[int]int // puts issued, for unique data
	lastVer   map[string]paxos.Ballot
	heldUsed  int // writes started from a held ballot
	hedged    int // rounds that asked a majority first and then the rest
}

func (s *simRun) send(client int, key string, msgs []paxos.Message) {
	for _, m := range msgs {
		s.pool = append(s.pool, simMsg{client: client, op: s.clients[client].done, key: key, req: m})
	}
}

func (s *simRun) apply(i int, eff paxos.Effects) {
	c := s.clients[i]
	s.send(i, c.in.Key, eff.Send)
	if eff.HeldBack > 0 {
		c.hedgeAt = s.now + 1 + int64(s.rng.IntN(40))
	}
	switch {
	case eff.Done:
		s.finish(i, eff.Result)
	case eff.NeedBallot:
		c.retryAt = s.now + 1 + int64(eff.Wait/time.Millisecond)
	}
}

func (s *simRun) finish(i int, res paxos.Result) {
	c := s.clients[i]
	out := paxostest.Output{Outcome: res.Outcome, Value: paxostest.FromValue(res.Value), Versions: res.Versions}
	ret := s.now
	if res.Outcome == paxos.OutcomeContention || res.Outcome == paxos.OutcomeUnavailable {
		out.Unknown, ret = true, math.MaxInt64
	}
	if res.Outcome == paxos.OutcomeOK || res.Outcome == paxos.OutcomeConditionFailed {
		s.lastVer[c.in.Key] = res.Value.Version
	}
	if res.Held != nil {
		c.held[c.in.Key] = res.Held
	}
	s.history = append(s.history, porcupine.Operation{ClientId: i, Input: c.in, Call: c.call, Output: out, Return: ret})
	c.p, c.done = nil, c.done+1
}

// start gives client i a new random operation on a hot key or a cold one.
func (s *simRun) start(i int) {
	c := s.clients[i]
	key := "hot"
	if s.rng.IntN(3) == 0 {
		key = fmt.Sprintf("cold-%d", s.rng.IntN(4))
	}
	in := paxostest.Input{Key: key}
	switch r := s.rng.IntN(10); {
	case r < 3:
		in.Kind = paxos.OpGet
	case r < 8:
		in.Kind = paxos.OpPut
		s.versions[i]++
		in.Data = fmt.Sprintf("c%d-%d", i, s.versions[i])
	default:
		in.Kind = paxos.OpDelete
	}
	if in.Kind != paxos.OpGet {
		switch s.rng.IntN(3) {
		case 1:
			in.Cond = paxos.CondAbsent
		case 2:
			in.Cond, in.Version = paxos.CondVersion, s.lastVer[key]
		}
	}
	s.seq++
	cfg := paxos.Config{Node: fmt.Sprintf("p%d", i), Incarnation: 1, Voters: s.views[i%len(s.views)],
		Backoff: time.Millisecond, MaxBackoff: 16 * time.Millisecond, Rand: s.rng.Float64, Hold: true}
	if c.held == nil {
		c.held = map[string]*paxos.Held{}
	}
	if in.Kind != paxos.OpGet {
		cfg.Held = c.held[key] // taken: a held ballot serves one write
		delete(c.held, key)
		if cfg.Held != nil {
			s.heldUsed++
		}
	}
	if s.rng.IntN(2) == 0 {
		// Half the operations ask a majority first in each round, in a
		// random order, and the rest after a random while (Config.First,
		// Proposer.Hedge).
		for _, g := range cfg.Voters {
			cfg.First = append(cfg.First, g...)
		}
		s.rng.Shuffle(len(cfg.First), func(a, b int) { cfg.First[a], cfg.First[b] = cfg.First[b], cfg.First[a] })
	}
	p, eff, err := paxos.NewProposer(cfg, paxos.Op{Kind: in.Kind, Data: []byte(in.Data), Cond: in.Cond, Version: in.Version}, s.seq)
	if err != nil {
		panic(err)
	}
	c.p, c.in, c.call, c.deadline, c.retryAt, c.hedgeAt = p, in, s.now, s.now+300, 0, 0
	s.apply(i, eff)
}

func (s *simRun) deliver(m simMsg) {
	if m.reply {
		c := s.clients[m.client]
		if c.p == nil || m.op != c.done {
			return
		}
		var eff paxos.Effects
		switch m.req.Kind {
		case paxos.MsgRead:
			eff = c.p.ReadReply(m.from, m.read)
		case paxos.MsgPrepare:
			eff = c.p.PrepareReply(m.from, m.req.Ballot, m.prom)
		case paxos.MsgAccept:
			eff = c.p.AcceptReply(m.from, m.req.Ballot, m.acc)
		}
		s.apply(m.client, eff)
		return
	}
	states := s.acceptors[m.key]
	st := states[m.req.To]
	r := simMsg{client: m.client, op: m.op, key: m.key, req: m.req, reply: true, from: m.req.To}
	switch m.req.Kind {
	case paxos.MsgRead:
		r.read = st.Read()
	case paxos.MsgPrepare:
		st, r.prom = st.Prepare(m.req.Ballot)
	case paxos.MsgAccept:
		st, r.acc = st.AcceptNext(m.req.Ballot, m.req.Value, m.req.Next)
	case paxos.MsgCommit:
		st = st.Commit(m.req.Ballot, m.req.Value)
	}
	states[m.req.To] = st
	if m.req.Kind != paxos.MsgCommit {
		s.pool = append(s.pool, r)
	}
}

func (s *simRun) run(opsPerClient int) {
	for i := range s.clients {
		s.start(i)
	}
	for {
		s.now++
		active := false
		for i, c := range s.clients {
			if c.p == nil {
				if c.done < opsPerClient {
					s.start(i)
				}
				if c.p == nil {
					continue
				}
			}
			active = true
			if c.p != nil && c.retryAt != 0 && s.now >= c.retryAt {
				c.retryAt = 0
				s.seq++
				s.apply(i, c.p.Retry(s.seq))
			}
			if c.p != nil && c.hedgeAt != 0 && s.now >= c.hedgeAt {
				c.hedgeAt = 0
				eff := c.p.Hedge()
				if len(eff.Send) > 0 {
					s.hedged++
				}
				s.apply(i, eff)
			}
			if c.p != nil && s.now >= c.deadline {
				s.apply(i, c.p.Deadline())
			}
		}
		if !active && len(s.pool) == 0 {
			return
		}
		// Deliver a few messages per tick, in random order.
		for range 3 {
			if len(s.pool) == 0 {
				break
			}
			j := s.rng.IntN(len(s.pool))
			m := s.pool[j]
			if s.rng.Float64() >= s.dup {
				s.pool[j] = s.pool[len(s.pool)-1]
				s.pool = s.pool[:len(s.pool)-1]
			}
			if s.rng.Float64() < s.loss {
				continue
			}
			s.deliver(m)
		}
	}
}

// Random interleavings, losses and duplicates of the messages of clients
// that read, write, compare-and-set and delete a hot key and a few cold
// ones: every history is linearizable for a register with compare-and-set
// (porcupine), on a stable ring, between two rings, and with clients that
// hold neighbouring views of a ring change (the old ring and the joint
// one, or the joint one and the new ring), as nodes do while the change
// spreads by gossip.
//
// Only neighbouring views are safe together: every quorum of the joint
// view contains a majority of the old ring and of the new one, so it
// intersects a quorum of either. Clients on the old ring alone and on
// the new ring alone can use disjoint majorities ({a, b} and {c, d}) and
// choose two values; that mix is not run here as if it were safe.
func TestSimulatedHistoriesAreLinearizable(t *testing.T) {
	old := [][]string{{"a", "b", "c"}}
	joint := [][]string{{"a", "b", "c"}, {"b", "c", "d"}}
	next := [][]string{{"b", "c", "d"}}
	configs := []struct {
		name  string
		views [][][]string
	}{
		{"three replicas", [][][]string{old}},
		{"between two rings", [][][]string{joint}},
		{"old and joint views", [][][]string{old, joint}},
		{"joint and new views", [][][]string{joint, next}},
	}
	runs := 150
	if n, err := strconv.Atoi(os.Getenv("PAXOS_SIM_RUNS")); err == nil && n > 0 {
		runs = n // a longer search: PAXOS_SIM_RUNS=5000 go test -run TestSimulated ./cluster/paxos
	} else if testing.Short() {
		runs = 30
	}
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			outcomes := map[string]int{}
			okByView := make([]int, len(cfg.views))
			heldUsed, hedged := 0, 0
			for seed := range uint64(runs) {
				s := &simRun{rng: rand.New(rand.NewPCG(seed, 7)), views: cfg.views, acceptors: map[string]map[string]paxos.State{},
					loss: 0.05, dup: 0.05, versions: map[int]int{}, lastVer: map[string]paxos.Ballot{}}
				for _, k := range []string{"hot", "cold-0", "cold-1", "cold-2", "cold-3"} {
					s.acceptors[k] = map[string]paxos.State{}
				}
				for range 4 {
					s.clients = append(s.clients, &simClient{})
				}
				s.run(12)
				heldUsed += s.heldUsed
				hedged += s.hedged
				for _, op := range s.history {
					out := op.Output.(paxostest.Output)
					name := out.Outcome.String()
					if out.Unknown {
						name = "unknown"
					}
					outcomes[name]++
					if out.Outcome == paxos.OutcomeOK && !out.Unknown {
						okByView[op.ClientId%len(cfg.views)]++
					}
				}
				res, info := porcupine.CheckOperationsVerbose(paxostest.Model, s.history, 10*time.Second)
				if res != porcupine.Ok {
					path := filepath.Join(t.TempDir(), "history.html")
					if dir := os.Getenv("PAXOS_VISUALIZE_DIR"); dir != "" {
						path = filepath.Join(dir, fmt.Sprintf("paxos-%s-%d.html", cfg.name, seed))
					}
					_ = porcupine.VisualizePath(paxostest.Model, info, path)
					t.Fatalf("seed %d: history not linearizable (%v); visualization at %s (set PAXOS_VISUALIZE_DIR to keep it)", seed, res, path)
				}
			}
			t.Logf("%d runs: outcomes %v, ok by view %v, %d writes started from a held ballot, %d rounds hedged", runs, outcomes, okByView, heldUsed, hedged)
			if heldUsed == 0 {
				t.Fatal("no write started from a held ballot")
			}
			if hedged == 0 {
				t.Fatal("no round that asked a majority first asked the rest")
			}
			if outcomes["ok"] == 0 || outcomes["condition failed"] == 0 || outcomes["unknown"] == 0 {
				t.Fatalf("the runs did not exercise every outcome: %v", outcomes)
			}
			if slices.Contains(okByView, 0) {
				t.Fatalf("the clients of some view never completed an operation: %v", okByView)
			}
		})
	}
}
