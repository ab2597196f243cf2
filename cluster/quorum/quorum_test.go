package quorum

import (
	"errors"
	"maps"
	"math"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		spec    string
		n, def  int
		want    int
		wantErr string // exact message when non-empty
	}{
		{spec: "", n: 3, def: 2, want: 2},
		{spec: "   ", n: 3, def: 3, want: 3},
		{spec: "one", n: 3, def: 2, want: 1},
		{spec: "ONE", n: 3, def: 2, want: 1},
		{spec: " One\t", n: 3, def: 2, want: 1},
		{spec: "quorum", n: 1, def: 1, want: 1},
		{spec: "quorum", n: 2, def: 1, want: 2},
		{spec: "QUORUM", n: 3, def: 1, want: 2},
		{spec: "quorum", n: 4, def: 1, want: 3},
		{spec: "Quorum", n: 5, def: 1, want: 3},
		{spec: "all", n: 3, def: 1, want: 3},
		{spec: "ALL ", n: 5, def: 1, want: 5},
		{spec: "1", n: 3, def: 2, want: 1},
		{spec: " 3 ", n: 3, def: 2, want: 3},
		{spec: "02", n: 3, def: 2, want: 2},
		{spec: "7", n: 3, def: 2, wantErr: `quorum "7" out of range: must be one, quorum, all or 1..3`},
		{spec: "0", n: 3, def: 2, wantErr: `quorum "0" out of range: must be one, quorum, all or 1..3`},
		{spec: "99999999999999999999999", n: 3, def: 2, wantErr: `quorum "99999999999999999999999" out of range: must be one, quorum, all or 1..3`},
		{spec: "-1", n: 3, def: 2, wantErr: `quorum "-1" is not valid: must be one, quorum, all or 1..3`},
		{spec: "+2", n: 3, def: 2, wantErr: `quorum "+2" is not valid: must be one, quorum, all or 1..3`},
		{spec: "1.5", n: 3, def: 2, wantErr: `quorum "1.5" is not valid: must be one, quorum, all or 1..3`},
		{spec: "two", n: 3, def: 2, wantErr: `quorum "two" is not valid: must be one, quorum, all or 1..3`},
		{spec: "majority", n: 5, def: 2, wantErr: `quorum "majority" is not valid: must be one, quorum, all or 1..5`},
		{spec: "1 2", n: 3, def: 2, wantErr: `quorum "1 2" is not valid: must be one, quorum, all or 1..3`},
		{spec: "", n: 3, def: 0, wantErr: `invalid quorum: default 0 must be 1..3`},
		{spec: "", n: 3, def: 4, wantErr: `invalid quorum: default 4 must be 1..3`},
		{spec: "one", n: 0, def: 1, wantErr: `invalid quorum "one": replication factor 0 must be at least 1`},
	}
	for _, tt := range tests {
		got, err := Parse(tt.spec, tt.n, tt.def)
		if tt.wantErr != "" {
			if err == nil {
				t.Errorf("Parse(%q, %d, %d) = %d, want error %q", tt.spec, tt.n, tt.def, got, tt.wantErr)
				continue
			}
			if err.Error() != tt.wantErr {
				t.Errorf("Parse(%q, %d, %d) error = %q, want %q", tt.spec, tt.n, tt.def, err, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse(%q, %d, %d) error %v does not match ErrInvalid", tt.spec, tt.n, tt.def, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q, %d, %d) = %d, %v, want %d", tt.spec, tt.n, tt.def, got, err, tt.want)
		}
	}
}

func TestParseSpecErrorFields(t *testing.T) {
	_, err := Parse("9", 3, 2)
	var se *SpecError
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a *SpecError", err)
	}
	if se.Spec != "9" || se.N != 3 || !se.OutOfRange {
		t.Fatalf("SpecError = %+v", *se)
	}
}

// op is one reply fed to a Tally, with the expected state afterwards.
type op struct {
	node    string
	err     error // nil means Ack
	fail    bool
	counted bool

	acks, failures, pending int
	met, impossible         bool
}

func TestTallySequences(t *testing.T) {
	timeout := errors.New("timeout")
	refused := errors.New("connection refused")
	tests := []struct {
		name    string
		n, need int
		ops     []op
		summary string
		errs    map[string]string
	}{
		{
			name: "met after two acks",
			n:    3, need: 2,
			ops: []op{
				{node: "n1", counted: true, acks: 1, pending: 2},
				{node: "n2", counted: true, acks: 2, pending: 1, met: true},
			},
			summary: "2 of 3 replicas acknowledged (needed 2); 1 pending",
			errs:    map[string]string{},
		},
		{
			name: "duplicate acks counted once",
			n:    3, need: 2,
			ops: []op{
				{node: "n1", counted: true, acks: 1, pending: 2},
				{node: "n1", counted: false, acks: 1, pending: 2},
				{node: "n1", counted: false, acks: 1, pending: 2},
				{node: "n3", counted: true, acks: 2, pending: 1, met: true},
			},
			summary: "2 of 3 replicas acknowledged (needed 2); 1 pending",
			errs:    map[string]string{},
		},
		{
			name: "ack after fail from same node ignored",
			n:    3, need: 3,
			ops: []op{
				{node: "n3", fail: true, err: timeout, counted: true, failures: 1, pending: 2, impossible: true},
				{node: "n3", counted: false, failures: 1, pending: 2, impossible: true},
				{node: "n1", counted: true, acks: 1, failures: 1, pending: 1, impossible: true},
				{node: "n2", counted: true, acks: 2, failures: 1, impossible: true},
			},
			summary: "2 of 3 replicas acknowledged (needed 3); n3: timeout",
			errs:    map[string]string{"n3": "timeout"},
		},
		{
			name: "fail after ack from same node ignored",
			n:    2, need: 1,
			ops: []op{
				{node: "a", counted: true, acks: 1, pending: 1, met: true},
				{node: "a", fail: true, err: timeout, counted: false, acks: 1, pending: 1, met: true},
			},
			summary: "1 of 2 replicas acknowledged (needed 1); 1 pending",
			errs:    map[string]string{},
		},
		{
			name: "becomes impossible on second failure",
			n:    3, need: 2,
			ops: []op{
				{node: "n1", fail: true, err: refused, counted: true, failures: 1, pending: 2},
				{node: "n2", fail: true, err: timeout, counted: true, failures: 2, pending: 1, impossible: true},
				{node: "n3", counted: true, acks: 1, failures: 2, impossible: true},
			},
			summary: "1 of 3 replicas acknowledged (needed 2); n1: connection refused; n2: timeout",
			errs:    map[string]string{"n1": "connection refused", "n2": "timeout"},
		},
		{
			name: "failures listed by node id, nil error",
			n:    3, need: 1,
			ops: []op{
				{node: "z", fail: true, err: timeout, counted: true, failures: 1, pending: 2},
				{node: "b", fail: true, counted: true, failures: 2, pending: 1},
				{node: "m", counted: true, acks: 1, failures: 2, met: true},
			},
			summary: "1 of 3 replicas acknowledged (needed 1); b: failed; z: timeout",
			errs:    map[string]string{"b": "failed", "z": "timeout"},
		},
		{
			name: "replies beyond n nodes ignored",
			n:    1, need: 1,
			ops: []op{
				{node: "a", fail: true, err: timeout, counted: true, failures: 1, impossible: true},
				{node: "b", counted: false, failures: 1, impossible: true},
			},
			summary: "0 of 1 replica acknowledged (needed 1); a: timeout",
			errs:    map[string]string{"a": "timeout"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tally := NewTally(tt.n, tt.need)
			if tally.N() != tt.n || tally.Need() != tt.need {
				t.Fatalf("N, Need = %d, %d, want %d, %d", tally.N(), tally.Need(), tt.n, tt.need)
			}
			if tally.Done() || tally.Pending() != tt.n {
				t.Fatalf("new tally: Done=%v Pending=%d", tally.Done(), tally.Pending())
			}
			for i, o := range tt.ops {
				var counted bool
				if o.fail {
					counted = tally.Fail(o.node, o.err)
				} else {
					counted = tally.Ack(o.node)
				}
				if counted != o.counted {
					t.Errorf("op %d (%s): counted = %v, want %v", i, o.node, counted, o.counted)
				}
				if !tally.Replied(o.node) && o.counted {
					t.Errorf("op %d: Replied(%s) = false", i, o.node)
				}
				if got := [3]int{tally.Acks(), tally.Failures(), tally.Pending()}; got != [3]int{o.acks, o.failures, o.pending} {
					t.Errorf("op %d (%s): acks, failures, pending = %v, want %v", i, o.node, got, [3]int{o.acks, o.failures, o.pending})
				}
				if tally.Met() != o.met || tally.Impossible() != o.impossible {
					t.Errorf("op %d (%s): met=%v impossible=%v, want %v %v", i, o.node, tally.Met(), tally.Impossible(), o.met, o.impossible)
				}
				if tally.Done() != (o.met || o.impossible) {
					t.Errorf("op %d (%s): Done=%v", i, o.node, tally.Done())
				}
			}
			if got := tally.Summary(); got != tt.summary {
				t.Errorf("Summary() = %q, want %q", got, tt.summary)
			}
			if got := tally.Errors(); !maps.Equal(got, tt.errs) {
				t.Errorf("Errors() = %v, want %v", got, tt.errs)
			}
		})
	}
}

func TestTallyRepliedAndErrorsCopy(t *testing.T) {
	tally := NewTally(3, 2)
	if tally.Replied("n1") {
		t.Fatal("Replied before any reply")
	}
	tally.Fail("n1", errors.New("boom"))
	errs := tally.Errors()
	errs["n1"] = "mutated"
	errs["n2"] = "added"
	if got := tally.Errors(); len(got) != 1 || got["n1"] != "boom" {
		t.Fatalf("Errors() = %v after mutating a copy", got)
	}
	if tally.Replied("n2") {
		t.Fatal("Replied(n2) without a reply")
	}
}

func TestNewTallyPanicsOnBadNeed(t *testing.T) {
	for _, c := range [][2]int{{3, 0}, {3, 4}, {0, 1}, {-1, -1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewTally(%d, %d) did not panic", c[0], c[1])
				}
			}()
			NewTally(c[0], c[1])
		}()
	}
}

func FuzzParse(f *testing.F) {
	f.Add("", 3, 2)
	f.Add("one", 3, 2)
	f.Add(" QUORUM ", 5, 1)
	f.Add("all", 1, 1)
	f.Add("7", 3, 2)
	f.Add("-1", 3, 2)
	f.Add("99999999999999999999", math.MaxInt, 1)
	f.Add("2", 0, 0)
	f.Fuzz(func(t *testing.T, spec string, n, def int) {
		got, err := Parse(spec, n, def)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q, %d, %d) error %v does not match ErrInvalid", spec, n, def, err)
			}
			return
		}
		if got < 1 || got > n {
			t.Fatalf("Parse(%q, %d, %d) = %d, outside 1..%d", spec, n, def, got, n)
		}
	})
}

func TestAcked(t *testing.T) {
	tl := NewTally(3, 2)
	tl.Ack("a")
	tl.Fail("b", nil)
	if !tl.Acked("a") || tl.Acked("b") || tl.Acked("c") {
		t.Fatal("Acked wrong")
	}
}

// A tally over named replicas names the ones that have not replied, in the
// order they were asked, so a timed-out request says whom to look at.
func TestTallyOverNamesThePendingReplicas(t *testing.T) {
	tl := NewTallyOver([]string{"n1", "n2", "n4"}, 3)
	tl.Ack("n1")
	if got, want := tl.Summary(), "1 of 3 replicas acknowledged (needed 3); 2 pending (n2, n4)"; got != want {
		t.Fatalf("summary %q, want %q", got, want)
	}
	tl.Fail("n2", errors.New("disk full"))
	if got, want := tl.Summary(), "1 of 3 replicas acknowledged (needed 3); n2: disk full; 1 pending (n4)"; got != want {
		t.Fatalf("summary %q, want %q", got, want)
	}
	tl.Ack("n4")
	if got, want := tl.Summary(), "2 of 3 replicas acknowledged (needed 3); n2: disk full"; got != want {
		t.Fatalf("summary %q, want %q", got, want)
	}
}
