package tests

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// delayServerFlags make repair and tombstone reaping run within the test,
// so that they run under the delays too (as nemesisServerFlags do).
var delayServerFlags = []string{"--repair-interval", "5s", "--tombstone-grace", "5s", "--reap-interval", "1s", "--reap-settle", "3s"}

// startProxiedCluster starts n nodes on loopback, each behind a faultProxy
// of its own: node i listens on its --listen address and advertises proxy
// i's (--advertise), so every node-to-node message into node i crosses
// proxy i, and the faults of proxy i are those of node i's inbound links.
// Clients dial the nodes directly. The proxies close after the nodes stop.
func startProxiedCluster(t *testing.T, n int, extra ...string) (*testCluster, []*faultProxy) {
	t.Helper()
	c := &testCluster{t: t}
	root := t.TempDir()
	var proxies []*faultProxy
	for i := 1; i <= n; i++ {
		listen := freePort(t)
		p := startFaultProxy(t, listen)
		proxies = append(proxies, p)
		args := []string{"--advertise", p.Addr()}
		if i > 1 {
			args = append(args, "--join", proxies[0].Addr())
		}
		id := fmt.Sprintf("n%d", i)
		c.nodes = append(c.nodes, newNode(t, id, listen, filepath.Join(root, id), append(args, extra...)...))
	}
	c.startAll()
	return c, proxies
}

// span is a stretch of the test's time, for counting what the workload got
// done under each fault.
type span struct {
	name     string
	from, to time.Time
}

// acknowledged counts the writes acknowledged within s.
func (s span) acknowledged(ops []op) int {
	n := 0
	for _, o := range ops {
		if o.Kind != "read" && o.Status == "ok" && !o.Time.Before(s.from) && o.Time.Before(s.to) {
			n++
		}
	}
	return n
}

// worstView polls every node's view of the cluster for d and returns the
// highest phi any node had for a peer, the states other than up that any
// node saw, and those that were down.
func (c *testCluster) worstView(d time.Duration) (maxPhi float64, notUp, down []string) {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		for _, nd := range c.nodes {
			st, err := c.status(nd)
			if err != nil {
				continue // the client API is not what is under test here
			}
			for _, m := range st.Members {
				maxPhi = max(maxPhi, m.GetPhi())
				seen := fmt.Sprintf("%s %s saw %s %s (phi %.2f)", time.Now().Format("15:04:05.000"), nd.id, m.Id, m.State, m.GetPhi())
				if m.State != "up" {
					notUp = append(notUp, seen)
				}
				if m.State == "down" {
					down = append(down, seen)
				}
			}
		}
	}
	return maxPhi, notUp, down
}

// hintsFor counts the hints the running nodes keep for target.
func (c *testCluster) hintsFor(target string) (int64, error) {
	var n int64
	for _, nd := range c.nodes {
		if nd.id == target {
			continue
		}
		st, err := c.status(nd)
		if err != nil {
			return 0, err
		}
		for _, h := range st.Hints {
			if h.Target == target {
				n += h.Count
			}
		}
	}
	return n, nil
}

// Delay, jitter and stalls between nodes, through a user-space proxy in
// front of each node (docs/reliability.md): the nemesis workload runs
// while (a) every link has 50 to 200 ms of delay, (b) n3's inbound links
// stall, connections held open, until n3 is marked down on both sides and
// hints pile up for it, (c) only n2's inbound direction is slow. After the
// heal no acknowledged write is lost, no deleted key is back, hints drain
// and the replicas converge.
func TestDelayJitterAndStalls(t *testing.T) {
	c, proxies := startProxiedCluster(t, 3, delayServerFlags...)
	// The nodes found each other through the proxies, not around them.
	for i, p := range proxies {
		if p.Delivered(toTarget) == 0 {
			t.Fatalf("no byte crossed %s's proxy while the cluster formed", c.nodes[i].id)
		}
	}
	hist, err := newHistory(filepath.Join(t.TempDir(), "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer hist.close()
	w := &workload{hist: hist, timeout: 3 * time.Second}
	for _, nd := range c.nodes {
		w.clients = append(w.clients, nd.client)
	}
	w.serve([]int{0, 1, 2})
	seed := rand.Uint64N(1 << 32)
	t.Logf("workload seed %d", seed)
	ctx, stopWorkload := context.WithCancel(context.Background())
	workers := w.run(ctx, seed, false)
	// Registered after the cluster's cleanup, so it runs first: the workers
	// end before the nodes and their clients do, even on failure.
	t.Cleanup(func() { stopWorkload(); workers.Wait() })
	var spans []span
	phase := func(name string, body func()) {
		s := span{name: name, from: time.Now()}
		body()
		s.to = time.Now()
		spans = append(spans, s)
		t.Logf("%s: %v", name, s.to.Sub(s.from).Round(100*time.Millisecond))
	}

	// (a) Every link of every node, both ways: 50 ms plus up to 150 ms of
	// jitter per chunk, order kept within a connection.
	phase("jitter 50-200 ms on every link", func() {
		for _, p := range proxies {
			p.SetBoth(linkFaults{Latency: 50 * time.Millisecond, Jitter: 150 * time.Millisecond})
		}
		maxPhi, notUp, down := c.worstView(12 * time.Second)
		t.Logf("under jitter the highest phi was %.2f (threshold 8); states other than up seen: %d %v", maxPhi, len(notUp), notUp)
		// Heartbeats 200 ms late are far from the seconds of silence
		// that convict a peer.
		if len(down) > 0 {
			t.Errorf("a node was convicted under jitter alone: %v", down)
		}
		for _, p := range proxies {
			p.SetBoth(linkFaults{})
		}
	})

	// (b) n3's inbound links stall: its peers' messages to it are held,
	// connections open, and so are their answers to its gossip, so neither
	// side hears the other's heartbeats. The stall lasts until both sides
	// have convicted the other and n1 or n2 keeps hints for n3, and at
	// least stallFor, longer than the failure detector's worst conviction
	// time (about 7.3 s, cluster/failure).
	const stallFor = 12 * time.Second
	stalled := c.nodes[2]
	phase("n3's inbound links stalled", func() {
		start := time.Now()
		proxies[2].SetBoth(linkFaults{Stalled: true})
		c.waitDown(stalled.id)
		c.waitDown("n1", "n2")
		convicted := time.Since(start)
		// A chunk on its way out when the stall began may still have been
		// counted after it; none may be from here on.
		held := proxies[2].Delivered(toTarget)
		c.eventually(30*time.Second, "hints for n3", func() error {
			n, err := c.hintsFor(stalled.id)
			if err == nil && n == 0 {
				err = fmt.Errorf("no hint for %s yet", stalled.id)
			}
			return err
		})
		time.Sleep(time.Until(start.Add(stallFor))) // the rest of the fault
		if got := proxies[2].Delivered(toTarget); got != held {
			t.Fatalf("%d bytes reached n3 through its stalled proxy", got-held)
		}
		hints, _ := c.hintsFor(stalled.id)
		proxies[2].SetBoth(linkFaults{})
		t.Logf("n3 and its peers convicted each other %v into the stall; released after %v with %d hints for n3",
			convicted.Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond), hints)
	})
	phase("n3 back up after the stall", func() { c.waitAllUp() })

	// (c) One direction slow: everything into n2 takes 400 to 500 ms,
	// what n2 sends to its peers goes through theirs at full speed.
	phase("n2's inbound links slow, its outbound fast", func() {
		proxies[1].Set(toTarget, linkFaults{Latency: 400 * time.Millisecond, Jitter: 100 * time.Millisecond})
		time.Sleep(10 * time.Second) // the fault itself
		proxies[1].Set(toTarget, linkFaults{})
	})

	stopWorkload()
	workers.Wait()
	healed := time.Now()
	c.waitAllUp()
	c.converge(3 * time.Minute)
	converged := time.Since(healed)

	all := hist.all()
	ops := completions(all)
	s := &summary{Converged: converged}
	s.count(ops)
	s.checkNotVacuous(ops, delayMinimums)
	s.checkIDs(all)
	s.checkCausal(all)
	final := c.finalValues(ops)
	s.checkSets(ops, final)
	s.checkVersions(ops, final)
	var progress []string
	for _, sp := range spans {
		progress = append(progress, fmt.Sprintf("%s: %d", sp.name, sp.acknowledged(ops)))
	}
	t.Logf("%d ops (%d ok, %d unknown, %d failed), %d lost, %d resurrected, at most %d siblings, converged %v after the heal; writes acknowledged: %s",
		s.Ops, s.OK, s.Unknown, s.Fail, s.Lost, s.Resurrected, s.MaxSiblings, s.Converged.Round(100*time.Millisecond), strings.Join(progress, "; "))
	if len(s.refusals) > 0 {
		t.Errorf("the history cannot show a loss:\n%s", strings.Join(s.refusals, "\n"))
	}
	if s.Lost > 0 || s.Resurrected > 0 || s.Causal > 0 {
		t.Errorf("%d acknowledged writes lost, %d replaced versions resurrected, %d causal violations:\n%s", s.Lost, s.Resurrected, s.Causal, strings.Join(s.problems, "\n"))
	}
	// The majority side keeps taking writes under every fault.
	for _, sp := range spans {
		if sp.acknowledged(ops) == 0 && !strings.HasPrefix(sp.name, "n3 back") {
			t.Errorf("no write acknowledged during %q", sp.name)
		}
	}
}

// delayMinimums are what a run of TestDelayJitterAndStalls must
// acknowledge to prove anything: a tenth or less of what its runs
// acknowledge (about 10,000 of 13,600 operations ok, a fifth unknown).
var delayMinimums = runMinimums{Adds: 300, UniqueWrites: 300, Deletes: 30, MaxUnknownShare: 0.5}
