// Package pace owns the one rate rule of the node's background work (hint
// replay, anti-entropy repair writes, the TTL pass's deletions):
// at most a given number of units a second, evenly spaced, with no burst
// saved up while idle. It is pure: callers pass the time and wait as they
// can (an actor's timer, a goroutine's sleep).
package pace

import "time"

// Pacer spaces units of work to at most PerSecond a second. The zero
// Pacer, and one of PerSecond 0, never waits.
type Pacer struct {
	gap  time.Duration // between two units
	next time.Time     // when the next unit may start
}

// New is a Pacer of perSecond units a second (0: unbounded).
func New(perSecond int) *Pacer {
	p := &Pacer{}
	if perSecond > 0 {
		p.gap = time.Second / time.Duration(perSecond)
	}
	return p
}

// Every is a Pacer of one unit per gap (0: unbounded).
func Every(gap time.Duration) *Pacer { return &Pacer{gap: max(gap, 0)} }

// Take reserves n units at now and returns how long the caller must wait
// before doing them (0: at once). The units after them are due that much
// later; time not used is not saved up.
func (p *Pacer) Take(now time.Time, n int) time.Duration {
	if p.gap == 0 || n <= 0 {
		return 0
	}
	start := p.next
	if start.Before(now) {
		start = now
	}
	p.next = start.Add(time.Duration(n) * p.gap)
	return start.Sub(now)
}

// Due is how long from now until the next unit may start (0: now),
// without taking it: for a caller that waits and then asks again.
func (p *Pacer) Due(now time.Time) time.Duration {
	if p.gap == 0 || !p.next.After(now) {
		return 0
	}
	return p.next.Sub(now)
}

// Wait is Take's wait for the caller that may block: it sleeps until the
// n units may go, and reports false if stop closed first.
func (p *Pacer) Wait(n int, stop <-chan struct{}) bool {
	d := p.Take(time.Now(), n)
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-stop:
		return false
	case <-t.C:
		return true
	}
}
