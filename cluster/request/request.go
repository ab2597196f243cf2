// Package request owns the decisions of one client request, as pure state
// machines in the manner of riak_kv's get and put cores: which replica
// coordinates a put, where its copies go (primaries, fallbacks, hints kept
// here), when W and PW are met or can no longer be, what a get answers after
// R replies, and which replicas its read repair updates. A core keeps no
// clock and does no I/O: the actor driving it feeds it what arrives, each
// step returns the effects to carry out, and the actor carries them out.
package request

import (
	"errors"
	"fmt"
)

// Placement is what the ring and the failure detector say about a key's
// partition when a request starts.
type Placement struct {
	// Self is the node coordinating the request.
	Self string
	// Replicas is the preference list: their replies count toward R and W.
	Replicas []string
	// Extra are replicas of the next ring during a transition: a put copies
	// to them too, but their acks do not count.
	Extra []string
	// Down holds the nodes believed down among Replicas and Extra; nil
	// means all are up.
	Down map[string]bool
	// StandIns pairs a down replica with the fallback that stands in for
	// it (it takes writes as hints, and answers reads in its place).
	StandIns map[string]string
}

func (p *Placement) up(id string) bool { return !p.Down[id] }

// QuorumError says a request could not gather enough replicas.
type QuorumError struct {
	Op       string // "put" or "get"
	Summary  string // from quorum.Tally, naming the counts and failures
	TimedOut bool   // the deadline passed with replicas still silent
}

func (e *QuorumError) Error() string {
	if e.TimedOut {
		return fmt.Sprintf("%s timed out: %s", e.Op, e.Summary)
	}
	return fmt.Sprintf("%s failed: %s", e.Op, e.Summary)
}

// ErrNoReplica means no replica of the key is up to coordinate a write.
var ErrNoReplica = errors.New("no replica of the key is up")
