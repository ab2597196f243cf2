package paxos

import (
	"strings"
	"testing"
)

func TestMergeRange(t *testing.T) {
	b1, b2 := Ballot{Round: 1, Node: "a", Incarnation: 1}, Ballot{Round: 2, Node: "b", Incarnation: 1}
	committed := func(data string, at Ballot) State {
		v := Value{Exists: true, Data: []byte(data), Version: at}
		return State{Promised: at, Accepted: at, Value: v, Committed: at}
	}
	inFlight := func(data string, at Ballot) State {
		st := committed(data, at)
		st.Committed = Ballot{}
		return st
	}
	page := func(from string, more bool, kv ...any) RangeReply {
		r := RangeReply{From: from, More: more}
		for i := 0; i < len(kv); i += 2 {
			r.Keys = append(r.Keys, []byte(kv[i].(string)))
			r.States = append(r.States, kv[i+1].(State))
		}
		return r
	}
	type want struct {
		keys     string // "k1 k2* ...": * marks a settled register
		complete bool
		err      string
	}
	render := func(es []RangeEntry) string {
		var parts []string
		for _, e := range es {
			s := string(e.Key)
			if e.Settled {
				s += "*"
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, " ")
	}
	for _, tt := range []struct {
		name    string
		voters  [][]string
		replies []RangeReply
		reverse bool
		want    want
	}{
		{"registers every answering voter holds committed alike are settled", abc,
			[]RangeReply{page("a", false, "k1", committed("x", b1), "k2", committed("y", b1)), page("b", false, "k1", committed("x", b1), "k2", committed("y", b1))}, false,
			want{"k1* k2*", true, ""}},
		{"a register one voter lacks is read through consensus", abc,
			[]RangeReply{page("a", false, "k1", committed("x", b1)), page("b", false)}, false,
			want{"k1", true, ""}},
		{"a register accepted but not committed is read through consensus", abc,
			[]RangeReply{page("a", false, "k1", inFlight("x", b1)), page("b", false, "k1", inFlight("x", b1))}, false,
			want{"k1", true, ""}},
		{"voters holding different values are read through consensus", abc,
			[]RangeReply{page("a", false, "k1", committed("x", b1)), page("b", false, "k1", committed("z", b2))}, false,
			want{"k1", true, ""}},
		{"one value committed at two ballots is settled", abc,
			[]RangeReply{page("a", false, "k1", committed("x", b1)), page("b", false, "k1", func() State { s := committed("x", b1); s.Accepted, s.Committed = b2, b2; return s }())}, false,
			want{"k1*", true, ""}},
		{"the page ends at the shortest page that stopped early", abc,
			[]RangeReply{page("a", true, "k1", committed("x", b1), "k2", committed("x", b1)), page("b", false, "k1", committed("x", b1), "k2", committed("x", b1), "k3", committed("x", b1))}, false,
			want{"k1* k2*", false, ""}},
		{"in reverse the page ends at the lowest last key", abc,
			[]RangeReply{page("a", true, "k3", committed("x", b1), "k2", committed("x", b1)), page("b", false, "k3", committed("x", b1), "k1", committed("x", b1))}, true,
			want{"k3* k2", false, ""}},
		{"replies from a minority are refused", abc,
			[]RangeReply{page("a", false)}, false, want{"", false, "majority"}},
		{"a reply from a non-voter is refused", abc,
			[]RangeReply{page("a", false), page("z", false)}, false, want{"", false, "not a voter"}},
		{"two replies from one voter are refused", abc,
			[]RangeReply{page("a", false), page("a", false)}, false, want{"", false, "twice"}},
		{"during a ring change both groups need a majority", [][]string{{"a", "b", "c"}, {"b", "c", "d"}},
			[]RangeReply{page("a", false), page("b", false)}, false, want{"", false, "majority"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			es, complete, err := MergeRange(tt.voters, tt.replies, tt.reverse)
			if tt.want.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want.err) {
					t.Fatalf("err %v, want %q", err, tt.want.err)
				}
				return
			}
			if err != nil || render(es) != tt.want.keys || complete != tt.want.complete {
				t.Fatalf("got %q complete=%v %v, want %q complete=%v", render(es), complete, err, tt.want.keys, tt.want.complete)
			}
		})
	}
}
