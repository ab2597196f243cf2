package membership

import "math"

// How a member's process starts: what it takes from the membership its
// last process saved, and what it decides before its first gossip. The
// gossiper loads the saved states and the store's record of the acceptor
// state, calls StartOf, and acts on the result.

// StartInput is what a member knows when its process starts.
type StartInput struct {
	Self string
	// Addr is its advertised cluster address; Seeds the addresses it was
	// given to join through (none: it starts a cluster of its own).
	Addr  string
	Seeds []string
	// Ring: the member takes part in the ring (a node); false for a
	// gossip-only member, which has no ring status to keep and no
	// acceptor state.
	Ring bool
	// Generation is this start's, from the clock.
	Generation int64
	// Saved is the membership the last process saved; none on a new data
	// directory.
	Saved []NodeState
	// Origin is the store's record of the node's acceptor state.
	Origin AcceptorOrigin
}

// Start is how the member starts.
type Start struct {
	// Status is its own ring status: the saved one, else joining when it
	// has seeds, else normal (a cluster of its own).
	Status string
	// Generation is the start's, raised above a saved one the clock is
	// not past (the clock was stepped back since): peers take only a
	// newer generation than the one they hold. RaisedFrom is that saved
	// generation; 0 when the clock's was kept.
	Generation, RaisedFrom int64
	// Newcomer is the decision still to take, on the seeds' answers, of a
	// node started with seeds on a new data directory: whether its id was
	// a member whose place it takes back; nil when there is none to take.
	Newcomer *Newcomer
	// Origin is what the node records of its acceptor state, and Why why,
	// when it differs from StartInput.Origin; Why is "" otherwise.
	Origin AcceptorOrigin
	Why    string
}

// StartOf decides how a member starts.
func StartOf(in StartInput) Start {
	out := Start{Status: RingNormal, Generation: in.Generation, Origin: in.Origin}
	if len(in.Seeds) > 0 && in.Ring {
		out.Status = RingJoining
		if len(in.Saved) == 0 {
			out.Newcomer = NewNewcomer(in.Addr, in.Seeds)
			if d := out.Newcomer.Decided; d != NewcomerUndecided {
				// A seed list of only itself: nobody to ask; it joins
				// as a new member.
				out.Newcomer = nil
				out.Origin, out.Why = AcceptorOriginDecided(d), "a seed list of only this node"
			}
		}
	}
	for _, st := range in.Saved {
		if st.ID != in.Self {
			continue
		}
		if own := st.App[KeyStatus].Value; IsRingStatus(own) {
			out.Status = own
		}
		if st.Generation >= out.Generation && st.Generation < math.MaxInt64 {
			out.Generation, out.RaisedFrom = st.Generation+1, st.Generation
		}
	}
	// A gossip-only member has no acceptor state to record.
	if next := AcceptorOriginAtStart(out.Origin, out.Newcomer != nil, len(in.Seeds) > 0, len(in.Saved) > 0); in.Ring && next != out.Origin {
		out.Origin, out.Why = next, "start"
	}
	if out.Origin == in.Origin {
		out.Why = ""
	}
	return out
}
