package membership

import (
	"errors"
	"fmt"
	"slices"
)

// What a node's actors ask of a View: whom a down replica's requests go
// to, whom to take data from, and whether the node may serve yet.

// StandIns pairs each down replica in pref, in order, with the next
// fallback of partition p that is up and not leaving; down replicas left
// over have none. A suspect member counts as down (Status.Live). With
// every replica up, the common case, it is nil and walks no ring. A
// leaving member would have to hand every hint it took over before it
// could leave, so under steady load it might never get there.
func (v *View) StandIns(p int, pref []string) map[string]string {
	var out map[string]string
	var fallbacks []string
	for _, id := range pref {
		if v.Members[id].Status.Live() {
			continue
		}
		if out == nil {
			out, fallbacks = map[string]string{}, v.Ring.Fallbacks(p, len(pref))
		}
		for len(fallbacks) > 0 && (!v.Members[fallbacks[0]].Status.Live() || v.Members[fallbacks[0]].Status == Leaving) {
			fallbacks = fallbacks[1:]
		}
		if len(fallbacks) == 0 {
			break
		}
		out[id], fallbacks = fallbacks[0], fallbacks[1:]
	}
	return out
}

// Admits says whether this node takes data (replica writes, hints,
// repairs, reaps) from node, of the given incarnation: from itself, or
// from a member in good standing of the incarnation this node knows. A
// node that left or was removed, one never heard of (another cluster), or
// another incarnation of a member may hold data the cluster has since
// deleted and reaped: taking it would bring the deleted keys back.
func (v *View) Admits(node string, incarnation uint64) error {
	if node == v.Self {
		return nil
	}
	m, ok := v.Members[node]
	switch {
	case node == "":
		return errors.New("refused data from an unnamed sender")
	case !ok:
		return fmt.Errorf("refused data from %s: not a member of this cluster", node)
	case m.Status == Left:
		return fmt.Errorf("refused data from %s: it left the cluster or was removed", node)
	case m.Incarnation != incarnation:
		return fmt.Errorf("refused data from %s: incarnation %d, but the member is incarnation %d", node, incarnation, m.Incarnation)
	}
	return nil
}

// Alone reports whether this node must not serve keys yet: it knows other
// members, or was given seeds other than its own addresses (own), but has
// heard from none since it started. Alone, its ring would hold only itself
// and take every key at a quorum of one; and a restarted node's saved view
// may be stale (it may even have been removed while it was down), so it
// waits for the cluster's word.
func (v *View) Alone(seeds []string, own ...string) bool {
	others := false
	for id, m := range v.Members {
		if id == v.Self || m.Status == Left {
			continue
		}
		if m.HeartbeatAge >= 0 {
			return false
		}
		others = true
	}
	return others || slices.ContainsFunc(seeds, func(seed string) bool { return !slices.Contains(own, seed) })
}
