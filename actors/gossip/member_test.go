package gossip

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/internal/testport"
)

// memberProcessEnv carries a member's settings to the process
// TestTwoMembersConverge starts for it.
const memberProcessEnv = "HARMONIA_TEST_MEMBER"

func testMemberConfig(id, addr string) MemberConfig {
	cfg := DefaultMemberConfig(id, addr)
	cfg.Gossip.Interval = 100 * time.Millisecond
	cfg.Gossip.CheckInterval = 50 * time.Millisecond
	return cfg
}

// TestMemberProcess is a member of TestTwoMembersConverge; it runs only in
// the processes that test starts. Its spec is "ID ADDR [SEED_ADDR SEED_ID]".
// It prints what it sees, one line each:
//
//	joined N ERR          (with a seed) what Join returned
//	sees V                each new value of the seed's "role"
//	event KIND NODE       every up and down event (without a seed)
//	state ID=V ...        the answer to "state" (every member's "role")
//	stopped ...           after "stop" or the end of stdin: what calls
//	                      return after Stop, and whether the port is free
//
// and takes commands on stdin: "update V" (UpdateState("role", V)),
// "state", "stop".
func TestMemberProcess(t *testing.T) {
	spec := os.Getenv(memberProcessEnv)
	if spec == "" {
		t.Skip("runs in the processes TestTwoMembersConverge starts")
	}
	f := strings.Fields(spec)
	if len(f) != 2 && len(f) != 4 {
		t.Fatalf("%s=%q: want ID ADDR [SEED_ADDR SEED_ID]", memberProcessEnv, spec)
	}
	id, addr := f[0], f[1]
	cfg := testMemberConfig(id, addr)
	cfg.State = map[string]string{"role": "role-of-" + id}
	g, err := NewMember(cfg)
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan membership.Event, 1024)
	g.RegisterEventHandler(NewEventChannel(events))
	if len(f) == 4 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		n, err := g.Join(ctx, []string{f[2]})
		cancel()
		fmt.Printf("joined %d %v\n", n, err)
	}
	commands := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			commands <- sc.Text()
		}
		close(commands)
	}()
	last := ""
	for {
		select {
		case e := <-events:
			if e.Kind == membership.EventUp || e.Kind == membership.EventDown {
				fmt.Printf("event %s %s\n", e.Kind, e.Node)
			}
		case c, ok := <-commands:
			switch {
			case !ok || c == "stop":
				g.Stop()
				g.Stop() // a second Stop is harmless
				_, getErr := g.GetState("role")
				_, joinErr := g.Join(context.Background(), []string{addr})
				l, listenErr := net.Listen("tcp", addr)
				if listenErr == nil {
					l.Close()
				}
				fmt.Printf("stopped get=%v join=%v listen=%v\n", errors.Is(getErr, ErrGossiperStopped), errors.Is(joinErr, ErrGossiperStopped), listenErr)
				return
			case c == "state":
				roles, err := g.GetState("role")
				if err != nil {
					t.Fatal(err)
				}
				var parts []string
				for _, k := range slices.Sorted(maps.Keys(roles)) {
					parts = append(parts, k+"="+roles[k])
				}
				fmt.Printf("state %s\n", strings.Join(parts, " "))
			case strings.HasPrefix(c, "update "):
				g.UpdateState("role", strings.TrimPrefix(c, "update "))
			}
		case <-time.After(20 * time.Millisecond):
			if len(f) == 4 {
				roles, err := g.GetState("role")
				if err != nil {
					t.Fatal(err)
				}
				if v, ok := roles[f[3]]; ok && v != last {
					fmt.Printf("sees %s\n", v)
					last = v
				}
			}
		}
	}
}

// memberProcess is a running TestMemberProcess.
type memberProcess struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan error
}

func startMemberProcess(t *testing.T, spec string) *memberProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMemberProcess$")
	cmd.Env = append(os.Environ(), memberProcessEnv+"="+spec)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m := &memberProcess{t: t, name: strings.Fields(spec)[0], cmd: cmd, stdin: stdin, lines: make(chan string, 256), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			m.lines <- sc.Text()
		}
		close(m.lines)
		m.done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return m
}

// expect waits for a line of the process that starts with prefix and
// returns it.
func (m *memberProcess) expect(prefix string, deadline <-chan time.Time) string {
	m.t.Helper()
	for {
		select {
		case l, ok := <-m.lines:
			if !ok {
				m.t.Fatalf("member %s exited before printing %q", m.name, prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-deadline:
			m.t.Fatalf("member %s never printed %q", m.name, prefix)
		}
	}
}

func (m *memberProcess) send(command string) {
	m.t.Helper()
	if _, err := io.WriteString(m.stdin, command+"\n"); err != nil {
		m.t.Fatal(err)
	}
}

// Two members made by NewMember, with no node around them, converge over
// the real remote layer, each in a process of its own (two actor systems in
// one process trip the race detector inside protoactor, and so would grpc
// goroutines a member leaves behind for the next test): the joiner's Join
// counts the seed's answer, each sees the other's user state (at start and
// after UpdateState), the seed's handler hears the joiner come up and, once
// the joiner stops, go down. Stop then ends the seed: calls fail with
// ErrGossiperStopped and its port is free again.
func TestTwoMembersConverge(t *testing.T) {
	addrA, addrB := testport.For(t), testport.For(t)
	deadline := time.After(60 * time.Second)
	a := startMemberProcess(t, "a "+addrA)
	b := startMemberProcess(t, "b "+addrB+" "+addrA+" a")

	if l := b.expect("joined", deadline); l != "joined 1 <nil>" {
		t.Fatalf("b: %s", l)
	}
	b.expect("sees role-of-a", deadline)
	a.expect("event up b", deadline)
	for {
		a.send("state")
		if a.expect("state", deadline) == "state a=role-of-a b=role-of-b" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.send("update second")
	b.expect("sees second", deadline)

	// The joiner stops for good: the seed marks it down.
	b.send("stop")
	if l := b.expect("stopped", deadline); l != "stopped get=true join=true listen=<nil>" {
		t.Fatalf("b after Stop: %s", l)
	}
	a.expect("event down b", deadline)
	a.send("stop")
	if l := a.expect("stopped", deadline); l != "stopped get=true join=true listen=<nil>" {
		t.Fatalf("a after Stop: %s", l)
	}
	for _, m := range []*memberProcess{a, b} {
		select {
		case err := <-m.done:
			if err != nil {
				t.Fatalf("member %s: %v", m.name, err)
			}
		case <-deadline:
			t.Fatalf("member %s did not exit", m.name)
		}
	}
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
	if _, err := NewMember(testMemberConfig("", testport.For(t))); err == nil {
		t.Fatal("member without an id: no error")
	}
	cfg := testMemberConfig("a", testport.For(t))
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
