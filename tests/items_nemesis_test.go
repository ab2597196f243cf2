package tests

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/cluster/item"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"google.golang.org/grpc/codes"
)

// The items workload: writers put and delete the items of a strong table
// of items, each writer alone on its partition key, while readers Query
// partition keys in pages, under the nemesis. Every page must reflect
// every write acknowledged before it began (checkItemPages): for each sort
// key the page covers, the item it shows (or its absence) is one a
// linearizable read could have returned. Writes of one item are
// sequential, so no search is needed.
const (
	itemsTable   = "events"
	itemsWriters = 4 // one partition key each
	itemsReaders = 2
	itemsSortKey = 8 // sort keys per partition key
	// itemsMaxLimit bounds a Query page's Limit (drawn from 1 up), so that
	// reads of one partition key take several pages.
	itemsMaxLimit = 5
)

// itemStr is a string attribute's value ("" for any other).
func itemStr(v item.Value) string {
	s, _ := v.(item.S)
	return string(s)
}

func itemsPK(w int) string { return fmt.Sprintf("p%d", w) }
func itemsSK(i int) string { return fmt.Sprintf("s%d", i) }

// itemWrite is one write of the history to one item.
type itemWrite struct {
	inv, comp time.Time // comp is zero for an operation that never completed
	status    string    // ok, fail or unknown
	present   bool
	value     string
}

// itemPage is one Query page of the history: the items it returned, by
// sort key, and the sort keys it covers, (start, last] (start "" from the
// first, last "" to the end).
type itemPage struct {
	id          string
	pk          string
	inv, comp   time.Time
	start, last string
	items       []string // sk=value, in the order returned
}

func createItemsTable(c *testCluster) {
	c.t.Helper()
	c.eventually(30*time.Second, "items table created", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.nodes[0].client.Tables().CreateTable(ctx, &kvpb.CreateTableRequest{Name: itemsTable,
			PartitionKey: &kvpb.KeyAttribute{Name: "pk", Type: "S"}, SortKey: &kvpb.KeyAttribute{Name: "sk", Type: "S"}})
		if client.Code(err) == codes.AlreadyExists { // an earlier try took effect
			return nil
		}
		return err
	})
}

// runItems starts the writers and readers.
func (w *workload) runItems(ctx context.Context, seed uint64) *sync.WaitGroup {
	var wg sync.WaitGroup
	for k := range itemsWriters {
		pk := itemsPK(k)
		w.spawn(ctx, &wg, seed, func(id int, rng *rand.Rand, n int) {
			if !w.itemWrite(pk, id, rng, n) {
				time.Sleep(50 * time.Millisecond) // a failing node answers at once
			}
		})
	}
	for range itemsReaders {
		w.spawn(ctx, &wg, seed, func(id int, rng *rand.Rand, n int) {
			if !w.itemQuery(itemsPK(rng.IntN(itemsWriters)), id, rng, n, w.pick(rng)) {
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	return &wg
}

// itemWrite puts (its value is its id) or deletes a random item of pk
// through a random member, and records it. It reports whether the write
// was answered.
func (w *workload) itemWrite(pk string, id int, rng *rand.Rand, n int) bool {
	i := w.pick(rng)
	sk := itemsSK(rng.IntN(itemsSortKey))
	o := op{ID: fmt.Sprintf("i%d-%d", id, n), Worker: id, Kind: "item-put", Key: pk + "/" + sk, Node: fmt.Sprint(i), Status: "invoke"}
	if rng.IntN(10) < 3 {
		o.Kind = "item-delete"
	} else {
		o.Value = o.ID
	}
	w.hist.record(o)
	ctx, cancel := context.WithTimeout(context.Background(), strongDeadline)
	defer cancel()
	key := item.Item{"pk": item.S(pk), "sk": item.S(sk)}
	opts := client.ItemOptions{Timeout: strongTimeout}
	var err error
	if o.Kind == "item-put" {
		it := item.Item{"pk": item.S(pk), "sk": item.S(sk), "v": item.S(o.Value)}
		_, err = w.clients[i].PutItem(ctx, itemsTable, it, opts)
	} else {
		_, err = w.clients[i].DeleteItem(ctx, itemsTable, key, opts)
	}
	done := op{ID: o.ID, Worker: id, Kind: o.Kind, Key: o.Key, Node: o.Node, Value: o.Value}
	done.Status, _, _ = strongOutcome("put", err)
	if err != nil {
		done.Err = err.Error()
	}
	w.hist.record(done)
	return done.Status == "ok"
}

// itemQuery reads pk's items in pages of a random Limit, through member
// i, recording each page as an operation of its own. It reports whether
// every page was answered.
func (w *workload) itemQuery(pk string, id int, rng *rand.Rand, n, i int) bool {
	var start item.Item
	for page := 0; ; page++ {
		o := op{ID: fmt.Sprintf("q%d-%d-%d", id, n, page), Worker: id, Kind: "query", Key: pk, Node: fmt.Sprint(i), Status: "invoke"}
		if start != nil {
			o.Value = itemStr(start["sk"])
		}
		w.hist.record(o)
		ctx, cancel := context.WithTimeout(context.Background(), strongDeadline)
		res, err := w.clients[i].Query(ctx, itemsTable, client.Query{KeyCondition: "pk = :p", Values: map[string]item.Value{":p": item.S(pk)},
			Limit: 1 + rng.IntN(itemsMaxLimit), Start: start, Timeout: strongTimeout})
		cancel()
		done := op{ID: o.ID, Worker: id, Kind: "query", Key: pk, Node: o.Node, Value: o.Value, Status: "ok"}
		if err != nil {
			done.Status, done.Err = "fail", err.Error()
			w.hist.record(done)
			return false
		}
		for _, it := range res.Items {
			done.Versions = append(done.Versions, itemStr(it["sk"])+"="+itemStr(it["v"]))
		}
		if res.LastEvaluatedKey != nil {
			done.Saw = []string{itemStr(res.LastEvaluatedKey["sk"])}
		}
		w.hist.record(done)
		if res.LastEvaluatedKey == nil {
			return true
		}
		start = res.LastEvaluatedKey
	}
}

// itemHistory reads the writes (by pk/sk, in invocation order: each item
// has one writer) and the completed Query pages out of a history.
func itemHistory(all []op) (writes map[string][]*itemWrite, pages []itemPage) {
	writes = map[string][]*itemWrite{}
	open := map[string]*itemWrite{}
	invoked := map[string]time.Time{}
	for _, o := range all {
		switch {
		case o.Kind == "item-put" || o.Kind == "item-delete":
			if o.Status == "invoke" {
				wr := &itemWrite{inv: o.Time, status: "unknown", present: o.Kind == "item-put", value: o.Value}
				writes[o.Key] = append(writes[o.Key], wr)
				open[o.ID] = wr
				continue
			}
			if wr := open[o.ID]; wr != nil {
				wr.comp, wr.status = o.Time, o.Status
			}
		case o.Kind == "query":
			if o.Status == "invoke" {
				invoked[o.ID] = o.Time
				continue
			}
			if o.Status != "ok" {
				continue
			}
			p := itemPage{id: o.ID, pk: o.Key, inv: invoked[o.ID], comp: o.Time, start: o.Value, items: o.Versions}
			if len(o.Saw) > 0 {
				p.last = o.Saw[0]
			}
			pages = append(pages, p)
		}
	}
	return writes, pages
}

// allowedItemStates are the states ("" for absent, else the value) a
// linearizable read over [inv, comp] may see of an item with these writes:
// that of the last write acknowledged before inv (absent if none); that of
// any later write invoked before comp and not certainly failed; and that of
// any earlier write of unknown outcome, which may take effect at any time.
func allowedItemStates(ws []*itemWrite, inv, comp time.Time) []string {
	last := -1
	for k, wr := range ws {
		if wr.status == "ok" && wr.comp.Before(inv) {
			last = k
		}
	}
	state := func(wr *itemWrite) string {
		if wr.present {
			return wr.value
		}
		return ""
	}
	var out []string
	if last >= 0 {
		out = append(out, state(ws[last]))
	} else {
		out = append(out, "")
	}
	for k, wr := range ws {
		switch {
		case k > last && wr.status != "fail" && wr.inv.Before(comp):
			out = append(out, state(wr))
		case k < last && wr.status == "unknown":
			out = append(out, state(wr))
		}
	}
	return out
}

// checkItemPages checks every page against the writes; it returns the
// problems found and how many item states were checked.
func checkItemPages(writes map[string][]*itemWrite, pages []itemPage) (problems []string, checked int) {
	for _, p := range pages {
		got := map[string]string{}
		prev := p.start
		for _, e := range p.items {
			sk, v, ok := strings.Cut(e, "=")
			switch {
			case !ok || v == "":
				problems = append(problems, fmt.Sprintf("page %s of %s: item %q has no value", p.id, p.pk, e))
			case sk <= prev && (prev != "" || p.start != ""):
				problems = append(problems, fmt.Sprintf("page %s of %s: %s comes after %s (sort order, or before its start)", p.id, p.pk, sk, prev))
			case p.last != "" && sk > p.last:
				problems = append(problems, fmt.Sprintf("page %s of %s: %s is past its LastEvaluatedKey %s", p.id, p.pk, sk, p.last))
			}
			got[sk] = v
			prev = sk
		}
		for i := range itemsSortKey {
			sk := itemsSK(i)
			if sk <= p.start && p.start != "" || p.last != "" && sk > p.last {
				continue // not covered by this page
			}
			checked++
			allowed := allowedItemStates(writes[p.pk+"/"+sk], p.inv, p.comp)
			if !slices.Contains(allowed, got[sk]) {
				problems = append(problems, fmt.Sprintf("page %s of %s (%s to %s): item %s is %q, but a linearizable read could only see one of %q",
					p.id, p.pk, p.inv.Format("15:04:05.000"), p.comp.Format("15:04:05.000"), sk, got[sk], allowed))
			}
		}
	}
	return problems, checked
}

// itemsMinimums are what an items run must have done, for it to prove
// anything.
type itemsMinimums struct {
	OKWrites, OKDeletes, Pages, ItemsSeen int
	// MaxUnknownShare bounds the writes of unknown outcome: a run where
	// most writes end unknown checks little.
	MaxUnknownShare float64
}

var ciItemsMinimums = itemsMinimums{OKWrites: 300, OKDeletes: 50, Pages: 200, ItemsSeen: 200, MaxUnknownShare: 0.5}

// runItemsNemesis runs the items workload on nodes hosts for d while
// injecting faults of kinds, heals, runs on for strongCalm, reads every
// partition key whole once more with no write running, and checks every
// page.
func runItemsNemesis(t *testing.T, nodes int, kinds []string, d time.Duration, seed uint64, pace pacing, skew time.Duration, m itemsMinimums) {
	n, hist := startNemesis(t, "TestItemsNemesisLong", "items-history", nodes, kinds, d, seed, pace, skew)
	c, w := n.c, n.w
	createItemsTable(c)
	ctx, stop := context.WithCancel(context.Background())
	wg := w.runItems(ctx, seed)
	defer func() { stop(); wg.Wait() }()
	n.inject(kinds, d, pace)
	n.h.heal()
	c.waitAllUp()
	n.note("healed; every member sees every other up")
	time.Sleep(strongCalm) // the calm phase's length
	stop()
	wg.Wait()
	// The final reads: each partition key whole, through every member.
	rng := rand.New(rand.NewPCG(seed, 7))
	for k := range itemsWriters {
		for _, i := range n.hosts() {
			if !w.itemQuery(itemsPK(k), 1000+i, rng, k, i) {
				t.Errorf("seed %d: the final read of %s through the member on host %d failed", seed, itemsPK(k), i)
			}
		}
	}
	writes, pages := itemHistory(hist.all())
	var okWrites, okDeletes, unknown, total, seen int
	for _, ws := range writes {
		for _, wr := range ws {
			total++
			switch {
			case wr.status == "ok" && wr.present:
				okWrites++
			case wr.status == "ok":
				okDeletes++
			case wr.status == "unknown":
				unknown++
			}
		}
	}
	for _, p := range pages {
		seen += len(p.items)
	}
	problems, checked := checkItemPages(writes, pages)
	summary := fmt.Sprintf("%d writes (%d puts and %d deletes acknowledged, %d unknown), %d pages, %d items seen, %d item states checked",
		total, okWrites, okDeletes, unknown, len(pages), seen, checked)
	t.Logf("items nemesis seed %d: %s; faults:\n%s", seed, summary, strings.Join(n.log, "\n"))
	var refusals []string
	if okWrites < m.OKWrites || okDeletes < m.OKDeletes || len(pages) < m.Pages || seen < m.ItemsSeen {
		refusals = append(refusals, fmt.Sprintf("fewer operations than the minimums %+v", m))
	}
	if total == 0 || float64(unknown)/float64(total) > m.MaxUnknownShare {
		refusals = append(refusals, fmt.Sprintf("%d of %d writes ended unknown, more than %.0f%%", unknown, total, 100*m.MaxUnknownShare))
	}
	if len(refusals) > 0 {
		t.Errorf("seed %d: the history proves nothing: %s", seed, strings.Join(refusals, "; "))
	}
	if len(problems) > 0 {
		if len(problems) > 20 {
			problems = append(problems[:20], fmt.Sprintf("... and %d more", len(problems)-20))
		}
		t.Errorf("seed %d: pages no linearizable read could return (history in %s):\n%s", seed, n.evidence(), strings.Join(problems, "\n"))
	}
}

// The short items run CI makes: 3 nodes, a random seed (printed, so that a
// failure can be replayed), every fault kind but the wipes (their heals
// wait for a rebuild: TestStrongNemesis has them), at the short pace.
func TestItemsNemesis(t *testing.T) {
	noWipes := kindsButWipes()
	runItemsNemesis(t, 3, noWipes, 40*time.Second, rand.Uint64N(1<<32), shortPacing, ciSkew, ciItemsMinimums)
}

// The configurable run, with TestNemesisLong's flags: go test ./tests -run
// '^TestItemsNemesisLong$' -timeout 0 -args -nemesis.duration 5m
// -nemesis.nodes 5 -nemesis.kinds kill,pause ...
func TestItemsNemesisLong(t *testing.T) {
	if *nemesisDuration == 0 {
		t.Skip("set -nemesis.duration to run it")
	}
	seed, pace := longRun(t)
	runItemsNemesis(t, *nemesisNodes, strings.Split(*nemesisKinds, ","), *nemesisDuration, seed, pace, *nemesisSkew, ciItemsMinimums)
}

// The checker's rules, on made-up histories: a checker that passes what
// it should refuse proves nothing.
func TestItemPagesChecker(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(1000+int64(s), 0) }
	put := func(inv, comp int, status, v string) *itemWrite {
		return &itemWrite{inv: at(inv), comp: at(comp), status: status, present: true, value: v}
	}
	del := func(inv, comp int, status string) *itemWrite {
		return &itemWrite{inv: at(inv), comp: at(comp), status: status}
	}
	page := func(inv, comp int, start, last string, items ...string) itemPage {
		return itemPage{id: "q", pk: "p0", inv: at(inv), comp: at(comp), start: start, last: last, items: items}
	}
	for _, tc := range []struct {
		name   string
		writes map[string][]*itemWrite
		page   itemPage
		ok     bool
	}{
		{"nothing written: every item absent", nil, page(1, 2, "", ""), true},
		{"an item no write made", nil, page(1, 2, "", "", "s1=x"), false},
		{"a put acknowledged before the read is seen", map[string][]*itemWrite{"p0/s1": {put(1, 2, "ok", "a")}}, page(3, 4, "", "", "s1=a"), true},
		{"a put acknowledged before the read is missing: stale", map[string][]*itemWrite{"p0/s1": {put(1, 2, "ok", "a")}}, page(3, 4, "", ""), false},
		{"a put concurrent with the read may or may not be seen", map[string][]*itemWrite{"p0/s1": {put(2, 5, "ok", "a")}}, page(3, 4, "", ""), true},
		{"a put invoked after the read ended is not seen", map[string][]*itemWrite{"p0/s1": {put(5, 6, "ok", "a")}}, page(3, 4, "", "", "s1=a"), false},
		{"an acknowledged delete hides the put before it", map[string][]*itemWrite{"p0/s1": {put(1, 2, "ok", "a"), del(2, 3, "ok")}}, page(4, 5, "", "", "s1=a"), false},
		{"a failed put is never seen", map[string][]*itemWrite{"p0/s1": {put(1, 2, "fail", "a")}}, page(3, 4, "", "", "s1=a"), false},
		{"a put of unknown outcome may take effect later", map[string][]*itemWrite{"p0/s1": {put(1, 2, "unknown", "a"), put(3, 4, "ok", "b")}},
			page(5, 6, "", "", "s1=a"), true},
		{"the item before an acknowledged overwrite is stale", map[string][]*itemWrite{"p0/s1": {put(1, 2, "ok", "a"), put(3, 4, "ok", "b")}},
			page(5, 6, "", "", "s1=a"), false},
		{"an item past the page's LastEvaluatedKey is not its to show", map[string][]*itemWrite{"p0/s3": {put(1, 2, "ok", "a")}},
			page(3, 4, "", "s2", "s3=a"), false},
		{"an item past the page's LastEvaluatedKey is not checked there", map[string][]*itemWrite{"p0/s3": {put(1, 2, "ok", "a")}},
			page(3, 4, "", "s2"), true},
		{"an item at or before the page's start is not its to show", map[string][]*itemWrite{"p0/s1": {put(1, 2, "ok", "a")}},
			page(3, 4, "s1", "", "s1=a"), false},
		{"items out of sort order", map[string][]*itemWrite{"p0/s1": {put(1, 2, "ok", "a")}, "p0/s2": {put(1, 2, "ok", "b")}},
			page(3, 4, "", "", "s2=b", "s1=a"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems, checked := checkItemPages(tc.writes, []itemPage{tc.page})
			if checked == 0 {
				t.Fatal("no item state checked")
			}
			if (len(problems) == 0) != tc.ok {
				t.Fatalf("problems %q, want ok=%v", problems, tc.ok)
			}
		})
	}
}
