// Package membership owns a node's view of the cluster as spread by gossip:
// every node's versioned state, the Scuttlebutt reconciliation that spreads
// it (as Cassandra's gossiper does), and each member's liveness from a
// phi-accrual failure detector on its heartbeats.
//
// It is a pure state machine: time comes in as arguments, messages as values,
// and it starts no goroutines. The gossiper actor drives it.
//
// Each node's state has a generation, which changes when the node process
// restarts, and versioned entries: the heartbeat and application keys, all
// versioned by one counter that only the node itself advances. A digest is
// (node, generation, highest version); two nodes exchange digests, then only
// the entries the other lacks.
package membership

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/harmoniakv/harmonia/cluster/failure"
	"github.com/harmoniakv/harmonia/cluster/ring"
)

// ProtocolVersion is the node-to-node protocol this build speaks; nodes
// publish it under KeyProtocol so that peers never send message types a node
// does not know.
const ProtocolVersion = 1

// Application keys every node publishes.
const (
	KeyClusterAddr = "cluster_addr"
	KeyClientAddr  = "client_addr"
	KeyIncarnation = "incarnation"
	KeyProtocol    = "protocol"
	// KeyStatus is the node's place in the ring: RingJoining, RingNormal,
	// RingLeaving or RingLeft.
	KeyStatus = "status"
	// KeyTransitionSeen and KeyTransitionDone carry the key of the ring
	// transition a node has seen (so it writes to both rings) and finished
	// pulling data for.
	KeyTransitionSeen = "transition_seen"
	KeyTransitionDone = "transition_done"
	// KeyRemovedPrefix + id, published by the node that removes dead member
	// id, is RingLeaving while its partitions are rebuilt elsewhere, then
	// RingLeft. A dead node cannot publish its own leaving.
	KeyRemovedPrefix = "removed:"
	// KeyHintsPending is how many hints the node keeps for others; no
	// tombstone is reaped while any node keeps one.
	KeyHintsPending = "hints_pending"
	// KeyCatalog is the revision of the table catalog the node holds; a
	// node that sees a newer one reads the catalog again.
	KeyCatalog = "catalog"
	// UserKeyPrefix starts every key of user state (Gossiper.UpdateState),
	// which no control key above does: users cannot move a node in the
	// ring by publishing "status".
	UserKeyPrefix = "user:"
)

// A node's place in the ring, the value of KeyStatus.
const (
	RingJoining = ring.StatusJoining
	RingNormal  = ring.StatusNormal
	RingLeaving = ring.StatusLeaving
	RingLeft    = ring.StatusLeft
)

// Versioned is an application value and the version that set it.
type Versioned struct {
	Value   string
	Version uint64
}

// NodeState is everything gossip knows about one node.
type NodeState struct {
	ID         string
	Generation int64
	Heartbeat  uint64 // version of the latest heartbeat
	App        map[string]Versioned
	// Since, in a state sent to a peer, says it holds only the entries
	// newer than Since (a delta); 0: the whole state. Stored states have 0.
	Since uint64
}

// MaxVersion is the highest version in the state.
func (n NodeState) MaxVersion() uint64 {
	v := n.Heartbeat
	for _, a := range n.App {
		v = max(v, a.Version)
	}
	return v
}

// since returns the part of n newer than version.
func (n NodeState) since(version uint64) NodeState {
	out := NodeState{ID: n.ID, Generation: n.Generation, App: map[string]Versioned{}, Since: version}
	if n.Heartbeat > version {
		out.Heartbeat = n.Heartbeat
	}
	for k, a := range n.App {
		if a.Version > version {
			out.App[k] = a
		}
	}
	return out
}

func (n NodeState) clone() NodeState {
	n.App = maps.Clone(n.App)
	return n
}

// Digest summarises one node's state.
type Digest struct {
	ID         string
	Generation int64
	MaxVersion uint64
}

// Status is a member's state as this node sees it.
type Status string

const (
	Up      Status = "up"
	Joining Status = "joining"
	Suspect Status = "suspect"
	Down    Status = "down"
	Leaving Status = "leaving"
	Left    Status = "left"
)

// Live reports whether a member in status s takes requests and counts in
// ring transitions: up, joining or leaving. A suspect member is not live:
// requests go around it until the detector clears or convicts it.
func (s Status) Live() bool { return s == Up || s == Joining || s == Leaving }

// EventKind says what changed.
type EventKind string

const (
	EventJoined       EventKind = "joined"
	EventUp           EventKind = "up"
	EventSuspect      EventKind = "suspect"
	EventDown         EventKind = "down"
	EventLeft         EventKind = "left"
	EventStateChanged EventKind = "state-changed"
	EventRestarted    EventKind = "restarted"
	// EventRingChanged: the ring was recomputed (a member joins, leaves or
	// was removed). Node is the node that recomputed it.
	EventRingChanged EventKind = "ring-changed"
	// EventPlaceTakenBack: this node, restarted with an empty data
	// directory, learned that it was a normal member and took its place in
	// the ring back; its replicas must be copied to it again.
	EventPlaceTakenBack EventKind = "place-taken-back"
)

// Event is one change in the view.
type Event struct {
	Kind  EventKind
	Node  string
	Key   string // for EventStateChanged
	Value string // the new value, or for identity events the reason
}

// Config tunes the view.
type Config struct {
	Failure failure.Config
	// SuspectPhi: a member whose phi reaches it (but not Failure.Threshold)
	// is suspect. Default 4.
	SuspectPhi float64
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config { return Config{Failure: failure.DefaultConfig(), SuspectPhi: 4} }

type member struct {
	NodeState
	fd        *failure.Detector
	reported  Status
	transport bool // the transport lost the connection; cleared by a heartbeat
}

// State is one node's view of the cluster.
type State struct {
	cfg     Config
	self    string
	version uint64
	members map[string]*member
	// revision counts the changes worth saving: members, generations and
	// application values, but not heartbeats nor the hint count, which
	// change every second while a node is down.
	revision uint64
}

// New starts a view holding only self, with its application state.
func New(cfg Config, self string, generation int64, app map[string]string) *State {
	s := &State{cfg: cfg, self: self, members: map[string]*member{}}
	s.members[self] = &member{NodeState: NodeState{ID: self, Generation: generation, App: map[string]Versioned{}}, reported: Up}
	app = maps.Clone(app)
	if _, ok := app[KeyStarted]; !ok {
		app[KeyStarted] = strconv.FormatInt(generation, 10)
	}
	for _, k := range slices.Sorted(maps.Keys(app)) {
		s.Set(k, app[k])
	}
	return s
}

// Self is this node's id.
func (s *State) Self() string { return s.self }

// Generation is this node's own generation; it changes when the node takes
// its id back from another process (EventReclaimed).
func (s *State) Generation() int64 { return s.members[s.self].Generation }

// Tick advances this node's heartbeat; call it once per gossip round.
func (s *State) Tick() {
	s.version++
	s.members[s.self].Heartbeat = s.version
}

// Set publishes an application value of this node.
func (s *State) Set(key, value string) {
	s.version++
	s.members[s.self].App[key] = Versioned{Value: value, Version: s.version}
	if saved(key) {
		s.revision++
	}
}

// Get returns node id's value for key.
func (s *State) Get(id, key string) (string, bool) {
	m, ok := s.members[id]
	if !ok {
		return "", false
	}
	a, ok := m.App[key]
	return a.Value, ok
}

// Digests summarises every known node, sorted by id.
func (s *State) Digests() []Digest {
	out := make([]Digest, 0, len(s.members))
	for _, id := range s.IDs() {
		m := s.members[id]
		out = append(out, Digest{ID: id, Generation: m.Generation, MaxVersion: m.MaxVersion()})
	}
	return out
}

// Syn answers a peer's digests: the states the peer lacks, and digests of
// what this node lacks (to be sent back by the peer).
func (s *State) Syn(digests []Digest) (send []NodeState, request []Digest) {
	seen := map[string]bool{}
	for _, d := range digests {
		seen[d.ID] = true
		m, ok := s.members[d.ID]
		switch {
		case !ok || d.Generation > m.Generation:
			request = append(request, Digest{ID: d.ID, Generation: d.Generation})
		case d.Generation < m.Generation:
			send = append(send, m.NodeState.clone())
		case d.MaxVersion > m.MaxVersion():
			request = append(request, Digest{ID: d.ID, Generation: d.Generation, MaxVersion: m.MaxVersion()})
		case d.MaxVersion < m.MaxVersion():
			send = append(send, m.since(d.MaxVersion))
		}
	}
	for _, id := range s.IDs() {
		if !seen[id] {
			send = append(send, s.members[id].NodeState.clone())
		}
	}
	return send, request
}

// Delta returns what the requests ask for: each node's entries newer than
// the requested version (the whole state if the generation differs).
func (s *State) Delta(requests []Digest) []NodeState {
	var out []NodeState
	for _, r := range requests {
		m, ok := s.members[r.ID]
		switch {
		case !ok || m.Generation < r.Generation:
		case m.Generation > r.Generation:
			out = append(out, m.NodeState.clone())
		default:
			out = append(out, m.since(r.MaxVersion))
		}
	}
	return out
}

// Apply merges states heard through gossip. A newer heartbeat counts as an
// arrival for the failure detector, whoever relayed it.
func (s *State) Apply(states []NodeState, now time.Time) []Event {
	var events []Event
	for _, st := range states {
		if st.ID == s.self {
			if e, ok := s.claimOfSelf(st); ok {
				events = append(events, e)
			}
			continue
		}
		if err := CheckID(st.ID); err != nil {
			events = append(events, Event{Kind: EventIgnored, Node: fmt.Sprintf("%.80q", st.ID), Value: err.Error()})
			continue
		}
		m, ok := s.members[st.ID]
		if !reaches(m, ok, st) {
			continue
		}
		if ok && st.Generation > m.Generation {
			if e, accept := s.claim(m, st, now); !accept {
				events = append(events, e)
				continue
			}
		}
		switch {
		case !ok:
			m = &member{NodeState: NodeState{ID: st.ID, Generation: st.Generation, App: map[string]Versioned{}},
				fd: failure.NewDetector(s.cfg.Failure), reported: Down}
			s.members[st.ID] = m
			s.revision++
			events = append(events, Event{Kind: EventJoined, Node: st.ID})
		case st.Generation > m.Generation:
			m.NodeState = NodeState{ID: st.ID, Generation: st.Generation, App: map[string]Versioned{}}
			m.fd = failure.NewDetector(s.cfg.Failure)
			s.revision++
			events = append(events, Event{Kind: EventRestarted, Node: st.ID})
		case st.Generation < m.Generation:
			continue
		}
		if st.Heartbeat > m.Heartbeat {
			m.Heartbeat = st.Heartbeat
			m.fd.Heartbeat(now)
			m.transport = false
		}
		for _, k := range slices.Sorted(maps.Keys(st.App)) {
			a := st.App[k]
			if k == KeyStatus && !IsRingStatus(a.Value) {
				continue
			}
			if cur, ok := m.App[k]; !ok || a.Version > cur.Version {
				m.App[k] = a
				if saved(k) {
					s.revision++
				}
				events = append(events, Event{Kind: EventStateChanged, Node: st.ID, Key: k, Value: a.Value})
			}
		}
	}
	return events
}

// reaches reports whether st can be merged into m (ok: m is known) without
// a gap: a whole state always can; a delta only onto a state of its
// generation that holds every version up to the delta's Since. A delta
// can arrive onto an older state than the one it answers: a reply to a
// process that has since restarted from its saved members, or one that
// crossed a restart of its sender's peer. Taken, it would skip the entries
// between, and the member would claim versions it lacks for ever (its
// digests say it has them, so nobody sends them again). Skipped, the next
// exchange asks for them.
func reaches(m *member, ok bool, st NodeState) bool {
	if st.Since == 0 {
		return true
	}
	return ok && st.Generation == m.Generation && st.Since <= m.MaxVersion()
}

// Load adds states remembered from disk. They are known but not alive until
// a heartbeat is heard.
func (s *State) Load(states []NodeState) {
	for _, st := range states {
		if CheckID(st.ID) != nil || st.ID == s.self {
			continue
		}
		if _, ok := s.members[st.ID]; ok {
			continue
		}
		st = st.clone()
		st.Since = 0
		if !IsRingStatus(st.App[KeyStatus].Value) {
			delete(st.App, KeyStatus)
		}
		st.Heartbeat = 0 // so that any live heartbeat of this generation counts
		if st.App == nil {
			st.App = map[string]Versioned{}
		}
		s.members[st.ID] = &member{NodeState: st, fd: failure.NewDetector(s.cfg.Failure), reported: Down}
		s.revision++
	}
}

// Revision changes whenever something worth saving does: a new member, a
// restart, an application value. A saved Snapshot is current enough while
// the revision has not moved: heartbeats are not kept across restarts, and
// a stale hint count is replaced by gossip before a member is heard from.
func (s *State) Revision() uint64 { return s.revision }

// IsRingStatus reports whether s is a place in the ring. A status heard
// through gossip or read from disk that is none is not taken: the ring
// cannot be computed with it, on this node or on any it gossips to.
func IsRingStatus(s string) bool {
	switch s {
	case RingJoining, RingNormal, RingLeaving, RingLeft:
		return true
	}
	return false
}

// saved reports whether a change of app key moves the revision.
func saved(key string) bool { return key != KeyHintsPending }

// TransportLost records that the remote layer lost its connection to the
// node at clusterAddr. It makes the node suspect at once, never down: only
// the failure detector convicts.
func (s *State) TransportLost(clusterAddr string) {
	for id, m := range s.members {
		if id != s.self && m.App[KeyClusterAddr].Value == clusterAddr {
			m.transport = true
		}
	}
}

// RingStatus is member id's place in the ring: its own KeyStatus, unless
// another node removed it.
func (s *State) RingStatus(id string) string {
	m, ok := s.members[id]
	if !ok {
		return RingLeft
	}
	own := m.App[KeyStatus].Value
	if own == "" {
		own = RingNormal
	}
	if own == RingLeft {
		return own
	}
	removed := ""
	for _, other := range s.members {
		switch other.App[KeyRemovedPrefix+id].Value {
		case RingLeft:
			return RingLeft
		case RingLeaving:
			removed = RingLeaving
		}
	}
	if removed != "" {
		return removed
	}
	return own
}

// Status returns member id's status at now.
func (s *State) Status(id string, now time.Time) Status {
	m, ok := s.members[id]
	if !ok {
		return Down
	}
	ringStatus := s.RingStatus(id)
	if ringStatus == RingLeft {
		return Left
	}
	live := Up
	if id != s.self {
		switch phi := m.fd.Phi(now); {
		case phi >= s.cfg.Failure.Threshold:
			live = Down
		case phi >= s.cfg.SuspectPhi || m.transport:
			live = Suspect
		}
	}
	if live == Up {
		switch ringStatus {
		case RingLeaving:
			return Leaving
		case RingJoining:
			return Joining
		}
	}
	return live
}

// Evaluate reports the liveness changes since the previous call.
func (s *State) Evaluate(now time.Time) []Event {
	var events []Event
	for _, id := range s.IDs() {
		m := s.members[id]
		st := s.Status(id, now)
		if st == m.reported {
			continue
		}
		prev := m.reported
		m.reported = st
		kind := map[Status]EventKind{Up: EventUp, Joining: EventUp, Leaving: EventUp, Suspect: EventSuspect, Down: EventDown, Left: EventLeft}[st]
		if kind == EventUp && (prev == Up || prev == Joining || prev == Leaving) {
			continue // a ring status change, not a liveness change
		}
		events = append(events, Event{Kind: kind, Node: id})
	}
	return events
}

// Phi is member id's current suspicion level (0 for self).
func (s *State) Phi(id string, now time.Time) float64 {
	m, ok := s.members[id]
	if !ok || id == s.self {
		return 0
	}
	return m.fd.Phi(now)
}

// HeartbeatAge is how long ago member id's heartbeat was last heard (-1 if never).
func (s *State) HeartbeatAge(id string, now time.Time) time.Duration {
	m, ok := s.members[id]
	switch {
	case !ok:
		return -1
	case id == s.self:
		return 0
	case !m.fd.Heard():
		return -1
	}
	return now.Sub(m.fd.LastHeartbeat())
}

// Node returns a copy of member id's state.
func (s *State) Node(id string) (NodeState, bool) {
	m, ok := s.members[id]
	if !ok {
		return NodeState{}, false
	}
	return m.NodeState.clone(), true
}

// RingStatusBefore returns id's ring status as this node knows it, if it
// knows id under another generation than generation (an earlier process:
// older, or newer when the clock was stepped back since); "" otherwise. A
// node that restarted with an empty data directory asks it of its seeds.
func (s *State) RingStatusBefore(id string, generation int64) string {
	m, ok := s.members[id]
	if !ok || id == s.self || m.Generation == generation {
		return ""
	}
	return s.RingStatus(id)
}

// IDs returns every known member id, sorted.
func (s *State) IDs() []string { return slices.Sorted(maps.Keys(s.members)) }

// Snapshot returns every node's state, for saving.
func (s *State) Snapshot() []NodeState {
	out := make([]NodeState, 0, len(s.members))
	for _, id := range s.IDs() {
		out = append(out, s.members[id].NodeState.clone())
	}
	return out
}

// Protocol returns the protocol version member id speaks (0 if unknown).
func (s *State) Protocol(id string) int {
	v, _ := s.Get(id, KeyProtocol)
	p, _ := strconv.Atoi(v)
	return p
}
