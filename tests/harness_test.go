// Package tests runs real harmonia server processes on loopback and checks
// the cluster's behaviour through the client API and the CLI.
package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
	"github.com/harmoniakv/harmonia/internal/testport"
	"github.com/harmoniakv/harmonia/messages/kvpb"
	"google.golang.org/grpc"
)

// binary is the harmonia executable built once for the whole test run.
var binary string

func TestMain(m *testing.M) {
	cleanUpOnInterrupt()
	// HARMONIA_BINARY runs the tests against a prebuilt binary.
	if b := os.Getenv("HARMONIA_BINARY"); b != "" {
		binary = b
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "harmonia-tests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "harmonia")
	build := exec.Command("go", "build", "-o", binary, "../cmd/harmonia")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build harmonia:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// servers are the server processes running, so that an interrupted test
// run (Ctrl-C, a CI timeout) kills them instead of leaving them behind.
var servers = struct {
	sync.Mutex
	m map[*exec.Cmd]bool
}{m: map[*exec.Cmd]bool{}}

func serverStarted(cmd *exec.Cmd, running bool) {
	servers.Lock()
	defer servers.Unlock()
	if running {
		servers.m[cmd] = true
	} else {
		delete(servers.m, cmd)
	}
}

// cleanUpOnInterrupt kills the servers and removes the network namespaces
// when the test process is interrupted; the tests' own cleanups do not run
// then.
func cleanUpOnInterrupt() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		servers.Lock()
		for cmd := range servers.m {
			cmd.Process.Kill()
		}
		servers.Unlock()
		hostNets.Lock()
		for hn := range hostNets.m {
			hn.teardown()
		}
		hostNets.Unlock()
		mounts.Lock()
		for dir := range mounts.m {
			exec.Command("umount", dir).Run()
		}
		mounts.Unlock()
		fmt.Fprintf(os.Stderr, "tests: %v: servers killed, network namespaces removed, mounts unmounted\n", s)
		os.Exit(1)
	}()
}

// node is one server process.
type node struct {
	id                      string
	clusterAddr, clientAddr string
	httpAddr                string // empty: no --http
	dataDir                 string
	args                    []string
	env                     []string // extra environment, e.g. fault injection
	cmd                     *exec.Cmd
	log                     *os.File
	client                  *client.Client
	// dial, when set, makes the node's client (e.g. over mutual TLS).
	dial func(addr string) (*client.Client, error)
	// host, when set, runs the node in host hostIndex's network namespace.
	host      *hostNet
	hostIndex int
}

// testCluster is a set of server processes owned by one test.
type testCluster struct {
	t      testing.TB
	nodes  []*node
	logDir string // outlives subtests, unlike their TempDirs
	// retired are nodes that left the cluster, stopped, kept for their logs.
	retired []*node
	// allRunning is when the last process of startCluster served clients;
	// allUp when every node then listed every node as up.
	allRunning, allUp time.Time
}

// freePort is a loopback address for a server to bind, from below the
// kernel's ephemeral range so that nothing takes it before the server does.
func freePort(t testing.TB) string {
	t.Helper()
	addr, err := testport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// startCluster starts n nodes, the first being the seed of the others, and
// waits until every node lists every node as up. extra flags go to every
// server. Everything is stopped when the test ends, even on failure.
func startCluster(t *testing.T, n int, extra ...string) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	root := t.TempDir()
	for i := 1; i <= n; i++ {
		var args []string
		if i > 1 {
			args = append(args, "--join", c.nodes[0].clusterAddr)
		}
		id := fmt.Sprintf("n%d", i)
		c.nodes = append(c.nodes, newNode(t, id, freePort(t), filepath.Join(root, id), append(args, extra...)...))
	}
	c.startAll()
	return c
}

// startAll starts every node, stopped when the test ends even on failure,
// and waits until every node lists every node as up.
func (c *testCluster) startAll() {
	c.t.Helper()
	c.t.Cleanup(c.stopAll)
	for _, nd := range c.nodes {
		c.start(nd)
	}
	c.allRunning = time.Now()
	c.waitAllUp()
	c.allUp = time.Now()
}

// newNode describes a server process (not started) with a fresh client
// port and extra flags.
func newNode(t testing.TB, id, clusterAddr, dataDir string, extra ...string) *node {
	nd := &node{id: id, clusterAddr: clusterAddr, clientAddr: freePort(t), dataDir: dataDir}
	nd.args = append([]string{"server", "--node-id", id, "--data-dir", dataDir,
		"--listen", clusterAddr, "--client", nd.clientAddr}, extra...)
	return nd
}

// addNode starts one more node that joins through n1, with extra flags.
func (c *testCluster) addNode(extra ...string) *node {
	c.t.Helper()
	id := fmt.Sprintf("n%d", len(c.nodes)+1)
	nd := newNode(c.t, id, freePort(c.t), filepath.Join(c.t.TempDir(), id), append([]string{"--join", c.nodes[0].clusterAddr}, extra...)...)
	c.nodes = append(c.nodes, nd)
	c.start(nd)
	return nd
}

// waitStable waits until every running node reports a stable ring whose
// members are exactly want.
func (c *testCluster) waitStable(d time.Duration, want ...string) {
	c.t.Helper()
	slices.Sort(want)
	c.eventually(d, fmt.Sprintf("stable ring of %v", want), func() error {
		for _, nd := range c.nodes {
			if nd.cmd == nil {
				continue
			}
			st, err := c.status(nd)
			if err != nil {
				return err
			}
			if st.Ring != "stable" {
				return fmt.Errorf("%s: ring %s", nd.id, st.Ring)
			}
			owners := slices.Compact(slices.Sorted(slices.Values(st.Owners)))
			if !slices.Equal(owners, want) {
				return fmt.Errorf("%s: owners %v", nd.id, owners)
			}
		}
		return nil
	})
}

// sub is the cluster as seen from subtest t, so that its waits fail t. It
// shares the nodes but not the list: a node must be added (addNode) to the
// parent, whose cleanup stops it.
func (c *testCluster) sub(t *testing.T) *testCluster {
	cc := *c
	cc.t = t
	return &cc
}

func (c *testCluster) start(nd *node) {
	c.t.Helper()
	if c.logDir == "" {
		c.logDir = c.t.TempDir()
	}
	// One log per node, appended to across restarts.
	log, err := os.OpenFile(filepath.Join(c.logDir, nd.id+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	if nd.log != nil {
		nd.log.Close()
	}
	nd.log = log
	if nd.host != nil {
		nd.cmd = nd.host.command(nd.hostIndex, nd.args...)
	} else {
		nd.cmd = exec.Command(binary, nd.args...)
	}
	nd.cmd.Env = append(os.Environ(), nd.env...)
	nd.cmd.Stdout, nd.cmd.Stderr = log, log
	if err := nd.cmd.Start(); err != nil {
		c.t.Fatalf("start %s: %v", nd.id, err)
	}
	serverStarted(nd.cmd, true)
	dial := client.Dial
	if nd.dial != nil {
		dial = func(addr string, _ ...grpc.DialOption) (*client.Client, error) { return nd.dial(addr) }
	}
	cl, err := dial(nd.clientAddr)
	if err != nil {
		c.t.Fatal(err)
	}
	nd.client = cl
	c.eventually(10*time.Second, nd.id+" serves clients", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := cl.Status(ctx)
		return err
	})
}

// signal sends sig (SIGSTOP, SIGCONT) to a node's process.
func (c *testCluster) signal(nd *node, sig syscall.Signal) {
	c.t.Helper()
	if err := nd.cmd.Process.Signal(sig); err != nil {
		c.t.Fatal(err)
	}
}

// status asks nd for its view of the cluster.
func (c *testCluster) status(nd *node) (*kvpb.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return nd.client.Status(ctx)
}

// kill stops a node with SIGKILL (no clean shutdown).
func (c *testCluster) kill(nd *node) {
	if nd.cmd == nil {
		return
	}
	nd.cmd.Process.Signal(syscall.SIGKILL)
	nd.cmd.Wait()
	serverStarted(nd.cmd, false)
	nd.cmd = nil
	nd.client.Close()
}

// stop ends a node's process with SIGTERM (SIGKILL after 10 s).
func (c *testCluster) stop(nd *node) {
	if nd.cmd == nil {
		return
	}
	nd.cmd.Process.Signal(syscall.SIGCONT) // a frozen process would not see SIGTERM
	nd.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { nd.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		nd.cmd.Process.Kill()
		<-done
	}
	serverStarted(nd.cmd, false)
	nd.cmd = nil
	nd.client.Close()
}

func (c *testCluster) stopAll() {
	all := append(slices.Clone(c.nodes), c.retired...)
	for _, nd := range all {
		c.stop(nd)
	}
	for _, nd := range all {
		if nd.log == nil {
			continue
		}
		if c.t.Failed() {
			b, _ := os.ReadFile(nd.log.Name())
			c.t.Logf("--- %s log (last 3000 bytes):\n%s", nd.id, tail(string(b), 3000))
		}
		nd.log.Close()
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// eventually polls f until it returns nil or the deadline passes.
func (c *testCluster) eventually(d time.Duration, what string, f func() error) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitStates waits until every running node reports each node's state as
// want says (ids not in want are not checked). Nodes named in skip are not
// asked (a stopped process cannot answer).
func (c *testCluster) waitStates(d time.Duration, want map[string]string, skip ...string) {
	c.t.Helper()
	waited := false
	defer func() {
		// A member that never turns left or normal is stuck in a ring
		// transition: say what each node still waits for (only when this
		// wait failed, not after an earlier failure).
		if !waited {
			c.t.Logf("transition state when the wait for %v ended:\n%s", want, c.transitionReport())
		}
	}()
	c.eventually(d, fmt.Sprintf("members %v", want), func() error {
		for _, nd := range c.nodes {
			if nd.cmd == nil || slices.Contains(skip, nd.id) {
				continue
			}
			st, err := c.status(nd)
			if err != nil {
				return err
			}
			got := map[string]*kvpb.MemberStatus{}
			for _, m := range st.Members {
				got[m.Id] = m
			}
			for id, state := range want {
				if m := got[id]; m.GetState() != state {
					return fmt.Errorf("%s sees %s as %q (phi %.2f, last heartbeat %d ms ago)",
						nd.id, id, m.GetState(), m.GetPhi(), m.GetLastHeartbeatAgeMs())
				}
			}
		}
		return nil
	})
	waited = true
}

// transitionReport describes, node by node, the ring transition it is in:
// members that said they are done, transfers not done and hints kept.
func (c *testCluster) transitionReport() string {
	var b strings.Builder
	for _, nd := range c.nodes {
		if nd.cmd == nil {
			continue
		}
		st, err := c.status(nd)
		if err != nil {
			fmt.Fprintf(&b, "%s: no status: %v\n", nd.id, err)
			continue
		}
		states := []string{}
		for _, m := range st.Members {
			states = append(states, m.Id+"="+m.State)
		}
		fmt.Fprintf(&b, "%s: members %v; ring %s; transfers of %q, done %v; fenced %q\n",
			nd.id, states, st.Ring, st.TransfersTransition, st.TransitionDone, st.Fenced)
		for _, x := range st.Transfers {
			if !x.Done {
				fmt.Fprintf(&b, "  transfer of partition %d %s->%s: %d keys, %d batches, sources done %v, last error %q\n",
					x.Partition, x.From, x.To, x.Keys, x.Batches, x.SourcesDone, x.LastError)
			}
		}
		for _, h := range st.Hints {
			if h.Count > 0 {
				fmt.Fprintf(&b, "  %d hints for %s (oldest %d ms, replayed %d, dropped %d)\n", h.Count, h.Target, h.OldestAgeMs, h.Replayed, h.Dropped)
			}
		}
	}
	return b.String()
}

// downWithin bounds the wait for a killed or frozen node to be marked down
// everywhere, in tests that need it down rather than measure how fast
// (cluster/failure's tests do that).
const downWithin = 40 * time.Second

// waitDown waits until every other running node reports each of ids as
// down. The ids themselves are not asked: killed or frozen, they cannot
// answer.
func (c *testCluster) waitDown(ids ...string) {
	c.t.Helper()
	want := map[string]string{}
	for _, id := range ids {
		want[id] = "down"
	}
	c.waitStates(downWithin, want, ids...)
}

func (c *testCluster) waitAllUp() {
	want := map[string]string{}
	for _, nd := range c.nodes {
		want[nd.id] = "up"
	}
	c.waitStates(agreeWithin, want)
}

// cli runs the harmonia binary and returns its stdout, stderr and exit code.
func cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}
