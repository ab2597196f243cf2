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
)

// eventualWorkload is the workload of one kind of eventual table, run
// beside others on one cluster under one nemesis: the keys it owns, how it
// makes its table, runs, reads each key at the end and judges the history
// of its keys (a summary, refusals of a history too thin to prove
// anything, and problems).
type eventualWorkload struct {
	name   string
	owns   func(key string) bool
	create func(*testCluster)
	run    func(w *workload, ctx context.Context, seed uint64) *sync.WaitGroup
	final  func(n *nemesis, key string)
	judge  func(ops []op) (summary string, refusals, problems []string)
}

// runEventualNemesis runs the workloads together on nodes hosts for d
// while injecting faults of kinds, heals, waits until every replica
// converged, reads every key each workload wrote through every member, and
// judges each workload's keys.
func runEventualNemesis(t *testing.T, rerun string, nodes int, kinds []string, d time.Duration, seed uint64, pace pacing, skew time.Duration, runs ...eventualWorkload) {
	names := make([]string, len(runs))
	for i, r := range runs {
		names[i] = r.name
	}
	n, hist := startNemesis(t, rerun, strings.Join(names, "-")+"-history", nodes, kinds, d, seed, pace, skew)
	c, w := n.c, n.w
	for _, r := range runs {
		r.create(c)
	}
	ctx, stop := context.WithCancel(context.Background())
	var wgs []*sync.WaitGroup
	for _, r := range runs {
		wgs = append(wgs, r.run(w, ctx, seed))
	}
	wait := func() {
		stop()
		for _, wg := range wgs {
			wg.Wait()
		}
	}
	defer wait()
	n.inject(kinds, d, pace)
	wait()
	n.h.heal()
	c.waitAllUp()
	c.converge(3 * time.Minute)
	n.note("healed; replicas converged")
	all := hist.all()
	var summaries, refusals, problems []string
	for _, r := range runs {
		var keys []string
		for _, o := range all {
			if r.owns(o.Key) && !slices.Contains(keys, o.Key) {
				keys = append(keys, o.Key)
			}
		}
		for _, k := range keys {
			r.final(n, k)
		}
		ops := slices.DeleteFunc(hist.all(), func(o op) bool { return !r.owns(o.Key) })
		s, ref, prob := r.judge(ops)
		summaries, refusals, problems = append(summaries, s), append(refusals, ref...), append(problems, prob...)
	}
	t.Logf("eventual nemesis seed %d: %s; faults:\n%s", seed, strings.Join(summaries, "; "), strings.Join(n.log, "\n"))
	if len(refusals) > 0 {
		t.Errorf("seed %d: the history proves nothing: %s", seed, strings.Join(refusals, "; "))
	}
	if len(problems) > 0 {
		if len(problems) > 30 {
			problems = append(problems[:30], "...")
		}
		t.Errorf("seed %d: eventual tables broke (history in %s):\n%s", seed, n.evidence(), strings.Join(problems, "\n"))
	}
}

// thinHistory is why a workload's history is too thin to prove anything:
// fewer operations than its minimums (short), or more of them of unknown
// outcome than maxShare.
func thinHistory(name string, short bool, minimums any, unknown, total int, maxShare float64) []string {
	var out []string
	if short {
		out = append(out, fmt.Sprintf("%s: fewer operations than the minimums %+v", name, minimums))
	}
	if total == 0 || float64(unknown)/float64(total) > maxShare {
		out = append(out, fmt.Sprintf("%s: %d of %d operations ended unknown, more than %.0f%%", name, unknown, total, 100*maxShare))
	}
	return out
}

// The short run CI makes: a last-writer-wins table and a table of CRDT
// values under one nemesis, 3 nodes, a random seed (printed, so that a
// failure can be replayed), every fault kind but the wipes, clocks off by
// up to ±ciSkew and jumping.
func TestEventualNemesis(t *testing.T) {
	runEventualNemesis(t, "TestEventualNemesisLong", 3, kindsButWipes(), 40*time.Second, rand.Uint64N(1<<32), shortPacing, ciSkew,
		lwwRun(ciLWWMinimums), crdtRun(ciCRDTMinimums))
}

// The configurable run of both, with TestNemesisLong's flags.
func TestEventualNemesisLong(t *testing.T) {
	if *nemesisDuration == 0 {
		t.Skip("set -nemesis.duration to run it")
	}
	seed, pace := longRun(t)
	runEventualNemesis(t, "TestEventualNemesisLong", *nemesisNodes, strings.Split(*nemesisKinds, ","), *nemesisDuration, seed, pace, *nemesisSkew,
		lwwRun(ciLWWMinimums), crdtRun(ciCRDTMinimums))
}
