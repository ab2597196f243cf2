package membership

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// gossipNet delivers the cores' messages to one another by cluster
// address, as the remote layer does: it stamps each message with its
// sender's address and sends answers back to whoever sent what they
// answer.
type gossipNet struct {
	cores map[string]*Gossip // by cluster address
	// cut drops every message to or from these addresses.
	cut map[string]bool
	// readies are every Ready stepped, by address, in order.
	readies map[string][]Ready
}

func newGossipNet() *gossipNet {
	return &gossipNet{cores: map[string]*Gossip{}, cut: map[string]bool{}, readies: map[string][]Ready{}}
}

type gossipParams struct {
	params     Params
	seeds      []string
	saved      []NodeState
	origin     AcceptorOrigin
	status     string // own ring status in App; "" leaves StartOf's
	generation int64
}

func gossipAddr(id string) string { return "addr-" + id }

func (n *gossipNet) start(id string, p gossipParams, now time.Time) (*Gossip, Ready) {
	if p.generation == 0 {
		p.generation = now.UnixNano()
	}
	app := map[string]string{KeyClusterAddr: gossipAddr(id), KeyStarted: fmt.Sprint(p.generation)}
	g, r := NewGossip(GossipStart{Self: id, Params: p.params, Membership: DefaultConfig(), Generation: p.generation,
		App: app, Seeds: p.seeds, Saved: p.saved, Origin: p.origin, Rand: rand.New(rand.NewPCG(uint64(len(id)), 7))}, now)
	n.cores[gossipAddr(id)] = g
	n.readies[gossipAddr(id)] = append(n.readies[gossipAddr(id)], r)
	return g, r
}

// step steps the core at addr with msg and delivers what it sends, and
// what that makes the others send, until nothing is left in flight. A
// node's handoff is done with a transition as soon as every live member
// has seen it (there is no data to move).
func (n *gossipNet) step(addr string, msg any, now time.Time) Ready {
	first := n.stepOne(addr, msg, now)
	n.flush(addr, first, now)
	return first
}

func (n *gossipNet) stepOne(addr string, msg any, now time.Time) Ready {
	r := n.cores[addr].Step(msg, now)
	n.readies[addr] = append(n.readies[addr], r)
	if r.Save != nil {
		n.cores[addr].Saved(r.SaveRevision)
	}
	return r
}

func (n *gossipNet) flush(from string, r Ready, now time.Time) {
	type envelope struct {
		from, to string
		msg      any
	}
	var queue []envelope
	add := func(from, sender string, r Ready) {
		for _, o := range r.Send {
			to := o.To
			if o.ToSender {
				to = sender
			}
			queue = append(queue, envelope{from, to, o.Msg})
		}
	}
	add(from, "", r)
	if g := n.cores[from]; r.Handoff && r.AllSeen {
		if done, _ := g.State().Get(g.self, KeyTransitionDone); done != g.Transition().Key {
			queue = append(queue, envelope{from, from, GossipUpdate{Key: KeyTransitionDone, Value: g.Transition().Key}})
		}
	}
	for len(queue) > 0 {
		e := queue[0]
		queue = queue[1:]
		if n.cut[e.from] || n.cut[e.to] || n.cores[e.to] == nil {
			continue
		}
		msg := e.msg
		switch m := msg.(type) {
		case GossipSyn:
			m.Addr = e.from
			msg = m
		case GossipAck:
			m.Addr = e.from
			msg = m
		case GossipAck2:
			m.Addr = e.from
			msg = m
		}
		r := n.stepOne(e.to, msg, now)
		add(e.to, e.from, r)
		g := n.cores[e.to]
		if done, _ := g.State().Get(g.self, KeyTransitionDone); r.Handoff && r.AllSeen && done != g.Transition().Key {
			queue = append(queue, envelope{e.to, e.to, GossipUpdate{Key: KeyTransitionDone, Value: g.Transition().Key}})
		}
	}
}

// rounds runs k gossip rounds on every core, a second apart.
func (n *gossipNet) rounds(k int, now time.Time) time.Time {
	for i := 0; i < k; i++ {
		now = now.Add(time.Second)
		for _, addr := range slices.Sorted(maps.Keys(n.cores)) {
			if !n.cut[addr] {
				n.step(addr, GossipRound{}, now)
			}
		}
	}
	return now
}

func sentKinds(r Ready) []string {
	var out []string
	for _, o := range r.Send {
		to := o.To
		if o.ToSender {
			to = "sender"
		}
		out = append(out, fmt.Sprintf("%T>%s", o.Msg, to))
	}
	return out
}

func hasLog(r Ready, part string) bool {
	return slices.ContainsFunc(r.Logs, func(l Log) bool { return strings.Contains(l.Msg, part) })
}

var ringParams = Params{Partitions: 8, Replicas: 3, SecretFingerprints: []string{"s"}}

// savedMember is the saved state of member id with ring status status,
// as its last process saved it.
func savedMember(id, status string, gen int64) NodeState {
	return NodeState{ID: id, Generation: gen, Heartbeat: 1, App: map[string]Versioned{
		KeyClusterAddr: {Value: gossipAddr(id), Version: 2}, KeyStatus: {Value: status, Version: 3}}}
}

func TestGossipStep(t *testing.T) {
	now := t0
	type row struct {
		rule  string
		check func(t *testing.T)
	}
	rows := []row{
		{"a SYN from a node with other cluster parameters is refused, and the sender told why", func(t *testing.T) {
			n := newGossipNet()
			n.start("a", gossipParams{params: ringParams}, now)
			other := ringParams
			other.Replicas = 2
			r := n.cores["addr-a"].Step(GossipSyn{From: "b", Addr: "addr-b", Params: other}, now)
			if got := sentKinds(r); !slices.Equal(got, []string{"membership.GossipRefused>sender"}) {
				t.Fatalf("sent %v", got)
			}
			if ref := r.Send[0].Msg.(GossipRefused); !strings.Contains(ref.Reason, "--n") || ref.Node != "b" {
				t.Fatalf("refusal %+v", ref)
			}
		}},
		{"a SYN that came without a sender is not answered", func(t *testing.T) {
			n := newGossipNet()
			g, _ := n.start("a", gossipParams{params: ringParams}, now)
			if r := g.Step(GossipSyn{From: "b", Params: ringParams}, now); len(r.Send) != 0 {
				t.Fatalf("sent %v", sentKinds(r))
			}
		}},
		{"a SYN is answered with what the peer lacks and what this node lacks", func(t *testing.T) {
			n := newGossipNet()
			g, _ := n.start("a", gossipParams{params: ringParams}, now)
			r := g.Step(GossipSyn{From: "b", Addr: "addr-b", Params: ringParams, Digests: []Digest{{ID: "b", Generation: 5, MaxVersion: 9}}}, now)
			if got := sentKinds(r); !slices.Equal(got, []string{"membership.GossipAck>sender"}) {
				t.Fatalf("sent %v", got)
			}
			ack := r.Send[0].Msg.(GossipAck)
			if len(ack.States) != 1 || ack.States[0].ID != "a" || len(ack.Requests) != 1 || ack.Requests[0].ID != "b" {
				t.Fatalf("ack %+v", ack)
			}
		}},
		{"an undecided newcomer asks a member's SYN back and answers without its own state", func(t *testing.T) {
			n := newGossipNet()
			g, _ := n.start("a", gossipParams{params: ringParams, seeds: []string{"addr-b", "addr-c"}}, now)
			if !g.Newcomer() {
				t.Fatal("a node started with seeds on a new directory is a newcomer")
			}
			r := g.Step(GossipSyn{From: "b", Addr: "addr-b", Params: ringParams}, now)
			if got := sentKinds(r); !slices.Equal(got, []string{"membership.GossipSyn>addr-b", "membership.GossipAck>sender"}) {
				t.Fatalf("sent %v", got)
			}
			if ack := r.Send[1].Msg.(GossipAck); !ack.SenderNew || len(ack.States) != 0 || len(ack.Requests) != 0 {
				t.Fatalf("ack %+v", ack)
			}
		}},
		{"an answer that decides nothing is not taken by a newcomer, but answers its join", func(t *testing.T) {
			n := newGossipNet()
			g, _ := n.start("a", gossipParams{params: ringParams, seeds: []string{"addr-b", "addr-c", "addr-d"}}, now)
			r := g.Step(GossipAck{From: "b", Addr: "addr-b", Params: ringParams, SenderNew: true, States: []NodeState{savedMember("b", RingNormal, 1)}}, now)
			if r.Answered != "addr-b" || r.Publish || len(r.Send) != 0 || len(g.State().IDs()) != 1 || !g.Newcomer() {
				t.Fatalf("ready %+v, members %v", r, g.State().IDs())
			}
		}},
		{"a newcomer that a member knew as normal takes its place back and records its acceptor state lost", func(t *testing.T) {
			n := newGossipNet()
			g, _ := n.start("a", gossipParams{params: ringParams, seeds: []string{"addr-b"}}, now)
			r := g.Step(GossipAck{From: "b", Addr: "addr-b", Params: ringParams, SenderWas: RingNormal, States: []NodeState{savedMember("b", RingNormal, 1)}}, now)
			if g.Newcomer() || r.Origin != AcceptorsLost || !strings.Contains(r.Why, "addr-b") {
				t.Fatalf("origin %v why %q", r.Origin, r.Why)
			}
			if own, _ := g.State().Get("a", KeyStatus); own != RingNormal {
				t.Fatalf("own status %q", own)
			}
			if !slices.ContainsFunc(r.Events, func(e Event) bool { return e.Kind == EventPlaceTakenBack }) {
				t.Fatalf("events %v", r.Events)
			}
		}},
		{"a newcomer that no member knew joins as a new member and records its acceptor state kept", func(t *testing.T) {
			n := newGossipNet()
			g, _ := n.start("a", gossipParams{params: ringParams, seeds: []string{"addr-b"}}, now)
			r := g.Step(GossipAck{From: "b", Addr: "addr-b", Params: ringParams, States: []NodeState{savedMember("b", RingNormal, 1)}}, now)
			if g.Newcomer() || r.Origin != AcceptorsKept || r.Why == "" {
				t.Fatalf("origin %v why %q", r.Origin, r.Why)
			}
			if own, _ := g.State().Get("a", KeyStatus); own != RingJoining {
				t.Fatalf("own status %q", own)
			}
		}},
		{"an ACK's requests are answered with an ACK2 to its sender", func(t *testing.T) {
			n := newGossipNet()
			g, _ := n.start("a", gossipParams{params: ringParams}, now)
			r := g.Step(GossipAck{From: "b", Addr: "addr-b", Params: ringParams, Requests: []Digest{{ID: "a"}}}, now)
			if got := sentKinds(r); !slices.Contains(got, "membership.GossipAck2>sender") {
				t.Fatalf("sent %v", got)
			}
		}},
		{"a round saves the membership only when it changed since the last save", func(t *testing.T) {
			n := newGossipNet()
			n.start("a", gossipParams{params: ringParams}, now)
			if r := n.step("addr-a", GossipRound{}, now); r.Save == nil {
				t.Fatal("the first round saves")
			}
			if r := n.step("addr-a", GossipRound{}, now.Add(time.Second)); r.Save != nil {
				t.Fatal("a round after a heartbeat alone saves again")
			}
			n.step("addr-a", GossipUpdate{Key: UserKeyPrefix + "x", Value: "1"}, now)
			if r := n.step("addr-a", GossipRound{}, now.Add(2*time.Second)); r.Save == nil {
				t.Fatal("a round after a change does not save")
			}
		}},
		{"a change of own state is pushed to a live peer at once", func(t *testing.T) {
			n := newGossipNet()
			n.start("a", gossipParams{params: ringParams}, now)
			n.start("b", gossipParams{params: ringParams, seeds: []string{"addr-a"}, saved: []NodeState{savedMember("b", RingNormal, 1)}}, now)
			now := n.rounds(3, now)
			r := n.step("addr-a", GossipUpdate{Key: UserKeyPrefix + "x", Value: "1"}, now)
			if got := sentKinds(r); !slices.Equal(got, []string{"membership.GossipSyn>addr-b"}) {
				t.Fatalf("sent %v", got)
			}
			if v, _ := n.cores["addr-b"].State().Get("a", UserKeyPrefix+"x"); v != "1" {
				t.Fatalf("b holds %q", v)
			}
		}},
		{"a parameter refusal before this node joined ends the process; after, it is only logged", func(t *testing.T) {
			n := newGossipNet()
			g, _ := n.start("a", gossipParams{params: ringParams}, now)
			if r := g.Step(GossipRefused{From: "b", Node: "a", Reason: "--n"}, now); !strings.Contains(r.Fail, "--n") {
				t.Fatalf("fail %q", r.Fail)
			}
			g.Step(GossipAck{From: "b", Addr: "addr-b", Params: ringParams, States: []NodeState{savedMember("b", RingNormal, 1)}}, now)
			if r := g.Step(GossipRefused{From: "c", Node: "a", Reason: "--n"}, now); r.Fail != "" || !hasLog(r, "refused by a peer") {
				t.Fatalf("ready %+v", r)
			}
		}},
		{"a refusal of another node's id is only logged", func(t *testing.T) {
			n := newGossipNet()
			g, _ := n.start("a", gossipParams{params: ringParams}, now)
			if r := g.Step(GossipRefused{From: "b", Node: "c", Reason: "--n"}, now); r.Fail != "" || r.Fence != "" || !hasLog(r, "refused by a peer") {
				t.Fatalf("ready %+v", r)
			}
		}},
		{"a second process claiming a member's id is refused and told who holds it", func(t *testing.T) {
			n := newGossipNet()
			g, _ := n.start("a", gossipParams{params: ringParams}, now)
			n.start("b", gossipParams{params: ringParams, generation: 100, seeds: []string{"addr-a"}, saved: []NodeState{savedMember("b", RingNormal, 1)}}, now)
			now := n.rounds(3, now)
			// A later process of b at another address claims b's id.
			claim := NodeState{ID: "b", Generation: 200, Heartbeat: 1, App: map[string]Versioned{
				KeyClusterAddr: {Value: "addr-b2", Version: 2}, KeyStarted: {Value: "200", Version: 3}}}
			r := g.Step(GossipAck{From: "b", Addr: "addr-b2", Params: ringParams, States: []NodeState{claim}}, now)
			i := slices.IndexFunc(r.Send, func(o Outbound) bool { _, ok := o.Msg.(GossipRefused); return ok })
			if i < 0 || r.Send[i].To != "addr-b2" {
				t.Fatalf("sent %v", sentKinds(r))
			}
			if ref := r.Send[i].Msg.(GossipRefused); !ref.Identity || ref.Holder == nil || ref.Holder.Generation != 100 {
				t.Fatalf("refusal %+v", ref)
			}
		}},
		{"a process refused by the holder of its id, which started first, is fenced and hears no more gossip", func(t *testing.T) {
			n := newGossipNet()
			g, _ := n.start("b", gossipParams{params: ringParams, generation: 200}, now)
			holder := NodeState{ID: "b", Generation: 100, Heartbeat: 5, App: map[string]Versioned{
				KeyClusterAddr: {Value: "addr-b1", Version: 2}, KeyStarted: {Value: "100", Version: 3}}}
			r := g.Step(GossipRefused{From: "a", Node: "b", Reason: "claimed", Identity: true, Holder: &holder}, now)
			if r.Fence == "" || g.Fenced() == "" || !r.Publish {
				t.Fatalf("ready %+v", r)
			}
			if v := g.View(now, nil); v.Fenced == "" {
				t.Fatal("the view does not say the process is fenced")
			}
			for _, msg := range []any{GossipSyn{From: "a", Addr: "addr-a", Params: ringParams}, GossipRound{}, GossipJoin{Seeds: []string{"addr-a"}}} {
				if r := g.Step(msg, now); len(r.Send) != 0 || r.Publish {
					t.Fatalf("a fenced process stepped %T: %+v", msg, r)
				}
			}
		}},
		{"a member's ring status change recomputes the transition and tells the handoff", func(t *testing.T) {
			n := newGossipNet()
			g, r := n.start("a", gossipParams{params: ringParams}, now)
			if !r.Publish || g.Transition() == nil || r.Handoff {
				t.Fatalf("a lone node's start: %+v", r)
			}
			before := g.Transition().Key
			r = g.Step(GossipAck{From: "b", Addr: "addr-b", Params: ringParams, States: []NodeState{savedMember("b", RingJoining, 1)}}, now)
			if g.Transition().Key == before || !r.Handoff || !slices.ContainsFunc(r.Events, func(e Event) bool { return e.Kind == EventRingChanged }) {
				t.Fatalf("transition %s -> %s, ready %+v", before, g.Transition().Key, r)
			}
		}},
		{"a member without a ring computes none", func(t *testing.T) {
			n := newGossipNet()
			g, r := n.start("a", gossipParams{}, now)
			if !r.Publish || g.Transition() != nil || g.View(now, nil).Ring != nil {
				t.Fatalf("ready %+v", r)
			}
		}},
		{"a node that restarts with its saved membership keeps its ring status and raises a generation the clock is behind", func(t *testing.T) {
			n := newGossipNet()
			g, r := n.start("a", gossipParams{params: ringParams, seeds: []string{"addr-b"}, generation: 50,
				saved: []NodeState{savedMember("a", RingLeaving, 80), savedMember("b", RingNormal, 1)}}, now)
			if own, _ := g.State().Get("a", KeyStatus); own != RingLeaving || g.State().Generation() != 81 || g.Newcomer() {
				t.Fatalf("status %q generation %d", own, g.State().Generation())
			}
			if !hasLog(r, "clock is behind") {
				t.Fatalf("logs %v", r.Logs)
			}
		}},
	}
	for _, row := range rows {
		t.Run(row.rule, row.check)
	}
}

// Three nodes booted with every node in every other's seed list form one
// cluster through the cores' steps alone, and a node wiped and started
// again takes its place back.
func TestGossipCoresFormAClusterFromASeedList(t *testing.T) {
	now := t0
	n := newGossipNet()
	seeds := []string{"addr-a", "addr-b", "addr-c"}
	for _, id := range []string{"a", "b", "c"} {
		n.start(id, gossipParams{params: ringParams, seeds: seeds}, now)
	}
	now = n.rounds(10, now)
	for addr, g := range n.cores {
		if g.Newcomer() {
			t.Fatalf("%s is still undecided", addr)
		}
		v := g.View(now, nil)
		if len(v.Members) != 3 || v.Transition == nil || !v.Transition.Stable() {
			t.Fatalf("%s sees %d members, transition %+v", addr, len(v.Members), v.Transition)
		}
		for id, m := range v.Members {
			if m.Status != Up {
				t.Fatalf("%s sees %s %s", addr, id, m.Status)
			}
			if st, _ := g.State().Get(id, KeyStatus); st != RingNormal {
				t.Fatalf("%s sees %s %s in the ring", addr, id, st)
			}
		}
	}
	// c's disk is wiped: it starts again, with the seed list, and nothing saved.
	n.start("c", gossipParams{params: ringParams, seeds: seeds}, now.Add(time.Millisecond))
	now = n.rounds(5, now)
	g := n.cores["addr-c"]
	if own, _ := g.State().Get("c", KeyStatus); own != RingNormal || g.Newcomer() {
		t.Fatalf("c's status %q, newcomer %v", own, g.Newcomer())
	}
	var origin []AcceptorOrigin
	for _, r := range n.readies["addr-c"] {
		if r.Why != "" {
			origin = append(origin, r.Origin)
		}
	}
	if last := origin[len(origin)-1]; last != AcceptorsLost {
		t.Fatalf("c recorded %v", origin)
	}
	if v := n.cores["addr-a"].View(now, nil); v.Members["c"].Status != Up || v.Transition.Key != n.cores["addr-c"].Transition().Key {
		t.Fatalf("a sees c %s, transitions %s / %s", v.Members["c"].Status, v.Transition.Key, n.cores["addr-c"].Transition().Key)
	}
}
