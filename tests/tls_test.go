package tests

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/cluster/client"
	"github.com/harmoniakv/harmonia/internal/certs"
)

// makeCerts makes, with the CLI, a CA in dir, a certificate for each node
// (for 127.0.0.1), and the client certificates named.
func makeCerts(t *testing.T, dir string, nodes []string, clients map[string]bool) {
	t.Helper()
	run := func(args ...string) {
		t.Helper()
		if _, stderr, code := cli(t, append([]string{"cert"}, args...)...); code != 0 {
			t.Fatalf("harmonia cert %v: exit %d: %s", args, code, stderr)
		}
	}
	run("ca", "--dir", dir)
	for _, n := range nodes {
		run("node", n, "--dir", dir, "--hosts", "127.0.0.1,localhost")
	}
	for name, admin := range clients {
		if admin {
			run("client", name, "--admin", "--dir", dir)
		} else {
			run("client", name, "--dir", dir)
		}
	}
}

func certFiles(dir, name string) certs.Files {
	return certs.Files{Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem"), CA: filepath.Join(dir, "ca.pem")}
}

func tlsFlags(f certs.Files) []string {
	return []string{"--tls-cert", f.Cert, "--tls-key", f.Key, "--tls-ca", f.CA}
}

// startTLSCluster starts n1..n3 with their certificates from dir; the
// harness talks to them as client (a certificate with the admin role).
func startTLSCluster(t *testing.T, dir string, admin certs.Files) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	root := t.TempDir()
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("n%d", i)
		var args []string
		if i > 1 {
			args = append(args, "--join", c.nodes[0].clusterAddr)
		}
		nd := newNode(t, id, freePort(t), filepath.Join(root, id), append(args, tlsFlags(certFiles(dir, id))...)...)
		nd.dial = tlsDialer(admin)
		c.nodes = append(c.nodes, nd)
	}
	c.startAll()
	return c
}

func tlsDialer(f certs.Files) func(addr string) (*client.Client, error) {
	return func(addr string) (*client.Client, error) {
		tc, err := certs.NewClient(f)
		if err != nil {
			return nil, err
		}
		return client.DialTLS(addr, tc.Config())
	}
}

// The client API with mutual TLS: a client of the CA reads and writes; a
// plain client, or one whose certificate another CA signed, gets nothing;
// admin calls need the admin role, and a plain client's is refused with a
// readable PermissionDenied.
func TestMutualTLSClientAPI(t *testing.T) {
	dir := t.TempDir()
	rogueDir := t.TempDir()
	makeCerts(t, dir, []string{"n1", "n2", "n3"}, map[string]bool{"alice": true, "bob": false})
	makeCerts(t, rogueDir, nil, map[string]bool{"mallory": true})
	alice := certFiles(dir, "alice")

	c := startTLSCluster(t, dir, alice)
	addr := c.nodes[0].clientAddr

	if _, stderr, code := cli(t, append([]string{"put", "secret", "v", "--addr", addr}, tlsFlags(certFiles(dir, "bob"))...)...); code != 0 {
		t.Fatalf("put as bob: exit %d: %s", code, stderr)
	}
	out, stderr, code := cli(t, append([]string{"get", "secret", "--addr", addr}, tlsFlags(alice)...)...)
	if code != 0 || !strings.HasPrefix(out, "v\n") {
		t.Fatalf("get as alice: exit %d: %q %s", code, out, stderr)
	}
	// The environment gives the same settings as the flags.
	t.Setenv("HARMONIA_TLS_CERT", alice.Cert)
	t.Setenv("HARMONIA_TLS_KEY", alice.Key)
	t.Setenv("HARMONIA_TLS_CA", alice.CA)
	if _, stderr, code := cli(t, "get", "secret", "--addr", addr); code != 0 {
		t.Fatalf("get with HARMONIA_TLS_*: exit %d: %s", code, stderr)
	}
	t.Setenv("HARMONIA_TLS_CERT", "")
	t.Setenv("HARMONIA_TLS_KEY", "")
	t.Setenv("HARMONIA_TLS_CA", "")

	if _, stderr, code := cli(t, "get", "secret", "--addr", addr, "--timeout", "2s"); code == 0 {
		t.Fatalf("a plain client read over a TLS port: %s", stderr)
	}
	rogue := certFiles(rogueDir, "mallory")
	rogue.CA = alice.CA // it trusts the cluster; the cluster does not trust it
	if _, stderr, code := cli(t, append([]string{"get", "secret", "--addr", addr, "--timeout", "2s"}, tlsFlags(rogue)...)...); code == 0 {
		t.Fatalf("a client of another CA read: %s", stderr)
	}

	_, stderr, code = cli(t, append([]string{"repair", "--addr", addr}, tlsFlags(certFiles(dir, "bob"))...)...)
	if code != 1 || !strings.Contains(stderr, "PermissionDenied") || !strings.Contains(stderr, "admin role") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("repair as bob (no admin role): exit %d, %q; want 1 and one PermissionDenied line", code, stderr)
	}
	if _, stderr, code := cli(t, append([]string{"repair", "--addr", addr}, tlsFlags(alice)...)...); code != 0 {
		t.Fatalf("repair as alice (admin): exit %d: %s", code, stderr)
	}
	if _, stderr, code := cli(t, append([]string{"status", "--addr", addr}, tlsFlags(certFiles(dir, "bob"))...)...); code != 0 {
		t.Fatalf("status as bob: exit %d: %s", code, stderr)
	}
}

// A node whose certificate another CA signed cannot join a TLS cluster:
// pointed at it with --join, it is never listed as a member, it writes
// nothing to any replica, and the cluster keeps serving.
func TestRogueNodeIsRefused(t *testing.T) {
	dir, rogueDir := t.TempDir(), t.TempDir()
	makeCerts(t, dir, []string{"n1", "n2", "n3"}, map[string]bool{"alice": true})
	makeCerts(t, rogueDir, []string{"rogue"}, map[string]bool{"mallory": true})
	alice := certFiles(dir, "alice")
	c := startTLSCluster(t, dir, alice)
	all := client.Options{Quorum: "all"}
	if _, err := c.nodes[0].client.Put(ctxT(t), []byte("before"), []byte("v1"), nil, all); err != nil {
		t.Fatal(err)
	}

	rogue := newNode(t, "rogue", freePort(t), filepath.Join(t.TempDir(), "rogue"),
		append([]string{"--join", c.nodes[0].clusterAddr}, tlsFlags(certFiles(rogueDir, "rogue"))...)...)
	rogue.dial = tlsDialer(certFiles(rogueDir, "mallory"))
	c.nodes = append(c.nodes, rogue) // stopped with the others
	c.start(rogue)

	// Ten gossip rounds: long enough for a join to show anywhere.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, nd := range c.nodes[:3] {
			st, err := c.status(nd)
			if err != nil {
				t.Fatalf("%s: %v", nd.id, err)
			}
			for _, m := range st.Members {
				if m.Id == "rogue" {
					t.Fatalf("%s lists the rogue node as %s", nd.id, m.State)
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	st, err := c.status(rogue)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != 1 {
		t.Errorf("the rogue node lists %d members: it reached the cluster", len(st.Members))
	}
	res, err := c.nodes[1].client.Get(ctxT(t), []byte("before"), all)
	if err != nil || len(res.Siblings) != 1 || string(res.Siblings[0]) != "v1" {
		t.Fatalf("after the rogue's attempts: %v %v", res, err)
	}
	if _, err := c.nodes[2].client.Put(ctxT(t), []byte("after"), []byte("v2"), nil, all); err != nil {
		t.Fatalf("the cluster stopped serving: %v", err)
	}
}
