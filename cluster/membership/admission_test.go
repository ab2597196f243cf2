package membership

import (
	"errors"
	"testing"
)

func TestAdmission(t *testing.T) {
	three := map[string]Status{"n1": Up, "n2": Up, "n3": Down}
	for _, tc := range []struct {
		rule    string
		admit   func() (bool, error)
		done    bool
		refusal error // nil: admitted
	}{
		{"a normal member with another normal one may leave", func() (bool, error) { return AdmitLeave(three, "n1") }, false, nil},
		{"a leaving member is leaving already", func() (bool, error) { return AdmitLeave(map[string]Status{"n1": Leaving, "n2": Up}, "n1") }, true, nil},
		{"the last normal member may not: its data has nowhere to go", func() (bool, error) { return AdmitLeave(map[string]Status{"n1": Up, "n2": Down}, "n1") }, false, ErrNotNow},
		{"a joining member may not leave", func() (bool, error) { return AdmitLeave(map[string]Status{"n1": Joining, "n2": Up}, "n1") }, false, ErrNotNow},
		{"a down member may be removed", func() (bool, error) { return AdmitRemove(three, "n1", "n3") }, false, nil},
		{"a live one may not: it leaves", func() (bool, error) { return AdmitRemove(three, "n1", "n2") }, false, ErrNotNow},
		{"a node may not remove itself", func() (bool, error) { return AdmitRemove(map[string]Status{"n1": Down, "n2": Up}, "n1", "n1") }, false, ErrNotMember},
		{"nor a node that is no member", func() (bool, error) { return AdmitRemove(three, "n1", "n9") }, false, ErrNotMember},
		{"a member that left is removed already", func() (bool, error) { return AdmitRemove(map[string]Status{"n1": Up, "n2": Left}, "n1", "n2") }, true, nil},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			done, err := tc.admit()
			if done != tc.done || !errors.Is(err, tc.refusal) || (tc.refusal == nil) != (err == nil) {
				t.Fatalf("done %v, %v; want done %v, refusal %v", done, err, tc.done, tc.refusal)
			}
		})
	}
}
