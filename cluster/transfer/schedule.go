package transfer

import "time"

// The schedulers of a node's transfers: which partition transfers of a
// ring transition (Handoff) and which acceptor-state rebuilds
// (PlanRebuilds, RebuildCounts) to start, stop or count as done. They
// decide from plain values; the actors spawn and stop the children, write
// the store and publish through gossip.

// RebuildState is what a node's acceptor rebuild decides from, read at a
// tick or when a rebuild ends (see actors/acceptor_rebuild.go for why the
// rebuild exists and why it waits).
type RebuildState struct {
	// AcceptorsLost is set when the node came back without its acceptor
	// state (membership.AcceptorsLost); nothing is rebuilt otherwise.
	AcceptorsLost bool
	// Started is when the node started, and Delay how long after it the
	// rebuilds may start (HandoffConfig.RebuildDelay): longer than a
	// proposer that counted the lost incarnation's vote lives, so the
	// peers read hold what that proposer got from them.
	Started time.Time
	Delay   time.Duration
	// Concurrency bounds the rebuilds running at once.
	Concurrency int
	// InTransition is set when the node's view has a ring and a ring
	// transition; the fields below it are read only then.
	InTransition bool
	// Transition is the key of the view's ring transition.
	Transition string
	// Partitions is the number of partitions of the ring.
	Partitions int
	// IsVoter reports whether the node votes on a partition's keys in
	// the transition, and Rebuilt whether it has rebuilt the partition's
	// acceptor state already (durably).
	IsVoter func(partition int) bool
	Rebuilt func(partition int) bool
	// Running maps each partition being rebuilt to the key of the ring
	// transition whose voters its rebuild reads.
	Running map[int]string
}

// RebuildPlan is what a node's acceptor rebuild does next: stop the
// rebuilds of the partitions in Stop (they read the voters of another
// transition, which may have changed), then start, in order, a rebuild of
// each partition in Start in the state's transition. A rebuild that
// cannot be started ends the plan: the rest waits for the next one.
type RebuildPlan struct {
	Stop  []int
	Start []int
}

// PlanRebuilds decides, at now, which rebuilds to stop and which to start.
// Nothing happens unless the node lost its acceptor state, Delay has
// passed since it started and its view has a ring transition. Then every
// rebuild of another transition stops, and a rebuild starts for each
// partition, lowest first, that the node is a voter of, has not rebuilt
// and is not rebuilding, as long as fewer than Concurrency run.
func PlanRebuilds(s RebuildState, now time.Time) RebuildPlan {
	if !s.AcceptorsLost || now.Sub(s.Started) < s.Delay || !s.InTransition {
		return RebuildPlan{}
	}
	var plan RebuildPlan
	kept := 0
	for p, key := range s.Running {
		if key != s.Transition {
			plan.Stop = append(plan.Stop, p)
		} else {
			kept++
		}
	}
	for p := 0; p < s.Partitions && kept+len(plan.Start) < s.Concurrency; p++ {
		if key, ok := s.Running[p]; ok && key == s.Transition || s.Rebuilt(p) || !s.IsVoter(p) {
			continue
		}
		plan.Start = append(plan.Start, p)
	}
	return plan
}

// RebuildCounts reports whether a rebuild that ended, having read the
// voters of the transition rebuiltIn, makes its partition rebuilt: only if
// the node's view is still in that transition (current, with inTransition
// set when the view has one). A rebuild read for voters that changed since
// is started again instead.
func RebuildCounts(rebuiltIn, current string, inTransition bool) bool {
	return inTransition && current == rebuiltIn
}

// HandoffStep is what a node's handoff does next: start the transfers of
// the moves at the indices Start (into the partitions given to
// NewHandoff), in order, and publish that the transition is done when Done
// is set.
type HandoffStep struct {
	Start []int
	Done  bool
}

// Handoff schedules the partitions a node receives in one ring transition:
// at most a concurrency of transfers at a time, started once every live
// member writes to both rings, and done once every one has finished. The
// zero value is not usable; use NewHandoff.
type Handoff struct {
	key         string
	partitions  []int
	concurrency int
	started     bool
	next        int // index of the next move to start
	running     map[int]bool
	finished    map[int]bool
}

// NewHandoff returns the schedule of the moves of the partitions (in the
// order they are to start) that a node receives in the transition key,
// with at most concurrency transfers at a time. None starts before Begin.
func NewHandoff(key string, partitions []int, concurrency int) *Handoff {
	return &Handoff{key: key, partitions: partitions, concurrency: concurrency, running: map[int]bool{}, finished: map[int]bool{}}
}

// Key returns the key of the transition scheduled.
func (h *Handoff) Key() string { return h.key }

// Begin is called each time the node sees the transition: ready is set
// once every live member writes to both rings, so the new replicas may
// pull, and stable when the transition moves nothing between members. The
// transfers start the first time it is ready and not stable.
func (h *Handoff) Begin(ready, stable bool) HandoffStep {
	if !ready || h.started || stable {
		return HandoffStep{}
	}
	h.started = true
	return h.fill()
}

// Finished records that the transfer of partition in the transition key
// has finished; one of another transition is ignored.
func (h *Handoff) Finished(key string, partition int) HandoffStep {
	if key != h.key {
		return HandoffStep{}
	}
	delete(h.running, partition)
	h.finished[partition] = true
	return h.fill()
}

// fill starts transfers up to the concurrency bound, and reports the
// transition done once every move has finished.
func (h *Handoff) fill() HandoffStep {
	var step HandoffStep
	for len(h.running) < h.concurrency && h.next < len(h.partitions) {
		step.Start = append(step.Start, h.next)
		h.running[h.partitions[h.next]] = true
		h.next++
	}
	step.Done = len(h.finished) == len(h.partitions)
	return step
}
