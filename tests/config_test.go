package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `config print` writes a file that --config accepts back to the same
// settings; flags override the file and HARMONIA_* variables both; an
// unknown key is refused by name; and a node runs from a file alone.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	defaults, stderr, code := cli(t, "config", "print")
	if code != 0 {
		t.Fatalf("config print: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"partitions = 64\n", "repair-interval = '10m0s'\n", "sync = true\n", "phi-threshold = 8.0\n", "insecure = false\n"} {
		if !strings.Contains(defaults, want) {
			t.Errorf("config print lacks %q:\n%s", want, defaults)
		}
	}
	file := filepath.Join(dir, "defaults.toml")
	if err := os.WriteFile(file, []byte(defaults), 0o644); err != nil {
		t.Fatal(err)
	}
	again, stderr, code := cli(t, "config", "print", "--config", file)
	if code != 0 || again != defaults {
		t.Fatalf("config print --config (its own output): exit %d %s; changed:\n%s", code, stderr, again)
	}

	custom := filepath.Join(dir, "custom.toml")
	if err := os.WriteFile(custom, []byte("partitions = 16\nn = 3\nrepair-interval = '1m'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HARMONIA_REPAIR_INTERVAL", "2m")
	out, stderr, code := cli(t, "config", "print", "--config", custom, "--partitions", "32")
	if code != 0 || !strings.Contains(out, "partitions = 32\n") || !strings.Contains(out, "repair-interval = '2m0s'\n") {
		t.Fatalf("flag over file, environment over both: exit %d %s\n%s", code, stderr, out)
	}
	os.Unsetenv("HARMONIA_REPAIR_INTERVAL")

	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("partitions = 16\nrepair-intervall = '1m'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]string{{"config", "print", "--config", bad}, {"server", "--config", bad}} {
		_, stderr, code := cli(t, cmd...)
		if code != 2 || !strings.Contains(stderr, `unknown key "repair-intervall"`) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v with an unknown key: exit %d, stderr %q; want 2 and one line naming it", cmd, code, stderr)
		}
	}

	// A node from its file alone.
	nd := newNode(t, "n1", freePort(t), filepath.Join(dir, "n1"))
	nodeFile := filepath.Join(dir, "n1.toml")
	text := fmt.Sprintf("node-id = 'n1'\ndata-dir = %q\nlisten = %q\nclient = %q\npartitions = 8\n", nd.dataDir, nd.clusterAddr, nd.clientAddr)
	if err := os.WriteFile(nodeFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	nd.args = []string{"server", "--config", nodeFile}
	c := &testCluster{t: t, nodes: []*node{nd}}
	c.startAll()
	st, err := c.status(nd)
	if err != nil || st.Node != "n1" || st.Partitions != 8 || len(st.Members) != 1 || st.Members[0].ClusterAddr != nd.clusterAddr {
		t.Fatalf("node from %s: %v %v", nodeFile, st, err)
	}
}
