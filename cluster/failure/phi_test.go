package failure

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Unix(10_000, 0)

func TestPhiGrowsWithSilence(t *testing.T) {
	d := NewDetector(DefaultConfig())
	if !math.IsInf(d.Phi(t0), 1) || d.Available(t0) {
		t.Fatal("a peer never heard from is not available")
	}
	now := t0
	for i := 0; i < 30; i++ {
		d.Heartbeat(now)
		now = now.Add(time.Second)
	}
	last := now.Add(-time.Second)
	prev := -1.0
	for _, wait := range []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second, 6 * time.Second, 10 * time.Second, time.Minute} {
		p := d.Phi(last.Add(wait))
		if p < prev {
			t.Fatalf("phi fell from %.2f to %.2f at %v", prev, p, wait)
		}
		prev = p
	}
	tests := []struct {
		wait      time.Duration
		available bool
	}{
		{time.Second, true},
		{3 * time.Second, true},
		{4 * time.Second, true},
		{7 * time.Second, false},
		{10 * time.Second, false},
	}
	for _, tt := range tests {
		if got := d.Available(last.Add(tt.wait)); got != tt.available {
			t.Errorf("after %v of silence: available=%v (phi %.2f), want %v", tt.wait, got, d.Phi(last.Add(tt.wait)), tt.available)
		}
	}
}

// Heartbeats that arrive with realistic gossip jitter (0.2–2.5 s apart, as
// when they travel through other nodes) never cross the threshold.
func TestNoFalsePositiveUnderJitter(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	d := NewDetector(DefaultConfig())
	now := t0
	for i := 0; i < 5000; i++ {
		d.Heartbeat(now)
		gap := 200*time.Millisecond + time.Duration(r.Int64N(int64(2300*time.Millisecond)))
		// Check just before the next heartbeat, the worst moment.
		if !d.Available(now.Add(gap - time.Millisecond)) {
			t.Fatalf("false positive at heartbeat %d after a %v gap (phi %.2f)", i, gap, d.Phi(now.Add(gap)))
		}
		now = now.Add(gap)
	}
}

func TestWindowForgetsOldIntervals(t *testing.T) {
	cfg := DefaultConfig()
	cfg.WindowSize = 10
	d := NewDetector(cfg)
	now := t0
	for i := 0; i < 10; i++ { // slow peer: 5 s apart
		d.Heartbeat(now)
		now = now.Add(5 * time.Second)
	}
	slowPhi := d.Phi(now.Add(-5*time.Second + 6*time.Second))
	for i := 0; i < 20; i++ { // then fast: 1 s apart
		d.Heartbeat(now)
		now = now.Add(time.Second)
	}
	fastPhi := d.Phi(now.Add(-time.Second + 6*time.Second))
	if fastPhi <= slowPhi {
		t.Fatalf("after the window filled with 1 s intervals, 6 s of silence should be more suspicious (%.2f) than for the 5 s peer (%.2f)", fastPhi, slowPhi)
	}
	if len(d.intervals) != cfg.WindowSize {
		t.Fatalf("window holds %d intervals", len(d.intervals))
	}
}

func TestOutOfOrderHeartbeatIgnored(t *testing.T) {
	d := NewDetector(DefaultConfig())
	d.Heartbeat(t0)
	d.Heartbeat(t0.Add(-time.Second))
	if d.LastHeartbeat() != t0 {
		t.Fatal("an older arrival moved the last heartbeat back")
	}
}

// A peer heard once, then silent for a long while (it was still starting),
// then regular for a few seconds, and then killed: the long gap must not
// widen the fit so much that conviction takes many seconds.
func TestLongGapDoesNotDelayConviction(t *testing.T) {
	tests := []struct {
		name    string
		gap     time.Duration
		regular int
	}{
		{"10 s gap, 8 beats", 10 * time.Second, 8},
		{"30 s gap, 5 beats", 30 * time.Second, 5},
		{"5 s gap, 20 beats", 5 * time.Second, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDetector(DefaultConfig())
			now := t0
			d.Heartbeat(now)
			now = now.Add(tt.gap)
			for i := 0; i < tt.regular; i++ {
				d.Heartbeat(now)
				now = now.Add(time.Second)
			}
			last := now.Add(-time.Second)
			const bound = 8 * time.Second
			if d.Available(last.Add(bound)) {
				t.Fatalf("still available %v after the last heartbeat (phi %.2f)", bound, d.Phi(last.Add(bound)))
			}
		})
	}
}

// Whatever intervals a peer's heartbeats had, with the default cap it is
// down at most about 7.3 s after the last one: the cap bounds both the
// mean and the spread of the fit.
func TestConvictionTimeIsBounded(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const bound = 7500 * time.Millisecond
	for trial := 0; trial < 2000; trial++ {
		d := NewDetector(DefaultConfig())
		now := t0
		beats := 1 + r.IntN(300)
		longest := time.Duration(1+r.IntN(4)) * 10 * time.Second
		// Uniform gaps, or bunched ones: a share p of long gaps among
		// near-simultaneous arrivals (the widest spread for a given cap).
		p := r.Float64()
		bunched := r.IntN(2) == 0
		for i := 0; i < beats; i++ {
			d.Heartbeat(now)
			if i == beats-1 {
				break
			}
			switch {
			case !bunched:
				now = now.Add(time.Duration(r.Int64N(int64(longest))))
			case r.Float64() < p:
				now = now.Add(longest)
			default:
				now = now.Add(time.Millisecond)
			}
		}
		if d.Available(now.Add(bound)) {
			t.Fatalf("trial %d (%d beats up to %v apart): still available %v after the last heartbeat, phi %.2f",
				trial, beats, longest, bound, d.Phi(now.Add(bound)))
		}
	}
}

// A slower gossip interval needs the interval settings scaled with it: the
// unscaled 2 s cap convicts a healthy peer that beats every 5 s, the scaled
// one does not.
func TestSlowHeartbeatIntervalIsScaled(t *testing.T) {
	const every = 5 * time.Second
	falsePositives := func(cfg Config) int {
		r := rand.New(rand.NewPCG(9, 10))
		d := NewDetector(cfg)
		now, n := t0, 0
		for i := 0; i < 2000; i++ {
			d.Heartbeat(now)
			gap := every/5 + time.Duration(r.Int64N(int64(every*23/10))) // 0.2–2.5 intervals, as relayed gossip
			if !d.Available(now.Add(gap - time.Millisecond)) {
				n++
			}
			now = now.Add(gap)
		}
		return n
	}
	if n := falsePositives(DefaultConfig().ForHeartbeatInterval(every)); n != 0 {
		t.Fatalf("scaled to a %v interval: %d false positives", every, n)
	}
	if n := falsePositives(DefaultConfig()); n == 0 {
		t.Fatal("the unscaled 1 s settings should misjudge a 5 s peer; the test does not show why scaling matters")
	}
}
