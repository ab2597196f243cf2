package tests

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/cluster/datatype"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/messages/datatypepb"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"google.golang.org/grpc/codes"
)

// The CRDT workload: on a table with conflict = crdt, counter workers
// increment a few shared counters by 1 to 5 through random members, and
// set workers each add new elements to their own set and remove elements
// they fetched. The same again on a table of CRDT items, through the
// item API: UpdateItem's ADD to a number attribute, and ADD and DELETE of
// set elements (every other ADD returns nothing, so it goes without a
// read). At the end (every replica converged), through every
// member: a counter holds at least the sum of its acknowledged increments
// and at most that plus its increments of unknown outcome (checkCRDT);
// a set holds every acknowledged add unless an acknowledged remove took
// it, and nothing never added.
const (
	crdtTable       = "crdt-values"
	crdtCounters    = 3
	crdtCounterWkrs = 3
	crdtSetWorkers  = 3

	crdtItemTable       = "crdt-items"
	crdtItemCounters    = 2
	crdtItemCounterWkrs = 2
	crdtItemSetWorkers  = 2
)

func crdtCounterKey(k int) string     { return fmt.Sprintf("crdt-count-%d", k) }
func crdtSetKey(w int) string         { return fmt.Sprintf("crdt-set-%d", w) }
func crdtItemCounterKey(k int) string { return fmt.Sprintf("crdt-count-item-%d", k) }
func crdtItemSetKey(w int) string     { return fmt.Sprintf("crdt-set-item-%d", w) }

// isCRDTItemKey reports whether a history key is an item's (its id).
func isCRDTItemKey(key string) bool { return strings.Contains(key, "-item-") }

// crdtItemKey is the key of the item a history key names.
func crdtItemKey(key string) item.Item { return item.Item{"id": item.S(key)} }

func createCRDTTable(c *testCluster) {
	c.t.Helper()
	c.eventually(30*time.Second, "crdt table created", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.nodes[0].client.Tables().CreateTable(ctx, &kvpb.CreateTableRequest{Name: crdtTable, Conflict: "crdt"})
		if client.Code(err) == codes.AlreadyExists {
			return nil
		}
		return err
	})
	c.eventually(30*time.Second, "table of crdt items created", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.nodes[0].client.Tables().CreateTable(ctx, &kvpb.CreateTableRequest{Name: crdtItemTable, Conflict: "crdt",
			PartitionKey: &kvpb.KeyAttribute{Name: "id", Type: "S"}})
		if client.Code(err) == codes.AlreadyExists {
			return nil
		}
		return err
	})
}

// runCRDT starts the workers: on the table of CRDT values and on the
// table of CRDT items alike.
func (w *workload) runCRDT(ctx context.Context, seed uint64) *sync.WaitGroup {
	var wg sync.WaitGroup
	w.runCRDTWorkers(ctx, &wg, seed, crdtValues(), crdtCounterWkrs, crdtSetWorkers)
	w.runCRDTWorkers(ctx, &wg, seed, crdtItems(), crdtItemCounterWkrs, crdtItemSetWorkers)
	return &wg
}

// crdtTarget is what the CRDT workers write through: the native API's
// values or a table's items. n is the worker's operation number.
type crdtTarget struct {
	opPrefix           string // of operation ids
	counters           int
	counterKey, setKey func(int) string
	incr               func(ctx context.Context, cl *client.Client, key string, by, n int) error
	add                func(ctx context.Context, cl *client.Client, key, elem string, n int) error
	// members reads a set, with what its removal needs (a context).
	members func(ctx context.Context, cl *client.Client, key string) ([]string, []byte, error)
	// remove removes elem as members read it; took is false when the
	// write succeeded but took nothing.
	remove func(ctx context.Context, cl *client.Client, key, elem string, seen []byte) (took bool, err error)
}

// crdtValues writes a table of CRDT values: counters and sets in fields n
// and s, each update blind unless it removes.
func crdtValues() crdtTarget {
	o := client.Options{Table: crdtTable, Quorum: "quorum"}
	update := func(ctx context.Context, cl *client.Client, key string, seen []byte, op *datatypepb.DatatypeOp) error {
		_, err := cl.Update(ctx, []byte(key), seen, []*datatypepb.DatatypeOp{op}, o)
		return err
	}
	return crdtTarget{opPrefix: "", counters: crdtCounters, counterKey: crdtCounterKey, setKey: crdtSetKey,
		incr: func(ctx context.Context, cl *client.Client, key string, by, _ int) error {
			return update(ctx, cl, key, nil, datatype.Increment(int64(by), "n"))
		},
		add: func(ctx context.Context, cl *client.Client, key, elem string, _ int) error {
			return update(ctx, cl, key, nil, datatype.Add(elem, "s"))
		},
		members: func(ctx context.Context, cl *client.Client, key string) ([]string, []byte, error) {
			got, err := cl.Fetch(ctx, []byte(key), o)
			return datatype.Field(got.GetValue(), datatype.Path("set", "s")...).GetSet().GetValues(), got.GetContext(), err
		},
		remove: func(ctx context.Context, cl *client.Client, key, elem string, seen []byte) (bool, error) {
			return true, update(ctx, cl, key, seen, datatype.Remove(elem, "s"))
		},
	}
}

// crdtItems writes a table of CRDT items with UpdateItem: ADD to the
// number n, ADD and DELETE of elements of the string set s. Every other
// ADD returns nothing, so it goes without a read.
func crdtItems() crdtTarget {
	update := func(ctx context.Context, cl *client.Client, key, expr string, v item.Value, ret string) (item.Item, error) {
		return cl.UpdateItem(ctx, crdtItemTable, crdtItemKey(key), expr, client.ItemOptions{Values: map[string]item.Value{":v": v}, Return: ret})
	}
	ret := func(n int) string {
		if n%2 == 0 {
			return ""
		}
		return "UPDATED_OLD"
	}
	return crdtTarget{opPrefix: "i", counters: crdtItemCounters, counterKey: crdtItemCounterKey, setKey: crdtItemSetKey,
		incr: func(ctx context.Context, cl *client.Client, key string, by, n int) error {
			_, err := update(ctx, cl, key, "ADD n :v", item.MustNumber(strconv.Itoa(by)), ret(n))
			return err
		},
		add: func(ctx context.Context, cl *client.Client, key, elem string, n int) error {
			_, err := update(ctx, cl, key, "ADD s :v", item.SS{elem}, ret(n))
			return err
		},
		members: func(ctx context.Context, cl *client.Client, key string) ([]string, []byte, error) {
			got, err := cl.GetItem(ctx, crdtItemTable, crdtItemKey(key), client.ItemOptions{})
			members, _ := got["s"].(item.SS)
			return members, nil, err
		},
		remove: func(ctx context.Context, cl *client.Client, key, elem string, _ []byte) (bool, error) {
			// DynamoDB's DELETE of an element the item does not hold
			// succeeds; on a crdt table it removes only what its own read
			// observed, so one whose old set lacked elem took nothing.
			old, err := update(ctx, cl, key, "DELETE s :v", item.SS{elem}, "UPDATED_OLD")
			seen, _ := old["s"].(item.SS)
			return slices.Contains(seen, elem), err
		},
	}
}

// runCRDTWorkers starts counter workers that increment target's shared
// counters by 1 to 5 through random members, and set workers that each
// add new elements to a set of their own (7 in 10 operations) or remove
// one they read.
func (w *workload) runCRDTWorkers(ctx context.Context, wg *sync.WaitGroup, seed uint64, target crdtTarget, counterWorkers, setWorkers int) {
	for range counterWorkers {
		w.spawn(ctx, wg, seed, func(id int, rng *rand.Rand, n int) {
			key := target.counterKey(rng.IntN(target.counters))
			by := 1 + rng.IntN(5)
			i := w.pick(rng)
			o := op{ID: fmt.Sprintf("%sc%d-%d", target.opPrefix, id, n), Worker: id, Kind: "incr", Key: key, Value: strconv.Itoa(by), Node: fmt.Sprint(i)}
			w.recordCRDT(o, func(ctx context.Context) (bool, error) {
				return true, target.incr(ctx, w.clients[i], key, by, n)
			})
		})
	}
	for range setWorkers {
		w.spawn(ctx, wg, seed, func(id int, rng *rand.Rand, n int) {
			key := target.setKey(id)
			i := w.pick(rng)
			opID := fmt.Sprintf("%ss%d-%d", target.opPrefix, id, n)
			if rng.IntN(10) < 7 {
				w.recordCRDT(op{ID: opID, Worker: id, Kind: "add", Key: key, Value: opID, Node: fmt.Sprint(i)}, func(ctx context.Context) (bool, error) {
					return true, target.add(ctx, w.clients[i], key, opID, n)
				})
				return
			}
			cctx, cancel := w.ctx()
			members, seen, err := target.members(cctx, w.clients[i], key)
			cancel()
			if err != nil || len(members) == 0 {
				if err != nil {
					time.Sleep(50 * time.Millisecond)
				}
				return
			}
			el := members[rng.IntN(len(members))]
			w.recordCRDT(op{ID: opID, Worker: id, Kind: "remove", Key: key, Value: el, Node: fmt.Sprint(i)}, func(ctx context.Context) (bool, error) {
				return target.remove(ctx, w.clients[i], key, el, seen)
			})
		})
	}
}

// recordCRDT records o's invocation, runs it and records its outcome; an
// acknowledged write that took nothing counts as failed. It backs off
// after an error.
func (w *workload) recordCRDT(o op, run func(ctx context.Context) (took bool, err error)) {
	o.Status = "invoke"
	w.hist.record(o)
	ctx, cancel := w.ctx()
	took, err := run(ctx)
	cancel()
	o.Status, o.Err = outcome(err)
	if err == nil && !took {
		o.Status, o.Err = "fail", "the write's read did not observe the element"
	}
	w.hist.record(o)
	if err != nil {
		time.Sleep(50 * time.Millisecond)
	}
}

// crdtItemFinal reads the item of key with a consistent read through
// every member and records what each read: n, or the members of s.
func (n *nemesis) crdtItemFinal(key string, counter bool) {
	for _, i := range n.hosts() {
		var got item.Item
		n.c.eventually(30*time.Second, "final read of "+key, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var err error
			got, err = n.w.clients[i].GetItem(ctx, crdtItemTable, crdtItemKey(key), client.ItemOptions{Consistent: true})
			return err
		})
		o := op{ID: fmt.Sprintf("final-%s-%d", key, i), Worker: -1, Kind: "final", Key: key, Status: "ok", Node: fmt.Sprint(i)}
		if counter {
			o.Value = "0"
			if v, ok := got["n"].(item.Number); ok {
				o.Value = v.String()
			}
		} else {
			members, _ := got["s"].(item.SS)
			o.Versions = slices.Sorted(slices.Values(append([]string{}, members...)))
		}
		n.w.hist.record(o)
	}
}

// crdtFinal reads key at R=all through every member and records what each
// read: a counter's total, or a set's members.
func (n *nemesis) crdtFinal(key string, counter bool) {
	for _, i := range n.hosts() {
		var res *kvpb.FetchResponse
		n.c.eventually(30*time.Second, "final read of "+key, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var err error
			res, err = n.w.clients[i].Fetch(ctx, []byte(key), client.Options{Quorum: "all", Table: crdtTable})
			return err
		})
		o := op{ID: fmt.Sprintf("final-%s-%d", key, i), Worker: -1, Kind: "final", Key: key, Status: "ok", Node: fmt.Sprint(i)}
		if counter {
			o.Value = strconv.FormatInt(datatype.Field(res.Value, datatype.Path("counter", "n")...).GetCounter(), 10)
		} else {
			o.Versions = datatype.Field(res.Value, datatype.Path("set", "s")...).GetSet().GetValues()
		}
		n.w.hist.record(o)
	}
}

// crdtCounts summarises a CRDT history.
type crdtCounts struct{ okIncr, okAdds, okRemoves, okItems, unknown, total int }

// checkCRDT judges the final reads: every member reads the same; a
// counter is at least its acknowledged increments and at most those plus
// its increments of unknown outcome; a set holds every acknowledged add
// no acknowledged remove took, and only elements whose add did not fail.
func checkCRDT(ops []op) (problems []string, checked int, counts crdtCounts) {
	type keyOps struct {
		okSum, unknownSum     int64
		counter               bool
		added, maybeAdded     map[string]bool
		removed, maybeRemoved map[string]bool
		finalCounter          []string
		finalSets             [][]string
	}
	keys := map[string]*keyOps{}
	var order []string
	for _, o := range ops {
		if o.Status == "invoke" {
			continue
		}
		k := keys[o.Key]
		if k == nil {
			k = &keyOps{added: map[string]bool{}, maybeAdded: map[string]bool{}, removed: map[string]bool{}, maybeRemoved: map[string]bool{}}
			keys[o.Key] = k
			order = append(order, o.Key)
		}
		if o.Kind == "final" {
			if o.Versions != nil || !strings.HasPrefix(o.Key, "crdt-count-") {
				k.finalSets = append(k.finalSets, o.Versions)
			} else {
				k.finalCounter = append(k.finalCounter, o.Value)
			}
			continue
		}
		counts.total++
		if o.Status == "unknown" {
			counts.unknown++
		}
		if o.Status == "ok" && isCRDTItemKey(o.Key) {
			counts.okItems++
		}
		switch o.Kind {
		case "incr":
			k.counter = true
			by, _ := strconv.ParseInt(o.Value, 10, 64)
			switch o.Status {
			case "ok":
				k.okSum += by
				counts.okIncr++
			case "unknown":
				k.unknownSum += by
			}
		case "add":
			switch o.Status {
			case "ok":
				k.added[o.Value] = true
				counts.okAdds++
			case "unknown":
				k.maybeAdded[o.Value] = true
			}
		case "remove":
			switch o.Status {
			case "ok":
				k.removed[o.Value] = true
				counts.okRemoves++
			case "unknown":
				k.maybeRemoved[o.Value] = true
			}
		}
	}
	for _, key := range order {
		k := keys[key]
		if k.counter || strings.HasPrefix(key, "crdt-count-") {
			if len(k.finalCounter) == 0 {
				problems = append(problems, fmt.Sprintf("%s: no final read", key))
				continue
			}
			for _, f := range k.finalCounter {
				v, _ := strconv.ParseInt(f, 10, 64)
				switch {
				case f != k.finalCounter[0]:
					problems = append(problems, fmt.Sprintf("%s: final reads disagree: %s and %s", key, k.finalCounter[0], f))
				case v < k.okSum:
					problems = append(problems, fmt.Sprintf("%s: %d, less than its acknowledged increments (%d): increments lost", key, v, k.okSum))
				case v > k.okSum+k.unknownSum:
					problems = append(problems, fmt.Sprintf("%s: %d, more than its acknowledged increments (%d) and those of unknown outcome (%d): increments counted twice", key, v, k.okSum, k.unknownSum))
				}
			}
			checked++
			continue
		}
		if len(k.finalSets) == 0 {
			problems = append(problems, fmt.Sprintf("%s: no final read", key))
			continue
		}
		for _, f := range k.finalSets {
			if !slices.Equal(f, k.finalSets[0]) {
				problems = append(problems, fmt.Sprintf("%s: final reads disagree: %v and %v", key, k.finalSets[0], f))
			}
		}
		final := map[string]bool{}
		for _, e := range k.finalSets[0] {
			final[e] = true
			if !k.added[e] && !k.maybeAdded[e] {
				problems = append(problems, fmt.Sprintf("%s: holds %s, which no add that did not fail made", key, e))
			}
			if k.removed[e] {
				problems = append(problems, fmt.Sprintf("%s: holds %s, which an acknowledged remove took (each element is added once)", key, e))
			}
		}
		for e := range k.added {
			if !final[e] && !k.removed[e] && !k.maybeRemoved[e] {
				problems = append(problems, fmt.Sprintf("%s: lost %s, an acknowledged add no remove took", key, e))
			}
		}
		checked++
	}
	return problems, checked, counts
}

// crdtMinimums are what a CRDT run must have done, for it to prove
// anything.
type crdtMinimums struct {
	OKIncrements, OKAdds, OKRemoves int
	// OKItemUpdates counts those made through the item API.
	OKItemUpdates   int
	MaxUnknownShare float64
}

var ciCRDTMinimums = crdtMinimums{OKIncrements: 300, OKAdds: 200, OKRemoves: 30, OKItemUpdates: 100, MaxUnknownShare: 0.5}

// crdtRun is the CRDT workload as one of a run's workloads.
func crdtRun(m crdtMinimums) eventualWorkload {
	return eventualWorkload{
		name:   "crdt",
		owns:   func(key string) bool { return strings.HasPrefix(key, "crdt-") },
		create: createCRDTTable,
		run:    (*workload).runCRDT,
		final: func(n *nemesis, key string) {
			if isCRDTItemKey(key) {
				n.crdtItemFinal(key, strings.HasPrefix(key, "crdt-count-"))
				return
			}
			n.crdtFinal(key, strings.HasPrefix(key, "crdt-count-"))
		},
		judge: func(ops []op) (string, []string, []string) {
			problems, checked, counts := checkCRDT(ops)
			summary := fmt.Sprintf("crdt: %d updates (%d increments, %d adds, %d removes acknowledged, %d of them of items; %d unknown), %d keys checked",
				counts.total, counts.okIncr, counts.okAdds, counts.okRemoves, counts.okItems, counts.unknown, checked)
			short := counts.okIncr < m.OKIncrements || counts.okAdds < m.OKAdds || counts.okRemoves < m.OKRemoves || counts.okItems < m.OKItemUpdates ||
				checked < crdtCounters+crdtSetWorkers+crdtItemCounters+crdtItemSetWorkers
			return summary, thinHistory("crdt", short, m, counts.unknown, counts.total, m.MaxUnknownShare), problems
		},
	}
}

// The configurable run, with TestNemesisLong's flags.
func TestCRDTNemesisLong(t *testing.T) {
	if *nemesisDuration == 0 {
		t.Skip("set -nemesis.duration to run it")
	}
	seed, pace := longRun(t)
	runEventualNemesis(t, "TestCRDTNemesisLong", *nemesisNodes, strings.Split(*nemesisKinds, ","), *nemesisDuration, seed, pace, *nemesisSkew, crdtRun(ciCRDTMinimums))
}

// The checker's rules, on made-up histories.
func TestCRDTChecker(t *testing.T) {
	incr := func(by, status string) op { return op{Kind: "incr", Key: "crdt-count-0", Value: by, Status: status} }
	counter := func(v string) op { return op{Kind: "final", Key: "crdt-count-0", Value: v, Status: "ok"} }
	add := func(el, status string) op { return op{Kind: "add", Key: "crdt-set-0", Value: el, Status: status} }
	rm := func(el, status string) op { return op{Kind: "remove", Key: "crdt-set-0", Value: el, Status: status} }
	set := func(els ...string) op {
		if els == nil {
			els = []string{}
		}
		return op{Kind: "final", Key: "crdt-set-0", Versions: els, Status: "ok"}
	}
	for _, tc := range []struct {
		rule string
		ops  []op
		ok   bool
	}{
		{"a counter holds its acknowledged increments", []op{incr("2", "ok"), incr("3", "ok"), counter("5")}, true},
		{"fewer: increments lost", []op{incr("2", "ok"), incr("3", "ok"), counter("3")}, false},
		{"an increment of unknown outcome may count", []op{incr("2", "ok"), incr("3", "unknown"), counter("5")}, true},
		{"or not", []op{incr("2", "ok"), incr("3", "unknown"), counter("2")}, true},
		{"more than every increment: counted twice", []op{incr("2", "ok"), incr("3", "unknown"), counter("6")}, false},
		{"a failed increment never counts", []op{incr("2", "ok"), incr("3", "fail"), counter("5")}, false},
		{"final reads that disagree", []op{incr("2", "ok"), incr("1", "unknown"), counter("2"), counter("3")}, false},
		{"a set holds its acknowledged adds", []op{add("a", "ok"), add("b", "ok"), set("a", "b")}, true},
		{"an acknowledged add missing: lost", []op{add("a", "ok"), add("b", "ok"), set("a")}, false},
		{"an acknowledged remove takes it", []op{add("a", "ok"), add("b", "ok"), rm("b", "ok"), set("a")}, true},
		{"a removed element back: resurrected", []op{add("a", "ok"), rm("a", "ok"), set("a")}, false},
		{"a remove of unknown outcome may take it", []op{add("a", "ok"), rm("a", "unknown"), set()}, true},
		{"an element no add made", []op{add("a", "ok"), set("a", "z")}, false},
		{"an element whose add failed", []op{add("a", "fail"), set("a")}, false},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			problems, checked, _ := checkCRDT(tc.ops)
			if checked == 0 {
				t.Fatal("nothing checked")
			}
			if (len(problems) == 0) != tc.ok {
				t.Fatalf("problems %q, want ok=%v", problems, tc.ok)
			}
		})
	}
}
