// Package paxostest is the sequential specification strong keys are
// checked against: a register per key with compare-and-set, as a
// porcupine model, for the simulated runs of cluster/paxos and for
// histories of real clusters.
package paxostest

import (
	"fmt"
	"slices"

	"github.com/anishathalye/porcupine"
	"github.com/harmoniakv/harmonia/cluster/paxos"
)

// Register is the model's state: whether the key has a value, the value,
// and the write that made it.
type Register struct {
	Exists  bool
	Data    string
	Version paxos.Ballot
}

// FromValue is the register a paxos value is.
func FromValue(v paxos.Value) Register {
	return Register{Exists: v.Exists, Data: string(v.Data), Version: v.Version}
}

// Input is one operation on one key.
type Input struct {
	Key     string
	Kind    paxos.OpKind
	Data    string // for a put; unique per write, so that a value names its write
	Cond    paxos.CondKind
	Version paxos.Ballot // for CondVersion
}

// Output is how the operation ended. Unknown: it timed out or lost to
// contention, and may or may not have taken effect, with one of Versions
// as its version if it did (the ballots at which it proposed a value).
// An OK write's version must be one of its Versions too.
type Output struct {
	Unknown  bool
	Outcome  paxos.Outcome
	Value    Register
	Versions []paxos.Ballot
}

func holds(in Input, r Register) bool {
	switch in.Cond {
	case paxos.CondAbsent:
		return !r.Exists
	case paxos.CondVersion:
		return r.Version == in.Version
	}
	return true
}

func written(in Input, at paxos.Ballot) Register {
	if in.Kind == paxos.OpDelete {
		return Register{Version: at}
	}
	return Register{Exists: true, Data: in.Data, Version: at}
}

// step is the specification: the registers a state may become under one
// operation with its output (none: the output is impossible).
func step(state any, input any, output any) []any {
	r, in, out := state.(Register), input.(Input), output.(Output)
	if out.Unknown {
		next := []any{r} // it did not take effect (or is linearized last)
		if in.Kind != paxos.OpGet && holds(in, r) {
			for _, v := range out.Versions {
				next = append(next, written(in, v))
			}
		}
		return next
	}
	switch {
	case in.Kind == paxos.OpGet:
		if out.Outcome == paxos.OutcomeOK && out.Value == r {
			return []any{r}
		}
	case out.Outcome == paxos.OutcomeConditionFailed:
		if !holds(in, r) && out.Value == r {
			return []any{r}
		}
	case out.Outcome == paxos.OutcomeOK:
		// The write's value is its own, at a ballot it proposed at: a
		// write that reports another write's version is wrong.
		if holds(in, r) && out.Value == written(in, out.Value.Version) && !out.Value.Version.IsZero() &&
			slices.Contains(out.Versions, out.Value.Version) {
			return []any{out.Value}
		}
	}
	return nil
}

// Model is the register-with-compare-and-set model, partitioned by key.
var Model = (&porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(Input).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		slices.Sort(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() []any { return []any{Register{}} },
	Step: step,
	DescribeOperation: func(input, output any) string {
		in, out := input.(Input), output.(Output)
		op := map[paxos.OpKind]string{paxos.OpGet: "get", paxos.OpPut: "put " + in.Data, paxos.OpDelete: "delete"}[in.Kind]
		switch in.Cond {
		case paxos.CondAbsent:
			op += " if absent"
		case paxos.CondVersion:
			op += " if version " + in.Version.String()
		}
		if out.Unknown {
			return fmt.Sprintf("%s %s -> unknown (versions %v)", in.Key, op, out.Versions)
		}
		return fmt.Sprintf("%s %s -> %s %s", in.Key, op, out.Outcome, describe(out.Value))
	},
	DescribeState: func(state any) string { return describe(state.(Register)) },
}).ToModel()

func describe(r Register) string {
	if !r.Exists {
		return fmt.Sprintf("absent@%s", r.Version)
	}
	return fmt.Sprintf("%q@%s", r.Data, r.Version)
}
