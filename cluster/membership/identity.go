package membership

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Params are the settings every member of one cluster must share. Every
// gossip message carries its sender's, and a receiver whose own differ
// refuses the message: a node with another partition count or replica
// count would place keys where no other node looks for them.
type Params struct {
	Partitions int
	Replicas   int
	// SecretFingerprints are one-way digests of the cluster secrets that
	// authenticate causal contexts, the sealing one first. Two nodes agree
	// when each opens what the other seals, so that a secret can be
	// rotated one node at a time.
	SecretFingerprints []string
}

// Mismatch says how theirs (node them's) differs from mine (node me's),
// naming both values of each setting; "" when they agree.
func (mine Params) Mismatch(me string, theirs Params, them string) string {
	var diffs []string
	if mine.Partitions != theirs.Partitions {
		diffs = append(diffs, fmt.Sprintf("--partitions: %s has %d, %s has %d", me, mine.Partitions, them, theirs.Partitions))
	}
	if mine.Replicas != theirs.Replicas {
		diffs = append(diffs, fmt.Sprintf("--n: %s has %d, %s has %d", me, mine.Replicas, them, theirs.Replicas))
	}
	// Gossip-only members (no contexts to seal) may have no secret; a node
	// always has one, so a node and a member never agree.
	bothWithout := len(mine.SecretFingerprints) == 0 && len(theirs.SecretFingerprints) == 0
	if !bothWithout && (!opens(mine.SecretFingerprints, theirs.SecretFingerprints) || !opens(theirs.SecretFingerprints, mine.SecretFingerprints)) {
		diffs = append(diffs, fmt.Sprintf("cluster secret: %s and %s use different ones (--cluster-secret-file)", me, them))
	}
	return strings.Join(diffs, "; ")
}

// opens reports whether a node with secrets a opens contexts sealed by a
// node with secrets b.
func opens(a, b []string) bool { return len(b) > 0 && slices.Contains(a, b[0]) }

// KeyStarted is when the node's process started (Unix ns). It stays when
// the node raises its generation to take its id back: of two processes
// that claim one id, the one that started first keeps it.
const KeyStarted = "started"

// Events about two processes that claim one node id.
const (
	// EventRefused: a claim to member Node's id from another address (Key)
	// was refused, because the member holding it is alive and started
	// first. Value says why.
	EventRefused EventKind = "refused"
	// EventIdentityLost: another process that started first holds this
	// node's own id; this process must stop serving. Value says why.
	EventIdentityLost EventKind = "identity-lost"
	// EventReclaimed: a process that started later claimed this node's id
	// from another address; this node raised its generation so that the
	// cluster takes its state again. Value names the other address.
	EventReclaimed EventKind = "reclaimed"
	// EventIgnored: a state heard through gossip named a member with an id
	// no node may have (CheckID); it was ignored. Node is the id quoted and
	// cut short, Value says why.
	EventIgnored EventKind = "ignored"
	// EventGenerationRaised: an earlier process of this node, at its own
	// address, had a generation not below this one's (the clock was
	// stepped back and the saved state lost); this node raised its
	// generation above it, or peers would ignore it. Value is the
	// earlier generation.
	EventGenerationRaised EventKind = "generation-raised"
)

// validID reports whether id is what a node id may be: 1 to 64 letters,
// digits, '.', '_' or '-', safe in storage keys, actor names and the keys
// of ring transitions, which join ids with ','. (A loop, not a regular
// expression: every ballot a peer sends names one.)
func validID(id string) bool {
	if len(id) < 1 || len(id) > 64 {
		return false
	}
	for i := range len(id) {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// CheckID refuses an id that is not 1 to 64 letters, digits, '.', '_' or
// '-'. Nodes check their own id at start and every id a peer names.
func CheckID(id string) error {
	if !validID(id) {
		return fmt.Errorf("node id %.80q: use 1 to 64 letters, digits, '.', '_' and '-'", id)
	}
	return nil
}

func started(st NodeState) int64 {
	v, _ := strconv.ParseInt(st.App[KeyStarted].Value, 10, 64)
	return v
}

// startedFirst reports whether a's process started before b's (an unknown
// start never counts as first).
func startedFirst(a, b NodeState) bool {
	sa, sb := started(a), started(b)
	return sa > 0 && (sb == 0 || sa < sb)
}

// claim judges st, a newer generation of known member m from gossip. A
// process at another address may take over the id only when the member
// that holds it is down or gone, or when the claimant started first (the
// rightful owner taking its id back). A restart at the same address is
// never a conflict: two live processes cannot share one address.
func (s *State) claim(m *member, st NodeState, now time.Time) (Event, bool) {
	from, held := st.App[KeyClusterAddr].Value, m.App[KeyClusterAddr].Value
	if from == held {
		return Event{}, true
	}
	switch s.Status(m.ID, now) {
	case Down, Left:
		return Event{}, true
	}
	if startedFirst(st, m.NodeState) {
		return Event{}, true
	}
	return Event{Kind: EventRefused, Node: m.ID, Key: from,
		Value: fmt.Sprintf("node id %s is in use by a live member at %s; refused the same id from %s", m.ID, held, from)}, false
}

// claimOfSelf judges a state for this node's own id heard through gossip:
// one from another address with a newer generation is a second process
// using our id, and the one that started first keeps it. A state of our
// own generation is ours: a peer that heard of our newer versions through
// a third node sends them back as a delta, without the address.
func (s *State) claimOfSelf(st NodeState) (Event, bool) {
	if st.Generation <= s.members[s.self].Generation {
		return Event{}, false
	}
	return s.judgeOwnID(st)
}

// Refused judges a peer's refusal of this node's gossip, given the state of
// the member the peer says holds this node's id: rather than take the
// peer's word, it applies the rule of claimOfSelf to that state, whatever
// its generation.
func (s *State) Refused(holder NodeState) (Event, bool) {
	if holder.ID != s.self {
		return Event{}, false
	}
	return s.judgeOwnID(holder)
}

func (s *State) judgeOwnID(st NodeState) (Event, bool) {
	me := s.members[s.self]
	other := st.App[KeyClusterAddr].Value
	if other == "" {
		return Event{}, false // a state without an address names no process
	}
	if other == me.App[KeyClusterAddr].Value {
		// An earlier process of this node (two live ones cannot share an
		// address) whose generation is not below ours: the clock was
		// stepped back since it started, and what it saved is gone.
		if st.Generation < me.Generation || st.Generation == math.MaxInt64 {
			return Event{}, false
		}
		s.raiseGeneration(st.Generation + 1)
		return Event{Kind: EventGenerationRaised, Node: s.self, Value: strconv.FormatInt(st.Generation, 10)}, true
	}
	if startedFirst(st, me.NodeState) {
		return Event{Kind: EventIdentityLost, Node: s.self,
			Value: fmt.Sprintf("node id %s is in use by a process at %s that started first", s.self, other)}, true
	}
	if st.Generation < me.Generation || st.Generation == math.MaxInt64 {
		// No generation outbids the highest: one past it wraps to the
		// lowest, whose states every peer ignores.
		return Event{}, false
	}
	// Take the id back: peers replace a state only with a newer generation.
	s.raiseGeneration(st.Generation + 1)
	return Event{Kind: EventReclaimed, Node: s.self, Value: other}, true
}

// raiseGeneration moves this node to generation g, which peers take over
// the one they hold.
func (s *State) raiseGeneration(g int64) {
	me := s.members[s.self]
	me.Generation = g
	s.version++
	me.Heartbeat = s.version
	s.revision++
}
