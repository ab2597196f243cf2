package membership

import (
	"slices"
	"testing"
	"time"
)

// scripted is a Rand whose draws are given: IntN always picks index pick
// (mod n), Float64 returns coin.
type scripted struct {
	pick int
	coin float64
}

func (r scripted) IntN(n int) int   { return r.pick % n }
func (r scripted) Float64() float64 { return r.coin }

// roundCluster is node a's view: ups are heard from every second until
// now; downs and lefts were loaded from disk and never heard (down until
// heard); lefts have left the ring.
func roundCluster(ups, downs, lefts []string) (*State, time.Time) {
	a := newNode("a", 1)
	var saved []NodeState
	for _, id := range downs {
		saved = append(saved, newNode(id, 1).Snapshot()...)
	}
	for _, id := range lefts {
		n := newNode(id, 1)
		n.Set(KeyStatus, RingLeft)
		saved = append(saved, n.Snapshot()...)
	}
	a.Load(saved)
	now := t0
	peers := map[string]*State{}
	for _, id := range ups {
		peers[id] = newNode(id, 1)
	}
	for range 10 {
		for _, p := range peers {
			p.Tick()
			a.Apply(p.Snapshot(), now)
		}
		now = now.Add(time.Second)
	}
	return a, now.Add(-time.Second)
}

func TestRoundTargets(t *testing.T) {
	for _, tc := range []struct {
		rule              string
		ups, downs, lefts []string
		seeds             []string
		rng               scripted
		want              []string
	}{
		{rule: "a reachable member each round; no seed when the coin says no", ups: []string{"b", "c"}, seeds: []string{"s1"},
			rng: scripted{pick: 1, coin: 0.9}, want: []string{"addr-c"}},
		{rule: "a seed with probability 1/(reachable+1)", ups: []string{"b", "c"}, seeds: []string{"s1"},
			rng: scripted{pick: 0, coin: 0.3}, want: []string{"addr-b", "s1"}},
		{rule: "a down member with probability down/(reachable+1)", ups: []string{"b"}, downs: []string{"d"},
			rng: scripted{pick: 0, coin: 0.4}, want: []string{"addr-b", "addr-d"}},
		{rule: "no down member when the coin is above down/(reachable+1)", ups: []string{"b"}, downs: []string{"d"},
			rng: scripted{pick: 0, coin: 0.6}, want: []string{"addr-b"}},
		{rule: "nothing reachable: a down member and a seed, never this node's own address", downs: []string{"d"}, seeds: []string{"addr-a", "s2"},
			rng: scripted{pick: 0, coin: 0.99}, want: []string{"addr-d", "s2"}},
		{rule: "members that left are never gossiped with", lefts: []string{"l"}, rng: scripted{pick: 0, coin: 0}, want: nil},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			a, now := roundCluster(tc.ups, tc.downs, tc.lefts)
			if got := a.RoundTargets(now, tc.seeds, tc.rng); !slices.Equal(got, tc.want) {
				t.Fatalf("targets %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLiveTarget(t *testing.T) {
	a, now := roundCluster([]string{"b"}, []string{"d"}, []string{"l"})
	if got, ok := a.LiveTarget(now, scripted{pick: 5}); !ok || got != "addr-b" {
		t.Fatalf("live target %q %v, want addr-b (the only live member)", got, ok)
	}
	alone, now := roundCluster(nil, []string{"d"}, nil)
	if got, ok := alone.LiveTarget(now, scripted{}); ok {
		t.Fatalf("a node with no live member pushes to %q", got)
	}
}

func TestAnswerSyn(t *testing.T) {
	ids := func(states []NodeState) []string {
		var out []string
		for _, s := range states {
			out = append(out, s.ID)
		}
		return out
	}
	a, _ := roundCluster([]string{"b"}, nil, nil) // a knows itself and b (generation 1, normal)
	for _, tc := range []struct {
		rule          string
		from          string
		digests       []Digest
		newcomer      bool
		send, request []string
		senderWas     string
	}{
		{rule: "a member sends what the peer lacks and asks for what it lacks", from: "c",
			digests: []Digest{{ID: "c", Generation: 1, MaxVersion: 3}}, send: []string{"a", "b"}, request: []string{"c"}},
		{rule: "a newcomer sends no state of its own and asks for nothing", from: "c", newcomer: true,
			digests: []Digest{{ID: "c", Generation: 1, MaxVersion: 3}}, send: []string{"b"}},
		{rule: "a peer back under a new generation is told its earlier ring status", from: "b",
			digests: []Digest{{ID: "b", Generation: 2}}, send: []string{"a"}, request: []string{"b"}, senderWas: RingNormal},
		{rule: "a newcomer knows no peer's earlier ring status", from: "b", newcomer: true,
			digests: []Digest{{ID: "b", Generation: 2}}, send: nil},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			ans := a.AnswerSyn(tc.from, tc.digests, tc.newcomer)
			var req []string
			for _, d := range ans.Requests {
				req = append(req, d.ID)
			}
			if !slices.Equal(ids(ans.Send), tc.send) || !slices.Equal(req, tc.request) || ans.SenderWas != tc.senderWas || ans.SenderNew != tc.newcomer {
				t.Fatalf("answer sends %v, asks %v, sender was %q, new %v; want %v, %v, %q, %v",
					ids(ans.Send), req, ans.SenderWas, ans.SenderNew, tc.send, tc.request, tc.senderWas, tc.newcomer)
			}
		})
	}
}
