package actorkit

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

type countingActor struct{ got *atomic.Int64 }

func (a countingActor) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(int); ok {
		a.got.Add(1)
	}
}

// An actor spawned again under the name of one that stopped is in the
// registry before its mailbox has handlers; senders that address the name
// meanwhile (timers of the earlier actor, peers) must neither crash the
// process nor lose what they sent.
func TestRespawnedNameTakesMessagesSentWhileItStarts(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	var got atomic.Int64
	props := Props(func() actor.Actor { return countingActor{&got} })
	pid, err := sys.Root.SpawnNamed(props, "respawned")
	if err != nil {
		t.Fatal(err)
	}
	addr, name := pid.Address, pid.Id
	stop := make(chan struct{})
	var sent atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			target := actor.NewPID(addr, name)
			for {
				select {
				case <-stop:
					return
				default:
				}
				sys.Root.Send(target, 1)
				sent.Add(1)
			}
		}()
	}
	for range 3000 {
		if err := sys.Root.StopFuture(pid).Wait(); err != nil {
			t.Fatal(err)
		}
		if pid, err = sys.Root.SpawnNamed(props, "respawned"); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	// The last of them still takes messages.
	before := got.Load()
	sys.Root.Send(pid, 1)
	deadline := time.Now().Add(5 * time.Second)
	for got.Load() == before {
		if time.Now().After(deadline) {
			t.Fatalf("the respawned actor received nothing in 5 s (%d sent while it was respawned)", sent.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEarlyMailboxPostsWhatCameBeforeItsHandlersInOrder(t *testing.T) {
	m := newEarlyMailbox()
	for i := range 5 {
		m.PostUserMessage(i)
	}
	inv := &recordingInvoker{}
	m.RegisterHandlers(inv, actor.NewSynchronizedDispatcher(1))
	m.Start()
	m.PostUserMessage(5)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got := inv.messages(); len(got) == 6 {
			for i, v := range got {
				if v != i {
					t.Fatalf("received %v, want 0..5 in order", got)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %v, want 0..5", inv.messages())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type recordingInvoker struct {
	mu  sync.Mutex
	got []any
}

func (r *recordingInvoker) InvokeSystemMessage(any) {}
func (r *recordingInvoker) InvokeUserMessage(m any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, m)
}
func (r *recordingInvoker) EscalateFailure(any, any) {}
func (r *recordingInvoker) messages() []any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]any(nil), r.got...)
}

type timedActor struct {
	timer *SelfTimer
	got   chan any
}

type tick struct{ n int }

func (a *timedActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.timer.After(ctx, 20*time.Millisecond, tick{1})
		a.timer.After(ctx, 40*time.Millisecond, tick{2}) // replaces the first
	case *actor.Stopping:
		a.timer.Stop()
	case tick:
		a.got <- m
	}
}

// A worker's timer fires once, the latest it set; stopped with the worker,
// it fires into no dead mailbox.
func TestSelfTimerFiresTheLatestAndNotAfterStop(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	var dead atomic.Int64
	sub := sys.EventStream.Subscribe(func(evt any) {
		if e, ok := evt.(*actor.DeadLetterEvent); ok && e.PID != nil && e.PID.Id == "timed" {
			dead.Add(1)
		}
	})
	defer sys.EventStream.Unsubscribe(sub)
	got := make(chan any, 10)
	pid, err := sys.Root.SpawnNamed(Props(func() actor.Actor { return &timedActor{timer: &SelfTimer{}, got: got} }), "timed")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != (tick{2}) {
			t.Fatalf("got %v first, want the replacing timer's tick{2}", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the timer never fired")
	}
	select {
	case m := <-got:
		t.Fatalf("the replaced timer fired too: %v", m)
	case <-time.After(100 * time.Millisecond):
	}
	// Started again, then stopped at once: its timer must not fire.
	if err := sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	if pid, err = sys.Root.SpawnNamed(Props(func() actor.Actor { return &timedActor{timer: &SelfTimer{}, got: got} }), "timed"); err != nil {
		t.Fatal(err)
	}
	if err := sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if n := dead.Load(); n != 0 {
			t.Fatalf("%d timer messages reached the stopped actor", n)
		}
	}
}
