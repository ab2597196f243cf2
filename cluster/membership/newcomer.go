package membership

// Newcomer decides how a node started with seeds on an empty data directory
// enters the cluster. Its id may have been a member whose disk was wiped:
// then it takes its place in the ring back, since joining anew would leave
// the current ring and reshuffle it onto replicas that hold nothing. Or it
// is new, and joins. It must not spread its own state before it knows.
//
// Only a node that is not a newcomer itself knows the cluster, so one
// answer from such a node decides. When the answers come from newcomers,
// the cluster may be new as a whole (every node started with the same seed
// list): once newcomers, this node included, make a majority of the seed
// addresses, no existing cluster can be reached through the seeds that a
// majority of them does not know, and the node joins anew. A wiped member
// among a majority of new nodes would join anew too, but then the cluster
// it was a member of is itself a minority of the seed list it was given.
type Newcomer struct {
	own     string
	seeds   map[string]bool // addresses of the others in the seed list
	newcome map[string]bool // seeds that answered as newcomers
	// Decided is the decision once taken; NewcomerUndecided before.
	Decided NewcomerDecision
}

// NewcomerDecision is how a newcomer enters the cluster.
type NewcomerDecision int

const (
	// NewcomerUndecided: no answer has decided yet; the node keeps its
	// state to itself.
	NewcomerUndecided NewcomerDecision = iota
	// NewcomerJoin: the node is new to the cluster and joins.
	NewcomerJoin
	// NewcomerTakeBack: the node's id was a normal member; it takes its
	// place back and copies its replicas from the others.
	NewcomerTakeBack
)

// NewNewcomer starts the decision of the node at own (its advertised cluster
// address) with the seed list it was given; a list of only its own address
// decides at once: there is no one else to ask.
func NewNewcomer(own string, seeds []string) *Newcomer {
	n := &Newcomer{own: own, seeds: map[string]bool{}, newcome: map[string]bool{}}
	n.AddSeeds(seeds)
	return n
}

// AddSeeds adds seed addresses (a later Join call) to the list a majority is
// counted from.
func (n *Newcomer) AddSeeds(seeds []string) {
	for _, s := range seeds {
		if s != n.own {
			n.seeds[s] = true
		}
	}
	n.countNewcomers()
}

// Heard records the answer of the node at addr: peerNew says it is an
// undecided newcomer itself; was is its record of this node's id under an
// older generation ("" when it has none). It returns the decision, which
// once taken does not change.
func (n *Newcomer) Heard(addr string, peerNew bool, was string) NewcomerDecision {
	if n.Decided != NewcomerUndecided {
		return n.Decided
	}
	if !peerNew {
		n.Decided = NewcomerJoin
		if was == RingNormal {
			n.Decided = NewcomerTakeBack
		}
		return n.Decided
	}
	if n.seeds[addr] {
		n.newcome[addr] = true
	}
	n.countNewcomers()
	return n.Decided
}

// countNewcomers decides NewcomerJoin once newcomers, this node included,
// are a majority of the seed list and this node.
func (n *Newcomer) countNewcomers() {
	if n.Decided == NewcomerUndecided && 2*(len(n.newcome)+1) > len(n.seeds)+1 {
		n.Decided = NewcomerJoin
	}
}

// AcceptorOrigin is what a node knows of its acceptor state of strong keys
// (the promises and acceptances it answered), kept with its data directory.
type AcceptorOrigin uint8

const (
	// AcceptorsKept: the directory kept every promise this node answered
	// (or it never answered one: a new node). It votes.
	AcceptorsKept AcceptorOrigin = iota
	// AcceptorsUndecided: a new data directory whose node has not yet
	// learned whether it was a member (Newcomer). It does not vote: it may
	// have answered promises under its id, in an incarnation whose disk is
	// gone.
	AcceptorsUndecided
	// AcceptorsLost: the node was a member and came back with an empty data
	// directory, having lost the promises it answered. It votes for a
	// partition only once it rebuilt that partition's acceptor state from
	// its peers (a per-partition mark).
	AcceptorsLost
)

func (o AcceptorOrigin) String() string {
	return [...]string{"kept", "undecided", "lost"}[o]
}

// AcceptorOriginAtStart resolves an undecided origin when the node starts:
// a newcomer (a new directory with seeds to ask) stays undecided until it
// decides (AcceptorOriginDecided); a node without seeds or saved members
// starts a cluster of its own, which no promise of it can be part of. Any
// other undecided start is a node that began to enter a cluster and
// stopped before it recorded the outcome: it counts as having lost its
// state, since a rebuild only costs time and a lost promise costs safety.
func AcceptorOriginAtStart(o AcceptorOrigin, newcomer, seeded, savedMembers bool) AcceptorOrigin {
	switch {
	case o != AcceptorsUndecided || newcomer:
		return o
	case !seeded && !savedMembers:
		return AcceptorsKept
	}
	return AcceptorsLost
}

// AcceptorOriginDecided is the origin a newcomer's decision makes: taking
// a member's place back means the member's promises are lost; joining as a
// new member, there were none (transfers bring it the chosen values).
func AcceptorOriginDecided(d NewcomerDecision) AcceptorOrigin {
	switch d {
	case NewcomerTakeBack:
		return AcceptorsLost
	case NewcomerJoin:
		return AcceptorsKept
	}
	return AcceptorsUndecided
}
