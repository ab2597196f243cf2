package actors

import (
	"sync"
	"time"

	"github.com/harmoniakv/harmonia/cluster/antientropy"
)

// Anti-entropy's settings and the results it shares with the status API.

// RepairConfig tunes anti-entropy.
type RepairConfig struct {
	// Interval is how often each (partition, peer) pair this node holds is
	// compared; the exchanges are spread evenly over it. 0 disables the
	// schedule (manual repair still works). Default 10 min.
	Interval time.Duration
	// Concurrency bounds exchanges running at once. Default 1.
	Concurrency int
	// PageKeys bounds the stored keys one vnode reads to answer one request
	// for the objects of differing buckets, so an exchange of a fully
	// diverged partition reads it once, a page per mailbox turn. Default
	// 1,000.
	PageKeys int
	// WriteWindow bounds the repair writes an exchange has outstanding, so
	// they interleave with foreground requests. Default 64.
	WriteWindow int
	// MaxKeysPerSecond bounds the repair writes of one exchange, so that
	// refilling a wiped replica leaves foreground latency close to normal
	// (0: unbounded). Default 2,000.
	MaxKeysPerSecond int
	// Timeout ends an exchange that has made no progress (no reply from
	// either side) for that long. Default 60 s.
	Timeout time.Duration
	// MaxAttempts bounds how often a crashed exchange is started again
	// before it is reported failed. Default 3.
	MaxAttempts int
	// AcceptorStaleAfter is the age (by its ballot's clock reading) past
	// which a strong key's proposal that was accepted but that no voter
	// knows chosen is completed by an exchange: its proposer has given up
	// by then. Default 1 min.
	AcceptorStaleAfter time.Duration
}

// DefaultRepairConfig returns the documented defaults.
func DefaultRepairConfig() RepairConfig {
	return RepairConfig{Interval: 10 * time.Minute, Concurrency: 1, PageKeys: 1000, WriteWindow: 64, MaxKeysPerSecond: 2000, Timeout: time.Minute, MaxAttempts: 3,
		AcceptorStaleAfter: acceptorStaleAfterDefault}
}

// ExchangeResult is what one exchange found and moved.
type ExchangeResult struct {
	Partition int
	Peer      string
	// Hashes compared, keys written to each side, acceptor states taught
	// and proposals completed (antientropy.Result).
	antientropy.Result
	Bytes uint64 // object bytes of the repair writes acknowledged
	Err   error
}

// RepairTotals sums the exchanges of this process.
type RepairTotals struct {
	Exchanges, KeysRepaired, Bytes, Hashes uint64
	// AcceptorsRepaired and AcceptorsCompleted count strong keys' committed
	// values taught, and stale proposals completed.
	AcceptorsRepaired, AcceptorsCompleted uint64
	// Restarted counts exchanges started again after a crash.
	Restarted uint64
}

type repairTable struct {
	mu     sync.Mutex
	totals RepairTotals
}

func (t *repairTable) restarted() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.totals.Restarted++
}

func (t *repairTable) add(r ExchangeResult) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.totals.Exchanges++
	t.totals.KeysRepaired += r.KeysLocal + r.KeysRemote
	t.totals.Bytes += r.Bytes
	t.totals.Hashes += r.Hashes
	t.totals.AcceptorsRepaired += r.AcceptorsLocal + r.AcceptorsRemote
	t.totals.AcceptorsCompleted += r.AcceptorsCompleted
}

func (t *repairTable) get() RepairTotals {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.totals
}
