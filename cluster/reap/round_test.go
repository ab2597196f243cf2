package reap

import (
	"slices"
	"testing"

	"github.com/harmoniakv/harmonia/cluster/paxos"
)

var (
	three = []string{"n1", "n2", "n3"}
	tombB = Entry{Key: []byte("b"), Digest: []byte{1}}
	tombZ = Entry{Key: []byte("z"), Digest: []byte{2}}
)

func entryKeys(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, string(e.Key))
	}
	return out
}

// answer has every replica of three answer holds (per entry); the last
// answer's step is returned.
func answer(r *Round, holds map[string][]bool) RoundStep {
	var step RoundStep
	for _, id := range three {
		step = r.Replied(id, holds[id], holds[id] == nil)
	}
	return step
}

func TestRoundReapsOnlyWhatEveryReplicaHolds(t *testing.T) {
	for _, tc := range []struct {
		rule   string
		holds  map[string][]bool
		commit []string // keys ordered deleted; nil: none
	}{
		{"every replica holds both: both are reaped", map[string][]bool{"n1": {true, true}, "n2": {true, true}, "n3": {true, true}}, []string{"b", "z"}},
		{"a replica whose version moved on keeps the key for all", map[string][]bool{"n1": {true, true}, "n2": {false, true}, "n3": {true, true}}, []string{"z"}},
		{"a replica that failed to answer holds nothing", map[string][]bool{"n1": {true, true}, "n2": nil, "n3": {true, true}}, nil},
		{"a short answer holds nothing past its end", map[string][]bool{"n1": {true, true}, "n2": {true}, "n3": {true, true}}, []string{"b"}},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			r, step := NewRound([]HeldPartition{{Partition: 4, Replicas: three}})
			if step.Scan == nil || step.Scan.Partition != 4 || step.Scan.Acceptors {
				t.Fatalf("a round starts with %+v, want the objects' scan of partition 4", step)
			}
			step = r.Scanned([]Entry{tombB, tombZ})
			if step.Ask == nil || step.Ask.Commit || !slices.Equal(step.Ask.Replicas, three) || len(step.Ask.Entries) != 2 {
				t.Fatalf("after the scan %+v, want a question to every replica", step)
			}
			step = answer(r, tc.holds)
			if tc.commit == nil {
				if step.Scan == nil || !step.Scan.Acceptors {
					t.Fatalf("nothing agreed, then %+v, want the strong keys' scan", step)
				}
				return
			}
			if step.Ask == nil || !step.Ask.Commit || !slices.Equal(entryKeys(step.Ask.Entries), tc.commit) {
				t.Fatalf("got %+v, want the order to delete %v", step.Ask, tc.commit)
			}
			step = answer(r, map[string][]bool{"n1": {}, "n2": {}, "n3": {}})
			if step.Scan == nil || !step.Scan.Acceptors {
				t.Fatalf("after the order %+v, want the strong keys' scan", step)
			}
		})
	}
}

func TestRoundSteps(t *testing.T) {
	t.Run("answers from nodes outside the replicas, or a second from one, are not counted", func(t *testing.T) {
		r, _ := NewRound([]HeldPartition{{Partition: 1, Replicas: three}})
		r.Scanned([]Entry{tombB})
		for _, id := range []string{"n1", "n1", "n9", "n2"} {
			if step := r.Replied(id, []bool{true}, false); step.Ask != nil || step.Scan != nil {
				t.Fatalf("the answer of %s completed the question: %+v", id, step)
			}
		}
		if step := r.Replied("n3", []bool{true}, false); step.Ask == nil || !step.Ask.Commit {
			t.Fatalf("the third replica's answer: %+v", step)
		}
	})
	t.Run("no candidates go on to the next pass, and past the last partition the round is done", func(t *testing.T) {
		r, _ := NewRound([]HeldPartition{{Partition: 1, Replicas: three}, {Partition: 2, Replicas: three}})
		step := r.Scanned(nil)
		if step.Scan == nil || step.Scan.Partition != 1 || !step.Scan.Acceptors {
			t.Fatalf("got %+v", step)
		}
		step = r.ScannedAcceptors(nil, nil)
		if step.Scan == nil || step.Scan.Partition != 2 || step.Scan.Acceptors {
			t.Fatalf("got %+v", step)
		}
		r.Scanned(nil)
		if step = r.ScannedAcceptors(nil, nil); !step.Done {
			t.Fatalf("got %+v, want done", step)
		}
	})
	t.Run("strong tombstones are erased one at a time before the erased registers are asked about", func(t *testing.T) {
		r, _ := NewRound([]HeldPartition{{Partition: 1, Replicas: three}})
		r.Scanned(nil)
		v := paxos.Ballot{Round: 9, Node: "n2", Incarnation: 1, Seq: 1}
		step := r.ScannedAcceptors([]Erasable{{Key: []byte("x"), Version: v}, {Key: []byte("y"), Version: v}}, []Entry{tombB})
		if step.Erase == nil || string(step.Erase.Key) != "x" || step.Attempt != 1 {
			t.Fatalf("got %+v, want the erase of x", step)
		}
		if step := r.Erased(5); step.Erase != nil || step.Ask != nil {
			t.Fatalf("the end of another attempt moved the round: %+v", step)
		}
		if step = r.Erased(1); step.Erase == nil || string(step.Erase.Key) != "y" || step.Attempt != 2 {
			t.Fatalf("got %+v, want the erase of y", step)
		}
		step = r.Erased(2)
		if step.Ask == nil || !step.Ask.Acceptors || !slices.Equal(entryKeys(step.Ask.Entries), []string{"b"}) {
			t.Fatalf("got %+v, want the question about b's erased register", step)
		}
	})
	t.Run("a round over no partition is done at once, and a late answer moves nothing", func(t *testing.T) {
		r, step := NewRound(nil)
		if !step.Done {
			t.Fatalf("got %+v", step)
		}
		if step := r.Replied("n1", []bool{true}, false); step.Ask != nil || step.Scan != nil || step.Done {
			t.Fatalf("a late answer: %+v", step)
		}
	})
	t.Run("a scan of the wrong pass is not taken", func(t *testing.T) {
		r, _ := NewRound([]HeldPartition{{Partition: 1, Replicas: three}})
		if step := r.ScannedAcceptors(nil, []Entry{tombB}); step.Ask != nil || step.Scan != nil {
			t.Fatalf("got %+v", step)
		}
	})
}
