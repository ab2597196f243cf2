package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/harmoniakv/harmonia/client"
)

// hostNet gives each node of a test its own host: a Linux network namespace
// with its own address on a bridge in the root namespace, where the test's
// clients run. Faults between hosts are routes: a blackhole route to a peer
// drops every packet to it, so TCP in both directions stops (the peer's SYN
// arrives but the answer cannot leave). It needs root and iproute2 only.
type hostNet struct {
	t      *testing.T
	bridge string
	prefix string   // namespace name prefix
	subnet string   // first three octets of the hosts' addresses
	hosts  []string // namespace names, by host index
	// cut[i] lists the hosts i has a blackhole route to.
	cut []map[int]bool
}

// Test hosts live on 10.213.<k>.0/24: addresses of namespaces this test
// makes itself, never routed off the machine (the namespaces have no
// default route and the bridge has no uplink).
const hostNetFirstOctets = "10.213"

// hostNets are the networks alive in this process, torn down on an
// interrupt (cleanUpOnInterrupt) as well as by each test's cleanup.
var hostNets = struct {
	sync.Mutex
	m map[*hostNet]bool
}{m: map[*hostNet]bool{}}

// ip runs an iproute2 command and fails the test on error.
func (h *hostNet) ip(args ...string) {
	h.t.Helper()
	if err := h.tryIP(args...); err != nil {
		h.t.Fatal(err)
	}
}

// tryIP runs an iproute2 command and returns its error: for goroutines
// other than the test's, which must not call t.Fatal.
func (h *hostNet) tryIP(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// needHostNet skips a test that needs network namespaces where they cannot
// be made, except under CI, which runs as root and must run it.
func needHostNet(t *testing.T) {
	t.Helper()
	needRoot(t, "network namespaces")
	if _, err := exec.LookPath("ip"); err != nil {
		why := "iproute2's ip is not installed (apt-get install iproute2)"
		if os.Getenv("CI") != "" {
			t.Fatalf("%s; CI must run this test", why)
		}
		t.Skip(why)
	}
}

// newHostNet makes n hosts. Everything is removed when the test ends, on
// failure too, and when the test process is interrupted.
func newHostNet(t *testing.T, n int) *hostNet {
	t.Helper()
	needHostNet(t)
	id := os.Getpid() % 100000
	h := &hostNet{t: t, bridge: fmt.Sprintf("hkbr%d", id), prefix: fmt.Sprintf("hk%d-", id),
		subnet: fmt.Sprintf("%s.%d", hostNetFirstOctets, id%250+1)}
	cleanStaleHostNets()
	hostNets.Lock()
	hostNets.m[h] = true
	hostNets.Unlock()
	t.Cleanup(func() {
		hostNets.Lock()
		delete(hostNets.m, h)
		hostNets.Unlock()
		h.teardown()
	})
	h.ip("link", "add", h.bridge, "type", "bridge")
	h.ip("addr", "add", h.subnet+".1/24", "dev", h.bridge)
	h.ip("link", "set", h.bridge, "up")
	for i := range n {
		ns := fmt.Sprintf("%sn%d", h.prefix, i+1)
		host, peer := fmt.Sprintf("%sv%d", h.prefix, i+1), fmt.Sprintf("%sb%d", h.prefix, i+1)
		h.ip("netns", "add", ns)
		h.hosts = append(h.hosts, ns)
		h.cut = append(h.cut, map[int]bool{})
		h.ip("link", "add", host, "type", "veth", "peer", "name", peer)
		h.ip("link", "set", peer, "master", h.bridge, "up")
		h.ip("link", "set", host, "netns", ns)
		h.ip("-n", ns, "link", "set", host, "name", "eth0")
		h.ip("-n", ns, "addr", "add", h.addr(i)+"/24", "dev", "eth0")
		h.ip("-n", ns, "link", "set", "eth0", "up")
		h.ip("-n", ns, "link", "set", "lo", "up")
	}
	return h
}

// teardown removes the namespaces (their veth ends go with them) and the
// bridge; it ignores what is already gone.
func (h *hostNet) teardown() {
	for i, ns := range h.hosts {
		// The bridge's end goes at once; a namespace may outlive its
		// deletion for a while, and with it the veth pair.
		exec.Command("ip", "link", "del", fmt.Sprintf("%sb%d", h.prefix, i+1)).Run()
		exec.Command("ip", "netns", "del", ns).Run()
	}
	exec.Command("ip", "link", "del", h.bridge).Run()
}

// cleanStaleHostNets removes namespaces and bridges left by a test process
// that no longer runs (killed before its cleanup).
func cleanStaleHostNets() {
	alive := func(name, prefix string) bool {
		var pid int
		if _, err := fmt.Sscanf(strings.TrimPrefix(name, prefix), "%d", &pid); err != nil {
			return true // not ours
		}
		return pid == os.Getpid()%100000 || syscall.Kill(pid, 0) == nil
	}
	if entries, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "hk") && !alive(e.Name(), "hk") {
				exec.Command("ip", "netns", "del", e.Name()).Run()
			}
		}
	}
	if entries, err := os.ReadDir("/sys/class/net"); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "hk") && !alive(strings.TrimPrefix(e.Name(), "hkbr"), "hk") {
				exec.Command("ip", "link", "del", e.Name()).Run()
			}
		}
	}
}

// addr is host i's address (hosts count from 0).
func (h *hostNet) addr(i int) string { return fmt.Sprintf("%s.%d", h.subnet, i+2) }

// command runs binary with args inside host i's namespace. ip netns exec
// execs the binary, so the process is the server itself: signals reach it.
func (h *hostNet) command(i int, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.hosts[i], binary}, args...)...)
}

// setCut makes host i drop (or stop dropping) its packets to host j. It is
// one-directional: j's packets to i still arrive. Over TCP that means
// neither can open a connection to the other (i's SYN never leaves; j's
// arrives, but i's SYN-ACK is dropped), and on an established connection
// j's data still reaches i until j's window of unacknowledged data is
// full, since i's ACKs are dropped.
func (h *hostNet) setCut(i, j int, drop bool) {
	h.t.Helper()
	if err := h.trySetCut(i, j, drop); err != nil {
		h.t.Fatal(err)
	}
}

// trySetCut is setCut returning its error, for a goroutine that toggles
// links (no other goroutine may change the cuts meanwhile).
func (h *hostNet) trySetCut(i, j int, drop bool) error {
	if h.cut[i][j] == drop {
		return nil
	}
	op := "del"
	if drop {
		op = "add"
	}
	if err := h.tryIP("-n", h.hosts[i], "route", op, "blackhole", h.addr(j)+"/32"); err != nil {
		return err
	}
	if drop {
		h.cut[i][j] = true
	} else {
		delete(h.cut[i], j)
	}
	return nil
}

// isolate cuts (or restores) every link between host x and others, both
// ways, and returns the first error.
func (h *hostNet) isolate(x int, others []int, cut bool) error {
	for _, j := range others {
		if err := h.trySetCut(x, j, cut); err != nil {
			return err
		}
		if err := h.trySetCut(j, x, cut); err != nil {
			return err
		}
	}
	return nil
}

// partition splits the hosts into groups that cannot reach each other;
// hosts in no group keep every link. It replaces any earlier partition.
func (h *hostNet) partition(groups ...[]int) {
	h.t.Helper()
	group := map[int]int{}
	for g, members := range groups {
		for _, i := range members {
			group[i] = g + 1
		}
	}
	for i := range h.hosts {
		for j := range h.hosts {
			if i != j {
				h.setCut(i, j, group[i] != 0 && group[j] != 0 && group[i] != group[j])
			}
		}
	}
}

// partialViews cuts the links of a ring's far side among hosts: each
// reaches only its two neighbours in the list (k±1 mod len), so no two
// hosts see the same set. Hosts not in the list keep every link.
func (h *hostNet) partialViews(hosts []int) {
	h.t.Helper()
	n := len(hosts)
	for a, i := range hosts {
		for b, j := range hosts {
			near := b == a || b == (a+1)%n || b == (a+n-1)%n
			h.setCut(i, j, !near)
		}
	}
}

// heal removes every cut and brings every link up.
func (h *hostNet) heal() {
	h.t.Helper()
	h.partition()
	for i := range h.hosts {
		h.link(i, true)
	}
}

// link sets host i's interface up or down: down, it reaches no peer and no
// client.
func (h *hostNet) link(i int, up bool) {
	h.t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	h.ip("-n", h.hosts[i], "link", "set", "eth0", state)
}

// startNetCluster starts a node on each of the first members hosts (all
// of them if members is 0), the first the seed of the others, and waits
// until every node lists every node as up.
func startNetCluster(t *testing.T, h *hostNet, members int, extra ...string) *testCluster {
	t.Helper()
	return startNetClusterEach(t, h, members, func(int) []string { return extra })
}

// startNetClusterEach is startNetCluster with flags of each node's own:
// extra(i) for the node on host i.
func startNetClusterEach(t *testing.T, h *hostNet, members int, extra func(i int) []string) *testCluster {
	t.Helper()
	if members == 0 {
		members = len(h.hosts)
	}
	c := &testCluster{t: t}
	root := t.TempDir()
	for i := range members {
		var join []string
		if i > 0 {
			join = []string{"--join", c.nodes[0].clusterAddr}
		}
		c.nodes = append(c.nodes, h.node(i, fmt.Sprintf("n%d", i+1), filepath.Join(root, fmt.Sprintf("n%d", i+1)), append(join, extra(i)...)...))
	}
	c.startAll()
	return c
}

// node describes a server (not started) on host i, on the host's address
// with fixed ports (every host has its own port space). The host's address
// is not loopback, so the node runs --insecure: these namespaces are the
// test's own, and TLS is tested elsewhere.
func (h *hostNet) node(i int, id, dataDir string, extra ...string) *node {
	nd := &node{id: id, clusterAddr: h.addr(i) + ":7000", clientAddr: h.addr(i) + ":8000", dataDir: dataDir, host: h, hostIndex: i}
	nd.args = append([]string{"server", "--node-id", id, "--data-dir", dataDir,
		"--listen", nd.clusterAddr, "--client", nd.clientAddr, "--insecure"}, extra...)
	return nd
}

// The hosts themselves: a cluster across namespaces forms; an isolated host
// is seen down by the others and comes back when healed; a host whose link
// is down likewise, and one whose peers drop their packets to it.
func TestHostNetFaults(t *testing.T) {
	h := newHostNet(t, 3)
	c := startNetCluster(t, h, 0)
	h.partition([]int{2}, []int{0, 1})
	c.waitDown("n3")
	// The majority side writes at W=2, and n1 keeps a hint for n3.
	if _, err := c.nodes[0].client.Put(ctxT(t), []byte("isolated"), []byte("v"), nil, client.Options{}); err != nil {
		t.Fatal(err)
	}
	h.heal()
	c.waitAllUp()
	h.link(1, false)
	c.waitDown("n2")
	h.link(1, true)
	c.waitAllUp()
	// One way (the nemesis' one-way): n1 and n2 drop their packets to n3,
	// which still sends. No connection opens either way and established
	// ones stall once n3's unacknowledged window is full, so the peers
	// stop hearing n3.
	for _, j := range []int{0, 1} {
		h.setCut(j, 2, true)
	}
	c.waitDown("n3")
	if err := h.isolate(2, []int{0, 1}, false); err != nil {
		t.Fatal(err)
	}
	c.waitAllUp()
}

// Nodes bound to every interface (0.0.0.0) form a cluster across hosts by
// the addresses they advertise: each host's own IP. Every member shows the
// others at those addresses, and data flows between them.
func TestAdvertisedAddressesAcrossHosts(t *testing.T) {
	h := newHostNet(t, 3)
	c := &testCluster{t: t}
	root := t.TempDir()
	for i := range 3 {
		id := fmt.Sprintf("n%d", i+1)
		nd := h.node(i, id, filepath.Join(root, id))
		nd.args = []string{"server", "--node-id", id, "--data-dir", nd.dataDir,
			"--listen", "0.0.0.0:7000", "--client", "0.0.0.0:8000", "--advertise", nd.clusterAddr, "--insecure"}
		if i > 0 {
			nd.args = append(nd.args, "--join", c.nodes[0].clusterAddr)
		}
		c.nodes = append(c.nodes, nd)
	}
	c.startAll()
	want := map[string][2]string{}
	for i, nd := range c.nodes {
		want[nd.id] = [2]string{h.addr(i) + ":7000", h.addr(i) + ":8000"}
	}
	for _, nd := range c.nodes {
		st, err := c.status(nd)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Members) != 3 {
			t.Fatalf("%s lists %d members, want 3", nd.id, len(st.Members))
		}
		if st.Security != "insecure" {
			t.Errorf("%s: security %q; bound to every interface with --insecure, want insecure", nd.id, st.Security)
		}
		for _, m := range st.Members {
			if got := [2]string{m.ClusterAddr, m.ClientAddr}; got != want[m.Id] {
				t.Errorf("%s shows %s at cluster %s, client %s; want %s, %s", nd.id, m.Id, got[0], got[1], want[m.Id][0], want[m.Id][1])
			}
		}
	}
	all := client.Options{Quorum: "all"}
	if _, err := c.nodes[0].client.Put(ctxT(t), []byte("advertised"), []byte("v"), nil, all); err != nil {
		t.Fatalf("put at W=all through n1: %v", err)
	}
	res, err := c.nodes[2].client.Get(ctxT(t), []byte("advertised"), all)
	if err != nil || len(res.Siblings) != 1 || string(res.Siblings[0]) != "v" {
		t.Fatalf("get at R=all through n3: %v, %v", res, err)
	}
}
