package hlc

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func newClock(t *testing.T, node string) *Clock {
	t.Helper()
	c, err := NewClock(node, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewClockRefuses(t *testing.T) {
	tests := []struct {
		name string
		node string
		cfg  Config
	}{
		{"empty node id", "", DefaultConfig()},
		{"node id longer than the limit", string(make([]byte, MaxNodeLen+1)), DefaultConfig()},
		{"no forward drift", "n", Config{}},
		{"negative forward drift", "n", Config{MaxForwardDrift: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewClock(tt.node, tt.cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// The clock's rules: each row starts a clock at a state, may have it
// observe a received stamp, then issues one stamp.
func TestClockRules(t *testing.T) {
	const minute = int64(time.Minute)
	drift := int64(DefaultMaxForwardDrift)
	const years = 10 * 365 * 24 * int64(time.Hour)
	tests := []struct {
		name     string
		wall     int64
		logical  uint32
		recv     *Timestamp // nil: nothing received
		physical int64
		wantErr  error
		want     Timestamp
	}{
		{"first stamp takes physical time", 0, 0, nil, t0, nil, Timestamp{t0, 0, "n"}},
		{"physical time advances: wall takes it, logical resets", t0, 5, nil, t0 + 1, nil, Timestamp{t0 + 1, 0, "n"}},
		{"physical time stands still: logical advances", t0, 5, nil, t0, nil, Timestamp{t0, 6, "n"}},
		{"physical time went backwards: wall stays, logical advances", t0, 5, nil, t0 - minute, nil, Timestamp{t0, 6, "n"}},
		{"logical overflow carries into wall", t0, math.MaxUint32, nil, t0, nil, Timestamp{t0 + 1, 0, "n"}},
		{"received stamp ahead: local clock jumps to it", t0, 0, &Timestamp{t0 + minute, 7, "b"}, t0, nil, Timestamp{t0 + minute, 8, "n"}},
		{"received stamp at the same wall, higher logical: logical passes it", t0, 2, &Timestamp{t0, 9, "b"}, t0, nil, Timestamp{t0, 10, "n"}},
		{"received stamp behind: clock unchanged", t0, 5, &Timestamp{t0 - minute, 9, "b"}, t0, nil, Timestamp{t0, 6, "n"}},
		{"received stamp at logical maximum: next stamp carries into wall", t0, 0, &Timestamp{t0 + minute, math.MaxUint32, "b"}, t0, nil, Timestamp{t0 + minute + 1, 0, "n"}},
		{"received stamp exactly max drift ahead: accepted", t0, 0, &Timestamp{t0 + drift, 0, "b"}, t0, nil, Timestamp{t0 + drift, 1, "n"}},
		{"received stamp beyond max drift: refused, clock unchanged", t0, 5, &Timestamp{t0 + drift + 1, 0, "b"}, t0, ErrTooFarAhead, Timestamp{t0, 6, "n"}},
		{"received stamp years ahead: refused, clock unchanged", t0, 5, &Timestamp{t0 + years, 0, "b"}, t0, ErrTooFarAhead, Timestamp{t0, 6, "n"}},
		{"received stamp without node id: refused", t0, 5, &Timestamp{t0 + minute, 0, ""}, t0, ErrInvalid, Timestamp{t0, 6, "n"}},
		{"received stamp before 1970: refused", t0, 5, &Timestamp{-1, 0, "b"}, t0, ErrInvalid, Timestamp{t0, 6, "n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock(t, "n")
			c.wall, c.logical = tt.wall, tt.logical
			if tt.recv != nil {
				if err := c.Observe(*tt.recv, tt.physical); !errors.Is(err, tt.wantErr) {
					t.Fatalf("Observe(%v) = %v, want %v", *tt.recv, err, tt.wantErr)
				}
			}
			if got := c.Now(tt.physical); got != tt.want {
				t.Fatalf("Now = %#v, want %#v", got, tt.want)
			}
		})
	}
}

// hybridAfter reports whether a's hybrid time (wall, logical) is after b's.
func hybridAfter(a, b Timestamp) bool {
	return a.Wall > b.Wall || (a.Wall == b.Wall && a.Logical > b.Logical)
}

// A clock's stamps only go up, past everything it observed, whatever
// physical time does and whatever it receives.
func TestClockIsMonotonic(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	drift := int64(DefaultMaxForwardDrift)
	for round := 0; round < 100; round++ {
		c := newClock(t, "n")
		physical := t0
		var highest Timestamp // highest hybrid time issued or observed
		for i := 0; i < 200; i++ {
			physical += r.Int64N(int64(time.Second)) - int64(time.Second)/2 // steps back as often as forward
			switch r.IntN(3) {
			case 0:
				ts := Timestamp{Wall: physical + r.Int64N(2*drift) - drift/2, Logical: uint32(r.IntN(3)), Node: "b"}
				if r.IntN(10) == 0 {
					ts.Logical = math.MaxUint32
				}
				before := *c
				err := c.Observe(ts, physical)
				switch {
				case err == nil && ts.Wall-physical > drift:
					t.Fatalf("observed %v at %d, beyond max drift", ts, physical)
				case err != nil && (ts.Wall-physical <= drift || *c != before):
					t.Fatalf("observe %v at %d: %v; clock %+v, was %+v", ts, physical, err, *c, before)
				case err == nil && hybridAfter(ts, highest):
					highest = ts
				}
			default:
				ts := c.Now(physical)
				if !hybridAfter(ts, highest) {
					t.Fatalf("Now = %v, not above %v", ts, highest)
				}
				if ts.Wall < physical {
					t.Fatalf("Now = %v, behind physical time %d", ts, physical)
				}
				highest = ts
			}
		}
	}
}

// skewedNode is a node whose physical clock reads real time plus offset.
type skewedNode struct {
	clock  *Clock
	offset int64
}

func (n skewedNode) physical(real int64) int64 { return real + n.offset }

// A write made after reading another, with the read stamp in its context,
// wins through any node, its clock minutes ahead of or behind the clock of
// the node that stamped what it read.
func TestWriteAfterReadWinsDespiteSkew(t *testing.T) {
	const ms = int64(time.Millisecond)
	for _, skew := range []time.Duration{-4 * time.Minute, -time.Minute, -time.Nanosecond, 0, time.Nanosecond, time.Minute, 4 * time.Minute} {
		t.Run(skew.String(), func(t *testing.T) {
			a := skewedNode{newClock(t, "a"), 0}
			b := skewedNode{newClock(t, "b"), int64(skew)}
			read := a.clock.Now(a.physical(t0))
			// The client writes through b a millisecond after it read.
			write, err := b.clock.After(read, b.physical(t0+ms))
			if err != nil {
				t.Fatal(err)
			}
			if Compare(write, read) <= 0 {
				t.Fatalf("write %v made after reading %v does not win", write, read)
			}
		})
	}
}

// Why the context carries the stamp: a blind write through a node whose
// clock is behind, and which has not yet received the earlier write, loses
// to it. Once the node has received it (as a replica, by read repair, hint
// or anti-entropy), its later stamps are above it even for blind writes.
func TestBlindWriteDependsOnWhatTheNodeReceived(t *testing.T) {
	a := skewedNode{newClock(t, "a"), 0}
	b := skewedNode{newClock(t, "b"), -int64(4 * time.Minute)}
	first := a.clock.Now(a.physical(t0))
	real := t0 + int64(time.Second)
	if blind := b.clock.Now(b.physical(real)); Compare(blind, first) >= 0 {
		t.Fatalf("blind write %v through a node 4 minutes behind beat %v", blind, first)
	}
	if err := b.clock.Observe(first, b.physical(real)); err != nil {
		t.Fatal(err)
	}
	if blind := b.clock.Now(b.physical(real)); Compare(blind, first) <= 0 {
		t.Fatalf("blind write %v through a node that received %v does not beat it", blind, first)
	}
}

// A client whose writes go through different nodes passes each write the
// stamp its previous write returned: every write beats the one before,
// with clocks minutes apart, while other clients write and replicas
// exchange stamps at random.
func TestLaterWriteFromSameClientWins(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const spread = int64(2 * time.Minute) // offsets in ±spread: clocks up to 4 minutes apart
	for round := 0; round < 100; round++ {
		nodes := make([]skewedNode, 3)
		for i := range nodes {
			nodes[i] = skewedNode{newClock(t, string(rune('a'+i))), r.Int64N(2*spread+1) - spread}
		}
		real := t0
		var last Timestamp // what the client's previous write returned
		for i := 0; i < 50; i++ {
			real += r.Int64N(int64(10 * time.Millisecond))
			n := nodes[r.IntN(len(nodes))]
			switch r.IntN(3) {
			case 0: // the client writes
				ts, err := n.clock.After(last, n.physical(real))
				if err != nil {
					t.Fatal(err)
				}
				if Compare(ts, last) <= 0 {
					t.Fatalf("round %d: write %v after %v from the same client does not win", round, ts, last)
				}
				last = ts
			case 1: // another client writes blind and a replica receives it
				ts := n.clock.Now(n.physical(real))
				m := nodes[r.IntN(len(nodes))]
				if err := m.clock.Observe(ts, m.physical(real)); err != nil {
					t.Fatal(err)
				}
			case 2: // a replica receives the client's last write late
				if !last.IsZero() {
					if err := n.clock.Observe(last, n.physical(real)); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
}

// A context stamp further ahead than MaxForwardDrift (a node whose clock
// is misset by more) is refused: the write fails rather than be stamped
// below what it follows, and the clock stays where it was.
func TestAfterRefusesContextBeyondDrift(t *testing.T) {
	a := skewedNode{newClock(t, "a"), int64(10 * time.Minute)}
	b := skewedNode{newClock(t, "b"), 0}
	read := a.clock.Now(a.physical(t0))
	before := b.clock.Now(b.physical(t0))
	if ts, err := b.clock.After(read, b.physical(t0)); !errors.Is(err, ErrTooFarAhead) {
		t.Fatalf("After(%v) = %v, %v; want ErrTooFarAhead", read, ts, err)
	}
	if next := b.clock.Now(b.physical(t0)); next.Wall != before.Wall || next.Logical != before.Logical+1 {
		t.Fatalf("refused context moved the clock: %v after %v", next, before)
	}
}

func TestAfterWithoutContextIsNow(t *testing.T) {
	c := newClock(t, "n")
	if ts, err := c.After(Timestamp{}, t0); err != nil || ts != (Timestamp{t0, 0, "n"}) {
		t.Fatalf("After(no stamp) = %v, %v", ts, err)
	}
}

// JustAfter wins over the stamp it follows and loses to any write stamped
// later by any clock, even the one that issued it; it carries at the
// logical maximum and refuses what Observe refuses.
func TestJustAfterWinsOnlyOverWhatItFollows(t *testing.T) {
	a, b := newClock(t, "a"), newClock(t, "b")
	found := a.Now(t0)
	del, err := b.JustAfter(found, t0+int64(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if Compare(del, found) <= 0 || del.Node != "b" {
		t.Fatalf("JustAfter(%v) = %v: not above it, or not b's", found, del)
	}
	if later := a.Now(t0 + 1); Compare(later, del) <= 0 {
		t.Fatalf("a write after the one found (%v) loses to the deletion (%v)", later, del)
	}
	if mine := b.Now(t0 + int64(time.Second)); Compare(mine, del) <= 0 {
		t.Fatalf("b's next write %v is not above its deletion %v", mine, del)
	}
	top := Timestamp{Wall: t0, Logical: math.MaxUint32, Node: "a"}
	if got, err := b.JustAfter(top, t0); err != nil || got != (Timestamp{Wall: t0 + 1, Node: "b"}) {
		t.Fatalf("JustAfter(%v) = %v, %v; want the carry", top, got, err)
	}
	if _, err := b.JustAfter(Timestamp{Wall: t0 + int64(time.Hour), Node: "a"}, t0); !errors.Is(err, ErrTooFarAhead) {
		t.Fatalf("JustAfter of a stamp an hour ahead: %v", err)
	}
}
