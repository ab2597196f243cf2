package pace

import (
	"testing"
	"time"
)

// take is one Take: of n units at t0+at, and the wait it must return.
type take struct {
	at   time.Duration
	n    int
	wait time.Duration
}

func TestPacer(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := time.Millisecond
	for _, tc := range []struct {
		rule  string
		p     *Pacer
		takes []take
	}{
		{"the first units go at once, the next wait their share", New(100), []take{{0, 1, 0}, {0, 1, 10 * ms}, {0, 5, 20 * ms}, {0, 1, 70 * ms}}},
		{"time not used is not saved up: no burst after idling", New(100), []take{{0, 1, 0}, {time.Second, 1, 0}, {time.Second, 1, 10 * ms}}},
		{"a unit that comes late goes at once", New(10), []take{{0, 2, 0}, {150 * ms, 1, 50 * ms}, {400 * ms, 1, 0}}},
		{"unbounded never waits", New(0), []take{{0, 1000, 0}, {0, 1000, 0}}},
		{"one unit per gap", Every(50 * ms), []take{{0, 1, 0}, {10 * ms, 1, 40 * ms}}},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			for i, tk := range tc.takes {
				if got := tc.p.Take(t0.Add(tk.at), tk.n); got != tk.wait {
					t.Fatalf("take %d (%d units at +%v): wait %v, want %v", i+1, tk.n, tk.at, got, tk.wait)
				}
			}
		})
	}
	p0 := New(100)
	if p0.Take(t0, 1); p0.Due(t0) != 10*ms || p0.Due(t0.Add(4*ms)) != 6*ms || p0.Due(t0.Add(20*ms)) != 0 || p0.Due(t0) != 10*ms {
		t.Fatal("Due does not say when the next unit may go, or takes one")
	}
	stop := make(chan struct{})
	close(stop)
	p := New(1)
	p.Take(time.Now(), 1)
	if p.Wait(1, stop) {
		t.Fatal("a wait went on after stop closed")
	}
}

// Wait sleeps until its units are due, and not through a stop.
func TestWait(t *testing.T) {
	const perSecond = 50
	p := New(perSecond)
	stop := make(chan struct{})
	start := time.Now()
	for range 3 {
		if !p.Wait(1, stop) {
			t.Fatal("stopped")
		}
	}
	if took, least := time.Since(start), 2*time.Second/perSecond; took < least {
		t.Fatalf("three units in %v, at least %v apart in all", took, least)
	}
	slow := New(1) // a second between units: the stop comes first
	if !slow.Wait(1, stop) {
		t.Fatal("stopped")
	}
	close(stop)
	if slow.Wait(1, stop) {
		t.Fatal("a pacer waited through a stop")
	}
	if unbounded := New(0); !unbounded.Wait(1, nil) || !unbounded.Wait(1, nil) {
		t.Fatal("an unbounded pacer waited")
	}
}
