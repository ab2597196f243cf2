package request

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// step is one event fed to a core in a table row.
type putStep struct {
	name string
	do   func(p *Put) PutEffects
	want PutEffects
	// wantErr, when set, must be in the answer's error (Answer.Err is then
	// not compared with want.Answer.Err).
	wantErr string
}

func coordinated(node string) func(*Put) PutEffects {
	return func(p *Put) PutEffects { return p.Coordinated(node, nil) }
}

func acked(kind CopyKind, node, hintFor string) func(*Put) PutEffects {
	return func(p *Put) PutEffects { return p.Replied(kind, node, hintFor, nil) }
}

func failed(kind CopyKind, node, hintFor, msg string) func(*Put) PutEffects {
	return func(p *Put) PutEffects { return p.Replied(kind, node, hintFor, errors.New(msg)) }
}

func down(ids ...string) map[string]bool {
	m := map[string]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}

var abc = []string{"a", "b", "c"}

func TestPut(t *testing.T) {
	tests := []struct {
		rule  string
		pl    Placement
		w, pw int
		start PutEffects
		steps []putStep
	}{
		{
			rule: "every replica up: this node coordinates, the version goes to the others, the answer comes at W and the put ends when all acked",
			pl:   Placement{Self: "a", Replicas: abc}, w: 2,
			start: PutEffects{Coordinate: "a"},
			steps: []putStep{
				{"a made the version", coordinated("a"), PutEffects{Copies: []Copy{{To: "b"}, {To: "c"}}}, ""},
				{"b acks: W met", acked(ToPrimary, "b", ""), PutEffects{Answer: &PutOutcome{Acks: 2}, WaitForStragglers: true}, ""},
				{"c acks: all in", acked(ToPrimary, "c", ""), PutEffects{Done: true}, ""},
			},
		},
		{
			rule: "a replica still silent after the replica timeout gets a hint kept here",
			pl:   Placement{Self: "a", Replicas: abc}, w: 2,
			start: PutEffects{Coordinate: "a"},
			steps: []putStep{
				{"a made the version", coordinated("a"), PutEffects{Copies: []Copy{{To: "b"}, {To: "c"}}}, ""},
				{"b acks", acked(ToPrimary, "b", ""), PutEffects{Answer: &PutOutcome{Acks: 2}, WaitForStragglers: true}, ""},
				{"timeout", (*Put).StragglersDeadline, PutEffects{LocalHints: []string{"c"}, Done: true}, ""},
			},
		},
		{
			rule: "a node that is not a replica has the first replica that is up coordinate",
			pl:   Placement{Self: "x", Replicas: abc, Down: down("a")}, w: 1,
			start: PutEffects{Coordinate: "b"},
		},
		{
			rule: "no replica up: ErrNoReplica at once",
			pl:   Placement{Self: "x", Replicas: abc, Down: down("a", "b", "c")}, w: 1,
			start: PutEffects{Answer: &PutOutcome{Err: ErrNoReplica}, Done: true},
		},
		{
			rule: "a fallback's ack counts toward W, a local hint's does not",
			pl:   Placement{Self: "a", Replicas: abc, Down: down("b", "c"), StandIns: map[string]string{"b": "d"}}, w: 3,
			start: PutEffects{Coordinate: "a"},
			steps: []putStep{
				{"a made the version: d takes b's copy as a hint, c's hint stays here", coordinated("a"),
					PutEffects{Copies: []Copy{{To: "d", Kind: ToFallback, HintFor: "b"}}, LocalHints: []string{"c"}}, ""},
				{"the local hint is stored: nothing changes", acked(ToLocalHint, "a", "c"), PutEffects{}, ""},
				{"d acks for b: 2 of 3, c failed: W=3 impossible", acked(ToFallback, "d", "b"),
					PutEffects{Answer: &PutOutcome{Acks: 2, Hinted: 1}, Done: true}, "2 of 3 replicas acknowledged (needed 3); c: down; hint kept by a"},
			},
		},
		{
			rule: "a fallback's ack answers a W=2 put as hinted",
			pl:   Placement{Self: "a", Replicas: abc, Down: down("c"), StandIns: map[string]string{"c": "d"}}, w: 2,
			start: PutEffects{Coordinate: "a"},
			steps: []putStep{
				{"a made the version", coordinated("a"), PutEffects{Copies: []Copy{{To: "b"}, {To: "d", Kind: ToFallback, HintFor: "c"}}}, ""},
				{"d acks for c", acked(ToFallback, "d", "c"), PutEffects{Answer: &PutOutcome{Acks: 2, Hinted: 1}, WaitForStragglers: true}, ""},
				{"b acks", acked(ToPrimary, "b", ""), PutEffects{Done: true}, ""},
			},
		},
		{
			rule: "PW unmet after every replica answered: QuorumError naming the primaries' count",
			pl:   Placement{Self: "a", Replicas: abc, Down: down("b"), StandIns: map[string]string{"b": "d"}}, w: 2, pw: 3,
			start: PutEffects{Coordinate: "a"},
			steps: []putStep{
				{"a made the version", coordinated("a"), PutEffects{Copies: []Copy{{To: "d", Kind: ToFallback, HintFor: "b"}, {To: "c"}}}, ""},
				{"d acks for b: W met, PW not, c pending", acked(ToFallback, "d", "b"), PutEffects{}, ""},
				{"c acks: 2 primaries of 3 needed", acked(ToPrimary, "c", ""), PutEffects{Answer: &PutOutcome{Acks: 3, Hinted: 1}, Done: true},
					"put failed: 2 of 3 primaries acknowledged (pw needed 3)"},
			},
		},
		{
			rule: "the coordinating replica's error fails the put, and no hint is kept: no version was made",
			pl:   Placement{Self: "a", Replicas: abc}, w: 2,
			start: PutEffects{Coordinate: "a"},
			steps: []putStep{
				{"a refuses", func(p *Put) PutEffects { return p.Coordinated("a", errors.New("value too large")) },
					PutEffects{Answer: &PutOutcome{}, Done: true}, "put: replica a: value too large"},
			},
		},
		{
			rule: "a replica of the next ring gets the version, but its ack does not count",
			pl:   Placement{Self: "a", Replicas: abc, Extra: []string{"e"}}, w: 3,
			start: PutEffects{Coordinate: "a"},
			steps: []putStep{
				{"a made the version", coordinated("a"), PutEffects{Copies: []Copy{{To: "e"}, {To: "b"}, {To: "c"}}}, ""},
				{"e acks: not counted", acked(ToPrimary, "e", ""), PutEffects{}, ""},
				{"b acks", acked(ToPrimary, "b", ""), PutEffects{}, ""},
				{"c acks: W=3", acked(ToPrimary, "c", ""), PutEffects{Answer: &PutOutcome{Acks: 3}, Done: true}, ""},
			},
		},
		{
			rule: "a replica of the next ring that fails, is silent at the end, or is down gets a hint kept here",
			pl:   Placement{Self: "a", Replicas: abc, Extra: []string{"e", "f", "g"}, Down: down("g")}, w: 2,
			start: PutEffects{Coordinate: "a"},
			steps: []putStep{
				{"a made the version: g is down", coordinated("a"), PutEffects{Copies: []Copy{{To: "e"}, {To: "f"}, {To: "b"}, {To: "c"}}, LocalHints: []string{"g"}}, ""},
				{"e refuses", failed(ToPrimary, "e", "", "refused"), PutEffects{LocalHints: []string{"e"}}, ""},
				{"b acks", acked(ToPrimary, "b", ""), PutEffects{Answer: &PutOutcome{Acks: 2}, WaitForStragglers: true}, ""},
				{"c acks: f still silent", acked(ToPrimary, "c", ""), PutEffects{LocalHints: []string{"f"}, Done: true}, ""},
			},
		},
		{
			rule: "a replica of the next ring that acked needs no hint",
			pl:   Placement{Self: "a", Replicas: abc, Extra: []string{"e"}}, w: 3,
			start: PutEffects{Coordinate: "a"},
			steps: []putStep{
				{"a made the version", coordinated("a"), PutEffects{Copies: []Copy{{To: "e"}, {To: "b"}, {To: "c"}}}, ""},
				{"e acks", acked(ToPrimary, "e", ""), PutEffects{}, ""},
				{"b acks", acked(ToPrimary, "b", ""), PutEffects{}, ""},
				{"c acks", acked(ToPrimary, "c", ""), PutEffects{Answer: &PutOutcome{Acks: 3}, Done: true}, ""},
			},
		},
		{
			rule: "the deadline before W: timed out, naming the counts; silent replicas get hints here",
			pl:   Placement{Self: "a", Replicas: abc}, w: 3,
			start: PutEffects{Coordinate: "a"},
			steps: []putStep{
				{"a made the version", coordinated("a"), PutEffects{Copies: []Copy{{To: "b"}, {To: "c"}}}, ""},
				{"b acks", acked(ToPrimary, "b", ""), PutEffects{}, ""},
				{"deadline", (*Put).Deadline, PutEffects{Answer: &PutOutcome{Acks: 2}, LocalHints: []string{"c"}, Done: true},
					"put timed out: 2 of 3 replicas acknowledged (needed 3); 1 pending"},
			},
		},
		{
			rule: "the deadline before the coordinating replica answered: no hints, as there is no version to keep",
			pl:   Placement{Self: "a", Replicas: abc}, w: 2,
			start: PutEffects{Coordinate: "a"},
			steps: []putStep{
				{"deadline", (*Put).Deadline, PutEffects{Answer: &PutOutcome{}, Done: true}, "put timed out: 0 of 3"},
				{"a answers late: ignored", coordinated("a"), PutEffects{}, ""},
			},
		},
		{
			rule: "a replica's failure counts against W; the put fails once every replica answered",
			pl:   Placement{Self: "a", Replicas: abc}, w: 3,
			start: PutEffects{Coordinate: "a"},
			steps: []putStep{
				{"a made the version", coordinated("a"), PutEffects{Copies: []Copy{{To: "b"}, {To: "c"}}}, ""},
				{"b fails: W=3 impossible, c pending", failed(ToPrimary, "b", "", "disk full"), PutEffects{}, ""},
				{"c acks: all answered", acked(ToPrimary, "c", ""), PutEffects{Answer: &PutOutcome{Acks: 2}, LocalHints: []string{"b"}, Done: true},
					"put failed: 2 of 3 replicas acknowledged (needed 3); b: disk full"},
			},
		},
		{
			rule: "replies from nodes that were not asked, and a second reply of a replica, count for nothing",
			pl:   Placement{Self: "a", Replicas: abc}, w: 3,
			start: PutEffects{Coordinate: "a"},
			steps: []putStep{
				{"a made the version", coordinated("a"), PutEffects{Copies: []Copy{{To: "b"}, {To: "c"}}}, ""},
				{"a stranger acks as a fallback for z", acked(ToFallback, "m", "z"), PutEffects{}, ""},
				{"a stranger acks as a primary", acked(ToPrimary, "m", ""), PutEffects{}, ""},
				{"b acks", acked(ToPrimary, "b", ""), PutEffects{}, ""},
				{"b acks again", acked(ToPrimary, "b", ""), PutEffects{}, ""},
				{"c acks: W=3", acked(ToPrimary, "c", ""), PutEffects{Answer: &PutOutcome{Acks: 3}, Done: true}, ""},
			},
		},
		{
			rule: "only the replica asked to coordinate can make the version",
			pl:   Placement{Self: "x", Replicas: abc}, w: 2,
			start: PutEffects{Coordinate: "a"},
			steps: []putStep{
				{"b claims to have made it", coordinated("b"), PutEffects{}, ""},
				{"a made it", coordinated("a"), PutEffects{Copies: []Copy{{To: "b"}, {To: "c"}}}, ""},
				{"a again", coordinated("a"), PutEffects{}, ""},
			},
		},
		{
			rule: "W above the replicas there are is capped to them",
			pl:   Placement{Self: "a", Replicas: []string{"a"}}, w: 3,
			start: PutEffects{Coordinate: "a"},
			steps: []putStep{
				{"a made the version", coordinated("a"), PutEffects{Answer: &PutOutcome{Acks: 1}, Done: true}, ""},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			p, eff := NewPut(tt.pl, tt.w, tt.pw)
			checkPut(t, "start", eff, tt.start, "")
			for _, s := range tt.steps {
				checkPut(t, s.name, s.do(p), s.want, s.wantErr)
			}
		})
	}
}

func checkPut(t *testing.T, step string, got, want PutEffects, wantErr string) {
	t.Helper()
	if (got.Answer == nil) != (want.Answer == nil) {
		t.Fatalf("%s: answer %+v, want %+v", step, got.Answer, want.Answer)
	}
	if got.Answer != nil {
		g, w := *got.Answer, *want.Answer
		switch {
		case wantErr != "":
			if g.Err == nil || !strings.Contains(g.Err.Error(), wantErr) {
				t.Fatalf("%s: error %v, want one containing %q", step, g.Err, wantErr)
			}
		case w.Err != nil:
			if !errors.Is(g.Err, w.Err) {
				t.Fatalf("%s: error %v, want %v", step, g.Err, w.Err)
			}
		case g.Err != nil:
			t.Fatalf("%s: error %v, want success", step, g.Err)
		}
		g.Err, w.Err = nil, nil
		if g != w {
			t.Fatalf("%s: answer %+v, want %+v", step, g, w)
		}
	}
	got.Answer, want.Answer = nil, nil
	if fmt.Sprint(got) != fmt.Sprint(want) || !slices.Equal(got.Copies, want.Copies) {
		t.Fatalf("%s:\n got %+v\nwant %+v", step, got, want)
	}
}

// Whatever order replies come in, a put answers exactly once, ends exactly
// once, and keeps a hint here only for replicas that did not ack.
func TestPutAnswersOnceInAnyOrder(t *testing.T) {
	pl := Placement{Self: "a", Replicas: abc, Down: down("c"), StandIns: map[string]string{"c": "d"}}
	events := []func(*Put) PutEffects{
		acked(ToPrimary, "b", ""), failed(ToFallback, "d", "c", "full"), (*Put).Deadline, (*Put).StragglersDeadline,
		acked(ToPrimary, "b", ""), acked(ToFallback, "d", "c"),
	}
	for _, perm := range permutations(len(events)) {
		for w := 1; w <= 3; w++ {
			p, _ := NewPut(pl, w, 0)
			answers, ends := 0, 0
			hints := map[string]bool{}
			for _, e := range append([]func(*Put) PutEffects{coordinated("a")}, pick(events, perm)...) {
				eff := e(p)
				if eff.Answer != nil {
					answers++
					if eff.Answer.Err == nil && eff.Answer.Acks < w {
						t.Fatalf("w=%d order %v: success with %d acks", w, perm, eff.Answer.Acks)
					}
				}
				if eff.Done {
					ends++
				}
				for _, h := range eff.LocalHints {
					if hints[h] {
						t.Fatalf("w=%d order %v: two local hints for %s", w, perm, h)
					}
					hints[h] = true
				}
			}
			if answers != 1 || ends != 1 {
				t.Fatalf("w=%d order %v: %d answers, %d ends", w, perm, answers, ends)
			}
			if hints["a"] || hints["b"] && p.tally.Acked("b") {
				t.Fatalf("w=%d order %v: hint for a replica that acked: %v", w, perm, hints)
			}
		}
	}
}

func pick[T any](xs []T, order []int) []T {
	out := make([]T, len(order))
	for i, j := range order {
		out[i] = xs[j]
	}
	return out
}

func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}
