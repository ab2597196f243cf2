package tests

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// faultProxy is a user-space TCP proxy for delay, jitter, stalls and slow
// links between nodes: this kernel has no netem. It listens on a loopback
// port and forwards every connection to a target, both ways, with faults
// that can change while connections are open. A node that advertises the
// proxy's address (--advertise) gets every node-to-node message through it.
//
// Each direction of a connection is a reader that stamps each chunk it
// reads with the time it may be delivered, and a writer that delivers the
// chunks in the order they were read, no earlier than their time, and not
// while the direction is stalled. The queue between them is bounded, so a
// stalled or slow direction pushes back on the sender as a slow network
// does, instead of buffering without limit; nothing is ever dropped.
type faultProxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	faults  [2]linkFaults // by direction
	changed chan struct{} // closed and replaced when faults change
	conns   map[net.Conn]bool
	closed  bool

	done  chan struct{} // closed by Close
	wg    sync.WaitGroup
	bytes [2]atomic.Int64 // delivered, by direction
}

// direction is a way through the proxy.
type direction int

const (
	toTarget   direction = iota // from whoever dialed the proxy to the target
	fromTarget                  // the target's answers on the same connections
)

// linkFaults are the faults of one direction of a proxy.
type linkFaults struct {
	// Latency plus a uniform random part up to Jitter delays each chunk
	// from when the proxy read it. Chunks are delivered in the order read,
	// so a chunk with less jitter waits for the one before it.
	Latency, Jitter time.Duration
	// Stalled holds every chunk (the connections stay open) until cleared.
	Stalled bool
	// BytesPerSecond, when above 0, spaces chunks so that the direction
	// carries no more than that.
	BytesPerSecond int
}

// chunkSize is the most one chunk carries.
const chunkSize = 32 << 10

// queuedChunks bounds what a direction holds between reader and writer.
const queuedChunks = 64

// newFaultProxy listens on a loopback port (the kernel's choice: nothing
// else needs it before the proxy listens) and forwards to target, which
// need not be listening yet: a connection that cannot reach it is closed.
func newFaultProxy(target string) (*faultProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &faultProxy{ln: ln, target: target, changed: make(chan struct{}), conns: map[net.Conn]bool{}, done: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address to dial (and for a node to advertise).
func (p *faultProxy) Addr() string { return p.ln.Addr().String() }

// Set changes the faults of one direction, for chunks read from now on and,
// for a stall, for chunks already waiting.
func (p *faultProxy) Set(d direction, f linkFaults) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults[d] = f
	close(p.changed)
	p.changed = make(chan struct{})
}

// SetBoth gives both directions the same faults.
func (p *faultProxy) SetBoth(f linkFaults) {
	p.Set(toTarget, f)
	p.Set(fromTarget, f)
}

// Delivered counts the bytes a direction has delivered.
func (p *faultProxy) Delivered(d direction) int64 { return p.bytes[d].Load() }

func (p *faultProxy) current(d direction) (linkFaults, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults[d], p.changed
}

// Close stops accepting, closes every connection, and returns once every
// goroutine of the proxy has ended. Chunks still queued are dropped with
// their connections, as when a network path goes away.
func (p *faultProxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.done)
	p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// track registers a connection, or closes it if the proxy is closed.
func (p *faultProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *faultProxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
	c.Close()
}

func (p *faultProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve forwards one accepted connection until both directions have ended.
func (p *faultProxy) serve(in net.Conn) {
	defer p.wg.Done()
	defer p.untrack(in)
	out, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return // the target is not there (yet): the dialer sees a close
	}
	if !p.track(out) {
		return
	}
	defer p.untrack(out)
	// The first direction to fail closes both connections, which ends the
	// other; a direction that ends cleanly half-closes its writing side, so
	// that the other goes on until its own end.
	var both sync.WaitGroup
	fail := sync.OnceFunc(func() { in.Close(); out.Close() })
	for _, d := range []direction{toTarget, fromTarget} {
		src, dst := in, out
		if d == fromTarget {
			src, dst = out, in
		}
		both.Add(1)
		go func() {
			defer both.Done()
			if !p.pipe(d, src, dst) {
				fail()
			}
		}()
	}
	both.Wait()
}

type chunk struct {
	data []byte
	due  time.Time
}

// pipe carries one direction; it reports whether it ended cleanly (the
// source's EOF delivered).
func (p *faultProxy) pipe(d direction, src, dst net.Conn) bool {
	queue := make(chan chunk, queuedChunks)
	readErr := make(chan error, 1)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(queue)
		var last time.Time
		for {
			buf := make([]byte, chunkSize)
			n, err := src.Read(buf)
			if n > 0 {
				f, _ := p.current(d)
				delay := f.Latency
				if f.Jitter > 0 {
					delay += rand.N(f.Jitter)
				}
				// Never before the chunk ahead of it: byte order is kept.
				due := time.Now().Add(delay)
				if due.Before(last) {
					due = last
				}
				last = due
				select {
				case queue <- chunk{buf[:n], due}:
				case <-p.done:
					readErr <- net.ErrClosed
					return
				}
			}
			if err != nil {
				readErr <- err
				return
			}
		}
	}()
	var free time.Time
	for c := range queue {
		if !p.wait(d, c, &free) {
			return false
		}
		if _, err := dst.Write(c.data); err != nil {
			// Let the reader end too: it may be blocked on a full queue.
			src.Close()
			for range queue {
			}
			return false
		}
		p.bytes[d].Add(int64(len(c.data)))
	}
	if !errors.Is(<-readErr, io.EOF) {
		return false
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	return true
}

// wait blocks until c may be delivered: its time has come, the direction
// is not stalled, and, under a bandwidth limit, the link has carried the
// chunks before it (*free is when it is free again). It returns false if
// the proxy closed meanwhile.
func (p *faultProxy) wait(d direction, c chunk, free *time.Time) bool {
	for {
		f, changed := p.current(d)
		due := c.due
		if f.BytesPerSecond > 0 {
			// The chunk's bytes take their time on the link after the
			// chunks before it.
			due = later(due, *free).Add(time.Duration(float64(len(c.data)) / float64(f.BytesPerSecond) * float64(time.Second)))
		}
		wait := time.Until(due)
		if !f.Stalled && wait <= 0 {
			*free = later(due, time.Now())
			return true
		}
		var timer *time.Timer
		var fired <-chan time.Time
		if !f.Stalled {
			timer = time.NewTimer(wait)
			fired = timer.C
		}
		select {
		case <-fired:
		case <-changed:
		case <-p.done:
		}
		if timer != nil {
			timer.Stop()
		}
		select {
		case <-p.done:
			return false
		default:
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// proxyTarget is a TCP server for the proxy's tests: it records what each
// connection brings and when, and echoes it back if asked.
type proxyTarget struct {
	ln   net.Listener
	echo bool
	wg   sync.WaitGroup

	mu    sync.Mutex
	conns []*received // in the order accepted
}

// received is what one connection brought: its bytes, and when the first
// and the latest arrived.
type received struct {
	data          []byte
	first, latest time.Time
	ended         bool // the connection ended (EOF or error)
}

func newProxyTarget(t *testing.T, echo bool) *proxyTarget {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pt := &proxyTarget{ln: ln, echo: echo}
	var open sync.Map // accepted connections, closed at the end
	pt.wg.Add(1)
	go func() {
		defer pt.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			open.Store(c, true)
			r := &received{}
			pt.mu.Lock()
			pt.conns = append(pt.conns, r)
			pt.mu.Unlock()
			pt.wg.Add(1)
			go func() {
				defer pt.wg.Done()
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						now := time.Now()
						pt.mu.Lock()
						if r.first.IsZero() {
							r.first = now
						}
						r.latest = now
						r.data = append(r.data, buf[:n]...)
						pt.mu.Unlock()
						if echo {
							if _, err := c.Write(buf[:n]); err != nil {
								break
							}
						}
					}
					if err != nil {
						break
					}
				}
				pt.mu.Lock()
				r.ended = true
				pt.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		open.Range(func(c, _ any) bool { c.(net.Conn).Close(); return true })
		pt.wg.Wait()
	})
	return pt
}

// conn returns a copy of what connection i (in accept order) has brought,
// or nil if there is no such connection yet.
func (pt *proxyTarget) conn(i int) *received {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if i >= len(pt.conns) {
		return nil
	}
	r := *pt.conns[i]
	r.data = bytes.Clone(r.data)
	return &r
}

// waitBytes waits until connection i has brought n bytes.
func (pt *proxyTarget) waitBytes(t *testing.T, i, n int, within time.Duration) *received {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := pt.conn(i)
		if r != nil && len(r.data) >= n {
			return r
		}
		if time.Now().After(deadline) {
			got := 0
			if r != nil {
				got = len(r.data)
			}
			t.Fatalf("target connection %d: %d of %d bytes within %v", i, got, n, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func startFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	p, err := newFaultProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func dialProxy(t *testing.T, p *faultProxy) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// pattern is n bytes that differ from their neighbours, so that a reordered
// or lost chunk shows.
func pattern(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// writeInPieces writes b in random-sized pieces, so that the proxy reads
// many chunks and jitters each.
func writeInPieces(c net.Conn, b []byte, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 2))
	for len(b) > 0 {
		n := min(len(b), 1+rng.IntN(8192))
		if _, err := c.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// firstDifference is the index of the first byte where a and b differ, or
// -1 if they are equal.
func firstDifference(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// The proxy itself. Its timing checks are lower bounds, which hold however
// loaded the machine is; upper bounds are generous deadlines.
func TestFaultProxy(t *testing.T) {
	t.Run("bytes arrive intact and in order under jitter, both ways", func(t *testing.T) {
		target := newProxyTarget(t, true)
		p := startFaultProxy(t, target.ln.Addr().String())
		p.SetBoth(linkFaults{Latency: 20 * time.Millisecond, Jitter: 30 * time.Millisecond})
		const size = 1 << 20
		var wg sync.WaitGroup
		errs := make(chan error, 4*3) // per connection: its writer's, and two of its reader's at most
		for k := range 4 {
			c := dialProxy(t, p)
			want := pattern(size, uint64(k))
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				wrote := make(chan error, 1)
				go func() { wrote <- writeInPieces(c, want, uint64(k)) }()
				// The writer is waited for on every way out; a reader that
				// gives up closes the connection first, so that a writer
				// held by unread echoes ends too.
				defer func() { errs <- <-wrote }()
				c.SetReadDeadline(time.Now().Add(60 * time.Second))
				got := make([]byte, size)
				if _, err := io.ReadFull(c, got[:1]); err != nil {
					c.Close()
					errs <- fmt.Errorf("connection %d: first byte: %w", k, err)
					return
				}
				// There and back: at least the latency of each direction.
				if rtt := time.Since(start); rtt < 40*time.Millisecond {
					errs <- fmt.Errorf("connection %d: first byte back after %v, under the 2 x 20 ms of latency", k, rtt)
				}
				if _, err := io.ReadFull(c, got[1:]); err != nil {
					c.Close()
					errs <- fmt.Errorf("connection %d: %w", k, err)
					return
				}
				if i := firstDifference(got, want); i >= 0 {
					errs <- fmt.Errorf("connection %d: the bytes back differ from those sent from byte %d on", k, i)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		// The count follows each write to the socket, which may be after
		// the reader has the bytes.
		deadline := time.Now().Add(10 * time.Second)
		for p.Delivered(toTarget) != 4*size || p.Delivered(fromTarget) != 4*size {
			if time.Now().After(deadline) {
				t.Fatalf("delivered %d there and %d back, want %d each", p.Delivered(toTarget), p.Delivered(fromTarget), 4*size)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	t.Run("a stall holds everything, connections open, until released", func(t *testing.T) {
		target := newProxyTarget(t, false)
		p := startFaultProxy(t, target.ln.Addr().String())
		before := dialProxy(t, p) // a connection made before the stall
		if _, err := before.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		target.waitBytes(t, 0, 5, 10*time.Second)
		p.Set(toTarget, linkFaults{Stalled: true})
		// More than the queue and the socket buffers hold: the sender is
		// held back, not cut off.
		const size = 8 << 20
		want := pattern(size, 7)
		written := make(chan error, 1)
		go func() { written <- writeInPieces(before, want, 7) }()
		during := dialProxy(t, p) // a connection made during the stall
		if _, err := during.Write([]byte("during")); err != nil {
			t.Fatal(err)
		}
		const stall = time.Second
		time.Sleep(stall) // the fault itself
		if r := target.conn(0); len(r.data) != 5 {
			t.Fatalf("%d bytes delivered during the stall", len(r.data)-5)
		}
		if r := target.conn(1); r != nil && len(r.data) != 0 {
			t.Fatalf("connection made during the stall: %+v", r)
		}
		released := time.Now()
		p.Set(toTarget, linkFaults{})
		r := target.waitBytes(t, 0, 5+size, 30*time.Second)
		if !bytes.Equal(r.data[5:], want) {
			t.Fatal("the stalled connection's bytes came out changed or out of order")
		}
		if err := <-written; err != nil {
			t.Fatalf("the sender saw %v", err)
		}
		if r := target.waitBytes(t, 1, 6, 10*time.Second); string(r.data) != "during" || r.first.Before(released) {
			t.Fatalf("connection made during the stall: %q, first byte %v before the release", r.data, released.Sub(r.first))
		}
		// Both connections are still open and carry more.
		for i, c := range []net.Conn{before, during} {
			n := len(target.conn(i).data)
			if _, err := c.Write([]byte("!")); err != nil {
				t.Fatal(err)
			}
			if r := target.waitBytes(t, i, n+1, 10*time.Second); r.ended {
				t.Fatalf("connection %d ended", i)
			}
		}
	})

	t.Run("one slow direction delays only that direction", func(t *testing.T) {
		target := newProxyTarget(t, true)
		p := startFaultProxy(t, target.ln.Addr().String())
		const slow = 300 * time.Millisecond
		c := dialProxy(t, p)
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		roundTrip := func(msg string) (sent, arrived, back time.Time) {
			t.Helper()
			n := len(target.conn(0).data)
			sent = time.Now()
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, len(msg))
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
				t.Fatalf("echo %q: %q, %v", msg, buf, err)
			}
			back = time.Now()
			r := target.waitBytes(t, 0, n+len(msg), 10*time.Second)
			return sent, r.latest, back
		}
		if _, err := c.Write([]byte("x")); err != nil { // connect through
			t.Fatal(err)
		}
		io.ReadFull(c, make([]byte, 1))

		p.Set(fromTarget, linkFaults{Latency: slow})
		_, arrived, back := roundTrip("answers are slow")
		if back.Sub(arrived) < slow {
			t.Errorf("the answer came back %v after the request arrived, under the %v of the slow direction", back.Sub(arrived), slow)
		}

		p.Set(fromTarget, linkFaults{})
		p.Set(toTarget, linkFaults{Latency: slow})
		sent, arrived, _ := roundTrip("requests are slow")
		if arrived.Sub(sent) < slow {
			t.Errorf("the request arrived %v after it was sent, under the %v of the slow direction", arrived.Sub(sent), slow)
		}
	})

	t.Run("a bandwidth limit spaces the bytes", func(t *testing.T) {
		target := newProxyTarget(t, false)
		p := startFaultProxy(t, target.ln.Addr().String())
		const rate, size = 256 << 10, 256 << 10 // one second's worth
		p.Set(toTarget, linkFaults{BytesPerSecond: rate})
		c := dialProxy(t, p)
		want := pattern(size, 3)
		start := time.Now()
		if err := writeInPieces(c, want, 3); err != nil {
			t.Fatal(err)
		}
		r := target.waitBytes(t, 0, size, 30*time.Second)
		if took := r.latest.Sub(start); took < time.Second {
			t.Errorf("%d bytes at %d B/s took %v, under a second", size, rate, took)
		}
		if !bytes.Equal(r.data, want) {
			t.Error("bytes changed under the bandwidth limit")
		}
	})

	t.Run("Close ends every connection and goroutine", func(t *testing.T) {
		target := newProxyTarget(t, true)
		p, err := newFaultProxy(target.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		var conns []net.Conn
		for i := range 3 {
			conns = append(conns, dialProxy(t, p))
			// The proxy dials the target from a goroutine per
			// connection: wait for this one to arrive before the next,
			// so that the target's i-th connection is conns[i].
			deadline := time.Now().Add(10 * time.Second)
			for target.conn(i) == nil {
				if time.Now().After(deadline) {
					t.Fatalf("connection %d did not reach the target", i)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		// One connection has traffic held in a stall, one is slow, one idle.
		if _, err := conns[0].Write([]byte("a")); err != nil {
			t.Fatal(err)
		}
		target.waitBytes(t, 0, 1, 10*time.Second)
		p.Set(toTarget, linkFaults{Stalled: true})
		go writeInPieces(conns[0], pattern(4<<20, 1), 1) // ends with an error at Close
		p.Set(fromTarget, linkFaults{Latency: time.Hour})
		conns[1].Write([]byte("never back"))
		closed := make(chan struct{})
		go func() { p.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(20 * time.Second):
			t.Fatal("Close did not return: a goroutine of the proxy is still running")
		}
		for i, c := range conns {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			// EOF, or a reset where the proxy closed with bytes unread.
			if _, err := io.Copy(io.Discard, c); errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("connection %d still open after Close", i)
			}
		}
		for i := range 3 {
			deadline := time.Now().Add(10 * time.Second)
			for r := target.conn(i); r == nil || !r.ended; r = target.conn(i) {
				if time.Now().After(deadline) {
					t.Fatalf("the target's connection %d is still open after Close", i)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
			t.Error("the proxy still accepts after Close")
		}
	})
}
