package membership

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Unix(1000, 0)

func newNode(id string, gen int64) *State {
	return New(DefaultConfig(), id, gen, map[string]string{KeyClusterAddr: "addr-" + id, KeyStatus: "normal"})
}

// exchange runs one three-step gossip exchange from a to b.
func exchange(a, b *State, now time.Time) {
	send, request := b.Syn(a.Digests()) // a -> b: SYN; b computes its ACK
	a.Apply(send, now)                  // b -> a: ACK (states)
	b.Apply(a.Delta(request), now)      // a -> b: ACK2 (what b asked for)
}

func converged(states []*State) error {
	want := states[0].Digests()
	for _, s := range states[1:] {
		if got := s.Digests(); !slices.Equal(got, want) {
			return fmt.Errorf("%s has %v, %s has %v", states[0].Self(), want, s.Self(), got)
		}
	}
	return nil
}

func TestReconciliationConverges(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for trial := 0; trial < 50; trial++ {
		var nodes []*State
		for i, n := 0, 2+r.IntN(8); i < n; i++ {
			nodes = append(nodes, newNode(fmt.Sprint("n", i), 1))
		}
		now := t0
		// Everyone knows only n0 (the seed) at first.
		for _, n := range nodes[1:] {
			exchange(n, nodes[0], now)
		}
		for round := 0; round < 40; round++ {
			now = now.Add(time.Second)
			for _, n := range nodes {
				n.Tick()
				if r.IntN(5) == 0 {
					n.Set("load", fmt.Sprint(round))
				}
				exchange(n, nodes[r.IntN(len(nodes))], now)
			}
		}
		// Quiet rounds without new versions: must converge exactly.
		for round := 0; round < 20; round++ {
			for _, n := range nodes {
				exchange(n, nodes[r.IntN(len(nodes))], now)
			}
		}
		if err := converged(nodes); err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		for _, n := range nodes {
			if len(n.IDs()) != len(nodes) {
				t.Fatalf("%s knows %v", n.Self(), n.IDs())
			}
		}
	}
}

func TestSynSendsOnlyWhatIsMissing(t *testing.T) {
	a, b := newNode("a", 1), newNode("b", 1)
	exchange(a, b, t0)
	exchange(a, b, t0)
	send, request := b.Syn(a.Digests())
	if len(send) != 0 || len(request) != 0 {
		t.Fatalf("identical views still exchange %v / %v", send, request)
	}
	a.Set("x", "1")
	send, request = b.Syn(a.Digests())
	if len(send) != 0 || len(request) != 1 || request[0].ID != "a" {
		t.Fatalf("b should request a's newer entries only: %v %v", send, request)
	}
	delta := a.Delta(request)
	if len(delta) != 1 || len(delta[0].App) != 1 || delta[0].App["x"].Value != "1" || delta[0].Heartbeat != 0 {
		t.Fatalf("delta carries more than the new entry: %+v", delta)
	}
	ev := b.Apply(delta, t0)
	if len(ev) != 1 || ev[0] != (Event{Kind: EventStateChanged, Node: "a", Key: "x", Value: "1"}) {
		t.Fatalf("events %v", ev)
	}
}

func TestRestartReplacesStateAndOldGenerationsAreIgnored(t *testing.T) {
	a, b := newNode("a", 1), newNode("b", 1)
	b.Set("old", "yes")
	exchange(a, b, t0)
	b2 := newNode("b", 2) // b restarted: new generation, versions start over
	b2.Tick()
	ev := a.Apply(b2.Snapshot(), t0.Add(time.Second))
	if len(ev) == 0 || ev[0].Kind != EventRestarted {
		t.Fatalf("events %v", ev)
	}
	if _, ok := a.Get("b", "old"); ok {
		t.Fatal("state of the old generation survived the restart")
	}
	a.Apply(b.Snapshot(), t0.Add(2*time.Second)) // a late message from the old process
	if n, _ := a.Node("b"); n.Generation != 2 {
		t.Fatal("an older generation replaced a newer one")
	}
}

func TestLivenessAndEvents(t *testing.T) {
	a, b := newNode("a", 1), newNode("b", 1)
	now := t0
	heartbeat := func() {
		b.Tick()
		a.Apply(b.Snapshot(), now)
	}
	for i := 0; i < 10; i++ {
		heartbeat()
		now = now.Add(time.Second)
	}
	ev := a.Evaluate(now)
	if !slices.Contains(ev, Event{Kind: EventUp, Node: "b"}) {
		t.Fatalf("events %v", ev)
	}
	steps := []struct {
		name string
		do   func()
		at   time.Duration // after the last heartbeat
		want Status
	}{
		{"fresh", func() {}, 500 * time.Millisecond, Up},
		{"transport lost: suspect, not down", func() { a.TransportLost("addr-b") }, 600 * time.Millisecond, Suspect},
		{"a heartbeat clears the transport report", heartbeat, 100 * time.Millisecond, Up},
		{"long silence: down", func() {}, 10 * time.Second, Down},
	}
	last := now.Add(-time.Second) // the loop's last heartbeat
	for _, st := range steps {
		st.do()
		if st.name == "a heartbeat clears the transport report" {
			last = now
		}
		if got := a.Status("b", last.Add(st.at)); got != st.want {
			t.Fatalf("%s: status %s (phi %.1f), want %s", st.name, got, a.Phi("b", last.Add(st.at)), st.want)
		}
	}
	ev = a.Evaluate(last.Add(10 * time.Second))
	if !slices.Contains(ev, Event{Kind: EventDown, Node: "b"}) {
		t.Fatalf("no down event: %v", ev)
	}
	if ev := a.Evaluate(last.Add(11 * time.Second)); len(ev) != 0 {
		t.Fatalf("repeated events: %v", ev)
	}
	if a.Status("a", last.Add(time.Hour)) != Up {
		t.Fatal("self is up")
	}
}

func TestLoadedMembersAreDownUntilHeard(t *testing.T) {
	b := newNode("b", 1)
	for i := 0; i < 5; i++ {
		b.Tick()
	}
	saved := b.Snapshot()
	a2 := newNode("a", 2)
	a2.Load(saved)
	if a2.Status("b", t0) != Down || a2.HeartbeatAge("b", t0) != -1 {
		t.Fatal("a member loaded from disk is down until heard from")
	}
	if v, _ := a2.Get("b", KeyClusterAddr); v != "addr-b" {
		t.Fatal("loaded member lost its address")
	}
	b.Tick()
	a2.Apply(b.Snapshot(), t0)
	if a2.Status("b", t0.Add(time.Second)) != Up {
		t.Fatal("heard member not up")
	}
}

// The revision moves with everything worth saving and stays put while only
// heartbeats flow, so a node need not write its member list every round.
func TestRevisionIgnoresHeartbeats(t *testing.T) {
	a, b := newNode("a", 1), newNode("b", 1)
	now := t0
	step := func(what string, f func(), moves bool) {
		t.Helper()
		before := a.Revision()
		f()
		if got := a.Revision() != before; got != moves {
			t.Fatalf("%s: revision moved = %v, want %v", what, got, moves)
		}
	}
	step("b heard of", func() { exchange(a, b, now) }, true)
	for i := 0; i < 5; i++ {
		step("heartbeats", func() {
			now = now.Add(time.Second)
			a.Tick()
			b.Tick()
			exchange(a, b, now)
			exchange(b, a, now)
		}, false)
	}
	step("own value set", func() { a.Set(KeyStatus, "leaving") }, true)
	step("own hint count set", func() { a.Set(KeyHintsPending, "7") }, false)
	step("b's hint count heard", func() { b.Set(KeyHintsPending, "3"); exchange(a, b, now) }, false)
	step("b's value heard", func() { b.Set("x", "1"); exchange(a, b, now) }, true)
	step("b restarted", func() { b = newNode("b", 2); b.Tick(); exchange(a, b, now) }, true)
	step("a remembered member loaded", func() { a.Load([]NodeState{newNode("c", 1).Snapshot()[0]}) }, true)
	step("a known member loaded again", func() { a.Load([]NodeState{newNode("c", 1).Snapshot()[0]}) }, false)
}

// A member whose id no node may have (a peer's word alone) is not taken,
// heard or loaded, and the refusal is an event; valid ids still are.
func TestInvalidIDsAreIgnored(t *testing.T) {
	a := newNode("a", 1)
	for _, id := range []string{"", "b/3", "b,c", "with space", string(make([]byte, 65))} {
		bad := newNode("good", 1).Snapshot()[0]
		bad.ID = id
		ev := a.Apply([]NodeState{bad}, t0)
		if len(ev) != 1 || ev[0].Kind != EventIgnored {
			t.Errorf("id %q: events %v, want one %s", id, ev, EventIgnored)
		}
		a.Load([]NodeState{bad})
		if _, ok := a.Node(id); ok {
			t.Errorf("id %q became a member", id)
		}
	}
	if ev := a.Apply(newNode("b-2.x_y", 1).Snapshot(), t0); len(ev) == 0 || ev[0].Kind != EventJoined {
		t.Errorf("a valid id: events %v", ev)
	}
	for id, ok := range map[string]bool{"n1": true, "node-1.dc_2": true, "": false, "n/1": false, "ñ": false, "n 1": false,
		strings.Repeat("a", 64): true, strings.Repeat("a", 65): false, "Z9": true, "n,1": false} {
		if err := CheckID(id); (err == nil) != ok {
			t.Errorf("CheckID(%q) = %v", id, err)
		}
	}
}

func TestStatusLive(t *testing.T) {
	for _, tc := range []struct {
		rule   string
		status Status
		live   bool
	}{
		{"an up member takes requests", Up, true},
		{"a joining member takes the writes of its new partitions", Joining, true},
		{"a leaving member serves until it has handed everything over", Leaving, true},
		{"a suspect member is gone around until cleared or convicted", Suspect, false},
		{"a down member takes nothing", Down, false},
		{"a member that left takes nothing", Left, false},
	} {
		if got := tc.status.Live(); got != tc.live {
			t.Errorf("%s: %s.Live() = %v", tc.rule, tc.status, got)
		}
	}
}
