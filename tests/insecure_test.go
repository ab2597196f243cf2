package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// everyInterface is addr (a loopback host:port from freePort) with the
// same port on 0.0.0.0.
func everyInterface(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return net.JoinHostPort("0.0.0.0", port)
}

// wildNode describes a server (not started) that binds its cluster and
// client ports on every interface and advertises their loopback
// addresses, which the harness dials.
func wildNode(t *testing.T, id string, extra ...string) *node {
	nd := &node{id: id, clusterAddr: freePort(t), clientAddr: freePort(t), dataDir: filepath.Join(t.TempDir(), id)}
	nd.args = append([]string{"server", "--node-id", id, "--data-dir", nd.dataDir,
		"--listen", everyInterface(t, nd.clusterAddr), "--advertise", nd.clusterAddr,
		"--client", everyInterface(t, nd.clientAddr), "--advertise-client", nd.clientAddr}, extra...)
	return nd
}

// securityOf reads a running node's security mode three ways, which must
// agree: the Status call, `harmonia status` (text and --json), and, when
// the node serves HTTP, the status page's /api/status.
func securityOf(t *testing.T, c *testCluster, nd *node, cliFlags ...string) string {
	t.Helper()
	st, err := c.status(nd)
	if err != nil {
		t.Fatal(err)
	}
	mode := st.Security
	out, stderr, code := cli(t, append([]string{"status", "--addr", nd.clientAddr}, cliFlags...)...)
	if code != 0 || !strings.Contains(out, "security: "+mode+" (") {
		t.Errorf("%s: harmonia status: exit %d %s; want a line security: %s:\n%s", nd.id, code, stderr, mode, out)
	}
	out, stderr, code = cli(t, append([]string{"status", "--json", "--addr", nd.clientAddr}, cliFlags...)...)
	var doc struct{ Security string }
	if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil || doc.Security != mode {
		t.Errorf("%s: harmonia status --json: exit %d %s %v; security %q, want %q", nd.id, code, stderr, err, doc.Security, mode)
	}
	if nd.httpAddr != "" {
		hc := http.Client{Timeout: 5 * time.Second}
		res, err := hc.Get("http://" + nd.httpAddr + "/api/status")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var page struct{ Security string } // its own: the CLI's answer must not stand in for the page's
		if err := json.Unmarshal(b, &page); res.StatusCode != http.StatusOK || err != nil || page.Security != mode {
			t.Errorf("%s: the status page's /api/status: %s %v; security %q, want %q", nd.id, res.Status, err, page.Security, mode)
		}
	}
	return mode
}

func logOf(t *testing.T, nd *node) string {
	t.Helper()
	b, err := os.ReadFile(nd.log.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Insecure by choice, not by default: a node without TLS whose cluster or
// client port other machines can reach refuses to start, in one line that
// names the flag and says what to add; with --insecure (a flag or the
// config file) it starts, warns, and every status says insecure; with TLS
// it starts on every interface and says tls; on loopback it needs neither
// and says loopback; --insecure with TLS is refused as a contradiction.
func TestInsecureByChoice(t *testing.T) {
	certDir := t.TempDir()
	makeCerts(t, certDir, []string{"n1"}, map[string]bool{"alice": true})
	alice := certFiles(certDir, "alice")

	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			nd   *node
			want []string
		}{
			{"cluster port on every interface", wildNode(t, "n1"),
				[]string{"--listen 0.0.0.0:", "binds every interface", "--tls-cert, --tls-key and --tls-ca", "--insecure"}},
			{"client port on a non-loopback address", newNode(t, "n1", freePort(t), filepath.Join(t.TempDir(), "n1"), "--client", "192.0.2.1:8000"),
				[]string{"--client 192.0.2.1:8000 is not a loopback address", "--insecure"}},
			{"DynamoDB endpoint on every interface, even with TLS", newNode(t, "n1", freePort(t), filepath.Join(t.TempDir(), "n1"), append(tlsFlags(certFiles(certDir, "n1")), "--dynamodb", "0.0.0.0:8000")...),
				[]string{"--dynamodb 0.0.0.0:8000 binds every interface", "verifies no signatures", "--insecure"}},
			{"--insecure with TLS", wildNode(t, "n1", append(tlsFlags(certFiles(certDir, "n1")), "--insecure")...),
				[]string{"--insecure and the --tls-* flags contradict each other"}},
		} {
			stderr, code := serverExit(t, 30*time.Second, tc.nd.args...)
			line := strings.TrimSpace(stderr)
			if code != 2 || strings.Contains(line, "\n") {
				t.Errorf("%s: exit %d, stderr %q; want 2 and one line", tc.name, code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("%s: stderr %q lacks %q", tc.name, line, w)
				}
			}
			// Refused before anything is opened.
			if _, err := os.Stat(tc.nd.dataDir); !os.IsNotExist(err) {
				t.Errorf("%s: the data directory was made (%v)", tc.name, err)
			}
		}
	})

	t.Run("insecure flag", func(t *testing.T) {
		nd := wildNode(t, "n1", "--insecure", "--http", freePort(t))
		nd.httpAddr = nd.args[len(nd.args)-1]
		c := &testCluster{t: t, nodes: []*node{nd}}
		c.startAll()
		if mode := securityOf(t, c, nd); mode != "insecure" {
			t.Errorf("security %q, want insecure", mode)
		}
		if log := logOf(t, nd); !strings.Contains(log, "running insecure (--insecure)") || !strings.Contains(log, "--listen 0.0.0.0:") {
			t.Errorf("no warning at start naming what is reachable; log:\n%s", log)
		}
	})

	t.Run("insecure in the config file", func(t *testing.T) {
		nd := wildNode(t, "n1")
		file := filepath.Join(t.TempDir(), "n1.toml")
		// The flags' values in the file, the node's args pointing at it.
		text := fmt.Sprintf("insecure = true\nnode-id = 'n1'\ndata-dir = %q\nlisten = %q\nadvertise = %q\nclient = %q\nadvertise-client = %q\n",
			nd.dataDir, everyInterface(t, nd.clusterAddr), nd.clusterAddr, everyInterface(t, nd.clientAddr), nd.clientAddr)
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		nd.args = []string{"server", "--config", file}
		c := &testCluster{t: t, nodes: []*node{nd}}
		c.startAll()
		if mode := securityOf(t, c, nd); mode != "insecure" {
			t.Errorf("security %q, want insecure", mode)
		}
	})

	t.Run("tls", func(t *testing.T) {
		nd := wildNode(t, "n1", append(tlsFlags(certFiles(certDir, "n1")), "--http", freePort(t))...)
		nd.httpAddr = nd.args[len(nd.args)-1]
		nd.dial = tlsDialer(alice)
		c := &testCluster{t: t, nodes: []*node{nd}}
		c.startAll()
		if mode := securityOf(t, c, nd, tlsFlags(alice)...); mode != "tls" {
			t.Errorf("security %q, want tls", mode)
		}
		if log := logOf(t, nd); strings.Contains(log, "running insecure") {
			t.Errorf("a TLS node warned it runs insecure; log:\n%s", log)
		}
	})

	t.Run("loopback", func(t *testing.T) {
		httpAddr := freePort(t)
		c := startCluster(t, 1, "--http", httpAddr)
		nd := c.nodes[0]
		nd.httpAddr = httpAddr
		if mode := securityOf(t, c, nd); mode != "loopback" {
			t.Errorf("security %q, want loopback", mode)
		}
		if log := logOf(t, nd); strings.Contains(log, "running insecure") {
			t.Errorf("a loopback node warned it runs insecure; log:\n%s", log)
		}
	})
}
