package actors

import (
	"fmt"
	"sync/atomic"
)

// Faults are the faults a node injects into itself to test how it
// recovers (Config.Faults): nil in production. Each hook runs on the actor
// that reaches the point it names, and a panic there is that actor's
// crash, which its parent's supervisor decides. Tests set their own; the
// server command builds a PanicOnce from its HARMONIA_FAULT_* variables.
type Faults interface {
	// HintDelivered runs in a hint replay worker each time a replica
	// acknowledges one of the hints it sends; total counts this node's.
	HintDelivered(target string, total int64)
	// RepairWriteAcked runs in an anti-entropy exchange each time a
	// replica acknowledges one of its repair writes.
	RepairWriteAcked(partition int, peer string)
	// PutStep runs in a put state machine before it handles msg.
	PutStep(msg any)
}

// PanicOnce is the Faults that make one hint replay worker, and one
// anti-entropy exchange, panic once each, after this node has had that
// many hints (ReplayAfter) or repair writes (ExchangeAfter) acknowledged;
// 0 never.
type PanicOnce struct {
	ReplayAfter, ExchangeAfter int64

	repairWrites                     atomic.Int64
	replayPanicked, exchangePanicked atomic.Bool
}

var _ Faults = (*PanicOnce)(nil)

func (p *PanicOnce) HintDelivered(target string, total int64) {
	if p.ReplayAfter > 0 && total >= p.ReplayAfter && p.replayPanicked.CompareAndSwap(false, true) {
		panic(fmt.Sprintf("replay to %s: fault injected after %d hints", target, total))
	}
}

func (p *PanicOnce) RepairWriteAcked(partition int, peer string) {
	if p.ExchangeAfter <= 0 {
		return
	}
	if acked := p.repairWrites.Add(1); acked >= p.ExchangeAfter && p.exchangePanicked.CompareAndSwap(false, true) {
		panic(fmt.Sprintf("exchange of partition %d with %s: fault injected after %d repair writes", partition, peer, acked))
	}
}

func (*PanicOnce) PutStep(any) {}

// noFaults is what a node without Config.Faults injects: nothing.
type noFaults struct{}

func (noFaults) HintDelivered(string, int64)  {}
func (noFaults) RepairWriteAcked(int, string) {}
func (noFaults) PutStep(any)                  {}

// faultsOf is cfg's faults, never nil.
func faultsOf(cfg Config) Faults {
	if cfg.Faults == nil {
		return noFaults{}
	}
	return cfg.Faults
}
