package paxos

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestCheckPage(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	const maxKey = 8 // the store's key limit, in bytes, in these rows
	errKeyTooLarge, errNoTable, errBadState := errors.New("key too large"), errors.New("not of a strong table"), errors.New("promised below accepted")
	rules := PageRules{
		Partition: 1,
		// Keys starting with "x" are in partition 2, every other in 1.
		PartitionOf: func(key []byte) int {
			if bytes.HasPrefix(key, []byte("x")) {
				return 2
			}
			return 1
		},
		CheckKey: func(key []byte) error {
			if len(key) > maxKey {
				return fmt.Errorf("%w: %d bytes, limit %d", errKeyTooLarge, len(key), maxKey)
			}
			return nil
		},
		// Keys starting with "dead" are of a deleted table.
		Live: func(key []byte) error {
			if bytes.HasPrefix(key, []byte("dead")) {
				return errNoTable
			}
			return nil
		},
		Now:           now,
		MaxFloorAhead: time.Hour,
	}
	noCatalog := rules
	noCatalog.Live = nil

	b := Ballot{Round: 10, Node: "n1", Incarnation: 1, Seq: 1}
	b2 := Ballot{Round: 20, Node: "n2", Incarnation: 1, Seq: 1}
	promise := Ballot{Round: 30, Node: "n3", Incarnation: 1, Seq: 1}
	val := Value{Exists: true, Data: []byte("v"), Version: b}
	settled := State{Promised: promise, Accepted: b, Value: val, Committed: b}
	unsettled := State{Promised: b2, Accepted: b2, Value: Value{Exists: true, Data: []byte("w"), Version: b2}, Committed: b}
	promiseOnly := State{Promised: promise}
	versionAbove := State{Promised: b2, Accepted: b, Value: Value{Exists: true, Data: []byte("v"), Version: b2}, Committed: b}
	noVersion := State{Promised: b, Accepted: b, Value: Value{Exists: true, Data: []byte("v")}, Committed: b}
	reg := func(key string, st State) PageRegister { return PageRegister{Key: []byte(key), State: st} }
	malformed := func(key string) PageRegister { return PageRegister{Key: []byte(key), StateErr: errBadState} }
	page := func(regs ...PageRegister) Page { return Page{Registers: regs} }
	floorAt := func(d time.Duration, regs ...PageRegister) Page {
		return Page{Floor: Ballot{Round: uint64(now.Add(d).UnixMicro())}, Registers: regs}
	}
	commitOf := func(key string, st State) RegisterCarry { return RegisterCarry{Key: []byte(key), Carry: CarryOf(st)} }
	bareCommit := func(key string, st State) RegisterCarry {
		return RegisterCarry{Key: []byte(key), Carry: Carry{Commit: true, Ballot: st.Committed, Value: st.Value}}
	}
	keys := func(ks ...string) [][]byte {
		out := make([][]byte, len(ks))
		for i, k := range ks {
			out[i] = []byte(k)
		}
		return out
	}
	long := strings.Repeat("k", maxKey+1)

	tests := []struct {
		rule  string
		kind  PageKind
		rules PageRules
		page  Page
		want  PageCarry // SkipWhy compared with errors.Is
		err   string    // the refusal, exactly as the caller wraps it
		is    error
	}{
		// The peer's floor.
		{"a transfer takes a floor up to MaxFloorAhead ahead of the clock", TransferPage, rules, floorAt(time.Hour), PageCarry{}, "", nil},
		{"a transfer refuses a floor further ahead of the clock than MaxFloorAhead", TransferPage, rules, floorAt(time.Hour+time.Microsecond, reg("a", settled)),
			PageCarry{}, fmt.Sprintf("floor %s, 1h0m0.000001s ahead of this node's clock", Ballot{Round: uint64(now.Add(time.Hour + time.Microsecond).UnixMicro())}), nil},
		{"a rebuild refuses a floor too far ahead too", RebuildPage, rules, floorAt(2 * time.Hour),
			PageCarry{}, fmt.Sprintf("floor %s, 2h0m0s ahead of this node's clock", Ballot{Round: uint64(now.Add(2 * time.Hour).UnixMicro())}), nil},
		{"a floor whose round is past the top of a signed clock reading is refused, not taken as behind", TransferPage, rules, Page{Floor: Ballot{Round: 1 << 63}},
			PageCarry{}, fmt.Sprintf("floor %s, %v ahead of this node's clock", Ballot{Round: 1 << 63}, time.Duration(math.MaxInt64/1000)*time.Microsecond), nil},
		{"an exchange names no floor: none is checked", ExchangePage, rules, floorAt(2*time.Hour, reg("a", settled)),
			PageCarry{Carried: []RegisterCarry{bareCommit("a", settled)}}, "", nil},

		// Register keys, for every kind.
		{"a transfer refuses a register over the store's key limit", TransferPage, rules, page(reg("a", settled), reg(long, settled)),
			PageCarry{}, `register "kkkkkkkkk": key too large: 9 bytes, limit 8`, errKeyTooLarge},
		{"an exchange refuses a register over the store's key limit", ExchangePage, rules, page(reg(long, settled)),
			PageCarry{}, `register "kkkkkkkkk": key too large: 9 bytes, limit 8`, errKeyTooLarge},
		{"a transfer refuses a register of another partition", TransferPage, rules, page(reg("xa", settled)),
			PageCarry{}, `register "xa": it is in partition 2, not 1`, nil},
		{"an exchange refuses a register of another partition", ExchangePage, rules, page(reg("a", settled), reg("xa", settled)),
			PageCarry{}, `register "xa": it is in partition 2, not 1`, nil},
		{"a rebuild refuses registers out of key order", RebuildPage, rules, page(reg("b", settled), reg("a", settled)),
			PageCarry{}, `register "a" after "b": out of order`, nil},
		{"an exchange refuses registers out of key order", ExchangePage, rules, page(reg("b", settled), reg("a", settled)),
			PageCarry{}, `register "a" after "b": out of order`, nil},
		{"a transfer refuses a register sent twice", TransferPage, rules, page(reg("a", settled), reg("a", settled)),
			PageCarry{}, `register "a" after "a": out of order`, nil},
		{"a register's key is checked before its state", ExchangePage, rules, page(malformed(long)),
			PageCarry{}, `register "kkkkkkkkk": key too large: 9 bytes, limit 8`, errKeyTooLarge},

		// Registers of no live strong table.
		{"a transfer skips a register of no live strong table and carries the rest", TransferPage, rules, page(reg("a", settled), reg("dead1", settled), reg("e", settled)),
			PageCarry{Carried: []RegisterCarry{commitOf("a", settled), commitOf("e", settled)}, Skipped: 1, SkipWhy: errNoTable}, "", nil},
		{"a rebuild skips a register of no live strong table", RebuildPage, rules, page(reg("dead1", unsettled)),
			PageCarry{Skipped: 1, SkipWhy: errNoTable}, "", nil},
		{"a skipped register's state is not looked at", TransferPage, rules, page(malformed("dead1"), reg("e", settled)),
			PageCarry{Carried: []RegisterCarry{commitOf("e", settled)}, Skipped: 1, SkipWhy: errNoTable}, "", nil},
		{"a skipped register still counts for key order", TransferPage, rules, page(reg("dead9", settled), reg("dead1", settled)),
			PageCarry{Skipped: 1, SkipWhy: errNoTable}, `register "dead1" after "dead9": out of order`, nil},
		{"a skipped register must still be of the partition", TransferPage, rules, page(reg("xdead", settled)),
			PageCarry{}, `register "xdead": it is in partition 2, not 1`, nil},
		{"registers skipped before a refusal are still counted", TransferPage, rules, page(reg("dead1", settled), reg("dead2", settled), malformed("e")),
			PageCarry{Skipped: 2, SkipWhy: errNoTable}, `register "e": promised below accepted`, errBadState},
		{"with no catalog no register is skipped", TransferPage, noCatalog, page(reg("dead1", settled)),
			PageCarry{Carried: []RegisterCarry{commitOf("dead1", settled)}}, "", nil},
		{"an exchange skips no register: a deleted table's is checked and carried like any other", ExchangePage, rules, page(reg("dead1", settled)),
			PageCarry{Carried: []RegisterCarry{bareCommit("dead1", settled)}}, "", nil},
		{"an exchange refuses a deleted table's register that is not settled", ExchangePage, rules, page(reg("dead1", unsettled)),
			PageCarry{}, `register "dead1" is not settled there: only values known chosen are carried`, nil},

		// States: what a transfer and a rebuild carry.
		{"a transfer refuses a state that did not decode", TransferPage, rules, page(reg("a", settled), malformed("b")),
			PageCarry{}, `register "b": promised below accepted`, errBadState},
		{"a transfer carries a settled value as a commit", TransferPage, rules, page(reg("a", settled)),
			PageCarry{Carried: []RegisterCarry{commitOf("a", settled)}}, "", nil},
		{"a transfer completes an unsettled register and carries nothing of it", TransferPage, rules, page(reg("a", unsettled)),
			PageCarry{Complete: keys("a")}, "", nil},
		{"a transfer carries nothing of a register with only a promise", TransferPage, rules, page(reg("a", promiseOnly)),
			PageCarry{}, "", nil},
		{"a rebuild carries a settled value as a commit with its promise", RebuildPage, rules, page(reg("a", settled)),
			PageCarry{Carried: []RegisterCarry{commitOf("a", settled)}}, "", nil},
		{"a rebuild carries an unsettled register's promise and completes it", RebuildPage, rules, page(reg("a", unsettled)),
			PageCarry{Carried: []RegisterCarry{commitOf("a", unsettled)}, Complete: keys("a")}, "", nil},
		{"a rebuild carries a promise alone", RebuildPage, rules, page(reg("a", promiseOnly)),
			PageCarry{Carried: []RegisterCarry{commitOf("a", promiseOnly)}}, "", nil},
		{"a transfer refuses a committed value with a version above its ballot", TransferPage, rules, page(reg("a", versionAbove)),
			PageCarry{}, `register "a": value version 20/n2.1.1 above its committed ballot 10/n1.1.1`, nil},
		{"a rebuild refuses a committed value that exists without a version", RebuildPage, rules, page(reg("a", noVersion)),
			PageCarry{}, `register "a": a value without a version`, errValueWithoutVersion},
		{"an unsettled value is completed, not checked: a transfer does not carry it", TransferPage, rules,
			page(reg("a", State{Promised: b2, Accepted: b, Value: Value{Exists: true}, Committed: Ballot{Round: 1, Node: "n1", Incarnation: 1}})),
			PageCarry{Complete: keys("a")}, "", nil},
		{"registers are carried and completed in key order", TransferPage, rules, page(reg("a", unsettled), reg("b", settled), reg("c", unsettled), reg("d", settled)),
			PageCarry{Carried: []RegisterCarry{commitOf("b", settled), commitOf("d", settled)}, Complete: keys("a", "c")}, "", nil},

		// States: what an exchange carries.
		{"an exchange refuses a state that did not decode", ExchangePage, rules, page(malformed("a")),
			PageCarry{}, `register "a": promised below accepted`, errBadState},
		{"an exchange carries a settled value as a bare commit, without its promise", ExchangePage, rules, page(reg("a", settled), reg("b", settled)),
			PageCarry{Carried: []RegisterCarry{bareCommit("a", settled), bareCommit("b", settled)}}, "", nil},
		{"an exchange refuses a register that is not settled", ExchangePage, rules, page(reg("a", settled), reg("b", unsettled)),
			PageCarry{}, `register "b" is not settled there: only values known chosen are carried`, nil},
		{"an exchange refuses a register with only a promise", ExchangePage, rules, page(reg("a", promiseOnly)),
			PageCarry{}, `register "a" is not settled there: only values known chosen are carried`, nil},
		{"an exchange refuses a committed value with a version above its ballot", ExchangePage, rules, page(reg("a", versionAbove)),
			PageCarry{}, `register "a": value version 20/n2.1.1 above its committed ballot 10/n1.1.1`, nil},
		{"an exchange refuses a committed value that exists without a version", ExchangePage, rules, page(reg("a", noVersion)),
			PageCarry{}, `register "a": a value without a version`, errValueWithoutVersion},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			got, err := CheckPage(tt.kind, tt.page, tt.rules)
			if got.Skipped != tt.want.Skipped || !errors.Is(got.SkipWhy, tt.want.SkipWhy) {
				t.Fatalf("skipped %d (%v), want %d (%v)", got.Skipped, got.SkipWhy, tt.want.Skipped, tt.want.SkipWhy)
			}
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("CheckPage = %v, want refused with %q", err, tt.err)
				}
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Fatalf("CheckPage's error %v does not wrap %v", err, tt.is)
				}
				return
			}
			if err != nil {
				t.Fatalf("CheckPage refused it: %v", err)
			}
			if !reflect.DeepEqual(got.Carried, tt.want.Carried) {
				t.Errorf("carried %+v, want %+v", got.Carried, tt.want.Carried)
			}
			if !reflect.DeepEqual(got.Complete, tt.want.Complete) {
				t.Errorf("complete %q, want %q", got.Complete, tt.want.Complete)
			}
		})
	}
}
