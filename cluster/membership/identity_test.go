package membership

import (
	"strings"
	"testing"
	"time"
)

func TestParamsMismatchNamesBothValues(t *testing.T) {
	base := Params{Partitions: 64, Replicas: 3, SecretFingerprints: []string{"aa"}}
	for _, tc := range []struct {
		name   string
		theirs Params
		want   []string // substrings; none means they agree
	}{
		{"same settings agree", base, nil},
		{"another partition count", Params{32, 3, []string{"aa"}}, []string{"--partitions: n1 has 64, n4 has 32"}},
		{"another replica count", Params{64, 2, []string{"aa"}}, []string{"--n: n1 has 3, n4 has 2"}},
		{"another secret", Params{64, 3, []string{"bb"}}, []string{"cluster secret: n1 and n4 use different ones"}},
		{"rotation, step 1: the peer also opens a new secret", Params{64, 3, []string{"aa", "bb"}}, nil},
		{"the peer seals with a new secret this node cannot open yet", Params{64, 3, []string{"bb", "aa"}}, []string{"cluster secret"}},
		{"the peer seals with a secret we cannot open", Params{64, 3, []string{"bb", "cc"}}, []string{"cluster secret"}},
		{"the peer cannot open what we seal", Params{64, 3, []string{"cc", "bb"}}, []string{"cluster secret"}},
		{"no secret at all", Params{64, 3, nil}, []string{"cluster secret"}},
		{"all three", Params{8, 1, nil}, []string{"--partitions: n1 has 64, n4 has 8", "--n: n1 has 3, n4 has 1", "cluster secret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := base.Mismatch("n1", tc.theirs, "n4")
			if (got == "") != (len(tc.want) == 0) {
				t.Fatalf("Mismatch = %q", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Fatalf("Mismatch = %q, lacks %q", got, w)
				}
			}
		})
	}
}

// Each step of a secret rotation can be rolled node by node: a node that
// has taken it and one that has not still agree.
func TestSecretRotationStepsAgreeWithTheirNeighbours(t *testing.T) {
	steps := [][]string{{"old"}, {"old", "new"}, {"new", "old"}, {"new"}}
	for i := 1; i < len(steps); i++ {
		a, b := Params{64, 3, steps[i-1]}, Params{64, 3, steps[i]}
		if m := a.Mismatch("a", b, "b"); m != "" {
			t.Errorf("%v and %v: %s", steps[i-1], steps[i], m)
		}
	}
	if m := (Params{64, 3, steps[0]}).Mismatch("a", Params{64, 3, steps[3]}, "b"); m == "" {
		t.Errorf("%v and %v agree", steps[0], steps[3])
	}
}

// Gossip-only members without a secret agree with each other, never with a
// member or node that has one.
func TestMembersWithoutSecretsAgreeOnlyWithEachOther(t *testing.T) {
	none, some := Params{}, Params{SecretFingerprints: []string{"aa"}}
	if m := none.Mismatch("a", none, "b"); m != "" {
		t.Errorf("two members without secrets: %s", m)
	}
	if none.Mismatch("a", some, "b") == "" || some.Mismatch("a", none, "b") == "" {
		t.Error("a member without a secret agrees with one that has a secret")
	}
}

func process(id string, started int64, addr string) *State {
	return New(DefaultConfig(), id, started, map[string]string{KeyClusterAddr: addr, KeyStatus: "normal"})
}

// exchangeEvents runs one gossip exchange from a to b and returns what
// each side reported.
func exchangeEvents(a, b *State, now time.Time) (atA, atB []Event) {
	send, request := b.Syn(a.Digests())
	atA = a.Apply(send, now)
	atB = b.Apply(a.Delta(request), now)
	return atA, atB
}

func kinds(events []Event) []EventKind {
	var out []EventKind
	for _, e := range events {
		switch e.Kind {
		case EventRefused, EventIdentityLost, EventReclaimed:
			out = append(out, e.Kind)
		}
	}
	return out
}

func addrOf(s *State, id string) string { v, _ := s.Get(id, KeyClusterAddr); return v }

// Two processes claiming one node id: rows name the rules.
func TestTwoProcessesClaimingOneID(t *testing.T) {
	beat := func(now time.Time, nodes ...*State) {
		for _, n := range nodes {
			n.Tick()
		}
		for i := range nodes {
			for j := range nodes {
				if i != j {
					exchangeEvents(nodes[i], nodes[j], now)
				}
			}
		}
	}
	setup := func() (real, peer *State, now time.Time) {
		real, peer = process("n1", 100, "addr-real"), process("n2", 50, "addr-n2")
		now = t0
		for i := 0; i < 5; i++ {
			now = now.Add(time.Second)
			beat(now, real, peer)
		}
		return real, peer, now
	}

	t.Run("a later process at another address is refused while the holder is alive", func(t *testing.T) {
		_, peer, now := setup()
		impostor := process("n1", 200, "addr-impostor")
		atImpostor, atPeer := exchangeEvents(impostor, peer, now)
		if got := kinds(atPeer); len(got) != 1 || got[0] != EventRefused {
			t.Fatalf("peer reported %v, want one refusal", atPeer)
		}
		if addrOf(peer, "n1") != "addr-real" {
			t.Fatalf("peer routes n1 to %s", addrOf(peer, "n1"))
		}
		if len(kinds(atImpostor)) != 0 {
			t.Fatalf("impostor reported %v", atImpostor)
		}
	})

	t.Run("a restart at the same address is no conflict, even before the old process is down", func(t *testing.T) {
		_, peer, now := setup()
		restarted := process("n1", 300, "addr-real")
		_, atPeer := exchangeEvents(restarted, peer, now)
		if len(kinds(atPeer)) != 0 {
			t.Fatalf("peer reported %v", atPeer)
		}
		if st, _ := peer.Node("n1"); st.Generation != 300 {
			t.Fatalf("peer keeps generation %d", st.Generation)
		}
	})

	t.Run("a restart at the same address with the clock stepped back raises its generation above the old one", func(t *testing.T) {
		_, peer, now := setup()
		restarted := process("n1", 40, "addr-real") // the clock is behind the first start (100)
		atRestarted, _ := exchangeEvents(restarted, peer, now)
		if len(atRestarted) == 0 || atRestarted[0].Kind != EventGenerationRaised || restarted.Generation() <= 100 {
			t.Fatalf("restarted n1 reported %v at generation %d, want its generation raised above 100", atRestarted, restarted.Generation())
		}
		if got := peer.RingStatusBefore("n1", 40); got != RingNormal {
			t.Fatalf("the peer's record of n1 before the restart at generation 40: %q, want normal", got)
		}
		exchangeEvents(restarted, peer, now)
		if st, _ := peer.Node("n1"); st.Generation != restarted.Generation() {
			t.Fatalf("peer keeps generation %d, want the raised %d", st.Generation, restarted.Generation())
		}
	})

	t.Run("the id moves to another address once its holder is down", func(t *testing.T) {
		_, peer, now := setup()
		later := now.Add(time.Minute)
		if peer.Status("n1", later) != Down {
			t.Fatalf("n1 is %s a minute after its last heartbeat", peer.Status("n1", later))
		}
		moved := process("n1", 200, "addr-moved")
		_, atPeer := exchangeEvents(moved, peer, later)
		if len(kinds(atPeer)) != 0 || addrOf(peer, "n1") != "addr-moved" {
			t.Fatalf("peer reported %v and routes n1 to %s", atPeer, addrOf(peer, "n1"))
		}
	})

	t.Run("the process that started first takes its id back; the later one loses it", func(t *testing.T) {
		real, peer, now := setup()
		// The holder froze, the peer convicted it, and a second process
		// took the id.
		now = now.Add(time.Minute)
		impostor := process("n1", 200, "addr-impostor")
		exchangeEvents(impostor, peer, now)
		if addrOf(peer, "n1") != "addr-impostor" {
			t.Fatalf("peer routes n1 to %s", addrOf(peer, "n1"))
		}
		beat(now, impostor, peer)
		// The holder wakes up and hears of the other process.
		atReal, _ := exchangeEvents(real, peer, now)
		if got := kinds(atReal); len(got) != 1 || got[0] != EventReclaimed {
			t.Fatalf("real n1 reported %v, want a reclaim", atReal)
		}
		if real.Generation() <= 200 {
			t.Fatalf("real n1's generation %d is not above the impostor's", real.Generation())
		}
		// Its next exchange wins the peer back, although the other
		// process is alive: the real one started first.
		_, atPeer := exchangeEvents(real, peer, now)
		if len(kinds(atPeer)) != 0 || addrOf(peer, "n1") != "addr-real" {
			t.Fatalf("peer reported %v and routes n1 to %s", atPeer, addrOf(peer, "n1"))
		}
		atImpostor, atPeer := exchangeEvents(impostor, peer, now)
		if got := kinds(atImpostor); len(got) != 1 || got[0] != EventIdentityLost {
			t.Fatalf("impostor reported %v, want identity lost", atImpostor)
		}
		if !strings.Contains(atImpostor[0].Value, "addr-real") {
			t.Fatalf("reason %q does not name the holder's address", atImpostor[0].Value)
		}
		if addrOf(peer, "n1") != "addr-real" {
			t.Fatalf("peer routes n1 to %s after the impostor's exchange (%v)", addrOf(peer, "n1"), atPeer)
		}
	})

	t.Run("a delta of this node's own state, relayed back, changes nothing", func(t *testing.T) {
		// A peer that heard this node's newer versions through a third
		// node answers an older digest with a delta: the same generation,
		// only the newer entries, no address. The nemesis suite found the
		// node taking such a delta for another process's claim.
		real, _, now := setup()
		before := real.Generation()
		delta := NodeState{ID: "n1", Generation: before, Heartbeat: 1 << 20, App: map[string]Versioned{KeyHintsPending: {Value: "3", Version: 1 << 20}}}
		if atReal := real.Apply([]NodeState{delta}, now); len(kinds(atReal)) != 0 || real.Generation() != before {
			t.Fatalf("real n1 reported %v, generation %d -> %d", atReal, before, real.Generation())
		}
		newer := delta
		newer.Generation++
		if atReal := real.Apply([]NodeState{newer}, now); len(kinds(atReal)) != 0 || real.Generation() != before {
			t.Fatalf("a newer state without an address: real n1 reported %v, generation %d -> %d", atReal, before, real.Generation())
		}
	})

	t.Run("gossip of an older generation from another address changes nothing", func(t *testing.T) {
		real, _, now := setup()
		stale := process("n1", 10, "addr-stale")
		before := real.Generation()
		atReal := real.Apply(stale.Snapshot(), now)
		if len(kinds(atReal)) != 0 || real.Generation() != before {
			t.Fatalf("real n1 reported %v, generation %d -> %d", atReal, before, real.Generation())
		}
	})

	t.Run("a refusal is checked against the holder's state the peer sends", func(t *testing.T) {
		impostor := process("n1", 200, "addr-impostor")
		holder, _ := process("n1", 100, "addr-real").Node("n1")
		if e, ok := impostor.Refused(holder); !ok || e.Kind != EventIdentityLost {
			t.Fatalf("a holder that started first: %v %v, want identity lost", e, ok)
		}
		// A peer cannot make the first process give its id up.
		real := process("n1", 100, "addr-real")
		later, _ := process("n1", 200, "addr-impostor").Node("n1")
		if e, ok := real.Refused(later); ok && e.Kind == EventIdentityLost {
			t.Fatalf("the first process gave its id up to one that started later: %v", e)
		}
		sameAddr, _ := process("n1", 50, "addr-impostor").Node("n1")
		if e, ok := impostor.Refused(sameAddr); ok {
			t.Fatalf("a holder at this node's own address: %v", e)
		}
	})
}
