package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/vclock"
	"github.com/harmoniakv/harmonia/messages/internalpb"
	"google.golang.org/protobuf/proto"
)

// op is one client operation as the history records it: once when invoked
// and once when it completed (ok), certainly failed (fail), or ended in a
// way that leaves its effect unknown (unknown: a write that timed out or
// missed its quorum may still be on some replicas).
//
// Every operation has an id unique in the run, and a write's value is
// named by its id (a set add's new element is its id, and the last element
// of the value it writes), so that a read tells which writes' versions it
// returned.
type op struct {
	Time     time.Time `json:"time"`
	ID       string    `json:"id"`
	Worker   int       `json:"worker"`
	Kind     string    `json:"kind"` // add, write, delete, read
	Key      string    `json:"key"`
	Value    string    `json:"value,omitempty"` // a put's: its id
	Status   string    `json:"status"`          // invoke, ok, fail, unknown
	Node     string    `json:"node,omitempty"`
	Context  []byte    `json:"context,omitempty"`  // a read's result; a write's invocation, the context it sent
	Siblings int       `json:"siblings,omitempty"` // a read's live siblings
	// Versions are a read's live siblings, each named by the id of the
	// write that made it.
	Versions []string `json:"versions,omitempty"`
	// Saw is a write's base: the Versions of the read whose context it
	// sent (none for a blind write). Those, and only those, it supersedes.
	Saw []string `json:"saw,omitempty"`
	// Reply is the context an acknowledged put returned.
	Reply []byte `json:"reply,omitempty"`
	Err   string `json:"error,omitempty"`
	// Strong tables (kinds get, put, delete; status condition-failed too,
	// for a write whose condition did not hold): Cond is a write's
	// condition, absent or version (its invocation's Context is the
	// version sent); a get's or a failed condition's Versions and Context
	// are the key's value (none when it has none) and version. Possible
	// are the versions an unknown write would have if it takes effect
	// (the Indeterminate detail; none: not known).
	Cond     string   `json:"cond,omitempty"`
	Possible [][]byte `json:"possible,omitempty"`
}

// history is the record of every client operation of a run, kept in memory
// for the checkers and written as JSON lines to a file.
type history struct {
	mu   sync.Mutex
	ops  []op
	f    *os.File
	enc  *json.Encoder
	path string
}

func newHistory(path string) (*history, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("history file: %w", err)
	}
	return &history{f: f, enc: json.NewEncoder(f), path: path}, nil
}

func (h *history) record(o op) {
	o.Time = time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, o)
	h.enc.Encode(o)
}

func (h *history) close() error { return h.f.Close() }

// all returns every record, invocations included.
func (h *history) all() []op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

// completions returns the completed operations (not the invocations).
func completions(ops []op) []op {
	return slices.DeleteFunc(slices.Clone(ops), func(o op) bool { return o.Status == "invoke" })
}

// isSet tells the set-add workload's keys, whose values are lists of
// elements, from the others', whose value is the id of its write.
func isSet(key string) bool { return strings.HasPrefix(key, "set-") }

// versionOf names the write that made a sibling: a set's value ends with
// the element its add added, which is the add's id.
func versionOf(key, value string) string {
	if isSet(key) {
		return value[strings.LastIndex(value, ",")+1:]
	}
	return value
}

// elements splits a set's siblings into their elements, sorted, without
// duplicates.
func elements(siblings []string) []string {
	var out []string
	for _, s := range siblings {
		for _, e := range strings.Split(s, ",") {
			if e != "" {
				out = append(out, e)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// contextClock reads the clock out of a context as nodes seal it (version
// byte, protobuf clock, 16-byte tag; cluster/causal) without checking the
// tag: the test trusts what its cluster returned.
func contextClock(b []byte) (vclock.Clock, error) {
	const tagLen = 16
	if len(b) == 0 {
		return nil, nil
	}
	if b[0] != 1 || len(b) < 1+tagLen {
		return nil, fmt.Errorf("not a version-1 context: %d bytes, version %d", len(b), b[0])
	}
	var p internalpb.VClock
	if err := proto.Unmarshal(b[1:len(b)-tagLen], &p); err != nil {
		return nil, fmt.Errorf("context clock: %w", err)
	}
	return object.ClockFromProto(&p), nil
}

// summary counts a run's operations and what the checkers found.
type summary struct {
	Ops, OK, Fail, Unknown int
	// Lost counts acknowledged writes missing from the final reads (an add
	// from its set's union; any put, as a sibling, unless a later write
	// that read it may have replaced it). Resurrected counts versions found
	// at the end that an acknowledged delete or write had read, and so
	// replaced.
	Lost, Resurrected int
	// Causal counts broken per-write promises: a read returning a version
	// together with one that version's writer read, or a put's reply
	// context other than the context it sent plus one dot.
	Causal int
	// RepliesChecked and SessionReadsChecked count what the causal and
	// session checks judged, so that a run shows they ran on something.
	RepliesChecked, SessionReadsChecked, CalmReadsChecked int
	// What a run must clear not to be vacuous (checkNotVacuous):
	// acknowledged adds, unique writes and deletes of a value, and the
	// share of writes whose outcome is unknown.
	AckedAdds, AckedUniqueWrites, AckedDeletes int
	UnknownShare                               float64
	// StaleReads counts calm-phase reads by a worker that miss a version
	// it wrote or read before, acknowledged before the read began.
	StaleReads int
	// MaxSiblings is the most siblings a read saw under faults;
	// CalmSiblings, in the calm phase once the key had an add there.
	MaxSiblings, CalmSiblings int
	Converged                 time.Duration
	problems                  []string
	// refusals say why the history proves nothing: duplicate ids, too few
	// acknowledged writes, too many unknown outcomes.
	refusals []string
	// staleProblems describe stale reads apart, as they fail a run only
	// where no fallback exists.
	staleProblems []string
	lost          map[string]bool // ids of writes counted lost
}

func (s *summary) problem(format string, args ...any) {
	s.problems = appendBounded(s.problems, format, args...)
}

func (s *summary) refuse(format string, args ...any) {
	s.refusals = appendBounded(s.refusals, format, args...)
}

// appendBounded appends a formatted line to list unless it holds 20: a
// report names the first problems, the counts say how many.
func appendBounded(list []string, format string, args ...any) []string {
	if len(list) < 20 {
		list = append(list, fmt.Sprintf(format, args...))
	}
	return list
}

// lose counts an acknowledged write lost once, whichever checker finds it.
func (s *summary) lose(id, format string, args ...any) {
	if s.lost[id] {
		return
	}
	if s.lost == nil {
		s.lost = map[string]bool{}
	}
	s.lost[id] = true
	s.Lost++
	s.problem(format, args...)
}

func (s *summary) count(ops []op) {
	for _, o := range ops {
		s.Ops++
		switch o.Status {
		case "ok":
			s.OK++
		case "fail":
			s.Fail++
		case "unknown":
			s.Unknown++
		}
		if o.Kind == "read" && o.Siblings > s.MaxSiblings {
			s.MaxSiblings = o.Siblings
		}
	}
}

// checkIDs refuses a history in which two operations share an id: a write
// named like an earlier one could stand in for it in the final read and
// hide its loss.
func (s *summary) checkIDs(all []op) {
	invoked, completed := map[string]bool{}, map[string]bool{}
	for _, o := range all {
		seen := completed
		if o.Status == "invoke" {
			seen = invoked
		}
		switch {
		case o.ID == "":
			s.refuse("%s of %s by worker %d has no id", o.Kind, o.Key, o.Worker)
		case seen[o.ID]:
			s.refuse("operation id %s is used twice (%s of %s by worker %d)", o.ID, o.Kind, o.Key, o.Worker)
		}
		seen[o.ID] = true
	}
}

// runMinimums are what a run must have done for its checks to mean
// something.
type runMinimums struct {
	// Acknowledged adds, unique writes, and deletes that read a value (so
	// that there was something to delete).
	Adds, UniqueWrites, Deletes int
	// MaxUnknownShare bounds the share of writes whose outcome is unknown:
	// the checkers accept those either way.
	MaxUnknownShare float64
}

// checkNotVacuous refuses a run whose writes were too few or too often of
// unknown outcome to show a loss.
func (s *summary) checkNotVacuous(ops []op, m runMinimums) {
	var writes, unknown int
	for _, o := range ops {
		if o.Kind == "read" || o.Status == "invoke" {
			continue
		}
		writes++
		if o.Status == "unknown" {
			unknown++
		}
		if o.Status != "ok" {
			continue
		}
		switch {
		case o.Kind == "add":
			s.AckedAdds++
		case o.Kind == "write" && strings.HasPrefix(o.Key, "u-"):
			s.AckedUniqueWrites++
		case o.Kind == "delete" && len(o.Saw) > 0:
			s.AckedDeletes++
		}
	}
	if s.AckedAdds < m.Adds {
		s.refuse("%d acknowledged adds, fewer than %d", s.AckedAdds, m.Adds)
	}
	if s.AckedUniqueWrites < m.UniqueWrites {
		s.refuse("%d acknowledged unique writes, fewer than %d", s.AckedUniqueWrites, m.UniqueWrites)
	}
	if s.AckedDeletes < m.Deletes {
		s.refuse("%d acknowledged deletes of a value, fewer than %d", s.AckedDeletes, m.Deletes)
	}
	if writes > 0 {
		s.UnknownShare = float64(unknown) / float64(writes)
	}
	if writes == 0 || s.UnknownShare > m.MaxUnknownShare {
		s.refuse("%d of %d writes ended unknown, more than %.0f%%", unknown, writes, 100*m.MaxUnknownShare)
	}
}

// checkCalmSiblings finds the most siblings a read saw after from, if it
// was invoked once an add to the same key had been acknowledged after
// from (a read invoked earlier may still return what the faults left).
// It counts the reads it judged: a calm phase that judged none proves
// nothing.
func (s *summary) checkCalmSiblings(all []op, from time.Time) {
	invokedAt := map[string]time.Time{}
	collapsedAt := map[string]time.Time{}
	for _, o := range all {
		if o.Status == "invoke" {
			invokedAt[o.ID] = o.Time
			continue
		}
		if o.Time.Before(from) || o.Status != "ok" {
			continue
		}
		at, collapsed := collapsedAt[o.Key]
		switch {
		case o.Kind == "add" && !collapsed:
			collapsedAt[o.Key] = o.Time
		case o.Kind == "read" && collapsed && invokedAt[o.ID].After(at):
			s.CalmReadsChecked++
			s.CalmSiblings = max(s.CalmSiblings, o.Siblings)
		}
	}
}

// checkSets checks the set-add workload: every acknowledged add is in the
// final value of its set (the union of its siblings).
func (s *summary) checkSets(ops []op, final map[string][]string) {
	// A set holds thousands of elements after a run: each is looked up
	// once, not searched for.
	union := map[string]map[string]bool{}
	for _, o := range ops {
		if o.Kind != "add" || o.Status != "ok" {
			continue
		}
		if union[o.Key] == nil {
			union[o.Key] = map[string]bool{}
			for _, e := range elements(final[o.Key]) {
				union[o.Key][e] = true
			}
		}
		if !union[o.Key][o.Value] {
			s.lose(o.ID, "acknowledged add %s to %s is lost", o.Value, o.Key)
		}
	}
}

// checkVersions checks every key's final siblings against what the store
// promises a write: it supersedes exactly the versions its context covers,
// which are those the read it was based on returned (Saw) and what they had
// superseded. Final holds each key's siblings as read at R=all once the
// replicas converged.
//
//   - Lost: an acknowledged put is among the final siblings, unless a write
//     that read it may have replaced it: an acknowledged one (checked in
//     turn), a delete of unknown outcome (a tombstone is invisible, so
//     whether it took effect cannot be told), or a put of unknown outcome
//     that is accounted for in the same way (in the final siblings, or
//     replaced by a write that read it). A write that read it and failed
//     certainly replaced nothing. So a version nobody read (the last write
//     of a key, a write concurrent with the others) must be there: a write
//     never supersedes a sibling it did not see.
//   - Resurrected: a version that an acknowledged write (a delete, or a put
//     with a context) read is not among the final siblings: the write's
//     context covers its dot, so every replica that merges the two drops
//     it, and nothing can bring that dot back but a stale copy outliving
//     the write (a reaped tombstone's old value, kv679). A version that the
//     delete's read did not return (a concurrent write, or one its quorum
//     missed under a partition) is not covered and may survive it.
//
// The rule relies on contexts not being pruned (vclock.DefaultMaxEntries,
// 64 node incarnations that wrote the key), far more than a run makes.
func (s *summary) checkVersions(ops []op, final map[string][]string) {
	readBy := map[string][]op{} // version → the writes whose base read returned it
	for _, o := range ops {
		if o.Kind == "read" || o.Status == "invoke" {
			continue
		}
		for _, v := range o.Saw {
			readBy[v] = append(readBy[v], o)
		}
	}
	inFinal := func(key, version string) bool {
		for _, v := range final[key] {
			if versionOf(key, v) == version {
				return true
			}
		}
		return false
	}
	accounted := map[string]bool{}
	var accountedFor func(o op) bool
	accountedFor = func(o op) bool {
		if done, ok := accounted[o.ID]; ok {
			return done
		}
		accounted[o.ID] = false // a write reads only earlier versions; this only guards a bad history
		ok := inFinal(o.Key, o.ID)
		for _, y := range readBy[o.ID] {
			if ok {
				break
			}
			switch {
			case y.Status == "fail":
			case y.Kind == "delete", y.Status == "ok":
				ok = true
			default:
				ok = accountedFor(y)
			}
		}
		accounted[o.ID] = ok
		return ok
	}
	for _, o := range ops {
		if o.Status != "ok" || (o.Kind != "add" && o.Kind != "write") {
			continue
		}
		if !accountedFor(o) {
			s.lose(o.ID, "acknowledged %s %s of %s is lost: no write read it, and the final siblings are %v", o.Kind, o.ID, o.Key, finalVersions(o.Key, final[o.Key]))
		}
	}
	for _, o := range ops {
		if o.Status != "ok" || o.Kind == "read" {
			continue
		}
		for _, v := range o.Saw {
			if inFinal(o.Key, v) {
				s.Resurrected++
				s.problem("%s of %s came back: acknowledged %s %s had read it (final siblings %v)", v, o.Key, o.Kind, o.ID, finalVersions(o.Key, final[o.Key]))
			}
		}
	}
}

func finalVersions(key string, siblings []string) []string {
	out := make([]string, 0, len(siblings))
	for _, v := range siblings {
		out = append(out, versionOf(key, v))
	}
	return out
}

// checkCausal checks, write by write and under faults too, what a put
// with a context promises:
//
//   - it supersedes what its context covers and nothing else: no read
//     returns a version together with one that version's writer had read
//     (any replica that merges the two drops the older), whatever the
//     replicas a sloppy quorum reached;
//   - the put's reply carries the context it sent plus exactly one new dot,
//     its own: a write made with the reply supersedes the writer's version
//     and what it had read, never a sibling it did not see.
//
// How many siblings a write leaves is not bounded write by write: the
// replica that coordinates it keeps every sibling it holds that the
// writer's read did not return (another side's lineage under a partition),
// plus the new one. The K+1 bound holds only in a calm cluster, where every
// read meets every acknowledged write (checkCalmSiblings).
func (s *summary) checkCausal(all []op) {
	writes := map[string]op{} // by id: the invocation, which holds the context sent
	for _, o := range all {
		if o.Status == "invoke" && o.Kind != "read" {
			writes[o.ID] = o
		}
	}
	for _, o := range all {
		switch {
		case o.Kind == "read" && o.Status == "ok":
			for _, v := range o.Versions {
				for _, older := range writes[v].Saw {
					if slices.Contains(o.Versions, older) {
						s.Causal++
						s.problem("read %s of %s returned %s together with %s, which %s's writer had read and so superseded", o.ID, o.Key, older, v, v)
					}
				}
			}
		case (o.Kind == "add" || o.Kind == "write") && o.Status == "ok":
			s.RepliesChecked++
			if err := oneDotMore(writes[o.ID].Context, o.Reply); err != nil {
				s.Causal++
				s.problem("put %s of %s: reply context %v", o.ID, o.Key, err)
			}
		}
	}
}

// oneDotMore checks that reply is sent plus one dot: equal entries but for
// one actor, new or with a higher counter.
func oneDotMore(sent, reply []byte) error {
	base, err := contextClock(sent)
	if err != nil {
		return err
	}
	got, err := contextClock(reply)
	if err != nil {
		return err
	}
	var added []string
	for _, e := range got {
		if had := base.Get(e.Actor); e.Counter != had {
			if e.Counter < had {
				return fmt.Errorf("lowers %v from %d to %d", e.Actor, had, e.Counter)
			}
			added = append(added, fmt.Sprintf("%v:%d", e.Actor, e.Counter))
		}
	}
	for _, e := range base {
		if got.Get(e.Actor) == 0 {
			return fmt.Errorf("drops %v:%d of the context sent", e.Actor, e.Counter)
		}
	}
	if len(added) != 1 {
		return fmt.Errorf("adds %d dots to the context sent, not one: %v", len(added), added)
	}
	return nil
}

// checkSessions checks monotonic reads and reading one's writes for the
// workers that started after from, on the set keys: no read returns only
// versions older than one its worker wrote or read before, if that
// version's write was acknowledged before the read began. A version is
// older than another when the other's writer read it, or read a version
// that is itself newer than it. A version of a write not yet acknowledged
// may be on a single replica and may be missed by the next quorum; and
// under faults sloppy quorum lets a read miss any write (its replicas
// were cut off, a fallback took the write): the runs call this for the
// calm phase, and count it as a failure only where no fallback exists.
func (s *summary) checkSessions(all []op, from time.Time) {
	ackedAt := map[string]time.Time{}
	saw := map[string][]string{}
	invokedAt := map[string]time.Time{}
	for _, o := range all {
		switch {
		case o.Status == "invoke":
			invokedAt[o.ID] = o.Time
		case o.Kind != "read":
			saw[o.ID] = o.Saw
			if o.Status == "ok" {
				ackedAt[o.ID] = o.Time
			}
		}
	}
	// olderOrSame is every version some version of vs is, or is newer than.
	olderOrSame := func(vs []string) map[string]bool {
		stack, out := slices.Clone(vs), map[string]bool{}
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if !out[x] {
				out[x] = true
				stack = append(stack, saw[x]...)
			}
		}
		return out
	}
	type session struct {
		worker int
		key    string
	}
	// known are the versions the worker wrote or read, per key, less those
	// a later read of it returned newer versions of.
	known := map[session][]string{}
	for _, o := range all {
		if o.Status != "ok" || !isSet(o.Key) || invokedAt[o.ID].Before(from) {
			continue
		}
		ses := session{o.Worker, o.Key}
		if o.Kind != "read" {
			known[ses] = append(known[ses], o.ID)
			continue
		}
		var returned map[string]bool
		pending := slices.Clone(o.Versions) // what the worker knows after this read
		for _, v := range known[ses] {
			acked, ok := ackedAt[v]
			if !ok || !acked.Before(invokedAt[o.ID]) {
				pending = append(pending, v) // may be on one replica only
				continue
			}
			if returned == nil {
				returned = olderOrSame(o.Versions)
				s.SessionReadsChecked++
			}
			if !returned[v] {
				s.StaleReads++
				s.staleProblems = appendBounded(s.staleProblems, "worker %d's read %s of %s returned %v, older than %s, which it had written or read", o.Worker, o.ID, o.Key, o.Versions, v)
			}
		}
		slices.Sort(pending)
		known[ses] = slices.Compact(pending)
	}
}

// markdownRow renders the summary as a row of docs/reliability.md's table.
func (s *summary) markdownRow(nodes int, kinds string, d time.Duration, seed uint64) string {
	return fmt.Sprintf("| %d | %s | %v | %d | %d | %d | %d | %d | %d | %d | %d / %d | %v |",
		nodes, kinds, d, seed, s.Ops, s.OK, s.Unknown, s.Fail, s.Lost, s.Resurrected, s.MaxSiblings, s.CalmSiblings, s.Converged.Round(100*time.Millisecond))
}
