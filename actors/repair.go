package actors

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/harmoniakv/harmonia/actors/actorkit"
	"github.com/harmoniakv/harmonia/cluster/antientropy"
	"github.com/harmoniakv/harmonia/cluster/reap"
)

type (
	repairTick struct{}
	// RepairNow runs exchanges immediately; Partition -1 means every
	// partition this node holds, Peer "" every other replica.
	repairNow struct {
		partition int
		peer      string
		reply     chan []ExchangeResult
	}
	exchangeDone struct {
		pid    *actor.PID // the exchange
		result ExchangeResult
	}
	pair struct {
		antientropy.Pair
		run     *manualRun // nil for a scheduled exchange
		attempt int        // crashes so far (antientropy.Crashed)
	}
)

// repair schedules Merkle exchanges between this node and the other
// replicas of each partition it holds, at most Concurrency at a time.
type repair struct {
	faults Faults // injected to test recovery (Config.Faults); never nil
	cfg    RepairConfig
	reap   reap.Config // repairs follow its Spread
	// maxPairs bounds the pairs this node compares (Q × (N-1)); the
	// schedule divides Interval by it.
	maxPairs int
	view     *viewHolder
	table    *repairTable
	cancel   func()

	turn    antientropy.Rotation // of the scheduled pairs
	queue   []pair
	running map[string]pair // by the exchange's PID id
	seq     int
}

type manualRun struct {
	waiting int
	results []ExchangeResult
	reply   chan []ExchangeResult
}

func (r *repair) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		r.running = map[string]pair{}
		if r.cfg.Interval > 0 {
			r.startTicker(ctx)
		}
	case *actor.Stopping:
		if r.cancel != nil {
			r.cancel()
		}
	case repairTick:
		v := r.view.Load()
		if v == nil {
			return
		}
		next, ok := r.turn.Next(antientropy.Scheduled(v.Ring, v.N, v.Self), len(r.running), r.cfg.Concurrency)
		if !ok {
			return
		}
		r.queue = append(r.queue, pair{Pair: next})
		r.fill(ctx)
	case repairNow:
		v := r.view.Load()
		run := &manualRun{reply: m.reply}
		if v == nil {
			m.reply <- nil
			return
		}
		for _, p := range antientropy.Chosen(v.Ring, v.N, v.Self, m.partition, m.peer) {
			r.queue = append(r.queue, pair{Pair: p, run: run})
			run.waiting++
		}
		if run.waiting == 0 {
			m.reply <- nil
			return
		}
		r.fill(ctx)
	case exchangeDone:
		// The parent stops a finished exchange, so its Terminated (a system
		// message, which overtakes this one) cannot be taken for a crash.
		pr := r.running[m.pid.Id]
		delete(r.running, m.pid.Id)
		ctx.Stop(m.pid)
		r.record(m.result, pr.run)
		r.fill(ctx)
	case *actor.Terminated:
		// An exchange that stops without reporting crashed (its supervisor
		// stops it rather than restarting it in place, so no reply meant for
		// the crashed one reaches the next). Start it again from the roots:
		// what it wrote were whole merges, so nothing is half-applied.
		pr, crashed := r.running[m.Who.Id]
		if !crashed {
			return
		}
		delete(r.running, m.Who.Id)
		var err error
		if pr.attempt, err = antientropy.Crashed(pr.attempt, r.cfg.MaxAttempts); err == nil {
			r.table.restarted()
			r.queue = append([]pair{pr}, r.queue...)
		} else {
			r.record(ExchangeResult{Partition: pr.Partition, Peer: pr.Peer, Err: err}, pr.run)
		}
		r.fill(ctx)
	}
}

// record counts a finished exchange and completes a manual run with it.
func (r *repair) record(result ExchangeResult, run *manualRun) {
	r.table.add(result)
	if run != nil {
		run.results = append(run.results, result)
		if run.waiting--; run.waiting == 0 {
			run.reply <- run.results
		}
	}
}

func (r *repair) startTicker(ctx actor.Context) {
	// Spread the pairs over the interval: one exchange every interval/pairs.
	every := max(r.cfg.Interval/time.Duration(max(r.maxPairs, 1)), 100*time.Millisecond)
	r.cancel = actorkit.TickSelf(ctx, every, repairTick{})
}

func (r *repair) fill(ctx actor.Context) {
	for len(r.running) < r.cfg.Concurrency && len(r.queue) > 0 {
		pr := r.queue[0]
		r.queue = r.queue[1:]
		r.seq++
		props := actorkit.Props(func() actor.Actor {
			return &exchange{cfg: r.cfg, reap: r.reap, view: r.view.Load(), partition: pr.Partition, peer: pr.Peer, faults: r.faults}
		})
		pid, err := ctx.SpawnNamed(props, fmt.Sprintf("exchange-%d-%s-%d", pr.Partition, pr.Peer, r.seq))
		if err != nil {
			r.record(ExchangeResult{Partition: pr.Partition, Peer: pr.Peer, Err: err}, pr.run)
			continue
		}
		r.running[pid.Id] = pr
	}
}
