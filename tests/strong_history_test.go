package tests

import (
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/paxos/paxostest"
)

// strongCheckTimeout bounds porcupine's check of a strong run's history;
// an undecided check fails the run, as it proves nothing.
const strongCheckTimeout = 2 * time.Minute

// strongOperations turns a strong run's records into porcupine's
// operations on paxostest.Model, timed from the first record:
//
//   - an answered get is a read of the register (its value is a write's id,
//     its version opened from its context); a failed get did nothing and is
//     left out;
//   - an acknowledged write has the version its reply names; a delete
//     answered by a node that names none has an unknown version (the
//     model's AnyVersion);
//   - a failed condition shows the register as its detail gives it;
//   - an unknown write stays open to the end (porcupine's infinite
//     return), with the versions of its Indeterminate detail, or any
//     version when the node never answered; one invoked but never
//     completed likewise;
//   - a write that certainly changed nothing is left out.
//
// Every acknowledged and unknown write's versions are owned by it (the
// model's Input.Owned): a write of unknown version has none of them.
func strongOperations(all []op, version func(key string, ctx []byte) (paxos.Ballot, error)) ([]porcupine.Operation, error) {
	if len(all) == 0 {
		return nil, nil
	}
	t0 := all[0].Time
	at := func(o op) int64 { return o.Time.Sub(t0).Nanoseconds() }
	owned := map[string]map[paxos.Ballot]bool{}
	input := func(inv op) (paxostest.Input, error) {
		if owned[inv.Key] == nil {
			owned[inv.Key] = map[paxos.Ballot]bool{}
		}
		in := paxostest.Input{Key: inv.Key, Data: inv.Value, Owned: owned[inv.Key]}
		switch inv.Kind {
		case "get":
			in.Kind = paxos.OpGet
		case "put":
			in.Kind = paxos.OpPut
		case "delete":
			in.Kind = paxos.OpDelete
		default:
			return in, fmt.Errorf("%s: kind %q", inv.ID, inv.Kind)
		}
		switch inv.Cond {
		case "":
		case "absent":
			in.Cond = paxos.CondAbsent
		case "version":
			in.Cond = paxos.CondVersion
			var err error
			if in.Version, err = version(inv.Key, inv.Context); err != nil {
				return in, fmt.Errorf("%s's if_version: %w", inv.ID, err)
			}
		default:
			return in, fmt.Errorf("%s: condition %q", inv.ID, inv.Cond)
		}
		return in, nil
	}
	// register is what a get or a failed condition showed.
	register := func(o op) (paxostest.Register, error) {
		v, err := version(o.Key, o.Context)
		if err != nil {
			return paxostest.Register{}, fmt.Errorf("%s's version: %w", o.ID, err)
		}
		r := paxostest.Register{Exists: len(o.Versions) > 0, Version: v}
		if r.Exists {
			r.Data = o.Versions[0]
		}
		return r, nil
	}
	open := func(in paxostest.Input, possible [][]byte) (paxostest.Output, error) {
		out := paxostest.Output{Unknown: true, AnyVersion: len(possible) == 0}
		for _, p := range possible {
			v, err := version(in.Key, p)
			if err != nil {
				return out, fmt.Errorf("a possible version: %w", err)
			}
			out.Versions = append(out.Versions, v)
			in.Owned[v] = true
		}
		return out, nil
	}
	invoked := map[string]op{}
	var order []string // invocations, in order, to find those never completed
	var ops []porcupine.Operation
	for _, o := range all {
		if o.Status == "invoke" {
			invoked[o.ID] = o
			order = append(order, o.ID)
			continue
		}
		inv, ok := invoked[o.ID]
		if !ok {
			return nil, fmt.Errorf("%s completed but was not invoked, or completed twice", o.ID)
		}
		delete(invoked, o.ID)
		in, err := input(inv)
		if err != nil {
			return nil, err
		}
		var out paxostest.Output
		ret := at(o)
		switch {
		case o.Status == "fail":
			continue
		case o.Status == "condition-failed" && in.Kind != paxos.OpGet:
			out.Outcome = paxos.OutcomeConditionFailed
			out.Value, err = register(o)
		case o.Status == "ok" && in.Kind == paxos.OpGet:
			out.Value, err = register(o)
		case o.Status == "ok" && in.Kind == paxos.OpDelete && len(o.Reply) == 0:
			out.AnyVersion = true
		case o.Status == "ok":
			var v paxos.Ballot
			if v, err = version(o.Key, o.Reply); err == nil {
				out.Value = paxostest.Register{Exists: in.Kind == paxos.OpPut, Data: in.Data, Version: v}
				out.Versions = []paxos.Ballot{v}
				in.Owned[v] = true
			}
		case o.Status == "unknown" && in.Kind != paxos.OpGet:
			out, err = open(in, o.Possible)
			ret = math.MaxInt64
		default:
			return nil, fmt.Errorf("%s: %s %s", o.ID, o.Kind, o.Status)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.ID, err)
		}
		ops = append(ops, porcupine.Operation{ClientId: o.Worker, Input: in, Call: at(inv), Output: out, Return: ret})
	}
	for _, id := range order {
		inv, ok := invoked[id]
		if !ok || inv.Kind == "get" {
			continue
		}
		in, err := input(inv)
		if err != nil {
			return nil, err
		}
		out, _ := open(in, nil)
		ops = append(ops, porcupine.Operation{ClientId: inv.Worker, Input: in, Call: at(inv), Output: out, Return: math.MaxInt64})
	}
	return ops, nil
}

// strongMinimums are what a strong run must have done for its check to
// mean something.
type strongMinimums struct {
	// Acknowledged writes and gets; acknowledged writes at a version (a
	// compare-and-set that won); writes whose condition failed.
	OKWrites, OKGets, OKIfVersion, ConditionFailed int
	// MaxUnknownShare bounds the share of writes whose outcome is unknown.
	MaxUnknownShare float64
}

// strongSummary is what a strong run did and what its checks found.
type strongSummary struct {
	// Completed operations by outcome; Open counts the unknown writes the
	// node never answered (any version).
	Ops, OK, ConditionFailed, Fail, Unknown, Open int
	Writes, OKWrites, OKGets, OKIfVersion         int
	UnknownShare                                  float64
	Keys                                          int
	// Result is porcupine's verdict on the whole history; BadKeys are the
	// keys whose history alone is not linearizable or undecided.
	Result    porcupine.CheckResult
	BadKeys   []string
	CheckTime time.Duration
	// CalmWrites counts the acknowledged writes invoked after the heal, by
	// member host.
	CalmWrites map[string]int
	refusals   []string
	problems   []string
}

func (s *strongSummary) count(all []op) {
	keys := map[string]bool{}
	for _, o := range completions(all) {
		s.Ops++
		keys[o.Key] = true
		write := o.Kind != "get"
		if write {
			s.Writes++
		}
		switch o.Status {
		case "ok":
			s.OK++
			switch {
			case !write:
				s.OKGets++
			case o.Cond == "version":
				s.OKIfVersion++
				s.OKWrites++
			default:
				s.OKWrites++
			}
		case "condition-failed":
			s.ConditionFailed++
		case "fail":
			s.Fail++
		case "unknown":
			s.Unknown++
			if len(o.Possible) == 0 {
				s.Open++
			}
		}
	}
	s.Keys = len(keys)
	if s.Writes > 0 {
		s.UnknownShare = float64(s.Unknown) / float64(s.Writes)
	}
}

// checkNotVacuous refuses a run that did too little, or whose writes
// ended unknown too often, for its check to show anything.
func (s *strongSummary) checkNotVacuous(m strongMinimums) {
	for _, c := range []struct {
		what     string
		got, min int
	}{
		{"acknowledged writes", s.OKWrites, m.OKWrites},
		{"acknowledged gets", s.OKGets, m.OKGets},
		{"acknowledged writes at a version", s.OKIfVersion, m.OKIfVersion},
		{"writes whose condition failed", s.ConditionFailed, m.ConditionFailed},
	} {
		if c.got < c.min {
			s.refusals = append(s.refusals, fmt.Sprintf("%d %s, fewer than %d", c.got, c.what, c.min))
		}
	}
	if s.Writes == 0 || s.UnknownShare > m.MaxUnknownShare {
		s.refusals = append(s.refusals, fmt.Sprintf("%d of %d writes ended unknown, more than %.0f%%", s.Unknown, s.Writes, 100*m.MaxUnknownShare))
	}
}

// checkCalm checks that every member host acknowledged writes invoked
// after from (the heal): a majority is back for every key, and each node
// coordinates strong requests again.
func (s *strongSummary) checkCalm(all []op, from time.Time, hosts []int) {
	invokedAt := map[string]time.Time{}
	s.CalmWrites = map[string]int{}
	for _, h := range hosts {
		s.CalmWrites[fmt.Sprint(h)] = 0
	}
	for _, o := range all {
		switch {
		case o.Status == "invoke":
			invokedAt[o.ID] = o.Time
		case o.Status == "ok" && o.Kind != "get" && !invokedAt[o.ID].Before(from):
			if _, member := s.CalmWrites[o.Node]; member {
				s.CalmWrites[o.Node]++
			}
		}
	}
	for h, n := range s.CalmWrites {
		if n == 0 {
			s.problems = append(s.problems, fmt.Sprintf("host %s acknowledged no write in the %v after the heal", h, strongCalm))
		}
	}
}

// checkLinearizable checks the history with porcupine, key by key (the
// model partitions it), within timeout. When it is not linearizable, or
// not decided in time, each key is checked alone, and the keys that fail
// are written to evidence(): their operations as text
// (strong-keys.txt), and porcupine's visualization of them
// (strong-linearizability.html); the history itself is kept with the
// node logs.
func (s *strongSummary) checkLinearizable(ops []porcupine.Operation, timeout time.Duration, evidence func() string) {
	start := time.Now()
	s.Result = porcupine.CheckOperationsTimeout(paxostest.Model, ops, timeout)
	s.CheckTime = time.Since(start)
	if s.Result == porcupine.Ok {
		return
	}
	byKey := map[string][]porcupine.Operation{}
	for _, o := range ops {
		k := o.Input.(paxostest.Input).Key
		byKey[k] = append(byKey[k], o)
	}
	var bad []porcupine.Operation
	var text []string
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		r := porcupine.CheckOperationsTimeout(paxostest.Model, byKey[k], timeout/4)
		if r == porcupine.Ok {
			continue
		}
		s.BadKeys = append(s.BadKeys, k)
		bad = append(bad, byKey[k]...)
		text = append(text, fmt.Sprintf("key %s: %s (client, call ns, return ns or open, operation)", k, r))
		for _, o := range byKey[k] {
			ret := fmt.Sprint(o.Return)
			if o.Return == math.MaxInt64 {
				ret = "open"
			}
			text = append(text, fmt.Sprintf("  %d %d %s %s", o.ClientId, o.Call, ret, paxostest.Model.DescribeOperation(o.Input, o.Output)))
		}
	}
	what := "not linearizable"
	if s.Result == porcupine.Unknown {
		what = fmt.Sprintf("not decided within %v", timeout)
	}
	dir := evidence()
	problem := fmt.Sprintf("the history of %d operations is %s; keys %v", len(ops), what, s.BadKeys)
	if dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "strong-keys.txt"), []byte(strings.Join(text, "\n")+"\n"), 0o644); err != nil {
			problem += fmt.Sprintf(" (writing their operations: %v)", err)
		}
		_, info := porcupine.CheckOperationsVerbose(paxostest.Model, bad, timeout/4)
		if err := porcupine.VisualizePath(paxostest.Model, info, filepath.Join(dir, "strong-linearizability.html")); err != nil {
			problem += fmt.Sprintf(" (visualization: %v)", err)
		}
		problem += "; their operations and porcupine's visualization are in " + dir
	}
	s.problems = append(s.problems, problem)
}

func (s *strongSummary) String() string {
	return fmt.Sprintf("%d ops on %d keys (%d ok, %d condition failed, %d failed, %d unknown of which %d never answered); "+
		"%d writes acknowledged (%d at a version), %d gets; %.1f%% of writes unknown; acknowledged writes after the heal by host %v; porcupine: %s in %v",
		s.Ops, s.Keys, s.OK, s.ConditionFailed, s.Fail, s.Unknown, s.Open, s.OKWrites, s.OKIfVersion, s.OKGets,
		100*s.UnknownShare, s.CalmWrites, s.Result, s.CheckTime.Round(time.Millisecond))
}

// markdownRow renders the summary as a row of docs/reliability.md's
// table of strong runs.
func (s *strongSummary) markdownRow(nodes int, kinds string, d time.Duration, seed uint64) string {
	return fmt.Sprintf("| %d | %s | %v | %d | %d | %d | %d | %d | %d (%d) | %.1f%% | %d | %s | %v |",
		nodes, kinds, d, seed, s.Ops, s.OK, s.ConditionFailed, s.Fail, s.Unknown, s.Open, 100*s.UnknownShare, s.Keys, s.Result, s.CheckTime.Round(time.Millisecond))
}
