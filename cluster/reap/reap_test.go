package reap

import (
	"strings"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/vclock"
)

func TestBlocked(t *testing.T) {
	cfg := Config{Grace: time.Hour, Settle: time.Minute}
	up := func(id string) Member { return Member{ID: id, Up: true} }
	for _, tc := range []struct {
		name string
		cfg  Config
		cl   Cluster
		want string // substring of the reason; "" means not blocked
	}{
		{"all up, settled, no hints", cfg, Cluster{Members: []Member{up("a"), up("b"), up("c")}, Unchanged: time.Hour}, ""},
		{"disabled", Config{}, Cluster{Members: []Member{up("a")}, Unchanged: time.Hour}, "disabled"},
		{"transition", cfg, Cluster{Members: []Member{up("a")}, Transition: true, Unchanged: time.Hour}, "transition"},
		{"member down", cfg, Cluster{Members: []Member{up("a"), {ID: "c"}, {ID: "b"}}, Unchanged: time.Hour}, "not up: b, c"},
		{"hints anywhere", cfg, Cluster{Members: []Member{up("a"), {ID: "b", Up: true, HintsPending: 3}}, Unchanged: time.Hour}, "hints pending on b (3)"},
		{"not settled", cfg, Cluster{Members: []Member{up("a")}, Unchanged: 10 * time.Second}, "settling"},
	} {
		got := tc.cfg.Blocked(tc.cl)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: Blocked = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestDue(t *testing.T) {
	now := time.Unix(10_000, 0)
	cfg := Config{Grace: time.Minute}
	for _, tc := range []struct {
		name      string
		cfg       Config
		deletedAt time.Time
		want      bool
	}{
		{"within grace", cfg, now.Add(-59 * time.Second), false},
		{"exactly grace", cfg, now.Add(-time.Minute), true},
		{"past grace", cfg, now.Add(-time.Hour), true},
		{"clock ahead of us", cfg, now.Add(time.Hour), false},
		{"disabled", Config{}, now.Add(-time.Hour), false},
	} {
		if got := tc.cfg.Due(tc.deletedAt.UnixNano(), now); got != tc.want {
			t.Errorf("%s: Due = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSpread(t *testing.T) {
	now := time.Unix(10_000, 0)
	cfg := Config{Grace: time.Minute}
	old, fresh := now.Add(-time.Hour), now.Add(-time.Second)
	counter := uint64(0)
	sib := func(deleted bool, at time.Time) object.Sibling { // each a new version
		counter++
		return object.Sibling{Value: []byte("v"), Deleted: deleted, WrittenAt: at.UnixNano(),
			Dot: vclock.Dot{Actor: vclock.Actor{Node: "a", Incarnation: 1}, Counter: counter}}
	}
	value := []object.Sibling{sib(false, old)}
	for _, tc := range []struct {
		name           string
		cfg            Config
		merged, target []object.Sibling
		want           bool
	}{
		{"value to an empty replica", cfg, []object.Sibling{sib(false, old)}, nil, true},
		{"fresh tombstone to an empty replica", cfg, []object.Sibling{sib(true, fresh)}, nil, true},
		{"tombstone past grace to an empty replica", cfg, []object.Sibling{sib(true, old)}, nil, false},
		{"tombstone past grace to a replica with the old value", cfg, []object.Sibling{sib(true, old)}, []object.Sibling{sib(false, old)}, true},
		{"reaping disabled: spread to an empty replica", Config{}, []object.Sibling{sib(true, old)}, nil, true},
		{"replica already holds the versions", cfg, value, value, false},
		{"replica holds an older version", cfg, []object.Sibling{sib(false, fresh)}, value, true},
	} {
		if got := tc.cfg.Spread(tc.merged, tc.target, now); got != tc.want {
			t.Errorf("%s: Spread = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestAgreed(t *testing.T) {
	pref := []string{"a", "b", "c"}
	for _, tc := range []struct {
		name  string
		pref  []string
		holds map[string]bool
		want  bool
	}{
		{"all hold", pref, map[string]bool{"a": true, "b": true, "c": true}, true},
		{"one lacks it", pref, map[string]bool{"a": true, "b": true, "c": false}, false},
		{"one did not answer", pref, map[string]bool{"a": true, "b": true}, false},
		{"a fallback's answer does not count", pref, map[string]bool{"a": true, "b": true, "d": true}, false},
		{"no replicas", nil, map[string]bool{"a": true}, false},
	} {
		if got := Agreed(tc.pref, tc.holds); got != tc.want {
			t.Errorf("%s: Agreed = %v, want %v", tc.name, got, tc.want)
		}
	}
}
