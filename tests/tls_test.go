package tests

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
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

// startTLSCluster starts n1..nN with their certificates from dir; the
// harness talks to them as admin (a certificate with the admin role).
func startTLSCluster(t *testing.T, n int, dir string, admin certs.Files) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	root := t.TempDir()
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("n%d", i)
		httpAddr := freePort(t)
		args := []string{"--http", httpAddr}
		if i > 1 {
			args = append(args, "--join", c.nodes[0].clusterAddr)
		}
		nd := newNode(t, id, freePort(t), filepath.Join(root, id), append(args, tlsFlags(certFiles(dir, id))...)...)
		nd.dial = tlsDialer(admin)
		nd.httpAddr = httpAddr
		c.nodes = append(c.nodes, nd)
	}
	c.startAll()
	return c
}

func tlsDialer(f certs.Files) func(addr string) (*client.Client, error) {
	return func(addr string) (*client.Client, error) {
		return client.DialMutualTLS(addr, client.TLSFiles{Cert: f.Cert, Key: f.Key, CA: f.CA})
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

	c := startTLSCluster(t, 3, dir, alice)
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
	// Tables: changing the catalog needs the admin role; using a table
	// does not.
	bob := tlsFlags(certFiles(dir, "bob"))
	_, stderr, code = cli(t, append([]string{"table", "create", "orders", "--consistency", "strong", "--addr", addr}, bob...)...)
	if code != 1 || !strings.Contains(stderr, "PermissionDenied") || !strings.Contains(stderr, "CreateTable") {
		t.Fatalf("table create as bob: exit %d, %q; want 1 and PermissionDenied", code, stderr)
	}
	if _, stderr, code := cli(t, append([]string{"table", "create", "orders", "--consistency", "strong", "--addr", addr}, tlsFlags(alice)...)...); code != 0 {
		t.Fatalf("table create as alice (admin): exit %d: %s", code, stderr)
	}
	if _, stderr, code := cli(t, append([]string{"put", "o1", "v", "--table", "orders", "--if-absent", "--addr", addr}, bob...)...); code != 0 {
		t.Fatalf("strong put as bob: exit %d: %s", code, stderr)
	}
	if _, stderr, code := cli(t, append([]string{"table", "delete", "orders", "--addr", addr}, bob...)...); code != 1 || !strings.Contains(stderr, "PermissionDenied") {
		t.Fatalf("table delete as bob: exit %d, %q; want 1 and PermissionDenied", code, stderr)
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
	c := startTLSCluster(t, 3, dir, alice)
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

// servedSerial is the serial number of the certificate addr presents to a
// client holding f.
func servedSerial(t *testing.T, addr string, f certs.Files) (string, error) {
	t.Helper()
	tc, err := certs.NewClient(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := tc.Config()
	cfg.ServerName = "127.0.0.1"
	cfg.NextProtos = []string{"h2"}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

// reissue replaces name's certificate and key in dir, as an operator
// rotating them would: new files renamed over the old. It returns the new
// certificate.
func reissue(t *testing.T, dir, role, name string, validity time.Duration) *x509.Certificate {
	t.Helper()
	read := func(p string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	issued, err := certs.Issue(certs.Issued{CertPEM: read("ca.pem"), KeyPEM: read("ca-key.pem")}, role, name, []string{"127.0.0.1", "localhost"}, validity)
	if err != nil {
		t.Fatal(err)
	}
	f := certFiles(dir, name)
	for path, b := range map[string][]byte{f.Key: issued.KeyPEM, f.Cert: issued.CertPEM} {
		if err := os.WriteFile(path+".new", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
	block, _ := pem.Decode(issued.CertPEM)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// logShows waits until nd's log holds every one of parts on one line.
func (c *testCluster) logShows(nd *node, d time.Duration, parts ...string) {
	c.t.Helper()
	c.eventually(d, fmt.Sprintf("%s logs %q", nd.id, parts), func() error {
		b, err := os.ReadFile(nd.log.Name())
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
				return nil
			}
		}
		return errors.New("not yet")
	})
}

// Certificates are rotated on running nodes: files replaced on disk are
// presented at the next handshake on both ports, without a restart; a
// SIGHUP that finds broken files keeps the certificates in use and says
// so; and a node or client whose certificate expired is refused, with a
// log line on the node that says it expired.
func TestCertificateRotationAndExpiry(t *testing.T) {
	dir := t.TempDir()
	makeCerts(t, dir, []string{"n1", "n2"}, map[string]bool{"alice": true})
	alice := certFiles(dir, "alice")
	c := startTLSCluster(t, 2, dir, alice)
	n1, n2 := c.nodes[0], c.nodes[1]
	pid := n1.cmd.Process.Pid
	all := client.Options{Quorum: "all"}

	t.Run("files replaced on disk are served without a restart", func(t *testing.T) {
		sc := c.sub(t)
		before, err := servedSerial(t, n1.clientAddr, alice)
		if err != nil {
			t.Fatal(err)
		}
		rotatedCert := reissue(t, dir, certs.RoleNode, "n1", 48*time.Hour)
		rotated := rotatedCert.SerialNumber.String()
		if rotated == before {
			t.Fatal("the new certificate has the old serial")
		}
		for name, port := range map[string]struct {
			addr string
			as   certs.Files
		}{"client API": {n1.clientAddr, alice}, "cluster port": {n1.clusterAddr, certFiles(dir, "n2")}} {
			sc.eventually(10*time.Second, "n1 serves the rotated certificate on its "+name, func() error {
				got, err := servedSerial(t, port.addr, port.as)
				if err != nil {
					return err
				}
				if got != rotated {
					return fmt.Errorf("serial %s, want %s", got, rotated)
				}
				return nil
			})
		}
		if n1.cmd.Process.Pid != pid {
			t.Fatal("n1 was restarted")
		}
		sc.eventually(5*time.Second, "n1's metrics show the rotated certificate's expiry", func() error {
			got := scrapeMetrics(t, n1.httpAddr)["harmonia_tls_certificate_expiry_timestamp_seconds"]
			if want := float64(rotatedCert.NotAfter.Unix()); got != want {
				return fmt.Errorf("expiry %v, want %v", got, want)
			}
			return nil
		})
		if _, err := n2.client.Put(ctxT(t), []byte("after-rotation"), []byte("v"), nil, all); err != nil {
			t.Fatalf("a write to both nodes after the rotation: %v", err)
		}
	})

	t.Run("SIGHUP with broken files keeps the certificates in use", func(t *testing.T) {
		sc := c.sub(t)
		before, err := servedSerial(t, n2.clientAddr, alice)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(certFiles(dir, "n2").Key, []byte("not a key"), 0o600); err != nil {
			t.Fatal(err)
		}
		sc.signal(n2, syscall.SIGHUP)
		sc.logShows(n2, 10*time.Second, "TLS files not reloaded")
		if got, err := servedSerial(t, n2.clientAddr, alice); err != nil || got != before {
			t.Fatalf("after a failed reload n2 serves %s (%v), want %s", got, err, before)
		}
		if _, err := n2.client.Put(ctxT(t), []byte("after-sighup"), []byte("v"), nil, all); err != nil {
			t.Fatalf("a write after the failed reload: %v", err)
		}
		// Good files and another SIGHUP: the new certificate is served.
		rotated := reissue(t, dir, certs.RoleNode, "n2", 24*time.Hour).SerialNumber.String()
		sc.signal(n2, syscall.SIGHUP)
		sc.eventually(10*time.Second, "n2 serves the certificate reloaded on SIGHUP", func() error {
			got, err := servedSerial(t, n2.clientAddr, alice)
			if err == nil && got != rotated {
				err = fmt.Errorf("serial %s, want %s", got, rotated)
			}
			return err
		})
	})

	t.Run("an expired certificate is refused and the log says it expired", func(t *testing.T) {
		sc := c.sub(t)
		if _, stderr, code := cli(t, "cert", "client", "old", "--dir", dir); code != 0 {
			t.Fatal(stderr)
		}
		reissue(t, dir, certs.RoleClient, "old", -time.Second)
		if _, stderr, code := cli(t, append([]string{"get", "after-rotation", "--addr", n1.clientAddr, "--timeout", "2s"}, tlsFlags(certFiles(dir, "old"))...)...); code == 0 {
			t.Fatalf("a client with an expired certificate read: %s", stderr)
		}
		sc.logShows(n1, 10*time.Second, "refused a client's certificate", `\"old\" expired`)

		// A node whose certificate expired cannot join.
		if _, stderr, code := cli(t, "cert", "node", "n3", "--dir", dir, "--hosts", "127.0.0.1"); code != 0 {
			t.Fatal(stderr)
		}
		reissue(t, dir, certs.RoleNode, "n3", -time.Second)
		n3 := newNode(t, "n3", freePort(t), filepath.Join(t.TempDir(), "n3"), append([]string{"--join", n1.clusterAddr}, tlsFlags(certFiles(dir, "n3"))...)...)
		n3.dial = func(addr string) (*client.Client, error) {
			// The harness must reach n3 to see it start; n3's own
			// certificate is the expired one.
			pair, err := tls.LoadX509KeyPair(alice.Cert, alice.Key)
			if err != nil {
				return nil, err
			}
			return client.DialTLS(addr, &tls.Config{Certificates: []tls.Certificate{pair}, InsecureSkipVerify: true})
		}
		c.nodes = append(c.nodes, n3)
		c.start(n3)
		sc.logShows(n1, 10*time.Second, "refused a client's certificate", `\"n3\" expired`)
		st, err := sc.status(n1)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Members) != 2 {
			t.Fatalf("n1 lists %d members after the expired node dialled it", len(st.Members))
		}
	})
}
