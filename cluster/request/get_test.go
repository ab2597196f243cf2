package request

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/object/objecttest"
	"github.com/harmoniakv/harmonia/cluster/reap"
)

var now = time.Unix(1_000_000, 0)

type getStep struct {
	name string
	do   func(g *Get) GetEffects
	want GetEffects
	// answer is the values the answer holds (live and deleted, by value),
	// or the text its error must contain after "error: ".
	answer string
}

func reply(node string, set ...object.Sibling) func(*Get) GetEffects {
	return func(g *Get) GetEffects { return g.Replied(node, set, nil) }
}

func TestGet(t *testing.T) {
	v1 := version("v1", "a", 1)
	v2 := version("v2", "a", 2, v1)
	other := version("w", "b", 1, v1) // concurrent with v2
	rule := reap.Config{Grace: time.Hour}
	oldDelete := tombstone("a", 3, now.Add(-2*time.Hour), v2)
	newDelete := tombstone("a", 3, now.Add(-time.Minute), v2)
	tests := []struct {
		rule   string
		pl     Placement
		r      int
		askAll bool
		start  GetEffects
		steps  []getStep
	}{
		{
			rule: "answers after R, waits for the rest, repairs the replica that answered with less",
			pl:   Placement{Self: "a", Replicas: abc}, r: 2, askAll: true,
			start: GetEffects{Asks: []Ask{{To: "a"}, {To: "b"}, {To: "c"}}},
			steps: []getStep{
				{"a has v2", reply("a", v2), GetEffects{}, ""},
				{"b has v1: R met", reply("b", v1), GetEffects{WaitForRepair: true, Answer: &GetOutcome{}}, "v2"},
				{"c has v2: all in", reply("c", v2), GetEffects{Repair: []string{"b"}, Done: true}, ""},
			},
		},
		{
			rule: "concurrent versions are both answered, and each replica missing one is repaired",
			pl:   Placement{Self: "a", Replicas: abc}, r: 3, askAll: true,
			start: GetEffects{Asks: []Ask{{To: "a"}, {To: "b"}, {To: "c"}}},
			steps: []getStep{
				{"a has v2", reply("a", v2), GetEffects{}, ""},
				{"b has w", reply("b", other), GetEffects{}, ""},
				{"c has both", reply("c", v2, other), GetEffects{Answer: &GetOutcome{}, Repair: []string{"a", "b"}, Done: true}, "v2,w"},
			},
		},
		{
			rule: "a fallback answers for its down replica and is repaired under its own name",
			pl:   Placement{Self: "a", Replicas: abc, Down: down("c"), StandIns: map[string]string{"c": "d"}}, r: 3, askAll: true,
			start: GetEffects{Asks: []Ask{{To: "a"}, {To: "b"}, {To: "d", For: "c"}}},
			steps: []getStep{
				{"a has v2", reply("a", v2), GetEffects{}, ""},
				{"d has v1 for c", reply("d", v1), GetEffects{}, ""},
				{"b has v2: R=3 met", reply("b", v2), GetEffects{Answer: &GetOutcome{}, Repair: []string{"d"}, Done: true}, "v2"},
			},
		},
		{
			rule: "a down replica with no fallback fails; R unmet once every replica answered: QuorumError naming the count",
			pl:   Placement{Self: "a", Replicas: abc, Down: down("c")}, r: 3, askAll: true,
			start: GetEffects{Asks: []Ask{{To: "a"}, {To: "b"}}},
			steps: []getStep{
				{"a has v2", reply("a", v2), GetEffects{}, ""},
				{"b fails", func(g *Get) GetEffects { return g.Replied("b", nil, errors.New("disk")) },
					GetEffects{Answer: &GetOutcome{}, Done: true}, "error: get failed: 1 of 3 replicas acknowledged (needed 3); b: disk; c: down"},
			},
		},
		{
			rule: "a tombstone past grace is not copied to an empty replica, but is to one holding the value",
			pl:   Placement{Self: "a", Replicas: abc}, r: 3, askAll: true,
			start: GetEffects{Asks: []Ask{{To: "a"}, {To: "b"}, {To: "c"}}},
			steps: []getStep{
				{"a has the old delete", reply("a", oldDelete), GetEffects{}, ""},
				{"b has nothing", reply("b"), GetEffects{}, ""},
				{"c has v2", reply("c", v2), GetEffects{Answer: &GetOutcome{}, Repair: []string{"c"}, Done: true}, "(deleted)"},
			},
		},
		{
			rule: "a tombstone within grace is copied to an empty replica",
			pl:   Placement{Self: "a", Replicas: abc}, r: 2, askAll: true,
			start: GetEffects{Asks: []Ask{{To: "a"}, {To: "b"}, {To: "c"}}},
			steps: []getStep{
				{"a has the recent delete", reply("a", newDelete), GetEffects{}, ""},
				{"b has nothing", reply("b"), GetEffects{Answer: &GetOutcome{}, WaitForRepair: true}, "(deleted)"},
				{"the window ends without c", (*Get).RepairWindowOver, GetEffects{Repair: []string{"b"}, Done: true}, ""},
			},
		},
		{
			rule: "the deadline before R: timed out, naming the counts; the replies in hand are still repaired",
			pl:   Placement{Self: "a", Replicas: abc}, r: 3, askAll: true,
			start: GetEffects{Asks: []Ask{{To: "a"}, {To: "b"}, {To: "c"}}},
			steps: []getStep{
				{"a has v2", reply("a", v2), GetEffects{}, ""},
				{"b has v1", reply("b", v1), GetEffects{}, ""},
				{"deadline", (*Get).Deadline, GetEffects{Answer: &GetOutcome{}, Repair: []string{"b"}, Done: true},
					"error: get timed out: 2 of 3 replicas acknowledged (needed 3); 1 pending"},
				{"c answers late: ignored", reply("c", v1), GetEffects{}, ""},
			},
		},
		{
			rule: "a reply from a node that was not asked, and a second reply of a replica, count for nothing",
			pl:   Placement{Self: "a", Replicas: abc}, r: 2, askAll: true,
			start: GetEffects{Asks: []Ask{{To: "a"}, {To: "b"}, {To: "c"}}},
			steps: []getStep{
				{"a stranger answers", reply("m", v2), GetEffects{}, ""},
				{"a has v1", reply("a", v1), GetEffects{}, ""},
				{"a again, with v2", reply("a", v2), GetEffects{}, ""},
				{"b has v1: R met", reply("b", v1), GetEffects{Answer: &GetOutcome{}, WaitForRepair: true}, "v1"},
			},
		},
		{
			rule: "no replica holds the key: an empty answer and nothing to repair",
			pl:   Placement{Self: "a", Replicas: abc}, r: 2, askAll: true,
			start: GetEffects{Asks: []Ask{{To: "a"}, {To: "b"}, {To: "c"}}},
			steps: []getStep{
				{"a: nothing", reply("a"), GetEffects{}, ""},
				{"b: nothing", reply("b"), GetEffects{Answer: &GetOutcome{}, WaitForRepair: true}, ""},
				{"c: nothing", reply("c"), GetEffects{Done: true}, ""},
			},
		},
		{
			rule: "R replicas are asked, its own first; one that answered with less is repaired, the unasked one is not read",
			pl:   Placement{Self: "b", Replicas: abc}, r: 2,
			start: GetEffects{Asks: []Ask{{To: "b"}, {To: "a"}}, Speculate: true},
			steps: []getStep{
				{"b has v2", reply("b", v2), GetEffects{}, ""},
				{"a has v1: R met, nobody left waiting", reply("a", v1), GetEffects{Answer: &GetOutcome{}, Repair: []string{"a"}, Done: true}, "v2"},
				{"c was not asked: its reply counts for nothing", reply("c", v2), GetEffects{}, ""},
			},
		},
		{
			rule: "a replica that fails is replaced by the next one at once",
			pl:   Placement{Self: "a", Replicas: abc}, r: 2,
			start: GetEffects{Asks: []Ask{{To: "a"}, {To: "b"}}, Speculate: true},
			steps: []getStep{
				{"b fails: c is asked", func(g *Get) GetEffects { return g.Replied("b", nil, errors.New("disk")) }, GetEffects{Asks: []Ask{{To: "c"}}}, ""},
				{"a has v1", reply("a", v1), GetEffects{}, ""},
				{"c has v1: R met", reply("c", v1), GetEffects{Answer: &GetOutcome{}, Done: true}, "v1"},
			},
		},
		{
			rule: "Speculate asks one more replica while R is unmet; the slow one still counts and is repaired if it answers in the window",
			pl:   Placement{Self: "a", Replicas: abc}, r: 2,
			start: GetEffects{Asks: []Ask{{To: "a"}, {To: "b"}}, Speculate: true},
			steps: []getStep{
				{"a has v2", reply("a", v2), GetEffects{}, ""},
				{"b is slow: c is asked", (*Get).Speculate, GetEffects{Asks: []Ask{{To: "c"}}}, ""},
				{"nothing left to ask", (*Get).Speculate, GetEffects{}, ""},
				{"c has v2: R met, b still waited for", reply("c", v2), GetEffects{Answer: &GetOutcome{}, WaitForRepair: true}, "v2"},
				{"b has v1", reply("b", v1), GetEffects{Repair: []string{"b"}, Done: true}, ""},
			},
		},
		{
			rule: "Speculate after the answer asks nobody",
			pl:   Placement{Self: "a", Replicas: abc}, r: 1,
			start: GetEffects{Asks: []Ask{{To: "a"}}, Speculate: true},
			steps: []getStep{
				{"a has v1: R=1 met", reply("a", v1), GetEffects{Answer: &GetOutcome{}, Done: true}, "v1"},
				{"speculate", (*Get).Speculate, GetEffects{}, ""},
			},
		},
		{
			rule: "up replicas are asked before the fallback of a down one",
			pl:   Placement{Self: "a", Replicas: abc, Down: down("b"), StandIns: map[string]string{"b": "d"}}, r: 2,
			start: GetEffects{Asks: []Ask{{To: "a"}, {To: "c"}}, Speculate: true},
			steps: []getStep{
				{"c fails: d is asked for b", func(g *Get) GetEffects { return g.Replied("c", nil, errors.New("disk")) }, GetEffects{Asks: []Ask{{To: "d", For: "b"}}}, ""},
				{"a has v1", reply("a", v1), GetEffects{}, ""},
				{"d has v1 for b: R met", reply("d", v1), GetEffects{Answer: &GetOutcome{}, Done: true}, "v1"},
			},
		},
		{
			rule: "R unmet with nobody left to ask: QuorumError naming the count",
			pl:   Placement{Self: "a", Replicas: abc, Down: down("c")}, r: 2,
			start: GetEffects{Asks: []Ask{{To: "a"}, {To: "b"}}},
			steps: []getStep{
				{"a has v1", reply("a", v1), GetEffects{}, ""},
				{"b fails", func(g *Get) GetEffects { return g.Replied("b", nil, errors.New("disk")) },
					GetEffects{Answer: &GetOutcome{}, Done: true}, "error: get failed: 1 of 3 replicas acknowledged (needed 2); b: disk; c: down"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			g, eff := NewGet(tt.pl, tt.r, tt.askAll, rule, now)
			checkGet(t, "start", eff, tt.start, "")
			for _, s := range tt.steps {
				checkGet(t, s.name, s.do(g), s.want, s.answer)
			}
		})
	}
}

func checkGet(t *testing.T, step string, got, want GetEffects, answer string) {
	t.Helper()
	if (got.Answer == nil) != (want.Answer == nil) {
		t.Fatalf("%s: answer %+v, want one: %v", step, got.Answer, want.Answer != nil)
	}
	if got.Answer != nil {
		if msg, isErr := strings.CutPrefix(answer, "error: "); isErr {
			if got.Answer.Err == nil || !strings.Contains(got.Answer.Err.Error(), msg) {
				t.Fatalf("%s: error %v, want one containing %q", step, got.Answer.Err, msg)
			}
		} else {
			if got.Answer.Err != nil {
				t.Fatalf("%s: error %v", step, got.Answer.Err)
			}
			var vals []string
			for _, s := range got.Answer.Siblings {
				if s.Deleted {
					vals = append(vals, "(deleted)")
				} else {
					vals = append(vals, string(s.Value))
				}
			}
			slices.Sort(vals)
			if strings.Join(vals, ",") != answer {
				t.Fatalf("%s: answered %v, want %s", step, vals, answer)
			}
		}
	}
	got.Answer, want.Answer = nil, nil
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", step, got, want)
	}
}

// Whatever order replies and timers come in, a get answers exactly once and
// ends exactly once.
func TestGetAnswersOnceInAnyOrder(t *testing.T) {
	v1 := version("v1", "a", 1)
	pl := Placement{Self: "a", Replicas: abc, Down: down("c"), StandIns: map[string]string{"c": "d"}}
	events := []func(*Get) GetEffects{
		reply("a", v1), reply("b"), reply("d", v1), (*Get).Deadline, (*Get).RepairWindowOver, (*Get).Speculate,
		func(g *Get) GetEffects { return g.Replied("b", nil, errors.New("x")) },
	}
	for _, perm := range permutations(len(events)) {
		for _, askAll := range []bool{false, true} {
			for r := 1; r <= 3; r++ {
				g, eff := NewGet(pl, r, askAll, reap.Config{}, now)
				answers, ends := 0, 0
				for _, e := range append([]func(*Get) GetEffects{func(*Get) GetEffects { return eff }}, pick(events, perm)...) {
					eff := e(g)
					if eff.Answer != nil {
						answers++
						if eff.Answer.Err == nil && eff.Answer.Replied < r {
							t.Fatalf("r=%d all=%v order %v: success with %d replies", r, askAll, perm, eff.Answer.Replied)
						}
					}
					if eff.Done {
						ends++
					}
				}
				if answers != 1 || ends != 1 {
					t.Fatalf("r=%d all=%v order %v: %d answers, %d ends", r, askAll, perm, answers, ends)
				}
			}
		}
	}
}

// version and tombstone fix the write time of versions to a minute before now.
func version(value, node string, n uint64, prior ...object.Sibling) object.Sibling {
	return objecttest.Version(value, node, n, now.Add(-time.Minute), prior...)
}

var tombstone = objecttest.Tombstone
