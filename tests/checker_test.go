package tests

import (
	"testing"
	"time"
)

// The checkers count what they should, on histories made by hand: a checker
// that cannot fail would prove nothing about the nemesis runs.
func TestCheckers(t *testing.T) {
	ops := []op{
		{Kind: "add", Key: "set-0", Value: "a", Status: "ok"},
		{Kind: "add", Key: "set-0", Value: "b", Status: "ok"},
		{Kind: "add", Key: "set-0", Value: "c", Status: "unknown"},
		{Kind: "write", Key: "u-0-0", Value: "v", Status: "ok"},
		{Kind: "write", Key: "u-0-1", Value: "v", Status: "ok"},
		{Kind: "write", Key: "r-0-0", Value: "x1", Status: "ok"},
		{Kind: "delete", Key: "r-0-0", Status: "ok"},
		{Kind: "write", Key: "r-0-1", Value: "x2", Status: "ok"},
		{Kind: "delete", Key: "r-0-1", Status: "unknown"},
		{Kind: "delete", Key: "r-0-2", Status: "ok"},
		{Kind: "write", Key: "r-0-2", Value: "x3", Status: "ok"},
		{Kind: "read", Key: "set-0", Status: "ok", Siblings: 3},
	}
	for _, tc := range []struct {
		name              string
		final             map[string][]string
		lost, resurrected int
	}{
		{"everything acknowledged is there", map[string][]string{"set-0": {"a", "b"}, "u-0-0": {"v"}, "u-0-1": {"v"}, "r-0-1": {"x2"}, "r-0-2": {"x3"}}, 0, 0},
		{"an unknown add may be there too", map[string][]string{"set-0": {"a", "b", "c"}, "u-0-0": {"v"}, "u-0-1": {"v"}}, 0, 0},
		{"a lost add", map[string][]string{"set-0": {"a"}, "u-0-0": {"v"}, "u-0-1": {"v"}}, 1, 0},
		{"a lost unique write", map[string][]string{"set-0": {"a", "b"}, "u-0-0": {"v"}}, 1, 0},
		{"a deleted key came back", map[string][]string{"set-0": {"a", "b"}, "u-0-0": {"v"}, "u-0-1": {"v"}, "r-0-0": {"x1"}}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &summary{}
			s.count(ops)
			s.checkSets(ops, tc.final)
			s.checkUnique(ops, tc.final)
			s.checkDeletes(ops, tc.final)
			if s.Lost != tc.lost || s.Resurrected != tc.resurrected {
				t.Fatalf("lost %d, resurrected %d; want %d, %d (%v)", s.Lost, s.Resurrected, tc.lost, tc.resurrected, s.problems)
			}
			if s.Ops != len(ops) || s.OK != 10 || s.Unknown != 2 || s.MaxSiblings != 3 {
				t.Fatalf("counted %+v", s)
			}
		})
	}
}

// Under faults a read may see many siblings; the calm bound counts only
// reads after the calm phase's first acknowledged add to the same key.
func TestCalmSiblings(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	ops := []op{
		{Time: at(1), Kind: "read", Key: "a", Status: "ok", Siblings: 15},  // under faults
		{Time: at(11), Kind: "read", Key: "a", Status: "ok", Siblings: 14}, // calm, before any add
		{Time: at(12), Kind: "add", Key: "a", Status: "ok"},
		{Time: at(13), Kind: "read", Key: "a", Status: "ok", Siblings: 3},
		{Time: at(13), Kind: "read", Key: "b", Status: "ok", Siblings: 9}, // b had no add yet
		{Time: at(14), Kind: "read", Key: "a", Status: "fail", Siblings: 0},
	}
	s := &summary{}
	s.checkCalmSiblings(ops, at(10))
	if s.CalmSiblings != 3 {
		t.Fatalf("calm siblings %d, want 3", s.CalmSiblings)
	}
	ops = append(ops, op{Time: at(15), Kind: "read", Key: "a", Status: "ok", Siblings: 6})
	s.checkCalmSiblings(ops, at(10))
	if s.CalmSiblings != 6 {
		t.Fatalf("calm siblings %d, want 6", s.CalmSiblings)
	}
}
