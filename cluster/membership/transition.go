package membership

import "github.com/harmoniakv/harmonia/cluster/ring"

// TransitionInput is what one node knows when it steps a ring transition.
type TransitionInput struct {
	Self       string
	Transition *ring.Transition
	// Live are the members believed up (up, joining or leaving); the step
	// waits only for those in the current or the next ring.
	Live []string
	// Known are all the members this node knows, live or not.
	Known []string
	// Value reads key from member id's gossiped state ("" when unset).
	Value func(id, key string) string
	// Hints is how many hints this node keeps: a leaving node hands them
	// over before it turns left.
	Hints int64
}

// TransitionStep is what a node does after a step.
type TransitionStep struct {
	// Set are the keys of this node's own state to change, in order.
	Set []KeyValue
	// AllSeen: every live member has seen the transition, so every one
	// writes to both rings and transfers may start.
	AllSeen bool
	// Done are the live members that have finished their transfers.
	Done []string
}

// KeyValue is one key of a node's gossiped state.
type KeyValue struct{ Key, Value string }

// StepTransition moves a node through a ring transition. It announces that
// the node has seen the transition (from then on it writes to both rings);
// reports when every live member has, so that pulling may start; and, once
// every live member has seen it and finished its transfers, ends the node's
// own joining, its leaving (only when it keeps no hints: once it has left,
// replicas refuse its data), and the removal of the dead members it removed.
func StepTransition(in TransitionInput) TransitionStep {
	var out TransitionStep
	t := in.Transition
	own := in.Value(in.Self, KeyStatus)
	var live []string
	othersLive := false
	for _, id := range in.Live {
		if t.Current.Contains(id) || t.Next.Contains(id) {
			live = append(live, id)
			othersLive = othersLive || id != in.Self
		}
	}
	set := func(key, value string) { out.Set = append(out.Set, KeyValue{key, value}) }
	if t.Stable() {
		// Nothing to move: a node joining a cluster that has no data yet (all
		// members joining at once) is done as soon as it has met the others.
		if own == RingJoining && othersLive {
			set(KeyStatus, RingNormal)
		}
		return out
	}
	if in.Value(in.Self, KeyTransitionSeen) != t.Key {
		set(KeyTransitionSeen, t.Key)
	}
	// The node's own announcements count at once.
	value := func(id, key string) string {
		if id == in.Self {
			for _, kv := range out.Set {
				if kv.Key == key {
					return kv.Value
				}
			}
		}
		return in.Value(id, key)
	}
	out.AllSeen = true
	allDone := true
	for _, id := range live {
		if value(id, KeyTransitionSeen) != t.Key {
			out.AllSeen = false
		}
		if value(id, KeyTransitionDone) == t.Key {
			out.Done = append(out.Done, id)
		} else {
			allDone = false
		}
	}
	if !out.AllSeen || !allDone {
		return out
	}
	switch {
	case own == RingJoining:
		set(KeyStatus, RingNormal)
	case own == RingLeaving && in.Hints == 0:
		set(KeyStatus, RingLeft)
	}
	for _, id := range in.Known {
		if in.Value(in.Self, KeyRemovedPrefix+id) == RingLeaving {
			set(KeyRemovedPrefix+id, RingLeft)
		}
	}
	return out
}
