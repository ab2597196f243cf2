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
	// VersionUnknown: the write that made it is known to have taken
	// effect, or taken to have, but not its version (Output.AnyVersion);
	// Version is zero. The next output that shows the register tells its
	// version.
	VersionUnknown bool
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
	// Owned are versions that writes of the key other than those of
	// unknown version have, or would have if they took effect (an OK
	// put's, an unknown write's Versions). A write of unknown version has
	// none of them: every ballot is one proposal's, and a write's version
	// is a ballot it proposed at. Shared by every input of the key; nil
	// when the history does not say.
	Owned map[paxos.Ballot]bool
}

// Output is how the operation ended. Unknown: it timed out or lost to
// contention, and may or may not have taken effect, with one of Versions
// as its version if it did (the ballots at which it proposed a value).
// An OK write's version must be one of its Versions too.
//
// AnyVersion: the write's version, if it took effect, is not known, so
// the register it makes has VersionUnknown: an OK write whose answer
// carries no version (a strong delete's), or a write whose request ended
// without an answer (the node died, the client's deadline passed), which
// is also Unknown, with no Versions.
type Output struct {
	Unknown    bool
	Outcome    paxos.Outcome
	Value      Register
	Versions   []paxos.Ballot
	AnyVersion bool
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

// mayHold reports whether in's condition may hold on r: on a register of
// unknown version, a version condition holds if that version can be the
// register's (not zero, not another write's).
func mayHold(in Input, r Register) bool {
	if r.VersionUnknown && in.Cond == paxos.CondVersion {
		return !in.Version.IsZero() && !in.Owned[in.Version]
	}
	return holds(in, r)
}

// shows reports whether an output's register v (whose version is known)
// may be the state r: equal, or, when r's version is unknown, equal but
// for a version that r's write can have. A tombstone may also show as a
// register never written: once every replica holds it settled past the
// grace, its acceptor state is dropped, and the key reads as never
// written from then on.
func shows(r, v Register, owned map[paxos.Ballot]bool) bool {
	if !r.Exists && v == (Register{}) {
		return true
	}
	if !r.VersionUnknown {
		return r == v
	}
	return !v.VersionUnknown && r.Exists == v.Exists && r.Data == v.Data && !v.Version.IsZero() && !owned[v.Version]
}

func written(in Input, at paxos.Ballot) Register {
	if in.Kind == paxos.OpDelete {
		return Register{Version: at}
	}
	return Register{Exists: true, Data: in.Data, Version: at}
}

// writtenSomehow is the register in writes at a version not known.
func writtenSomehow(in Input) Register {
	r := written(in, paxos.Ballot{})
	r.VersionUnknown = true
	return r
}

// step is the specification: the registers a state may become under one
// operation with its output (none: the output is impossible).
func step(state any, input any, output any) []any {
	r, in, out := state.(Register), input.(Input), output.(Output)
	if out.Unknown {
		next := []any{r} // it did not take effect (or is linearized last)
		if in.Kind != paxos.OpGet && mayHold(in, r) {
			for _, v := range out.Versions {
				next = append(next, written(in, v))
			}
			if out.AnyVersion {
				next = append(next, writtenSomehow(in))
			}
		}
		return next
	}
	switch {
	case in.Kind == paxos.OpGet:
		if out.Outcome == paxos.OutcomeOK && shows(r, out.Value, in.Owned) {
			return []any{out.Value}
		}
	case out.Outcome == paxos.OutcomeConditionFailed:
		if !holds(in, out.Value) && shows(r, out.Value, in.Owned) {
			return []any{out.Value}
		}
	case out.Outcome == paxos.OutcomeOK && out.AnyVersion:
		if mayHold(in, r) {
			return []any{writtenSomehow(in)}
		}
	case out.Outcome == paxos.OutcomeOK:
		// The write's value is its own, at a ballot it proposed at: a
		// write that reports another write's version is wrong.
		if mayHold(in, r) && out.Value == written(in, out.Value.Version) && !out.Value.Version.IsZero() &&
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
		switch {
		case out.Unknown && out.AnyVersion:
			return fmt.Sprintf("%s %s -> unknown (no answer: any version)", in.Key, op)
		case out.Unknown:
			return fmt.Sprintf("%s %s -> unknown (versions %v)", in.Key, op, out.Versions)
		case out.AnyVersion:
			return fmt.Sprintf("%s %s -> %s (version not answered)", in.Key, op, out.Outcome)
		}
		return fmt.Sprintf("%s %s -> %s %s", in.Key, op, out.Outcome, describe(out.Value))
	},
	DescribeState: func(state any) string { return describe(state.(Register)) },
}).ToModel()

func describe(r Register) string {
	at := r.Version.String()
	if r.VersionUnknown {
		at = "?"
	}
	if !r.Exists {
		return "absent@" + at
	}
	return fmt.Sprintf("%q@%s", r.Data, at)
}
