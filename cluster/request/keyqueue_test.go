package request

import (
	"reflect"
	"testing"
	"time"
)

// queueStep is one event fed to a KeyQueue in a table row: an Enqueue of
// item for key (with its timeout), or, with done set, a Done for key; at
// is when, after the row's start.
type queueStep struct {
	at      time.Duration
	key     string
	item    string
	timeout time.Duration
	done    bool
	// want is Enqueue's answer, and wantWaiting how many then wait for
	// key; wantTurn is Done's.
	want        Admission
	wantWaiting int
	wantTurn    Turn[string]
}

func keyEnqueue(at time.Duration, key, item string, timeout time.Duration, want Admission, waiting int) queueStep {
	return queueStep{at: at, key: key, item: item, timeout: timeout, want: want, wantWaiting: waiting}
}

func keyDone(at time.Duration, key string, want Turn[string]) queueStep {
	return queueStep{at: at, key: key, done: true, wantTurn: want}
}

func keyNext(item string, left time.Duration, expired ...string) Turn[string] {
	return Turn[string]{Expired: expired, Run: true, Next: item, Left: left}
}

func TestKeyQueue(t *testing.T) {
	const s = time.Second
	for _, tc := range []struct {
		rule      string
		maxQueued int
		steps     []queueStep
	}{
		{"a request for a key with nothing running runs now", 2, []queueStep{
			keyEnqueue(0, "k", "a", s, RunNow, 0),
		}},
		{"a request for a key whose proposer runs waits behind it", 2, []queueStep{
			keyEnqueue(0, "k", "a", s, RunNow, 0),
			keyEnqueue(0, "k", "b", s, Queued, 1),
		}},
		{"requests for different keys do not wait on each other", 2, []queueStep{
			keyEnqueue(0, "k", "a", s, RunNow, 0),
			keyEnqueue(0, "j", "b", s, RunNow, 0),
		}},
		{"past the bound a request is refused, and the queue stays as it was", 2, []queueStep{
			keyEnqueue(0, "k", "a", s, RunNow, 0),
			keyEnqueue(0, "k", "b", s, Queued, 1),
			keyEnqueue(0, "k", "c", s, Queued, 2),
			keyEnqueue(0, "k", "d", s, QueueFull, 2),
			keyDone(0, "k", keyNext("b", s)),
			keyDone(0, "k", keyNext("c", s)),
			keyDone(0, "k", Turn[string]{}),
		}},
		{"a bound of zero refuses every request that would wait", 0, []queueStep{
			keyEnqueue(0, "k", "a", s, RunNow, 0),
			keyEnqueue(0, "k", "b", s, QueueFull, 0),
		}},
		{"waiting requests run first in, first out", 3, []queueStep{
			keyEnqueue(0, "k", "a", s, RunNow, 0),
			keyEnqueue(0, "k", "b", s, Queued, 1),
			keyEnqueue(0, "k", "c", s, Queued, 2),
			keyEnqueue(0, "k", "d", s, Queued, 3),
			keyDone(0, "k", keyNext("b", s)),
			keyDone(0, "k", keyNext("c", s)),
			keyDone(0, "k", keyNext("d", s)),
		}},
		{"the next request runs with the time it has left after waiting", 2, []queueStep{
			keyEnqueue(0, "k", "a", s, RunNow, 0),
			keyEnqueue(100*time.Millisecond, "k", "b", s, Queued, 1),
			keyDone(400*time.Millisecond, "k", keyNext("b", 700*time.Millisecond)),
		}},
		{"a request whose time ran out while it waited ends without running, and the next runs", 3, []queueStep{
			keyEnqueue(0, "k", "a", s, RunNow, 0),
			keyEnqueue(0, "k", "b", 100*time.Millisecond, Queued, 1),
			keyEnqueue(0, "k", "c", 200*time.Millisecond, Queued, 2),
			keyEnqueue(0, "k", "d", s, Queued, 3),
			keyDone(300*time.Millisecond, "k", keyNext("d", 700*time.Millisecond, "b", "c")),
		}},
		{"a request with no time left at all ends without running", 2, []queueStep{
			keyEnqueue(0, "k", "a", s, RunNow, 0),
			keyEnqueue(0, "k", "b", s, Queued, 1),
			keyDone(s, "k", Turn[string]{Expired: []string{"b"}}),
			keyEnqueue(s, "k", "c", s, RunNow, 0),
		}},
		{"once none wait, the key is free: its next request runs now", 2, []queueStep{
			keyEnqueue(0, "k", "a", s, RunNow, 0),
			keyDone(0, "k", Turn[string]{}),
			keyEnqueue(0, "k", "b", s, RunNow, 0),
		}},
		{"the request Done hands out runs the key: later ones wait behind it", 2, []queueStep{
			keyEnqueue(0, "k", "a", s, RunNow, 0),
			keyEnqueue(0, "k", "b", s, Queued, 1),
			keyDone(0, "k", keyNext("b", s)),
			keyEnqueue(0, "k", "c", s, Queued, 1),
		}},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			q := NewKeyQueue[string](tc.maxQueued)
			t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
			for i, st := range tc.steps {
				now := t0.Add(st.at)
				if st.done {
					if got := q.Done(st.key, now); !reflect.DeepEqual(got, st.wantTurn) {
						t.Fatalf("step %d: Done(%q) = %+v, want %+v", i, st.key, got, st.wantTurn)
					}
					continue
				}
				if got := q.Enqueue(st.key, st.item, st.timeout, now); got != st.want {
					t.Fatalf("step %d: Enqueue(%q, %q) = %v, want %v", i, st.key, st.item, got, st.want)
				}
				if got := q.Waiting(st.key); got != st.wantWaiting {
					t.Fatalf("step %d: Waiting(%q) = %d, want %d", i, st.key, got, st.wantWaiting)
				}
			}
		})
	}
}
