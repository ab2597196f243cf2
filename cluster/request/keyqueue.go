package request

import "time"

// KeyQueue runs one request per key at a time and queues the others that
// arrive for the key behind it, first in, first out, up to a bound: a
// node's strong requests for one key then never duel each other for its
// register. It keeps no clock: Enqueue and Done take the time.
type KeyQueue[T any] struct {
	maxQueued int
	// keys holds, for each key with a request running, the requests
	// waiting behind it (nil when none wait).
	keys map[string][]queuedItem[T]
}

// queuedItem is a request waiting for its key, with what Done needs to
// tell whether its time ran out while it waited.
type queuedItem[T any] struct {
	item    T
	timeout time.Duration
	arrived time.Time
}

// NewKeyQueue returns a KeyQueue in which at most maxQueued requests wait
// behind each key's running one (StrongConfig.MaxQueuedPerKey).
func NewKeyQueue[T any](maxQueued int) *KeyQueue[T] {
	return &KeyQueue[T]{maxQueued: maxQueued}
}

// Admission is what Enqueue decides for a request.
type Admission int

const (
	// RunNow: no request runs for the key; this one runs now, and the key
	// counts as running until Done.
	RunNow Admission = iota
	// Queued: it waits behind the running one (and those already waiting)
	// until Done hands it out.
	Queued
	// QueueFull: the bound already wait for the key; it is refused
	// without running, so that a hot key cannot hold unbounded memory.
	QueueFull
)

// Enqueue takes item, a request for key that has timeout to finish,
// arriving at now, and says whether it runs now, waits, or is refused.
func (q *KeyQueue[T]) Enqueue(key string, item T, timeout time.Duration, now time.Time) Admission {
	if waiting, running := q.keys[key]; running {
		if len(waiting) >= q.maxQueued {
			return QueueFull
		}
		q.keys[key] = append(waiting, queuedItem[T]{item: item, timeout: timeout, arrived: now})
		return Queued
	}
	if q.keys == nil {
		q.keys = map[string][]queuedItem[T]{}
	}
	q.keys[key] = nil
	return RunNow
}

// Waiting is how many requests wait behind key's running one.
func (q *KeyQueue[T]) Waiting(key string) int { return len(q.keys[key]) }

// Turn is what Done decides once a key's running request has ended.
type Turn[T any] struct {
	// Expired are the requests, in arrival order, whose time ran out while
	// they waited: they end without having run.
	Expired []T
	// Run says whether Next runs now; if not, no request waits for the key
	// any more and it no longer counts as running.
	Run bool
	// Next is the request that runs now, the first that still has time.
	Next T
	// Left is the time Next has left: its timeout less the time it waited.
	Left time.Duration
}

// Done ends the request running for key at now (or one that could not
// start) and hands out the next, first in, first out, passing over those
// whose time ran out.
func (q *KeyQueue[T]) Done(key string, now time.Time) Turn[T] {
	var t Turn[T]
	for {
		waiting := q.keys[key]
		if len(waiting) == 0 {
			delete(q.keys, key)
			return t
		}
		w := waiting[0]
		waiting[0] = queuedItem[T]{} // let the request go once it has run
		q.keys[key] = waiting[1:]
		left := w.timeout - now.Sub(w.arrived)
		if left <= 0 {
			t.Expired = append(t.Expired, w.item)
			continue
		}
		t.Run, t.Next, t.Left = true, w.item, left
		return t
	}
}
