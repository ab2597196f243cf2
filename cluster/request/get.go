package request

import (
	"errors"
	"slices"
	"time"

	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/quorum"
	"github.com/harmoniakv/harmonia/cluster/reap"
)

// Ask is a ReplicaGet to send: to a replica, or to the fallback standing in
// for the down replica For.
type Ask struct {
	To  string
	For string // "" when To is itself the replica
}

// GetOutcome is what a get answers its client.
type GetOutcome struct {
	Siblings []object.Sibling // reconciled, tombstones included
	Replied  int
	Err      error
}

// GetEffects is what the driver of a get does after a step, in this order:
// send Asks, answer the client, arm the read-repair window, send the
// reconciled object (Get.Merged) to Repair, stop.
type GetEffects struct {
	Asks   []Ask
	Answer *GetOutcome
	// WaitForRepair: R is met and answered, but replicas are still
	// silent; the driver calls RepairWindowOver after its read-repair
	// window, so that late replies can still be repaired.
	WaitForRepair bool
	// Repair lists the nodes that answered with less than the reconciled
	// object (read repair), sorted.
	Repair []string
	// Speculate: replicas are left to ask; the driver calls Speculate
	// after its speculative-retry delay, in case an asked one is slow.
	Speculate bool
	Done      bool
}

// Get decides one read. It asks R replicas, its own first (a local read
// costs no network), then up replicas in preference-list order, then the
// fallbacks standing in for down ones; or, with askAll, every one of them
// at once, as Dynamo and Riak do. A replica that fails is replaced by the
// next one at once, a slow one when the driver calls Speculate. It answers
// the reconciled siblings after R replies, waits briefly for the other
// replicas it asked, and repairs those that answered with less than the
// reconciled object. R+W > N still makes a read meet the last acknowledged
// write; the replicas it did not ask are repaired by anti-entropy.
type Get struct {
	pl        Placement
	rule      reap.Config
	now       time.Time
	tally     *quorum.Tally
	replies   []replyOf         // the sets that counted, by the node that answered
	standsFor map[string]string // fallback -> the down replica it answers for
	merged    []object.Sibling
	// toAsk are the replicas (or stand-ins) not asked yet, in order;
	// waiting are the asked nodes that have not replied.
	toAsk    []Ask
	waiting  map[string]bool
	answered bool
	done     bool
}

type replyOf struct {
	node string
	set  []object.Sibling
}

// NewGet starts a get at r replies (capped to the replicas there are),
// asking r replicas first or, with askAll, all of them. rule decides which
// replicas read repair writes to (reap.Config.Spread): never a tombstone
// past grace to a replica that holds nothing; now is the time it judges
// grace by.
func NewGet(pl Placement, r int, askAll bool, rule reap.Config, now time.Time) (*Get, GetEffects) {
	g := &Get{pl: pl, rule: rule, now: now}
	var eff GetEffects
	if len(pl.Replicas) == 0 {
		g.answered = true
		eff.Answer = &GetOutcome{Err: &QuorumError{Op: "get", Summary: "the ring names no replica"}}
		eff.Done, g.done = true, true
		return g, eff
	}
	g.tally = quorum.NewTallyOver(pl.Replicas, max(min(r, len(pl.Replicas)), 1))
	g.replies = make([]replyOf, 0, len(pl.Replicas))
	var standIns []Ask
	for _, id := range pl.Replicas {
		switch {
		case pl.up(id) && id == pl.Self:
			g.toAsk = slices.Insert(g.toAsk, 0, Ask{To: id})
		case pl.up(id):
			g.toAsk = append(g.toAsk, Ask{To: id})
		case pl.StandIns[id] != "":
			if g.standsFor == nil {
				g.standsFor = map[string]string{}
			}
			g.standsFor[pl.StandIns[id]] = id
			standIns = append(standIns, Ask{To: pl.StandIns[id], For: id})
		default:
			g.tally.Fail(id, errors.New("down"))
		}
	}
	g.toAsk = append(g.toAsk, standIns...)
	g.waiting = make(map[string]bool, len(g.toAsk))
	first := g.tally.Need()
	if askAll {
		first = len(g.toAsk)
	}
	g.ask(&eff, first)
	g.progress(&eff)
	return g, eff
}

// ask asks the next n replicas not asked yet, as there are.
func (g *Get) ask(eff *GetEffects, n int) {
	n = min(n, len(g.toAsk))
	for _, a := range g.toAsk[:n] {
		g.waiting[a.To] = true
		eff.Asks = append(eff.Asks, a)
	}
	g.toAsk = g.toAsk[n:]
	eff.Speculate = len(g.toAsk) > 0 && !g.answered
}

// Speculate asks one more replica if the get is still unanswered: an
// asked one is slow.
func (g *Get) Speculate() GetEffects {
	var eff GetEffects
	if !g.done && !g.answered {
		g.ask(&eff, 1)
	}
	return eff
}

// Merged is the reconciliation of the replies so far.
func (g *Get) Merged() []object.Sibling { return g.merged }

// Replied takes node's answer: its siblings, or err.
func (g *Get) Replied(node string, set []object.Sibling, err error) GetEffects {
	var eff GetEffects
	if g.done {
		return eff
	}
	if !g.waiting[node] {
		return eff // not asked, or already replied
	}
	delete(g.waiting, node)
	replica := node
	if target, ok := g.standsFor[node]; ok {
		replica = target
	}
	if err != nil {
		g.tally.Fail(replica, err)
	} else if g.tally.Ack(replica) {
		g.replies = append(g.replies, replyOf{node, set})
		// Replicas mostly agree: a set with the versions already merged
		// adds nothing, and merging it again would only allocate.
		if len(g.merged) == 0 || !object.SameVersions(g.merged, set) {
			g.merged = object.Merge(g.merged, set)
		}
	}
	g.progress(&eff)
	return eff
}

// Deadline ends the get when its timeout passes: unanswered, it fails
// naming the counts; the replies in hand are still repaired.
func (g *Get) Deadline() GetEffects {
	var eff GetEffects
	if g.done {
		return eff
	}
	if !g.answered {
		g.answer(&eff, &QuorumError{Op: "get", Summary: g.tally.Summary(), TimedOut: !g.tally.Impossible()})
	}
	g.repairAndStop(&eff)
	return eff
}

// RepairWindowOver ends the wait for late replies. Before the answer it
// does nothing: only R, or the deadline, may answer.
func (g *Get) RepairWindowOver() GetEffects {
	var eff GetEffects
	if g.answered {
		g.repairAndStop(&eff)
	}
	return eff
}

func (g *Get) answer(eff *GetEffects, err error) {
	g.answered = true
	if err != nil {
		eff.Answer = &GetOutcome{Replied: g.tally.Acks(), Err: err}
		return
	}
	eff.Answer = &GetOutcome{Siblings: g.merged, Replied: g.tally.Acks()}
}

func (g *Get) progress(eff *GetEffects) {
	if !g.answered && !g.tally.Met() {
		// A failed replica is replaced at once by the next one.
		if short := g.tally.Need() - g.tally.Acks() - len(g.waiting); short > 0 && len(g.toAsk) > 0 {
			g.ask(eff, short)
		}
	}
	switch {
	case g.tally.Met() && !g.answered:
		g.answer(eff, nil)
		eff.Speculate = false
		if len(g.waiting) > 0 {
			eff.WaitForRepair = true
			return
		}
		g.repairAndStop(eff)
	case !g.answered && len(g.waiting) == 0:
		g.answer(eff, &QuorumError{Op: "get", Summary: g.tally.Summary()})
		g.repairAndStop(eff)
	case g.answered && len(g.waiting) == 0:
		g.repairAndStop(eff)
	}
}

// repairAndStop names every replica that answered with less than the
// reconciled object, and ends the get.
func (g *Get) repairAndStop(eff *GetEffects) {
	if g.done {
		return
	}
	g.done = true
	if len(g.merged) > 0 {
		for _, r := range g.replies {
			if g.rule.Spread(g.merged, r.set, g.now) {
				eff.Repair = append(eff.Repair, r.node)
			}
		}
		slices.Sort(eff.Repair)
	}
	g.replies = nil
	eff.WaitForRepair, eff.Speculate = false, false
	eff.Done = true
}
