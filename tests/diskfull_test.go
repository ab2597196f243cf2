package tests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/client"
)

// Disk-full test settings: a tmpfs small enough to fill in a moment, and a
// reserve below which n2 refuses writes.
const (
	diskFullTmpfsBytes = 64 << 20
	diskFullReserve    = 16 << 20
	diskFullKeys       = 50
)

// needRoot skips a test that needs root (mounts, network namespaces)
// outside CI when not root, and fails it under CI, which must run it.
func needRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s needs root; CI must run this test", why)
	}
	t.Skip(why + " needs root")
}

// mountTmpfs mounts a tmpfs of size bytes at dir, unmounted at cleanup.
func mountTmpfs(t *testing.T, dir string, size int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("mount tmpfs at %s: %v: %s", dir, err, out)
	}
	mounts.Lock()
	mounts.m[dir] = true
	mounts.Unlock()
	t.Cleanup(func() {
		mounts.Lock()
		delete(mounts.m, dir)
		mounts.Unlock()
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}

// mounts are the tmpfs mounts alive in this process, unmounted on an
// interrupt (cleanUpOnInterrupt) as well as by each test's cleanup.
var mounts = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

// fillDisk writes path until the filesystem has no space left.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatalf("fill %s: %v", path, err)
		}
	}
}

// One node's data directory on a real filesystem that fills up (a 64 MiB
// tmpfs and a ballast file): writes that need its ack at W=all fail and are
// never acknowledged, its status, metrics and log say the disk is full, and
// once the ballast is gone it takes writes again with everything
// acknowledged before still readable, without a restart.
func TestDiskFull(t *testing.T) {
	needRoot(t, "mounting a tmpfs")
	root := t.TempDir()
	c := &testCluster{t: t}
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("n%d", i)
		dir := filepath.Join(root, id)
		var args []string
		if i > 1 {
			args = append(args, "--join", c.nodes[0].clusterAddr)
		}
		if id == "n2" {
			mountTmpfs(t, dir, diskFullTmpfsBytes) // unmounted after the nodes stop
			args = append(args, "--min-free-disk", fmt.Sprint(diskFullReserve))
		}
		nd := newNode(t, id, freePort(t), dir, args...)
		if id == "n2" {
			nd.httpAddr = freePort(t)
			nd.args = append(nd.args, "--http", nd.httpAddr)
		}
		c.nodes = append(c.nodes, nd)
	}
	c.startAll()
	n1, n2 := c.nodes[0], c.nodes[1]
	all := client.Options{Quorum: "all", Timeout: 5 * time.Second}
	ctx := context.Background()

	put := func(key string) error {
		_, err := n1.client.Put(ctx, []byte(key), []byte("v-"+key), nil, all)
		return err
	}
	for i := 0; i < diskFullKeys; i++ {
		k := fmt.Sprintf("before-%d", i)
		c.eventually(10*time.Second, "put "+k+" at W=all", func() error { return put(k) })
	}

	ballast := filepath.Join(n2.dataDir, "ballast")
	fillDisk(t, ballast)
	for i := 0; i < 10; i++ {
		k := fmt.Sprintf("full-%d", i)
		if err := put(k); err == nil {
			t.Fatalf("put %s at W=all acknowledged with n2's disk full", k)
		} else if !strings.Contains(err.Error(), "n2") || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("put %s at W=all: %v; want n2's refusal saying its disk is full", k, err)
		}
	}
	st, err := c.status(n2)
	if err != nil {
		t.Fatal(err)
	}
	if d := st.Disk; !d.GetFull() || d.GetFailed() != "" || d.GetFailedWrites() == 0 || d.GetErrors()["full"] == 0 ||
		!strings.Contains(d.GetLastError(), "disk full") || d.GetTotalBytes() == 0 {
		t.Fatalf("n2's status with its disk full: %v", d)
	}
	m := scrapeMetrics(t, n2.httpAddr)
	if m["harmonia_storage_disk_full"] != 1 || m[`harmonia_storage_errors_total{op="full"}`] == 0 || m["harmonia_storage_failed"] != 0 {
		t.Fatalf("n2's metrics with its disk full: disk_full %v, errors{full} %v, failed %v",
			m["harmonia_storage_disk_full"], m[`harmonia_storage_errors_total{op="full"}`], m["harmonia_storage_failed"])
	}
	if logs, err := os.ReadFile(n2.log.Name()); err != nil || !strings.Contains(string(logs), "disk full") {
		t.Fatalf("n2's log does not say its disk is full (%v):\n%s", err, tail(string(logs), 2000))
	}

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	c.eventually(10*time.Second, "a put at W=all once n2 has space", func() error { return put("after") })
	for i := 0; i < diskFullKeys; i++ {
		k := fmt.Sprintf("before-%d", i)
		res, err := n1.client.Get(ctx, []byte(k), all)
		if err != nil || !res.Found || len(res.Siblings) != 1 || string(res.Siblings[0]) != "v-"+k {
			t.Fatalf("acknowledged %s after n2's disk was freed: %+v, %v", k, res, err)
		}
	}
	st, err = c.status(n2)
	if err != nil {
		t.Fatal(err)
	}
	if d := st.Disk; d.GetFull() || d.GetFailed() != "" {
		t.Fatalf("n2's status once it has space again: %v", d)
	}
}
