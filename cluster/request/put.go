package request

import (
	"fmt"
	"slices"

	"github.com/harmoniakv/harmonia/cluster/quorum"
)

// CopyKind tells the replies to a put's copies apart. The values travel as
// ReplicaPut.request_id, so they must not change.
type CopyKind uint64

const (
	ToPrimary   CopyKind = iota // a replica of the preference list (or of the next ring)
	ToFallback                  // a fallback that keeps a hint for a down replica
	ToLocalHint                 // this node, keeping a hint that does not count
)

// Copy is a ReplicaPut to send.
type Copy struct {
	To      string
	Kind    CopyKind
	HintFor string // the down replica a fallback's copy is for
}

// PutOutcome is what a put answers its client.
type PutOutcome struct {
	Acks   int // toward W, primaries and fallbacks
	Hinted int // acks from fallbacks holding the write for a down replica
	Err    error
}

// PutEffects is what the driver of a put does after a step, in this order:
// ask Coordinate to make the new version, send Copies, keep LocalHints here,
// answer the client, arm the stragglers' timer, stop.
type PutEffects struct {
	Coordinate string
	Copies     []Copy
	// LocalHints are replicas for which this node keeps the written object
	// as a hint, delivered when they are back.
	LocalHints []string
	Answer     *PutOutcome
	// WaitForStragglers: W is met but replicas are still silent; the
	// driver calls StragglersDeadline after its replica timeout.
	WaitForStragglers bool
	Done              bool
}

// Put decides one write. A replica of the key (this node if it is one)
// makes the new version; the driver then reports it with Coordinated, and
// the version goes to the other replicas, or for a down replica to the
// fallback standing in for it (sloppy quorum), or, with no fallback up, to
// a hint kept here that does not count toward W. Put answers once W acks
// (PW of them from primaries) are in, fails once they can no longer come,
// and in the end keeps a hint here for every replica that neither acked
// nor has a hint elsewhere.
type Put struct {
	pl          Placement
	pw          int
	coordinator string // the replica asked to make the version
	tally       *quorum.Tally
	primaries   int // primary acks, for PW
	hinted      int
	hintedFor   map[string]bool // replicas something already holds a hint for
	extraAcked  map[string]bool // replicas of the next ring that took the version
	haveObject  bool            // the coordinating replica made the version
	answered    bool
	done        bool
}

// NewPut starts a put at w acks (capped to the replicas there are), pw of
// them from primaries.
func NewPut(pl Placement, w, pw int) (*Put, PutEffects) {
	p := &Put{pl: pl, pw: pw}
	var eff PutEffects
	if len(pl.Replicas) == 0 {
		p.finish(&eff, fmt.Errorf("put: %w (the ring names no replica)", ErrNoReplica))
		return p, eff
	}
	p.tally = quorum.NewTallyOver(pl.Replicas, max(min(w, len(pl.Replicas)), 1))
	// This node coordinates if it is a replica: no extra hop.
	coord := ""
	for _, id := range pl.Replicas {
		if id == pl.Self {
			coord = id
			break
		}
		if coord == "" && pl.up(id) {
			coord = id
		}
	}
	if coord == "" {
		p.finish(&eff, fmt.Errorf("put: %w (%d replicas: %v)", ErrNoReplica, len(pl.Replicas), pl.Replicas))
		return p, eff
	}
	p.coordinator = coord
	eff.Coordinate = coord
	return p, eff
}

// Coordinator is the replica asked to make the new version ("" if none).
func (p *Put) Coordinator() string { return p.coordinator }

// Coordinated takes the coordinating replica's answer: err, or the new
// version made, which then goes to every other replica.
func (p *Put) Coordinated(node string, err error) PutEffects {
	var eff PutEffects
	if p.done || p.haveObject || node != p.coordinator {
		return eff
	}
	if err != nil {
		p.finish(&eff, fmt.Errorf("put: replica %s: %w", node, err))
		return eff
	}
	if p.tally.Ack(node) {
		p.primaries++
	}
	p.haveObject = true
	// Replicas of the next ring get the version too, or, down, a hint:
	// once the ring moves on, they are its replicas, and a version missing
	// there is found nowhere else.
	for _, id := range p.pl.Extra {
		if p.pl.up(id) {
			eff.Copies = append(eff.Copies, Copy{To: id, Kind: ToPrimary})
		} else {
			p.localHint(&eff, id)
		}
	}
	for _, id := range p.pl.Replicas {
		switch {
		case id == node:
		case p.pl.up(id):
			eff.Copies = append(eff.Copies, Copy{To: id, Kind: ToPrimary})
		case p.pl.StandIns[id] != "":
			eff.Copies = append(eff.Copies, Copy{To: p.pl.StandIns[id], Kind: ToFallback, HintFor: id})
			p.markHinted(id)
		default:
			// No node outside the preference list is up (a 3-node cluster
			// with N=3): keep the hint here; it does not count toward W.
			p.localHint(&eff, id)
			p.tally.Fail(id, fmt.Errorf("down; hint kept by %s", p.pl.Self))
		}
	}
	p.progress(&eff)
	return eff
}

// Replied takes a copy's acknowledgement (err nil) or failure.
func (p *Put) Replied(kind CopyKind, node, hintFor string, err error) PutEffects {
	var eff PutEffects
	if p.done {
		return eff
	}
	switch kind {
	case ToPrimary:
		if slices.Contains(p.pl.Extra, node) {
			// A replica of the next ring: its ack does not count toward W;
			// one that failed gets a hint kept here.
			if err != nil {
				p.localHint(&eff, node)
			} else {
				if p.extraAcked == nil {
					p.extraAcked = map[string]bool{}
				}
				p.extraAcked[node] = true
			}
			return eff
		}
		if !slices.Contains(p.pl.Replicas, node) {
			return eff
		}
		if err != nil {
			p.tally.Fail(node, err)
		} else if p.tally.Ack(node) {
			p.primaries++
		}
	case ToFallback:
		if !slices.Contains(p.pl.Replicas, hintFor) {
			return eff
		}
		if err != nil {
			p.tally.Fail(hintFor, fmt.Errorf("fallback %s: %w", node, err))
		} else if p.tally.Ack(hintFor) {
			p.hinted++
		}
	default:
		return eff // a hint kept here counts for nothing
	}
	p.progress(&eff)
	return eff
}

// Deadline ends the put when its timeout passes: unanswered, it fails
// naming the counts.
func (p *Put) Deadline() PutEffects {
	var eff PutEffects
	if p.tally == nil {
		return eff
	}
	p.finish(&eff, &QuorumError{Op: "put", Summary: p.tally.Summary(), TimedOut: !p.impossible()})
	return eff
}

// StragglersDeadline ends an answered put whose remaining replicas stayed
// silent: they get hints kept here. Before the answer it does nothing: only
// W, or the deadline, may answer.
func (p *Put) StragglersDeadline() PutEffects {
	var eff PutEffects
	if p.answered {
		p.finish(&eff, nil)
	}
	return eff
}

func (p *Put) localHint(eff *PutEffects, id string) {
	if p.hintedFor[id] || !p.haveObject {
		return
	}
	p.markHinted(id)
	eff.LocalHints = append(eff.LocalHints, id)
}

// markHinted records that something holds a hint for replica id; the map
// is made on first use, as most puts never need it.
func (p *Put) markHinted(id string) {
	if p.hintedFor == nil {
		p.hintedFor = map[string]bool{}
	}
	p.hintedFor[id] = true
}

func (p *Put) pwMet() bool { return p.primaries >= p.pw }

// impossible reports that W (or PW) can no longer be reached.
func (p *Put) impossible() bool {
	return p.tally.Impossible() || p.primaries+p.tally.Pending() < p.pw
}

func (p *Put) progress(eff *PutEffects) {
	switch {
	case p.tally.Met() && p.pwMet():
		if !p.answered {
			p.answer(eff, nil)
			if p.tally.Pending() > 0 {
				eff.WaitForStragglers = true
			}
		}
		if p.tally.Pending() == 0 {
			p.finish(eff, nil)
		}
	case p.impossible() && p.tally.Pending() == 0:
		// Failing only once every replica has answered makes the error
		// report the true count; the deadline bounds the wait.
		p.finish(eff, &QuorumError{Op: "put", Summary: p.summary()})
	}
}

func (p *Put) summary() string {
	if p.pw > 0 && !p.pwMet() {
		return fmt.Sprintf("%d of %d primaries acknowledged (pw needed %d); %s", p.primaries, len(p.pl.Replicas), p.pw, p.tally.Summary())
	}
	return p.tally.Summary()
}

func (p *Put) answer(eff *PutEffects, err error) {
	if p.answered {
		return
	}
	p.answered = true
	out := &PutOutcome{Err: err}
	if p.tally != nil {
		out.Acks, out.Hinted = p.tally.Acks(), p.hinted
	}
	eff.Answer = out
}

// finish answers (if not yet answered), keeps a hint here for every replica,
// of this ring or the next, that has neither acked nor a hint elsewhere, and
// ends the put.
func (p *Put) finish(eff *PutEffects, err error) {
	if p.done {
		return
	}
	p.done = true
	p.answer(eff, err)
	if p.tally != nil {
		for _, id := range p.pl.Replicas {
			if !p.tally.Acked(id) {
				p.localHint(eff, id)
			}
		}
		for _, id := range p.pl.Extra {
			if !p.extraAcked[id] {
				p.localHint(eff, id)
			}
		}
	}
	eff.WaitForStragglers = false
	eff.Done = true
}
