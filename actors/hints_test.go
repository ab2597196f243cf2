package actors

import (
	"testing"

	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/ring"
	"github.com/harmoniakv/harmonia/messages/internalpb"
)

// testView builds the View of self over members (id -> liveness) whose
// ring statuses are statuses.
func testView(t *testing.T, self string, statuses map[string]string, live map[string]membership.Status) *View {
	t.Helper()
	tr, err := ring.NewTransition(statuses, 16, 3)
	if err != nil {
		t.Fatal(err)
	}
	v := &View{membership.View{Self: self, Ring: tr.Current, Transition: tr, RingStatuses: statuses, N: 3, Members: map[string]membership.Member{}}}
	for id, st := range live {
		v.Members[id] = membership.Member{ID: id, Status: st, Incarnation: 7}
	}
	return v
}

func TestAdmits(t *testing.T) {
	v := testView(t, "n1", map[string]string{"n1": ring.StatusNormal, "n2": ring.StatusNormal, "n3": ring.StatusLeft},
		map[string]membership.Status{"n1": membership.Up, "n2": membership.Down, "n3": membership.Left})
	for _, tc := range []struct {
		name   string
		sender *internalpb.Sender
		ok     bool
	}{
		{"this node itself", &internalpb.Sender{Node: "n1"}, true},
		{"a member, even one that looks down, of the incarnation known", &internalpb.Sender{Node: "n2", Incarnation: 7}, true},
		{"another incarnation of a member (wiped, or another cluster's)", &internalpb.Sender{Node: "n2", Incarnation: 8}, false},
		{"a node that left or was removed", &internalpb.Sender{Node: "n3", Incarnation: 7}, false},
		{"a node never heard of", &internalpb.Sender{Node: "n9", Incarnation: 7}, false},
		{"no sender at all", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := v.Admits(tc.sender); (err == nil) != tc.ok {
				t.Fatalf("Admits = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
