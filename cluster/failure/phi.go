// Package failure owns failure detection: a phi-accrual detector (Hayashibara
// et al., as in Cassandra and Akka) over the arrival times of a peer's
// heartbeats. It is pure: arrival and evaluation times are arguments.
//
// phi is -log10 of the probability that a heartbeat arrives later than the
// time already waited, under a normal distribution fitted to the recent
// intervals. phi = 8 means a one-in-10^8 chance that the peer is merely slow.
package failure

import (
	"math"
	"time"
)

// Config tunes a Detector. Start from DefaultConfig.
type Config struct {
	// Threshold: a peer whose phi reaches it is down. Default 8.
	Threshold float64
	// WindowSize is how many recent intervals are kept. Default 200.
	WindowSize int
	// MinStdDev keeps a very regular peer from being convicted by a small
	// delay. Default 400 ms.
	MinStdDev time.Duration
	// AcceptablePause is added to the mean interval: pauses up to this long
	// (GC, a slow gossip path) are not suspicious. Default 1 s.
	AcceptablePause time.Duration
	// FirstInterval seeds the window before any interval is measured; the
	// gossip interval is a good value. Default 1 s.
	FirstInterval time.Duration
	// MaxInterval caps a recorded interval. One long gap (a peer still
	// starting, a pause while this node was busy) would otherwise widen the
	// fitted distribution for the whole window, and a peer killed soon after
	// would take many seconds to be convicted. Capping bounds the mean and
	// the standard deviation of the fit, so with the defaults a silent peer
	// is down at most about 7.3 s after its last heartbeat, whatever its
	// history (TestConvictionTimeIsBounded). Cassandra drops intervals over
	// 2 s; capping keeps the hint that the peer is slow. Default 2 s, twice
	// the heartbeat interval (see ForHeartbeatInterval).
	MaxInterval time.Duration
}

// DefaultConfig returns the documented defaults: with one-second gossip a
// silent peer reaches phi 8 after roughly 4 to 5 s.
func DefaultConfig() Config {
	return Config{Threshold: 8, WindowSize: 200, MinStdDev: 400 * time.Millisecond,
		AcceptablePause: time.Second}.ForHeartbeatInterval(time.Second)
}

// ForHeartbeatInterval fits the settings that depend on how often a peer
// makes a heartbeat: the seed interval is one heartbeat interval and the cap
// two. The defaults are for one second.
func (c Config) ForHeartbeatInterval(d time.Duration) Config {
	c.FirstInterval, c.MaxInterval = d, 2*d
	return c
}

// Detector tracks one peer.
type Detector struct {
	cfg       Config
	intervals []float64 // ring buffer, milliseconds
	next      int
	sum, sq   float64
	last      time.Time
}

// NewDetector makes a detector that has heard nothing yet.
func NewDetector(cfg Config) *Detector { return &Detector{cfg: cfg} }

// Heartbeat records an arrival at now.
func (d *Detector) Heartbeat(now time.Time) {
	if d.last.IsZero() {
		// Seed with two samples around the expected interval so the first
		// real intervals do not produce an extreme fit.
		first := float64(d.cfg.FirstInterval.Milliseconds())
		d.add(first - first/4)
		d.add(first + first/4)
	} else if now.After(d.last) {
		interval := now.Sub(d.last)
		if d.cfg.MaxInterval > 0 {
			interval = min(interval, d.cfg.MaxInterval)
		}
		d.add(float64(interval.Microseconds()) / 1000)
	}
	if now.After(d.last) {
		d.last = now
	}
}

func (d *Detector) add(ms float64) {
	if len(d.intervals) < d.cfg.WindowSize {
		d.intervals = append(d.intervals, ms)
	} else {
		old := d.intervals[d.next]
		d.sum -= old
		d.sq -= old * old
		d.intervals[d.next] = ms
		d.next = (d.next + 1) % d.cfg.WindowSize
	}
	d.sum += ms
	d.sq += ms * ms
}

// Heard reports whether any heartbeat arrived.
func (d *Detector) Heard() bool { return !d.last.IsZero() }

// LastHeartbeat is the time of the latest arrival (zero if none).
func (d *Detector) LastHeartbeat() time.Time { return d.last }

// Phi is the suspicion level at now; +Inf for a peer never heard from.
func (d *Detector) Phi(now time.Time) float64 {
	if d.last.IsZero() {
		return math.Inf(1)
	}
	n := float64(len(d.intervals))
	mean := d.sum / n
	variance := max(d.sq/n-mean*mean, 0)
	std := max(math.Sqrt(variance), float64(d.cfg.MinStdDev.Milliseconds()))
	mean += float64(d.cfg.AcceptablePause.Milliseconds())
	elapsed := float64(now.Sub(d.last).Microseconds()) / 1000
	return phi(elapsed, mean, std)
}

// Available reports whether phi is below the threshold at now.
func (d *Detector) Available(now time.Time) bool { return d.Phi(now) < d.cfg.Threshold }

// phi uses the logistic approximation of the normal tail that Akka uses,
// which stays finite and monotone far into the tail.
func phi(elapsed, mean, std float64) float64 {
	y := (elapsed - mean) / std
	e := math.Exp(-y * (1.5976 + 0.070566*y*y))
	if elapsed > mean {
		return -math.Log10(e / (1 + e))
	}
	return -math.Log10(1 - 1/(1+e))
}
