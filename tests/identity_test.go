package tests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
	"google.golang.org/grpc/codes"
)

// serverExit runs a server that is expected to stop by itself and returns
// its stderr and exit code; it is killed if it runs past timeout.
func serverExit(t *testing.T, timeout time.Duration, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	serverStarted(cmd, true) // killed if the test run is interrupted
	defer serverStarted(cmd, false)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("server %v still running after %v; stderr:\n%s", args, timeout, stderr.String())
	}
	return stderr.String(), cmd.ProcessState.ExitCode()
}

// membersOf returns the member ids nd lists and the owners of its ring.
func membersOf(c *testCluster, nd *node) (members, owners []string, err error) {
	st, err := c.status(nd)
	if err != nil {
		return nil, nil, err
	}
	for _, m := range st.Members {
		members = append(members, m.Id)
	}
	return members, slices.Compact(slices.Sorted(slices.Values(st.Owners))), nil
}

// The defect 3: a node whose ring parameters or cluster secret
// differ from the cluster's is refused at join, says why naming both
// values, exits, and never takes partitions.
func TestMismatchedClusterParametersAreRefused(t *testing.T) {
	c := startCluster(t, 3)
	n1 := c.nodes[0]
	secret := filepath.Join(t.TempDir(), "other-secret")
	writeFile(t, secret, "another-cluster-secret-0123456789\n")
	for _, tc := range []struct {
		name, flag, value, want string
	}{
		{"partitions", "--partitions", "32", "--partitions: n1 has 64, n4 has 32"},
		{"replicas", "--n", "2", "--n: n1 has 3, n4 has 2"},
		{"cluster secret", "--cluster-secret-file", secret, "cluster secret: n1 and n4 use different ones"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stderr, code := serverExit(t, 30*time.Second, "server", "--node-id", "n4", "--data-dir", filepath.Join(t.TempDir(), "n4"),
				"--listen", freePort(t), "--client", freePort(t), "--join", n1.clusterAddr, tc.flag, tc.value)
			if code != 1 || !strings.Contains(stderr, "refused by the cluster") || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and %q", code, stderr, tc.want)
			}
			for _, nd := range c.nodes {
				members, owners, err := membersOf(c, nd)
				if err != nil {
					t.Fatal(err)
				}
				if slices.Contains(members, "n4") || slices.Contains(owners, "n4") {
					t.Fatalf("%s lists members %v, owners %v", nd.id, members, owners)
				}
			}
		})
	}
	ctx := ctxT(t)
	if _, err := n1.client.Put(ctx, []byte("after"), []byte("v"), nil, client.Options{Quorum: "all"}); err != nil {
		t.Fatalf("put at W=all after the refusals: %v", err)
	}
}

// A node restarted with other ring parameters than its data directory was
// created with refuses to start.
func TestRestartWithOtherRingParametersIsRefused(t *testing.T) {
	c := startCluster(t, 1, "--n", "1")
	nd := c.nodes[0]
	c.kill(nd)
	stderr, code := serverExit(t, 30*time.Second, "server", "--node-id", nd.id, "--data-dir", nd.dataDir,
		"--listen", nd.clusterAddr, "--client", nd.clientAddr, "--n", "1", "--partitions", "16")
	if code != 1 || !strings.Contains(stderr, "was created with --partitions 64 --n 1, not --partitions 16 --n 1") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}

// impostor describes a second server process claiming id, with its own
// address and data directory, joining through seed. Its log is named apart.
func (c *testCluster) impostor(id string, seed *node) *node {
	nd := newNode(c.t, id, freePort(c.t), filepath.Join(c.t.TempDir(), id+"-impostor"), "--join", seed.clusterAddr)
	nd.id = id + "-impostor"
	c.nodes = append(c.nodes, nd)
	return nd
}

// clusterAddrOf returns the cluster address and state nd lists for id.
func clusterAddrOf(c *testCluster, nd *node, id string) (string, string, error) {
	st, err := c.status(nd)
	if err != nil {
		return "", "", err
	}
	for _, m := range st.Members {
		if m.Id == id {
			return m.ClusterAddr, m.State, nil
		}
	}
	return "", "", fmt.Errorf("%s does not list %s", nd.id, id)
}

// routesTo waits until every node in nodes lists id up at addr.
func (c *testCluster) routesTo(nodes []*node, id, addr string) {
	c.t.Helper()
	c.eventually(downWithin, fmt.Sprintf("%s up at %s", id, addr), func() error {
		for _, nd := range nodes {
			got, state, err := clusterAddrOf(c, nd, id)
			if err != nil {
				return err
			}
			if got != addr || state != "up" {
				return fmt.Errorf("%s lists %s %s at %s", nd.id, id, state, got)
			}
		}
		return nil
	})
}

// fenced waits until nd reports that it no longer serves, and checks that
// it refuses a write.
func (c *testCluster) fenced(nd *node) {
	c.t.Helper()
	c.eventually(downWithin, nd.id+" fenced", func() error {
		st, err := c.status(nd)
		if err != nil {
			return err
		}
		if st.Fenced == "" {
			return fmt.Errorf("%s still serves", nd.id)
		}
		return nil
	})
	_, err := nd.client.Put(ctxT(c.t), []byte("k"), []byte("v"), nil, client.Options{})
	if client.Code(err) != codes.FailedPrecondition {
		c.t.Fatalf("a fenced process answered a put with %v", err)
	}
}

// writeAll checks that a put at W=all succeeds through nd.
func writeAll(t *testing.T, nd *node, key string) {
	t.Helper()
	if _, err := nd.client.Put(ctxT(t), []byte(key), []byte("v"), nil, client.Options{Quorum: "all"}); err != nil {
		t.Fatalf("put %s at W=all through %s: %v", key, nd.id, err)
	}
}

// The defect 4: a second process started with a live member's id
// is refused and fenced; the member keeps its traffic, before and after
// the second process dies.
func TestDuplicateNodeIDIsRefused(t *testing.T) {
	c := startCluster(t, 3)
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	imp := c.impostor("n1", n2)
	c.start(imp)
	c.fenced(imp)
	c.routesTo([]*node{n1, n2, n3}, "n1", n1.clusterAddr)
	writeAll(t, n2, "while-impostor-runs")
	c.kill(imp)
	// Nothing may change when it dies: n1 stays up at its own address.
	until := time.Now().Add(10 * time.Second)
	for i := 0; time.Now().Before(until); i++ {
		c.routesTo([]*node{n1, n2, n3}, "n1", n1.clusterAddr)
		writeAll(t, n3, fmt.Sprintf("after-impostor-%d", i))
	}
}

// A second process took a member's id while the member was frozen and
// down. When the member wakes up it takes the id back, since it started
// first, and the second process is fenced.
func TestFrozenMemberTakesItsIDBack(t *testing.T) {
	c := startCluster(t, 3)
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	c.signal(n1, syscall.SIGSTOP)
	c.waitDown("n1")
	imp := c.impostor("n1", n2)
	c.start(imp)
	c.routesTo([]*node{n2, n3}, "n1", imp.clusterAddr)
	c.signal(n1, syscall.SIGCONT)
	c.fenced(imp)
	c.routesTo([]*node{n1, n2, n3}, "n1", n1.clusterAddr)
	writeAll(t, n2, "after-reclaim")
	st, err := c.status(n1)
	if err != nil {
		t.Fatal(err)
	}
	if st.Fenced != "" {
		t.Fatalf("the first process was fenced: %s", st.Fenced)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
