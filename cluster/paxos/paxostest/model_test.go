package paxostest

import (
	"math"
	"testing"

	"github.com/anishathalye/porcupine"
	"github.com/harmoniakv/harmonia/cluster/paxos"
)

// The model judges hand-made histories of one key as it should, writes
// whose version is not known included: a checker that cannot fail proves
// nothing.
func TestModel(t *testing.T) {
	b := func(seq uint64) paxos.Ballot { return paxos.Ballot{Round: 1, Node: "n1", Incarnation: 1, Seq: seq} }
	v1, v2, v3 := b(1), b(2), b(3)
	owned := map[paxos.Ballot]bool{v1: true, v2: true} // the puts' versions
	op := func(call, ret int64, in Input, out Output) porcupine.Operation {
		in.Key, in.Owned = "k", owned
		return porcupine.Operation{Input: in, Output: out, Call: call, Return: ret}
	}
	put := func(call, ret int64, data string, v paxos.Ballot) porcupine.Operation {
		return op(call, ret, Input{Kind: paxos.OpPut, Data: data},
			Output{Value: Register{Exists: true, Data: data, Version: v}, Versions: []paxos.Ballot{v}})
	}
	get := func(call, ret int64, r Register) porcupine.Operation {
		return op(call, ret, Input{Kind: paxos.OpGet}, Output{Value: r})
	}
	okDelete := func(call, ret int64) porcupine.Operation {
		return op(call, ret, Input{Kind: paxos.OpDelete}, Output{AnyVersion: true})
	}
	at := func(data string, v paxos.Ballot) Register {
		return Register{Exists: data != "", Data: data, Version: v}
	}
	const open = math.MaxInt64
	for _, tc := range []struct {
		name string
		ops  []porcupine.Operation
		want bool
	}{
		{"put, get", []porcupine.Operation{put(0, 1, "a", v1), get(2, 3, at("a", v1))}, true},
		{"a get of a value never written", []porcupine.Operation{put(0, 1, "a", v1), get(2, 3, at("b", v1))}, false},
		{"a stale get", []porcupine.Operation{put(0, 1, "a", v1), put(2, 3, "b", v2), get(4, 5, at("a", v1))}, false},
		{"a delete's tombstone shows its version to the next get", []porcupine.Operation{
			put(0, 1, "a", v1), okDelete(2, 3), get(4, 5, at("", v3)), get(6, 7, at("", v3))}, true},
		{"the tombstone changes version between two gets", []porcupine.Operation{
			put(0, 1, "a", v1), okDelete(2, 3), get(4, 5, at("", v3)), get(6, 7, at("", b(4)))}, false},
		{"a delete's tombstone at a put's version", []porcupine.Operation{
			put(0, 1, "a", v1), okDelete(2, 3), get(4, 5, at("", v1))}, false},
		{"after a delete, a put at the version read before it", []porcupine.Operation{
			put(0, 1, "a", v1), okDelete(2, 3),
			op(4, 5, Input{Kind: paxos.OpPut, Data: "b", Cond: paxos.CondVersion, Version: v1},
				Output{Value: at("b", v2), Versions: []paxos.Ballot{v2}})}, false},
		{"after a delete, a put at the tombstone's version", []porcupine.Operation{
			put(0, 1, "a", v1), okDelete(2, 3), get(4, 5, at("", v3)),
			op(6, 7, Input{Kind: paxos.OpPut, Data: "b", Cond: paxos.CondVersion, Version: v3},
				Output{Value: at("b", v2), Versions: []paxos.Ballot{v2}})}, true},
		{"after a delete, a failed condition shows the tombstone", []porcupine.Operation{
			put(0, 1, "a", v1), okDelete(2, 3),
			op(4, 5, Input{Kind: paxos.OpDelete, Cond: paxos.CondVersion, Version: v1},
				Output{Outcome: paxos.OutcomeConditionFailed, Value: at("", v3)})}, true},
		{"a deleted key's value comes back", []porcupine.Operation{put(0, 1, "a", v1), okDelete(2, 3), get(4, 5, at("a", v1))}, false},
		{"a dropped tombstone reads as never written", []porcupine.Operation{
			put(0, 1, "a", v1), okDelete(2, 3), get(4, 5, at("", v3)), get(6, 7, at("", paxos.Ballot{})),
			op(8, 9, Input{Kind: paxos.OpPut, Data: "b", Cond: paxos.CondVersion, Version: v3},
				Output{Outcome: paxos.OutcomeConditionFailed, Value: at("", paxos.Ballot{})})}, true},
		{"a dropped tombstone comes back", []porcupine.Operation{
			put(0, 1, "a", v1), okDelete(2, 3), get(4, 5, at("", v3)), get(6, 7, at("", paxos.Ballot{})), get(8, 9, at("", v3))}, false},
		{"a value reads as never written", []porcupine.Operation{put(0, 1, "a", v1), get(2, 3, at("", paxos.Ballot{}))}, false},
		{"a write with no answer shows up later", []porcupine.Operation{
			op(0, open, Input{Kind: paxos.OpPut, Data: "a"}, Output{Unknown: true, AnyVersion: true}), get(2, 3, at("a", v3))}, true},
		{"a write with no answer never shows up", []porcupine.Operation{
			op(0, open, Input{Kind: paxos.OpPut, Data: "a"}, Output{Unknown: true, AnyVersion: true}), get(2, 3, at("", paxos.Ballot{}))}, true},
		{"a write with no answer shows up before it was sent", []porcupine.Operation{
			get(0, 1, at("a", v3)), op(2, open, Input{Kind: paxos.OpPut, Data: "a"}, Output{Unknown: true, AnyVersion: true})}, false},
		{"an unknown write shows up at a version it did not propose", []porcupine.Operation{
			op(0, open, Input{Kind: paxos.OpPut, Data: "a"}, Output{Unknown: true, Versions: []paxos.Ballot{v1}}), get(2, 3, at("a", v2))}, false},
		{"an if-absent put of unknown outcome whose condition failed", []porcupine.Operation{
			put(0, 1, "a", v1),
			op(2, open, Input{Kind: paxos.OpPut, Data: "b", Cond: paxos.CondAbsent}, Output{Unknown: true, AnyVersion: true}),
			get(4, 5, at("b", v3))}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := porcupine.CheckOperations(Model, tc.ops); got != tc.want {
				t.Fatalf("linearizable %v, want %v", got, tc.want)
			}
		})
	}
}
