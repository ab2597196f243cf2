package membership

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// gossipMsg is one step of an exchange in flight: a SYN, its ACK or the
// ACK2 that answers the ACK.
type gossipMsg struct {
	kind     string
	from, to int
	digests  []Digest
	states   []NodeState
	requests []Digest
}

// simCluster runs gossip among processes whose messages are delayed,
// reordered and lost, and which restart from members saved some time
// before; replies reach the restarted process at the same address, as
// they do over the remote layer, whose addresses name no process.
type simCluster struct {
	r        *rand.Rand
	ids      []string
	nodes    []*State
	saved    [][]NodeState
	savedRev []uint64
	gen      []int64
	inflight []gossipMsg
	now      time.Time
}

func newSimCluster(seed uint64, n int) *simCluster {
	c := &simCluster{r: rand.New(rand.NewPCG(seed, 9)), now: t0}
	for i := range n {
		c.ids = append(c.ids, fmt.Sprintf("n%d", i+1))
		c.gen = append(c.gen, 100)
		c.nodes = append(c.nodes, newNode(c.ids[i], 100))
	}
	c.saved, c.savedRev = make([][]NodeState, n), make([]uint64, n)
	return c
}

func (c *simCluster) deliver(k int) {
	msg := c.inflight[k]
	c.inflight = slices.Delete(c.inflight, k, k+1)
	to := c.nodes[msg.to]
	switch msg.kind {
	case "syn":
		send, request := to.Syn(msg.digests)
		c.inflight = append(c.inflight, gossipMsg{kind: "ack", from: msg.to, to: msg.from, states: send, requests: request})
	case "ack":
		to.Apply(msg.states, c.now)
		if d := to.Delta(msg.requests); len(d) > 0 {
			c.inflight = append(c.inflight, gossipMsg{kind: "ack2", from: msg.to, to: msg.from, states: d})
		}
	case "ack2":
		to.Apply(msg.states, c.now)
	}
}

// step does one random thing and says what.
func (c *simCluster) step() string {
	c.now = c.now.Add(100 * time.Millisecond)
	i := c.r.IntN(len(c.nodes))
	switch op := c.r.IntN(10); {
	case op < 2:
		c.nodes[i].Tick()
		return c.ids[i] + " ticks"
	case op < 3:
		if c.r.IntN(2) == 0 {
			st := []string{RingJoining, RingNormal, RingLeaving}[c.r.IntN(3)]
			c.nodes[i].Set(KeyStatus, st)
			return c.ids[i] + " is " + st
		}
		c.nodes[i].Set(KeyHintsPending, fmt.Sprint(c.r.IntN(100)))
		return c.ids[i] + " sets a key"
	case op < 5:
		j := c.r.IntN(len(c.nodes))
		if j == i {
			return "nothing"
		}
		c.inflight = append(c.inflight, gossipMsg{kind: "syn", from: i, to: j, digests: c.nodes[i].Digests()})
		return c.ids[i] + " sends a SYN to " + c.ids[j]
	case op < 8 && len(c.inflight) > 0:
		k := c.r.IntN(len(c.inflight))
		if c.r.IntN(8) == 0 {
			c.inflight = slices.Delete(c.inflight, k, k+1)
			return "a message is lost"
		}
		msg := c.inflight[k]
		c.deliver(k)
		return fmt.Sprintf("%s from %s reaches %s", msg.kind, c.ids[msg.from], c.ids[msg.to])
	case op < 9:
		// The gossiper saves its members when their revision moved.
		if c.nodes[i].Revision() != c.savedRev[i] {
			c.saved[i], c.savedRev[i] = c.nodes[i].Snapshot(), c.nodes[i].Revision()
		}
		return c.ids[i] + " saves its members"
	default:
		c.gen[i] += int64(1 + c.r.IntN(3))
		st := c.nodes[i].RingStatus(c.ids[i])
		c.nodes[i] = New(DefaultConfig(), c.ids[i], c.gen[i], map[string]string{KeyClusterAddr: "addr-" + c.ids[i], KeyStatus: st})
		c.nodes[i].Load(c.saved[i])
		c.savedRev[i] = 0
		return c.ids[i] + " restarts from its saved members"
	}
}

// whole checks that every node's view of each member of the member's own
// generation holds every entry up to the version it claims (its digest):
// a peer sends a node only the entries newer than that, so a gap below it
// is never filled.
func (c *simCluster) whole() error {
	for a, viewer := range c.nodes {
		for b := range c.nodes {
			if a == b {
				continue
			}
			owner := c.nodes[b].members[c.ids[b]]
			m, ok := viewer.members[c.ids[b]]
			if !ok || m.Generation != owner.Generation {
				continue
			}
			for k, e := range owner.App {
				if e.Version <= m.MaxVersion() && m.App[k].Version != e.Version {
					return fmt.Errorf("%s claims %s's state up to version %d but has %s=%+v; %s has %+v",
						c.ids[a], c.ids[b], m.MaxVersion(), k, m.App[k], c.ids[b], e)
				}
			}
		}
	}
	return nil
}

// Gossip keeps every view whole while messages are delayed, reordered and
// lost and nodes restart from stale saved members, and converges once the
// network is calm.
func TestGossipViewsStayWholeUnderDelaysAndRestarts(t *testing.T) {
	for seed := range uint64(2000) {
		c := newSimCluster(seed, 3+int(seed%2))
		var steps []string
		for range 400 {
			steps = append(steps, c.step())
			if err := c.whole(); err != nil {
				t.Fatalf("seed %d: %v\nlast steps:\n  %s", seed, err, joinLast(steps, 12))
			}
		}
		// Calm: every message arrives, and every pair exchanges.
		for len(c.inflight) > 0 {
			c.deliver(0)
		}
		for range 3 {
			for i := range c.nodes {
				for j := range c.nodes {
					if i != j {
						exchange(c.nodes[i], c.nodes[j], c.now)
					}
				}
			}
		}
		if err := converged(c.nodes); err != nil {
			t.Fatalf("seed %d: not converged after calm rounds: %v", seed, err)
		}
		if err := c.whole(); err != nil {
			t.Fatalf("seed %d: after calm rounds: %v", seed, err)
		}
	}
}

func joinLast(s []string, n int) string {
	return strings.Join(s[max(0, len(s)-n):], "\n  ")
}

// A delta is taken only onto a state it reaches; a whole state always.
func TestApplyTakesADeltaOnlyOntoAStateItReaches(t *testing.T) {
	owner := newNode("b", 7) // versions 1-3: cluster_addr, started, status
	owner.Tick()             // 4
	owner.Set(KeyStatus, RingLeaving)
	owner.Tick() // 6
	whole, _ := owner.Node("b")
	for _, tc := range []struct {
		rule    string
		known   int // how many of owner's versions the viewer holds first; -1: it does not know b
		gen     int64
		since   uint64
		takesIt bool
	}{
		{"a whole state of an unknown member is taken", -1, 7, 0, true},
		{"a delta of an unknown member is not: it lacks the older entries", -1, 7, 4, false},
		{"a delta of a newer generation is not", 3, 8, 4, false},
		{"a delta that starts at or below what the viewer holds is taken", 4, 7, 4, true},
		{"a delta that starts above what the viewer holds is not: the entries between would be skipped", 3, 7, 4, false},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			viewer := newNode("a", 1)
			if tc.known >= 0 {
				first := whole.clone()
				first.Heartbeat = 0
				for k, v := range first.App {
					if v.Version > uint64(tc.known) {
						delete(first.App, k)
					}
				}
				if tc.known >= 4 {
					first.Heartbeat = 4
				}
				viewer.Apply([]NodeState{first}, t0)
			}
			st := whole.clone()
			if tc.since > 0 {
				st = whole.since(tc.since)
			}
			st.Generation = tc.gen
			viewer.Apply([]NodeState{st}, t0)
			got, _ := viewer.Get("b", KeyStatus)
			if took := got == RingLeaving; took != tc.takesIt {
				t.Fatalf("took the state: %v, want %v (b's status at a: %q)", took, tc.takesIt, got)
			}
		})
	}
}
