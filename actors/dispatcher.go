package actors

import (
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// workerDispatcher runs mailboxes on long-lived goroutines. protoactor's
// default dispatcher starts a new goroutine for every mailbox run; a
// vnode's run reads pebble, whose deep call path then grows the fresh
// 8 KiB stack by copying it, on every run (runtime.newstack was the largest
// single cost in CPU profiles of reads). A worker keeps its grown stack
// between runs.
//
// Schedule never waits and never queues: a run goes to a worker that is
// idle at that moment, or to a new worker. So a mailbox blocked in an
// fsync holds only its own worker, as with the default dispatcher, and the
// number of workers follows the number of mailboxes running at once. A
// worker idle for workerIdle ends.
type workerDispatcher struct {
	throughput int
	idle       time.Duration // a worker idle this long ends
	work       chan func()
	workers    atomic.Int64 // running workers
}

// workerIdle is how long a worker waits for a run before it ends.
const workerIdle = 10 * time.Second

// dispatcherThroughput is the messages a mailbox processes per run before
// it yields, as protoactor's default.
const dispatcherThroughput = 300

func newWorkerDispatcher(throughput int) *workerDispatcher {
	return &workerDispatcher{throughput: throughput, idle: workerIdle, work: make(chan func())}
}

var _ actor.Dispatcher = (*workerDispatcher)(nil)

// Schedule runs fn on an idle worker, or on a new one if none is idle.
func (d *workerDispatcher) Schedule(fn func()) {
	select {
	case d.work <- fn:
	default:
		d.workers.Add(1)
		go d.worker(fn)
	}
}

// Throughput is the messages a mailbox processes per run.
func (d *workerDispatcher) Throughput() int { return d.throughput }

func (d *workerDispatcher) worker(fn func()) {
	defer d.workers.Add(-1)
	idle := time.NewTimer(d.idle)
	defer idle.Stop()
	for {
		fn()
		idle.Reset(d.idle)
		select {
		case fn = <-d.work:
		case <-idle.C:
			return
		}
	}
}
