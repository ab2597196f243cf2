// Package quorum owns read/write quorum rules: parsing the R and W a client
// asks for against the replication factor N, and the Tally that the get and
// put state machines use to count replica replies for one request and decide
// when it has succeeded or can no longer succeed.
package quorum

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Named quorum specs accepted by Parse (case-insensitive).
const (
	SpecOne    = "one"
	SpecQuorum = "quorum"
	SpecAll    = "all"
)

// ErrInvalid is matched (errors.Is) by every error Parse returns for a bad
// spec, replication factor or default.
var ErrInvalid = errors.New("invalid quorum")

// SpecError reports a spec that is not one of the accepted forms, or a number
// outside 1..N. Its message tells the user what is accepted.
type SpecError struct {
	Spec       string // as given
	N          int    // replication factor it was checked against
	OutOfRange bool   // a number, but not in 1..N
}

func (e *SpecError) Error() string {
	problem := "is not valid"
	if e.OutOfRange {
		problem = "out of range"
	}
	return fmt.Sprintf("quorum %q %s: must be %s, %s, %s or 1..%d", e.Spec, problem, SpecOne, SpecQuorum, SpecAll, e.N)
}

// Is makes errors.Is(err, ErrInvalid) hold for a *SpecError.
func (e *SpecError) Is(target error) bool { return target == ErrInvalid }

// Majority returns the smallest count that is more than half of n: any two
// majorities of the same n replicas overlap in at least one replica.
func Majority(n int) int { return n/2 + 1 }

// Parse resolves spec against replication factor n: "" means def, "one" 1,
// "quorum" a majority (n/2+1), "all" n, and a decimal number in 1..n itself.
// Case and surrounding spaces are ignored. On success the result is always
// in 1..n; n < 1, or def outside 1..n when it is used, is an error too.
func Parse(spec string, n int, def int) (int, error) {
	if n < 1 {
		return 0, fmt.Errorf("%w %q: replication factor %d must be at least 1", ErrInvalid, spec, n)
	}
	norm := strings.ToLower(strings.TrimSpace(spec))
	switch norm {
	case "":
		if def < 1 || def > n {
			return 0, fmt.Errorf("%w: default %d must be 1..%d", ErrInvalid, def, n)
		}
		return def, nil
	case SpecOne:
		return 1, nil
	case SpecQuorum:
		return Majority(n), nil
	case SpecAll:
		return n, nil
	}
	// Only plain digits: strconv.Atoi alone would also accept signs.
	if strings.TrimLeft(norm, "0123456789") != "" {
		return 0, &SpecError{Spec: spec, N: n}
	}
	v, err := strconv.Atoi(norm)
	if err != nil || v < 1 || v > n {
		// Atoi only fails here on overflow, which is out of range as well.
		return 0, &SpecError{Spec: spec, N: n, OutOfRange: true}
	}
	return v, nil
}

// Tally counts the replies to one request sent to n replicas, of which need
// must acknowledge. Each node is counted at most once: its first reply wins
// and later ones (retries, duplicates) are ignored, so a node cannot both
// ack and fail. Once n distinct nodes have replied, replies from further
// nodes are ignored as well, so Pending never goes negative.
//
// A Tally belongs to a single request state machine and is not safe for
// concurrent use.
type Tally struct {
	n, need int
	acks    int
	replied map[string]bool   // node -> acknowledged
	errs    map[string]string // failed node -> reason; made on the first failure
	nodes   []string          // the replicas asked, when known: Summary names those pending
}

// NewTally returns an empty tally for n replicas needing need acks. It panics
// unless 1 <= need <= n; Parse guarantees that for its results.
func NewTally(n, need int) *Tally {
	if need < 1 || need > n {
		panic(fmt.Sprintf("quorum: NewTally need %d out of range 1..%d", need, n))
	}
	return &Tally{
		n:       n,
		need:    need,
		replied: make(map[string]bool, n),
	}
}

// NewTallyOver is NewTally for the named replicas: its Summary names the
// ones that have not replied, which is what an operator needs to look at
// when a request times out.
func NewTallyOver(nodes []string, need int) *Tally {
	t := NewTally(len(nodes), need)
	t.nodes = slices.Clone(nodes)
	return t
}

// accept reports whether a reply from node should be counted.
func (t *Tally) accept(node string) bool {
	if _, seen := t.replied[node]; seen {
		return false
	}
	return len(t.replied) < t.n
}

// Ack records that node acknowledged. It reports whether the reply counted
// (false for a node that already replied or once n nodes have replied).
func (t *Tally) Ack(node string) bool {
	if !t.accept(node) {
		return false
	}
	t.replied[node] = true
	t.acks++
	return true
}

// Fail records that node failed with err (nil is recorded as "failed"). It
// reports whether the reply counted, as for Ack.
func (t *Tally) Fail(node string, err error) bool {
	if !t.accept(node) {
		return false
	}
	t.replied[node] = false
	reason := "failed"
	if err != nil {
		reason = err.Error()
	}
	if t.errs == nil {
		t.errs = map[string]string{}
	}
	t.errs[node] = reason
	return true
}

// N returns the number of replicas the request went to.
func (t *Tally) N() int { return t.n }

// Need returns the number of acks required.
func (t *Tally) Need() int { return t.need }

// Acks returns the number of nodes that acknowledged.
func (t *Tally) Acks() int { return t.acks }

// Failures returns the number of nodes that failed.
func (t *Tally) Failures() int { return len(t.errs) }

// Pending returns the number of replicas that have not replied.
func (t *Tally) Pending() int { return t.n - len(t.replied) }

// Met reports whether enough replicas acknowledged.
func (t *Tally) Met() bool { return t.acks >= t.need }

// Impossible reports whether the quorum can no longer be met even if every
// pending replica acknowledges.
func (t *Tally) Impossible() bool { return t.acks+t.Pending() < t.need }

// Done reports whether the outcome is decided: met or impossible.
func (t *Tally) Done() bool { return t.Met() || t.Impossible() }

// Replied reports whether node's reply has been counted.
func (t *Tally) Replied(node string) bool {
	_, ok := t.replied[node]
	return ok
}

// Acked reports whether node's reply was an acknowledgement.
func (t *Tally) Acked(node string) bool { return t.replied[node] }

// Errors returns the failure reason of each failed node. The map is a copy.
func (t *Tally) Errors() map[string]string { return maps.Clone(t.errs) }

// Summary describes the tally for logs and client errors, e.g.
// "2 of 3 replicas acknowledged (needed 3); n3: timeout". Failures are
// listed by node id so the text does not depend on reply order.
func (t *Tally) Summary() string {
	noun := "replicas"
	if t.n == 1 {
		noun = "replica"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d %s acknowledged (needed %d)", t.acks, t.n, noun, t.need)
	for _, node := range slices.Sorted(maps.Keys(t.errs)) {
		fmt.Fprintf(&b, "; %s: %s", node, t.errs[node])
	}
	if p := t.Pending(); p > 0 {
		fmt.Fprintf(&b, "; %d pending", p)
		var waiting []string
		for _, node := range t.nodes {
			if !t.Replied(node) {
				waiting = append(waiting, node)
			}
		}
		if len(waiting) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(waiting, ", "))
		}
	}
	return b.String()
}
