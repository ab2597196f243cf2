// Package membership owns a node's view of who is in the cluster and who is
// alive, as spread by gossip. It is a plain state machine: time comes in as
// explicit arguments, messages as values, and it starts no goroutines.
//
// Liveness here is a heartbeat timeout: a member whose heartbeat has not
// grown for Config.DownAfter is down. A transport report (the remote layer
// lost the connection) marks a member down at once until a newer heartbeat
// proves it alive.
package membership

import (
	"cmp"
	"slices"
	"time"
)

// ProtocolVersion is the node-to-node protocol this build speaks.
const ProtocolVersion = 1

// Config tunes liveness.
type Config struct {
	// DownAfter is how long a member's heartbeat may stay unchanged before it
	// counts as down. Default 5 s: five missed one-second gossip rounds.
	DownAfter time.Duration
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config { return Config{DownAfter: 5 * time.Second} }

// Member is one node as gossip describes it.
type Member struct {
	ID          string
	ClusterAddr string
	ClientAddr  string
	Incarnation uint64
	// Generation changes when the node process restarts; Heartbeat grows
	// every gossip round of that process.
	Generation int64
	Heartbeat  uint64
	Protocol   uint32
}

// newer reports whether m is a later state of the same node than o.
func (m Member) newer(o Member) bool {
	if m.Generation != o.Generation {
		return m.Generation > o.Generation
	}
	return m.Heartbeat > o.Heartbeat
}

type entry struct {
	Member
	lastChange  time.Time // local time the heartbeat last grew
	unreachable bool      // transport lost it; cleared by a newer heartbeat
}

// State is one node's membership view.
type State struct {
	cfg     Config
	self    string
	members map[string]*entry
}

// New starts a view holding only self.
func New(cfg Config, self Member, now time.Time) *State {
	s := &State{cfg: cfg, self: self.ID, members: map[string]*entry{}}
	s.members[self.ID] = &entry{Member: self, lastChange: now}
	return s
}

// Tick advances this node's own heartbeat; call it once per gossip round.
func (s *State) Tick(now time.Time) {
	e := s.members[s.self]
	e.Heartbeat++
	e.lastChange = now
}

// Merge folds in members heard from gossip (or loaded from disk) and reports
// whether the set of member ids changed.
func (s *State) Merge(in []Member, now time.Time) (joined bool) {
	for _, m := range in {
		if m.ID == "" || m.ID == s.self {
			continue
		}
		e, ok := s.members[m.ID]
		switch {
		case !ok:
			s.members[m.ID] = &entry{Member: m, lastChange: now}
			joined = true
		case m.newer(e.Member):
			e.Member, e.lastChange, e.unreachable = m, now, false
		}
	}
	return joined
}

// Seen loads members from disk: they are known but not yet proven alive.
func (s *State) Seen(in []Member, now time.Time) {
	s.Merge(in, now.Add(-s.cfg.DownAfter))
}

// MarkUnreachable records that the transport lost the node at addr.
func (s *State) MarkUnreachable(clusterAddr string) {
	for id, e := range s.members {
		if id != s.self && e.ClusterAddr == clusterAddr {
			e.unreachable = true
		}
	}
}

// Up reports whether member id is believed alive at now.
func (s *State) Up(id string, now time.Time) bool {
	e, ok := s.members[id]
	if !ok {
		return false
	}
	if id == s.self {
		return true
	}
	return !e.unreachable && now.Sub(e.lastChange) < s.cfg.DownAfter
}

// HeartbeatAge is how long ago member id's heartbeat last grew.
func (s *State) HeartbeatAge(id string, now time.Time) time.Duration {
	if e, ok := s.members[id]; ok {
		return now.Sub(e.lastChange)
	}
	return 0
}

// Members returns every known member sorted by id.
func (s *State) Members() []Member {
	out := make([]Member, 0, len(s.members))
	for _, e := range s.members {
		out = append(out, e.Member)
	}
	slices.SortFunc(out, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// IDs returns the member ids sorted.
func (s *State) IDs() []string {
	out := make([]string, 0, len(s.members))
	for id := range s.members {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
