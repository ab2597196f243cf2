package paxos

import "testing"

func TestCheckFromClient(t *testing.T) {
	update := func(current Value) ([]byte, bool, error) { return nil, true, nil }
	for _, tc := range []struct {
		rule string
		op   Op
		err  string // "": accepted
	}{
		{"a plain get is accepted", Op{Kind: OpGet}, ""},
		{"an unconditional put is accepted", Op{Kind: OpPut, Data: []byte("x")}, ""},
		{"a put if absent is accepted", Op{Kind: OpPut, Data: []byte("x"), Cond: CondAbsent}, ""},
		{"a delete if version is accepted", Op{Kind: OpDelete, Cond: CondVersion, Version: Ballot{Round: 1, Node: "a"}}, ""},
		{"an update with its function is accepted", Op{Kind: OpUpdate, Update: update}, ""},
		{"an update without its function is refused", Op{Kind: OpUpdate}, "strong op: an update needs its function and takes its condition inside it"},
		{"an update with a condition outside its function is refused", Op{Kind: OpUpdate, Update: update, Cond: CondAbsent}, "strong op: an update needs its function and takes its condition inside it"},
		{"a completing round is the node's own: refused as unknown", Op{Kind: OpComplete}, "strong op: unknown kind 3"},
		{"an erase is the node's own reaping: refused as unknown", Op{Kind: OpErase}, "strong op: unknown kind 4"},
		{"an unknown kind is refused, not written as a put", Op{Kind: 99}, "strong op: unknown kind 99"},
		{"an unknown condition is refused, not taken as holding", Op{Kind: OpPut, Cond: 7}, "strong op: unknown condition 7"},
		{"a get takes no condition", Op{Kind: OpGet, Cond: CondAbsent}, "strong op: a get takes no condition"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			got := ""
			if err := tc.op.CheckFromClient(); err != nil {
				got = err.Error()
			}
			if got != tc.err {
				t.Fatalf("CheckFromClient() = %q, want %q", got, tc.err)
			}
		})
	}
}
