package actors

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/cluster/membership"
)

// memberProcessEnv carries the second member's settings to the process the
// test starts: two actor systems in one process trip the race detector
// inside protoactor, so each member runs in a process of its own.
const memberProcessEnv = "HARMONIA_TEST_MEMBER"

func testMemberConfig(id, addr string) MemberConfig {
	cfg := DefaultMemberConfig(id, addr)
	cfg.Gossip.Interval = 100 * time.Millisecond
	cfg.Gossip.CheckInterval = 50 * time.Millisecond
	return cfg
}

// TestMemberProcess is the second member of TestTwoMembersConverge; it
// runs only in the process that test starts. It joins the seed, prints each
// value of the seed's "role" it sees, and stops when its stdin closes.
func TestMemberProcess(t *testing.T) {
	spec := os.Getenv(memberProcessEnv)
	if spec == "" {
		t.Skip("runs in the process TestTwoMembersConverge starts")
	}
	var id, addr, seed, seedID string
	if _, err := fmt.Sscan(spec, &id, &addr, &seed, &seedID); err != nil {
		t.Fatalf("%s=%q: %v", memberProcessEnv, spec, err)
	}
	cfg := testMemberConfig(id, addr)
	cfg.State = map[string]string{"role": "role-of-" + id}
	g, err := NewMember(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := g.Join(ctx, []string{seed})
	fmt.Printf("joined %d %v\n", n, err)
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = bufio.NewReader(os.Stdin).ReadString(0)
		close(stdinClosed)
	}()
	last := ""
	for {
		select {
		case <-stdinClosed:
			g.Stop()
			fmt.Println("stopped")
			return
		case <-time.After(20 * time.Millisecond):
		}
		roles, err := g.GetState("role")
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := roles[seedID]; ok && v != last {
			fmt.Printf("sees %s\n", v)
			last = v
		}
	}
}

// Two members made by NewMember, with no node around them, converge over
// the real remote layer: the joiner's Join counts the seed's answer, each
// sees the other's user state (at start and after UpdateState), the seed's
// handler hears the joiner come up and, once the joiner stops, go down.
// Stop then ends the seed: calls fail with ErrGossiperStopped and its port
// is free again.
func TestTwoMembersConverge(t *testing.T) {
	addrA, addrB := freeAddr(t), freeAddr(t)
	cfg := testMemberConfig("a", addrA)
	cfg.State = map[string]string{"role": "first"}
	a, err := NewMember(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	events := make(chan membership.Event, 1024)
	feed := NewEventChannel(events)
	a.RegisterEventHandler(feed)

	child := exec.Command(os.Args[0], "-test.run=^TestMemberProcess$")
	child.Env = append(os.Environ(), fmt.Sprintf("%s=b %s %s a", memberProcessEnv, addrB, addrA))
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- child.Wait()
	}()
	t.Cleanup(func() { _ = child.Process.Kill() })

	deadline := time.After(60 * time.Second)
	expectLine := func(want string) {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the second member exited before printing %q", want)
				}
				if l == want {
					return
				}
				if strings.HasPrefix(l, "joined") || strings.HasPrefix(l, "---") || strings.HasPrefix(l, "FAIL") {
					t.Logf("second member: %s", l)
				}
			case <-deadline:
				t.Fatalf("the second member never printed %q", want)
			}
		}
	}
	expectEvent := func(kind membership.EventKind, node string) {
		t.Helper()
		for {
			select {
			case e := <-events:
				if e.Kind == kind && e.Node == node {
					return
				}
			case <-deadline:
				t.Fatalf("no %s event for %s", kind, node)
			}
		}
	}

	expectLine("joined 1 <nil>")
	expectLine("sees first")
	expectEvent(membership.EventUp, "b")
	for {
		roles, err := a.GetState("role")
		if err != nil {
			t.Fatal(err)
		}
		if roles["b"] == "role-of-b" && roles["a"] == "first" {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("a sees roles %v, want b's", roles)
		case <-time.After(20 * time.Millisecond):
		}
	}
	a.UpdateState("role", "second")
	expectLine("sees second")

	// The joiner stops for good: the seed marks it down.
	if err := stdin.Close(); err != nil {
		t.Fatal(err)
	}
	expectLine("stopped")
	expectEvent(membership.EventDown, "b")
	if err := <-exited; err != nil {
		t.Fatalf("second member: %v", err)
	}
	if n := feed.Dropped(); n != 0 {
		t.Fatalf("%d events dropped with room for 1024", n)
	}

	a.Stop()
	a.Stop() // a second Stop is harmless
	if _, err := a.GetState("role"); !errors.Is(err, ErrGossiperStopped) {
		t.Fatalf("GetState after Stop: %v", err)
	}
	if _, err := a.Join(context.Background(), []string{addrB}); !errors.Is(err, ErrGossiperStopped) {
		t.Fatalf("Join after Stop: %v", err)
	}
	l, err := net.Listen("tcp", addrA)
	if err != nil {
		t.Fatalf("the stopped member still holds its port: %v", err)
	}
	l.Close()
}

// A member whose port is taken, or whose config is incomplete, is an error,
// not a panic.
func TestNewMemberRefusesBadConfig(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := NewMember(testMemberConfig("a", l.Addr().String())); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("member on a taken port: %v", err)
	}
	if _, err := NewMember(testMemberConfig("", freeAddr(t))); err == nil {
		t.Fatal("member without an id: no error")
	}
	cfg := testMemberConfig("a", freeAddr(t))
	cfg.Params.Partitions = 64
	if _, err := NewMember(cfg); err == nil {
		t.Fatal("member with a ring: no error")
	}
}

// The channel adapter never blocks the gossiper: past the buffer, events
// are dropped and counted.
func TestEventChannelDropsWhenFull(t *testing.T) {
	c := make(chan membership.Event, 1)
	h := NewEventChannel(c)
	h.HandleEvent(membership.Event{Kind: membership.EventUp, Node: "x"})
	h.HandleEvent(membership.Event{Kind: membership.EventDown, Node: "x"})
	if got := <-c; got.Kind != membership.EventUp || h.Dropped() != 1 {
		t.Fatalf("got %+v, dropped %d", got, h.Dropped())
	}
}
