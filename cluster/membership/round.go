package membership

import (
	"slices"
	"time"
)

// Rand is the randomness a gossip round draws on.
type Rand interface {
	IntN(n int) int   // in [0, n)
	Float64() float64 // in [0, 1)
}

// RoundTargets are the cluster addresses one gossip round opens an
// exchange with, as Cassandra's rounds choose them:
//   - a random member that is neither down nor gone (a suspect included:
//     gossip is how a suspect clears);
//   - with probability down/(reachable+1), a random down member too, so a
//     recovered node is found;
//   - a seed other than this node when nothing is reachable, or with
//     probability 1/(reachable+1), so that partitioned halves of a cluster
//     booted from one seed list find each other.
func (s *State) RoundTargets(now time.Time, seeds []string, rng Rand) []string {
	var reachable, down []string
	for _, id := range s.IDs() {
		if id == s.self {
			continue
		}
		switch s.Status(id, now) {
		case Down:
			down = append(down, id)
		case Left:
		default:
			reachable = append(reachable, id)
		}
	}
	var out []string
	if len(reachable) > 0 {
		out = append(out, s.addr(reachable[rng.IntN(len(reachable))]))
	}
	if len(down) > 0 && rng.Float64() < float64(len(down))/float64(len(reachable)+1) {
		out = append(out, s.addr(down[rng.IntN(len(down))]))
	}
	own := s.addr(s.self)
	others := slices.DeleteFunc(slices.Clone(seeds), func(seed string) bool { return seed == own })
	if len(others) > 0 && (len(reachable) == 0 || rng.Float64() < 1/float64(len(reachable)+1)) {
		out = append(out, others[rng.IntN(len(others))])
	}
	return out
}

// LiveTarget is the cluster address of a random live member other than
// this node, which a change of this node's own state is pushed to at once
// rather than at the next round; false when there is none.
func (s *State) LiveTarget(now time.Time, rng Rand) (string, bool) {
	var live []string
	for _, id := range s.IDs() {
		if id != s.self && s.Status(id, now).Live() {
			live = append(live, id)
		}
	}
	if len(live) == 0 {
		return "", false
	}
	return s.addr(live[rng.IntN(len(live))]), true
}

func (s *State) addr(id string) string {
	v, _ := s.Get(id, KeyClusterAddr)
	return v
}

// SynAnswer is a node's answer to a peer's SYN (its ACK).
type SynAnswer struct {
	// Send: the states the peer lacks; Requests: what this node lacks,
	// for the peer to send back (its ACK2).
	Send     []NodeState
	Requests []Digest
	// SenderWas is the ring status this node knew the peer by under
	// another generation than the one it gossips now: what a node back
	// with an empty data directory needs to take its place back.
	SenderWas string
	// SenderNew: this node is a newcomer (Newcomer) that has not decided
	// yet how it enters.
	SenderNew bool
}

// AnswerSyn answers the SYN of peer from, which carried digests. A
// newcomer answers with neither its own state, which would spread as a
// joining node's, nor requests, whose answers would make it compute a ring
// with itself joining; and it knows no peer's earlier ring status.
func (s *State) AnswerSyn(from string, digests []Digest, newcomer bool) SynAnswer {
	send, request := s.Syn(digests)
	if newcomer {
		return SynAnswer{SenderNew: true, Send: slices.DeleteFunc(send, func(n NodeState) bool { return n.ID == s.self })}
	}
	a := SynAnswer{Send: send, Requests: request}
	for _, d := range digests {
		if d.ID == from {
			a.SenderWas = s.RingStatusBefore(from, d.Generation)
		}
	}
	return a
}
