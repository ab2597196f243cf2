package antientropy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/cluster/merkle"
	"github.com/harmoniakv/harmonia/cluster/object"
	"github.com/harmoniakv/harmonia/cluster/paxos"
	"github.com/harmoniakv/harmonia/cluster/reap"
	"github.com/harmoniakv/harmonia/cluster/vclock"
)

var t0 = time.Unix(1_800_000_000, 0)

// small is a tree of two levels of four: 16 leaf buckets.
func small() Config {
	return Config{Tree: merkle.Config{Fanout: 4, Depth: 1}, PageKeys: 2, WriteWindow: 2, Timeout: time.Minute,
		AcceptorStaleAfter: time.Minute, Reap: reap.DefaultConfig()}
}

func hashes(vals ...byte) []merkle.Hash {
	out := make([]merkle.Hash, len(vals))
	for i, v := range vals {
		out[i][0] = v
	}
	return out
}

func sib(node string, n uint64) []object.Sibling {
	return []object.Sibling{{Value: []byte(fmt.Sprint(node, n)), Dot: vclock.Dot{Actor: vclock.Actor{Node: node, Incarnation: 1}, Counter: n}}}
}

// toBuckets walks a fresh exchange down to its bucket fetches: the roots
// differ, and of the root's children only the first.
func toBuckets(t *testing.T, cfg Config) *Exchange {
	t.Helper()
	e, eff := New(cfg, t0, true)
	if eff.AskLevel == nil || eff.AskLevel.Level != 0 || !slices.Equal(eff.AskLevel.Nodes, []int{0}) {
		t.Fatalf("a new exchange asks %+v, want the root", eff.AskLevel)
	}
	e.Level(t0, Mine, LevelReply{Ready: true, Hashes: hashes(1)})
	eff = e.Level(t0, Theirs, LevelReply{Ready: true, Hashes: hashes(2)})
	if eff.AskLevel == nil || !slices.Equal(eff.AskLevel.Nodes, []int{0, 1, 2, 3}) {
		t.Fatalf("a differing root asks %+v, want its four children", eff.AskLevel)
	}
	e.Level(t0, Mine, LevelReply{Ready: true, Hashes: hashes(1, 0, 0, 0)})
	eff = e.Level(t0, Theirs, LevelReply{Ready: true, Hashes: hashes(2, 0, 0, 0)})
	if len(eff.Fetch) != 2 || !slices.Equal(eff.Fetch[0].Buckets, []int{0}) || eff.Fetch[0].After != nil {
		t.Fatalf("differing leaves fetch %+v, want bucket 0 from both sides", eff.Fetch)
	}
	return e
}

func TestTreeWalk(t *testing.T) {
	for _, tc := range []struct {
		rule          string
		mine, theirs  LevelReply
		wantErr       string
		wantAcceptors bool
	}{
		{rule: "equal roots go straight to the acceptor pass", mine: LevelReply{Ready: true, Hashes: hashes(7)}, theirs: LevelReply{Ready: true, Hashes: hashes(7)}, wantAcceptors: true},
		{rule: "a reply with a hash missing fails the exchange", mine: LevelReply{Ready: true, Hashes: hashes(7)}, theirs: LevelReply{Ready: true}, wantErr: "0 hashes for 1 nodes"},
		{rule: "a tree still being rebuilt fails the exchange", mine: LevelReply{Ready: true, Hashes: hashes(7)}, theirs: LevelReply{Hashes: hashes(7)}, wantErr: "rebuilt"},
		{rule: "a side's refusal fails the exchange", mine: LevelReply{Err: errors.New("n1: disk")}, theirs: LevelReply{Ready: true, Hashes: hashes(7)}, wantErr: "n1: disk"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			e, _ := New(small(), t0, true)
			if eff := e.Level(t0, Mine, tc.mine); eff.Done || eff.AskLevel != nil {
				t.Fatalf("one side's answer moved the exchange: %+v", eff)
			}
			eff := e.Level(t0, Theirs, tc.theirs)
			if tc.wantErr != "" {
				if !eff.Done || eff.Err == nil || !strings.Contains(eff.Err.Error(), tc.wantErr) {
					t.Fatalf("got %+v, want the end with %q", eff, tc.wantErr)
				}
				return
			}
			if (eff.FetchAcceptors != nil) != tc.wantAcceptors || eff.Done {
				t.Fatalf("got %+v", eff)
			}
		})
	}
	t.Run("a peer that is down ends the exchange at once", func(t *testing.T) {
		_, eff := New(small(), t0, false)
		if !eff.Done || eff.Err == nil || eff.AskLevel != nil {
			t.Fatalf("got %+v", eff)
		}
	})
	t.Run("a second answer from one side is not the other's", func(t *testing.T) {
		e, _ := New(small(), t0, true)
		e.Level(t0, Mine, LevelReply{Ready: true, Hashes: hashes(1)})
		if eff := e.Level(t0, Mine, LevelReply{Ready: true, Hashes: hashes(2)}); eff.AskLevel != nil || eff.Done {
			t.Fatalf("got %+v", eff)
		}
	})
}

func TestBucketsAndWrites(t *testing.T) {
	t.Run("a page with more asks that side for the next, after its last key", func(t *testing.T) {
		e := toBuckets(t, small())
		eff := e.Buckets(t0, t0, Theirs, BucketPage{Entries: []Entry{{Key: []byte("a"), Set: sib("n2", 1)}}, More: true, Last: []byte("a")})
		if len(eff.Fetch) != 1 || eff.Fetch[0].Side != Theirs || string(eff.Fetch[0].After) != "a" {
			t.Fatalf("got %+v", eff)
		}
		eff = e.Buckets(t0, t0, Theirs, BucketPage{More: true, Last: []byte("a")})
		if !eff.Done || eff.Err == nil {
			t.Fatalf("a page that does not move on: %+v", eff)
		}
	})
	t.Run("the merge goes only to the side that lacks part of it", func(t *testing.T) {
		e := toBuckets(t, small())
		e.Buckets(t0, t0, Mine, BucketPage{Entries: []Entry{{Key: []byte("both"), Set: sib("n1", 1)}, {Key: []byte("mine"), Set: sib("n1", 2)}}})
		eff := e.Buckets(t0, t0, Theirs, BucketPage{Entries: []Entry{{Key: []byte("both"), Set: sib("n1", 1)}, {Key: []byte("theirs"), Set: sib("n2", 1)}}})
		var got []string
		for _, w := range eff.Writes {
			got = append(got, fmt.Sprintf("%s->%v", w.Key, w.Side))
		}
		if !slices.Equal(got, []string{"mine->theirs", "theirs->mine"}) {
			t.Fatalf("writes %v", got)
		}
	})
	t.Run("writes stay within the window; each ack sends the next; all acked goes on", func(t *testing.T) {
		e := toBuckets(t, small()) // window 2
		var mine []Entry
		for i := range 5 {
			mine = append(mine, Entry{Key: []byte{byte('a' + i)}, Set: sib("n1", uint64(i+1))})
		}
		e.Buckets(t0, t0, Theirs, BucketPage{})
		eff := e.Buckets(t0, t0, Mine, BucketPage{Entries: mine})
		if len(eff.Writes) != 2 {
			t.Fatalf("first writes %d, want the window's 2", len(eff.Writes))
		}
		for id := range uint64(5) {
			eff = e.Written(t0, id, nil)
			if id < 3 && len(eff.Writes) != 1 {
				t.Fatalf("ack %d sent %d writes, want 1", id, len(eff.Writes))
			}
		}
		if eff.FetchAcceptors == nil {
			t.Fatalf("after the last ack: %+v", eff)
		}
		if r := e.Result(); r.KeysRemote != 5 || r.KeysLocal != 0 || r.Hashes != 5 {
			t.Fatalf("result %+v", r)
		}
	})
	t.Run("a repeated acknowledgement counts once", func(t *testing.T) {
		e := toBuckets(t, small())
		e.Buckets(t0, t0, Theirs, BucketPage{})
		e.Buckets(t0, t0, Mine, BucketPage{Entries: []Entry{{Key: []byte("a"), Set: sib("n1", 1)}, {Key: []byte("b"), Set: sib("n1", 2)}}})
		e.Written(t0, 0, nil)
		if eff := e.Written(t0, 0, nil); eff.FetchAcceptors != nil || eff.Done {
			t.Fatalf("the same write acknowledged twice ended the writes: %+v", eff)
		}
		if eff := e.Written(t0, 1, nil); eff.FetchAcceptors == nil {
			t.Fatalf("after both writes: %+v", eff)
		}
		if r := e.Result(); r.KeysRemote != 2 {
			t.Fatalf("result %+v, want 2 keys written", r)
		}
	})
	t.Run("an ack of a write never sent fails the exchange", func(t *testing.T) {
		e := toBuckets(t, small())
		e.Buckets(t0, t0, Theirs, BucketPage{})
		e.Buckets(t0, t0, Mine, BucketPage{Entries: []Entry{{Key: []byte("a"), Set: sib("n1", 1)}}})
		if eff := e.Written(t0, 7, nil); !eff.Done || eff.Err == nil {
			t.Fatalf("got %+v", eff)
		}
	})
	t.Run("a refused write fails the exchange", func(t *testing.T) {
		e := toBuckets(t, small())
		e.Buckets(t0, t0, Theirs, BucketPage{})
		e.Buckets(t0, t0, Mine, BucketPage{Entries: []Entry{{Key: []byte("a"), Set: sib("n1", 1)}}})
		if eff := e.Written(t0, 0, errors.New("n2: refused")); !eff.Done || !strings.Contains(fmt.Sprint(eff.Err), "refused") {
			t.Fatalf("got %+v", eff)
		}
	})
	t.Run("the rate holds writes back and asks for a pump", func(t *testing.T) {
		cfg := small()
		cfg.WriteWindow, cfg.MaxKeysPerSecond = 10, 1
		e := toBuckets(t, cfg)
		e.Buckets(t0, t0, Theirs, BucketPage{})
		eff := e.Buckets(t0, t0, Mine, BucketPage{Entries: []Entry{{Key: []byte("a"), Set: sib("n1", 1)}, {Key: []byte("b"), Set: sib("n1", 2)}}})
		if len(eff.Writes) != 1 || eff.PumpAfter <= 0 {
			t.Fatalf("got %d writes, pump after %v; want 1 and a wait", len(eff.Writes), eff.PumpAfter)
		}
		if eff := e.Pump(t0.Add(eff.PumpAfter)); len(eff.Writes) != 1 {
			t.Fatalf("the pump sent %d writes", len(eff.Writes))
		}
	})
}

func ballot(round uint64) paxos.Ballot {
	return paxos.Ballot{Round: round, Node: "n1", Incarnation: 1, Seq: 1}
}

// settled is a register chosen at round r, committed.
func settled(r uint64) paxos.State {
	b := ballot(r)
	return paxos.State{Promised: b, Accepted: b, Committed: b, Value: paxos.Value{Exists: true, Version: b, Data: []byte("v")}}
}

// unsettled is a proposal accepted at round r and not known chosen.
func unsettled(r uint64) paxos.State {
	st := settled(r)
	st.Committed = paxos.Ballot{}
	return st
}

func page(done bool, states map[string]paxos.State) AcceptorPage {
	p := AcceptorPage{Done: done, States: states}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range states {
			if !yield(k) {
				return
			}
		}
	}) {
		p.Keys = append(p.Keys, []byte(k))
	}
	return p
}

// toAcceptors is an exchange whose trees agreed: it has asked for the
// first page of acceptor states.
func toAcceptors(t *testing.T) *Exchange {
	t.Helper()
	e, _ := New(small(), t0, true)
	e.Level(t0, Mine, LevelReply{Ready: true, Hashes: hashes(1)})
	if eff := e.Level(t0, Theirs, LevelReply{Ready: true, Hashes: hashes(1)}); eff.FetchAcceptors == nil || eff.FetchAcceptors.After != nil {
		t.Fatalf("got %+v", eff)
	}
	return e
}

// keys are the registers s teaches; each must be taught the state the
// other side sent.
func keys(t *testing.T, s Sync, from map[string]paxos.State) []string {
	t.Helper()
	var out []string
	for _, taught := range s.States {
		if want := from[string(taught.Key)]; !taught.State.Equal(want) {
			t.Fatalf("register %q is taught %+v, not the other side's %+v", taught.Key, taught.State, want)
		}
		out = append(out, string(taught.Key))
	}
	return out
}

func TestAcceptorPass(t *testing.T) {
	wall := t0
	old, fresh := uint64(wall.Add(-time.Hour).UnixMicro()), uint64(wall.UnixMicro())
	t.Run("each side is taught what only the other knows settled", func(t *testing.T) {
		e := toAcceptors(t)
		mine := map[string]paxos.State{"a": settled(fresh), "b": settled(fresh)}
		theirs := map[string]paxos.State{"b": settled(fresh), "c": settled(fresh + 1)}
		e.AcceptorPage(t0, wall, Mine, page(true, mine))
		eff := e.AcceptorPage(t0, wall, Theirs, page(true, theirs))
		if len(eff.Syncs) != 2 || eff.Syncs[0].To != Mine || !slices.Equal(keys(t, eff.Syncs[0], theirs), []string{"c"}) ||
			eff.Syncs[1].To != Theirs || !slices.Equal(keys(t, eff.Syncs[1], mine), []string{"a"}) {
			t.Fatalf("syncs %+v", eff.Syncs)
		}
		if eff.Done {
			t.Fatal("done before the syncs are durable")
		}
		e.Synced(t0, nil)
		if eff := e.Synced(t0, nil); !eff.Done || eff.Err != nil {
			t.Fatalf("after both syncs: %+v", eff)
		}
		if r := e.Result(); r.AcceptorsLocal != 1 || r.AcceptorsRemote != 1 {
			t.Fatalf("result %+v", r)
		}
	})
	t.Run("a page covers the keys up to the lower last key of the sides with more", func(t *testing.T) {
		e := toAcceptors(t)
		mine := map[string]paxos.State{"a": settled(fresh), "m": settled(fresh)}
		e.AcceptorPage(t0, wall, Mine, page(false, mine))
		eff := e.AcceptorPage(t0, wall, Theirs, page(true, map[string]paxos.State{"z": settled(fresh)}))
		if len(eff.Syncs) != 1 || eff.Syncs[0].To != Theirs || !slices.Equal(keys(t, eff.Syncs[0], mine), []string{"a", "m"}) {
			t.Fatalf("syncs %+v: z is past mine's page and must wait", eff.Syncs)
		}
		eff = e.Synced(t0, nil)
		if eff.FetchAcceptors == nil || string(eff.FetchAcceptors.After) != "m" {
			t.Fatalf("next page %+v, want after m", eff.FetchAcceptors)
		}
	})
	t.Run("a stale unsettled proposal is completed, one at a time; a fresh one is left to its proposer", func(t *testing.T) {
		e := toAcceptors(t)
		e.AcceptorPage(t0, wall, Mine, page(true, map[string]paxos.State{"a": unsettled(old), "b": unsettled(old), "c": unsettled(fresh)}))
		eff := e.AcceptorPage(t0, wall, Theirs, page(true, nil))
		if string(eff.Complete) != "a" || eff.Attempt != 1 {
			t.Fatalf("got %+v, want the completion of a", eff)
		}
		if eff := e.Completed(t0, 7, nil); eff.Complete != nil || eff.Done {
			t.Fatalf("the end of another attempt moved the pass: %+v", eff)
		}
		eff = e.Completed(t0, 1, errors.New("contention"))
		if string(eff.Complete) != "b" || eff.Attempt != 2 {
			t.Fatalf("after a failed completion: %+v, want b's", eff)
		}
		eff = e.Completed(t0, 2, nil)
		if !eff.Done || eff.Err == nil || !strings.Contains(eff.Err.Error(), `1 registers not completed, e.g. register "a"`) {
			t.Fatalf("end %+v: the failure is reported", eff)
		}
		if r := e.Result(); r.AcceptorsCompleted != 1 {
			t.Fatalf("result %+v", r)
		}
	})
	t.Run("a refused sync fails the exchange", func(t *testing.T) {
		e := toAcceptors(t)
		e.AcceptorPage(t0, wall, Mine, page(true, map[string]paxos.State{"a": settled(fresh)}))
		e.AcceptorPage(t0, wall, Theirs, page(true, nil))
		if eff := e.Synced(t0, errors.New("disk full")); !eff.Done || !strings.Contains(fmt.Sprint(eff.Err), "disk full") {
			t.Fatalf("got %+v", eff)
		}
	})
	t.Run("a page that does not decode fails the exchange", func(t *testing.T) {
		e := toAcceptors(t)
		e.AcceptorPage(t0, wall, Mine, page(true, nil))
		if eff := e.AcceptorPage(t0, wall, Theirs, AcceptorPage{Err: errors.New("n2 sent register out of order")}); !eff.Done || eff.Err == nil {
			t.Fatalf("got %+v", eff)
		}
	})
}

func TestProgressDeadline(t *testing.T) {
	e, eff := New(small(), t0, true)
	if eff.CheckAfter != time.Minute {
		t.Fatalf("the first check is due after %v", eff.CheckAfter)
	}
	e.Level(t0.Add(40*time.Second), Mine, LevelReply{Ready: true, Hashes: hashes(1)})
	if eff := e.Tick(t0.Add(time.Minute)); eff.Done || eff.CheckAfter != 40*time.Second {
		t.Fatalf("progress 20 s ago: %+v, want the next check in 40 s", eff)
	}
	if eff := e.Tick(t0.Add(100 * time.Second)); !eff.Done || !strings.Contains(fmt.Sprint(eff.Err), "no progress") {
		t.Fatalf("a minute without progress: %+v", eff)
	}
	if eff := e.Level(t0, Theirs, LevelReply{Ready: true, Hashes: hashes(1)}); eff.Done || eff.FetchAcceptors != nil {
		t.Fatalf("an ended exchange moved: %+v", eff)
	}
}
