package membership

import (
	"slices"
	"testing"
	"time"
)

var t0 = time.Unix(1000, 0)

func TestMergeAndLiveness(t *testing.T) {
	cfg := DefaultConfig()
	s := New(cfg, Member{ID: "n1", ClusterAddr: "a1"}, t0)
	if !s.Merge([]Member{{ID: "n2", ClusterAddr: "a2", Generation: 1, Heartbeat: 3}}, t0) {
		t.Fatal("a new member is a join")
	}
	if s.Merge([]Member{{ID: "n2", ClusterAddr: "a2", Generation: 1, Heartbeat: 4}}, t0) {
		t.Fatal("a heartbeat is not a join")
	}
	steps := []struct {
		name string
		do   func()
		at   time.Time
		up   bool
	}{
		{"fresh heartbeat", func() {}, t0.Add(time.Second), true},
		{"silent past DownAfter", func() {}, t0.Add(cfg.DownAfter), false},
		{"an old heartbeat does not revive", func() {
			s.Merge([]Member{{ID: "n2", Generation: 1, Heartbeat: 2}}, t0.Add(cfg.DownAfter))
		}, t0.Add(cfg.DownAfter), false},
		{"a newer heartbeat revives", func() {
			s.Merge([]Member{{ID: "n2", ClusterAddr: "a2", Generation: 1, Heartbeat: 5}}, t0.Add(10*time.Second))
		}, t0.Add(10 * time.Second), true},
		{"transport loss marks down at once", func() { s.MarkUnreachable("a2") }, t0.Add(10 * time.Second), false},
		{"a restarted process (new generation, low heartbeat) is up again", func() {
			s.Merge([]Member{{ID: "n2", ClusterAddr: "a2", Generation: 2, Heartbeat: 1}}, t0.Add(11*time.Second))
		}, t0.Add(11 * time.Second), true},
	}
	for _, st := range steps {
		st.do()
		if got := s.Up("n2", st.at); got != st.up {
			t.Fatalf("%s: Up = %v, want %v", st.name, got, st.up)
		}
	}
	if !s.Up("n1", t0.Add(time.Hour)) {
		t.Fatal("self is always up")
	}
	if s.Up("nobody", t0) {
		t.Fatal("unknown member up")
	}
}

func TestSeenMembersStartDownAndIDsSorted(t *testing.T) {
	s := New(DefaultConfig(), Member{ID: "n2"}, t0)
	s.Seen([]Member{{ID: "n3", Heartbeat: 9}, {ID: "n1", Heartbeat: 9}, {ID: "n2", Heartbeat: 100}}, t0)
	if got := s.IDs(); !slices.Equal(got, []string{"n1", "n2", "n3"}) {
		t.Fatalf("IDs = %v", got)
	}
	if s.Up("n1", t0) {
		t.Fatal("a member loaded from disk is up before it is heard from")
	}
	for _, m := range s.Members() {
		if m.ID == "n2" && m.Heartbeat != 0 {
			t.Fatal("another node's report of self replaced self")
		}
	}
	s.Tick(t0)
	if s.Members()[1].Heartbeat != 1 {
		t.Fatal("Tick did not advance own heartbeat")
	}
}
