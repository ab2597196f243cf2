package hinted

import (
	"errors"
	"slices"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/cluster/ring"
)

var errTableDeleted = errors.New("table 7 was deleted")

// refuseDeleted refuses the writes of key "deleted", as the catalog does
// for a key of a deleted table.
func refuseDeleted(key []byte) error {
	if string(key) == "deleted" {
		return errTableDeleted
	}
	return nil
}

func TestNewBatch(t *testing.T) {
	normal := map[string]string{"n1": ring.StatusNormal, "n2": ring.StatusNormal, "n3": ring.StatusNormal, "n4": ring.StatusNormal}
	removed := map[string]string{"n1": ring.StatusNormal, "n2": ring.StatusNormal, "n3": ring.StatusLeft, "n4": ring.StatusNormal}
	leaving := map[string]string{"n1": ring.StatusLeaving, "n2": ring.StatusNormal, "n3": ring.StatusNormal, "n4": ring.StatusNormal}
	up, down, left := membership.Up, membership.Down, membership.Left
	allUp := map[string]membership.Status{"n1": up, "n2": up, "n3": up, "n4": up}
	targetDown := map[string]membership.Status{"n1": up, "n2": up, "n3": down, "n4": up}
	const partitions = 16
	hint := func(seq uint64, partition int, key string) Hint {
		return Hint{Seq: seq, Partition: partition, Key: []byte(key)}
	}
	for _, tc := range []struct {
		rule     string
		statuses map[string]string
		live     map[string]membership.Status
		noRing   bool
		hints    []Hint
		// sends: the destinations of each hint when the batch goes.
		sends   func(pl Placement) []Send
		drop    *Drop
		stop    bool
		checked []string // the keys checkWrite is asked about, in order
	}{
		{rule: "every hint of a batch whose hints all have a destination goes to it",
			statuses: normal, live: allUp, hints: []Hint{hint(1, 5, "a"), hint(2, 9, "b")},
			sends: func(Placement) []Send {
				return []Send{{Seq: 1, Dests: []string{"n3"}}, {Seq: 2, Dests: []string{"n3"}}}
			},
			checked: []string{"a", "b"}},
		{rule: "a hint of a removed target goes to the replicas the ring now names",
			statuses: removed, live: map[string]membership.Status{"n1": up, "n2": up, "n3": left, "n4": up},
			hints: []Hint{hint(1, 5, "a")},
			sends: func(pl Placement) []Send {
				pref, extra := pl.Transition.WriteReplicas(5)
				return []Send{{Seq: 1, Dests: append(pref, extra...)}}
			},
			checked: []string{"a"}},
		{rule: "a hint a next replica keeps for the target is marked with its keeper",
			statuses: leaving, live: map[string]membership.Status{"n1": membership.Leaving, "n2": up, "n3": down, "n4": up},
			hints: []Hint{hint(1, 5, "a")},
			sends: func(pl Placement) []Send {
				dests, keeper, _ := pl.Destinations("n3", 5)
				return []Send{{Seq: 1, Dests: dests, Keeper: keeper}}
			},
			checked: []string{"a"}},
		{rule: "a hint of a partition outside the ring is dropped for good",
			statuses: normal, live: allUp, hints: []Hint{hint(1, 5, "a"), hint(2, partitions, "b"), hint(3, 5, "c")},
			drop: &Drop{Seq: 2, Why: "partition 16 is outside the ring"}, checked: []string{"a"}},
		{rule: "a hint of a negative partition is dropped for good",
			statuses: normal, live: allUp, hints: []Hint{hint(1, -1, "a")},
			drop: &Drop{Seq: 1, Why: "partition -1 is outside the ring"}},
		{rule: "a hint whose table was deleted is dropped for good, with the catalog's reason",
			statuses: normal, live: allUp, hints: []Hint{hint(1, 5, "a"), hint(2, 5, "deleted"), hint(3, 5, "c")},
			drop: &Drop{Seq: 2, Why: errTableDeleted.Error()}, checked: []string{"a", "deleted"}},
		{rule: "a hint that can never go is dropped even while its target is down",
			statuses: normal, live: targetDown, hints: []Hint{hint(1, 5, "deleted")},
			drop: &Drop{Seq: 1, Why: errTableDeleted.Error()}, checked: []string{"deleted"}},
		{rule: "a hint without a destination stops the batch",
			statuses: normal, live: targetDown, hints: []Hint{hint(1, 5, "a")},
			stop: true, checked: []string{"a"}},
		{rule: "a hint without a destination stops the batch before a later one is dropped",
			statuses: normal, live: targetDown, hints: []Hint{hint(1, 5, "a"), hint(2, partitions, "b"), hint(3, 5, "deleted")},
			stop: true, checked: []string{"a"}},
		{rule: "a removed target's hint waits while one of the new replicas is down",
			statuses: removed, live: map[string]membership.Status{"n1": up, "n2": down, "n3": left, "n4": down},
			hints: []Hint{hint(1, 5, "a")}, stop: true, checked: []string{"a"}},
		{rule: "without a ring every hint waits and none is dropped",
			live: allUp, noRing: true, hints: []Hint{hint(1, partitions, "deleted")}, stop: true},
		{rule: "no hints: an empty batch waits for nothing",
			statuses: normal, live: allUp, sends: func(Placement) []Send { return []Send{} }},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			pl := Placement{Self: "n1", Members: tc.live, N: 3}
			if !tc.noRing {
				pl = testPlacement(t, "n1", tc.statuses, tc.live)
				if got := pl.Transition.Current.Partitions(); got != partitions {
					t.Fatalf("the test ring has %d partitions, want %d", got, partitions)
				}
			}
			var checked []string
			b, drop, stop := NewBatch(pl, "n3", tc.hints, func(key []byte) error {
				checked = append(checked, string(key))
				return refuseDeleted(key)
			})
			if stop != tc.stop {
				t.Fatalf("stop %v, want %v", stop, tc.stop)
			}
			if (drop == nil) != (tc.drop == nil) || drop != nil && *drop != *tc.drop {
				t.Fatalf("drop %+v, want %+v", drop, tc.drop)
			}
			if !slices.Equal(checked, tc.checked) {
				t.Fatalf("asked about the writes of %q, want %q", checked, tc.checked)
			}
			var want []Send
			if tc.sends != nil {
				want = tc.sends(pl)
			}
			if !slices.EqualFunc(b.Sends, want, func(a, b Send) bool {
				return a.Seq == b.Seq && a.Keeper == b.Keeper && slices.Equal(a.Dests, b.Dests)
			}) || (b.Sends == nil) != (want == nil) {
				t.Fatalf("sends %+v, want %+v", b.Sends, want)
			}
			for _, s := range b.Sends {
				if len(s.Dests) == 0 {
					t.Fatalf("hint %d goes nowhere, yet the batch sends it", s.Seq)
				}
			}
			if b.Pending() != (len(b.Sends) > 0) {
				t.Fatalf("pending %v with %d hints sent", b.Pending(), len(b.Sends))
			}
		})
	}
}

func TestBatchAcked(t *testing.T) {
	normal := map[string]string{"n1": ring.StatusNormal, "n2": ring.StatusNormal, "n3": ring.StatusNormal, "n4": ring.StatusNormal}
	removed := map[string]string{"n1": ring.StatusNormal, "n2": ring.StatusNormal, "n3": ring.StatusLeft, "n4": ring.StatusNormal}
	oneDest := testPlacement(t, "n1", normal,
		map[string]membership.Status{"n1": membership.Up, "n2": membership.Up, "n3": membership.Up, "n4": membership.Up})
	threeDests := testPlacement(t, "n1", removed,
		map[string]membership.Status{"n1": membership.Up, "n2": membership.Up, "n3": membership.Left, "n4": membership.Up})
	type ack struct {
		seq       uint64
		ok        bool
		deletable bool // want
	}
	for _, tc := range []struct {
		rule    string
		pl      *Placement // nil: the zero Batch
		acks    []ack
		pending bool // want, after the acks
	}{
		{"a hint is deleted only when every destination acknowledged it", &threeDests,
			[]ack{{1, true, false}, {1, true, false}, {1, true, true}, {2, true, false}, {2, true, false}, {2, true, true}}, false},
		{"an error from one destination keeps the hint for the timeout", &threeDests,
			[]ack{{1, true, false}, {1, false, false}, {1, true, false}, {2, true, false}, {2, true, false}, {2, true, true}}, true},
		{"an error from the only destination keeps the hint for the timeout", &oneDest,
			[]ack{{1, false, false}, {2, true, true}}, true},
		{"the batch waits until every hint was acknowledged", &oneDest,
			[]ack{{2, true, true}}, true},
		{"a hint acknowledged by its destination may be deleted", &oneDest,
			[]ack{{1, true, true}, {2, true, true}}, false},
		{"an acknowledgement of a hint already deletable changes nothing", &oneDest,
			[]ack{{1, true, true}, {1, true, false}}, true},
		{"an acknowledgement of a hint the batch never sent changes nothing", &oneDest,
			[]ack{{9, true, false}}, true},
		{"a replay that sent no batch yet waits for nothing", nil,
			[]ack{{1, true, false}}, false},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			var b Batch
			if tc.pl != nil {
				var drop *Drop
				var stop bool
				b, drop, stop = NewBatch(*tc.pl, "n3", []Hint{{Seq: 1, Partition: 5}, {Seq: 2, Partition: 7}}, refuseDeleted)
				if drop != nil || stop {
					t.Fatalf("the batch does not go: drop %+v, stop %v", drop, stop)
				}
				want := 1
				if tc.pl == &threeDests {
					want = 3
				}
				for _, s := range b.Sends {
					if len(s.Dests) != want {
						t.Fatalf("hint %d goes to %v, want %d destinations", s.Seq, s.Dests, want)
					}
				}
			}
			for i, a := range tc.acks {
				if got := b.Acked(a.seq, a.ok); got != a.deletable {
					t.Fatalf("answer %d (hint %d, ok %v): deletable %v, want %v", i, a.seq, a.ok, got, a.deletable)
				}
			}
			if b.Pending() != tc.pending {
				t.Fatalf("pending %v, want %v", b.Pending(), tc.pending)
			}
		})
	}
}
