package tests

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/cluster/causal"
	"github.com/harmoniakv/harmonia/cluster/vclock"
)

// The checkers count what they should, on histories made by hand: a checker
// that cannot fail would prove nothing about the nemesis runs.
func TestCheckers(t *testing.T) {
	ops := []op{
		{ID: "w0-1", Kind: "add", Key: "set-0", Value: "w0-1", Status: "ok"},
		{ID: "w1-1", Kind: "add", Key: "set-0", Value: "w1-1", Status: "ok", Saw: []string{"w0-1"}},
		{ID: "w2-1", Kind: "add", Key: "set-0", Value: "w2-1", Status: "unknown", Saw: []string{"w1-1"}},
		{ID: "w4-1", Kind: "write", Key: "u-w4-1", Value: "w4-1", Status: "ok"},
		{ID: "w4-2", Kind: "write", Key: "u-w4-2", Value: "w4-2", Status: "ok"},
		{ID: "w6-1", Kind: "write", Key: "r-6-0", Value: "w6-1", Status: "ok"},
		{ID: "w6-2", Kind: "delete", Key: "r-6-0", Status: "ok", Saw: []string{"w6-1"}},
		{ID: "w6-3", Kind: "write", Key: "r-6-1", Value: "w6-3", Status: "ok"},
		{ID: "w6-4", Kind: "delete", Key: "r-6-1", Status: "unknown", Saw: []string{"w6-3"}},
		{ID: "w6-5", Kind: "delete", Key: "r-6-2", Status: "ok"},
		{ID: "w6-6", Kind: "write", Key: "r-6-2", Value: "w6-6", Status: "ok"},
		{ID: "r0-2", Kind: "read", Key: "set-0", Status: "ok", Siblings: 3},
	}
	all := map[string][]string{"set-0": {"w0-1,w1-1"}, "u-w4-1": {"w4-1"}, "u-w4-2": {"w4-2"}, "r-6-1": {"w6-3"}, "r-6-2": {"w6-6"}}
	without := func(key string) map[string][]string {
		out := map[string][]string{}
		for k, v := range all {
			if k != key {
				out[k] = v
			}
		}
		return out
	}
	with := func(key string, siblings ...string) map[string][]string {
		out := without(key)
		out[key] = siblings
		return out
	}
	for _, tc := range []struct {
		name              string
		final             map[string][]string
		lost, resurrected int
	}{
		{"everything acknowledged is there", all, 0, 0},
		{"an unknown add may be there too", with("set-0", "w0-1,w1-1,w2-1"), 0, 0},
		{"an unknown delete may have taken effect", without("r-6-1"), 0, 0},
		{"an add's element is missing from the set", with("set-0", "w0-1,w2-1"), 1, 0},
		{"a set emptied: both adds lost", without("set-0"), 2, 0},
		{"an add's version came back beside the add that replaced it", with("set-0", "w0-1", "w0-1,w1-1"), 0, 1},
		{"a lost unique write", without("u-w4-2"), 1, 0},
		{"a lost register write", without("r-6-2"), 1, 0},
		{"a deleted version came back", with("r-6-0", "w6-1"), 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &summary{}
			s.count(ops)
			s.checkSets(ops, tc.final)
			s.checkVersions(ops, tc.final)
			if s.Lost != tc.lost || s.Resurrected != tc.resurrected {
				t.Fatalf("lost %d, resurrected %d; want %d, %d (%v)", s.Lost, s.Resurrected, tc.lost, tc.resurrected, s.problems)
			}
			if s.Ops != len(ops) || s.OK != 10 || s.Unknown != 2 || s.MaxSiblings != 3 {
				t.Fatalf("counted %+v", s)
			}
		})
	}
}

// Hole 1: a register's acknowledged write is in the final read unless a
// write that read it may have replaced it; the final read must hold the
// last acknowledged write, or one concurrent with it.
func TestCheckerRegisterLoss(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ops   []op
		final []string
		lost  int
		// Resurrected too: the version the lost write replaced is back.
		resurrected int
	}{
		{"the last write is there", []op{
			{ID: "w0-1", Kind: "write", Key: "r-0-0", Status: "ok"},
			{ID: "w0-2", Kind: "write", Key: "r-0-0", Status: "ok", Saw: []string{"w0-1"}},
		}, []string{"w0-2"}, 0, 0},
		{"the last acknowledged write is gone, an older one is there", []op{
			{ID: "w0-1", Kind: "write", Key: "r-0-0", Status: "ok"},
			{ID: "w0-2", Kind: "write", Key: "r-0-0", Status: "ok", Saw: []string{"w0-1"}},
		}, []string{"w0-1"}, 1, 1},
		{"a write its successor did not read survives as a sibling", []op{
			{ID: "w0-1", Kind: "write", Key: "r-0-0", Status: "ok"},
			{ID: "w1-1", Kind: "write", Key: "r-0-0", Status: "ok"},
		}, []string{"w0-1", "w1-1"}, 0, 0},
		{"a concurrent write that nobody read is gone", []op{
			{ID: "w0-1", Kind: "write", Key: "r-0-0", Status: "ok"},
			{ID: "w1-1", Kind: "write", Key: "r-0-0", Status: "ok"},
		}, []string{"w1-1"}, 1, 0},
		{"a failed write that read it replaced nothing", []op{
			{ID: "w0-1", Kind: "write", Key: "r-0-0", Status: "ok"},
			{ID: "w0-2", Kind: "write", Key: "r-0-0", Status: "fail", Saw: []string{"w0-1"}},
		}, nil, 1, 0},
		{"an unknown write that read it, and is there", []op{
			{ID: "w0-1", Kind: "write", Key: "r-0-0", Status: "ok"},
			{ID: "w0-2", Kind: "write", Key: "r-0-0", Status: "unknown", Saw: []string{"w0-1"}},
		}, []string{"w0-2"}, 0, 0},
		{"an unknown write that read it, and is not there either", []op{
			{ID: "w0-1", Kind: "write", Key: "r-0-0", Status: "ok"},
			{ID: "w0-2", Kind: "write", Key: "r-0-0", Status: "unknown", Saw: []string{"w0-1"}},
		}, nil, 1, 0},
		{"an unknown write read in turn by an acknowledged delete", []op{
			{ID: "w0-1", Kind: "write", Key: "r-0-0", Status: "ok"},
			{ID: "w0-2", Kind: "write", Key: "r-0-0", Status: "unknown", Saw: []string{"w0-1"}},
			{ID: "w0-3", Kind: "delete", Key: "r-0-0", Status: "ok", Saw: []string{"w0-2"}},
		}, nil, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &summary{}
			s.checkVersions(tc.ops, map[string][]string{"r-0-0": tc.final})
			if s.Lost != tc.lost || s.Resurrected != tc.resurrected {
				t.Fatalf("lost %d, resurrected %d; want %d, %d (%v)", s.Lost, s.Resurrected, tc.lost, tc.resurrected, s.problems)
			}
		})
	}
}

// Hole 2: every acknowledged delete is checked, not only a key's last
// operation: what it read must be gone at the end, and what it did not read
// may stay.
func TestCheckerEveryDelete(t *testing.T) {
	for _, tc := range []struct {
		name        string
		ops         []op
		final       []string
		resurrected int
	}{
		{"deleted, then written again: the old value came back beside the new", []op{
			{ID: "w0-1", Kind: "write", Key: "r-0-0", Status: "ok"},
			{ID: "w0-2", Kind: "delete", Key: "r-0-0", Status: "ok", Saw: []string{"w0-1"}},
			{ID: "w0-3", Kind: "write", Key: "r-0-0", Status: "ok"},
		}, []string{"w0-1", "w0-3"}, 1},
		{"deleted, then a write that failed", []op{
			{ID: "w0-1", Kind: "write", Key: "r-0-0", Status: "ok"},
			{ID: "w0-2", Kind: "delete", Key: "r-0-0", Status: "ok", Saw: []string{"w0-1"}},
			{ID: "w0-3", Kind: "write", Key: "r-0-0", Status: "unknown"},
		}, []string{"w0-1"}, 1},
		{"a write the delete did not read survives it", []op{
			{ID: "w0-1", Kind: "write", Key: "r-0-0", Status: "ok"},
			{ID: "w1-1", Kind: "write", Key: "r-0-0", Status: "ok"},
			{ID: "w0-2", Kind: "delete", Key: "r-0-0", Status: "ok", Saw: []string{"w0-1"}},
		}, []string{"w1-1"}, 0},
		{"a put with a context replaces what it read", []op{
			{ID: "w0-1", Kind: "write", Key: "r-0-0", Status: "ok"},
			{ID: "w0-2", Kind: "write", Key: "r-0-0", Status: "ok", Saw: []string{"w0-1"}},
		}, []string{"w0-1", "w0-2"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &summary{}
			s.checkVersions(tc.ops, map[string][]string{"r-0-0": tc.final})
			if s.Resurrected != tc.resurrected {
				t.Fatalf("resurrected %d, want %d (%v)", s.Resurrected, tc.resurrected, s.problems)
			}
		})
	}
}

// Hole 3: an id used twice (a calm-phase add named like a fault-phase one
// could stand in for it at the end) makes the history unfit to check.
func TestCheckerDuplicateIDs(t *testing.T) {
	ok := []op{
		{ID: "w0-5", Kind: "add", Key: "set-0", Status: "invoke"},
		{ID: "w0-5", Kind: "add", Key: "set-0", Status: "ok"},
		{ID: "w8-5", Kind: "add", Key: "set-0", Status: "invoke"},
		{ID: "w8-5", Kind: "add", Key: "set-0", Status: "unknown"},
	}
	s := &summary{}
	s.checkIDs(ok)
	if len(s.refusals) > 0 {
		t.Fatalf("refused a history of unique ids: %v", s.refusals)
	}
	reused := append(ok,
		op{ID: "w0-5", Kind: "add", Key: "set-0", Status: "invoke"},
		op{ID: "w0-5", Kind: "add", Key: "set-0", Status: "ok"},
		op{Kind: "read", Key: "set-0", Status: "ok"})
	s = &summary{}
	s.checkIDs(reused)
	if len(s.refusals) != 3 {
		t.Fatalf("refusals %v, want the reused invocation, the reused completion, and the op without an id", s.refusals)
	}
}

// Hole 4: a run whose writes all ended unknown, or that made too few
// writes of a kind, is refused and says why.
func TestCheckerVacuousRun(t *testing.T) {
	m := runMinimums{Adds: 2, UniqueWrites: 1, Deletes: 1, MaxUnknownShare: 0.5}
	healthy := []op{
		{ID: "w0-1", Kind: "add", Key: "set-0", Status: "ok"},
		{ID: "w0-2", Kind: "add", Key: "set-0", Status: "ok"},
		{ID: "w1-1", Kind: "write", Key: "u-w1-1", Status: "ok"},
		{ID: "w2-1", Kind: "write", Key: "r-2-0", Status: "ok"},
		{ID: "w2-2", Kind: "delete", Key: "r-2-0", Status: "ok", Saw: []string{"w2-1"}},
		{ID: "w2-3", Kind: "delete", Key: "r-2-0", Status: "unknown"},
		{ID: "r2-4", Kind: "read", Key: "r-2-0", Status: "fail"},
	}
	s := &summary{}
	s.checkNotVacuous(healthy, m)
	if len(s.refusals) > 0 {
		t.Fatalf("refused a healthy run: %v", s.refusals)
	}
	var allUnknown []op
	for _, o := range healthy {
		o.Status = "unknown"
		allUnknown = append(allUnknown, o)
	}
	s = &summary{}
	s.checkNotVacuous(allUnknown, m)
	if len(s.refusals) != 4 {
		t.Fatalf("refusals %v, want too few adds, unique writes, deletes, and too many unknowns", s.refusals)
	}
	// A delete of a key that read nothing deletes nothing.
	blindDelete := append(healthy[:4:4], op{ID: "w2-2", Kind: "delete", Key: "r-2-0", Status: "ok"})
	s = &summary{}
	s.checkNotVacuous(blindDelete, m)
	if len(s.refusals) != 1 || !strings.Contains(s.refusals[0], "deletes") {
		t.Fatalf("refusals %v, want too few deletes of a value", s.refusals)
	}
}

// Hole 5: a failed run's history and node logs are copied where they
// outlive the test.
func TestCheckerKeepsEvidence(t *testing.T) {
	run, keep := t.TempDir(), t.TempDir()
	history := filepath.Join(run, "history-3-7.jsonl")
	logs := filepath.Join(run, "logs")
	for path, content := range map[string]string{history: "{}\n", filepath.Join(logs, "n1.log"): "n1 started\n", filepath.Join(logs, "n2.log"): "n2 started\n"} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	keepEvidence(t, keep, history, logs, 3, 7)
	for path, want := range map[string]string{"history-3-7.jsonl": "{}\n", "logs-3-7/n1.log": "n1 started\n", "logs-3-7/n2.log": "n2 started\n"} {
		b, err := os.ReadFile(filepath.Join(keep, path))
		if err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", path, b, err, want)
		}
	}
}

// Hole 6, write by write: no read returns a version with one its writer
// read; a put's reply is the context it sent plus its own dot.
func TestCheckerCausal(t *testing.T) {
	sealer, err := causal.NewSealer([][]byte{[]byte(causal.DefaultSecret)})
	if err != nil {
		t.Fatal(err)
	}
	a := vclock.Actor{Node: "n1", Incarnation: 1}
	b := vclock.Actor{Node: "n2", Incarnation: 2}
	ctx := func(entries ...vclock.Entry) []byte { return sealer.Seal([]byte("set-0"), vclock.New(entries...)) }
	read := ctx(vclock.Entry{Actor: a, Counter: 4})
	put := func(id string, sent, reply []byte, saw ...string) []op {
		return []op{
			{ID: id, Kind: "add", Key: "set-0", Status: "invoke", Context: sent, Saw: saw},
			{ID: id, Kind: "add", Key: "set-0", Status: "ok", Reply: reply, Saw: saw},
		}
	}
	for _, tc := range []struct {
		name   string
		ops    []op
		causal int
	}{
		{"a blind put adds its dot", put("w0-1", nil, ctx(vclock.Entry{Actor: a, Counter: 4})), 0},
		{"a put raises one actor's entry", put("w0-2", read, ctx(vclock.Entry{Actor: a, Counter: 9}), "w0-1"), 0},
		{"a put adds a new actor", put("w0-2", read, ctx(vclock.Entry{Actor: a, Counter: 4}, vclock.Entry{Actor: b, Counter: 1}), "w0-1"), 0},
		{"a reply with two dots more", put("w0-2", read, ctx(vclock.Entry{Actor: a, Counter: 9}, vclock.Entry{Actor: b, Counter: 1}), "w0-1"), 1},
		{"a reply that is the context sent", put("w0-2", read, read, "w0-1"), 1},
		{"a reply that drops what was read", put("w0-2", read, ctx(vclock.Entry{Actor: b, Counter: 1}), "w0-1"), 1},
		{"siblings its writer did not read", append(put("w1-1", read, ctx(vclock.Entry{Actor: a, Counter: 5}), "w0-1"),
			op{ID: "w2-1", Kind: "add", Key: "set-0", Status: "invoke"},
			op{ID: "r3-1", Kind: "read", Key: "set-0", Status: "ok", Versions: []string{"w1-1", "w2-1"}}), 0},
		{"a read returns a version beside one its writer read", append(put("w1-1", read, ctx(vclock.Entry{Actor: a, Counter: 5}), "w0-1"),
			op{ID: "r3-1", Kind: "read", Key: "set-0", Status: "ok", Versions: []string{"w0-1", "w1-1"}}), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &summary{}
			s.checkCausal(tc.ops)
			if s.Causal != tc.causal {
				t.Fatalf("causal %d, want %d (%v)", s.Causal, tc.causal, s.problems)
			}
		})
	}
}

// Hole 6, sessions: after the faults, a worker's read returns what it wrote
// or read before, or newer versions, once those were acknowledged.
func TestCheckerSessions(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	write := func(worker int, id string, invoked, done int, status string, saw ...string) []op {
		return []op{
			{Time: at(invoked), ID: id, Worker: worker, Kind: "add", Key: "set-0", Status: "invoke", Saw: saw},
			{Time: at(done), ID: id, Worker: worker, Kind: "add", Key: "set-0", Status: status, Saw: saw},
		}
	}
	read := func(worker int, id string, invoked, done int, versions ...string) []op {
		return []op{
			{Time: at(invoked), ID: id, Worker: worker, Kind: "read", Key: "set-0", Status: "invoke"},
			{Time: at(done), ID: id, Worker: worker, Kind: "read", Key: "set-0", Status: "ok", Versions: versions},
		}
	}
	history := func(parts ...[]op) []op {
		var out []op
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		ops   []op
		stale int
	}{
		{"reads its write", history(write(8, "w8-1", 10, 20, "ok"), read(8, "r8-2", 30, 40, "w8-1")), 0},
		{"reads a newer version than its write", history(write(8, "w8-1", 10, 20, "ok"), write(9, "w9-1", 21, 25, "ok", "w8-1"), write(10, "w10-1", 26, 28, "ok", "w9-1"),
			read(8, "r8-2", 30, 40, "w10-1")), 0},
		{"misses its acknowledged write", history(write(8, "w8-1", 10, 20, "ok"), read(8, "r8-2", 30, 40)), 1},
		{"reads a version older than one it read", history(write(9, "w9-1", 0, 5, "ok"), write(9, "w9-2", 6, 9, "ok", "w9-1"),
			read(8, "r8-1", 10, 20, "w9-2"), read(8, "r8-2", 30, 40, "w9-1")), 1},
		{"misses a version it read before its write was acknowledged", history(write(9, "w9-1", 0, 50, "ok"),
			read(8, "r8-1", 10, 20, "w9-1"), read(8, "r8-2", 30, 40)), 0},
		{"misses one of unknown outcome it read", history(write(9, "w9-1", 0, 5, "unknown"),
			read(8, "r8-1", 10, 20, "w9-1"), read(8, "r8-2", 30, 40)), 0},
		{"a stale read under faults is not checked", history(write(1, "w1-1", -30, -20, "ok"), read(1, "r1-2", -10, -5)), 0},
		{"another session's write it never saw", history(write(9, "w9-1", 0, 5, "ok"), read(8, "r8-1", 10, 20)), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &summary{}
			s.checkSessions(tc.ops, at(0))
			if s.StaleReads != tc.stale {
				t.Fatalf("stale reads %d, want %d (%v)", s.StaleReads, tc.stale, s.staleProblems)
			}
		})
	}
}

// Under faults a read may see many siblings; the calm bound counts only
// reads after the calm phase's first acknowledged add to the same key.
func TestCalmSiblings(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	// done records an operation invoked at one time and completed later.
	var all []op
	done := func(id string, invoked, completed int, kind, key, status string, siblings int) {
		all = append(all, op{ID: id, Time: at(invoked), Kind: kind, Key: key, Status: "invoke"},
			op{ID: id, Time: at(completed), Kind: kind, Key: key, Status: status, Siblings: siblings})
		slices.SortStableFunc(all, func(a, b op) int { return a.Time.Compare(b.Time) })
	}
	done("r1", 0, 1, "read", "a", "ok", 15)   // under faults
	done("r2", 11, 11, "read", "a", "ok", 14) // calm, before any add
	done("w1", 11, 12, "add", "a", "ok", 0)
	done("r3", 11, 13, "read", "a", "ok", 12) // invoked before the add was acknowledged
	done("r4", 13, 13, "read", "a", "ok", 3)
	done("r5", 13, 13, "read", "b", "ok", 9) // b had no add yet
	done("r6", 14, 14, "read", "a", "fail", 0)
	s := &summary{}
	s.checkCalmSiblings(all, at(10))
	if s.CalmSiblings != 3 || s.CalmReadsChecked != 1 {
		t.Fatalf("calm siblings %d over %d reads, want 3 over 1", s.CalmSiblings, s.CalmReadsChecked)
	}
	done("r7", 15, 15, "read", "a", "ok", 6)
	s = &summary{}
	s.checkCalmSiblings(all, at(10))
	if s.CalmSiblings != 6 || s.CalmReadsChecked != 2 {
		t.Fatalf("calm siblings %d over %d reads, want 6 over 2", s.CalmSiblings, s.CalmReadsChecked)
	}
}
